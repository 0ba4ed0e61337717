"""Compare a prediction with its ground truth in one view: Open prediction…, the pair drawn as one layer with
a diff legend, hide acting on the pair, and the IoU table following edits (needs a display)."""
from __future__ import annotations

import numpy as np

from scenelens.engine.io import load
from tests.conftest import wait_job
from tests.occupancy.occ_helpers import OCC, wb_of


def test_open_prediction_pair_in_one_view(qtbot, window, shared_data, tmp_path):
    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    pred = sem.copy()
    pred[sem == 4] = 10  # cars predicted as trucks
    pred[100:110, 100:110, 0] = 11  # some false driveable surface
    np.savez(tmp_path / "pred.npz", pred)
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    gt = wb.grid
    wb.open_prediction(str(tmp_path / "pred.npz"))
    qtbot.waitUntil(lambda: wb.codes is not None, timeout=20000)
    qtbot.wait(100)
    assert wb.grid is not gt and wb.gt is gt and wb.diff_check.isChecked()
    sr = window.view3d.scene_renderer
    assert all(not a.GetVisibility() for a in sr.actors[gt.uid])  # the GT is drawn through the pair only
    assert any(a.GetVisibility() for a in sr.actors[wb.grid.uid])
    names = [wb.legend.item(i).text() for i in range(wb.legend.count())]
    assert any(n.startswith("wrong class") for n in names) and any(n.startswith("false occupied") for n in names)
    # hiding 'car' hides the wrong-class voxels of the pair (GT car, predicted truck)
    st = wb.style()
    assert ((st["diff_codes"] == 2) & (sem == 4)).any()
    wb.hidden.add(4)
    st = wb.style()
    assert not ((st["diff_codes"] > 0) & (sem == 4)).any()
    wb.hidden.discard(4)
    # the IoU table follows an edit
    wait_job(qtbot, wb.compute_metrics())
    before = wb.metrics["miou"]
    idx = np.nonzero(pred == 10)
    wb.paint_class.setCurrentIndex(wb.paint_class.findData(4))
    wb.paint(idx)
    qtbot.waitUntil(lambda: wb.metrics is not None and wb.metrics["miou"] != before, timeout=20000)
    assert wb.metrics["miou"] > before


def test_sequence_metrics_per_frame_curves(qtbot, window, shared_data, tmp_path):
    with np.load(shared_data / OCC) as z:
        sem, cam = z["semantics"], z["mask_camera"]
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for i in range(3):
        p = sem.copy()
        p[sem == 16] = np.where(np.arange(int((sem == 16).sum())) % 3 < i, 17, 16)  # worse frame by frame
        np.savez(tmp_path / "pred" / f"{i}.npz", semantics=p)
        np.savez(tmp_path / "gt" / f"{i}.npz", semantics=sem, mask_camera=cam)
    window.set_scene(load(tmp_path / "pred"))
    wb = wb_of(window)
    wait_job(qtbot, wb.sequence_metrics(str(tmp_path / "gt")))
    frames = wb.metrics["frames"]
    assert len(frames) == 3 and frames[0]["miou"] > frames[1]["miou"] > frames[2]["miou"]
    assert wb.frame_plot.isVisible()
    curves = wb.frame_plot.getPlotItem().listDataItems()
    assert len(curves) == 2 and np.allclose(curves[0].getData()[1], [f["miou"] for f in frames])
