"""A ground truth built from a sequence is shown on its own, not diffed against another scene's ground truth
that happens to be open with the same grid shape (needs a display)."""
from __future__ import annotations

import numpy as np

from scenelens.engine.io import load
from tests.conftest import wait_job
from tests.occupancy.occ_helpers import OCC, wb_of

NUSC = "nuscenes_sample/n015-2018-07-24-11-22-45+0800.pkl"


def test_built_ground_truth_is_not_compared_with_an_unrelated_one(qtbot, window, shared_data, tmp_path):
    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    pred = sem.copy()
    pred[sem == 4] = 10
    np.savez(tmp_path / "pred.npz", pred)
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    wb.open_prediction(str(tmp_path / "pred.npz"))
    qtbot.waitUntil(lambda: wb.codes is not None, timeout=20000)
    assert wb.diff_check.isChecked()
    wait_job(qtbot, wb.build_from_sequence(str(shared_data / NUSC)), timeout=120000)
    qtbot.wait(300)
    built = wb.grid
    assert built.meta.get("role") == "gt" and "n015" in built.name
    assert wb.gt is None and wb.gt_combo.currentData() is None  # was the Occ3D sample: 39,092 "missed"
    assert wb.codes is None
    rows = [wb.legend.item(i).text() for i in range(wb.legend.count())]
    assert not any(r.startswith(("missed", "correct", "false occupied")) for r in rows), rows
    assert any("barrier" in r for r in rows)
    # the prediction still compares with the sample's ground truth when chosen again
    wb.grid_combo.setCurrentIndex(wb.grid_combo.findText("pred.npz"))
    wb.gt_combo.setCurrentIndex(wb.gt_combo.findText(window.scene.layers[0].name))
    qtbot.waitUntil(lambda: wb.codes is not None, timeout=20000)
    assert wb.gt is window.scene.layers[0]
