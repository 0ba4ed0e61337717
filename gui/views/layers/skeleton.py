"""3-D skeletons and camera trajectories.

Skeletons are drawn as tubes (bones) and spheres (joints) coloured by body side, with the ground plane
under the whole motion, the camera frustum that saw the pose when the layer knows it, and, for
multi-hypothesis results, every hypothesis as faint lines plus a translucent sphere per joint whose radius
is the hypotheses' spread, and a calibrated camera rig (`meta["rig_cameras"]`: CMU Panoptic, `run pose3d`)
as one frustum per camera. Trajectories are a path coloured by time, or by error (style `color_by="error"`
with per-pose errors in `meta["ate_errors"]`, NaN = not matched, drawn grey) with a colour bar, and a
frustum every N poses.

Only the frame in `style['frame']` is drawn, so playback rebuilds one small actor set per tick (tens of
joints) rather than caching every frame. 2-D skeletons have no 3-D look (the image view draws them).
"""
from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support as ns

from scenelens.engine.scene import Skeleton, Trajectory

from ..builders import register_builder, tag_actor
from ..vtk_utils import actor_for, colormap, lines_polydata, points_polydata, style_scalar_bar_text
from .cameras import _PALETTE, frustum_segments

SIDE_RGB = {"left": (60, 140, 255), "right": (255, 110, 40), "centre": (90, 220, 120)}

# display rotation per stored up axis, so every skeleton stands on the view's z-up ground
_UP = {
    "y": np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float),    # BVH: y up
    "-y": np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float),   # MediaPipe/camera: y down, z forward
    "z": np.eye(3),
}


def display_rotation(layer: Skeleton) -> np.ndarray:
    return _UP.get(str(layer.meta.get("up_axis", "z")), np.eye(3))


def joint_sides(layer: Skeleton) -> list[str]:
    from scenelens.engine.pose.joints import JOINT_SETS

    js = JOINT_SETS.get(layer.joint_set)
    if js is not None:
        return [js.side(j) for j in range(js.n)]
    out = []
    for n in layer.joint_names or [str(i) for i in range(layer.joints.shape[2])]:
        low = n.lower()
        out.append("left" if low.startswith(("left", "l_", "lhip", "lhand", "lfing", "lthumb")) or low.startswith("left")
                   else "right" if low.startswith(("right", "r_", "rhip", "rhand", "rfing", "rthumb")) else "centre")
    return out


def current_frame(layer: Skeleton, style: dict) -> int:
    t = int(style.get("frame", layer.meta.get("current_frame", 0)))
    return int(np.clip(t, 0, max(layer.joints.shape[0] - 1, 0)))


def _tubes(a: np.ndarray, b: np.ndarray, colors: np.ndarray, radius: float, origin) -> vtk.vtkActor:
    pd = lines_polydata(a, b, colors, origin)
    tube = vtk.vtkTubeFilter()
    tube.SetInputData(pd)
    tube.SetRadius(radius)
    tube.SetNumberOfSides(10)
    tube.CappingOn()
    tube.Update()
    return actor_for(tube.GetOutput())


def _spheres(xyz: np.ndarray, colors: np.ndarray, radius, origin, opacity: float = 1.0):
    pd = points_polydata(xyz, colors, origin=origin)
    if np.ndim(radius):
        s = ns.numpy_to_vtk(np.ascontiguousarray(np.asarray(radius, np.float32)), deep=True)
        s.SetName("radius")
        pd.GetPointData().AddArray(s)
    src = vtk.vtkSphereSource()
    src.SetRadius(1.0 if np.ndim(radius) else float(radius))
    src.SetThetaResolution(14)
    src.SetPhiResolution(10)
    g = vtk.vtkGlyph3D()
    g.SetInputData(pd)
    g.SetSourceConnection(src.GetOutputPort())
    g.GeneratePointIdsOn()
    if np.ndim(radius):
        g.SetScaleModeToScaleByScalar()
        g.SetInputArrayToProcess(0, 0, 0, vtk.vtkDataObject.FIELD_ASSOCIATION_POINTS, "radius")
    else:
        g.SetScaleModeToDataScalingOff()
    g.SetColorModeToColorByScalar()
    g.Update()
    out = g.GetOutput()
    if np.ndim(radius):  # scalars were replaced by the scale array: re-attach the colours per glyph point
        ids = ns.vtk_to_numpy(out.GetPointData().GetArray("InputPointIds"))
        arr = ns.numpy_to_vtk(np.ascontiguousarray(colors[ids, :3], np.uint8), deep=True)
        arr.SetName("rgb")
        out.GetPointData().SetScalars(arr)
    return actor_for(out, opacity=opacity), out


