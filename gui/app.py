"""Starts the Qt application and the main window: on the given paths, on a Session handed over by the Python
API (`scenelens.show`), or on the built-in demo scene.

`SCENELENS_AUTOSHOT=PNG` (used by the launch tests and scripts/screenshots.py) writes a screenshot of the
whole window once the first scene is shown and its views have drawn, then quits: the real program, as a user
starts it, checked by its pixels. `SCENELENS_WORKSPACE=NAME` picks the workspace for that shot.
"""
from __future__ import annotations

import os
import sys


def _app():
    from PySide6 import QtWidgets

    import pyqtgraph  # noqa: F401  (pyqtgraph must see the Qt binding before the app exists)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("SceneLens")
    return app


def _window(device: str | None, size=None):
    from .main_window import MainWindow

    win = MainWindow(device=device)
    from scenelens.engine.trust import require_adapter_confirmation

    require_adapter_confirmation(True)  # an adapter .py runs only after the user confirmed it (gui/trust_prompts.py)
    geo = os.environ.get("SCENELENS_WINDOW_SIZE")
    if geo:
        w, h = (int(v) for v in geo.lower().split("x"))
        win.resize(w, h)
    elif size:
        win.resize(*size)
    return win


def run_app(paths: list[str], device: str | None = None) -> int:
    from .main_window import demo_scene_path

    if len(paths) == 2:
        from scenelens.engine.errors import InputError

        kind, what = pair_kind(*paths)
        if kind == "refused":  # one line, exit 2 (gui/scenelens/cli.py), before any window
            raise InputError(None, what)
    app = _app()
    # Readers are discovered (imported) here, on one thread, before any job or the warm-up thread runs:
    # importing pydantic-backed readers from two threads at once failed now and then with "partially
    # initialized module" (seen 1 in ~15 launches), which skipped the manifest reader.
    from scenelens.engine.io import readers

    readers()
    win = _window(device)
    if os.environ.get("SCENELENS_WINDOW_SIZE"):
        win.show()
    else:
        win.showMaximized() if _small_screen(app) else win.show()
    _warm_up_view(win)
    if len(paths) == 2:
        h = win.open_paths(paths)
    else:
        h = win.open_path(paths[0] if paths else demo_scene_path())
    _autoshot(win, h)
    win.offer_recovery()
    _warm_up_imports()
    return app.exec()


# what two paths opened together may be, by the reader that recognises each (engine/io `detect`, by content)
CLOUD_READERS = frozenset({"ply", "pcd", "las", "npy-points", "lidar-bin"})
MEDIA_READERS = frozenset({"image", "video"})
POSE_RESULT_READERS = frozenset({"coco-keypoints"})
TRAJECTORY_READERS = frozenset({"trajectory"})
PAIRS_ACCEPTED = ("two point clouds (source and target of a registration), a video or image with its pose "
                  "results JSON, or two trajectory files (compared: APE / RPE)")


def _what(path: str) -> tuple[str | None, str]:
    """The reader name recognising `path` (None when none does) and how to name it to the user."""
    from scenelens.engine.errors import InputError
    from scenelens.engine.io import detect

    if str(path).endswith(".slproj"):
        return None, "a SceneLens project"
    try:
        r = detect(path)
    except InputError as e:
        return None, "no format SceneLens reads" if e.message.startswith("unrecognised") else e.message
    return r.name, r.description or r.name


def pair_kind(a: str, b: str) -> tuple[str, object]:
    """What two paths given together are, decided by what the files are (not by their count):
    ('registration', (source, target)) for two point clouds, in the given order; ('pose', (media, results))
    for a video or image and a COCO keypoint JSON, in either order; ('trajectories', (a, b)) for two
    trajectory files; else ('refused', one line naming both files and the pairs accepted)."""
    from pathlib import Path

    (ra, da), (rb, db) = _what(a), _what(b)
    if ra in CLOUD_READERS and rb in CLOUD_READERS:
        return "registration", (a, b)
    if ra in TRAJECTORY_READERS and rb in TRAJECTORY_READERS:
        return "trajectories", (a, b)
    if ra in MEDIA_READERS and rb in POSE_RESULT_READERS:
        return "pose", (a, b)
    if rb in MEDIA_READERS and ra in POSE_RESULT_READERS:
        return "pose", (b, a)
    return "refused", (f"cannot open {Path(a).name} and {Path(b).name} together ({Path(a).name}: {da}; "
                       f"{Path(b).name}: {db}); two paths open as {PAIRS_ACCEPTED}")


