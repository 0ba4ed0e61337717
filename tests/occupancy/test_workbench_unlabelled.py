"""Occupancy ▸ Build ground truth …, unlabelled points as one class…: the GUI's way to what the CLI does with
--unlabeled-class; the build warning in the window names that menu entry, not a command-line flag."""
from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from tests.conftest import wait_job
from tests.occupancy.occ_helpers import wb_of
from tests.occupancy.test_sequence_gt import write_nuscenes_layout


def _action(window, text):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Occupancy")
    return next(a for a in menu.actions() if a.text() == text)


def _last_job(window):
    return window.runner.handles[-1]


def test_unlabelled_points_warned_with_the_menu_entry_then_given_a_class(qtbot, window, shared_data, monkeypatch):
    pkl = next((shared_data / "nuscenes_sample").glob("*.pkl"))  # no lidarseg: static points have no class
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(pkl), ""))
    wb = wb_of(window)
    _action(window, "Build ground truth from nuScenes info file…").trigger()
    wait_job(qtbot, _last_job(window), timeout=300_000)
    plain = wb.grid
    warned = [m for lvl, m in window.log_panel.entries if "no semantic label" in m]
    assert warned, "the build should warn about the unlabelled sweep points"
    assert "--unlabeled-class" not in warned[-1] and "unlabelled points as one class" in warned[-1]
    n_ign = int((plain.labels == 255).sum())
    assert n_ign > 0

    asked = []

    def get_int(parent, title, label, value, lo, hi):
        asked.append(label)
        return 0, True  # occ3d 0 = others

    monkeypatch.setattr(QtWidgets.QInputDialog, "getInt", get_int)
    n_logs = len(window.log_panel.entries)
    _action(window, "Build ground truth from nuScenes info file, unlabelled points as one class…").trigger()
    wait_job(qtbot, _last_job(window), timeout=300_000)
    g = wb.grid
    assert asked and g is not plain
    assert int((g.labels == 255).sum()) < n_ign
    assert int((g.labels == 0).sum()) > int((plain.labels == 0).sum())
    assert not [m for lvl, m in window.log_panel.entries[n_logs:] if "no semantic label" in m]
    np.testing.assert_array_equal(g.labels != 17, plain.labels != 17)  # same occupancy, classes differ only


def test_cancelled_class_question_builds_nothing(qtbot, window, tmp_path, monkeypatch):
    pkl = write_nuscenes_layout(tmp_path / "nus")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(pkl), ""))
    monkeypatch.setattr(QtWidgets.QInputDialog, "getInt", lambda *a, **k: (0, False))
    n = len(window.runner.handles)
    _action(window, "Build ground truth from nuScenes info file, unlabelled points as one class…").trigger()
    qtbot.wait(100)
    assert len(window.runner.handles) == n
