"""Densification of accumulated LiDAR occupancy, as SurroundOcc does it, with a dependency-free stand-in.

SurroundOcc (`tools/generate_occupancy_nuscenes`, `tools/generate_occupancy_with_own_data`, config
`depth 10, min_density 0.1, max_nn 20`) densifies the accumulated scene like this:

1. keep the scene points inside the grid's range;
2. normals from the 20 nearest neighbours (Open3D `estimate_normals(KDTreeSearchParamKNN(20))`), oriented
   towards the sensor (`orient_normals_towards_camera_location`, the grid frame's LiDAR origin);
3. screened Poisson surface reconstruction at octree depth 10 (`create_from_point_cloud_poisson`), then the
   vertices whose density is below the 10 % quantile are removed (`remove_vertices_by_mask`);
4. the occupied voxels are the voxels that hold a mesh vertex (inside the range);
5. each occupied voxel takes the class of the labelled scene point nearest to its centre (their chamfer
   nearest neighbour; a KD-tree here).

`poisson_densify` does exactly these steps with Open3D (the library SurroundOcc uses, so the surface comes
from the same Poisson implementation; `open3d` or `open3d-cpu`), imported only when asked for. Where Open3D
cannot be imported, `densify_scene(method="auto")` falls back to `closing_densify` — a binary closing of the
occupied set that never fills space a LiDAR ray passed through, new voxels labelled by their nearest occupied
neighbour — and says so in the returned info, which the builder stores in the grid's provenance
(`meta["densify"]`): which method ran, its parameters, the voxel counts before and after.
"""
from __future__ import annotations

import numpy as np

# SurroundOcc's config.yaml
POISSON_DEPTH = 10
POISSON_MIN_DENSITY = 0.1
NORMALS_MAX_NN = 20


def import_open3d():
    """Open3D's module (`open3d` or `open3d-cpu`; scripts/setup.sh installs it with the plotly/dash modules its
    package `__init__` imports, and the system needs libusb-1.0)."""
    import open3d

    return open3d


def open3d_version() -> str | None:
    """The importable Open3D's version, or None (not installed, or a build whose libraries are missing)."""
    try:
        o3d = import_open3d()
    except Exception:
        return None
    return str(getattr(o3d, "__version__", "?"))


def _in_range(points: np.ndarray, spec) -> np.ndarray:
    lo = np.asarray(spec.origin, float)
    hi = lo + np.asarray(spec.shape) * np.asarray(spec.voxel_size, float)
    return np.all((points >= lo) & (points < hi), axis=1)


def _voxel_index(points: np.ndarray, spec) -> np.ndarray:
    idx = np.floor((points - np.asarray(spec.origin, float)) / np.asarray(spec.voxel_size, float)).astype(np.int64)
    return np.clip(idx, 0, np.asarray(spec.shape) - 1)


LABEL_REACH = 2.0  # voxels: see poisson_densify


def poisson_surface_vertices(points: np.ndarray, sensor_origin, depth: int = POISSON_DEPTH,
                             min_density: float = POISSON_MIN_DENSITY, max_nn: int = NORMALS_MAX_NN,
                             n_threads: int = 1) -> np.ndarray:
    """Steps 2–3: the vertices of SurroundOcc's trimmed Poisson mesh of `points` (N×3, metres)."""
    o3d = import_open3d()

    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(np.ascontiguousarray(points, np.float64))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(int(max_nn)))
    pcd.orient_normals_towards_camera_location(np.asarray(sensor_origin, np.float64).reshape(3))
    mesh, dens = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pcd, depth=int(depth),
                                                                             n_threads=int(n_threads))
    dens = np.asarray(dens)
    if min_density and len(dens):
        mesh.remove_vertices_by_mask(dens < np.quantile(dens, min_density))
    return np.asarray(mesh.vertices, np.float64)


