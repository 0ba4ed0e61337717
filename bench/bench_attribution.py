"""Attribution benchmarks, ratios measured in one run on this machine:
1. Integrated Gradients on EfficientNet-Lite0 (224²): path steps batched vs one step at a time.
2. PoseIG on the torch-rebuilt MediaPipe pose model (256²) with the true keypoint target: path points
   batched (one forward per batch, one backward per joint — the CPU default), all joints vectorised
   (is_grads_batched — the accelerator default) and sequential (one path point at a time).
3. GUI event-loop latency (max/mean timer lag) while an attribution job runs in the window.
Usage: python bench/bench_attribution.py [--steps 32] [--fold 4] [--joints 17]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_ig(steps: int) -> dict:
    import skimage.data
    import torch

    from scenelens.engine.attribution import ig
    from scenelens.engine.attribution.classifier import load_classifier

    clf = load_classifier()
    x = clf.prepare(skimage.data.chelsea())
    ig.integrated_gradients(clf.module, x, 285, steps=4, batch_size=4)  # warm-up
    t_b = timed(lambda: ig.integrated_gradients(clf.module, x, 285, steps=steps, batch_size=16))
    t_1 = timed(lambda: ig.integrated_gradients(clf.module, x, 285, steps=steps, batch_size=1))
    _ = torch
    return {"steps": steps, "batched_s": t_b, "one_at_a_time_s": t_1, "speedup": t_1 / t_b}


def bench_poseig(fold: int, n_joints: int) -> dict:
    """PoseIG on the model's true target (MediaPipe's decoded keypoints, as the pipeline attributes it):
    path points batched with one backward per joint (the CPU default), all joints vectorised, and the
    sequential loop (one path point at a time, one backward per joint)."""
    import numpy as np
    import torch

    from scenelens.engine.attribution import poseig as P
    from scenelens.engine.attribution.common import load_image, to_tensor
    from scenelens.engine.attribution.posepipeline import coco_ground_truth, crop_transform, load_pose_model, warp

    d = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_keypoints"
    img = load_image(d / "000000000785.jpg")
    gt = coco_ground_truth(str(d / "test_coco.json"), "000000000785.jpg", img.shape[:2])
    A = crop_transform(gt["bbox"], 256)
    x = to_tensor(warp(img, A, 256))
    pm = load_pose_model(None, "cpu")
    kp = gt["keypoints"][:n_joints]
    ref = torch.as_tensor((np.c_[kp[:, :2], np.ones(len(kp))] @ A.T) / 4.0, dtype=torch.float32)

    def target(b):
        return P.joint_likelihood(pm.keypoints(b)[:, :n_joints] / 4.0, ref)

    names = pm.joint_names[:n_joints]
    P.poseig(target, x, names, fold=1, batch_size=1)  # warm-up
    res = {}
    runs = {"batched": dict(batch_size=fold + 1, batch_joints=False),
            "vectorised": dict(batch_size=fold + 1, batch_joints=True),
            "sequential": dict(batch_size=1, batch_joints=False)}
    t = {k: timed(lambda k=k, kw=kw: res.__setitem__(k, P.poseig(target, x, names, fold, **kw)))
         for k, kw in runs.items()}
    ref_raw = np.abs(res["sequential"].raw).max() + 1e-12
    diff = max(float(np.abs(res[k].raw - res["sequential"].raw).max() / ref_raw) for k in ("batched", "vectorised"))
    return {"fold": fold, "joints": n_joints, "batched_s": t["batched"], "vectorised_s": t["vectorised"],
            "sequential_s": t["sequential"], "speedup": t["sequential"] / t["batched"],
            "vectorised_speedup": t["sequential"] / t["vectorised"], "max_rel_diff": diff}


def bench_gui_latency(steps: int) -> dict | None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        import skimage.data
        from PySide6 import QtCore, QtWidgets

        from scenelens.gui.main_window import MainWindow
    except Exception as e:  # no GUI stack here
        return {"skipped": f"{type(e).__name__}: {e}"}
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    win = MainWindow(device="cpu")
    win.show()
    wb = next(b for b in win.workbenches if type(b).__name__ == "AttributionWorkbench")
    wb.set_image(skimage.data.chelsea(), "chelsea")
    wb.steps.setValue(steps)
    wb.faith.setChecked(False)
    lags = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        lags.append(now - last[0] - 0.010)
        last[0] = now

    timer = QtCore.QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    t0 = time.perf_counter()
    h = wb.run("ig")
    while h.state == "running" and time.perf_counter() - t0 < 300:
        app.processEvents(QtCore.QEventLoop.AllEvents, 5)
        time.sleep(0.001)
    job_s = time.perf_counter() - t0
    timer.stop()
    h.thread.wait(10000)
    win.close()
    lags = sorted(max(0.0, v) for v in lags)
    return {"job_s": job_s, "ticks": len(lags), "max_lag_ms": 1000 * lags[-1] if lags else None,
            "p95_lag_ms": 1000 * lags[int(0.95 * (len(lags) - 1))] if lags else None,
            "mean_lag_ms": 1000 * sum(lags) / max(1, len(lags))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--fold", type=int, default=4)
    ap.add_argument("--joints", type=int, default=17)
    ap.add_argument("--no-gui", action="store_true")
    ap.add_argument("--only", choices=("ig", "poseig"), default=None, help="run one of the two model benchmarks")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    print(f"load average {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, {os.getloadavg()[2]:.2f}", flush=True)
    if a.only != "poseig":
        _print_ig(bench_ig(a.steps))
    if a.only == "ig":
        return 0
    _main_rest(a)
    return 0


def _print_ig(r) -> None:
    print(f"IG {r['steps']} steps, EfficientNet-Lite0 224²: batched(16) {r['batched_s']:.2f} s, "
          f"one step at a time {r['one_at_a_time_s']:.2f} s → ×{r['speedup']:.2f}", flush=True)


def _main_rest(a) -> None:
    r = bench_poseig(a.fold, a.joints)
    print(f"PoseIG fold {r['fold']}, {r['joints']} joints, MediaPipe-torch 256², true keypoint target: "
          f"path points batched {r['batched_s']:.2f} s (CPU default), all joints vectorised {r['vectorised_s']:.2f} s, "
          f"sequential {r['sequential_s']:.2f} s → batched ×{r['speedup']:.2f}, vectorised "
          f"×{r['vectorised_speedup']:.2f} vs sequential (max rel. diff {r['max_rel_diff']:.1e})")
    if not a.no_gui:
        g = bench_gui_latency(8)
        if g and "skipped" not in g:
            print(f"GUI event loop during an IG job ({g['job_s']:.1f} s): timer lag max {g['max_lag_ms']:.1f} ms, "
                  f"p95 {g['p95_lag_ms']:.1f} ms, mean {g['mean_lag_ms']:.2f} ms over {g['ticks']} ticks")
        else:
            print(f"GUI latency: skipped ({g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
