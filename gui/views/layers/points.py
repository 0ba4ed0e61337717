"""Point clouds: coloured by class (label-set palette), stored RGB, an attribute colormap, or height.

Big clouds draw a level of detail (an even stride of at most the display budget; a coarser one while the view
is dragged) with the shown/total count on screen; picks map back to the full cloud. The heavy half of a
build (`prepare_points`: subset, colours, VTK polydata) may run off the GUI thread: the window's open job
calls `prepare_scene`, so the GUI thread only makes the actors of a newly opened cloud."""
from __future__ import annotations

import os

import numpy as np

from scenelens.engine.labels import get_label_set
from scenelens.engine.scene import PointCloud

from ..builders import register_builder, tag_actor
from ..vtk_utils import actor_for, colormap, points_polydata


def point_colors(layer: PointCloud, color_by: str | None = None, hidden: set[int] | None = None):
    """(N×3 uint8 colours, keep mask) for the chosen colouring; `hidden` class ids are dropped."""
    a = layer.attributes
    keep = np.ones(layer.n, bool)
    mode = color_by or ("label" if "label" in a and layer.label_set else "rgb" if "rgb" in a
                        else "intensity" if "intensity" in a else "height")
    if mode == "label" and "label" in a and layer.label_set:
        lab = a["label"].astype(np.int64)
        lut = get_label_set(layer.label_set).lut()
        lut[(lut == 0).all(1)] = 110  # black classes (unlabeled/others) would vanish on the dark background
        cols = lut[np.clip(lab, 0, 255)]
        unlabelled = lab == get_label_set(layer.label_set).ignore
        if unlabelled.any():  # not-annotated points: grey shaded by height so the scan's structure stays legible
            z = layer.points[unlabelled, 2]
            lo, hi = np.percentile(z, [2, 98])
            g = (70 + 150 * np.clip((z - lo) / max(hi - lo, 1e-6), 0, 1)).astype(np.uint8)
            cols[unlabelled] = g[:, None]
        if hidden:
            keep &= ~np.isin(lab, list(hidden))
    elif mode == "rgb" and "rgb" in a:
        cols = a["rgb"]
    elif mode in a and a[mode].ndim == 1:
        v = a[mode].astype(np.float64)
        lo, hi = np.percentile(v, [1, 99]) if len(v) else (0, 1)
        cols = colormap(v, "viridis", lo, hi)
    else:
        z = layer.points[:, 2]
        lo, hi = np.percentile(z, [1, 99]) if len(z) else (0, 1)
        cols = colormap(z, "viridis", lo, hi)
    return cols, keep


# Frame time on llvmpipe grows ~linearly with the points drawn (bench/bench_bigcloud.py --budgets): 250k drew
# at ~7 fps on a quiet 2-core machine (session 3), so 150k is the budget for ≥ 10 fps at any cloud size.
DEFAULT_DISPLAY_POINTS = 150_000


def display_budget(style: dict | None = None) -> int:
    """Most points one cloud draws (style `max_display_points`, else SCENELENS_MAX_DISPLAY_POINTS, else 150k)."""
    v = (style or {}).get("max_display_points") or os.environ.get("SCENELENS_MAX_DISPLAY_POINTS")
    try:
        return max(1, int(float(v))) if v else DEFAULT_DISPLAY_POINTS
    except ValueError:
        return DEFAULT_DISPLAY_POINTS


DEFAULT_INTERACTIVE_POINTS = 50_000  # drawn while the user rotates (≈ 12 fps at load 6 here); still frames: the budget


def interactive_budget() -> int:
    """Most points drawn while the view is dragged (SCENELENS_INTERACTIVE_POINTS, else 50k)."""
    v = os.environ.get("SCENELENS_INTERACTIVE_POINTS")
    try:
        return max(1, int(float(v))) if v else DEFAULT_INTERACTIVE_POINTS
    except ValueError:
        return DEFAULT_INTERACTIVE_POINTS


