"""Opening a `.slproj` holding a big cloud: as for a plain open, the job does the heavy work — inflating the
project's arrays, reading the scene file, hashing its layers, rebuilding the saved layers and preparing each
cloud's display (LOD subset, colours, VTK polydata, framing statistics) — and the GUI thread only installs
the result and makes the actors, once. Checked by structure (which thread did what), never by time, and the
project must open to the scene that was saved: same layers and contents, styles, edits, camera, pixels."""
from __future__ import annotations

import threading

import numpy as np

from tests.conftest import colourful_fraction, wait_job


def _scene_state(window) -> list[tuple]:
    out = []
    for lay in window.scene.layers:
        out.append((type(lay).__name__, lay.name, lay.visible, np.asarray(lay.transform).round(9).tolist(),
                    dict(lay.style), lay.provenance.get("kind"), lay.points.copy(),
                    {k: v.copy() for k, v in lay.attributes.items()}))
    return out


def _assert_same_scene(a: list[tuple], b: list[tuple]) -> None:
    assert [x[:6] for x in a] == [x[:6] for x in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[6], y[6])
        assert x[7].keys() == y[7].keys()
        for k in x[7]:
            np.testing.assert_array_equal(x[7][k], y[7][k])


def test_project_open_builds_off_the_gui_thread_and_reopens_the_saved_scene(qtbot, window, tmp_path, monkeypatch):
    from scenelens.engine import session as session_mod
    from scenelens.engine.scene import PointCloud
    from scenelens.engine.session import Session
    from scenelens.engine.undo import SetArrayValues
    from scenelens.gui import main_window
    from scenelens.gui.views import scene_renderer
    from scenelens.gui.views.layers import points

    n = 1_000_000
    rng = np.random.default_rng(1)
    src = tmp_path / "street.npy"
    np.save(src, (rng.normal(size=(n, 3)) * (30, 30, 2)).astype(np.float32))
    wait_job(qtbot, window.open_path(src))
    cloud = window.scene.of_type(PointCloud)[0]
    # an edit (a few points: the view's cached centre of this array stays right; scene_renderer.point_stats)
    window.push(SetArrayValues(cloud.points, (slice(0, 7000, 7), 2), 6.0, "lift a thousand shown points"))
    job = PointCloud(name="job result", points=rng.normal(size=(3000, 3)) * 4 + (0, 0, 3),
                     attributes={"intensity": rng.random(3000)})
    window.session.add_layer(job)  # a job-made layer (saved whole in the project)
    T = np.eye(4)
    T[:3, 3] = (10.0, -5.0, 1.0)
    window.session.set_transform(job, T)
    job.style = {"point_size": 5.0}
    hidden = PointCloud(name="hidden one", points=rng.normal(size=(500, 3)))
    window.session.add_layer(hidden)
    window.set_layer_visible(hidden.uid, False)
    cam = window.view3d.renderer.GetActiveCamera()
    cam.Azimuth(35)
    cam.Elevation(15)
    window.view3d.renderer.ResetCameraClippingRange()
    qtbot.wait(100)
    saved_view = (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp())

    def rebuild_on_the_gui_thread() -> np.ndarray:
        """What the window drew for a project before: every layer built on the GUI thread, the saved camera."""
        window.view3d.set_scene(window.scene)
        cam.SetPosition(*saved_view[0])
        cam.SetFocalPoint(*saved_view[1])
        cam.SetViewUp(*saved_view[2])
        window.view3d.renderer.ResetCameraClippingRange()
        return window.view3d.screenshot()

    before_img = rebuild_on_the_gui_thread()  # (the live view keeps the colours from before the edit)
    before = _scene_state(window)
    proj = tmp_path / "work.slproj"
    window.save_project(str(proj))

    gui = threading.get_ident()
    calls: dict[str, list[int]] = {"polydata": [], "stats": [], "fingerprint": [], "load_layer": [], "load_project": []}

    def spy(mod, name, key):
        real = getattr(mod, name)

        def f(*a, **k):
            calls[key].append(threading.get_ident())
            return real(*a, **k)

        monkeypatch.setattr(mod, name, f)

    spy(points, "points_polydata", "polydata")
    spy(scene_renderer, "sample_rows", "stats")
    spy(session_mod, "fingerprint", "fingerprint")
    spy(session_mod, "load_layer", "load_layer")
    spy(main_window, "load_project", "load_project")
    wait_job(qtbot, window.open_path(proj))
    qtbot.wait(300)

    # the heavy work ran in the job: nothing of it on the GUI thread
    for key in ("polydata", "stats", "fingerprint", "load_layer", "load_project"):
        assert calls[key], key
        assert all(t != gui for t in calls[key]), (key, calls[key])
    assert len(calls["load_layer"]) == 3  # the edited file cloud, the job layer, the hidden one
    big = window.scene.of_type(PointCloud)[0]
    actor = next(a for a in window.view3d.scene_renderer.actors[big.uid] if getattr(a, "_sl_lod_data", None))
    assert actor._sl_display == (len(range(0, n, -(-n // 150_000))), n)  # the LOD stride of a 1M cloud

    # the same scene as saved: layers, contents, edits, styles, visibility, transforms, camera, pixels
    after = _scene_state(window)
    _assert_same_scene(before, after)
    assert after[0][6][:7000:7, 2].tolist() == [6.0] * 1000 and after[0][6][1, 2] != 6.0  # the edit
    assert (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp()) == saved_view
    assert window.project_path == str(proj)
    img = window.view3d.screenshot()
    assert colourful_fraction(img) > 0.01
    assert np.array_equal(img, before_img), (img != before_img).any(2).mean()
    # and as the engine opens it headless (the same layers), and as a GUI-thread build draws it
    eng = Session.open(proj)
    assert [lay.name for lay in eng.scene.layers] == [lay.name for lay in window.scene.layers]
    for x, y in zip(eng.scene.layers, window.scene.layers):
        np.testing.assert_array_equal(x.points, y.points)
        assert x.visible == y.visible and x.style == y.style and np.array_equal(x.transform, y.transform)
    # the file-layer bookkeeping survived: saving again keeps the edit and the job layer
    entries = {e["name"]: e for e in window.session.to_project().layers}
    assert entries[big.name]["role"] == "file" and entries[big.name]["edited"]
    assert entries["job result"]["role"] == "job" and entries["hidden one"]["visible"] is False
    assert np.array_equal(rebuild_on_the_gui_thread(), img)  # and after the open, a GUI-thread rebuild draws it too


def test_an_unreadable_project_fails_its_job_with_one_line_naming_the_file(qtbot, window, tmp_path):
    bad = tmp_path / "broken.slproj"
    bad.write_bytes(b"not a zip")
    before = window.last_dialog
    h = window.open_path(bad)
    wait_job(qtbot, h)
    assert h.state == "failed"
    d = window.last_dialog
    assert d is not None and d is not before and "broken.slproj" in d.message and "\n" not in d.message
    assert window.isVisible()
