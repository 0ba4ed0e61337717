"""Attribution maps in 3D: per-voxel (X×Y×Z) scores as coloured voxels, per-point (N) scores as coloured points.

Signed scores use a diverging map centred on zero (blue = against the target, red = for it); absolute
scores (style `absolute`, or maps without negative values) a sequential one. Scores with |s| below
`threshold` × max |s| are hidden, so only what the model actually used is drawn on top of the scene.
Per-pixel (H×W) maps have no 3D look (the workbench shows them on the camera images).

Geometry comes from the layer the scores belong to: style `on_layer` (the VoxelGrid / PointCloud object)
when the caller has it, else the map's meta (`origin` + `voxel_size` for voxel maps, `points` N×3 for
point maps), so the headless renderer, which only sees the map, draws it the same way.

Style keys: threshold (default 0.02), absolute (bool), opacity, point_size, on_layer, cmap_signed,
cmap_abs, show_picked (default True: white outline around meta['picked'] voxel).
"""
from __future__ import annotations

import numpy as np

from scenelens.engine.scene import AttributionMap, PointCloud, VoxelGrid

from ..builders import register_builder, tag_actor

CMAP_SIGNED = "RdBu_r"
CMAP_ABS = "inferno"


def score_colors(scores: np.ndarray, signed: bool, cmap_signed: str = CMAP_SIGNED, cmap_abs: str = CMAP_ABS
                 ) -> tuple[np.ndarray, float]:
    """(uint8 colour index 0..255 per score, scale = max |s|). Signed: 128 ± 127·s/scale; absolute: |s|/scale
    spread over the bright part of the sequential map (the dark end would vanish on the background)."""
    s = np.asarray(scores, np.float64)
    scale = float(np.abs(s).max()) if s.size else 0.0
    if scale <= 0:
        return np.full(s.shape, 128 if signed else 0, np.uint8), 0.0
    if signed:
        return np.clip(np.round(128 + 127 * s / scale), 1, 255).astype(np.uint8), scale
    return np.clip(np.round(255 * np.abs(s) / scale), 0, 255).astype(np.uint8), scale


def lut_colors(signed: bool, cmap_signed: str = CMAP_SIGNED, cmap_abs: str = CMAP_ABS) -> np.ndarray:
    """256×3 float RGB in [0, 1] for the colour indices of `score_colors`."""
    from matplotlib import colormaps

    t = np.linspace(0, 1, 256)
    if signed:
        return colormaps[cmap_signed](t)[:, :3]
    return colormaps[cmap_abs](0.25 + 0.75 * t)[:, :3]


def is_signed(layer: AttributionMap, style: dict) -> bool:
    """Diverging colours when the scores have both signs (unless the style asks for |s|)."""
    return not style.get("absolute") and bool(np.any(np.asarray(layer.scores) < 0))


def shown_mask(scores: np.ndarray, threshold: float) -> np.ndarray:
    a = np.abs(np.asarray(scores, np.float64))
    m = a.max() if a.size else 0.0
    return (a > threshold * m) & (a > 0) if m > 0 else np.zeros(a.shape, bool)


@register_builder(AttributionMap)
def build_attribution(layer: AttributionMap, style: dict) -> list:
    s = np.asarray(layer.scores)
    if s.ndim == 3:
        return _build_voxels(layer, style)
    if s.ndim == 1:
        return _build_points(layer, style)
    return []  # per-pixel maps live in the 2D views


def _grid_geometry(layer: AttributionMap, style: dict):
    on = style.get("on_layer")
    if isinstance(on, VoxelGrid):
        return np.asarray(on.origin, float), np.asarray(on.voxel_size, float)
    if "origin" in layer.meta and "voxel_size" in layer.meta:
        return np.asarray(layer.meta["origin"], float), np.asarray(layer.meta["voxel_size"], float)
    return None


