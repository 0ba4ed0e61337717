"""The Occupancy panel fits its dock at 1280×800 after metrics are shown: no horizontal scrolling, the combos
and the Compute metrics button inside the visible width (needs a display)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from scenelens.engine.io import load
from tests.occupancy.occ_helpers import OCC, wb_of


def test_metrics_line_does_not_widen_the_panel(qtbot, window, shared_data, tmp_path):
    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    pred = sem.copy()
    pred[sem == 4] = 10
    np.savez(tmp_path / "pred.npz", pred)
    window.resize(1280, 800)
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    wb.open_prediction(str(tmp_path / "pred.npz"))
    qtbot.waitUntil(lambda: wb.codes is not None, timeout=20000)
    button = next(b for b in wb.panel.findChildren(QtWidgets.QPushButton) if b.text() == "Compute metrics")
    qtbot.mouseClick(button, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: wb.metrics is not None and wb.metric_label.text().startswith("mIoU "), timeout=30000)
    qtbot.wait(200)
    scroll = wb.dock.widget()
    assert isinstance(scroll, QtWidgets.QScrollArea)
    view_w = scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible(), (wb.panel.width(), view_w)
    assert wb.panel.width() <= view_w
    for w in (button, wb.grid_combo, wb.gt_combo, wb.metric_label):  # nothing pushed past the dock's right edge
        right = w.mapTo(scroll.viewport(), QtCore.QPoint(w.width(), 0)).x()
        assert right <= view_w, (w, right, view_w)
    assert "geometry IoU" in wb.metric_label.text()