def show_session(session=None, device: str = "auto", size=None):
    """The window on an existing Session (its scene, layers and edits), blocking until closed."""
    app = _app()
    from scenelens.engine.io import readers

    readers()  # imported on this thread, before any job (see run_app)
    win = _window(device if device != "auto" else None, size)
    win.show()
    _warm_up_view(win)
    if session is not None:
        win.adopt_session(session)
    _autoshot(win, None)
    app.exec()
    return win.session


def _small_screen(app) -> bool:
    scr = app.primaryScreen()
    if scr is None:
        return False
    g = scr.availableGeometry()
    return g.width() <= 1440 or g.height() <= 900


def _autoshot(win, handle) -> None:
    out = os.environ.get("SCENELENS_AUTOSHOT")
    if not out:
        return
    from PySide6 import QtCore

    ws = os.environ.get("SCENELENS_WORKSPACE")

    def shoot() -> None:
        if ws:
            win.set_workspace(ws)
        QtCore.QTimer.singleShot(600, win, write)

    def write() -> None:
        from scenelens.engine.io.image import write_image

        if win.view3d.building():  # a big grid's mesh is still built in a job: shoot once it is drawn
            QtCore.QTimer.singleShot(200, win, write)
            return
        win.view3d.render()
        QtCore.QCoreApplication.processEvents()
        write_image(out, win.window_image())
        print(f"wrote {out} ({win.width()}x{win.height()}, workspace {win.workspace})", flush=True)
        QtCore.QTimer.singleShot(0, win, win.close)

    def failed(*_a) -> None:
        entries = [m for lvl, m in win.log_panel.entries if lvl == "error"]
        print(f"autoshot: opening failed: {entries[-1] if entries else handle.error}", file=sys.stderr, flush=True)
        QtCore.QTimer.singleShot(0, win, lambda: (win.close(), QtCore.QCoreApplication.exit(1)))

    if handle is None:
        QtCore.QTimer.singleShot(300, win, shoot)
    else:
        handle.done.connect(lambda state: QtCore.QTimer.singleShot(300, win, shoot) if state == "finished" else failed())


def _warm_up_view(win) -> None:
    """Once, on the GUI thread before the first scene lands: import the layer builders (the first open did,
    20–40 ms on the GUI thread) and draw a tiny cloud with a shown/total label in the 3D view's render window
    at the size the view will have, then take it away. The first frame at a window size pays for allocating
    the software-GL framebuffers (~35 ms at 1000×730 on llvmpipe, measured): a user's first open then draws
    at the cost of any later frame. Nothing is drawn on screen (the view is hidden behind the welcome page
    until a scene opens); skipped when the view has something already or renders offscreen."""
    import numpy as np

    from scenelens.engine.scene import PointCloud

    from .views.builders import build_actors

    view = win.view3d
    if view.offscreen or view.isVisible() or any(view.scene_renderer.actors.values()):
        return
    size = win.central.size()
    if size.width() < 16 or size.height() < 16:
        return
    r = view.devicePixelRatioF() or 1.0
    cloud = PointCloud(name="warm-up", points=np.random.default_rng(0).normal(size=(400, 3)))
    actors = build_actors(cloud, {"max_display_points": 300})  # the actor kinds a big cloud's open draws
    view.window.SetSize(int(size.width() * r), int(size.height() * r))
    for a in actors:
        view.renderer.AddViewProp(a)
    view.renderer.ResetCamera()
    view.window.Render()
    for a in actors:
        view.renderer.RemoveViewProp(a)


def _warm_up_imports() -> None:
    """Import torch/scipy on a background thread while the user looks at the first scene, so the first
    job does not pay seconds of import time (which holds the GIL in long chunks and stalls drawing)."""
    import threading

    def work() -> None:
        import matplotlib  # noqa: F401  (the colour maps of the first point cloud: ~1 s cold on the GUI thread)
        import scipy.spatial  # noqa: F401
        import torch

        from scenelens.engine.device import worker_threads

        torch.set_num_threads(worker_threads())  # leave a core for drawing on small machines

    threading.Thread(target=work, name="warm-up-imports", daemon=True).start()
