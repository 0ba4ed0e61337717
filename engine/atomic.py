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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
