"""Voxel grids as merged exposed-face polydata coloured through a lookup table.

Why not glyphs: a cube per voxel sends 12 triangles per voxel to the (software) rasteriser, nearly all of
them hidden; exposed faces merged into rectangles are typically 5–10× fewer primitives (measured in
bench/bench_occupancy.py). Colours come from the label set's table via `SetColorModeToMapScalars` on
per-face class ids, so hiding a class or switching to diff colours only rebuilds a small LUT-indexed
mesh. Geometry is in voxel units relative to the grid origin and the actor is placed at the float64
origin minus the scene's local origin, so large global coordinates keep full precision.

Style keys: hidden_classes (set of ids), mask ('mask_camera' | 'mask_lidar' | None), unobserved ('hide' |
'translucent'), opacity, diff_codes (uint8 grid from engine.occupancy.metrics.diff_codes, drawn instead
of classes), compare_to (a ground-truth VoxelGrid, for the inspector), clip ((axis, index) keeps voxels
with index ≤ index along axis), merge (default True), lod (coarsening factor for large grids, 'auto'),
ego_marker (default True), highlight (M×3 voxel indices drawn as white outlines), show_ignore (also
draw voxels labelled `ignore_label`, e.g. 255 = occupied with no class).
"""
from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support as ns

from scenelens.engine.labels import get_label_set
from scenelens.engine.occupancy.metrics import DIFF_COLORS, DIFF_NAMES
from scenelens.engine.occupancy.surface import Surface, downsample_labels, exposed_faces
from scenelens.engine.scene import VoxelGrid

from ..builders import register_builder, tag_actor
from ..vtk_utils import items

# above this many visible voxels, 'auto' LOD draws a 2× coarser still frame (and says so, see the workbench);
# below it still frames and picks are always at full resolution — rotation uses the coarse mesh kept beside
# the full one (LOD_INTERACTIVE_QUADS), so an 800k-voxel 512×512×40 grid still draws in ~0.19 s per still
# frame on llvmpipe at full detail (measured; bench/bench_occupancy.py)
LOD_AUTO_VOXELS = 2_500_000
LOD_INTERACTIVE_QUADS = 8_000  # above this many quads a 2× coarser mesh is kept for use while rotating
# cell-data array of every voxel mesh (full, coarse, LOD still frame, clip cap): per quad the index box of the
# voxels behind it (Surface.voxel_ranges), so a picked cell names its voxel exactly (`voxel_of_cell`)
CELL_VOXELS = "sl_voxels"
# a mesh above this many quads is drawn as several actors of at most this many quads (`_sl_chunk` = (i, K)):
# View3D draws a newly added one chunk per event-loop turn over the previous chunks (renderer erase off), so
# the first frame of a big mesh — buffer upload + raster, 0.5 s for 1.5M quads on llvmpipe at load 0.6 — is
# K stalls of ~0.1 s instead of one (bench/bench_occupancy.py scattered); the composite is the same picture
CHUNK_QUADS = 250_000


def set_interactive_lod(renderer, interacting: bool) -> int:
    """Swap every voxel actor of `renderer` to its coarse mesh while the user drags (and back on release).

    The software rasteriser's frame time grows with the primitive count, so a 2× coarser mesh (about a
    third of the quads) keeps rotation fluid; the still frame is always the full-detail one. Returns the
    number of actors switched.
    """
    n = 0
    for a in items(renderer.GetViewProps()):
        data = getattr(a, "_sl_lod_data", None)
        if data is None:
            continue
        want = data[1] if interacting else data[0]
        m = a.GetMapper()
        if m.GetInput() is not want:
            m.SetInputData(want)
            n += 1
    return n


def class_lut(label_set: str | None, opacity: float = 1.0) -> vtk.vtkLookupTable:
    cols = get_label_set(label_set or "occ3d").lut().astype(np.float64) / 255.0
    dark = cols.sum(1) < 0.15
    cols[dark] = 0.43  # black classes (others / unlabeled) would vanish on the dark background
    return _lut(cols, opacity)


