"""PoseIG indices (DI, FI, LI), the joint-inversion check and soft-argmax, against independent computations."""
import numpy as np
import pytest
import torch

from scenelens.engine.attribution import poseig as P


def gini_mean_difference(a):
    """Independent Gini: mean absolute difference over all pairs / (2·mean)."""
    v = np.asarray(a, np.float64).ravel()
    if v.min() < 0:
        v = v - v.min()
    v = v + 1e-7
    return np.abs(v[:, None] - v[None, :]).mean() / (2 * v.mean())


def test_gini_and_di_on_constructed_maps():
    rng = np.random.default_rng(0)
    const = np.full((20, 30), 0.7)
    assert P.gini(const) == pytest.approx(0.0, abs=1e-9)
    assert P.diffusion_index(const) == pytest.approx(100.0)
    onehot = np.zeros((20, 30))
    onehot[3, 4] = 1
    n = onehot.size
    assert P.gini(onehot) == pytest.approx(1 - 1 / n, abs=1e-4)
    assert P.diffusion_index(onehot) == pytest.approx(100 / n, abs=1e-2)
    for a in (rng.random((12, 9)), rng.normal(size=(7, 11)), rng.exponential(size=(10, 10)) ** 3):
        assert P.gini(a) == pytest.approx(gini_mean_difference(a), rel=1e-9)


def test_fi_on_constructed_maps():
    rng = np.random.default_rng(1)
    H, W = 40, 50
    mask = np.zeros((H, W), bool)
    mask[10:25, 12:30] = True
    dil = np.zeros((H, W), bool)
    dil[8:27, 10:32] = True  # a 5×5 max-pool grows the box by 2 px on every side
    np.testing.assert_array_equal(P.dilate_mask(mask) > 0, dil)
    assert P.foreground_index(np.full((H, W), 3.0), mask) == pytest.approx(1.0)  # uniform → 1 for any mask
    assert P.foreground_index(rng.random((H, W)) * 0 + 1, rng.random((H, W)) > 0.5) == pytest.approx(1.0)
    assert P.foreground_index(dil.astype(float), mask) == pytest.approx(H * W / dil.sum())  # map = mask → HW/ΣM
    assert P.foreground_index(mask.astype(float), mask, dilate=False) == pytest.approx(H * W / mask.sum())
    outside = (~dil).astype(float)
    assert P.foreground_index(outside, mask) == pytest.approx(0.0)
    assert P.foreground_index(np.zeros((H, W)), mask) == 0.0  # empty map: NaN → 0
    assert P.foreground_index(np.ones((H, W)), np.zeros((H, W))) == 0.0  # empty mask: NaN → 0


def test_li_on_constructed_maps():
    G = P.gaussian_heatmap((17.3, 9.6), (32, 24), 2.0)
    H, W = G.shape
    expected = H * W * (G ** 2).sum() / G.sum() ** 2
    assert P.locality_index(G, G) == pytest.approx(expected)
    assert P.locality_index(np.ones_like(G), G) == pytest.approx(1.0)
    onehot = np.zeros_like(G)
    onehot[10, 17] = 1.0  # at the joint
    assert P.locality_index(onehot, G) == pytest.approx(G[10, 17] * H * W / G.sum())
    up = P.gt_heatmap_at_input((8.0, 4.0), (16, 12), (64, 48))
    assert up.shape == (64, 48) and np.unravel_index(up.argmax(), up.shape) in {(17, 33), (17, 34), (18, 33), (18, 34)}


def test_indices_for_maps_weights_and_mean():
    rng = np.random.default_rng(2)
    maps = {"a": rng.random((16, 16)), "b": rng.random((16, 16)), "c": rng.random((16, 16))}
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    g = {k: P.gaussian_heatmap((8, 8), (16, 16)) for k in maps}
    out = P.indices_for_maps(maps, mask, g, {"a": 1, "b": 1, "c": 0})
    assert out["DI"]["c"] == 0.0 and out["FI"]["c"] == 0.0
    assert out["DI"]["mean"] == pytest.approx((out["DI"]["a"] + out["DI"]["b"]) / 2)
    assert out["FI"]["a"] == pytest.approx(P.foreground_index(maps["a"], mask))


def test_joint_inversion_check():
    names = ["left_wrist", "right_wrist", "nose"]
    gt = np.array([[100.0, 100], [200, 100], [150, 40]])
    pred = np.array([[198.0, 103], [102, 98], [151, 41]])  # wrists swapped, nose fine
    inv = P.joint_inversions(pred, gt, names, eps=10)
    assert {(d["joint"], d["to"]) for d in inv} == {("left_wrist", "right_wrist"), ("right_wrist", "left_wrist")}
    assert all(d["swap"] for d in inv)
    pred2 = pred.copy()
    pred2[1] = gt[1]  # only one direction holds → not a swap
    inv2 = P.joint_inversions(pred2, gt, names, eps=10)
    assert [(d["joint"], d["to"], d["swap"]) for d in inv2] == [("left_wrist", "right_wrist", False)]
    assert P.joint_inversions(pred, gt, names, visible=[1, 0, 1]) == []


def test_soft_argmax_and_target():
    h = torch.zeros(1, 2, 16, 12)
    h[0, 0, 5, 7] = 10.0  # a very sharp peak: soft-argmax ≈ argmax
    h[0, 1] = 0.0  # flat: the centre
    xy = P.soft_argmax(h, beta=10.0)[0]
    assert xy[0].tolist() == pytest.approx([7, 5], abs=1e-3)
    assert xy[1].tolist() == pytest.approx([5.5, 7.5], abs=1e-6)
    t = P.joint_likelihood(xy, torch.tensor([[7.0, 5.0], [5.5, 7.5 + 10]]))
    assert t.tolist() == pytest.approx([1.0, np.exp(-3.0)], rel=1e-3)
