"""LiDAR → semantic occupancy: per-voxel majority vote, ray-cast visibility and multi-frame aggregation.

Written in torch so the same code runs on CPU and CUDA. The ray caster enumerates every grid-plane
crossing of every ray at once (see `raycast_visibility`); it is exact, unlike sampling points along the
ray, which skips voxels that a ray only clips at a corner, and needs no Python loop per ray or per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..jobs import JobContext
from ..scene import VoxelGrid
from .grids import GridSpec

# classes that move: taken from the current frame only when aggregating (static ones are accumulated)
DYNAMIC = {"occ3d": (2, 3, 4, 5, 6, 7, 9, 10), "semantickitti": (1, 2, 3, 4, 5, 6, 7, 8)}


def voxel_indices(points: np.ndarray, spec: GridSpec):
    """(integer index M×3, boolean 'inside' N) of metric points in the grid (floor, half-open cells)."""
    import torch

    p = torch.as_tensor(np.asarray(points, np.float64))
    idx = torch.floor((p - torch.tensor(spec.origin, dtype=torch.float64)) /
                      torch.tensor(spec.voxel_size, dtype=torch.float64)).to(torch.int64)
    shape = torch.tensor(spec.shape)
    inside = ((idx >= 0) & (idx < shape)).all(1)
    return idx, inside


def majority_vote(points: np.ndarray, labels: np.ndarray, spec: GridSpec, n_classes: int,
                  device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Dense label grid (free where no point) by per-voxel majority of point labels, and per-voxel point counts.

    Ties go to the lowest class id (torch.argmax returns the first maximum). Labels ≥ n_classes (e.g. 255
    ignore) take part in the vote as one extra 'ignore' class so a voxel of mostly ignored points stays 255.
    """
    import torch

    labels = np.asarray(labels).astype(np.int64)
    if len(points) != len(labels):
        raise ValueError(f"{len(points)} points but {len(labels)} labels")
    idx, inside = voxel_indices(points, spec)
    idx, lab = idx[inside].to(device), torch.as_tensor(labels, device=device)[inside.to(device)]
    X, Y, Z = spec.shape
    lin = (idx[:, 0] * Y + idx[:, 1]) * Z + idx[:, 2]
    ign = n_classes  # one extra column for labels outside the class table
    lab = torch.where((lab >= 0) & (lab < n_classes), lab, torch.full_like(lab, ign))
    uniq, inv = torch.unique(lin, return_inverse=True)
    votes = torch.zeros(len(uniq), n_classes + 1, dtype=torch.int64, device=device)
    votes.index_put_((inv, lab), torch.ones_like(lab), accumulate=True)
    win = votes.argmax(1)
    win = torch.where(win == ign, torch.full_like(win, spec.ignore_label), win)
    dense = torch.full((X * Y * Z,), spec.free_label, dtype=torch.int64, device=device)
    dense[uniq] = win
    counts = torch.zeros(X * Y * Z, dtype=torch.int32, device=device)
    counts[uniq] = votes.sum(1).to(torch.int32)
    return (dense.view(X, Y, Z).cpu().numpy().astype(np.uint8), counts.view(X, Y, Z).cpu().numpy())


