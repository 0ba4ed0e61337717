"""Big clouds in the real window: open time, peak RSS over the raw array, frame time and the longest GUI stall,
with the display level of detail (LOD) next to a plain full-resolution VTK actor, measured in one run.

    xvfb-run -a -s "-screen 0 1600x1000x24" python bench/bench_bigcloud.py [N ...]   (default 1M 10M 50M)
    python bench/bench_bigcloud.py --budgets 10M 100k 150k 250k                     (display-budget sweep)

For each N a float32 N×3 `.npy` (the raw array) is written block-wise, then every (N, mode) runs in a fresh
process so peak RSS is that run's own: a MainWindow (1280×800, software GL under Xvfb) opens the file the way
a user does (`open_path`: a job reads it, the GUI thread builds the actors). Measured there:

* open: from `open_path` until the scene is drawn for the first time (after the app's start-up warm-ups —
  imports on a thread, one tiny frame in the view's window — as for a file opened once the window is up);
* stall: the longest gap between ticks of a 5 ms QTimer on the GUI thread from `open_path` until 0.5 s after
  the first frame (what freezes the window; the reading job runs on its own thread);
* RSS/raw: (peak RSS of the process − RSS before the open) / (N × 12 bytes);
* frame: median time of `Render()` after a 10° camera azimuth step (what rotating costs); fps = 1000/frame;
* rotate: the same while the view is dragged (between Start/EndInteractionEvent: the coarse subsets);
* draws: frames rendered from `open_path` until 0.5 s after the first one (paint events included).

"full" sets the display budget above N (SCENELENS_MAX_DISPLAY_POINTS), i.e. one plain VTK actor with every
point — what SceneLens drew before the LOD. Ratios full/LOD come from the same run. The machine is shared,
so the load average is printed with the numbers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _n(s: str) -> int:
    s = s.lower().replace(",", "").replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s[:-1] if s[-1] in "km" else s) * mult)


def write_cloud(path: Path, n: int) -> None:
    """A float32 N×3 street-like cloud (a wide flat spread, 2 m tall) written in 1M-row blocks."""
    import numpy as np

    if path.exists() and path.stat().st_size > n * 12:
        return
    rng = np.random.default_rng(0)
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 3))
    for s in range(0, n, 1 << 20):
        k = min(1 << 20, n - s)
        mm[s:s + k] = (rng.normal(size=(k, 3)) * (40, 40, 2)).astype(np.float32)
    mm.flush()
    del mm


# ------------------------------------------------------------------------------------------ one run (child)


def child(path: str, n: int, mode: str, budget: int | None) -> dict:
    import resource

    import numpy as np
    import psutil

    if mode == "full":  # one plain actor with every point, also while rotating
        os.environ["SCENELENS_MAX_DISPLAY_POINTS"] = str(n + 1)
        os.environ["SCENELENS_INTERACTIVE_POINTS"] = str(n + 1)
    elif budget:
        os.environ["SCENELENS_MAX_DISPLAY_POINTS"] = str(budget)
    os.environ.setdefault("SCENELENS_CONFIG_DIR", "/tmp/scenelens-bench-config")
    os.environ.setdefault("SCENELENS_STATE_DIR", "/tmp/scenelens-bench-state")
    from PySide6 import QtCore, QtWidgets

    import pyqtgraph  # noqa: F401
    from scenelens.gui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from scenelens.engine.io import readers

    readers()
    win = MainWindow(device="cpu")
    win.resize(1280, 800)
    win.show()
    import threading

    from scenelens.gui.app import _warm_up_imports, _warm_up_view

    if os.environ.get("BENCH_NO_VIEW_WARMUP") != "1":  # (set: what an open cost before the view warm-up)
        _warm_up_view(win)
    _warm_up_imports()  # as the app does at launch; the measured open comes after it (a user's later open)
    for th in [t for t in threading.enumerate() if t.name == "warm-up-imports"]:
        while th.is_alive():
            app.processEvents()
            th.join(0.02)
    settle = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(1000, settle.quit)
    settle.exec()
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    rss0 = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    ticks.append(t0)
    loop = QtCore.QEventLoop()
    renders: list[float] = []  # ends of every frame the window draws (paint events and the view's own)
    done_at: list[float] = []

    def end(*_a) -> None:
        renders.append(time.perf_counter())
        if done_at:
            loop.quit()

    obs = win.view3d.window.AddObserver("EndEvent", end)
    h = win.open_path(path)
    job_end: list[float] = []  # the result is ready (worker thread): frames after this show the new scene
    h.worker.finished.connect(lambda *_a: job_end.append(time.perf_counter()), QtCore.Qt.DirectConnection)
    h.done.connect(lambda _s: done_at.append(time.perf_counter()))  # after the window's own handler
    h.done.connect(loop.quit)
    loop.exec()
    if h.state != "finished":
        return {"error": h.error or h.state}
    if not [t for t in renders if t > job_end[0]]:  # the first frame of the new scene is still to come
        QtCore.QTimer.singleShot(60_000, loop.quit)
        loop.exec()
    after = [t for t in renders if t > job_end[0]]
    if not after:
        return {"error": "no frame drawn within 60 s of the open"}
    t_open = after[0] - t0
    done_at.clear()  # the tail: 0.5 s more of the event loop (late paints count as part of the open)
    QtCore.QTimer.singleShot(500, loop.quit)
    loop.exec()
    win.view3d.window.RemoveObserver(obs)
    n_renders = len([t for t in renders if t > t0])
    timer.stop()
    gaps = np.diff(ticks)
    stall = float(gaps.max()) if len(gaps) else float("nan")
    worst = [(round(ticks[i] - t0, 3), round(1000 * float(gaps[i]))) for i in np.argsort(gaps)[::-1][:4]]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    actors = [a for acts in win.view3d.scene_renderer.actors.values() for a in acts if hasattr(a, "_sl_display")]
    shown, total = actors[0]._sl_display if actors else (0, 0)
    cam = win.view3d.renderer.GetActiveCamera()
    times = []
    while len(times) < 5 and (len(times) < 2 or sum(times) < 20):
        cam.Azimuth(10)
        t = time.perf_counter()
        win.view3d.window.Render()
        times.append(time.perf_counter() - t)
    it = win.view3d.interactor  # while dragging: what the app draws during rotation (interactive LOD)
    it.InvokeEvent("StartInteractionEvent")
    rot = []
    while len(rot) < 5 and (len(rot) < 2 or sum(rot) < 20):
        cam.Azimuth(10)
        t = time.perf_counter()
        win.view3d.window.Render()
        rot.append(time.perf_counter() - t)
    it.InvokeEvent("EndInteractionEvent")
    label = any(hasattr(a, "GetInput") and "points shown" in (a.GetInput() or "")
                for acts in win.view3d.scene_renderer.actors.values() for a in acts)
    win.close()
    return {"open_s": t_open, "stall_ms": 1000 * stall, "rss_over_raw": (peak - rss0) / (n * 12),
            "frame_ms": 1000 * float(np.median(times)), "rotate_ms": 1000 * float(np.median(rot)), "shown": int(shown), "total": int(total),
            "label": bool(label), "worst_gaps": worst, "frames_drawn_in_open": n_renders}


def run_child(path: Path, n: int, mode: str, budget: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), str(n), mode, str(budget or 0)]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1]}


FULL_MAX = int(float(os.environ.get("BENCH_FULL_MAX", 20_000_000)))


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(sizes: list[int], folder: Path) -> None:
    from scenelens.gui.views.layers.points import DEFAULT_DISPLAY_POINTS

    folder.mkdir(parents=True, exist_ok=True)
    print(f"display budget {DEFAULT_DISPLAY_POINTS:,} points; window 1280×800; load average {load_avg()}")
    print(f"{'points':>11} {'mode':>5} {'open s':>7} {'stall ms':>9} {'RSS/raw':>8} {'frame ms':>9} {'fps':>6} "
          f"{'shown':>11} {'draws':>5} {'rot ms':>7} {'rot fps':>7}  load")
    ref = folder / "cloud_10000.npy"  # what any open costs here (window relayout, first frames, imports)
    write_cloud(ref, 10_000)
    r = run_child(ref, 10_000, "lod")
    if "error" not in r:
        print(f"{10_000:>11,} {'ref':>5} {r['open_s']:>7.2f} {r['stall_ms']:>9.0f} {r['rss_over_raw']:>8.2f} "
              f"{r['frame_ms']:>9.1f} {1000 / r['frame_ms']:>6.1f} {r['shown']:>11,} {r['frames_drawn_in_open']:>5} "
              f"{r['rotate_ms']:>7.1f} {1000 / r['rotate_ms']:>7.1f}  {load_avg()}", flush=True)
    for n in sizes:
        path = folder / f"cloud_{n}.npy"
        write_cloud(path, n)
        res = {}
        for mode in ("lod", "full"):
            if mode == "full" and n > FULL_MAX:
                print(f"{n:>11,} {mode:>5} not run: a full-resolution actor needs ~17× the raw array "
                      f"({17 * n * 12 / 2**30:.0f} GiB, measured at 10M) on a shared machine; BENCH_FULL_MAX={n} runs it")
                res[mode] = {"error": "skipped"}
                continue
            r = run_child(path, n, mode)
            res[mode] = r
            if "error" in r:
                print(f"{n:>11,} {mode:>5} failed: {r['error']}")
                continue
            print(f"{n:>11,} {mode:>5} {r['open_s']:>7.2f} {r['stall_ms']:>9.0f} {r['rss_over_raw']:>8.2f} "
                  f"{r['frame_ms']:>9.1f} {1000 / r['frame_ms']:>6.1f} {r['shown']:>11,} {r['frames_drawn_in_open']:>5} "
                  f"{r['rotate_ms']:>7.1f} {1000 / r['rotate_ms']:>7.1f}  {load_avg()}", flush=True)
            print(f"{'':>11} longest GUI gaps (s after open_path, ms): "
                  + ", ".join(f"{t:.2f} s: {g} ms" for t, g in r["worst_gaps"][:3]), flush=True)
        if all("error" not in r for r in res.values()):
            f, lod = res["full"], res["lod"]
            print(f"{'':>11} full/LOD: open {f['open_s'] / lod['open_s']:.1f}×, stall {f['stall_ms'] / lod['stall_ms']:.1f}×, "
                  f"frame {f['frame_ms'] / lod['frame_ms']:.1f}×, RSS {f['rss_over_raw'] / lod['rss_over_raw']:.2f}×"
                  f"{'' if lod['label'] else '  (no shown/total label!)'}", flush=True)
        if n >= 20_000_000 and os.environ.get("BENCH_KEEP") != "1":
            path.unlink(missing_ok=True)


def sweep(n: int, budgets: list[int], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cloud_{n}.npy"
    write_cloud(path, n)
    print(f"display-budget sweep at {n:,} points (window 1280×800), load average {load_avg()}")
    for b in budgets:
        r = run_child(path, n, "lod", b)
        if "error" in r:
            print(f"budget {b:>9,}: failed: {r['error']}")
            continue
        print(f"budget {b:>9,}: frame {r['frame_ms']:6.1f} ms ({1000 / r['frame_ms']:5.1f} fps), rotating "
              f"{r['rotate_ms']:6.1f} ms ({1000 / r['rotate_ms']:5.1f} fps), stall "
              f"{r['stall_ms']:5.0f} ms, open {r['open_s']:.2f} s   load {load_avg()}", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        print(json.dumps(child(args[1], int(args[2]), args[3], int(args[4]) or None)))
        sys.exit(0)
    if not os.environ.get("DISPLAY"):
        sys.exit("needs a display: run under xvfb-run -a -s '-screen 0 1600x1000x24'")
    folder = Path(os.environ.get("BENCH_DIR", "/tmp/scenelens-bigcloud"))
    if args[:1] == ["--budgets"]:
        sweep(_n(args[1]), [_n(a) for a in args[2:]], folder)
    else:
        main([_n(a) for a in args] or [1_000_000, 10_000_000, 50_000_000], folder)