def _build_voxels(layer: AttributionMap, style: dict) -> list:
    from scenelens.engine.occupancy.surface import exposed_faces

    from .voxels import _lut, surface_actor

    geo = _grid_geometry(layer, style)
    if geo is None:
        return []
    origin, vs = geo
    local = origin - (np.asarray(style["origin"], float) if style.get("origin") is not None else 0.0)
    s = np.asarray(layer.scores, np.float64)
    signed = is_signed(layer, style)
    shown = shown_mask(s, float(style.get("threshold", 0.02)))
    actors = []
    scale = 0.0
    if shown.any():
        idx_col, scale = score_colors(np.where(shown, s, 0.0), signed)
        surf = exposed_faces(shown, idx_col, merge=True)
        opacity = float(style.get("opacity", 1.0))
        lut = _lut(lut_colors(signed, style.get("cmap_signed", CMAP_SIGNED), style.get("cmap_abs", CMAP_ABS)), opacity)
        actor = surface_actor(surf, vs, surf.labels, lut, opacity, local)
        actor.GetProperty().BackfaceCullingOn()
        actor.GetProperty().SetAmbient(0.45)

        def pick(cell_id: int, point_id: int, pos, dataset=None) -> dict:
            from .voxels import voxel_at_surface_point, voxel_of_cell

            ijk = voxel_of_cell(dataset, cell_id, pos, origin, vs, shown)  # the picked quad's own voxel
            if ijk is None:  # a call without the picked mesh: from the position alone
                shell = VoxelGrid(name=layer.name, labels=np.zeros(s.shape, np.uint8), origin=tuple(origin),
                                  voxel_size=tuple(vs))
                ijk = voxel_at_surface_point(shell, pos, shown)
            return voxel_score_info(layer, ijk)

        pick.takes_dataset = True
        actors.append(tag_actor(actor, layer, pick))
    picked = layer.meta.get("picked")
    if picked is not None and style.get("show_picked", True):
        actors.append(tag_actor(_outline_actor(np.asarray(picked, int), origin, vs, local), layer, None))
    if actors:
        actors[0]._sl_scale = scale  # noqa: SLF001 - for tests and the legend
        actors[0]._sl_shown = int(shown.sum())  # noqa: SLF001
    return actors


def _outline_actor(ijk: np.ndarray, origin, vs, local):
    """White wireframe box one voxel in size (slightly enlarged) around the explained voxel."""
    import vtk

    src = vtk.vtkCubeSource()
    src.SetXLength(vs[0] * 1.15)
    src.SetYLength(vs[1] * 1.15)
    src.SetZLength(vs[2] * 1.15)
    c = local + (ijk + 0.5) * vs
    src.SetCenter(*c)
    m = vtk.vtkPolyDataMapper()
    m.SetInputConnection(src.GetOutputPort())
    a = vtk.vtkActor()
    a.SetMapper(m)
    p = a.GetProperty()
    p.SetRepresentationToWireframe()
    p.SetColor(1.0, 1.0, 1.0)
    p.SetLineWidth(3.0)
    p.LightingOff()
    a.PickableOff()
    return a


def voxel_score_info(layer: AttributionMap, ijk) -> dict:
    """Inspector content for a picked attribution voxel: index, score and what was explained."""
    info = {"layer": layer.name, "method": layer.method, "target": _target_text(layer.target)}
    if ijk is None:
        return info
    info["voxel (i, j, k)"] = ", ".join(str(int(v)) for v in ijk)
    info["score"] = float(np.asarray(layer.scores)[tuple(ijk)])
    info.update({"_kind": "voxel", "_index": tuple(int(v) for v in ijk), "_value": info["score"]})
    return info


def _target_text(t) -> str:
    if isinstance(t, dict):
        parts = []
        if "voxel" in t:
            parts.append("voxel " + ",".join(str(int(v)) for v in t["voxel"]))
        if "point" in t:
            parts.append(f"point {t['point']}")
        if "class" in t:
            parts.append(str(t["class"]))
        return " → ".join(parts) or str(t)
    return str(t)


def _build_points(layer: AttributionMap, style: dict) -> list:
    from ..vtk_utils import actor_for, points_polydata

    on = style.get("on_layer")
    pts = on.points if isinstance(on, PointCloud) else layer.meta.get("points")
    s = np.asarray(layer.scores, np.float64)
    if pts is None or len(pts) != len(s):
        return []
    pts = np.asarray(pts, float)
    signed = is_signed(layer, style)
    shown = shown_mask(s, float(style.get("threshold", 0.02)))
    idx = np.flatnonzero(shown)
    if not len(idx):
        return []
    ci, scale = score_colors(s[idx], signed)
    cols = (lut_colors(signed, style.get("cmap_signed", CMAP_SIGNED), style.get("cmap_abs", CMAP_ABS))[ci] * 255
            ).astype(np.uint8)
    order = np.argsort(np.abs(s[idx]))  # strongest drawn last (on top)
    idx, cols = idx[order], cols[order]
    pd = points_polydata(pts[idx], cols, origin=style.get("origin"))
    actor = actor_for(pd, point_size=float(style.get("point_size", 5.0)), opacity=float(style.get("opacity", 1.0)))

    def pick(cell_id: int, point_id: int, pos) -> dict:
        i = int(idx[point_id if point_id >= 0 else cell_id])
        p = pts[i]
        return {"layer": layer.name, "method": layer.method, "target": _target_text(layer.target), "point": i,
                "x, y, z (m)": f"{p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}", "score": float(s[i])}

    actor._sl_scale = scale  # noqa: SLF001
    actor._sl_shown = len(idx)  # noqa: SLF001
    return [tag_actor(actor, layer, pick)]