def raycast_visibility(points: np.ndarray, origin, spec: GridSpec, device: str = "cpu",
                       ctx: JobContext | None = None, max_range: float | None = None,
                       chunk_crossings: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Cast a ray from the sensor `origin` to every point through the grid.

    Returns (observed, passed): `passed` marks voxels some ray crossed before reaching its end point
    (observed free space), `observed` = passed ∪ end-point voxels (the Occ3D `mask_lidar` notion).

    Every voxel a segment visits touches one of the grid planes the segment crosses, so instead of
    stepping cell by cell the caster enumerates all plane crossings of all rays at once (a ray crossing
    n planes yields n crossings) and marks the two cells on either side of each crossing. Order does not
    matter for a visibility mask, so there is no sort and no per-step loop; rays are processed in chunks
    to bound memory.
    """
    import torch

    ctx = ctx or JobContext()
    dt = torch.float64
    o = torch.as_tensor(np.asarray(origin, np.float64).reshape(3), dtype=dt, device=device)
    P = torch.as_tensor(np.asarray(points, np.float64).reshape(-1, 3), dtype=dt, device=device)
    lo = torch.tensor(spec.origin, dtype=dt, device=device)
    vs = torch.tensor(spec.voxel_size, dtype=dt, device=device)
    shape = torch.tensor(spec.shape, device=device)
    d = P - o
    if max_range is not None:
        n = d.norm(dim=1, keepdim=True).clamp_min(1e-12)
        d = torch.where(n > max_range, d / n * max_range, d)
    X, Y, Z = spec.shape
    NV = X * Y * Z
    passed = torch.zeros(NV + 1, dtype=torch.bool, device=device)  # last slot: sink for invalid crossings
    ends = torch.zeros(NV, dtype=torch.bool, device=device)
    # continuous cell coordinates of start and end; plane k of axis a lies at coordinate k
    cs = (o - lo) / vs
    ce = (o + d - lo) / vs
    eidx = torch.floor(ce).to(torch.int64)
    ein = ((eidx >= 0) & (eidx < shape)).all(1)
    e = eidx[ein]
    ends[(e[:, 0] * Y + e[:, 1]) * Z + e[:, 2]] = True
    # clip each segment o + t·d, t ∈ [0, 1], to the grid box (slab test) so only in-grid planes count
    dc = d / vs  # direction in cell units
    nz = dc != 0
    safe = torch.where(nz, dc, torch.ones_like(dc))
    inv_dc = torch.where(nz, 1.0 / safe, torch.zeros_like(dc))
    t0 = torch.where(nz, (0 - cs) / safe, torch.where((cs >= 0) & (cs <= shape), -torch.inf, torch.inf).expand_as(dc))
    t1 = torch.where(nz, (shape - cs) / safe, torch.full_like(dc, torch.inf))
    t_in = torch.minimum(t0, t1).max(1).values.clamp_min(0.0)
    t_out = torch.maximum(t0, t1).min(1).values.clamp_max(1.0)
    hit = t_in < t_out
    a_in = cs + dc * t_in[:, None]
    a_out = cs + dc * t_out[:, None]
    # planes crossed per axis inside the clipped segment
    kmin = torch.ceil(torch.minimum(a_in, a_out)).clamp(min=0).minimum(shape.to(dt))
    kmax = torch.floor(torch.maximum(a_in, a_out)).clamp(min=0).minimum(shape.to(dt))
    counts = torch.where(hit[:, None] & nz, (kmax - kmin + 1).clamp_min(0), torch.zeros_like(kmax)).to(torch.int64)
    per_ray = counts.sum(1)
    # chunk rays so that one chunk holds about `chunk_crossings` crossings
    csum = torch.cumsum(per_ray, 0)
    total = int(csum[-1]) if len(csum) else 0
    n_chunks = max(1, -(-total // chunk_crossings))
    bounds = torch.searchsorted(csum, torch.arange(1, n_chunks + 1, device=device) * (total / n_chunks))
    strides = (Y * Z, Z, 1)
    sink = torch.tensor(NV, device=device)
    start = 0
    for ci, stop in enumerate(bounds.tolist()):
        stop = min(len(P), stop + 1) if ci < n_chunks - 1 else len(P)
        if stop <= start:
            continue
        for a in range(3):
            cnt = counts[start:stop, a]
            m = int(cnt.sum())
            if m == 0:
                continue
            ray = torch.repeat_interleave(torch.arange(start, stop, device=device), cnt)
            first = torch.cumsum(cnt, 0) - cnt
            k = kmin[ray, a] + (torch.arange(m, device=device) - first[ray - start]).to(dt)
            t = (k - cs[a]) * inv_dc[ray, a]
            ok = (t > 0) & (t < 1)
            ki = k.to(torch.int64)
            lin = ki * strides[a]
            for b in range(3):  # the two in-plane coordinates of the crossing point
                if b == a:
                    continue
                cb = torch.floor(cs[b] + dc[ray, b] * t).to(torch.int64)
                ok &= (cb >= 0) & (cb < spec.shape[b])
                lin += cb * strides[b]
            # the cells on either side of the plane: k (if k < n) and k − 1 (if k ≥ 1)
            passed[torch.where(ok & (ki < spec.shape[a]), lin, sink)] = True
            passed[torch.where(ok & (ki >= 1), lin - strides[a], sink)] = True
        ctx.progress((ci + 1) / n_chunks, f"ray casting: chunk {ci + 1}/{n_chunks}")
        start = stop
    passed = passed[:NV]
    passed &= ~ends
    observed = passed | ends
    return observed.view(X, Y, Z).cpu().numpy(), passed.view(X, Y, Z).cpu().numpy()


@dataclass
class Scan:
    """One labelled LiDAR frame in its sensor frame: points (N×3), labels (N), pose sensor→world (4×4)."""

    points: np.ndarray
    labels: np.ndarray
    pose: np.ndarray | None = None
    origin: np.ndarray | None = None  # sensor origin in the scan's frame (default 0)
    name: str = ""


def aggregate(scans: list[Scan], current: int, label_set: str, to_grid: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Points of all scans in the current scan's frame: static classes from every frame, dynamic ones only
    from the current frame (moving objects would smear). Returns (points, labels, per-point-set origins)."""
    cur = scans[current]
    if any(s.pose is None for s in scans) and len(scans) > 1:
        raise InputError(None, "aggregating several scans needs a pose for each (--poses)")
    dyn = np.asarray(DYNAMIC.get(label_set, ()), np.int64)
    T_cur_inv = np.linalg.inv(cur.pose) if cur.pose is not None else np.eye(4)
    pts, labs, origins = [], [], []
    for i, s in enumerate(scans):
        T = T_cur_inv @ s.pose if s.pose is not None else np.eye(4)
        keep = np.ones(len(s.points), bool) if i == current else ~np.isin(s.labels.astype(np.int64), dyn)
        p = s.points[keep] @ T[:3, :3].T + T[:3, 3]
        pts.append(p)
        labs.append(s.labels[keep])
        o = np.zeros(3) if s.origin is None else np.asarray(s.origin, float)
        origins.append(T[:3, :3] @ o + T[:3, 3])
    return np.concatenate(pts), np.concatenate(labs), origins


def lidar_to_occupancy(scans: list[Scan], spec: GridSpec, current: int | None = None, visibility: bool = True,
                       to_grid: np.ndarray | None = None, device: str = "cpu", ctx: JobContext | None = None,
                       name: str = "LiDAR occupancy") -> VoxelGrid:
    """The built-in task: voxelise labelled points (optionally aggregated) into `spec` with majority vote
    and an optional ray-cast LiDAR visibility mask. `to_grid` maps the scan frame into the grid frame
    (e.g. LiDAR→ego for Occ3D)."""
    from ..labels import get_label_set

    ctx = ctx or JobContext()
    if not scans:
        raise InputError(None, "no scans given")
    current = len(scans) - 1 if current is None else current
    T = np.eye(4) if to_grid is None else np.asarray(to_grid, float)
    n_classes = get_label_set(spec.label_set).n
    if spec.free_label < n_classes:
        n_cls_vote = n_classes
    else:
        n_cls_vote = n_classes
    with ctx.stage("aggregate"):
        ctx.progress(0.02, "aggregating frames" if len(scans) > 1 else "preparing points")
        pts, labs, origins = aggregate(scans, current, spec.label_set)
        pts = pts @ T[:3, :3].T + T[:3, 3]
        origins = [T[:3, :3] @ o + T[:3, 3] for o in origins]
    with ctx.stage("voxelise"):
        ctx.progress(0.1, f"majority vote over {len(pts):,} points")
        # the free label can never be voted: a labelled point means 'occupied'
        labs = labs.astype(np.int64)
        labs = np.where(labs == spec.free_label, n_cls_vote, labs)
        dense, counts = majority_vote(pts, labs, spec, n_cls_vote, device)
        dense[(counts > 0) & (dense == spec.free_label)] = spec.ignore_label
    masks = {}
    if visibility:
        with ctx.stage("raycast"):
            obs = np.zeros(spec.shape, bool)
            starts = np.cumsum([0] + [len(s.points) if i == current else
                                      int((~np.isin(s.labels.astype(np.int64), DYNAMIC.get(spec.label_set, ()))).sum())
                                      for i, s in enumerate(scans)])
            sub = ctx.sub(0.3, 0.95)
            for i, o in enumerate(origins):
                seg = pts[starts[i]:starts[i + 1]]
                inner = JobContext(lambda f, m, i=i: sub((i + f) / len(origins), m), cancel_event=ctx.cancel_event)
                o_i, _ = raycast_visibility(seg, o, spec, device, inner)
                obs |= o_i
            masks["mask_lidar"] = obs
    g = spec.empty(name)
    g.labels = dense
    g.masks = masks
    g.meta.update({"role": "prediction", "grid": spec.name, "points": int(len(pts)), "frames": len(scans)})
    g.scores = None
    ctx.progress(1.0, "done")
    return g
