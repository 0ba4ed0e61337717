"""Pose benchmark, all on clips built from the COCO sample images (no downloads):

1. the built-in torch pipeline (BlazePose detector + landmarks, engine/pose/detector_torch.py) against
   MediaPipe's own solution (TFLite + XNNPACK, `mediapipe-tflite`, only when that optional package is
   installed), same clip, video mode and still-image mode, frames per second and the ratio;
2. several people: the torch pipeline + tracker on the two-person crossing clip
   (scripts/make_crossing_clip.py), fps and people per frame;
3. video pose with the GUI showing every result live vs the same model in a plain loop (the GUI must cost
   little), and the GUI event loop's latency while the job runs (skip with --no-gui).

Run: `python bench/bench_pose.py [--no-gui] [--threads N]` (QT_QPA_PLATFORM=offscreen without a display).
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


def make_model(name: str):
    from engine.tasks.pose import load_pose_model

    return load_pose_model(name, "cpu")


def plain_loop(video: Path, model: str = "blazepose", video_mode: bool = True, limit: int = 0,
               track: bool = False) -> tuple[float, int, float]:
    """(fps, frames, people per frame) of `model` over the clip, frames decoded beforehand."""
    from engine.io.image import VideoReader
    from engine.pose.tracking import PoseTracker

    m = make_model(model)
    m.set_video_mode(video_mode)
    vr = VideoReader(video)
    frames = [f for f in vr]
    vr.close()
    if limit:
        frames = frames[:limit]
    tracker = PoseTracker() if track else None
    m.predict_image(frames[0])  # warm-up (first-call allocations), then restart the video state
    m.set_video_mode(video_mode)
    people = 0
    t0 = time.perf_counter()
    for i, rgb in enumerate(frames):
        ps = m.predict_image(rgb)
        if tracker is not None:
            tracker.update(i, ps, rgb)
        people += len(ps)
    dt = time.perf_counter() - t0
    if hasattr(m, "close"):
        m.close()
    return len(frames) / dt, len(frames), people / len(frames)


def mediapipe_installed() -> bool:
    from engine.pose.mediapipe_adapter import mediapipe_available

    return mediapipe_available()


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
    import argparse

    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--no-gui", action="store_true")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--frames", type=int, default=25, help="frames per COCO image in the single-person clip")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_crossing_clip import make_crossing_clip

    with tempfile.TemporaryDirectory() as d:
        clip = make_clip(Path(d) / "clip.avi", per_image=a.frames)
        cross = Path(d) / "crossing.avi"
        make_crossing_clip(cross, frames=40)
        print(f"torch {torch.__version__}, {a.threads} thread(s), CPU; clip: {4 * a.frames} frames 640x480 "
              "(COCO samples, 1 person)")
        ours_v = plain_loop(clip, "blazepose", True)
        ours_s = plain_loop(clip, "blazepose", False, limit=20)
        print(f"torch pipeline, video mode:        {ours_v[0]:6.2f} fps ({ours_v[1]} frames, {ours_v[2]:.2f} people/frame)")
        print(f"torch pipeline, still images:      {ours_s[0]:6.2f} fps ({ours_s[1]} frames, detector every frame, "
              f"{ours_s[2]:.2f} people/frame)")
        if mediapipe_installed():
            mp_v = plain_loop(clip, "mediapipe-tflite", True)
            mp_s = plain_loop(clip, "mediapipe-tflite", False, limit=20)
            print(f"mediapipe (TFLite), video mode:    {mp_v[0]:6.2f} fps ({mp_v[2]:.2f} people/frame, single-person)")
            print(f"mediapipe (TFLite), still images:  {mp_s[0]:6.2f} fps ({mp_s[2]:.2f} people/frame)")
            print(f"ratio torch/mediapipe: video {ours_v[0] / mp_v[0]:.3f}, still images {ours_s[0] / mp_s[0]:.3f}")
        else:
            print("mediapipe not installed: no TFLite comparison (figures recorded in docs/notes/issue-13.md)")
        multi = plain_loop(cross, "blazepose", True, track=True)
        multi_s = plain_loop(cross, "blazepose", False, track=True)
        print(f"two people crossing (960x540, {multi[1]} frames), tracked: video mode {multi[0]:6.2f} fps, "
              f"{multi[2]:.2f} people/frame; still-image mode {multi_s[0]:6.2f} fps, {multi_s[2]:.2f} people/frame")
        if not a.no_gui:
            plain_fps = ours_v[0]
            g = gui_run(clip)
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
