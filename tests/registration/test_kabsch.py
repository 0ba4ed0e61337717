import numpy as np
import pytest
import torch

from scenelens.engine.registration.kabsch import kabsch_np, random_transform, weighted_kabsch


def slow_kabsch(P, Q, w):
    """Independent reference: explicit sums in Python loops, numpy SVD, spec's formula."""
    W = sum(w)
    pc = [sum(w[i] * P[i][k] for i in range(len(P))) / W for k in range(3)]
    qc = [sum(w[i] * Q[i][k] for i in range(len(P))) / W for k in range(3)]
    H = np.zeros((3, 3))
    for i in range(len(P)):
        for a in range(3):
            for b in range(3):
                H[a, b] += w[i] * (P[i][a] - pc[a]) * (Q[i][b] - qc[b])
    U, S, Vt = np.linalg.svd(H)
    V = Vt.T
    D = np.diag([1, 1, np.linalg.det(V @ U.T)])
    R = V @ D @ U.T
    t = np.asarray(qc) - R @ np.asarray(pc)
    return R, t


def test_exact_recovery_noise_free():
    rng = np.random.default_rng(1)
    T = random_transform(rng, 180, 3)
    P = rng.normal(size=(50, 3))
    Q = P @ T[:3, :3].T + T[:3, 3]
    assert np.allclose(kabsch_np(P, Q), T, atol=1e-9)


def test_matches_slow_reference_with_weights_and_noise():
    rng = np.random.default_rng(2)
    T = random_transform(rng, 120, 2)
    P = rng.normal(size=(40, 3))
    Q = P @ T[:3, :3].T + T[:3, 3] + rng.normal(0, 0.05, (40, 3))
    w = rng.uniform(0, 1, 40)
    R, t = slow_kabsch(P.tolist(), Q.tolist(), w.tolist())
    est = kabsch_np(P, Q, w)
    assert np.allclose(est[:3, :3], R, atol=1e-9)
    assert np.allclose(est[:3, 3], t, atol=1e-9)


def test_reflection_gives_proper_rotation():
    rng = np.random.default_rng(3)
    P = rng.normal(size=(30, 3))
    Q = P * np.array([1, 1, -1])  # a mirror: the best *rotation* must still have det +1
    est = kabsch_np(P, Q)
    assert np.linalg.det(est[:3, :3]) == pytest.approx(1.0, abs=1e-9)
    R, t = slow_kabsch(P.tolist(), Q.tolist(), [1.0] * 30)
    assert np.allclose(est[:3, :3], R, atol=1e-9)


def test_zero_weights_ignore_points():
    rng = np.random.default_rng(4)
    T = random_transform(rng)
    P = rng.normal(size=(20, 3))
    Q = P @ T[:3, :3].T + T[:3, 3]
    Q[10:] = rng.normal(size=(10, 3)) * 10  # garbage rows...
    w = np.r_[np.ones(10), np.zeros(10)]  # ...with zero weight
    assert np.allclose(kabsch_np(P, Q, w), T, atol=1e-9)
    assert not np.allclose(kabsch_np(P, Q), T, atol=1e-3)


def test_batched_equals_one_by_one():
    rng = np.random.default_rng(5)
    P = torch.as_tensor(rng.normal(size=(7, 12, 3)))
    Q = torch.as_tensor(rng.normal(size=(7, 12, 3)))
    w = torch.as_tensor(rng.uniform(size=(7, 12)))
    B = weighted_kabsch(P, Q, w)
    for b in range(7):
        assert torch.allclose(B[b], weighted_kabsch(P[b], Q[b], w[b]), atol=1e-12)


def test_too_few_pairs_is_an_error():
    with pytest.raises(ValueError):
        kabsch_np(np.zeros((2, 3)), np.zeros((2, 3)))
