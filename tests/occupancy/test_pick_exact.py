"""Exact voxel picking in the 3-D view: a click reports the voxel its ray actually hits — found here by an
exact voxel walk (Amanatides–Woo) in numpy, independently of VTK's picker — also when the ray passes a pixel
from another voxel (a tolerant cell picker took that voxel's face and resolved it to a free voxel beside it),
on merged faces (a pole's side is one quad), on the cap of a clipped grid and on an attribution shell."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore

from scenelens.engine.scene import AttributionMap, Scene, VoxelGrid

POLE, ROAD, WALL = 16, 11, 15  # vegetation, driveable surface, manmade (Occ3D ids)


def _grid() -> VoxelGrid:
    lab = np.full((60, 60, 16), 17, np.uint8)
    lab[:, :, 0] = ROAD
    for i, j in ((20, 24), (26, 30), (33, 22), (38, 34), (29, 40)):  # thin poles, one voxel wide
        lab[i, j, 1:12] = POLE
    lab[45:48, 10:50, 1:6] = WALL
    return VoxelGrid(name="poles", labels=lab, origin=(-12.0, -12.0, -1.0), voxel_size=(0.4, 0.4, 0.4),
                     label_set="occ3d", free_label=17)


def ray(view, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    """World-frame ray (origin, unit direction) through display point (x, y) of the view's renderer."""
    ren = view.renderer
    pts = []
    for z in (0.0, 1.0):
        ren.SetDisplayPoint(x, y, z)
        ren.DisplayToWorld()
        w = np.asarray(ren.GetWorldPoint(), float)
        pts.append(view.scene_renderer.to_world(w[:3] / w[3]))
    d = pts[1] - pts[0]
    return pts[0], d / np.linalg.norm(d)


