"""A 3DMatch gt.log as ground truth in the Registration workbench: the fragment pair comes from the cloud file
names (or the user's choice), and the gt.log direction (block "i j": M maps fragment j into i) is applied."""
import shutil

import numpy as np

from scenelens.engine.io.registration_formats import write_gt_log
from tests.conftest import wait_job

from .test_gui import _bench


def test_gt_log_pair_from_names_and_from_dialog(window, qtbot, shared_data, tmp_path, monkeypatch):
    from PySide6 import QtWidgets

    d = shared_data / "3dmatch_pair"
    gt = np.load(d / "gt.npy")
    other = np.eye(4)
    other[:3, 3] = [1, 2, 3]
    log = tmp_path / "gt.log"
    write_gt_log(log, {(7, 3): gt, (5, 1): other}, 10)  # fragment 3 → 7 is our pair
    shutil.copy(d / "src.npy", tmp_path / "cloud_bin_3.npy")
    shutil.copy(d / "ref.npy", tmp_path / "cloud_bin_7.npy")
    wb = _bench(window)
    wait_job(qtbot, wb.open_pair(str(tmp_path / "cloud_bin_3.npy"), str(tmp_path / "cloud_bin_7.npy")))
    T = wb.load_gt(str(log))
    np.testing.assert_allclose(T, gt, atol=1e-7)

    # the reverse naming asks for the inverse
    wait_job(qtbot, wb.open_pair(str(tmp_path / "cloud_bin_7.npy"), str(tmp_path / "cloud_bin_3.npy")))
    np.testing.assert_allclose(wb.load_gt(str(log)), np.linalg.inv(gt), atol=1e-7)

    # names without fragment numbers: the user picks "1 → 5" from the list
    shutil.copy(d / "src.npy", tmp_path / "a.npy")
    shutil.copy(d / "ref.npy", tmp_path / "b.npy")
    wait_job(qtbot, wb.open_pair(str(tmp_path / "a.npy"), str(tmp_path / "b.npy")))
    asked = []
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem",
                        lambda *a, **k: (asked.append(a[3]) or "1 → 5", True))
    np.testing.assert_allclose(wb.load_gt(str(log)), other, atol=1e-7)
    assert asked and sorted(asked[0]) == ["1 → 5", "3 → 7"]


def test_load_ground_truth_accepts_txt_and_json_as_export_writes_them(window, tmp_path):
    """Registration ▸ Load ground truth used to refuse .txt and .json ("unrecognised file format"), including
    what the workbench's own Export transform writes; it now reads them through the CLI's reader."""
    from scenelens.engine.io.registration_formats import write_transform
    from scenelens.engine.registration.kabsch import random_transform

    wb = _bench(window)
    T = random_transform(np.random.default_rng(5))
    for name, extra in (("T.txt", None), ("T.json", {"rotation_error_deg": 1.5, "success": True}), ("T.npy", None)):
        write_transform(tmp_path / name, T, extra=extra)
        wb.gt = None
        np.testing.assert_allclose(wb.load_gt(str(tmp_path / name)), T, atol=1e-9)
        np.testing.assert_allclose(wb.gt, T, atol=1e-9)
    errors = []
    window.error = lambda title, msg: errors.append(msg)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    assert wb.load_gt(str(tmp_path / "bad.txt")) is None
    assert errors and "bad.txt" in errors[0]
