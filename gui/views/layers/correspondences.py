"""Correspondence sets as one line polydata (never one actor per line), coloured by what the user is
debugging: predicted inlier/outlier, or — with ground truth — true/false inliers and missed inliers.

The builder only draws: endpoints, flags and per-correspondence numbers come from the layer (computed by
the registration job). Endpoint coordinates live in `layer.meta["src_xyz"]` / `["tgt_xyz"]` (M×3, in the
source's and target's own frames) and `meta["source_transform"]` (4×4) says where the source currently
sits, so switching between initial / coarse / refined alignment re-draws without recomputing anything.
Style keys: `color_by` ("inlier" | "truth"), `min_score` (hide lines whose `scores` are below it),
`show_outliers`, `max_lines`, `line_width`, `pickable` (False: clicks go through to the clouds), `markers` with
`marker_radius` (manual pairs: a sphere on each endpoint, and on `meta["pending_src"/"pending_tgt"]`, a first
pick still waiting for its match).
"""
from __future__ import annotations

import numpy as np

from scenelens.engine.scene import CorrespondenceSet

from ..builders import register_builder, tag_actor
from ..vtk_utils import actor_for, lines_polydata, points_polydata

INLIER = (40, 220, 80)
OUTLIER = (230, 50, 50)
TRUE_INLIER = (40, 220, 80)
FALSE_INLIER = (255, 160, 0)
MISSED_INLIER = (0, 200, 255)
TRUE_OUTLIER = (150, 40, 40)
MANUAL = (255, 240, 40)
PENDING = (245, 245, 245)  # a first pick waiting for its match


def line_colors(layer: CorrespondenceSet, color_by: str = "inlier") -> np.ndarray:
    n = len(layer.pairs)
    pred = np.ones(n, bool) if layer.inlier is None else np.asarray(layer.inlier, bool)
    if layer.meta.get("manual"):
        return np.tile(np.array(MANUAL, np.uint8), (n, 1))
    if color_by == "truth" and layer.gt_inlier is not None:
        gt = np.asarray(layer.gt_inlier, bool)
        cols = np.empty((n, 3), np.uint8)
        cols[pred & gt] = TRUE_INLIER
        cols[pred & ~gt] = FALSE_INLIER
        cols[~pred & gt] = MISSED_INLIER
        cols[~pred & ~gt] = TRUE_OUTLIER
        return cols
    return np.where(pred[:, None], np.array(INLIER, np.uint8), np.array(OUTLIER, np.uint8)).astype(np.uint8)


def visible_lines(layer: CorrespondenceSet, style: dict) -> np.ndarray:
    """Indices of the correspondences to draw under the style's filters (inliers first when capped)."""
    n = len(layer.pairs)
    keep = np.ones(n, bool)
    if not style.get("show_outliers", True) and layer.inlier is not None:
        keep &= np.asarray(layer.inlier, bool)
    ms = style.get("min_score")
    if ms is not None and layer.scores is not None:
        sc = np.asarray(layer.scores, float)
        keep &= np.nan_to_num(sc, nan=-np.inf) >= ms
    idx = np.flatnonzero(keep)
    cap = style.get("max_lines")
    if cap is not None and len(idx) > cap:
        pri = np.zeros(len(idx)) if layer.inlier is None else -np.asarray(layer.inlier, float)[idx]
        idx = idx[np.argsort(pri, kind="stable")[:cap]]
        idx.sort()
    return idx


def _fmt(v) -> str:
    if v is None:
        return "—"
    v = float(v)
    return "—" if not np.isfinite(v) else f"{v:.4g}"


def _marker_actor(xyz: np.ndarray, rgb: np.ndarray, radius: float, origin):
    """Spheres (one glyph actor) at xyz, coloured per point; not pickable, so a marker never hides the point
    under it from the next click."""
    import vtk

    pd = points_polydata(xyz, rgb, origin=origin)
    src = vtk.vtkSphereSource()
    src.SetRadius(float(radius))
    src.SetThetaResolution(16)
    src.SetPhiResolution(12)
    g = vtk.vtkGlyph3D()
    g.SetInputData(pd)
    g.SetSourceConnection(src.GetOutputPort())
    g.SetColorModeToColorByScalar()
    g.SetScaleModeToDataScalingOff()
    g.Update()
    a = actor_for(g.GetOutput())
    a.PickableOff()
    return a


