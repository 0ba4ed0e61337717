"""Interop with other viewers: a scene (or project) as a Rerun recording (`.rrd`), a voxel grid as a mesh.

Rerun layout (world = the scene frame, right-handed, Z up, metres):
* `world/points/NAME`       Points3D (RGB when the cloud has colours, else class ids under the label set's
                            annotation context, so Rerun shows class names and colours);
* `world/voxels/NAME`       Boxes3D, one solid box per occupied voxel, class ids as above;
* `world/cameras/NAME`      Transform3D (cam→frame) + Pinhole (K, resolution, RDF) + its image (JPEG/PNG
                            bytes as stored on disk, else raw RGB), so Rerun projects the 3D layers into it;
* `images/NAME`             Image (videos: each frame on the `frame` timeline, JPEG-encoded, capped);
* `world/skeletons/NAME`    3-D joints and bones per frame (2-D skeletons under `images/NAME`);
* `world/trajectories/NAME` the path as a line strip, and the pose per frame at `.../pose` (time in seconds
                            on the `time` timeline when the trajectory has timestamps);
* `world/correspondences/NAME` one segment per pair, green inliers, red outliers (world coordinates);
* `world/attribution/NAME`  per-point scores as coloured points; per-pixel scores as a colour-mapped image.
Every layer's own transform is logged on its entity. Layers are logged in scene order. Sequences go on the
`frame` sequence timeline: a manifest's per-frame layers (each frame under frame 0's entity paths, so Rerun
replaces them frame by frame) and an Occ3D folder's grids; skeletons, trajectories and videos use it too.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import InputError
from .scene import (AttributionMap, CameraRig, CorrespondenceSet, ImageLayer, Layer, PointCloud, Scene, Skeleton,
                    Trajectory, VoxelGrid)

MAX_VIDEO_FRAMES = 2000
MESH_SUFFIXES = (".ply", ".glb", ".gltf", ".obj", ".stl", ".off")


def _part(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_\-]+", "_", name).strip("_")
    return s or "layer"


def _unique(path: str, used: set[str]) -> str:
    p, i = path, 2
    while p in used:
        p, i = f"{path}_{i}", i + 1
    used.add(p)
    return p


def _rgb_of(pc: PointCloud) -> np.ndarray | None:
    for k in ("rgb", "color", "colors", "colour"):
        a = pc.attributes.get(k)
        if a is not None and a.ndim == 2 and a.shape[1] >= 3:
            a = np.asarray(a[:, :3])
            return (np.clip(a, 0, 1) * 255).astype(np.uint8) if a.dtype.kind == "f" else a.astype(np.uint8)
    return None


def _annotation(rr, label_set: str):
    from .labels import get_label_set

    ls = get_label_set(label_set)
    return rr.AnnotationContext([rr.AnnotationInfo(id=i, label=n, color=tuple(int(c) for c in ls.colors[i]))
                                 for i, n in enumerate(ls.names)])


def _colormap(v: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    v = np.asarray(v, float)
    lo, hi = np.nanmin(v) if v.size else 0.0, np.nanmax(v) if v.size else 1.0
    t = np.nan_to_num((v - lo) / (hi - lo if hi > lo else 1.0))
    return (colormaps["viridis"](t)[..., :3] * 255).astype(np.uint8)


def _world(layer: Layer, pts: np.ndarray) -> np.ndarray:
    T = np.asarray(layer.transform, float)
    return pts @ T[:3, :3].T + T[:3, 3] if not np.allclose(T, np.eye(4)) else pts


def _log_transform(rr, rec, path: str, layer: Layer, static: bool = True) -> None:
    T = np.asarray(layer.transform, float)
    if not np.allclose(T, np.eye(4)):
        rec.log(path, rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]), static=static)


def _image_archetype(rr, image: np.ndarray | None, path: str | None):
    if path and Path(path).suffix.lower() in (".jpg", ".jpeg", ".png") and Path(path).is_file():
        return rr.EncodedImage(path=path)  # the file's own bytes: a small recording, no re-encoding loss
    if image is not None:
        return rr.Image(np.ascontiguousarray(image))
    return None


def write_rrd(scene: Scene, out: str | Path, app_id: str = "scenelens") -> dict[str, str]:
    """Write `scene` as a Rerun recording; returns {entity path: what was logged} (skipped layers say why)."""
    import rerun as rr

    out = Path(out)
    if out.suffix != ".rrd":
        raise InputError(out, "a Rerun recording must end in .rrd")
    # a shallow copy: stepping through a sequence swaps layers, and the caller's scene (the window's) must not move
    scene = Scene(name=scene.name, layers=list(scene.layers), meta=dict(scene.meta), path=scene.path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    rec = rr.RecordingStream(app_id, make_default=False, make_thread_default=False)
    rec.save(str(tmp))
    logged: dict[str, str] = {}
    used: set[str] = set()
    rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
    contexts: set[str] = set()
    try:
        seq = scene.meta.get("frames") or []
        occ = scene.meta.get("occ_frames") or []
        if seq:  # a manifest sequence: shared layers once, per-frame layers at each frame on the timeline
            per_frame = [lay for lay in scene.layers if lay.meta.get("per_frame")]
            for lay in scene.layers:
                if not lay.meta.get("per_frame"):
                    _log_layer(rr, rec, scene, lay, used, logged, contexts)
            _log_manifest_frames(rr, rec, scene, [_part(lay.name) for lay in per_frame], used, logged, contexts)
        elif occ and scene.layers:  # an Occ3D folder: one grid per frame
            for lay in scene.layers[1:]:
                _log_layer(rr, rec, scene, lay, used, logged, contexts)
            _log_occ_frames(rr, rec, scene, occ, used, logged, contexts)
        else:
            for lay in scene.layers:
                _log_layer(rr, rec, scene, lay, used, logged, contexts)
        rec.flush()  # blocks until written (the default in every rerun-sdk release this supports)
    finally:
        rec.disconnect()
    tmp.replace(out)
    return logged


def _log_manifest_frames(rr, rec, scene: Scene, names: list[str], used: set[str], logged: dict,
                         contexts: set[str]) -> None:
    """Each frame's layers at `frame` = i, under the entity paths of frame 0's layers (so Rerun replaces them)."""
    from .io.manifest import load_frame

    frames = scene.meta.get("frames") or []
    start = int(scene.meta.get("frame_index", 0))
    for i in range(len(frames)):
        load_frame(scene, i)
        rec.set_time("frame", sequence=i)
        per = [lay for lay in scene.layers if lay.meta.get("per_frame")]
        mine: dict = {}
        for j, lay in enumerate(per):
            _log_layer(rr, rec, scene, lay, set(used), mine, contexts, static=False,
                       name=names[j] if j < len(names) else f"{_part(lay.name)}")
        for k, v in mine.items():
            logged[k] = f"{v.split(' (')[0]} ({len(frames)} frames on 'frame')"
    rec.reset_time()
    if frames:
        load_frame(scene, start)


def _log_occ_frames(rr, rec, scene: Scene, files: list[str], used: set[str], logged: dict, contexts: set[str]) -> None:
    from .io.occ3d import read_occ_npz

    first = scene.layers[0]
    name = _part(first.name)
    opts = dict(scene.meta.get("occ_options") or {})
    mine: dict = {}
    for i, f in enumerate(files):
        g = first if i == int(first.meta.get("frame_index", 0)) else read_occ_npz(Path(f), **opts)
        rec.set_time("frame", sequence=i)
        _log_layer(rr, rec, scene, g, set(used), mine, contexts, static=False, name=name)
    rec.reset_time()
    for k, v in mine.items():
        logged[k] = f"{v.split(' (')[0]} ({len(files)} frames on 'frame')"


def _context_for(rr, rec, path: str, label_set: str | None, contexts: set[str]) -> None:
    if label_set and path not in contexts:
        try:
            rec.log(path, _annotation(rr, label_set), static=True)
            contexts.add(path)
        except InputError:
            pass  # an unknown label set: class ids stay plain numbers


def _log_layer(rr, rec, scene: Scene, lay: Layer, used: set[str], logged: dict, contexts: set[str],
               static: bool = True, name: str | None = None) -> None:
    """Log one layer; `static=False` logs it at the current time (a frame of a sequence) under `name`."""
    name = name or _part(lay.name)
    if isinstance(lay, PointCloud):
        path = _unique(f"world/points/{name}", used)
        _log_transform(rr, rec, path, lay, static)
        rgb = _rgb_of(lay)
        labels = lay.attributes.get("label")
        kw: dict = {}
        if rgb is not None:
            kw["colors"] = rgb
        elif labels is not None and lay.label_set:
            _context_for(rr, rec, path, lay.label_set, contexts)
            kw["class_ids"] = np.asarray(labels, np.uint16)
        rec.log(path, rr.Points3D(np.asarray(lay.points, np.float32), **kw), static=static)
        logged[path] = f"Points3D ({lay.n:,} points)"
    elif isinstance(lay, VoxelGrid):
        path = _unique(f"world/voxels/{name}", used)
        _log_transform(rr, rec, path, lay, static)
        idx = np.argwhere(lay.occupied())
        _context_for(rr, rec, path, lay.label_set, contexts)
        half = np.asarray(lay.voxel_size, np.float32) / 2
        rec.log(path, rr.Boxes3D(centers=lay.centers(idx).astype(np.float32), half_sizes=np.tile(half, (len(idx), 1)),
                                 class_ids=lay.labels[tuple(idx.T)].astype(np.uint16), fill_mode="solid"), static=static)
        logged[path] = f"Boxes3D ({len(idx):,} voxels)"
    elif isinstance(lay, CameraRig):
        for cam in lay.cameras:
            path = _unique(f"world/cameras/{_part(cam.name)}", used)
            T = np.asarray(lay.transform, float) @ (np.eye(4) if cam.cam_to_frame is None
                                                     else np.asarray(cam.cam_to_frame, float))
            rec.log(path, rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]), static=static)
            size = cam.size or ((cam.image.shape[1], cam.image.shape[0]) if cam.image is not None else None)
            if cam.K is not None and size is not None:
                rec.log(path, rr.Pinhole(image_from_camera=np.asarray(cam.K, float), resolution=list(size),
                                         camera_xyz=rr.ViewCoordinates.RDF), static=static)
            img = _image_archetype(rr, cam.image, cam.image_path)
            if img is not None:
                rec.log(path, img, static=static)
            logged[path] = "Pinhole + image" if img is not None else "Pinhole"
    elif isinstance(lay, ImageLayer):
        path = _unique(f"images/{name}", used)
        if lay.n_frames > 1 and lay.path:
            n = _log_video(rr, rec, path, lay.path)
            logged[path] = f"EncodedImage ({n} frames on 'frame')"
        else:
            img = _image_archetype(rr, lay.image, lay.path)
            if img is None:
                logged[path] = "skipped (no pixels)"
                return
            rec.log(path, img, static=static)
            logged[path] = "Image"
    elif isinstance(lay, Skeleton):
        _log_skeleton(rr, rec, lay, name, used, logged)
    elif isinstance(lay, Trajectory):
        path = _unique(f"world/trajectories/{name}", used)
        P = np.asarray(lay.poses, float)
        if len(P) == 0:
            logged[path] = "skipped (no poses)"
            return
        _log_transform(rr, rec, path, lay, static)
        rec.log(path, rr.LineStrips3D([P[:, :3, 3].astype(np.float32)]), static=static)
        span = float(np.ptp(P[:, :3, 3], axis=0).max()) if len(P) > 1 else 1.0
        for i, T in enumerate(P):
            rec.set_time("frame", sequence=i)
            if lay.timestamps is not None and i < len(lay.timestamps):
                rec.set_time("time", duration=float(lay.timestamps[i]))
            rec.log(f"{path}/pose", *_pose_with_axes(rr, T, max(span / 20, 1e-3)))
        rec.reset_time()
        logged[path] = f"LineStrips3D + Transform3D ({len(P)} poses on 'frame')"
    elif isinstance(lay, CorrespondenceSet):
        path = _unique(f"world/correspondences/{name}", used)
        src, tgt = scene.get(lay.source_layer), scene.get(lay.target_layer)
        if not isinstance(src, PointCloud) or not isinstance(tgt, PointCloud) or len(lay.pairs) == 0:
            logged[path] = "skipped (source or target point cloud not in the scene)"
            return
        pr = np.asarray(lay.pairs, np.int64)
        a, b = _world(src, src.points[pr[:, 0]]), _world(tgt, tgt.points[pr[:, 1]])
        flag = lay.inlier if lay.inlier is not None else lay.gt_inlier
        kw = {}
        if flag is not None:
            kw["colors"] = np.where(np.asarray(flag, bool)[:, None], [[40, 200, 60]], [[220, 50, 50]]).astype(np.uint8)
        rec.log(path, rr.LineStrips3D(np.stack([a, b], 1).astype(np.float32), radii=-1.0, **kw), static=static)
        logged[path] = f"LineStrips3D ({len(pr):,} correspondences)"
    elif isinstance(lay, AttributionMap):
        path = _unique(f"world/attribution/{name}", used)
        on = scene.get(lay.on_layer)
        s = np.asarray(lay.scores)
        if isinstance(on, PointCloud) and s.ndim == 1 and len(s) == on.n:
            rec.log(path, rr.Points3D(_world(on, on.points).astype(np.float32), colors=_colormap(s)), static=static)
            logged[path] = f"Points3D ({len(s):,} scored points)"
        elif s.ndim == 2:
            path = _unique(f"images/attribution_{name}", used)
            rec.log(path, rr.Image(_colormap(s)), static=static)
            logged[path] = "Image (colour-mapped scores)"
        elif isinstance(on, VoxelGrid) and s.shape == on.shape:
            idx = np.argwhere(np.nan_to_num(s) > 0)
            half = np.asarray(on.voxel_size, np.float32) / 2
            rec.log(path, rr.Boxes3D(centers=_world(on, on.centers(idx)).astype(np.float32),
                                     half_sizes=np.tile(half, (len(idx), 1)), colors=_colormap(s[tuple(idx.T)]),
                                     fill_mode="solid"), static=static)
            logged[path] = f"Boxes3D ({len(idx):,} voxels with positive scores)"
        else:
            logged[path] = "skipped (scores do not match a layer in the scene)"
    else:
        logged[_unique(f"world/other/{name}", used)] = f"skipped ({type(lay).__name__} has no Rerun form)"


def _pose_with_axes(rr, T: np.ndarray, length: float) -> list:
    """A pose drawn as axes: newer rerun-sdk logs them as TransformAxes3D; 0.23 took Transform3D(axis_length=)."""
    if hasattr(rr, "TransformAxes3D"):
        return [rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]), rr.TransformAxes3D(length)]
    return [rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3], axis_length=length)]


def _log_video(rr, rec, path: str, video: str) -> int:
    import cv2

    from .io.image import VideoReader

    n = 0
    vr = VideoReader(video)
    try:
        for i, frame in enumerate(vr):
            if i >= MAX_VIDEO_FRAMES:
                break
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                break
            rec.set_time("frame", sequence=i)
            rec.log(path, rr.EncodedImage(contents=buf.tobytes(), media_type="image/jpeg"))
            n += 1
    finally:
        vr.close()
        rec.reset_time()
    return n


def _log_skeleton(rr, rec, sk: Skeleton, name: str, used: set[str], logged: dict) -> None:
    J = np.asarray(sk.joints, float)
    three_d = sk.dims == 3
    path = _unique(f"world/skeletons/{name}" if three_d else f"images/{name}", used)
    if J.ndim != 4 or J.size == 0:
        logged[path] = "skipped (no joints)"
        return
    if three_d:
        _log_transform(rr, rec, path, sk)
    T, P = J.shape[:2]
    conf = None if sk.confidence is None else np.asarray(sk.confidence, float)
    Pts, Lines = (rr.Points3D, rr.LineStrips3D) if three_d else (rr.Points2D, rr.LineStrips2D)
    bones = [(a, b) for a, b in sk.bones if a < J.shape[2] and b < J.shape[2]]
    for t in range(T):
        rec.set_time("frame", sequence=t)
        pts, segs = [], []
        for p in range(P):
            x = J[t, p]
            ok = np.isfinite(x).all(1)
            if conf is not None:
                ok &= conf[t, p] > 0
            pts.append(x[ok])
            segs += [x[[a, b]] for a, b in bones if ok[a] and ok[b]]
        rec.log(f"{path}/joints", Pts(np.concatenate(pts).astype(np.float32) if pts else np.zeros((0, J.shape[3]))))
        rec.log(f"{path}/bones", Lines([s.astype(np.float32) for s in segs]))
    rec.reset_time()
    logged[path] = f"{'3-D' if three_d else '2-D'} joints + bones ({T} frames on 'frame', {P} person(s))"


# ----------------------------------------------------------------------------------------------- mesh


def voxel_mesh(grid: VoxelGrid):
    """The grid's exposed voxel faces (coplanar faces of one class merged) as a trimesh.Trimesh in world
    coordinates, with the class colour on every vertex (PLY keeps float64 vertices; glTF stores float32)."""
    import trimesh

    from .labels import get_label_set
    from .occupancy.surface import exposed_faces

    surf = exposed_faces(grid.occupied(), grid.labels, merge=True)
    if surf.n == 0:
        raise InputError(grid.source or grid.name, "the voxel grid has no occupied voxel to mesh")
    verts = surf.vertices(grid.voxel_size) + np.asarray(grid.origin, float)
    verts = _world(grid, verts)
    q = np.arange(4 * surf.n, dtype=np.int64).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    rgb = get_label_set(grid.label_set or "occ3d").lut()[surf.labels]
    colors = np.concatenate([np.repeat(rgb, 4, 0), np.full((4 * surf.n, 1), 255, np.uint8)], 1)
    return trimesh.Trimesh(vertices=verts, faces=faces, vertex_colors=colors, process=False)


def write_mesh(grid: VoxelGrid, out: str | Path) -> int:
    """Write the voxel grid as a mesh (.ply, .glb, .gltf, .obj, .stl, .off); returns the triangle count."""
    out = Path(out)
    if out.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(out, f"mesh must end in one of {', '.join(MESH_SUFFIXES)}")
    mesh = voxel_mesh(grid)
    from .atomic import write_bytes

    kind = out.suffix.lower()[1:]
    if kind == "gltf":  # JSON with its buffer embedded (base64), so the mesh is one file
        files = mesh.export(file_type="gltf", embed_buffers=True)
        data = next(v for k, v in files.items() if k.endswith(".gltf")) if isinstance(files, dict) else files
    else:
        data = mesh.export(file_type=kind)
    if isinstance(data, str):
        data = data.encode()
    write_bytes(out, data)
    return len(mesh.faces)
