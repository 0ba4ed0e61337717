import math

import numpy as np
import pytest

from scenelens.engine.registration import metrics as M
from scenelens.engine.registration.kabsch import random_transform, rotation_matrix


def test_rotation_error_identity_and_known_angles():
    assert M.rotation_error_deg(np.eye(3), np.eye(3)) == pytest.approx(0.0, abs=1e-6)
    for deg in (1.0, 15.0, 90.0, 179.0):
        R = rotation_matrix([0, 0, 1], math.radians(deg))
        assert M.rotation_error_deg(R, np.eye(3)) == pytest.approx(deg, abs=1e-6)
        R2 = rotation_matrix([1, 2, 3], math.radians(deg))
        assert M.rotation_error_deg(np.eye(3), R2) == pytest.approx(deg, abs=1e-6)


def test_translation_error_in_centimetres():
    a, b = np.eye(4), np.eye(4)
    b[:3, 3] = [0.3, 0.4, 0.0]
    assert M.transform_errors(a, b) == (pytest.approx(0.0), pytest.approx(50.0))


def test_success_thresholds_are_strict():
    assert M.is_success(14.999, 29.999, "3dmatch")
    assert not M.is_success(15.0, 1.0, "3dmatch")
    assert not M.is_success(1.0, 30.0, "3dmatch")
    assert M.is_success(4.9, 59.9, "kitti") and not M.is_success(5.0, 10.0, "kitti")


def test_inlier_precision_recall_f1_against_loop():
    rng = np.random.default_rng(0)
    T_gt = random_transform(rng, 90, 1)
    T_est = T_gt.copy()
    T_est[:3, 3] += 0.04
    P = rng.uniform(-1, 1, (400, 3))
    Q = P @ T_gt[:3, :3].T + T_gt[:3, 3]
    bad = rng.random(400) < 0.7
    Q[bad] = rng.uniform(-1, 1, (int(bad.sum()), 3))
    Q += rng.normal(0, 0.03, Q.shape)
    m = M.pair_metrics(T_est, T_gt, "3dmatch", P, Q, tau=0.1)
    # slow loop
    tp = fp = fn = gt_n = 0
    for i in range(len(P)):
        g = np.linalg.norm(T_gt[:3, :3] @ P[i] + T_gt[:3, 3] - Q[i]) < 0.1
        p = np.linalg.norm(T_est[:3, :3] @ P[i] + T_est[:3, 3] - Q[i]) < 0.1
        gt_n += g
        tp += g and p
        fp += p and not g
        fn += g and not p
    ip, ir = tp / (tp + fp), tp / (tp + fn)
    assert m.inlier_ratio == pytest.approx(gt_n / len(P))
    assert m.inlier_precision == pytest.approx(ip)
    assert m.inlier_recall == pytest.approx(ir)
    assert m.inlier_f1 == pytest.approx(2 * ip * ir / (ip + ir))
    assert 0 < ip < 1 and 0 < ir < 1  # the case is not degenerate


def test_summary_means_over_successful_pairs_only():
    ok = M.PairMetrics(2.0, 10.0, True, True, False)
    ok2 = M.PairMetrics(4.0, 20.0, True, True, False)
    bad = M.PairMetrics(90.0, 500.0, False, False, False)
    s = M.summarize([ok, ok2, bad])
    assert s["registration_recall"] == pytest.approx(2 / 3)
    assert s["mean_rotation_error_deg"] == pytest.approx(3.0)
    assert s["mean_translation_error_cm"] == pytest.approx(15.0)


def test_official_3dmatch_error_against_scipy_quaternion():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(7)
    T_gt = random_transform(rng, 180, 2)
    for _ in range(5):
        T_est = T_gt @ random_transform(rng, 10, 0.1)
        A = rng.normal(size=(6, 6))
        info = A @ A.T + 6 * np.eye(6)
        D = np.linalg.inv(T_gt) @ T_est
        x, y, z, w = Rotation.from_matrix(D[:3, :3]).as_quat()
        q = np.array([w, x, y, z]) * (1 if w >= 0 else -1)
        xi = np.r_[D[:3, 3], q[1:]]
        ref = float(xi @ info @ xi / info[0, 0])
        assert M.rmse_information(T_est, T_gt, info) == pytest.approx(ref, rel=1e-9)
    assert M.rmse_information(T_gt, T_gt, np.eye(6)) == pytest.approx(0.0, abs=1e-12)
