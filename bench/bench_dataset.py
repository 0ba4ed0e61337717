"""Dataset runner benchmark, ratios measured in one run on this machine: `eval occupancy --dataset` frame
scoring (npz inflation + confusion matrix per Occ3D frame) serially vs on a local Ray with 2 workers.

Prints the Ray start-up once (what a CLI run pays on top), the speed-up with Ray and its worker processes
already up (what a long run converges to), and the end-to-end speed-up of one run that starts its own Ray.
`--ray-metrics` adds the challenge F-score and RayIoU to each frame (KD-trees and ray casting: ~0.5 s of work
per frame instead of ~20 ms), the kind of item where the start-up is paid back.
Usage: python bench/bench_dataset.py [--frames 40] [--workers 2] [--ray-metrics]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "occupancy"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray-metrics", action="store_true", help="also F-score and RayIoU per frame (heavier items)")
    a = ap.parse_args()
    import ray

    from scenelens.engine.datasets import run_items
    from scenelens.engine.occupancy.dataset import dataset_items, frame_hist
    from test_dataset_ray import make_frames

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_frames(root, a.frames)
        heavy = a.ray_metrics
        items = dataset_items(root / "preds", root / "gts", "occ3d", "camera", fscore=heavy, rayiou=heavy)
        run_items(frame_hist, items[:2], progress=False)  # warm the readers' imports
        t = time.perf_counter()
        serial = run_items(frame_hist, items, progress=False)
        t_serial = time.perf_counter() - t

        t = time.perf_counter()
        cold = run_items(frame_hist, items, workers=a.workers, progress=False)  # starts and stops its own Ray
        t_cold = time.perf_counter() - t

        t = time.perf_counter()
        from scenelens.engine.datasets import _start_ray

        _start_ray(a.workers, None)
        t_start = time.perf_counter() - t
        run_items(frame_hist, items, workers=a.workers, progress=False)  # every worker process up, modules imported
        t = time.perf_counter()
        warm = run_items(frame_hist, items, workers=a.workers, progress=False)
        t_warm = time.perf_counter() - t
        ray.shutdown()
    assert serial.results == warm.results == cold.results, "Ray results differ from the serial run"
    n = len(items)
    what = "confusion matrix + F-score + RayIoU" if a.ray_metrics else "confusion matrix"
    print(f"{n} Occ3D frames (200×200×16, {what}), {a.workers} Ray workers on this machine")
    print(f"serial                 {t_serial:7.2f} s  ({1000 * t_serial / n:.0f} ms/frame)")
    print(f"Ray start-up           {t_start:7.2f} s")
    print(f"Ray, workers warm      {t_warm:7.2f} s  speed-up ×{t_serial / t_warm:.2f}")
    print(f"Ray, one cold run      {t_cold:7.2f} s  speed-up ×{t_serial / t_cold:.2f}")
    print("results identical to the serial run: yes")


if __name__ == "__main__":
    main()
