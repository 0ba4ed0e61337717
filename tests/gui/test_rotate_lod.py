"""Dragging the 3D view of a big cloud draws the coarse subset (interactive level of detail), releasing it the
still frame with the full display budget — with real mouse press/move/release events on the VTK widget."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from tests.conftest import wait_job


def _mouse(widget, kind, pos, buttons):
    ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), QtCore.QPointF(widget.mapToGlobal(pos)),
                           QtCore.Qt.LeftButton, buttons, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, ev)


def test_drag_draws_the_coarse_subset_and_release_the_still_frame(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("SCENELENS_MAX_DISPLAY_POINTS", "20000")
    monkeypatch.setenv("SCENELENS_INTERACTIVE_POINTS", "5000")
    p = tmp_path / "cloud.npy"
    np.save(p, (np.random.default_rng(0).normal(size=(200_000, 3)) * (20, 20, 2)).astype(np.float32))
    wait_job(qtbot, window.open_path(p))
    actor = next(a for acts in window.view3d.scene_renderer.actors.values() for a in acts
                 if getattr(a, "_sl_lod_data", None))
    still, coarse = actor._sl_lod_data
    seen = []
    window.view3d.window.AddObserver("EndEvent", lambda *_: seen.append(actor.GetMapper().GetInput()
                                                                        .GetNumberOfPoints()))
    w = window.view3d.vtk_widget
    c = QtCore.QPoint(w.width() // 2, w.height() // 2)
    _mouse(w, QtCore.QEvent.MouseButtonPress, c, QtCore.Qt.LeftButton)
    for i in range(1, 6):
        _mouse(w, QtCore.QEvent.MouseMove, c + QtCore.QPoint(12 * i, 4 * i), QtCore.Qt.LeftButton)
        QTest.qWait(30)
    during = list(seen)
    _mouse(w, QtCore.QEvent.MouseButtonRelease, c + QtCore.QPoint(60, 20), QtCore.Qt.NoButton)
    qtbot.wait(300)
    assert during and set(during) == {coarse.GetNumberOfPoints()}, during  # every frame while dragging: coarse
    assert coarse.GetNumberOfPoints() <= 5000 < still.GetNumberOfPoints() == 20000
    assert actor.GetMapper().GetInput() is still and seen[-1] == 20000  # released: the full budget again
