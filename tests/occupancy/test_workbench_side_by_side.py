"""Occupancy ▸ compare side by side: the prediction in the left half of the 3-D view, the ground truth in the
right half, cameras linked — a real mouse drag in one half turns both (needs a display)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from scenelens.engine.io import load_layers
from scenelens.engine.scene import Scene
from tests.occupancy.occ_helpers import OCC, colour_fraction, visible_voxel, wb_of

VEG = (0, 175, 0)  # Occ3D vegetation (16) in the viewer's palette


def _mouse(widget, kind, pos, buttons):
    t = {"press": QtCore.QEvent.MouseButtonPress, "move": QtCore.QEvent.MouseMove,
         "release": QtCore.QEvent.MouseButtonRelease}[kind]
    button = QtCore.Qt.LeftButton if kind != "move" else QtCore.Qt.NoButton
    ev = QtGui.QMouseEvent(t, QtCore.QPointF(pos), QtCore.QPointF(widget.mapToGlobal(pos)), button, buttons,
                           QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, ev)


def drag(qtbot, widget, start: QtCore.QPoint, dx: int, dy: int, steps: int = 6) -> None:
    """Press, move and release as a mouse does (the trackball rotates on the moves)."""
    _mouse(widget, "press", start, QtCore.Qt.LeftButton)
    for i in range(1, steps + 1):
        _mouse(widget, "move", start + QtCore.QPoint(dx * i // steps, dy * i // steps), QtCore.Qt.LeftButton)
        qtbot.wait(15)
    _mouse(widget, "release", start + QtCore.QPoint(dx, dy), QtCore.Qt.NoButton)
    qtbot.wait(100)


def halves(img):
    w = img.shape[1]
    return img[:, : w // 2 - 2], img[:, w // 2 + 2:]


def test_side_by_side_linked_cameras_with_a_real_drag(qtbot, window, shared_data):
    gt = load_layers(shared_data / OCC)[0]
    pred = load_layers(shared_data / OCC, role="prediction", name="prediction")[0]
    pred.labels[pred.labels == 16] = 15  # the prediction calls all vegetation manmade: only the GT has green
    pred.masks = {}
    window.set_scene(Scene("occ", [gt, pred]))
    window.set_workspace("Occupancy")
    wb = wb_of(window)
    assert wb.grid is pred and wb.gt is gt
    v3 = window.view3d
    n_renderers = v3.window.GetRenderers().GetNumberOfItems()  # the view's own and the axes marker's
    # switch it on with a real click on the panel's check box
    wb.dock.raise_()
    qtbot.wait(50)
    box = wb.side_check
    qtbot.mouseClick(box, QtCore.Qt.LeftButton, pos=QtCore.QPoint(8, box.height() // 2))
    qtbot.wait(200)
    assert box.isChecked() and wb.side_action.isChecked()
    r2 = wb._side["renderer"]
    assert r2.GetActiveCamera() is v3.renderer.GetActiveCamera()  # the link
    sr = v3.scene_renderer
    assert all(not a.GetVisibility() for a in sr.actors[gt.uid])  # the GT is drawn on the right only
    img = v3.screenshot()
    left, right = halves(img)
    assert colour_fraction(right, VEG) > 0.01 and colour_fraction(left, VEG) < 0.0005, \
        (colour_fraction(left, VEG), colour_fraction(right, VEG))
    # a real drag in the right half (the ground truth) turns the left one too
    vw = v3.vtk_widget
    cam = v3.renderer.GetActiveCamera()
    before_pos = np.array(cam.GetPosition())
    before_left = left.copy()
    drag(qtbot, vw, QtCore.QPoint(vw.width() * 3 // 4, vw.height() // 2), 120, 30)
    after = v3.screenshot()
    l2, r2img = halves(after)
    assert np.linalg.norm(np.array(cam.GetPosition()) - before_pos) > 1.0  # the shared camera moved
    changed = float((np.abs(l2.astype(int) - before_left.astype(int)).max(2) > 40).mean())
    assert changed > 0.05, changed  # the left view was redrawn from the new viewpoint
    # and a drag in the left half turns the right one
    before_right = r2img.copy()
    before_pos = np.array(cam.GetPosition())
    drag(qtbot, vw, QtCore.QPoint(vw.width() // 4, vw.height() // 2), -100, 0)
    _, r3 = halves(v3.screenshot())
    assert np.linalg.norm(np.array(cam.GetPosition()) - before_pos) > 1.0
    assert float((np.abs(r3.astype(int) - before_right.astype(int)).max(2) > 40).mean()) > 0.05
    # a real click in the right half picks the ground truth's voxel
    occ = np.argwhere(gt.labels == 11)  # driveable surface: wide; the one nearest the middle in plain sight
    occ = occ[np.argsort(np.abs(occ[:, :2] - np.array(gt.shape[:2]) / 2).sum(1), kind="stable")]
    mid, (x, y) = visible_voxel(gt, sr, wb._side["renderer"], occ[:400])
    assert x > vw.width() * v3.vtk_widget.devicePixelRatioF() / 2  # in the right half
    qtbot.mouseClick(vw, QtCore.Qt.LeftButton, pos=v3.display_to_widget(x, y))
    qtbot.wait(150)
    sel = window.session.selection
    assert sel is not None and sel.layer == gt.uid and sel.kind == "voxel", sel
    assert np.abs(np.asarray(sel.index) - mid).max() <= 2, (sel.index, mid)
    # a class hidden in the legend disappears on both sides
    wb.set_class_visible(16, False)
    qtbot.wait(100)
    _, r4 = halves(v3.screenshot())
    assert colour_fraction(r4, VEG) < 0.0005
    # off again: one full-width view, the GT's own actors back
    qtbot.mouseClick(box, QtCore.Qt.LeftButton, pos=QtCore.QPoint(8, box.height() // 2))
    qtbot.wait(100)
    assert not box.isChecked() and wb._side is None
    assert v3.renderer.GetViewport() == (0.0, 0.0, 1.0, 1.0)
    assert v3.window.GetRenderers().GetNumberOfItems() == n_renderers
    assert all(a.GetVisibility() for a in sr.actors[gt.uid])  # not in diff mode: both grids drawn again
