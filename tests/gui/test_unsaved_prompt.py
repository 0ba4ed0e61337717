"""Opening something else over unsaved edits asks first (Save / Discard / Cancel), with real clicks on the real
message box; and a freshly opened scene or project is not marked unsaved (clearing the undo stack used to mark
it dirty, so the next autosave wrote the new scene over the old one's recovery file)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from tests.conftest import wait_job


def _clouds(tmp_path):
    rng = np.random.default_rng(3)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(2000, 3)).astype(np.float32))
    np.save(b, rng.normal(size=(1500, 3)).astype(np.float32) + 5)
    return a, b


def _edit(window):
    from scenelens.engine.scene import PointCloud
    from scenelens.engine.undo import SetArrayValues

    cloud = window.scene.of_type(PointCloud)[0]
    window.push(SetArrayValues(cloud.points, (slice(0, 10), 2), 9.0, "lift ten points"))
    assert window.has_unsaved_work()
    return cloud


def _answer_with(qtbot, role_button, seen: list):
    """Click `role_button` of the unsaved-changes box as soon as it is up (it runs its own event loop)."""
    def click():
        box = QtWidgets.QApplication.activeModalWidget()
        if box is None or box.objectName() != "unsaved_changes":
            QtCore.QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        QTest.mouseClick(box.button(role_button), QtCore.Qt.LeftButton)
    QtCore.QTimer.singleShot(20, click)


def _drop(window, path):
    from PySide6 import QtGui

    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    pos = QtCore.QPointF(window.width() / 2, window.height() / 2)
    ev = QtGui.QDropEvent(pos, QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    window.dropEvent(ev)


def test_open_over_unsaved_edits_asks_and_cancel_keeps_them(qtbot, window, tmp_path):
    a, b = _clouds(tmp_path)
    wait_job(qtbot, window.open_path(a))
    assert not window.has_unsaved_work()  # a fresh open is clean
    cloud = _edit(window)
    seen: list = []
    _answer_with(qtbot, QtWidgets.QMessageBox.Cancel, seen)
    _drop(window, b)
    assert seen and "unsaved changes" in seen[0]
    assert window.last_drop is None
    assert window.scene.of_type(type(cloud))[0] is cloud and window.has_unsaved_work()
    assert np.all(cloud.points[:10, 2] == 9.0)


def test_discard_opens_the_other_scene_clean(qtbot, window, tmp_path):
    a, b = _clouds(tmp_path)
    wait_job(qtbot, window.open_path(a))
    _edit(window)
    seen: list = []
    _answer_with(qtbot, QtWidgets.QMessageBox.Discard, seen)
    _drop(window, b)
    assert seen
    wait_job(qtbot, window.last_drop)
    assert window.scene.name.startswith("b")
    assert not window.has_unsaved_work()
    assert window.autosave() is None  # nothing to autosave: the old recovery file is not overwritten by b


def test_save_writes_the_project_then_opens(qtbot, window, tmp_path, monkeypatch):
    from scenelens.engine.project import load_project

    a, b = _clouds(tmp_path)
    wait_job(qtbot, window.open_path(a))
    _edit(window)
    target = tmp_path / "kept"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    seen: list = []
    _answer_with(qtbot, QtWidgets.QMessageBox.Save, seen)
    _drop(window, b)
    assert seen
    wait_job(qtbot, window.last_drop)
    assert window.scene.name.startswith("b")
    proj = load_project(str(target) + ".slproj")
    assert proj is not None
    # the saved project reopens with the edit, and is not marked unsaved once open
    wait_job(qtbot, window.open_project(str(target) + ".slproj"))
    from scenelens.engine.scene import PointCloud

    pts = window.scene.of_type(PointCloud)[0].points
    assert np.all(pts[:10, 2] == 9.0)
    assert not window.has_unsaved_work()


def test_no_question_without_edits(qtbot, window, tmp_path, monkeypatch):
    a, b = _clouds(tmp_path)
    wait_job(qtbot, window.open_path(a))
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", lambda self: (_ for _ in ()).throw(AssertionError("asked")))
    _drop(window, b)
    wait_job(qtbot, window.last_drop)
    assert window.scene.name.startswith("b")
