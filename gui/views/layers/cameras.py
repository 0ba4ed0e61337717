"""Camera rigs as frustums (pyramids from each camera centre through its image corners) with a label."""
from __future__ import annotations

import numpy as np

from scenelens.engine.scene import CameraRig

from ..builders import register_builder, tag_actor
from ..vtk_utils import actor_for, lines_polydata

_PALETTE = np.array([[255, 80, 80], [80, 200, 255], [255, 200, 60], [120, 255, 120], [220, 120, 255], [255, 150, 200]], np.uint8)


def frustum_segments(K: np.ndarray, cam_to_frame: np.ndarray, size: tuple[int, int], depth: float):
    """Start/end points (8 segments) of a frustum `depth` metres deep."""
    w, h = size
    corners_px = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], float)
    rays = corners_px @ np.linalg.inv(K).T * depth
    R, t = cam_to_frame[:3, :3], cam_to_frame[:3, 3]
    far = rays @ R.T + t
    a = np.vstack([np.repeat(t[None], 4, 0), far])
    b = np.vstack([far, np.roll(far, -1, 0)])
    return a, b


@register_builder(CameraRig)
def build_rig(layer: CameraRig, style: dict) -> list:
    depth = style.get("frustum_depth", 2.0)
    actors = []
    for ci, cam in enumerate(layer.cameras):
        if cam.K is None or cam.cam_to_frame is None or cam.size is None:
            continue
        a, b = frustum_segments(cam.K, cam.cam_to_frame, cam.size, depth)
        col = np.repeat(_PALETTE[ci % len(_PALETTE)][None], len(a), 0)
        actor = actor_for(lines_polydata(a, b, col, origin=style.get("origin")), line_width=2.0)

        def pick(cell_id, point_id, pos, cam=cam):
            c = cam.cam_to_frame[:3, 3]
            return {"camera": cam.name, "centre (m)": f"{c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}",
                    "fx, fy": f"{cam.K[0, 0]:.1f}, {cam.K[1, 1]:.1f}", "image": f"{cam.size[0]}×{cam.size[1]}"}

        actors.append(tag_actor(actor, layer, pick))
    return actors