def poisson_densify(dense: np.ndarray, spec, points: np.ndarray, labels: np.ndarray, labelled: np.ndarray,
                    sensor_origin, depth: int = POISSON_DEPTH, min_density: float = POISSON_MIN_DENSITY,
                    max_nn: int = NORMALS_MAX_NN, n_threads: int = 1) -> np.ndarray:
    """SurroundOcc's densification (steps 1–5 above) of the grid-frame scene `points` with `labels`
    (`labelled` marks points that have a class). Returns the new label grid."""
    from scipy.spatial import cKDTree

    keep = _in_range(points, spec)
    pts = points[keep]
    out = np.full(spec.shape, spec.free_label, dense.dtype)
    if len(pts) < max(4, max_nn):  # too few points for normals: nothing to reconstruct
        return dense.copy()
    verts = poisson_surface_vertices(pts, sensor_origin, depth, min_density, max_nn, n_threads)
    verts = verts[_in_range(verts, spec)]
    occ = np.zeros(spec.shape, bool)
    occ[tuple(_voxel_index(verts, spec).T)] = True
    lab_keep, cls_keep = labelled[keep], labels[keep]
    cells = np.argwhere(occ)
    if not len(cells):
        return out
    if lab_keep.any():
        # SurroundOcc: the nearest labelled point's class. A class must not spread from labelled points (e.g.
        # only the boxed objects) over unlabelled surfaces, so a voxel whose nearest labelled point is more than
        # LABEL_REACH voxels farther than its nearest point of any kind stays ignore (fully labelled input, or
        # unlabelled sweeps between labelled keyframe points, are labelled as before)
        centres = np.asarray(spec.origin, float) + (cells + 0.5) * np.asarray(spec.voxel_size, float)
        d_lab, nn = cKDTree(pts[lab_keep]).query(centres)
        d_any, _ = cKDTree(pts).query(centres)
        reach = LABEL_REACH * float(np.max(spec.voxel_size))
        out[tuple(cells.T)] = np.where(d_lab <= d_any + reach, cls_keep[lab_keep][nn], spec.ignore_label)
    else:
        out[tuple(cells.T)] = spec.ignore_label  # no class anywhere: occupied, class unknown
    return out


def closing_densify(dense: np.ndarray, spec, known_free: np.ndarray, iterations: int = 1) -> np.ndarray:
    """The stand-in without Open3D: close one-voxel holes in the occupied surface (binary closing with a
    3×3×3 cross), never into space a LiDAR ray passed through; new voxels take the label of the nearest
    occupied voxel. It fills the gaps between scan rings that make sparse sweeps look striped and cannot
    invent surfaces far from the points — it is not a surface reconstruction."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    occ = dense != spec.free_label
    if not occ.any():
        return dense
    st = ndimage.generate_binary_structure(3, 1)
    closed = ndimage.binary_closing(occ, st, iterations=iterations, border_value=0)
    new = closed & ~occ & ~known_free
    if not new.any():
        return dense
    src = np.argwhere(occ)
    _, nn = cKDTree(src).query(np.argwhere(new))
    out = dense.copy()
    out[new] = dense[tuple(src[nn].T)]
    return out


def densify_scene(dense: np.ndarray, spec, points: np.ndarray, labels: np.ndarray, labelled: np.ndarray,
                  known_free: np.ndarray, sensor_origin, method: str = "auto", n_threads: int = 1,
                  depth: int = POISSON_DEPTH) -> tuple[np.ndarray, dict]:
    """Densify a built grid. `method`: 'poisson' (SurroundOcc, needs Open3D), 'closing', or 'auto' (Poisson
    when Open3D imports, else closing). Returns (labels, info) — info says which method ran and why."""
    from ..errors import InputError

    if method not in ("auto", "poisson", "closing"):
        raise InputError(None, f"unknown densification {method!r} (use auto, poisson or closing)")
    before = int(np.count_nonzero(dense != spec.free_label))
    ver = open3d_version() if method != "closing" else None
    if method == "poisson" and ver is None:
        raise InputError(None, "Poisson densification needs Open3D (pip install open3d-cpu); "
                               "use --densify closing for the dependency-free stand-in")
    if ver is not None:
        out = poisson_densify(dense, spec, points, labels, labelled, sensor_origin, depth=depth, n_threads=n_threads)
        info = {"method": "poisson", "library": f"open3d {ver}", "depth": int(depth),
                "min_density": POISSON_MIN_DENSITY, "normals_knn": NORMALS_MAX_NN,
                "as": "SurroundOcc: voxels holding a vertex of the trimmed Poisson mesh, nearest labelled point's class"}
    else:
        out = closing_densify(dense, spec, known_free)
        info = {"method": "closing",
                "why": "Open3D is not importable" if method == "auto" else "asked for",
                "as": "binary closing (3x3x3 cross) outside ray-observed free space, nearest occupied voxel's class"}
    info["voxels_before"] = before
    info["voxels_after"] = int(np.count_nonzero(out != spec.free_label))
    return out, info
