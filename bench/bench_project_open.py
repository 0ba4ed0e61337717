"""Opening a `.slproj` holding a big cloud in the real window: the longest GUI-thread stall and the open time,
the way it was (before: the project read on the GUI thread, the scene installed and every layer built twice
there, the saved layers rebuilt there) next to now (after: all of that in the open job, the GUI thread only
makes the actors once), one fresh process per open, before/after interleaved.

    xvfb-run -a -s "-screen 0 1600x1000x24" python bench/bench_project_open.py [N] [--reps R]   (default 10M, 2)

Two projects over the same float32 N×3 `.npy` (bench_bigcloud's street-like cloud), written once, headless:
* saved: the cloud edited (z of every 1000th point) — a project stores an edited cloud whole in its arrays
  (float64 N×3, compressed), with a 3k-point job layer and a saved camera;
* file: the cloud unedited (the project refers to the `.npy`), the same job layer and camera.

Measured in the child (a MainWindow 1280×800, software GL under Xvfb, after the app's warm-ups):
* stall: the longest gap between ticks of a 5 ms QTimer from `open_path` until 0.5 s after the first frame
  drawn once the job has finished (the window freezes for that long);
* open: from `open_path` until that first frame.
"before" runs the old `MainWindow.apply_project`/`open_project` and `Session.apply_project` (copied below from
ef91863) on the same window. The load average is printed with every row (shared 2-core machine).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_bigcloud import _n, load_avg, write_cloud  # noqa: E402


def write_projects(folder: Path, n: int) -> dict[str, Path]:
    import numpy as np

    from scenelens.engine.scene import PointCloud
    from scenelens.engine.session import Session

    cloud = folder / f"cloud_{n}.npy"
    write_cloud(cloud, n)
    out = {}
    for kind in ("saved", "file"):
        p = folder / f"project_{kind}_{n}.slproj"
        out[kind] = p
        if p.exists() and p.stat().st_mtime > cloud.stat().st_mtime:
            continue
        s = Session.open(cloud)
        lay = s.scene.layers[0]
        if kind == "saved":
            lay.points[::1000, 2] += 0.5  # an edit: the project keeps the whole cloud
        rng = np.random.default_rng(2)
        s.add_layer(PointCloud(name="job result", points=rng.normal(size=(3000, 3)) * 4,
                               attributes={"intensity": rng.random(3000)}))
        s.view = {"position": [-90.0, -60.0, 70.0], "focal_point": [0.0, 0.0, 0.0], "view_up": [0.0, 0.0, 1.0]}
        t = time.perf_counter()
        s.save(p)
        print(f"wrote {p.name} ({p.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s", flush=True)
    return out


# --------------------------------------------------------------------------- the old open path (ef91863), for "before"


def _old_session_apply_project(self, proj, scene) -> None:
    import numpy as np

    from scenelens.engine.layer_io import load_layer
    from scenelens.engine.session import WORKSPACES

    self.set_scene(scene)
    file_layers = list(scene.layers)
    uid_map, out = {}, []
    for entry in proj.layers:
        lay = None
        if entry.get("role") == "file":
            i = int(entry.get("file_index", -1))
            if not 0 <= i < len(file_layers):
                continue
            lay = file_layers[i]
            if entry.get("layer"):
                new = load_layer(entry["layer"], proj.layer_arrays)
                new.uid = lay.uid
                new.provenance = lay.provenance
                lay = new
        elif entry.get("layer"):
            lay = load_layer(entry["layer"], proj.layer_arrays)
        if lay is None:
            continue
        uid_map[str(entry.get("uid"))] = lay.uid
        lay.visible = bool(entry.get("visible", True))
        if entry.get("transform") is not None:
            lay.transform = np.asarray(entry["transform"], float).reshape(4, 4)
        lay.style = dict(entry.get("style") or {})
        out.append(lay)
    if proj.layers:
        kept = {lay.uid for lay in out}
        out += [lay for lay in file_layers if lay.uid not in kept]
        scene.layers = out
    self.workspace = proj.workspace if proj.workspace in WORKSPACES else self.workspace
    self.view = dict(proj.view or {})
    self.annotations = dict(proj.annotations)
    if proj.scene_name:
        scene.name = proj.scene_name
    self.emit("scene", scene)


def _old_open_project(self, path: str):
    from scenelens.engine.jobs import Job
    from scenelens.engine.project import load_project
    from scenelens.engine.session import WORKSPACES, load_scene_of

    proj = load_project(path)

    def done(scene) -> None:
        self.set_scene(scene, workspace=proj.workspace if proj.workspace in WORKSPACES else None)
        _old_session_apply_project(self.session, proj, scene)
        self.view3d.set_scene(self.scene)
        self.browser.set_scene(self.scene)
        self._update_camera_grid()
        for wb in self.workbenches:
            wb.on_scene_changed(self.scene)
        for p in self.annotation_providers:
            p.restore_annotations(proj)
        if proj.view:
            cam = self.view3d.renderer.GetActiveCamera()
            cam.SetPosition(*proj.view["position"])
            cam.SetFocalPoint(*proj.view["focal_point"])
            cam.SetViewUp(*proj.view["view_up"])
            self.view3d.renderer.ResetCameraClippingRange()
            self.view3d.render()
        self.project_path = path
        self.session.project_path = path

    return self.start_job(Job(f"Open project {Path(path).name}", lambda ctx: load_scene_of(proj, path)), on_result=done)


# ------------------------------------------------------------------------------------------ one open (child)


def child(path: str, mode: str) -> dict:
    import numpy as np

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

    _warm_up_view(win)
    _warm_up_imports()
    for th in [t for t in threading.enumerate() if t.name == "warm-up-imports"]:
        while th.is_alive():
            app.processEvents()
            th.join(0.02)
    settle = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(1000, settle.quit)
    settle.exec()
    if mode == "before":
        win.open_project = types.MethodType(_old_open_project, win)
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    loop = QtCore.QEventLoop()
    renders: list[float] = []
    win.view3d.window.AddObserver("EndEvent", lambda *_a: renders.append(time.perf_counter()))
    t0 = time.perf_counter()
    ticks.append(t0)
    h = win.open_path(path)
    job_end: list[float] = []
    h.worker.finished.connect(lambda *_a: job_end.append(time.perf_counter()), QtCore.Qt.DirectConnection)
    h.done.connect(loop.quit)
    loop.exec()
    if h.state != "finished":
        return {"error": h.error or h.state}
    for _ in range(600):  # the first frame after the job (the deferred render)
        if [t for t in renders if t > job_end[0]]:
            break
        app.processEvents()
        time.sleep(0.005)
    after = [t for t in renders if t > job_end[0]]
    if not after:
        return {"error": "no frame after the job"}
    t_open = after[0] - t0
    QtCore.QTimer.singleShot(500, loop.quit)
    loop.exec()
    timer.stop()
    gaps = np.diff(ticks)
    worst = [(round(ticks[i] - t0, 2), round(1000 * float(gaps[i]))) for i in np.argsort(gaps)[::-1][:3]]
    big = max(win.scene.layers, key=lambda lay: getattr(lay, "n", 0))
    cam = win.view3d.renderer.GetActiveCamera()
    res = {"open_s": t_open, "stall_ms": 1000 * float(gaps.max()), "worst": worst,
           "job_s": job_end[0] - t0, "layers": [lay.name for lay in win.scene.layers], "n": int(big.n),
           "camera": [round(v, 3) for v in cam.GetPosition()]}
    win.close()
    return res


def run_child(path: Path, mode: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), mode]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1]}


def main(n: int, reps: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    projects = write_projects(folder, n)
    print(f"{n:,}-point cloud, window 1280×800, load average {load_avg()}")
    print(f"{'project':>8} {'mode':>7} {'open s':>7} {'job s':>6} {'stall ms':>9}  longest gaps (s after open: ms)   load")
    res: dict[tuple, list] = {}
    for rep in range(reps):
        for kind, p in projects.items():
            for mode in (("before", "after") if rep % 2 == 0 else ("after", "before")):
                r = run_child(p, mode)
                if "error" in r:
                    print(f"{kind:>8} {mode:>7} failed: {r['error']}", flush=True)
                    continue
                res.setdefault((kind, mode), []).append(r)
                gaps = ", ".join(f"{t:.2f}: {g}" for t, g in r["worst"])
                print(f"{kind:>8} {mode:>7} {r['open_s']:>7.2f} {r['job_s']:>6.2f} {r['stall_ms']:>9.0f}  {gaps:<34} "
                      f"{load_avg()}", flush=True)
    for kind in projects:
        b, a = res.get((kind, "before")), res.get((kind, "after"))
        if b and a:
            same = all(x["layers"] == a[0]["layers"] and x["camera"] == a[0]["camera"] for x in a + b)
            import numpy as np

            mb, ma = (float(np.median([x["stall_ms"] for x in v])) for v in (b, a))
            print(f"{kind:>8}: stall before/after {mb / ma:.1f}× (medians {mb:.0f} → {ma:.0f} ms); same layers and camera: {same}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        print(json.dumps(child(args[1], args[2])))
        sys.exit(0)
    if not os.environ.get("DISPLAY"):
        sys.exit("needs a display: run under xvfb-run -a -s '-screen 0 1600x1000x24'")
    reps = 2
    if "--reps" in args:
        i = args.index("--reps")
        reps = int(args[i + 1])
        del args[i:i + 2]
    main(_n(args[0]) if args else 10_000_000, reps, Path(os.environ.get("BENCH_DIR", "/tmp/scenelens-bench")))
