"""Runs engine Jobs on QThreads and turns their callbacks into Qt signals.

The worker never touches widgets: progress, partial results, results and errors cross to the GUI thread as
queued signals. Progress is throttled (≤ 30 updates/s) so a chatty job cannot flood the event loop.
`shutdown()` cancels every job and waits for it; a thread is never terminated.
"""
from __future__ import annotations

import time
import traceback
from typing import Any, Callable

from PySide6 import QtCore

from scenelens.engine.errors import InputError, JobCancelled, SceneLensError
from scenelens.engine.jobs import Job, JobContext


class _Worker(QtCore.QObject):
    progress = QtCore.Signal(float, str)
    partial = QtCore.Signal(object)
    finished = QtCore.Signal(object, object)  # result, stage timings
    failed = QtCore.Signal(str, str)  # one-line message, details
    cancelled = QtCore.Signal()

    def __init__(self, job: Job, ctx_holder: list):
        super().__init__()
        self.job = job
        self._last = 0.0
        self.ctx = JobContext(self._progress, self.partial.emit)
        ctx_holder.append(self.ctx)

    def _progress(self, f: float, msg: str) -> None:
        now = time.monotonic()
        if f >= 1.0 or now - self._last > 1 / 30:
            self._last = now
            self.progress.emit(f, msg)

    @QtCore.Slot()
    def run(self) -> None:
        import sys

        if "torch" in sys.modules:  # never trigger a cold torch import here: it holds the GIL for seconds
            from scenelens.engine.device import worker_threads

            torch, n = sys.modules["torch"], worker_threads()
            if torch.get_num_threads() != n:  # resizing the pool is slow and holds the GIL: do it once
                torch.set_num_threads(n)
        try:
            result = self.job.run(self.ctx)
        except JobCancelled:
            self.cancelled.emit()
        except (InputError, SceneLensError) as e:
            self.exception = e  # for the window: some failures are questions (engine.trust: run this file?)
            self.failed.emit(str(e), "")
        except Exception as e:  # a bug or a model failure: show it, keep the app alive
            self.exception = e
            self.failed.emit(f"{type(e).__name__}: {e}", traceback.format_exc())
        else:
            if self.ctx.cancelled:
                self.cancelled.emit()
            else:
                self.finished.emit(result, dict(self.ctx.stage_times))


class JobHandle(QtCore.QObject):
    """One running job: signals for the jobs panel, `cancel()`, and `wait()` for tests."""

    progress = QtCore.Signal(float, str)
    partial = QtCore.Signal(object)  # re-emitted on the GUI thread
    done = QtCore.Signal(str)  # 'finished' | 'failed' | 'cancelled'

    def __init__(self, job: Job, parent=None):
        super().__init__(parent)
        self.job = job
        self.state = "running"
        self.result: Any = None
        self.error: str | None = None
        self.stage_times: dict[str, float] = {}
        self._ctx: list[JobContext] = []
        self.thread = QtCore.QThread()
        self.thread.setObjectName(f"job:{job.name}")
        self.worker = _Worker(job, self._ctx)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.progress.connect(self.progress)
        # A plain Python callable connected straight to the worker's signal would run in the worker thread;
        # a slot of this GUI-thread object makes the connection queued, so partial results reach the GUI thread.
        self.worker.partial.connect(self._partial)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        for s in (self.worker.finished, self.worker.failed, self.worker.cancelled):
            # QThread.quit is thread-safe; a direct connection makes the thread stop as soon as the worker
            # is done, so the GUI-side handlers may join it without waiting for a queued quit.
            s.connect(self.thread.quit, QtCore.Qt.DirectConnection)

    @property
    def name(self) -> str:
        return self.job.name

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        if self._ctx:
            self._ctx[0].cancel()

    @QtCore.Slot(object)
    def _partial(self, item) -> None:
        self.partial.emit(item)

    def _finished(self, result, stages) -> None:
        self.result, self.stage_times, self.state = result, stages, "finished"
        self.done.emit("finished")

    def _failed(self, msg: str, details: str) -> None:
        self.error, self.details, self.state = msg, details, "failed"
        self.exception = getattr(self.worker, "exception", None)
        self.done.emit("failed")

    def _cancelled(self) -> None:
        self.state = "cancelled"
        self.done.emit("cancelled")

    def wait(self, ms: int = 30000) -> bool:
        return self.thread.wait(ms)


class JobRunner(QtCore.QObject):
    """Starts jobs and keeps their handles until they end; emits `started(handle)` for the jobs panel."""

    started = QtCore.Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.handles: list[JobHandle] = []

    def start(self, job: Job, on_result: Callable | None = None, on_partial: Callable | None = None,
              on_error: Callable | None = None, on_cancel: Callable | None = None) -> JobHandle:
        h = JobHandle(job, self)
        if on_partial is not None:
            h.partial.connect(on_partial)

        def done(state: str) -> None:
            h.thread.wait()
            if h in self.handles:
                self.handles.remove(h)
            if state == "finished" and on_result is not None:
                on_result(h.result)
            elif state == "failed" and on_error is not None:
                on_error(h.error, getattr(h, "details", ""))
            elif state == "cancelled" and on_cancel is not None:
                on_cancel()

        h.done.connect(done)
        self.handles.append(h)
        self.started.emit(h)
        h.start()
        return h

    @property
    def running(self) -> list[JobHandle]:
        return [h for h in self.handles if h.state == "running"]

    def shutdown(self, timeout_ms: int = 10000) -> list[JobHandle]:
        """Cancel every job and wait up to `timeout_ms` for their threads; returns the ones still running.
        Never terminate(): a job stops at its next cancel point (the window waits for it and says so)."""
        for h in list(self.handles):
            h.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        for h in list(self.handles):
            h.thread.wait(max(0, int((deadline - time.monotonic()) * 1000)))
        return [h for h in self.handles if h.thread.isRunning()]