def _markers(layer: CorrespondenceSet, a: np.ndarray, b: np.ndarray, T: np.ndarray, style: dict) -> list:
    r = float(style.get("marker_radius", 0.05))
    xyz, cols = [a, b], [np.tile(np.array(MANUAL, np.uint8), (len(a) + len(b), 1))]
    ps, pt = layer.meta.get("pending_src"), layer.meta.get("pending_tgt")
    if ps is not None:
        xyz.append((np.asarray(ps, float) @ T[:3, :3].T + T[:3, 3]).reshape(1, 3))
        cols.append(np.array([PENDING], np.uint8))
    if pt is not None:
        xyz.append(np.asarray(pt, float).reshape(1, 3))
        cols.append(np.array([PENDING], np.uint8))
    P = np.concatenate(xyz)
    if len(P) == 0:
        return []
    return [tag_actor(_marker_actor(P, np.concatenate(cols), r, style.get("origin")), layer, None)]


@register_builder(CorrespondenceSet)
def build_correspondences(layer: CorrespondenceSet, style: dict) -> list:
    src = layer.meta.get("src_xyz")
    tgt = layer.meta.get("tgt_xyz")
    T = np.asarray(layer.meta.get("source_transform", np.eye(4)), float)
    if style.get("markers") and src is not None and tgt is not None:
        a = np.asarray(src, float).reshape(-1, 3) @ T[:3, :3].T + T[:3, 3]
        marks = _markers(layer, a, np.asarray(tgt, float).reshape(-1, 3), T, style)
        if len(layer.pairs) == 0:
            return marks
    else:
        marks = []
    if src is None or tgt is None or len(layer.pairs) == 0:
        return []
    a = np.asarray(src, float) @ T[:3, :3].T + T[:3, 3]
    b = np.asarray(tgt, float)
    idx = visible_lines(layer, style)
    if len(idx) == 0:
        return marks
    cols = line_colors(layer, style.get("color_by", "inlier"))
    pred = np.ones(len(layer.pairs), bool) if layer.inlier is None else np.asarray(layer.inlier, bool)
    width = style.get("line_width", 2.0 if layer.meta.get("manual") else 1.0)
    # predicted outliers usually outnumber inliers 10:1; they get their own, fainter actor so the inlier
    # structure stays readable (style "outlier_opacity")
    groups = [(idx[pred[idx]], style.get("opacity", 1.0)), (idx[~pred[idx]], style.get("outlier_opacity", 0.35))]
    built = []
    for sub, opacity in groups:
        if len(sub) == 0:
            continue
        pd = lines_polydata(a[sub], b[sub], cols[sub], origin=style.get("origin"))
        actor = actor_for(pd, line_width=width, opacity=opacity)
        if not style.get("pickable", True):
            actor.PickableOff()
        built.append((actor, sub))
    m = layer.meta

    def make_pick(sub: np.ndarray):
        def pick(cell_id: int, point_id: int, pos) -> dict:
            i = int(sub[cell_id]) if 0 <= cell_id < len(sub) else int(sub[0])
            s_i, t_i = (int(v) for v in layer.pairs[i])
            info = {"layer": layer.name, "correspondence": i, "source point": s_i, "target point": t_i}
            if layer.inlier is not None:
                info["predicted inlier"] = bool(layer.inlier[i])
            if layer.gt_inlier is not None:
                info["ground-truth inlier"] = bool(layer.gt_inlier[i])
            for key, label in (("feat_dist", "descriptor distance"), ("seed_compat", "compatibility with seed"),
                               ("confidence", "global confidence"), ("residual", "residual (m)")):
                arr = m.get(key)
                if arr is not None:
                    info[label] = _fmt(arr[i])
            if "seed_index" in m:
                info["selected seed"] = int(m["seed_index"])
            return info

        return pick

    return [tag_actor(actor, layer, make_pick(sub)) for actor, sub in built] + marks
