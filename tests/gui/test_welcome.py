"""WelcomePanel: real clicks on its buttons and recent entries emit the right signals."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from scenelens.gui.panels.welcome import WelcomePanel


@pytest.fixture
def panel(qtbot):
    w = WelcomePanel()
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.mark.parametrize("button, signal", [("file_button", "open_file"), ("folder_button", "open_folder"),
                                            ("demo_button", "open_demo")])
def test_buttons_emit_their_signal_on_a_real_click(panel, qtbot, button, signal):
    fired = {s: 0 for s in ("open_file", "open_folder", "open_demo")}
    for s in fired:
        getattr(panel, s).connect(lambda s=s: fired.__setitem__(s, fired[s] + 1))
    b = getattr(panel, button)
    assert b.isVisible() and panel.rect().contains(b.geometry().translated(b.parentWidget().pos()))
    qtbot.mouseClick(b, QtCore.Qt.LeftButton, pos=b.rect().center())
    assert fired == {s: int(s == signal) for s in fired}


def test_recent_entries_open_on_click_and_missing_ones_are_disabled(panel, qtbot, tmp_path):
    a, b = tmp_path / "cloud.pcd", tmp_path / "grid.npz"
    a.write_text("x")
    b.write_text("x")
    assert panel.no_recent.isVisible()
    panel.set_recent([str(a), str(tmp_path / "gone.ply"), str(b)])
    qtbot.wait(20)
    assert not panel.no_recent.isVisible()
    assert [x.path for x in panel.recent_buttons] == [str(a), str(tmp_path / "gone.ply"), str(b)]
    got = []
    panel.open_recent.connect(got.append)
    for btn in panel.recent_buttons:
        assert btn.isVisible()
        qtbot.mouseClick(btn, QtCore.Qt.LeftButton, pos=btn.rect().center())
    assert got == [str(a), str(b)]  # the missing one is disabled
    panel.set_recent([str(b)] * 30)
    qtbot.wait(20)
    assert len(panel.recent_buttons) == 10
    old = panel.recent_buttons
    panel.set_recent([])
    assert not any(b.isVisible() for b in old)  # gone at once, not only when deleteLater runs
    qtbot.wait(20)
    assert panel.recent_buttons == [] and panel.no_recent.isVisible()


def test_panel_draws_its_content_and_fits_small_windows(panel, qtbot):
    img = panel.grab().toImage()
    assert img.width() == 1280 and img.height() == 800
    ptr = img.convertToFormat(img.Format.Format_RGB888)
    arr = np.frombuffer(ptr.constBits(), np.uint8, count=ptr.bytesPerLine() * ptr.height())
    arr = arr.reshape(ptr.height(), ptr.bytesPerLine())[:, :1280 * 3].reshape(800, 1280, 3)
    db = panel.demo_button
    r = db.geometry().translated(db.mapTo(panel, QtCore.QPoint(0, 0)) - db.pos())
    px = arr[r.center().y(), r.x() + r.width() - 20].astype(int)
    assert px[2] > px[0] + 80  # the accented (blue) demo button is drawn
    assert (arr.reshape(-1, 3).min(1) < 60).mean() > 0.001  # dark text somewhere (title, labels)
    hint = panel.minimumSizeHint()
    assert hint.width() <= 640 and hint.height() <= 480
    panel.resize(640, 420)
    qtbot.wait(20)
    for b in (panel.file_button, panel.folder_button, panel.demo_button, panel.drop_hint):
        top_left = b.mapTo(panel, QtCore.QPoint(0, 0))
        assert panel.rect().contains(QtCore.QRect(top_left, b.size())), b