def diff_lut(opacity: float = 1.0) -> vtk.vtkLookupTable:
    cols = np.full((256, 3), 0.5)
    cols[: len(DIFF_COLORS)] = DIFF_COLORS / 255.0
    return _lut(cols, opacity)


def _lut(cols: np.ndarray, opacity: float) -> vtk.vtkLookupTable:
    lut = vtk.vtkLookupTable()
    lut.SetNumberOfTableValues(256)
    lut.SetTableRange(0, 255)
    for i, c in enumerate(cols):
        lut.SetTableValue(i, float(c[0]), float(c[1]), float(c[2]), opacity)
    lut.Build()
    return lut


def visible_voxels(layer: VoxelGrid, style: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """(drawn opaque, drawn translucent or None) boolean grids for the style's class/mask/clip choices.

    These are selections of what to show, not results: the data and any comparison codes come from the engine.
    """
    codes = style.get("diff_codes")
    if codes is not None:
        base = codes > 0
    else:
        base = layer.occupied()
        if style.get("show_ignore") and layer.ignore_label is not None:
            base = base | (layer.labels == layer.ignore_label)  # occupied, class unknown: drawn grey
        hidden = style.get("hidden_classes") or ()
        if hidden:
            base &= ~np.isin(layer.labels, np.fromiter(hidden, np.int64))
    clip = style.get("clip")
    if clip is not None:
        ax, idx = int(clip[0]), int(clip[1])
        sl = [slice(None)] * 3
        sl[ax] = slice(idx + 1, None)
        base = base.copy()
        base[tuple(sl)] = False
    mask_name = style.get("mask")
    if not mask_name:
        return base, None
    if mask_name not in layer.masks:
        return base, None
    m = layer.masks[mask_name]
    if style.get("unobserved", "hide") == "translucent":
        return base & m, base & ~m
    return base & m, None


def surface_polydata(surf: Surface, voxel_size, scalars: np.ndarray, factor: int = 1) -> vtk.vtkPolyData:
    """Quads of `surf` (voxel size `voxel_size`, i.e. the fine size × `factor` for a coarse surface) with
    per-vertex class ids and, per cell, the fine-grid voxel box behind it (CELL_VOXELS)."""
    verts = surf.vertices(voxel_size, np.float32)
    pts = vtk.vtkPoints()
    pts.SetData(ns.numpy_to_vtk(verts, deep=True))
    n = surf.n
    cells = vtk.vtkCellArray()
    cells.SetData(ns.numpy_to_vtkIdTypeArray(np.arange(0, 4 * n + 1, 4, dtype=np.int64), deep=True),
                  ns.numpy_to_vtkIdTypeArray(np.arange(4 * n, dtype=np.int64), deep=True))
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    pd.SetPolys(cells)
    # class ids per vertex (4 per quad, vertices are not shared): the vertex-colour path is measurably faster
    # in the software rasteriser than per-cell scalars, which are looked up per fragment
    arr = ns.numpy_to_vtk(np.repeat(np.ascontiguousarray(scalars, np.uint8), 4), deep=True)
    arr.SetName("class")
    pd.GetPointData().SetScalars(arr)
    _set_cell_voxels(pd, surf.voxel_ranges(factor))
    return pd


def _sub_surface(surf: Surface, a: int, b: int) -> Surface:
    return Surface(*(getattr(surf, k)[a:b] for k in ("axis", "sign", "plane", "u0", "du", "v0", "dv", "labels")))


def mesh_polydata(surf: Surface, voxel_size, factor: int = 1) -> list[vtk.vtkPolyData]:
    """`surface_polydata` in chunks of at most CHUNK_QUADS quads (one polydata for smaller meshes)."""
    k = max(1, -(-surf.n // CHUNK_QUADS))
    if k == 1:
        return [surface_polydata(surf, voxel_size, surf.labels, factor)]
    cuts = np.linspace(0, surf.n, k + 1).astype(int)
    return [surface_polydata(sub, voxel_size, sub.labels, factor)
            for sub in (_sub_surface(surf, a, b) for a, b in zip(cuts[:-1], cuts[1:]))]


def _set_cell_voxels(pd: vtk.vtkPolyData, ranges: np.ndarray) -> None:
    # not the active scalars: the mapper colours from the point scalars and never uploads this array
    a = ns.numpy_to_vtk(np.ascontiguousarray(ranges), deep=True)
    a.SetName(CELL_VOXELS)
    pd.GetCellData().AddArray(a)


def voxel_of_cell(dataset, cell_id: int, world_pos, origin, voxel_size, drawn: np.ndarray
                  ) -> tuple[int, int, int] | None:
    """The voxel a pick on cell `cell_id` of a voxel mesh hit: the voxel box behind that quad (CELL_VOXELS)
    narrowed to the picked point (a merged quad spans many voxels; clamped into the box, so a point on the
    quad's edge still names one of its own voxels). A coarse quad's box holds factor³ fine voxels per block:
    the drawn one nearest the picked point. None when the dataset carries no voxel boxes."""
    arr = dataset.GetCellData().GetArray(CELL_VOXELS) if dataset is not None else None
    if arr is None or not 0 <= int(cell_id) < arr.GetNumberOfTuples():
        return None
    r = np.asarray(arr.GetTuple(int(cell_id)), float).astype(np.int64)
    shape = np.asarray(drawn.shape)
    lo, hi = np.clip(r[:3], 0, shape - 1), np.clip(r[3:], 0, shape - 1)
    local = (np.asarray(world_pos, float) - np.asarray(origin, float)) / np.asarray(voxel_size, float)
    v = np.clip(np.floor(local).astype(np.int64), lo, hi)
    if drawn[tuple(v)]:
        return tuple(int(x) for x in v)
    box = np.argwhere(drawn[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]) + lo
    if not len(box):
        return tuple(int(x) for x in v)
    return tuple(int(x) for x in box[np.argmin(((box + 0.5 - local) ** 2).sum(1))])


def surface_actor(surf: Surface, voxel_size, scalars, lut, opacity: float, position,
                  polydata: vtk.vtkPolyData | None = None) -> vtk.vtkActor:
    pd = polydata if polydata is not None else surface_polydata(surf, voxel_size, scalars)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputData(pd)
    mapper.SetLookupTable(lut)
    mapper.SetColorModeToMapScalars()
    mapper.SetScalarModeToUsePointData()
    mapper.InterpolateScalarsBeforeMappingOff()
    mapper.SetScalarRange(0, 255)
    mapper.UseLookupTableScalarRangeOn()
    mapper.StaticOn()  # the mesh never changes after build: skip pipeline checks every frame
    if hasattr(mapper, "SetVBOShiftScaleMethod"):
        # 0 = vtkOpenGLVertexBufferObject::DISABLE_SHIFT_SCALE (the enum is not wrapped): coordinates are metres
        # from the grid origin, exact enough in float32; the automatic shift/scale (1) would differ per chunk
        # (its own bounds) and move a few edge pixels between a chunked and a one-actor mesh (2 of 1M measured)
        mapper.SetVBOShiftScaleMethod(0)
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetOpacity(opacity)
    prop.SetInterpolationToFlat()
    prop.SetAmbient(0.25)
    prop.SetDiffuse(0.8)
    actor.SetPosition(*position)
    actor._sl_exact_pick = True  # noqa: SLF001 - a closed surface: View3D picks only cells the ray hits
    return actor


def ego_marker(position, frame: str) -> vtk.vtkActor:
    """A car-sized wire box at the ego/sensor origin with a nose line, so the viewer sees where 'we' are."""
    src = vtk.vtkCubeSource()
    src.SetXLength(4.0)
    src.SetYLength(1.8)
    src.SetZLength(1.5)
    src.SetCenter(0.0, 0.0, 0.75 if frame == "ego" else -1.0)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(src.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    p = actor.GetProperty()
    p.SetRepresentationToWireframe()
    p.SetColor(1.0, 1.0, 1.0)
    p.SetLineWidth(2.0)
    p.LightingOff()
    actor.SetPosition(*position)
    actor.PickableOff()
    return actor


# above this many occupied voxels the window builds the mesh in a job (View3D.add_layer → `background`): the GUI
# thread keeps its event loop and shows the grid's outline until the mesh lands; below it a build is a few
# tens of ms and stays synchronous (a job round trip would cost more than it saves)
BACKGROUND_VOXELS = 120_000


def prebuild(layer: VoxelGrid, style: dict, ctx=None) -> dict:
    """The heavy half of `build_voxels` (visible set, exposed faces, the coarse rotation mesh and their VTK
    polydata), safe to run in a worker thread: VTK data objects may be made off the GUI thread as long as no
    render window sees them there. Pass the result as style["prebuilt"]; the GUI thread then only makes the
    mapper and actor. `ctx` (a JobContext) is checked between steps so a superseded build stops early."""
    check = ctx.check_cancel if ctx is not None else (lambda: None)
    opaque, translucent = visible_voxels(layer, style)
    codes = style.get("diff_codes")
    values = codes if codes is not None else layer.labels
    vs = np.asarray(layer.voxel_size)
    out = {"labels": layer.labels, "codes": codes, "opaque": opaque, "translucent": translucent}
    lod = style.get("lod", "auto")
    if int(opaque.sum()) <= LOD_AUTO_VOXELS and lod in ("auto", 1, 0, None, False):
        check()
        surf = out["surface"] = exposed_faces(opaque, values, merge=style.get("merge", True))
        check()
        out["polydata"] = mesh_polydata(surf, vs)
        if surf.n > LOD_INTERACTIVE_QUADS and lod in ("auto", 0, None, False):
            check()
            vals2, occ2 = downsample_labels(values, opaque, 2)
            s2c = out["coarse"] = exposed_faces(occ2, vals2, merge=True)
            out["coarse_polydata"] = surface_polydata(s2c, vs * 2, s2c.labels, 2)
    elif lod == "auto" or (lod and int(lod) > 1):  # a coarser still frame (> LOD_AUTO_VOXELS, or asked for)
        f = 2 if lod == "auto" else int(lod)
        check()
        vals, occ = downsample_labels(values, opaque, f)
        surf = exposed_faces(occ, vals, merge=style.get("merge", True))
        out["lod_surface"] = (f, surf, mesh_polydata(surf, vs * f, f))
    if translucent is not None and translucent.any():
        check()
        out["translucent_surface"] = exposed_faces(translucent, values, merge=True)
    return out


def wants_background(layer: VoxelGrid, style: dict) -> bool:
    """Whether View3D should build this grid's mesh in a job (big grids), not on the GUI thread."""
    if style.get("prebuilt") is not None or style.get("placeholder"):
        return False
    return int(np.count_nonzero(layer.labels != layer.free_label) if layer.free_label is not None
               else layer.labels.size) > BACKGROUND_VOXELS


def outline_actor(layer: VoxelGrid, style: dict) -> vtk.vtkActor:
    """The grid's bounding box as a thin grey wire frame: drawn while its mesh is built in the background, so
    the window shows where the grid is (and the camera can frame it) from the first frame on."""
    lo, hi = layer.bounds()
    o = np.asarray(style["origin"], float) if style.get("origin") is not None else np.zeros(3)
    src = vtk.vtkOutlineSource()
    src.SetBounds(*[float(v) for pair in zip(lo - o, hi - o) for v in pair])
    m = vtk.vtkPolyDataMapper()
    m.SetInputConnection(src.GetOutputPort())
    a = vtk.vtkActor()
    a.SetMapper(m)
    a.GetProperty().SetColor(0.6, 0.62, 0.66)
    a.GetProperty().LightingOff()
    a.PickableOff()
    a._sl_placeholder = True  # noqa: SLF001
    return a


@register_builder(VoxelGrid)
def build_voxels(layer: VoxelGrid, style: dict) -> list:
    if style.get("placeholder"):
        return [tag_actor(outline_actor(layer, style), layer, None)]
    origin_local = np.asarray(layer.origin, np.float64) - (np.asarray(style["origin"], np.float64)
                                                           if style.get("origin") is not None else 0.0)
    vs = np.asarray(layer.voxel_size)
    codes = style.get("diff_codes")
    pre = style.get("prebuilt")
    if pre is not None and (pre.get("labels") is not layer.labels or pre.get("codes") is not codes):
        pre = None  # built for other data: ignore
    opaque, translucent = (pre["opaque"], pre["translucent"]) if pre is not None else visible_voxels(layer, style)
    values = codes if codes is not None else layer.labels
    lut_fn = (lambda o: diff_lut(o)) if codes is not None else (lambda o: class_lut(layer.label_set, o))
    opacity = float(style.get("opacity", 1.0))
    lod = style.get("lod", "auto")
    factor = 1
    if lod == "auto":
        factor = 2 if int(opaque.sum()) > LOD_AUTO_VOXELS else 1
    elif lod:
        factor = int(lod)
    actors = []
    if factor > 1:
        if pre is not None and pre.get("lod_surface") is not None and pre["lod_surface"][0] == factor:
            _, surf, pds = pre["lod_surface"]
        else:
            vals, occ = downsample_labels(values, opaque, factor)
            surf, pds = exposed_faces(occ, vals, merge=style.get("merge", True)), None
        pds = pds if pds is not None else mesh_polydata(surf, vs * factor, factor)
    else:
        have = pre is not None and "surface" in pre
        surf = pre["surface"] if have else exposed_faces(opaque, values, merge=style.get("merge", True))
        pds = pre["polydata"] if have and pre.get("polydata") is not None else mesh_polydata(surf, vs)
    lut = lut_fn(opacity)
    chunks = [surface_actor(surf, vs * factor, None, lut, opacity, origin_local, polydata=pd) for pd in pds]
    for i, c in enumerate(chunks):
        c.GetProperty().BackfaceCullingOn()  # exposed faces are closed and wound outward
        if len(chunks) > 1:
            c._sl_chunk = (i, len(chunks))  # noqa: SLF001 - View3D draws a new mesh chunk by chunk
    actor = chunks[0]  # the layer's main actor: LOD facts and the coarse rotation mesh live on it
    actor._sl_lod = factor  # noqa: SLF001
    actor._sl_faces = surf.n  # noqa: SLF001
    if factor == 1 and surf.n > LOD_INTERACTIVE_QUADS and lod in ("auto", 0, None, False):
        if pre is not None and "coarse" in pre:
            s2c, pd2 = pre["coarse"], pre.get("coarse_polydata")
        else:
            vals2, occ2 = downsample_labels(values, opaque, 2)
            s2c, pd2 = exposed_faces(occ2, vals2, merge=True), None
        # coarse mesh in the same voxel-unit frame as the full one (2× larger voxels)
        actor._sl_lod_data = (actor.GetMapper().GetInput(),  # noqa: SLF001
                              pd2 if pd2 is not None else surface_polydata(s2c, vs * 2, s2c.labels, 2))
        actor._sl_lod_faces = s2c.n  # noqa: SLF001
        if len(chunks) > 1:  # while rotating the coarse mesh (on chunk 0) stands for all chunks
            empty = vtk.vtkPolyData()
            for c in chunks[1:]:
                c._sl_lod_data = (c.GetMapper().GetInput(), empty)  # noqa: SLF001
    compare = style.get("compare_to")
    names = get_label_set(layer.label_set or "occ3d")

    def pick(cell_id: int, point_id: int, pos, dataset=None) -> dict:
        # the picked cell's own voxel box (exact); from the position alone only when no mesh came with the pick
        idx = voxel_of_cell(dataset, cell_id, pos, layer.origin, layer.voxel_size, opaque)
        if idx is None:
            idx = voxel_at_surface_point(layer, pos, opaque)
        if idx is None:
            return {"layer": layer.name}
        return voxel_info(layer, idx, compare, codes)

    pick.takes_dataset = True  # View3D passes the picked polydata (full, coarse or a clip cap)
    actors.extend(tag_actor(c, layer, pick) for c in chunks)
    if translucent is not None and translucent.any():
        s2 = pre["translucent_surface"] if pre is not None and "translucent_surface" in pre else \
            exposed_faces(translucent, values, merge=True)
        t_op = float(style.get("unobserved_opacity", 0.18))
        ta = surface_actor(s2, vs, s2.labels, lut_fn(t_op), t_op, origin_local)
        ta.PickableOff()
        actors.append(tag_actor(ta, layer, None))
    hl = style.get("highlight")
    if hl is not None and len(hl):
        hmask = np.zeros(layer.shape, bool)
        hi = np.asarray(hl, int).reshape(-1, 3)
        hmask[tuple(hi.T)] = True
        s3 = exposed_faces(hmask, np.full(layer.shape, 255, np.uint8), merge=True)
        ha = surface_actor(s3, vs, s3.labels, _lut(np.ones((256, 3)), 1.0), 1.0, origin_local)
        ha.GetProperty().SetRepresentationToWireframe()
        ha.GetProperty().SetLineWidth(3.0)
        ha.GetProperty().LightingOff()
        ha.PickableOff()
        actors.append(tag_actor(ha, layer, None))
    if style.get("ego_marker", True) and layer.frame in ("ego", "lidar"):
        lo, hi = layer.bounds()
        if np.all(lo <= 0) and np.all(hi[:2] >= 0):
            actors.append(tag_actor(ego_marker(-(np.asarray(style["origin"], float) if style.get("origin") is not None
                                                 else np.zeros(3)), layer.frame), layer, None))
    return actors


def voxel_at_surface_point(layer: VoxelGrid, world_pos, drawn: np.ndarray) -> tuple[int, int, int] | None:
    """The drawn voxel whose face holds a world point, from the position alone (a pick that came without its
    cell; View3D's picks go through `voxel_of_cell`, which cannot land beside the face)."""
    local = (np.asarray(world_pos, float) - np.asarray(layer.origin)) / np.asarray(layer.voxel_size)
    cands = [local] + [local + s * 0.02 * e for e in np.eye(3) for s in (1, -1)]
    best = None
    for c in cands:
        i = np.floor(c).astype(int)
        if np.all(i >= 0) and np.all(i < layer.shape):
            if drawn[tuple(i)]:
                return tuple(int(v) for v in i)
            best = best or tuple(int(v) for v in i)
    return best


def voxel_info(layer: VoxelGrid, idx: tuple[int, int, int], compare: VoxelGrid | None = None,
               codes: np.ndarray | None = None) -> dict:
    """Inspector content for one voxel: indices, metric centre, class, masks, GT class and score."""
    names = get_label_set(layer.label_set or "occ3d")
    c = layer.centers(np.array([idx]))[0]
    lab = int(layer.labels[tuple(idx)])
    info = {"_kind": "voxel", "_index": tuple(int(v) for v in idx), "_value": lab,
            "layer": layer.name, "voxel (i, j, k)": f"{idx[0]}, {idx[1]}, {idx[2]}",
            "centre (m)": f"{c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}", "class": f"{lab} {names.name_of(lab)}"}
    for k, m in layer.masks.items():
        info[k] = bool(m[idx])
    if layer.scores is not None:
        info["score"] = f"{float(layer.scores[idx]):.3f}"
    if compare is not None and compare.shape == layer.shape:
        g = int(compare.labels[idx])
        info["GT class"] = f"{g} {names.name_of(g)}"
        for k, m in compare.masks.items():
            info[f"GT {k}"] = bool(m[idx])
    if codes is not None:
        info["comparison"] = DIFF_NAMES[int(codes[idx])]
    return info


def apply_clip(actors: list, layer: VoxelGrid, drawn: np.ndarray, values: np.ndarray, axis: int, index: int,
               origin_local, renderer) -> vtk.vtkActor | None:
    """Clip a built grid at `index` along `axis` (keep voxels ≤ index) without rebuilding its mesh: a GPU
    clipping plane on every actor of the layer, plus a small cap actor with the faces that the cut exposes
    (occupied voxels of slab `index` whose neighbour in slab `index + 1` is occupied too). Returns the cap
    actor (already added to `renderer`), or None when there is nothing to cap."""
    vs = np.asarray(layer.voxel_size, float)
    o = np.asarray(origin_local, float)
    p0 = o.copy()
    p0[axis] += (index + 1) * vs[axis] + 1e-4 * vs[axis]
    n = np.zeros(3)
    n[axis] = -1.0
    # one plane per actor set, moved in place on later steps: adding or removing a mapper's clipping plane
    # changes the mapper (its buffers are rebuilt at the next frame), moving the plane only changes a uniform
    plane = next((getattr(a, "_sl_clip_plane", None) for a in actors if getattr(a, "_sl_clip_plane", None)), None)
    plane = plane or vtk.vtkPlane()
    plane.SetOrigin(*p0)
    plane.SetNormal(*n)
    for a in actors:
        m = a.GetMapper()
        if m is None or not hasattr(m, "RemoveAllClippingPlanes"):
            continue
        cur = m.GetClippingPlanes()
        if not (cur is not None and cur.GetNumberOfItems() == 1 and cur.GetItem(0) is plane):
            m.RemoveAllClippingPlanes()
            m.AddClippingPlane(plane)
        a._sl_clip_plane = plane  # noqa: SLF001
    if not 0 <= index < layer.shape[axis] - 1:
        return None
    sl = [slice(None)] * 3
    sl[axis] = index
    nxt = list(sl)
    nxt[axis] = index + 1
    cap = drawn[tuple(sl)] & drawn[tuple(nxt)]
    if not cap.any():
        return None
    ij = np.argwhere(cap)
    b, c = [d for d in range(3) if d != axis]
    base = np.zeros((len(ij), 3))
    base[:, axis] = index + 1
    base[:, b], base[:, c] = ij[:, 0], ij[:, 1]
    eb, ec = np.zeros(3), np.zeros(3)
    eb[b], ec[c] = 1.0, 1.0
    quad = np.stack([base, base + eb, base + eb + ec, base + ec], 1)  # wound so the normal faces +axis
    if axis == 1:
        quad = quad[:, ::-1]
    verts = (quad.reshape(-1, 3) * vs).astype(np.float32)
    labels_at = values[tuple(sl)][cap]
    pts = vtk.vtkPoints()
    pts.SetData(ns.numpy_to_vtk(verts, deep=True))
    cells = vtk.vtkCellArray()
    k = len(ij)
    cells.SetData(ns.numpy_to_vtkIdTypeArray(np.arange(0, 4 * k + 1, 4, dtype=np.int64), deep=True),
                  ns.numpy_to_vtkIdTypeArray(np.arange(4 * k, dtype=np.int64), deep=True))
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    pd.SetPolys(cells)
    arr = ns.numpy_to_vtk(np.repeat(np.ascontiguousarray(labels_at, np.uint8), 4), deep=True)
    pd.GetPointData().SetScalars(arr)
    vox = np.zeros((k, 3), np.int64)  # each cap quad covers one voxel of slab `index`
    vox[:, axis], vox[:, b], vox[:, c] = index, ij[:, 0], ij[:, 1]
    _set_cell_voxels(pd, np.concatenate([vox, vox], 1).astype(np.int32))
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputData(pd)
    main = actors[0].GetMapper() if actors else None
    if main is not None:
        mapper.SetLookupTable(main.GetLookupTable())
    mapper.SetColorModeToMapScalars()
    mapper.SetScalarModeToUsePointData()
    mapper.SetScalarRange(0, 255)
    mapper.UseLookupTableScalarRangeOn()
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    p = actor.GetProperty()
    p.SetInterpolationToFlat()
    p.SetAmbient(0.25)
    p.SetDiffuse(0.8)
    actor.SetPosition(*o)
    # a click on the cut picks the voxel under the cap (with the layer's own pick): the clipped mesh is open
    # there, and a ray through the opening would otherwise hit the far side of the solid
    owner = next((a for a in actors if getattr(a, "_sl_pick", None) is not None), None)
    if owner is not None:
        actor._sl_layer, actor._sl_pick = owner._sl_layer, owner._sl_pick  # noqa: SLF001
        actor._sl_exact_pick = True  # noqa: SLF001
    else:
        actor.PickableOff()
    renderer.AddViewProp(actor)
    return actor


# the hooks View3D uses to build a big grid's mesh in a job (see View3D.add_layer)
build_voxels.background = wants_background
build_voxels.prebuild = prebuild
