"""2-D keypoint evaluation against COCO ground truth: pycocotools AP plus PCK and pixel errors.

AP alone hides *which* joints fail; PCK and per-joint pixel errors need a one-to-one person matching,
done per image by the Hungarian method on OKS (pairs with OKS < `min_oks` stay unmatched). PCK counts the
labelled joints of unmatched ground-truth people as misses, so a detector that finds nobody scores 0,
not NaN; `pck_matched` is the same over matched people only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .joints import COCO17
from .metrics import coco_keypoint_ap, oks, pixel_errors, torso_size


def _remap_ids(gt: dict, results: list[dict]) -> tuple[list[dict], int]:
    by_name = {im.get("file_name"): im["id"] for im in gt["images"]}
    ids = {im["id"] for im in gt["images"]}
    out, dropped = [], 0
    for r in results:
        r = dict(r)
        if r.get("file_name") in by_name:
            r["image_id"] = by_name[r["file_name"]]
        if r["image_id"] not in ids:
            dropped += 1
            continue
        r.setdefault("category_id", 1)
        out.append(r)
    return out, dropped


def match_people(gt_kp: list[np.ndarray], gt_area: list[float], pred_kp: list[np.ndarray],
                 min_oks: float = 0.05) -> list[tuple[int, int, float]]:
    """(gt index, pred index, OKS) pairs maximising total OKS."""
    from scipy.optimize import linear_sum_assignment

    if not gt_kp or not pred_kp:
        return []
    m = np.array([[oks(p, g[:, :2], g[:, 2], a) for p in pred_kp] for g, a in zip(gt_kp, gt_area)])
    r, c = linear_sum_assignment(-m)
    return [(int(i), int(j), float(m[i, j])) for i, j in zip(r, c) if m[i, j] >= min_oks]


def evaluate_coco(gt: dict, results: list[dict], alpha: float = 0.2, min_oks: float = 0.05,
                  all_images: bool = False) -> dict[str, Any]:
    """AP (pycocotools), PCK@α·torso and @α·bbox, mean pixel error and per-joint breakdown.

    By default only the ground-truth images that the predictions cover are scored (a run on one image
    is judged on that image); `all_images=True` scores every GT image, people on unseen images missed."""
    results, dropped = _remap_ids(gt, results)
    if not all_images:
        seen = {r["image_id"] for r in results}
        gt = dict(gt, images=[im for im in gt["images"] if im["id"] in seen],
                  annotations=[a for a in gt["annotations"] if a["image_id"] in seen])
    ap = coco_keypoint_ap(gt, results)
    preds: dict[Any, list[np.ndarray]] = {}
    for r in results:
        preds.setdefault(r["image_id"], []).append(np.asarray(r["keypoints"], float).reshape(-1, 3)[:, :2])
    gts: dict[Any, list[dict]] = {}
    for a in gt["annotations"]:
        if a.get("iscrowd", 0) or a.get("num_keypoints", 1) == 0 or "keypoints" not in a:
            continue
        gts.setdefault(a["image_id"], []).append(a)
    n_j = len(COCO17.names)
    hits_t = hits_b = labelled = 0
    hits_tm = labelled_m = 0
    errs: list[np.ndarray] = []
    per_joint_hits = np.zeros(n_j)
    per_joint_n = np.zeros(n_j)
    n_gt = n_matched = 0
    for iid, anns in gts.items():
        g_kp = [np.asarray(a["keypoints"], float).reshape(-1, 3) for a in anns]
        g_area = [float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in anns]
        pairs = match_people(g_kp, g_area, preds.get(iid, []), min_oks)
        matched = {i: j for i, j, _ in pairs}
        n_gt += len(anns)
        n_matched += len(pairs)
        for gi, (a, g) in enumerate(zip(anns, g_kp)):
            vis = g[:, 2] > 0
            labelled += vis.sum()
            per_joint_n += vis
            if gi not in matched:
                continue
            labelled_m += vis.sum()
            p = preds[iid][matched[gi]]
            d = pixel_errors(p, g[:, :2], vis)
            tor = torso_size(g[:, :2], g[:, 2], np.asarray(a["bbox"], float))
            box = max(a["bbox"][2], a["bbox"][3])
            with np.errstate(invalid="ignore"):
                ok_t = vis & (d <= alpha * tor)
                ok_b = vis & (d <= alpha * box)
            hits_t += ok_t.sum()
            hits_tm += ok_t.sum()
            hits_b += ok_b.sum()
            per_joint_hits += ok_t
            errs.append(d)
    all_d = np.concatenate(errs) if errs else np.zeros(0)
    with np.errstate(invalid="ignore"):
        per_joint_err = np.nanmean(np.stack(errs), 0) if errs else np.full(n_j, np.nan)
    return {
        **ap,
        f"PCK@{alpha:g}": float(hits_t / labelled) if labelled else float("nan"),
        f"PCK@{alpha:g}_bbox": float(hits_b / labelled) if labelled else float("nan"),
        f"PCK@{alpha:g}_matched": float(hits_tm / labelled_m) if labelled_m else float("nan"),
        "mean_px_error": float(np.nanmean(all_d)) if np.isfinite(all_d).any() else float("nan"),
        "per_joint_px_error": {n: (None if np.isnan(e) else round(float(e), 3)) for n, e in zip(COCO17.names, per_joint_err)},
        "per_joint_pck": {n: (None if c == 0 else round(float(h / c), 4)) for n, h, c in zip(COCO17.names, per_joint_hits, per_joint_n)},
        "gt_people": n_gt, "matched_people": n_matched, "predictions": len(results), "dropped_predictions": dropped,
        "images": len(gt["images"]),
    }
