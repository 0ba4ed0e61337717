"""NotificationArea: toasts inside the parent above its status bar, stacking, auto-hide, close, elision."""
from __future__ import annotations

import time

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from scenelens.gui.panels.notifications import NotificationArea, elide


@pytest.fixture
def win(qtbot):
    QtGui.QCursor.setPos(0, 0)  # a pointer resting over a toast pauses its timer (by design): keep it away
    w = QtWidgets.QMainWindow()
    w.setCentralWidget(QtWidgets.QLabel("central"))
    w.statusBar().showMessage("Ready")
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    return w


def _inside_above_status_bar(win, toast):
    g = toast.geometry()
    return win.rect().contains(g) and g.bottom() < win.statusBar().geometry().top()


def test_toasts_stack_in_the_bottom_right_corner_above_the_status_bar(win, qtbot):
    area = NotificationArea(win)
    a = area.notify("first", "info")
    b = area.notify("second", "warning")
    c = area.notify("third", "error")
    qtbot.wait(20)
    for t in (a, b, c):
        assert t.isVisible() and _inside_above_status_bar(win, t)
        assert t.geometry().right() > win.width() - 40  # right-aligned
    assert a.geometry().bottom() < b.geometry().top() and b.geometry().bottom() < c.geometry().top()  # newest lowest
    assert c.geometry().bottom() > win.statusBar().geometry().top() - 40
    assert [t.level for t in area.toasts()] == ["info", "warning", "error"]
    # follows the window's resize
    win.resize(640, 480)
    qtbot.waitUntil(lambda: c.geometry().right() < 640, timeout=2000)
    for t in (a, b, c):
        assert _inside_above_status_bar(win, t)


def test_info_and_warning_hide_themselves_errors_stay(win, qtbot):
    area = NotificationArea(win, timeouts_s={"info": 0.15, "warning": 0.25})
    info = area.notify("saved", "info")
    warn = area.notify("12 NaN rows dropped", "warning")
    err = area.notify("could not read x.pcd", "error")
    assert info.is_auto_hiding() and warn.is_auto_hiding() and not err.is_auto_hiding()
    qtbot.waitUntil(lambda: area.toasts() == [err], timeout=3000)
    qtbot.wait(400)
    assert err.isVisible() and area.toasts() == [err]
    with qtbot.waitSignal(err.closed, timeout=1000):
        qtbot.mouseClick(err.close_button, QtCore.Qt.LeftButton)
    assert area.toasts() == []
    kept = area.notify("no timeout", "info", timeout_s=None)
    assert not kept.is_auto_hiding()
    exc = area.notify(ValueError("bad header in x.pcd"), "error")
    assert exc.label.text() == "bad header in x.pcd"


def test_at_most_four_visible_the_oldest_goes(win, qtbot):
    area = NotificationArea(win)
    toasts = [area.notify(f"message {i}", "error") for i in range(6)]
    qtbot.wait(20)
    assert area.toasts() == toasts[2:]
    assert toasts[0].is_closed() and toasts[1].is_closed() and not toasts[2].is_closed()
    assert all(t.isVisible() and _inside_above_status_bar(win, t) for t in toasts[2:])


def test_hovering_pauses_the_timer(win, qtbot):
    area = NotificationArea(win)
    t = area.notify("read me", "info", timeout_s=0.2)
    qtbot.wait(20)
    QtGui.QCursor.setPos(win.mapToGlobal(t.geometry().center()))
    qtbot.waitUntil(lambda: not t.is_auto_hiding(), timeout=2000)
    qtbot.wait(400)
    assert not t.is_closed() and t.isVisible()
    QtGui.QCursor.setPos(0, 0)
    qtbot.waitUntil(t.is_closed, timeout=3000)


def test_a_50_mb_message_is_elided_instantly(win, qtbot):
    area = NotificationArea(win, max_chars=300)
    huge = "/very/long/path/" + "x" * 50_000_000
    t0 = time.perf_counter()
    toast = area.notify(huge, "error", details=huge)
    qtbot.wait(10)
    elapsed = time.perf_counter() - t0
    assert len(toast.message) == 301 and toast.message.endswith("…")
    assert len(toast.label.text()) < 320 and toast.full_length == len(huge)
    assert toast.geometry().width() <= 380 and _inside_above_status_bar(win, toast)
    assert elapsed < 2.0, elapsed  # generous: laying out 50 MB of text would take far longer
    qtbot.mouseClick(toast.details_button, QtCore.Qt.LeftButton)
    qtbot.wait(20)
    assert toast.details_view.isVisible() and len(toast.details_view.toPlainText()) <= 20_001
    assert _inside_above_status_bar(win, toast)


def test_elide_cuts_characters_and_lines():
    assert elide("short", 300) == "short"
    assert elide("a" * 10, 5) == "aaaaa…"
    assert elide("\n".join(map(str, range(20))), 300, max_lines=3) == "0\n1\n2…"
    with pytest.raises(ValueError, match="level"):
        NotificationArea(QtWidgets.QWidget()).notify("x", "fatal")


def test_plain_widget_parent_without_status_bar(qtbot):
    w = QtWidgets.QWidget()
    qtbot.addWidget(w)
    w.resize(500, 300)
    w.show()
    qtbot.waitExposed(w)
    area = NotificationArea(w, margin=10)
    t = area.notify("hello", "info")
    qtbot.wait(20)
    g = t.geometry()
    assert w.rect().contains(g) and g.bottom() == 300 - 10 - 1 and g.right() == 500 - 10 - 1


def test_toasts_are_on_screen_above_the_native_vtk_view(qtbot):
    """The 3D view is a native (OpenGL) child window; toasts must show over it on the real screen, not only
    in QWidget.grab() (which paints widgets itself)."""
    import numpy as np

    from scenelens.gui.views.view3d import View3D, offscreen_platform

    if offscreen_platform():
        pytest.skip("needs a real (virtual) X display")
    QtGui.QCursor.setPos(0, 0)
    w = QtWidgets.QMainWindow()
    view = View3D()
    w.setCentralWidget(view)
    w.statusBar().showMessage("Ready")
    qtbot.addWidget(w)
    view.renderer.SetBackground(1.0, 0.0, 0.0)
    view.renderer.GradientBackgroundOff()
    w.resize(900, 600)
    w.show()
    qtbot.waitExposed(w)
    area = NotificationArea(w)
    toast = area.notify("over the 3D view", "info", timeout_s=None)
    qtbot.wait(100)
    view.window.Render()  # the GL window redraws after the toast appeared
    qtbot.wait(200)
    shot = w.screen().grabWindow(w.winId()).toImage().convertToFormat(QtGui.QImage.Format_RGB888)
    arr = np.frombuffer(shot.constBits(), np.uint8, count=shot.bytesPerLine() * shot.height())
    arr = arr.reshape(shot.height(), shot.bytesPerLine())[:, : shot.width() * 3].reshape(shot.height(), -1, 3)
    g = toast.geometry()
    inside = arr[g.center().y(), g.x() + 60].astype(int)
    outside = arr[g.y() - 40, g.x() + 60].astype(int)
    assert outside[0] > 200 and outside[1] < 40, outside  # the red VTK background
    assert inside.min() > 200, inside  # the toast's light background, drawn over it
    w.close()
