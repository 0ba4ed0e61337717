"""Occupancy metrics exactly as the reference evaluation scripts compute them, over one confusion matrix.

Why one accumulator: the reference scripts (Occ3D challenge `occ_metrics.py`, SemanticKITTI
`evaluate_completion.py`) sum a single confusion matrix over all frames and derive every number from it
at the end, so a sequence's mIoU is *not* the mean of per-frame mIoUs. The quirks are kept on purpose:
* occ3d: `hist[gt, pred]` (18×18) on `mask_camera` voxels, IoU = diag / (row + col − diag) with NaN for
  absent classes, mIoU = nanmean over classes 0..16 (free = 17 excluded); geometry IoU (later papers) is
  occupied (≠ 17) vs free from the same matrix.
* semantickitti: `conf[pred, gt]` (20×20) on voxels with label ≠ 255 and `.invalid` = 0; IoU = tp /
  (tp + fp + fn + 1e−15) so absent classes count as 0; SSC mIoU = plain mean over 1..19; SC IoU =
  Σconf[1:,1:] / (Σconf − conf[0,0]); precision/recall with float32 epsilon.
* surroundocc: gt ≠ 255; geometry IoU occupied vs empty; mIoU = mean IoU over the 16 classes 1..16.
All values are returned in percent (×100), unrounded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..labels import get_label_set

EPS32 = float(np.finfo(np.float32).eps)


@dataclass
class Protocol:
    name: str
    n_classes: int
    label_set: str
    free: int
    miou_classes: tuple[int, ...]


PROTOCOLS = {
    "occ3d": Protocol("occ3d", 18, "occ3d", 17, tuple(range(17))),
    "semantickitti": Protocol("semantickitti", 20, "semantickitti", 0, tuple(range(1, 20))),
    "surroundocc": Protocol("surroundocc", 18, "occ3d", 17, tuple(range(1, 17))),
}


def protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise InputError(None, f"unknown metric protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]


@dataclass
class Confusion:
    """Accumulates `hist[gt, pred]` over frames; `result()` applies the protocol's definitions."""

    protocol: str = "occ3d"
    hist: np.ndarray = field(default=None)  # type: ignore[assignment]
    n_frames: int = 0

    def __post_init__(self):
        self.p = protocol(self.protocol)
        if self.hist is None:
            self.hist = np.zeros((self.p.n_classes, self.p.n_classes), np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, where: str = "") -> np.ndarray:
        """Add one frame; returns the frame's own confusion matrix. `mask` selects evaluated voxels."""
        if pred.shape != gt.shape:
            raise InputError(where or None, f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
        n = self.p.n_classes
        g = gt.reshape(-1)
        q = pred.reshape(-1)
        keep = g < n  # labels outside 0..n-1 (255 = ignore) are skipped, as the references do
        if mask is not None:
            keep &= mask.reshape(-1).astype(bool)
        g = g[keep].astype(np.int64)
        q = q[keep].astype(np.int64)
        if q.size and (q.min() < 0 or q.max() >= n):
            bad = int(((q < 0) | (q >= n)).sum())
            raise InputError(where or None, f"prediction has {bad} evaluated voxels with labels outside 0..{n - 1}")
        h = np.bincount(g * n + q, minlength=n * n).reshape(n, n)
        self.hist += h
        self.n_frames += 1
        return h

    def merge(self, other: "Confusion") -> None:
        self.hist += other.hist
        self.n_frames += other.n_frames

    def result(self) -> dict:
        return metrics_from_hist(self.hist, self.p.name, self.n_frames)


def metrics_from_hist(hist: np.ndarray, proto: str, n_frames: int = 1) -> dict:
    p = protocol(proto)
    h = hist.astype(np.float64)
    tp = np.diag(h)
    names = get_label_set(p.label_set).names
    out: dict = {"protocol": p.name, "n_frames": int(n_frames), "n_voxels": int(hist.sum())}
    if p.name == "semantickitti":
        conf = h.T  # conf[pred, gt] as in the SemanticKITTI api
        fp = conf.sum(1) - tp
        fn = conf.sum(0) - tp
        iou = tp / (tp + fp + fn + 1e-15)
        miou = float(iou[1:].mean())
        denom = conf.sum() - conf[0, 0]
        sc = float(conf[1:, 1:].sum() / denom) if denom > 0 else float("nan")
        out["precision"] = 100.0 * float(conf[1:, 1:].sum() / (conf[1:, :].sum() + EPS32))
        out["recall"] = 100.0 * float(conf[1:, 1:].sum() / (conf[:, 1:].sum() + EPS32))
        out["miou"] = 100.0 * miou
        out["iou_geometry"] = 100.0 * sc
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / (h.sum(1) + h.sum(0) - tp)
        sel = iou[list(p.miou_classes)]
        out["miou"] = 100.0 * float(np.nanmean(sel)) if np.isfinite(sel).any() else float("nan")
        f = p.free
        occ = [c for c in range(p.n_classes) if c != f]
        inter = h[np.ix_(occ, occ)].sum()
        union = inter + h[f, occ].sum() + h[occ, f].sum()
        out["iou_geometry"] = 100.0 * float(inter / union) if union > 0 else float("nan")
        if p.name == "surroundocc":
            out["miou"] = 100.0 * float(np.nanmean(sel)) if np.isfinite(sel).any() else float("nan")
    out["per_class"] = {names[c]: (None if not np.isfinite(iou[c]) else 100.0 * float(iou[c]))
                        for c in p.miou_classes}
    out["iou"] = iou  # array over all classes (fractions), for tables and plots; dropped from JSON
    return out


def to_jsonable(res: dict) -> dict:
    def conv(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in res.items() if not isinstance(v, np.ndarray)}


def eval_mask(gt_grid, mode: str, proto: str) -> np.ndarray | None:
    """The voxels a protocol evaluates: Occ3D camera/LiDAR masks, SemanticKITTI `.invalid` always applied."""
    m = None
    if mode in ("camera", "lidar"):
        key = f"mask_{mode}"
        if key not in gt_grid.masks:
            raise InputError(gt_grid.source or gt_grid.name, f"--mask {mode} asked for, but the ground truth has no {key}")
        m = gt_grid.masks[key]
    elif mode not in ("none", None):
        raise InputError(None, f"unknown mask {mode!r} (camera, lidar or none)")
    if proto == "semantickitti" and "invalid" in gt_grid.masks:
        inv = ~gt_grid.masks["invalid"]
        m = inv if m is None else (m & inv)
    return m


DIFF_NONE, DIFF_CORRECT, DIFF_WRONG, DIFF_FALSE_OCC, DIFF_MISSED = 0, 1, 2, 3, 4
DIFF_NAMES = ("agree free", "correct", "wrong class", "false occupied", "missed")
DIFF_COLORS = np.array([[200, 200, 200], [120, 190, 120], [255, 150, 0], [220, 30, 30], [40, 90, 230]], np.uint8)


def diff_codes(pred: np.ndarray, gt: np.ndarray, free: int, ignore: int | None = 255) -> np.ndarray:
    """Per-voxel comparison code: correct / wrong class / false occupied / missed (0 = both free or ignored)."""
    po = pred != free
    go = gt != free
    if ignore is not None:
        po &= pred != ignore
        valid = gt != ignore
        go &= valid
    else:
        valid = np.ones(gt.shape, bool)
    out = np.zeros(gt.shape, np.uint8)
    both = po & go
    out[both & (pred == gt)] = DIFF_CORRECT
    out[both & (pred != gt)] = DIFF_WRONG
    out[po & ~go & valid] = DIFF_FALSE_OCC
    out[go & ~po] = DIFF_MISSED
    return out