def display_subset(idx: np.ndarray | int, budget: int) -> np.ndarray:
    """An even stride through the drawn points when there are more than `budget` (display only). `idx` may
    be a count N, meaning all of 0..N-1 (no N-long index array for a 50M-point cloud)."""
    if isinstance(idx, (int, np.integer)):
        return np.arange(0, int(idx), max(1, -(-int(idx) // budget)))
    if len(idx) <= budget:
        return idx
    step = -(-len(idx) // budget)
    return idx[::step]


def _count_label(text: str):
    import vtk

    t = vtk.vtkTextActor()
    t.SetInput(text)
    t.GetTextProperty().SetFontSize(13)
    t.GetTextProperty().SetColor(0.85, 0.85, 0.85)
    t.SetDisplayPosition(8, 8)
    return t


def _prep_key(layer: PointCloud, style: dict) -> tuple:
    """What a prepared display depends on (a restyle or another origin makes it stale)."""
    hidden = style.get("hidden_classes")
    o = style.get("origin")
    return (layer.n, display_budget(style), interactive_budget(), style.get("color_by"),
            tuple(sorted(hidden)) if hidden else (), None if o is None else tuple(np.asarray(o, float).tolist()))


def prepare_points(layer: PointCloud, style: dict) -> dict:
    """The heavy half of `build_points`: the displayed subset, its colours and the VTK polydata (still and
    rotating), safe to run in a worker thread — VTK data objects may be made off the GUI thread as long as
    no render window sees them there (as voxels.prebuild does). The GUI thread then only makes the mapper and
    the actor (`build_points` with the result as style["prebuilt"], or through `prepare_scene`)."""
    budget = display_budget(style)
    if layer.n <= budget:
        cols, keep = point_colors(layer, style.get("color_by"), style.get("hidden_classes"))
        idx = np.flatnonzero(keep)
        cols, total = cols[idx], len(idx)
    else:  # level of detail: colour only the drawn subset (never all N points twice)
        hidden = style.get("hidden_classes")
        lab = layer.attributes.get("label")
        total = layer.n - (int(np.isin(lab, list(hidden)).sum()) if hidden and lab is not None else 0)
        sub = display_subset(layer.n, budget)
        view = PointCloud(name=layer.name, points=layer.points[sub], label_set=layer.label_set,
                          attributes={k: v[sub] for k, v in layer.attributes.items()
                                      if isinstance(v, np.ndarray) and len(v) == layer.n})
        cols, keep = point_colors(view, style.get("color_by"), hidden)
        idx, cols = sub[keep], cols[keep]
    pd = points_polydata(layer.points[idx], cols, origin=style.get("origin"))
    coarse_pd = None
    coarse = interactive_budget()
    if len(idx) > coarse:  # rotating draws an even subset of the shown points (View3D swaps while dragging)
        k = display_subset(len(idx), coarse)
        coarse_pd = points_polydata(layer.points[idx[k]], cols[k], origin=style.get("origin"))
    return {"key": _prep_key(layer, style), "idx": idx, "total": total, "polydata": pd, "coarse": coarse_pd}


# Displays prepared by `prepare_scene` in the open job, by id of the layer's points array (with a weak
# reference to it: an entry never keeps a cloud alive). Taken once, by the layer's first build.
_PREPARED: dict[int, tuple] = {}


def prepare_scene(scene, ctx=None) -> None:
    """Prepare the display of every point cloud of a scene just read (call it in the open job, off the GUI
    thread): the view's centre and framing statistics (scene_renderer.point_stats) and each cloud's
    `prepare_points` with the origin the view will pick — so the first build on the GUI thread only makes
    the actors. Styles are the defaults of a newly opened layer; a layer built differently ignores its entry."""
    import weakref

    from ..scene_renderer import layer_origin, point_stats

    origin = None
    for lay in scene.layers:
        if origin is None:
            origin = layer_origin(lay)
        if isinstance(lay, PointCloud) and lay.n:
            if ctx is not None:
                ctx.check_cancel()
            try:
                point_stats(lay.points)
                pre = prepare_points(lay, {"origin": origin})
            except Exception:  # noqa: BLE001 - the GUI thread's build then fails (or not) and reports it as before
                continue
            key = id(lay.points)
            _PREPARED[key] = (weakref.ref(lay.points, lambda _r, k=key: _PREPARED.pop(k, None)), pre)


def _take_prepared(layer: PointCloud, style: dict) -> dict | None:
    entry = _PREPARED.pop(id(layer.points), None)
    if entry is None or entry[0]() is not layer.points or entry[1]["key"] != _prep_key(layer, style):
        return None
    return entry[1]


@register_builder(PointCloud)
def build_points(layer: PointCloud, style: dict) -> list:
    pre = style.get("prebuilt")
    if pre is None or pre.get("key") != _prep_key(layer, style):
        pre = _take_prepared(layer, style) or prepare_points(layer, style)
    idx, total, pd = pre["idx"], pre["total"], pre["polydata"]
    actor = actor_for(pd, point_size=style.get("point_size", 3.0 if layer.n < 60000 else 2.0), opacity=style.get("opacity", 1.0))
    actor._sl_display = (len(idx), total)  # noqa: SLF001 - shown / total, for views and tests
    if pre["coarse"] is not None:  # (still, while-dragging) pair: View3D swaps between Start/EndInteractionEvent
        actor._sl_lod_data = (pd, pre["coarse"])

    def pick(cell_id: int, point_id: int, pos) -> dict:
        i = int(idx[point_id if point_id >= 0 else cell_id])
        p = layer.points[i]
        info = {"layer": layer.name, "point": i, "x, y, z (m)": f"{p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}",
                "range (m)": f"{np.linalg.norm(p):.2f}"}
        for k, v in layer.attributes.items():
            val = v[i]
            if k == "label" and layer.label_set:
                info["class"] = f"{int(val)} {get_label_set(layer.label_set).name_of(int(val))}"
            else:
                info[k] = np.array2string(val, precision=3) if np.ndim(val) else (f"{val:.3f}" if isinstance(val, (float, np.floating)) else str(val))
        return info

    out = [tag_actor(actor, layer, pick)]
    if len(idx) < total:
        out.append(tag_actor(_count_label(f"{layer.name[:60]}: {len(idx):,} of {total:,} points shown "
                                          "(display level of detail; picks and computations use all)"), layer))
    return out