def _ground(lo: np.ndarray, hi: np.ndarray, z: float, origin) -> vtk.vtkActor:
    plane = vtk.vtkPlaneSource()
    o = np.array([lo[0], lo[1], z]) - (origin if origin is not None else 0)
    plane.SetOrigin(*o)
    plane.SetPoint1(*(o + [hi[0] - lo[0], 0, 0]))
    plane.SetPoint2(*(o + [0, hi[1] - lo[1], 0]))
    plane.SetResolution(10, 10)
    plane.Update()
    return actor_for(plane.GetOutput(), color=(0.55, 0.55, 0.6), opacity=0.35)


def scale_of(layer: Skeleton) -> float:
    """A length (metres) typical of the skeleton, for tube radii and frustum sizes."""
    j = layer.joints[..., :3].reshape(-1, layer.joints.shape[2], 3)[:1]
    b = np.asarray(layer.bones or [(0, 0)])
    lens = np.linalg.norm(j[:, b[:, 0]] - j[:, b[:, 1]], axis=-1)
    med = float(np.median(lens[lens > 0])) if np.any(lens > 0) else 0.2
    return med


@register_builder(Skeleton)
def build_skeleton(layer: Skeleton, style: dict) -> list:
    if layer.dims != 3 or layer.joints.shape[0] == 0 or layer.joints.shape[1] == 0:
        return []
    origin = style.get("origin")
    rot = display_rotation(layer)
    t = current_frame(layer, style)
    sides = joint_sides(layer)
    bone_len = scale_of(layer)
    r_tube = style.get("tube_radius", max(bone_len * 0.06, 0.004))
    r_joint = style.get("joint_radius", r_tube * 2.0)
    conf = layer.confidence[t] if layer.confidence is not None else np.ones(layer.joints.shape[1:3])
    valid = layer.meta.get("valid")
    actors = []
    all_pts = layer.joints.reshape(-1, 3) @ rot.T
    people = [p for p in range(layer.joints.shape[1]) if (valid is None or valid.ndim != 2 or valid[t, p])
              and np.any(conf[p] > 0)]
    errors = layer.meta.get("errors")  # optional T×P×J per-joint error against a reference
    for p in people:
        xyz = layer.joints[t, p] @ rot.T
        jc = np.array([SIDE_RGB[sides[j] if j < len(sides) else "centre"] for j in range(len(xyz))], float)
        jc = (jc * (0.35 + 0.65 * np.clip(conf[p], 0, 1))[:, None]).astype(np.uint8)
        bones = [(a, b) for a, b in layer.bones if conf[p, a] > 0 and conf[p, b] > 0]
        sel = np.nonzero(conf[p] > 0)[0]

        def joint_info(j, p=p, t=t):
            x = layer.joints[t, p, j]
            info = {"joint": layer.joint_names[j] if j < len(layer.joint_names) else str(j), "index": j,
                    "person": p, "frame": t, "coordinates": ", ".join(f"{v:.3f}" for v in x),
                    "confidence": f"{float(conf[p, j]):.3f}"}
            if errors is not None:
                info["error"] = f"{float(errors[t, p, j]):.4f}"
            return info

        if bones:
            bi = np.asarray(bones)
            bc = np.array([SIDE_RGB[sides[b] if sides[b] != "centre" else sides[a]] for a, b in bones], np.uint8)

            def pick_bone(cell_id, point_id, pos, xyz=xyz, sel=sel, info=joint_info):
                # a click on a bone means the joint nearest to where it landed (the picker takes the front-most
                # prop within its tolerance, often the bone leading to the joint under the cursor)
                return info(int(sel[np.argmin(np.linalg.norm(xyz[sel] - np.asarray(pos, float), axis=1))]))

            actors.append(tag_actor(_tubes(xyz[bi[:, 0]], xyz[bi[:, 1]], bc, r_tube, origin), layer, pick_bone))
        sph, out = _spheres(xyz[sel], jc[sel], r_joint, origin)
        ids = ns.vtk_to_numpy(out.GetPointData().GetArray("InputPointIds"))

        def pick(cell_id, point_id, pos, sel=sel, ids=ids, info=joint_info):
            return info(int(sel[ids[point_id]]) if 0 <= point_id < len(ids) else 0)

        actors.append(tag_actor(sph, layer, pick))
    hyp = layer.meta.get("hypotheses")
    if hyp is not None and np.ndim(hyp) == 5 and hyp.shape[1] > t:
        from scenelens.engine.pose.metrics import hypothesis_spread

        for p in people:
            h = np.asarray(hyp[:, t, p], float) @ rot.T            # H×J×3
            bi = np.asarray(layer.bones)
            a = h[:, bi[:, 0]].reshape(-1, 3)
            b = h[:, bi[:, 1]].reshape(-1, 3)
            col = np.tile(np.array([200, 200, 255], np.uint8), (len(a), 1))
            actors.append(tag_actor(actor_for(lines_polydata(a, b, col, origin), opacity=0.25), layer, None))
            spread = hypothesis_spread(h, root=None)
            mean = h.mean(0)
            sc = colormap(spread, "plasma", 0, max(float(spread.max()), 1e-9))
            sph, _ = _spheres(mean, sc, np.maximum(spread, r_joint * 0.5), origin, opacity=0.3)

            def pick_spread(cell_id, point_id, pos, p=p, spread=spread, mean=mean):
                j = int(np.argmin(np.linalg.norm(mean - (np.asarray(pos) + (origin if origin is not None else 0)), axis=1)))
                return {"joint": layer.joint_names[j] if j < len(layer.joint_names) else str(j),
                        "hypotheses": int(h.shape[0]), "spread (RMS)": f"{float(spread[j]):.4f}"}

            actors.append(tag_actor(sph, layer, pick_spread))
    if style.get("ground", True) and len(all_pts) and people:
        # floor at the lowest point of the whole motion (it must not bob during playback), centred under
        # the people of this frame so the view frames them rather than the whole walk
        now = np.vstack([layer.joints[t, p] @ rot.T for p in people])
        lo, hi = now.min(0), now.max(0)
        pad = max(bone_len * 3, 0.5)
        actors.append(tag_actor(_ground(lo[:2] - pad, hi[:2] + pad, all_pts[:, 2].min(), origin), layer, None))
    if style.get("rig", True) and layer.meta.get("rig_cameras"):
        actors.extend(_rig_actors(layer, style, rot, bone_len, origin))
    cams = layer.meta.get("cameras")
    cam = cams[t] if isinstance(cams, list) and t < len(cams) else layer.meta.get("camera")
    if style.get("frustum", True) and isinstance(cam, dict) and cam.get("K") is not None:
        c2w = np.asarray(cam["cam_to_world"], float).copy()
        c2w[:3, :] = rot @ c2w[:3, :]
        a, b = frustum_segments(np.asarray(cam["K"], float), c2w, tuple(cam["size"]), max(bone_len * 2.5, 0.3))
        col = np.tile(np.array([255, 230, 80], np.uint8), (len(a), 1))
        fr = actor_for(lines_polydata(a, b, col, origin), line_width=2.0)

        def pick_cam(cell_id, point_id, pos, c2w=c2w, cam=cam):
            c = np.asarray(cam["cam_to_world"])[:3, 3]
            return {"camera": "estimated from the pose" if layer.meta.get("model") else "from file",
                    "centre": ", ".join(f"{v:.2f}" for v in c), "focal": f"{float(cam['K'][0][0]):.1f} px"}

        actors.append(tag_actor(fr, layer, pick_cam))
    return actors


