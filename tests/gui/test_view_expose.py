"""An expose or a repeated paint of the 3D view at an unchanged size shows the last frame again (no new
software-GL render: an open drew its first frame three times); a resize or any change still renders.
Checked by the pixels on the (virtual) screen, with a real window covering and uncovering the view."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from tests.conftest import wait_job


def _screen(view) -> np.ndarray:
    w = view.vtk_widget
    tl = w.mapToGlobal(QtCore.QPoint(0, 0))
    img = QtWidgets.QApplication.primaryScreen().grabWindow(0, tl.x(), tl.y(), w.width(), w.height()).toImage()
    img = img.convertToFormat(QtGui.QImage.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * img.height())
    return a.reshape(img.height(), img.bytesPerLine())[:, : 3 * img.width()].reshape(img.height(), img.width(), 3).copy()


def test_expose_reuses_the_frame_and_a_resize_renders(qtbot, window, tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "cloud.npy"
    np.save(p, (rng.normal(size=(50_000, 3)) * (20, 20, 2)).astype(np.float32))
    wait_job(qtbot, window.open_path(p))
    v = window.view3d
    qtbot.wait(500)
    before, n0 = _screen(v), v._renders
    assert before.std() > 5  # the cloud is drawn, not a flat background
    cover = QtWidgets.QWidget(None, QtCore.Qt.Window | QtCore.Qt.FramelessWindowHint)
    cover.setStyleSheet("background: #ff00ff")
    tl = v.vtk_widget.mapToGlobal(QtCore.QPoint(0, 0))
    cover.setGeometry(tl.x() + 40, tl.y() + 40, 300, 200)
    cover.show()
    qtbot.waitExposed(cover)
    qtbot.wait(300)
    covered = _screen(v)
    assert ((covered[..., 0] > 240) & (covered[..., 1] < 20)).mean() > 0.02  # the cover is really on top
    cover.close()
    qtbot.wait(800)
    after = _screen(v)
    assert v._renders == n0, "an expose re-rendered the scene"
    assert np.abs(after.astype(int) - before.astype(int)).max() == 0  # the same frame shown again
    # a change still renders, and so does a new size
    v.reset_camera("top")
    qtbot.wait(300)
    assert v._renders > n0
    n1 = v._renders
    window.resize(window.width() - 120, window.height() - 60)
    qtbot.waitUntil(lambda: v._renders > n1, timeout=10000)
    qtbot.wait(300)
    shot = v.screenshot()
    scr = _screen(v)
    h, w = min(shot.shape[0], scr.shape[0]), min(shot.shape[1], scr.shape[1])
    assert np.abs(shot[:h, :w].astype(int) - scr[:h, :w].astype(int)).mean() < 1.0
