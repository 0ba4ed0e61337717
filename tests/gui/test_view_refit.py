"""A view preset is framed for the viewport's aspect at the time; a workbench often resizes the 3D view right
after an open (docks appear), so an untouched preset is framed again on a resize — and a camera the user has
moved (a real drag) is left where the user put it."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore
from PySide6.QtTest import QTest

from tests.conftest import wait_job


def _corners_on_screen(v) -> np.ndarray:
    """Display positions (x, y, depth) of the 8 corners of the focus box, through the renderer."""
    lo, hi = v.scene_renderer.focus_bounds()
    ren = v.renderer
    out = []
    for x in (lo[0], hi[0]):
        for y in (lo[1], hi[1]):
            for z in (lo[2], hi[2]):
                ren.SetWorldPoint(x, y, z, 1.0)
                ren.WorldToDisplay()
                out.append(ren.GetDisplayPoint())
    return np.asarray(out)


def _inside(v, pts) -> bool:
    w, h = v.window.GetSize()
    return bool((pts[:, 0] >= 0).all() and (pts[:, 0] <= w).all() and (pts[:, 1] >= 0).all() and (pts[:, 1] <= h).all())


def test_untouched_preset_is_reframed_on_resize_and_a_dragged_camera_is_not(qtbot, window, tmp_path):
    rng = np.random.default_rng(1)
    p = tmp_path / "street.npy"
    # a long, flat street (10 m × 80 m, across the top view): a preset framed for a wide view crops it in a tall one
    np.save(p, (rng.uniform(-1, 1, size=(20_000, 3)) * (5, 40, 1)).astype(np.float32))
    wait_job(qtbot, window.open_path(p))
    v = window.view3d
    v.reset_camera("top")
    qtbot.wait(200)
    assert _inside(v, _corners_on_screen(v))
    wide = v.renderer.GetActiveCamera().GetPosition()
    # the view becomes tall and narrow: the 80 m extent must still fit across it
    window.resize(700, 900)
    qtbot.waitUntil(lambda: v.vtk_widget.width() < 500 or v.window.GetSize()[0] < 500, timeout=5000)
    n = v._renders
    qtbot.waitUntil(lambda: v._renders > n, timeout=5000)
    qtbot.wait(200)
    assert v.renderer.GetActiveCamera().GetPosition() != wide  # framed again
    assert _inside(v, _corners_on_screen(v))
    # a real drag moves the camera; a later resize keeps it
    w = v.vtk_widget
    c = QtCore.QPoint(w.width() // 2, w.height() // 2)
    QTest.mousePress(w, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, c)
    for k in range(1, 6):
        QTest.mouseMove(w, c + QtCore.QPoint(12 * k, 6 * k))
        qtbot.wait(20)
    QTest.mouseRelease(w, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, c + QtCore.QPoint(60, 30))
    qtbot.wait(200)
    dragged = v.renderer.GetActiveCamera().GetPosition()
    assert dragged != v._framed[1][0]  # the drag really moved it
    window.resize(1280, 800)
    n = v._renders
    qtbot.waitUntil(lambda: v._renders > n, timeout=5000)
    qtbot.wait(200)
    assert v.renderer.GetActiveCamera().GetPosition() == dragged