def first_hit(occ: np.ndarray, origin, vs, p0, d):
    """(voxel index, entry point in voxel units, entry axis) of the first occupied voxel on the ray, or None:
    an exact grid walk (every voxel the ray enters, in order)."""
    o = (np.asarray(p0, float) - origin) / vs
    dv = np.asarray(d, float) / vs
    shape = np.asarray(occ.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ta, tb = (0 - o) / dv, (shape - o) / dv
    t0 = np.nanmax(np.minimum(ta, tb))
    t1 = np.nanmin(np.maximum(ta, tb))
    if t1 <= max(t0, 0):
        return None
    t = max(t0, 0.0)
    axis = int(np.nanargmax(np.minimum(ta, tb)))
    p = o + dv * t
    i = np.clip(np.floor(p + 1e-9 * np.sign(dv)).astype(int), 0, shape - 1)
    step = np.sign(dv).astype(int)
    with np.errstate(divide="ignore"):
        tdelta = np.abs(1.0 / dv)
        nxt = np.where(step > 0, (i + 1 - o) / dv, np.where(step < 0, (i - o) / dv, np.inf))
    while np.all(i >= 0) and np.all(i < shape):
        if occ[tuple(i)]:
            return tuple(int(v) for v in i), o + dv * t, axis
        axis = int(np.argmin(nxt))
        t = nxt[axis]
        i[axis] += step[axis]
        nxt[axis] += tdelta[axis]
    return None


def _clean(hit) -> bool:
    """The ray enters its voxel well inside a face (not within 3 % of a voxel of an edge)."""
    if hit is None:
        return False
    idx, p, axis = hit
    f = p - np.asarray(idx)
    return all(0.03 < f[a] < 0.97 for a in range(3) if a != axis)


def _near_misses(view, grid, occ, n_max=6):
    """Display points whose ray misses a pole by less than two pixels and hits the ground or the wall behind
    it: scanned outwards from each pole's projected axis at mid-height, the first pixels off its silhouette."""
    out = []
    org, vs = np.asarray(grid.origin), np.asarray(grid.voxel_size)
    for i, j in zip(*np.nonzero(grid.labels[:, :, 6] == POLE)):
        c = grid.centers(np.array([[i, j, 6]]))[0]
        x0, y0 = view.world_to_display(c)
        for side in (-1, 1):
            for dx in np.arange(0.5, 30, 0.5):
                x = x0 + side * dx
                hit = first_hit(occ, org, vs, *ray(view, x, y0))
                if hit is not None and hit[0][:2] != (i, j):
                    for extra in (0.5, 1.0, 1.5):  # just off the silhouette, within the old picker's reach
                        h2 = first_hit(occ, org, vs, *ray(view, x + side * extra, y0))
                        if _clean(h2) and grid.labels[h2[0]] != POLE:
                            out.append(((x + side * extra, y0), h2[0]))
                            break
                    break
            if len(out) >= n_max:
                return out
    return out


def _click(qtbot, view, x: float, y: float) -> dict:
    """A real left click (press + release on the VTK widget) at display point (x, y); the view's `picked`."""
    r = view.vtk_widget.devicePixelRatioF() or 1.0
    pos = QtCore.QPoint(int(round(x / r)), int(round(view.vtk_widget.height() - 1 - y / r)))
    got = []
    view.picked.connect(got.append)
    try:
        qtbot.mouseClick(view.vtk_widget, QtCore.Qt.LeftButton, pos=pos)
        qtbot.waitUntil(lambda: bool(got), timeout=5000)
    finally:
        view.picked.disconnect(got.append)
    return got[0]


def _aim(view) -> None:
    """A low oblique camera: the poles stand in front of the ground and the wall."""
    cam = view.renderer.GetActiveCamera()
    c = view.scene_renderer.to_local((0.0, 0.0, 0.0))
    cam.SetFocalPoint(*c)
    cam.SetPosition(*(c + np.array([-14.0, -18.0, 9.0])))
    cam.SetViewUp(0, 0, 1)
    cam.SetViewAngle(30)
    view.renderer.ResetCameraClippingRange()
    view.render()


def _display_points(view, x, y):
    """Display coordinates a real click at the nearest widget pixel arrives at (what the view picks)."""
    r = view.vtk_widget.devicePixelRatioF() or 1.0
    qx, qy = int(round(x / r)), int(round(view.vtk_widget.height() - 1 - y / r))
    return int(qx * r), int((view.vtk_widget.height() - 1 - qy) * r)


def test_click_next_to_a_pole_reports_the_voxel_behind_it(qtbot, window):
    g = _grid()
    window.set_scene(Scene("poles", [g]))
    v3 = window.view3d
    qtbot.wait(100)
    _aim(v3)
    qtbot.wait(50)
    occ = g.occupied()
    org, vs = np.asarray(g.origin), np.asarray(g.voxel_size)
    cands = _near_misses(v3, g, occ)
    checked = 0
    for (x, y), _ in cands:
        dx, dy = _display_points(v3, x, y)  # where the click lands (widget pixels are whole)
        hit = first_hit(occ, org, vs, *ray(v3, dx, dy))
        if not _clean(hit) or g.labels[hit[0]] == POLE:
            continue
        info = _click(qtbot, v3, dx, dy)
        assert info.get("voxel") == hit[0], (info.get("voxel"), hit[0], info.get("details"))
        lab = int(g.labels[hit[0]])
        assert info["details"]["class"] == f"{lab} {'driveable_surface' if lab == ROAD else 'manmade'}"
        assert window.inspector.info["voxel (i, j, k)"] == ", ".join(map(str, hit[0]))
        assert window.inspector.info["class"] == info["details"]["class"]
        checked += 1
    assert checked >= 3, f"only {checked} near-miss clicks found"
    # straight on a pole (its side is one merged quad of 11 voxels): the voxel at the height of the hit
    poles = 0
    for i, j in zip(*np.nonzero(g.labels[:, :, 4] == POLE)):
        for k in (3, 8):
            x, y = _display_points(v3, *v3.world_to_display(g.centers(np.array([[i, j, k]]))[0]))
            hit = first_hit(occ, org, vs, *ray(v3, x, y))
            if not _clean(hit) or g.labels[hit[0]] != POLE:
                continue
            info = _click(qtbot, v3, x, y)
            assert info.get("voxel") == hit[0], (info.get("voxel"), hit[0])
            assert info["details"]["class"] == f"{POLE} vegetation"
            poles += 1
    assert poles >= 4


def test_pick_on_the_cap_of_a_clipped_grid(qtbot, window):
    """Clipped at k = 3 (the wall's top cut open): a click on the cap is the wall voxel at k = 3 under it, and
    a click next to the cut pole reports what is behind it, not the clipped-away part of the pole."""
    g = _grid()
    window.set_scene(Scene("poles", [g]))
    window.set_workspace("Occupancy")
    from tests.occupancy.occ_helpers import wb_of

    wb = wb_of(window)
    v3 = window.view3d
    wb.clip_axis.setCurrentIndex(0)  # z
    wb.set_slice(2, 3)
    wb.clip_check.setChecked(True)
    qtbot.wait(50)
    assert wb.clip == (2, 3) and wb._cap_actor is not None
    _aim(v3)
    clipped = g.occupied().copy()
    clipped[:, :, 4:] = False
    org, vs = np.asarray(g.origin), np.asarray(g.voxel_size)
    n = 0
    for j in (20, 30, 40):
        x, y = _display_points(v3, *v3.world_to_display(g.centers(np.array([[46, j, 3]]))[0] + [0, 0, 0.2]))
        hit = first_hit(clipped, org, vs, *ray(v3, x, y))
        if not _clean(hit):
            continue
        assert hit[0][2] == 3 and g.labels[hit[0]] == WALL  # the ray enters through the cut (the cap)
        info = _click(qtbot, v3, x, y)
        assert info.get("voxel") == hit[0], (info.get("voxel"), hit[0])
        n += 1
    assert n >= 2


def test_attribution_shell_pick_is_exact(qtbot, window):
    """An attribution map drawn as a voxel shell: a click beside one shown voxel reports the voxel hit
    behind it (the old picker took the nearer voxel's face and answered with an empty voxel beside it)."""
    s = np.zeros((30, 30, 10))
    s[:, :, 0] = 0.3
    s[12, 14, 1:9] = 1.0
    s[17, 9, 1:9] = -0.8
    m = AttributionMap(name="attr", scores=s, method="ig", meta={"origin": (-6.0, -6.0, -1.0),
                                                                 "voxel_size": (0.4, 0.4, 0.4)})
    window.set_scene(Scene("attr", [m]))
    v3 = window.view3d
    qtbot.wait(50)
    _aim(v3)
    shown = np.abs(s) > 0.02
    org, vs = np.asarray((-6.0, -6.0, -1.0)), np.full(3, 0.4)
    grid = VoxelGrid(name="x", labels=np.where(s > 0.5, POLE, np.where(s < -0.5, POLE, ROAD)).astype(np.uint8),
                     origin=tuple(org), voxel_size=tuple(vs), free_label=None)
    cands = _near_misses(v3, grid, shown, n_max=4)
    n = 0
    for (x, y), _ in cands:
        dx, dy = _display_points(v3, x, y)
        hit = first_hit(shown, org, vs, *ray(v3, dx, dy))
        if not _clean(hit) or abs(s[hit[0]]) > 0.5:
            continue
        info = _click(qtbot, v3, dx, dy)
        assert info.get("voxel") == hit[0], (info.get("voxel"), hit[0])
        assert info["details"]["score"] == s[hit[0]]
        n += 1
    assert n >= 2


def test_cell_voxel_ranges_survive_the_job_and_the_coarse_mesh():
    """The per-cell voxel range travels in the polydata the job builds (prebuild) and in the coarse mesh."""
    from vtk.util import numpy_support as ns

    from scenelens.gui.views.layers.voxels import CELL_VOXELS, build_voxels, prebuild

    g = _grid()
    st = {"origin": np.asarray(g.origin), "ego_marker": False}
    pre = prebuild(g, {**st, "merge": True})
    for acts in (build_voxels(g, st), build_voxels(g, {**st, "prebuilt": pre})):
        a = acts[0]
        pd = a.GetMapper().GetInput()
        rng = ns.vtk_to_numpy(pd.GetCellData().GetArray(CELL_VOXELS)).reshape(-1, 6)
        assert len(rng) == pd.GetNumberOfCells() == a._sl_faces
        occ = g.occupied()
        for lo, hi in rng[:: max(1, len(rng) // 200)].reshape(-1, 2, 3):
            assert np.all(occ[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1])  # a face's voxels are drawn
    a = build_voxels(g, {**st, "lod": 2})[0]
    rng = ns.vtk_to_numpy(a.GetMapper().GetInput().GetCellData().GetArray(CELL_VOXELS)).reshape(-1, 6)
    assert len(rng) == a._sl_faces and np.all(rng[:, 3:] - rng[:, :3] >= 1)  # coarse cells: 2-voxel blocks
