"""Helpers shared by the occupancy workbench GUI tests: sample paths, finding the workbench, colour counts,
and a GT + perturbed-prediction scene."""
from __future__ import annotations

import numpy as np

from scenelens.engine.io import load_layers
from scenelens.engine.scene import Scene

OCC = "occ3d_nuscenes_sample/labels.npz"
NUS = "nuscenes_sample/n015-2018-07-24-11-22-45+0800.pkl"


def wb_of(window):
    return next(w for w in window.workbenches if w.title == "Occupancy")


def colour_fraction(img, rgb, tol=40):
    return float((np.abs(img.astype(int) - np.asarray(rgb)).max(2) < tol).mean())


def open_occ_with_prediction(window, shared_data, seed=0):
    gt = load_layers(shared_data / OCC)[0]
    pred = load_layers(shared_data / OCC, role="prediction", name="prediction")[0]
    rng = np.random.default_rng(seed)
    flip = rng.random(pred.shape) < 0.05
    pred.labels[flip] = rng.integers(0, 18, int(flip.sum()))
    pred.masks = {}
    window.set_scene(Scene("occ", [gt, pred]))
    return gt, pred
