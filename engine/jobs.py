"""Background work as plain objects: a `Job` wraps a function of a `JobContext`.

The context carries progress, cooperative cancel, streamed partial results and per-stage timings. It knows
nothing about threads: the GUI runner (gui/jobs.py) drives it from a QThread and turns the callbacks into
Qt signals; the CLI drives it with `run_sync` and a tqdm bar. A task therefore has one code path for both.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import JobCancelled

ProgressFn = Callable[[float, str], None]
_CURRENT: ContextVar["JobContext | None"] = ContextVar("scenelens_job", default=None)


def current_context() -> "JobContext | None":
    """The context of the job running on this thread (None outside a job): lets code deep inside a job, such as
    a file reader that reads in chunks, honour Cancel without every caller passing the context down."""
    return _CURRENT.get()


class JobContext:
    """What a running job may call: `progress`, `check_cancel`, `emit` (partial result) and `stage`."""

    def __init__(self, on_progress: ProgressFn | None = None,
                 on_partial: Callable[[Any], None] | None = None,
                 cancel_event: threading.Event | None = None):
        self._on_progress = on_progress
        self._on_partial = on_partial
        self.cancel_event = cancel_event or threading.Event()
        self.stage_times: dict[str, float] = {}
        self.fraction = 0.0
        self.message = ""

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        self.cancel_event.set()

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled("cancelled")

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1]; also a cancellation point."""
        self.fraction = float(min(max(fraction, 0.0), 1.0))
        self.message = message or self.message
        if self._on_progress is not None:
            self._on_progress(self.fraction, self.message)
        self.check_cancel()

    def emit(self, partial: Any) -> None:
        """Stream a partial result (e.g. one finished video frame) to whoever shows results live."""
        if self._on_partial is not None:
            self._on_partial(partial)

    def sub(self, start: float, end: float) -> "SubProgress":
        """A progress callback mapping [0,1] onto [start,end] of this job, for nested stages."""
        return SubProgress(self, start, end)

    @contextmanager
    def stage(self, name: str):
        """Time a named stage; timings are shown in the jobs panel and written to JSON results."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage_times[name] = self.stage_times.get(name, 0.0) + time.perf_counter() - t0


@dataclass
class SubProgress:
    ctx: JobContext
    start: float
    end: float

    def __call__(self, fraction: float, message: str = "") -> None:
        self.ctx.progress(self.start + (self.end - self.start) * fraction, message)


@dataclass
class Job:
    """A named unit of background work. `fn(ctx)` returns the result or raises (JobCancelled on cancel)."""

    name: str
    fn: Callable[[JobContext], Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def run(self, ctx: JobContext) -> Any:
        token = _CURRENT.set(ctx)
        try:
            return self.fn(ctx)
        finally:
            _CURRENT.reset(token)


def run_sync(job: Job, on_progress: ProgressFn | None = None, on_partial=None) -> tuple[Any, JobContext]:
    """Run a job on the calling thread (CLI, tests). Returns (result, context with stage timings)."""
    ctx = JobContext(on_progress, on_partial)
    return job.run(ctx), ctx


def cli_progress(desc: str):
    """A tqdm-backed progress callback for headless commands (writes to stderr, silent when not a tty)."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, disable=not sys.stderr.isatty(), leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def update(fraction: float, message: str = "") -> None:
        bar.n = int(fraction * 1000)
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    update.close = bar.close  # type: ignore[attr-defined]
    return update
