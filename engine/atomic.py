"""Atomic writes: data goes to a temp file in the same folder, is fsynced, then renamed over the target.

A crash or a full disk mid-write therefore never leaves a half-written project, export or annotation.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask without changing it (Linux: /proc/self/status); elsewhere the set-and-restore dance,
    under a lock so that our own threads never create a file while it is 0."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    """The permission bits the written file should end with: those of the file it replaces, or what a plain
    open() would give a new file (0o666 less the umask). mkstemp's temp file is 0o600, which would otherwise turn
    every export, project and annotation into an owner-only file after the rename."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


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
        with contextlib.suppress(OSError):  # a file system without modes (e.g. some mounts) keeps its own
            os.fchmod(fd, _final_mode(path))
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
