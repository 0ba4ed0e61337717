"""A 3DMatch gt.log as ground truth in the Registration workbench: the fragment pair comes from the cloud file
names (or the user's choice), and the gt.log direction (block "i j": M maps fragment j into i) is applied."""
import shutil

import numpy as np

from engine.io.registration_formats import write_gt_log
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
