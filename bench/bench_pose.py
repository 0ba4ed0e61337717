"""Pose benchmark, all on clips built from the COCO sample images (no downloads):

1. the built-in torch pipeline (BlazePose detector + landmarks, engine/pose/detector_torch.py) against
   MediaPipe's own solution (TFLite + XNNPACK, `mediapipe-tflite`, only when that optional package is
   installed), same clip, video mode and still-image mode: frames per second, CPU milliseconds per frame
   (the whole process, MediaPipe's threads included) and the ratios, in interleaved rounds. "1 person" is
   the torch pipeline with max_people=1 — the work MediaPipe's single-person solution does (one landmark
   pass per followed frame, detector only when the person is lost; in still-image mode the detector on
   every image and landmarks for the best detection only, as `mp.solutions.pose` does); the default
   finds everyone (several landmark passes on the images with several people);
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


def make_model(name: str, max_people: int = 0):
    from scenelens.engine.tasks.pose import load_pose_model

    m = load_pose_model(name, "cpu")
    if max_people and hasattr(m, "pipe"):
        m.max_people = m.pipe.max_people = max_people
    return m


def plain_loop(video: Path, model: str = "blazepose", video_mode: bool = True, limit: int = 0,
               track: bool = False, max_people: int = 0) -> tuple[float, int, float, float]:
    """(fps, frames, people per frame, CPU ms per frame) of `model` over the clip, frames decoded beforehand.
    CPU time is the whole process's (every thread, MediaPipe's own thread pool included): on a loaded
    machine it says more about the work done than wall-clock fps does."""
    from scenelens.engine.io.image import VideoReader
    from scenelens.engine.pose.tracking import PoseTracker

    m = make_model(model, max_people)
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
    t0, c0 = time.perf_counter(), time.process_time()
    for i, rgb in enumerate(frames):
        ps = m.predict_image(rgb)
        if tracker is not None:
            tracker.update(i, ps, rgb)
        people += len(ps)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if hasattr(m, "close"):
        m.close()
    return len(frames) / dt, len(frames), people / len(frames), 1000.0 * cpu / len(frames)


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def mediapipe_installed() -> bool:
    from scenelens.engine.pose.mediapipe_adapter import mediapipe_available

    return mediapipe_available()


def gui_run(video: Path) -> dict:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from scenelens.engine.io import load
    from scenelens.gui.main_window import MainWindow

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
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions (medians are printed)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_crossing_clip import make_crossing_clip

    with tempfile.TemporaryDirectory() as d:
        clip = make_clip(Path(d) / "clip.avi", per_image=a.frames)
        cross = Path(d) / "crossing.avi"
        make_crossing_clip(cross, frames=40)
        print(f"torch {torch.__version__}, {a.threads} thread(s), CPU; clip: {4 * a.frames} frames 640x480 "
              f"(COCO samples: 1 person leads, 2-5 in three of them); load average {load()}")
        configs = {"torch video": ("blazepose", True, 0, 0), "torch video, 1 person": ("blazepose", True, 0, 1),
                   "torch still": ("blazepose", False, 20, 0), "torch still, 1 person": ("blazepose", False, 20, 1)}
        if mediapipe_installed():
            configs.update({"mediapipe video": ("mediapipe-tflite", True, 0, 0),
                            "mediapipe still": ("mediapipe-tflite", False, 20, 0)})
        # interleaved rounds: on a shared, loaded machine each configuration sees the same load
        runs: dict[str, list] = {k: [] for k in configs}
        for r in range(a.rounds):
            for k in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
                name, vm, limit, mp1 = configs[k]
                runs[k].append(plain_loop(clip, name, vm, limit=limit, max_people=mp1))
        res = {k: tuple(float(np.median([x[i] for x in v])) for i in range(4)) for k, v in runs.items()}
        for k, (fps, n, ppl, cpu) in res.items():
            print(f"{k:24s} {fps:6.2f} fps  {cpu:6.1f} CPU ms/frame  ({int(n)} frames, {ppl:.2f} people/frame)")
        ours_v = res["torch video"]
        if "mediapipe video" in res:
            mv, ms = res["mediapipe video"], res["mediapipe still"]
            one = res["torch video, 1 person"]
            print(f"ratio torch/mediapipe, video, same work (1 person): fps {one[0] / mv[0]:.3f}, "
                  f"CPU {mv[3] / one[3]:.3f}")
            print(f"ratio torch/mediapipe, video, torch finding everyone: fps {ours_v[0] / mv[0]:.3f}, "
                  f"CPU {mv[3] / ours_v[3]:.3f}")
            st, st1 = res["torch still"], res["torch still, 1 person"]
            print(f"ratio torch/mediapipe, still images, same work (1 person): fps {st1[0] / ms[0]:.3f}, "
                  f"CPU {ms[3] / st1[3]:.3f}")
            print(f"ratio torch/mediapipe, still images, torch finding everyone: fps {st[0] / ms[0]:.3f}, "
                  f"CPU {ms[3] / st[3]:.3f}")
            print(f"load average after: {load()}")
        else:
            print("mediapipe not installed: no TFLite comparison (figures recorded in docs/notes/issue-13.md)")
        multi = plain_loop(cross, "blazepose", True, track=True)
        multi_s = plain_loop(cross, "blazepose", False, track=True)
        print(f"two people crossing (960x540, {multi[1]} frames), tracked: video mode {multi[0]:6.2f} fps "
              f"({multi[3]:.1f} CPU ms/frame), {multi[2]:.2f} people/frame; still-image mode {multi_s[0]:6.2f} fps "
              f"({multi_s[3]:.1f} CPU ms/frame), {multi_s[2]:.2f} people/frame; load average {load()}")
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
