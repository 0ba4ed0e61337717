"""Metrics against independent computations of the reference definitions (per-class boolean counting)."""
from __future__ import annotations

import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import load_layers
from scenelens.engine.occupancy.metrics import Confusion, diff_codes

OCC = "occ3d_nuscenes_sample/labels.npz"


def perturb(labels, seed, frac=0.15, n_cls=18):
    rng = np.random.default_rng(seed)
    out = labels.copy()
    flip = rng.random(labels.shape) < frac
    out[flip] = rng.integers(0, n_cls, int(flip.sum()))
    return np.roll(out, seed % 3, axis=0)  # also a geometric shift


def occ3d_reference(frames):
    """Independent: per-class TP/FP/FN by boolean counting, summed over frames (one 'confusion'),
    IoU NaN when a class never occurs, mIoU = nanmean over 0..16, geometry occupied (≠17) vs free."""
    tp = np.zeros(18)
    fp = np.zeros(18)
    fn = np.zeros(18)
    g_i = g_u = 0
    for pred, gt, mask in frames:
        p, g = pred[mask], gt[mask]
        for c in range(18):
            tp[c] += np.sum((p == c) & (g == c))
            fp[c] += np.sum((p == c) & (g != c))
            fn[c] += np.sum((p != c) & (g == c))
        g_i += np.sum((p != 17) & (g != 17))
        g_u += np.sum((p != 17) | (g != 17))
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
    return 100 * np.nanmean(iou[:17]), 100 * g_i / g_u, iou


def test_occ3d_miou_matches_independent(shared_data):
    g = load_layers(shared_data / OCC)[0]
    frames = [(perturb(g.labels, s), g.labels, g.masks["mask_camera"]) for s in (1, 2)]
    conf = Confusion("occ3d")
    for p, gt, m in frames:
        conf.add(p, gt, m)
    res = conf.result()
    miou, giou, iou = occ3d_reference(frames)
    assert res["miou"] == pytest.approx(miou, abs=1e-9)
    assert res["iou_geometry"] == pytest.approx(giou, abs=1e-9)
    names = list(res["per_class"])
    assert names[0] == "others" and len(names) == 17
    for c, n in enumerate(names):
        v = res["per_class"][n]
        assert (v is None and np.isnan(iou[c])) or v == pytest.approx(100 * iou[c], abs=1e-9)
    # accumulated over frames, not averaged per frame
    per_frame = []
    for p, gt, m in frames:
        c1 = Confusion("occ3d")
        c1.add(p, gt, m)
        per_frame.append(c1.result()["miou"])
    assert res["miou"] != pytest.approx(np.mean(per_frame), abs=1e-6)


def test_occ3d_perfect_and_mask(shared_data):
    g = load_layers(shared_data / OCC)[0]
    conf = Confusion("occ3d")
    # errors only outside the camera mask do not count
    pred = g.labels.copy()
    pred[~g.masks["mask_camera"]] = 4
    conf.add(pred, g.labels, g.masks["mask_camera"])
    r = conf.result()
    assert r["miou"] == 100.0 and r["iou_geometry"] == 100.0
    assert r["per_class"]["bicycle"] is None  # absent class → NaN, excluded by nanmean
    c2 = Confusion("occ3d")
    c2.add(pred, g.labels, None)
    assert c2.result()["miou"] < 100.0


def test_semantickitti_ssc_matches_api_definition():
    rng = np.random.default_rng(3)
    shape = (64, 64, 8)
    gt = rng.choice(np.r_[np.zeros(30, int), np.arange(1, 20), [255] * 3], size=shape).astype(np.uint8)
    pred = np.where(rng.random(shape) < 0.3, rng.integers(0, 20, shape), np.where(gt == 255, 0, gt)).astype(np.uint8)
    pred[gt == 7] = 0  # class 7 never predicted
    gt[gt == 12] = 0  # class 12 absent → IoU 0 (the api's +1e-15), not NaN
    pred[pred == 12] = 0
    invalid = rng.random(shape) < 0.1
    conf = Confusion("semantickitti")
    conf.add(pred, gt, ~invalid)
    r = conf.result()
    # independent: the semantic-kitti-api formulas written out on conf[pred, gt]
    m = (gt != 255) & ~invalid
    C = np.zeros((20, 20), np.int64)
    np.add.at(C, (pred[m].astype(int), gt[m].astype(int)), 1)
    tp = np.diag(C).astype(float)
    iou = tp / (tp + (C.sum(1) - tp) + (C.sum(0) - tp) + 1e-15)
    assert r["miou"] == pytest.approx(100 * iou[1:].mean(), abs=1e-9)
    assert r["iou_geometry"] == pytest.approx(100 * C[1:, 1:].sum() / (C.sum() - C[0, 0]), abs=1e-9)
    eps = np.finfo(np.float32).eps
    assert r["precision"] == pytest.approx(100 * C[1:, 1:].sum() / (C[1:, :].sum() + eps), abs=1e-9)
    assert r["recall"] == pytest.approx(100 * C[1:, 1:].sum() / (C[:, 1:].sum() + eps), abs=1e-9)
    assert r["per_class"]["other-ground"] == 0.0 and len(r["per_class"]) == 19


def test_out_of_range_prediction_is_an_error():
    conf = Confusion("occ3d")
    with pytest.raises(InputError, match="outside 0..17"):
        conf.add(np.full((2, 2, 2), 40, np.uint8), np.zeros((2, 2, 2), np.uint8), where="p.npz")


def test_diff_codes():
    gt = np.array([17, 4, 4, 17, 4, 255], np.uint8).reshape(1, 1, 6)
    pr = np.array([17, 4, 7, 3, 17, 3], np.uint8).reshape(1, 1, 6)
    assert diff_codes(pr, gt, 17).ravel().tolist() == [0, 1, 2, 3, 4, 0]
