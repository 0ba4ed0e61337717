"""GUI event-loop latency while a CPU-heavy engine job runs: on the job runner's worker thread (ours) vs
the same job run on the GUI thread (the naive way). Prints max and p99 gaps between 10 ms timer ticks and
their ratio, measured in one run. Run: `xvfb-run -a .venv/bin/python bench/bench_gui_latency.py`
(or with QT_QPA_PLATFORM=offscreen)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


_CLOUD = []


def heavy_job():
    from scenelens.engine.io import load_layers
    from scenelens.engine.tasks.preprocess import make_job

    if not _CLOUD:  # loaded once, outside the measured windows; one-time imports (scipy.spatial) warmed too
        import scipy.spatial  # noqa: F401
        import torch  # noqa: F401  (a cold torch import takes seconds and holds the GIL in long chunks)
        _CLOUD.append(load_layers(Path(__file__).resolve().parents[2] / "shared/data/semantickitti_00_000000/velodyne/000000.bin")[0])
    return make_job(_CLOUD[0], 0.08, device="cpu")


def measure(app, run) -> np.ndarray:
    from PySide6 import QtCore

    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    run()
    timer.stop()
    return np.diff(ticks) * 1000 if len(ticks) > 1 else np.array([np.nan])


def stalls_open_and_switch(app) -> dict:
    """Longest gaps between 5 ms timer ticks while the real window opens the demo scene (loading in a job,
    drawing on the GUI thread) and while it switches through every workspace twice."""
    from PySide6 import QtCore

    from scenelens.engine.session import WORKSPACES
    from scenelens.gui.main_window import MainWindow, demo_scene_path

    win = MainWindow(device="cpu")
    win.resize(1280, 800)
    win.show()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def gaps(fn) -> float:
        ticks.clear()
        timer.start(5)
        fn()
        timer.stop()
        return float(np.max(np.diff(ticks)) * 1000) if len(ticks) > 1 else float("nan")

    def open_demo():
        h = win.open_path(demo_scene_path())
        while h.state == "running" or h.thread.isRunning():
            app.processEvents()
            time.sleep(0.001)
        for _ in range(30):  # the first frames after the scene arrives
            app.processEvents()
            time.sleep(0.002)

    def switch():
        for name in list(WORKSPACES) * 2:
            win.set_workspace(name)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.05:
                app.processEvents()
                time.sleep(0.001)

    out = {"open demo": gaps(open_demo), "switch workspaces (x10)": gaps(switch)}
    win.close()
    return out


def main() -> None:
    from PySide6 import QtWidgets

    from scenelens.engine.jobs import run_sync
    from scenelens.gui.jobs import JobRunner

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    runner = JobRunner()

    def threaded():
        h = runner.start(heavy_job())
        while h.state == "running":
            app.processEvents()
            time.sleep(0.001)
        h.thread.wait()

    def on_gui_thread():
        t_end = time.perf_counter()
        app.processEvents()
        run_sync(heavy_job())
        app.processEvents()
        return t_end

    def spin(seconds: float) -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            app.processEvents()
            time.sleep(0.001)

    def naive_run():
        spin(0.1)
        run_sync(job)
        spin(0.1)

    heavy_job()
    ours = measure(app, threaded)
    job = heavy_job()
    naive = measure(app, naive_run)
    def stats(x):
        return np.nanmax(x), np.nanpercentile(x, 99)
    (om, op), (nm, np99) = stats(ours), stats(naive)
    print("GUI event-loop latency while 'downsample+normals' (SemanticKITTI scan, 0.08 m) runs")
    print(f"{'':22s}{'max ms':>10s}{'p99 ms':>10s}{'ticks':>8s}")
    print(f"{'worker thread (ours)':22s}{om:10.1f}{op:10.1f}{len(ours):8d}")
    print(f"{'GUI thread (naive)':22s}{nm:10.1f}{np99:10.1f}{len(naive):8d}")
    print(f"ratio naive/ours: max {nm / om:.1f}x, p99 {np99 / op:.1f}x")
    print()
    print("Longest event-loop stall in the real window (goal <= 50 ms)")
    for name, ms in stalls_open_and_switch(app).items():
        print(f"  {name:26s}{ms:8.1f} ms  {'ok' if ms <= 50 else 'over goal'}")


if __name__ == "__main__":
    main()
