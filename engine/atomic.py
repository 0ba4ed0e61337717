"""Atomic writes: data goes to a temp file in the same folder, is fsynced, then renamed over the target.

A crash or a full disk mid-write therefore never leaves a half-written project, export or annotation.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kw) -> Iterator[IO]:
    """Open a temp file next to `path`; on clean exit it replaces `path` in one rename."""
    from .errors import InputError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # unwritable, read-only, a file where a folder should be: the user's to fix
        blocker = next((q for q in (path.parent, *path.parent.parents) if q.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise InputError(path, f"cannot write here: {blocker} is a file, not a folder") from None
        raise InputError(path, f"cannot write here: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                raise InputError(path, f"writing failed: {e.strerror or e} (disk full?)") from None
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise InputError(path, f"cannot replace the file: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def save_npy(path: str | os.PathLike, array) -> None:
    import numpy as np

    with atomic_open(path, "wb") as f:
        np.save(f, array)


def save_npz(path: str | os.PathLike, compressed: bool = True, **arrays) -> None:
    import numpy as np

    with atomic_open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
