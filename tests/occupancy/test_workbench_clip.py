"""The 3-D clip linked to a slice moves a GPU clipping plane and a small cap mesh; the grid's mesh is not
rebuilt (needs a display)."""
from __future__ import annotations

import numpy as np

from scenelens.engine.io import load
from tests.occupancy.occ_helpers import OCC, wb_of


def test_clip_is_a_plane_and_a_cap_not_a_rebuild(qtbot, window, shared_data):
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    sr = window.view3d.scene_renderer
    main = sr.actors[wb.grid.uid][0]
    wb.clip_axis.setCurrentIndex(0)  # z
    wb.set_slice(2, 3)
    wb.clip_check.setChecked(True)
    assert sr.actors[wb.grid.uid][0] is main  # same actor: no rebuild
    planes = main.GetMapper().GetClippingPlanes()
    assert planes is not None and planes.GetNumberOfItems() == 1
    occ = wb.grid.occupied()
    expect = int((occ[:, :, 3] & occ[:, :, 4]).sum())
    assert wb._cap_actor is not None and wb._cap_actor.GetMapper().GetInput().GetNumberOfCells() == expect
    wb.set_slice(2, 6)  # moving the slice moves the plane and the cap only
    assert sr.actors[wb.grid.uid][0] is main
    assert wb._cap_actor.GetMapper().GetInput().GetNumberOfCells() == int((occ[:, :, 6] & occ[:, :, 7]).sum())
    wb.clip_check.setChecked(False)
    assert main.GetMapper().GetClippingPlanes().GetNumberOfItems() == 0 and wb._cap_actor is None


def test_timeline_step_builds_faces_off_the_gui_thread(qtbot, window, shared_data, tmp_path, monkeypatch):
    import threading

    import scenelens.gui.views.layers.voxels as vox
    from tests.conftest import wait_job

    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    for i in range(3):
        np.savez(tmp_path / f"{i:02d}.npz", semantics=np.roll(sem, 10 * i, axis=0))
    window.set_scene(load(tmp_path))
    wb = wb_of(window)
    layer = wb.grid
    calls = []
    real = vox.exposed_faces
    monkeypatch.setattr(vox, "exposed_faces",
                        lambda *a, **k: (calls.append(threading.current_thread() is threading.main_thread()),
                                         real(*a, **k))[1])
    wait_job(qtbot, wb.load_frame(2))
    assert wb.grid is layer and wb.frame_index == 2  # the open layer took the new frame
    assert np.array_equal(layer.labels, np.roll(sem, 20, axis=0))
    assert calls and not any(calls)  # faces were built in the job, none on the GUI thread
    assert "prebuilt" not in window.view3d.scene_renderer.styles[layer.uid]


def test_dragging_the_clip_slider_draws_the_coarse_mesh_until_release(qtbot, window, shared_data):
    """A real drag of the z slider with the clip on: the moves render from the coarse mesh (as rotation does),
    the plane follows the slider, the release draws full detail again."""
    from PySide6 import QtCore, QtGui, QtWidgets

    window.set_scene(load(shared_data / OCC))
    window.set_workspace("Occupancy")
    wb = wb_of(window)
    sr = window.view3d.scene_renderer
    main = sr.actors[wb.grid.uid][0]
    full, coarse = main._sl_lod_data
    wb.clip_axis.setCurrentIndex(0)
    wb.set_slice(2, 2)
    wb.clip_check.setChecked(True)
    slider = next(p for p in wb.plane_views if p["axis"] == 2)["slider"]
    slider.setRange(0, 15)
    qtbot.wait(100)
    opt = QtWidgets.QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QtWidgets.QStyle.CC_Slider, opt, QtWidgets.QStyle.SC_SliderHandle, slider)
    start = handle.center()

    def send(kind, pos, buttons):
        t = {"press": QtCore.QEvent.MouseButtonPress, "move": QtCore.QEvent.MouseMove,
             "release": QtCore.QEvent.MouseButtonRelease}[kind]
        ev = QtGui.QMouseEvent(t, QtCore.QPointF(pos), QtCore.QPointF(slider.mapToGlobal(pos)),
                               QtCore.Qt.LeftButton if kind != "move" else QtCore.Qt.NoButton, buttons,
                               QtCore.Qt.NoModifier)
        QtWidgets.QApplication.sendEvent(slider, ev)

    send("press", start, QtCore.Qt.LeftButton)
    step = max(4, slider.width() // 16)
    seen = []
    for i in range(1, 5):
        send("move", start + QtCore.QPoint(step * i, 0), QtCore.Qt.LeftButton)
        qtbot.wait(20)
        seen.append((slider.value(), main.GetMapper().GetInput() is coarse))
    assert slider.value() > 2 and all(c for _, c in seen), seen  # moved, and drawn coarse while dragging
    plane = main.GetMapper().GetClippingPlanes().GetItem(0)
    vs = wb.grid.voxel_size[2]
    o = wb.grid.origin[2] - (sr.origin[2] if sr.origin is not None else 0.0)
    assert abs(plane.GetOrigin()[2] - (o + (slider.value() + 1) * vs)) < 0.01  # the plane follows the slider
    send("release", start + QtCore.QPoint(step * 4, 0), QtCore.Qt.NoButton)
    qtbot.wait(50)
    assert main.GetMapper().GetInput() is full  # full detail again
    assert sr.actors[wb.grid.uid][0] is main  # and still no rebuild
