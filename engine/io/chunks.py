"""Reading big raw arrays in row chunks that honour the running job's Cancel and report its progress.

A 50M-point `.npy`/`.bin`/PCD is read with `readinto` into one small reusable buffer and converted chunk by
chunk into the final float64 points (and float32/int attribute columns): the peak is the result plus one
chunk, never the file's array *and* its float64 copy, and a cancel point comes every `CHUNK_ROWS` rows
(about 30 ms of work here). The job is found through `engine.jobs.current_context()` (a context variable
set by `Job.run`), so readers keep their plain `load(path)` signature and the CLI path is unchanged.
numpy's copy/cast loops and file reads release the GIL, so the GUI thread keeps drawing meanwhile.
"""
from __future__ import annotations

import time
from typing import BinaryIO, Callable

import numpy as np

from ..errors import InputError

CHUNK_ROWS = 1 << 19  # 512k rows: ~6–12 MB per chunk for point files
PROGRESS_EVERY_S = 0.1


class Ticker:
    """Cancel point + throttled progress for `n` rows of `what` inside the current job (a no-op outside one)."""

    def __init__(self, n: int, what: str, start: float = 0.05, end: float = 0.9):
        from ..jobs import current_context

        self.ctx = current_context()
        self.n, self.what, self.start, self.end = max(int(n), 1), what, start, end
        self._last = 0.0

    def __call__(self, done: int) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        ctx.check_cancel()
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            f = min(done / self.n, 1.0)
            ctx.progress(self.start + (self.end - self.start) * f, f"{self.what}: {100 * f:.0f}%")


def check_cancel() -> None:
    """A cancellation point for the current job (no-op outside a job)."""
    from ..jobs import current_context

    ctx = current_context()
    if ctx is not None:
        ctx.check_cancel()


def read_rows(f: BinaryIO, dtype: np.dtype, n: int, sink: Callable[[int, np.ndarray], None], shown,
              what: str = "reading", chunk: int | None = None) -> None:
    """Read `n` records of `dtype` from `f`'s current position and hand them to `sink(first_row, block)`
    chunk by chunk (the block is reused: the sink must copy what it keeps). Short files raise InputError."""
    dtype = np.dtype(dtype)
    tick = Ticker(n, what)
    rows = max(1, min(chunk or CHUNK_ROWS, n))
    buf = np.empty(rows, dtype)
    raw = buf.view(np.uint8).reshape(-1)
    s = 0
    while s < n:
        k = min(rows, n - s)
        want = k * dtype.itemsize
        got = f.readinto(memoryview(raw)[:want])
        if got != want:
            have = s + (got or 0) // dtype.itemsize
            raise InputError(shown, f"data ends after {have:,} of {n:,} records (file truncated)")
        sink(s, buf[:k])
        s += k
        tick(s)


def read_columns(f: BinaryIO, dtype: np.dtype, n: int, shown, xyz: tuple, extra: dict | None = None,
                 what: str = "reading points") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`n` records of `dtype` → (N×3 float64 points from the fields/columns `xyz`, {name: column}).

    `dtype` is either a (k,) sub-array dtype (k columns per row, e.g. `np.dtype((np.float32, (4,)))`) or a
    structured dtype; `xyz` names three fields or gives three column indices, `extra` maps an output name to
    (field or column/slice, output dtype)."""
    dtype = np.dtype(dtype)
    extra = extra or {}
    pts = np.empty((n, 3), np.float64)
    out = {name: np.empty((n,) + _field(np.empty(0, dtype), key).shape[1:], dt) for name, (key, dt) in extra.items()}

    def sink(s: int, block: np.ndarray) -> None:
        e = s + len(block)
        for j, key in enumerate(xyz):
            pts[s:e, j] = _field(block, key)
        for name, (key, _dt) in extra.items():
            out[name][s:e] = _field(block, key)

    read_rows(f, dtype, n, sink, shown, what)
    return pts, out


def _field(block: np.ndarray, key):
    if isinstance(key, str):
        return block[key]
    return block[..., key]
