"""Pose benchmark: video pose estimation with the GUI showing every result live vs the same model in a
plain loop (the GUI must cost little), and the GUI event loop's latency while the job runs.

The clip is built from the COCO sample images (no downloads). Run: `python bench/bench_pose.py`
(uses QT_QPA_PLATFORM=offscreen when there is no display).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "coco_keypoints"


def make_clip(path: Path, per_image: int = 25, size=(640, 480)) -> Path:
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for f in sorted(DATA.glob("*.jpg")):
        img = cv2.resize(cv2.imread(str(f)), size)
        for i in range(per_image):
            vw.write(np.roll(img, 2 * i, axis=1))
    vw.release()
    return path


def plain_loop(video: Path) -> tuple[float, int]:
    from engine.io.image import VideoReader
    from engine.pose.mediapipe_adapter import MediaPipePose

    m = MediaPipePose()
    m.load(None, "cpu")
    m.set_video_mode(True)
    vr = VideoReader(video)
    t0 = time.perf_counter()
    n = 0
    for rgb in vr:
        m.predict_image(rgb)
        n += 1
    dt = time.perf_counter() - t0
    vr.close()
    m.close()
    return n / dt, n


def gui_run(video: Path) -> dict:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from engine.io import load
    from gui.main_window import MainWindow

    w = MainWindow(device="cpu")
    w.resize(1200, 800)
    w.show()
    w.set_scene(load(video))
    wb = next(b for b in w.workbenches if type(b).__name__ == "PoseWorkbench")
    wb._load_model()
    for _ in range(10):
        app.processEvents()
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    h = wb.run_on(str(video))
    while h.state == "running":
        app.processEvents(QtCore.QEventLoop.AllEvents, 5)
    elapsed = time.perf_counter() - t0
    timer.stop()
    h.thread.wait(10000)
    app.processEvents()
    gaps = np.diff(np.asarray(ticks)) * 1000.0
    out = {"fps": wb.live["frames"] / elapsed, "frames": wb.live["frames"],
           "draw_ms_per_frame": 1000 * wb.live.get("draw_s", 0.0) / max(wb.live["frames"], 1),
           "tick_max_ms": float(gaps.max()) if len(gaps) else float("nan"),
           "tick_p99_ms": float(np.percentile(gaps, 99)) if len(gaps) else float("nan"),
           "tick_median_ms": float(np.median(gaps)) if len(gaps) else float("nan")}
    w.close()
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        clip = make_clip(Path(d) / "clip.avi")
        plain_fps, n = plain_loop(clip)
        g = gui_run(clip)
    print(f"clip: {n} frames 640x480 (COCO samples), MediaPipe pose model_complexity=1, CPU")
    print(f"plain loop:          {plain_fps:6.2f} fps")
    print(f"GUI, live results:   {g['fps']:6.2f} fps  ({g['frames']} frames streamed, "
          f"{g['draw_ms_per_frame']:.1f} ms drawing per frame)")
    print(f"ratio GUI/plain:     {g['fps'] / plain_fps:6.3f}")
    print(f"event loop (10 ms timer) while running: median {g['tick_median_ms']:.1f} ms, "
          f"p99 {g['tick_p99_ms']:.1f} ms, max {g['tick_max_ms']:.1f} ms between ticks")
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    os._exit(rc)  # skip interpreter finalisation (VTK/Qt teardown order), the numbers are printed
