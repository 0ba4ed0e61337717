"""Big clouds: build time (runs on the GUI thread: the stall), frame time and peak RSS, level of detail vs a
plain full-resolution VTK actor, measured in one run. `python bench/bench_bigcloud.py [N ...]` (default 1M 10M).

Offscreen through EGL (VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow) at 800×600; frame time = median of 5
renders after a camera azimuth step (what rotating costs).
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402
import vtk  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.scene import PointCloud  # noqa: E402
from gui.views.layers.points import build_points  # noqa: E402


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def frame_ms(actors) -> float:
    ren = vtk.vtkRenderer()
    for a in actors:
        ren.AddViewProp(a)
    win = vtk.vtkRenderWindow()
    win.SetOffScreenRendering(1)
    win.SetSize(800, 600)
    win.AddRenderer(ren)
    ren.ResetCamera()
    win.Render()
    times = []
    for _ in range(5):
        ren.GetActiveCamera().Azimuth(10)
        t = time.perf_counter()
        win.Render()
        times.append(time.perf_counter() - t)
    win.Finalize()
    return 1000 * float(np.median(times))


def main(sizes: list[int]) -> None:
    from gui.views.layers.points import display_budget

    print(f"display budget {display_budget():,} points; RSS/raw = (RSS with the cloud and its actors − RSS before "
          "the cloud) / raw xyz bytes")
    print(f"{'points':>12} {'mode':>6} {'build s':>8} {'frame ms':>9} {'fps':>6} {'RSS/raw':>13}")
    for n in sizes:
        rng = np.random.default_rng(0)
        pts = rng.normal(size=(n, 3)) * [40, 40, 2]
        layer = PointCloud(name="big", points=pts, attributes={"intensity": rng.random(n, dtype=np.float32)})
        raw = pts.nbytes / 2**20
        res = {}
        for mode, style in (("full", {"max_display_points": n + 1}), ("lod", {})):
            base = rss_mib() - raw  # the process without the cloud
            t = time.perf_counter()
            actors = build_points(layer, style)
            build = time.perf_counter() - t
            f = frame_ms(actors)
            res[mode] = (build, f)
            print(f"{n:>12,} {mode:>6} {build:>8.2f} {f:>9.1f} {1000 / f:>6.1f} {(rss_mib() - base) / raw:>13.2f}")
            del actors
        (bf, ff), (bl, fl) = res["full"], res["lod"]
        print(f"{'':>12} ratio full/lod: build {bf / bl:.2f}×, frame {ff / fl:.2f}×")


if __name__ == "__main__":
    main([int(float(a)) for a in sys.argv[1:]] or [1_000_000, 10_000_000])
