"""Opening a big cloud: its display (LOD subset, colours, VTK arrays, the view's centre and framing statistics)
is built in the open job, off the GUI thread, and the first frame comes in its own turn of the event loop —
checked by structure (which thread built what, what ran between), never by time. Picks stay at full
resolution and the shown/total count is on screen."""
from __future__ import annotations

import threading

import numpy as np
from PySide6 import QtCore
from PySide6.QtTest import QTest

from tests.conftest import colourful_fraction, wait_job


def _cloud(tmp_path, n=200_000):
    p = tmp_path / "cloud.npy"
    np.save(p, (np.random.default_rng(0).normal(size=(n, 3)) * (20, 20, 2)).astype(np.float32))
    return p


def test_open_builds_the_cloud_display_off_the_gui_thread(qtbot, window, tmp_path, monkeypatch):
    from scenelens.gui.views import scene_renderer
    from scenelens.gui.views.layers import points

    monkeypatch.setenv("SCENELENS_MAX_DISPLAY_POINTS", "20000")
    monkeypatch.setenv("SCENELENS_INTERACTIVE_POINTS", "5000")
    made, sampled = [], []  # (thread, polydata) of every cloud polydata; thread of every statistics sample
    real_pd, real_rows = points.points_polydata, scene_renderer.sample_rows

    def spy_pd(*a, **k):
        pd = real_pd(*a, **k)
        made.append((threading.get_ident(), pd))
        return pd

    def spy_rows(*a, **k):
        sampled.append(threading.get_ident())
        return real_rows(*a, **k)

    monkeypatch.setattr(points, "points_polydata", spy_pd)
    monkeypatch.setattr(scene_renderer, "sample_rows", spy_rows)
    gui = threading.get_ident()
    wait_job(qtbot, window.open_path(_cloud(tmp_path)))
    qtbot.wait(200)

    actor = next(a for acts in window.view3d.scene_renderer.actors.values() for a in acts
                 if getattr(a, "_sl_lod_data", None))
    still, coarse = actor._sl_lod_data
    assert len(made) == 2 and all(t != gui for t, _ in made), made  # still + rotating subset, both in the job
    assert {id(pd) for _, pd in made} == {id(still), id(coarse)}  # the view draws exactly what the job built
    assert actor.GetMapper().GetInput() is still and still.GetNumberOfPoints() == 20000
    assert sampled and all(t != gui for t in sampled)  # centre and framing: computed in the job, reused here
    assert actor._sl_display == (20000, 200_000)
    labels = [a.GetInput() for acts in window.view3d.scene_renderer.actors.values() for a in acts
              if hasattr(a, "GetInput") and isinstance(a.GetInput(), str)]
    assert any("20,000 of 200,000 points shown" in t for t in labels), labels
    img = window.view3d.screenshot()
    assert colourful_fraction(img) > 0.01  # the height-coloured cloud is on screen

    # a real click picks a drawn point and reports its row of the full cloud
    layer = next(iter(window.view3d.scene_renderer.layers.values()))
    got = []
    window.view3d.picked.connect(got.append)
    w = window.view3d.vtk_widget
    shown = np.flatnonzero(np.arange(layer.n) % 10 == 0)  # the even stride: every 10th row of 200k for 20k
    for i in shown[np.argsort(np.linalg.norm(layer.points[shown] - np.median(layer.points, 0), axis=1))[:5]]:
        x, y = window.view3d.world_to_display(layer.points[i])
        QTest.mouseClick(w, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, window.view3d.display_to_widget(x, y))
        qtbot.wait(60)
        if got:
            break
    assert got, "no pick"
    idx = got[-1]["index"]
    assert idx % 10 == 0 and 0 <= idx < layer.n
    p = layer.points[idx]
    assert got[-1]["details"]["x, y, z (m)"] == f"{p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}"

    # a later restyle builds on the GUI thread (the job's display was taken once, by the first build)
    made.clear()
    window.view3d.add_layer(layer, {"point_size": 4.0})
    assert made and all(t == gui for t, _ in made)


def test_an_opens_first_frame_is_one_deferred_render_after_set_scene(qtbot, window, tmp_path):
    """The open's one frame is View3D's deferred render (its 0 ms QTimer: the event loop's timer pass, where
    the GUI thread's other due timers run first) — never drawn inside set_scene, nor by the paint events of
    the dock relayout in the same pass (before, a paint drew it right after set_scene: one long stall)."""
    import traceback

    view = window.view3d
    in_set_scene, events = [False], []
    real = window.set_scene

    def set_scene(*a, **k):
        in_set_scene[0] = True
        try:
            return real(*a, **k)
        finally:
            in_set_scene[0] = False
            events.append(("set_scene end",))

    def on_render(*_a) -> None:
        names = [f.name for f in traceback.extract_stack()]
        events.append(("render", in_set_scene[0], "_deferred_render" in names, "paintEvent" in names))

    window.set_scene = set_scene
    obs = view.window.AddObserver("StartEvent", on_render)
    try:
        wait_job(qtbot, window.open_path(_cloud(tmp_path, 50_000)))
        qtbot.wait(300)
    finally:
        view.window.RemoveObserver(obs)
    assert ("set_scene end",) in events
    assert not any(e[0] == "render" and e[1] for e in events), events  # nothing drew inside set_scene
    after = [e for e in events[events.index(("set_scene end",)) + 1:] if e[0] == "render"]
    assert after == [("render", False, True, False)], after  # one frame, the deferred render, no paint render
    assert view._render_timer.isSingleShot() and view._render_timer.interval() == 0