def rig_cam_to_world(cam: dict) -> np.ndarray:
    """4×4 camera → world of a rig camera given as world → camera R, t (metres)."""
    R = np.asarray(cam["R"], float).reshape(3, 3)
    t = np.asarray(cam["t"], float).reshape(3)
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = -R.T @ t
    return c2w


def _rig_actors(layer: Skeleton, style: dict, rot: np.ndarray, bone_len: float, origin) -> list:
    """Every calibrated camera of the rig as a frustum (one colour per camera; per type for big rigs such as
    Panoptic's 480 VGA + 31 HD + 10 Kinect), its name beside it when the rig is small, picking → camera."""
    cams = [c for c in layer.meta.get("rig_cameras") or [] if isinstance(c, dict) and c.get("K") is not None
            and c.get("R") is not None and c.get("t") is not None]
    if not cams:
        return []
    c2ws = []
    for c in cams:
        m = rig_cam_to_world(c)
        m[:3, :] = rot @ m[:3, :]
        c2ws.append(m)
    centres = np.array([m[:3, 3] for m in c2ws])
    js = layer.joints[..., :3].reshape(-1, 3)
    js = js[np.isfinite(js).all(1)]
    middle = (np.median(js, 0) @ rot.T) if len(js) else centres.mean(0)
    dist = float(np.median(np.linalg.norm(centres - middle, axis=1))) if len(centres) else 1.0
    depth = float(style.get("rig_frustum_depth", max(0.12 * dist, bone_len * 1.5, 0.05)))
    types = [str(c.get("type", "")) for c in cams]
    by_type = len(cams) > 40 and len(set(types)) > 1
    type_rgb = {"hd": (255, 230, 80), "vga": (120, 160, 200), "kinect": (220, 120, 255)}
    segs_a, segs_b, cols = [], [], []
    for i, (c, m) in enumerate(zip(cams, c2ws)):
        size = tuple(int(v) for v in (c.get("size") or (0, 0)))
        if size[0] <= 0 or size[1] <= 0:
            K = np.asarray(c["K"], float)
            size = (max(int(round(2 * K[0, 2])), 1), max(int(round(2 * K[1, 2])), 1))
        d = depth * (0.5 if by_type and types[i] == "vga" else 1.0)
        a, b = frustum_segments(np.asarray(c["K"], float).reshape(3, 3), m, size, d)
        rgb = type_rgb.get(types[i].lower(), (200, 200, 200)) if by_type else tuple(_PALETTE[i % len(_PALETTE)])
        segs_a.append(a)
        segs_b.append(b)
        cols.append(np.tile(np.array(rgb, np.uint8), (len(a), 1)))
    fr = actor_for(lines_polydata(np.vstack(segs_a), np.vstack(segs_b), np.vstack(cols), origin), line_width=2.0)

    def pick_rig(cell_id, point_id, pos):
        i = int(np.clip(cell_id // 8, 0, len(cams) - 1))
        c = cams[i]
        centre = rig_cam_to_world(c)[:3, 3]
        info = {"camera": str(c.get("name", i)), "centre (m)": ", ".join(f"{v:.2f}" for v in centre),
                "focal": f"{float(np.asarray(c['K'], float).reshape(3, 3)[0, 0]):.1f} px"}
        if c.get("size"):
            info["image"] = "×".join(str(int(v)) for v in c["size"])
        if c.get("type"):
            info["type"] = str(c["type"])
        return info

    actors = [tag_actor(fr, layer, pick_rig)]
    if len(cams) <= int(style.get("rig_label_max", 16)):
        o = origin if origin is not None else 0.0
        for i, (c, m) in enumerate(zip(cams, c2ws)):
            txt = vtk.vtkTextActor()  # a 2-D label anchored at the camera centre (world coordinates)
            txt.SetInput(str(c.get("name", i)))
            txt.GetPositionCoordinate().SetCoordinateSystemToWorld()
            txt.GetPositionCoordinate().SetValue(*(m[:3, 3] - o))
            tp = txt.GetTextProperty()
            tp.SetFontSize(15)
            tp.SetColor(*(np.asarray(_PALETTE[i % len(_PALETTE)], float) / 255.0))
            tp.SetJustificationToCentered()
            tp.SetVerticalJustificationToBottom()
            tp.BoldOn()
            tp.ShadowOn()
            txt.PickableOff()
            actors.append(tag_actor(txt, layer, None))
    return actors


def error_colour_bar(cmap: str, lo: float, hi: float, title: str):
    """A vertical colour bar (vtkScalarBarActor) at the 3-D view's right edge for an error colouring."""
    lut = vtk.vtkLookupTable()
    lut.SetNumberOfTableValues(64)
    for k, c in enumerate(colormap(np.linspace(0.0, 1.0, 64), cmap, 0.0, 1.0)):
        lut.SetTableValue(k, *(c / 255.0), 1.0)
    lut.SetTableRange(lo, hi if hi > lo else lo + 1e-9)
    lut.Build()
    bar = vtk.vtkScalarBarActor()
    bar.SetLookupTable(lut)
    bar.SetTitle(title)
    bar.SetNumberOfLabels(5)
    bar.SetLabelFormat("%.3g")
    bar.SetPosition(0.88, 0.1)
    bar.SetWidth(0.1)
    bar.SetHeight(0.8)
    bar.SetBarRatio(0.3)
    bar.SetTextPositionToPrecedeScalarBar()
    bar.SetVerticalTitleSeparation(10)  # the title clear of the top label
    style_scalar_bar_text(bar)
    return bar


@register_builder(Trajectory)
def build_trajectory(layer: Trajectory, style: dict) -> list:
    poses = np.asarray(layer.poses, float)
    if len(poses) == 0:
        return []
    origin = style.get("origin")
    pos = poses[:, :3, 3]
    n = len(pos)
    tvals = np.asarray(layer.timestamps if layer.timestamps is not None else np.arange(n), float)
    cmap = style.get("colormap", "viridis")
    actors = []
    errs = layer.meta.get("ate_errors")
    errs = np.asarray(errs, float).ravel() if errs is not None else None
    by_error = (style.get("color_by", "time") == "error" and errs is not None and len(errs) == n
                and np.isfinite(errs).any())
    if n >= 2:
        if by_error:
            ecmap = style.get("error_colormap", "jet")  # evo's plots colour the path with jet, min → max
            seg = errs[:-1]
            fin = np.isfinite(seg)
            lo, hi = float(np.nanmin(errs)), float(np.nanmax(errs))
            col = np.tile(np.array([128, 128, 128], np.uint8), (n - 1, 1))  # not matched: grey
            if fin.any():
                col[fin] = colormap(seg[fin], ecmap, lo, hi)
            actors.append(tag_actor(error_colour_bar(ecmap, lo, hi, style.get("error_title", "APE (m)")), layer, None))
        else:
            col = colormap(tvals[:-1], cmap, tvals.min(), tvals.max())
        path = actor_for(lines_polydata(pos[:-1], pos[1:], col, origin), line_width=style.get("line_width", 3.0))

        def pick(cell_id, point_id, p, errs=errs):
            i = int(np.clip(cell_id, 0, n - 1))
            info = {"pose": i, "time": f"{tvals[i]:.4f}", "position": ", ".join(f"{v:.3f}" for v in pos[i])}
            if errs is not None and i < len(errs):
                info["ATE (m)"] = f"{float(errs[i]):.4f}"
            return info

        actors.append(tag_actor(path, layer, pick))
    every = int(style.get("frustum_every", max(1, n // 20)))
    extent = float(np.linalg.norm(pos.max(0) - pos.min(0))) or 1.0
    depth = style.get("frustum_depth", extent / 30)
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    idx = np.arange(0, n, every)
    if len(idx):
        segs_a, segs_b, cols = [], [], []
        fcol = colormap(tvals[idx], cmap, tvals.min(), tvals.max())
        for k, i in enumerate(idx):
            a, b = frustum_segments(K, poses[i], (640, 480), depth)
            segs_a.append(a)
            segs_b.append(b)
            cols.append(np.repeat(fcol[k][None], len(a), 0))
        fr = actor_for(lines_polydata(np.vstack(segs_a), np.vstack(segs_b), np.vstack(cols), origin), line_width=1.5)

        def pick_fr(cell_id, point_id, p):
            i = int(idx[min(cell_id // 8, len(idx) - 1)])
            return {"pose": i, "time": f"{tvals[i]:.4f}", "position": ", ".join(f"{v:.3f}" for v in pos[i])}

        actors.append(tag_actor(fr, layer, pick_fr))
    return actors
