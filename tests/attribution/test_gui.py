"""The Attribution workbench in a real window: run a job, check the drawn overlay's pixels, pick, export."""
import json

import numpy as np
import pytest

from tests.conftest import colourful_fraction, wait_job


def drawn(img):
    """The part of the view where the image is drawn (the view's background is black)."""
    ys, xs = np.nonzero(img.max(2) > 12)
    assert len(ys) > 100, "nothing drawn"
    return img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def wb_of(window):
    return next(b for b in window.workbenches if type(b).__name__ == "AttributionWorkbench")


def test_gradcam_overlay_pick_layouts_and_export(window, qtbot, tmp_path):
    import skimage.data

    wb = wb_of(window)
    cat = skimage.data.chelsea()
    wb.set_image(cat, "chelsea")
    qtbot.wait(50)
    before = window.view2d.grab_image()
    wb.faith.setChecked(True)
    wb.curve_step = 224 * 8
    h = wb.run("gradcam")
    wait_job(qtbot, h, 120000)
    assert wb.result is not None and wb.result.target_name == "Egyptian cat"
    after = window.view2d.grab_image()
    window.view2d.graphics.grab().save(str(tmp_path / "overlay.png"))
    # the jet overlay makes the picture far more saturated than the brownish cat photo
    assert colourful_fraction(drawn(after), 120) > colourful_fraction(drawn(before), 120) + 0.2
    # top-k list and curves are filled
    assert wb.topk.count() == 5 and "Egyptian cat" in wb.topk.item(0).text()
    assert len(wb.curve_plot.listDataItems()) == 6  # map, pixel floor and Grad-CAM-cell floor, both directions
    # opacity 0 shows the photo again
    wb.opacity.setValue(0)
    qtbot.wait(50)
    plain = window.view2d.grab_image()
    assert colourful_fraction(drawn(plain), 120) < 0.5 * colourful_fraction(drawn(after), 120)
    wb.opacity.setValue(50)
    # side by side: three tiles → the shown image is three times as wide
    wb.layout.setCurrentText("side by side")
    assert window.view2d.images["attribution"].shape[1] == 3 * cat.shape[1]
    wb.layout.setCurrentText("overlay")
    # pick a pixel: the inspector value is the map's value there
    y, x = np.unravel_index(np.argmax(wb.result.map), wb.result.map.shape)
    wb._on_click(float(x) + 0.2, float(y) + 0.2)
    assert wb.last_pick["value"] == pytest.approx(float(wb.result.map[y, x]))
    files = wb.export(str(tmp_path / "exp"))
    assert np.load(files["map"]).shape == cat.shape[:2]
    m = json.loads(open(files["metrics"]).read())
    assert m["deletion_auc"] >= 0 and "deletion_auc_random" in m
    html = open(files["report"], encoding="utf-8").read()
    assert html.count("data:image/png;base64") >= 3 and "<svg" in html


def test_poseig_joint_grid_and_joint_switch(window, qtbot, shared_data):
    wb = wb_of(window)
    d = shared_data / "coco_keypoints"
    from scenelens.engine.attribution.common import load_image

    wb.set_image(load_image(d / "000000000785.jpg"), str(d / "000000000785.jpg"))
    wb.gt.setText(str(d / "test_coco.json"))
    wb.steps.setValue(2)
    wb.faith.setChecked(False)
    wb.method.setCurrentText("poseig")
    orig_opts = wb.options
    wb.target.setCurrentText("")
    # keep it quick: three joints
    orig = orig_opts  # fixed steps (tol None): this test is about the joint grid, not completeness
    wb.options = lambda: (lambda o: (setattr(o, "joints", ["nose", "left_wrist", "right_ankle"]),
                                     setattr(o, "tol", None), o)[2])(orig())
    h = wb.run()
    wait_job(qtbot, h, 120000)
    r = wb.result
    assert set(r.joint_maps) == {"nose", "left_wrist", "right_ankle"}
    assert wb.table.rowCount() == 4
    wb.layout.setCurrentText("joint grid")
    g = window.view2d.images["attribution"]
    assert g.shape[0] == 2 * r.image.shape[0] and g.shape[1] == 2 * r.image.shape[1]
    wb.table.cellClicked.emit(1, 0)  # left_wrist row → that joint's map, overlay layout
    assert wb.shown_joint == "left_wrist" and wb.layout.currentText() == "overlay"
    np.testing.assert_array_equal(wb.current_map(), r.joint_maps["left_wrist"])


def test_faithfulness_metrics_from_the_controls(window, qtbot):
    """Substrate and the three Quantus-style metrics chosen with real clicks/keys; the plots and the summary
    line show what the engine measured, and the sanity curve ends where the engine's number says."""
    import skimage.data
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    wb = wb_of(window)
    wb.set_image(skimage.data.chelsea(), "chelsea")
    window.raise_()
    wb.faith.setChecked(True)
    wb.curve_step = 224 * 16
    for cb in (wb.m_corr, wb.m_aopc, wb.m_sanity):
        assert not cb.isChecked()
        QTest.mouseClick(cb, QtCore.Qt.LeftButton, pos=QtCore.QPoint(8, cb.height() // 2))
        assert cb.isChecked(), cb.text()
    wb.substrate.setFocus()
    QTest.keyClick(wb.substrate, QtCore.Qt.Key_Down)  # rise → blur
    assert wb.substrate.currentText() == "blur"
    opts = wb.options()
    assert opts.substrate == "blur" and set(opts.metrics) == {"correlation", "aopc", "sanity"}
    orig = wb.options
    # keep it quick on two cores: fewer subsets / regions / sanity depths than the defaults
    wb.options = lambda: (lambda o: (setattr(o, "fc_runs", 16), setattr(o, "aopc_regions", 8),
                                     setattr(o, "sanity_checkpoints", 2), o)[3])(orig())
    h = wb.run("gradcam")
    wait_job(qtbot, h, 300000)
    m = wb.result.metrics
    assert m["substrate"] == "blur" and m["random_cell"] == 32
    for k in ("faithfulness_correlation", "aopc_morf", "aopc_lerf", "sanity_last", "deletion_auc_random_cells"):
        assert isinstance(m[k], float), k
    assert len(wb.region_plot.listDataItems()) == 3
    (san,) = wb.sanity_plot.listDataItems()
    xs, ys = san.getData()
    assert xs[0] == 0 and ys[0] == 1.0 and ys[-1] == pytest.approx(m["sanity_last"])
    assert xs[-1] == m["sanity"]["n_layers"]
    text = wb.faith_label.text()
    assert "substrate blur" in text and "AOPC MoRF" in text and f"{m['aopc_morf']:.3f}" in text
