"""3-D joint arrays read with explicit units (m / cm / mm detected, override), the up axis found from the
body so people stand, and Human3.6M vs COCO 17-joint orders told apart by what the file holds."""
import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import load_layers

H36M_STAND = np.array([  # metres, z up: pelvis exactly between the hips
    [0, 0, 1.0], [-0.13, 0, 1.0], [-0.13, 0.02, 0.55], [-0.13, 0, 0.1], [0.13, 0, 1.0], [0.13, 0.02, 0.55],
    [0.13, 0, 0.1], [0, 0, 1.25], [0, 0, 1.5], [0, 0.03, 1.6], [0, 0, 1.72], [0.18, 0, 1.48], [0.2, 0.05, 1.2],
    [0.22, 0.1, 0.95], [-0.18, 0, 1.48], [-0.2, 0.05, 1.2], [-0.22, 0.1, 0.95]])
COCO_STAND = np.array([
    [0, 0.05, 1.65], [0.03, 0.04, 1.68], [-0.03, 0.04, 1.68], [0.07, 0, 1.66], [-0.07, 0, 1.66], [0.18, 0, 1.48],
    [-0.18, 0, 1.48], [0.2, 0.05, 1.2], [-0.2, 0.05, 1.2], [0.22, 0.1, 0.95], [-0.22, 0.1, 0.95], [0.12, 0, 1.0],
    [-0.12, 0, 1.0], [0.12, 0.02, 0.55], [-0.12, 0.02, 0.55], [0.12, 0, 0.1], [-0.12, 0, 0.1]])


def _walk(pose: np.ndarray, t: int = 12) -> np.ndarray:
    """T×17×3: the pose turning about the vertical and walking along x."""
    out = []
    for k in range(t):
        a = 0.3 * k
        r = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        out.append(pose @ r.T + [0.1 * k, 0, 0])
    return np.asarray(out)


def _thigh(sk) -> float:
    i, j = sk.joint_names.index("right_hip"), sk.joint_names.index("right_knee")
    return float(np.linalg.norm(sk.joints[0, 0, i] - sk.joints[0, 0, j]))


@pytest.mark.parametrize("unit,scale", [("m", 1.0), ("cm", 100.0), ("mm", 1000.0)])
def test_h36m_npy_units_detected_and_converted(tmp_path, unit, scale):
    p = tmp_path / "walk.npy"
    np.save(p, _walk(H36M_STAND) * scale)
    sk = load_layers(p)[0]
    assert sk.joint_set == "h36m17" and sk.meta["joint_set_how"] == "told from the joint geometry"
    assert sk.meta["units_in"] == unit and sk.meta["units"] == "m"
    assert _thigh(sk) == pytest.approx(np.hypot(0.45, 0.02), rel=1e-6)  # bones in metres whatever the file held
    assert sk.meta["up_axis"] == "z"


def test_coco_order_in_camera_frame_is_told_apart_and_stands(tmp_path):
    cam = _walk(COCO_STAND)[..., [0, 2, 1]] * [1, -1, 1] * 1000.0  # y down (camera frame), millimetres
    p = tmp_path / "coco_cam.npy"
    np.save(p, cam)
    sk = load_layers(p)[0]
    assert sk.joint_set == "coco17" and sk.meta["units_in"] == "mm" and sk.meta["up_axis"] == "-y"


def test_units_and_joint_set_overrides(tmp_path):
    p = tmp_path / "walk.npy"
    np.save(p, _walk(H36M_STAND) * 100.0)
    sk = load_layers(p, units="mm")[0]  # the user knows better: taken as millimetres
    assert sk.meta["units_in"] == "mm" and _thigh(sk) == pytest.approx(np.hypot(0.45, 0.02) / 10, rel=1e-6)
    sk = load_layers(p, joint_set="coco17")[0]
    assert sk.joint_set == "coco17" and sk.meta["joint_set_how"] == "declared"
    with pytest.raises(InputError, match="units must be m, cm or mm"):
        load_layers(p, units="inch")


def test_gfpose_results_stand_up(tmp_path):
    # GFPose's image-frame poses: u, v in (normalised) image coordinates, v pointing down
    img = _walk(H36M_STAND)[..., [0, 2, 1]] * [1, -1, 1]
    pred = img[None, :, None]  # (T=1, N, H=1, 17, 3)
    p = tmp_path / "results.npz"
    np.savez(p, pred3d=pred, gt3d=img[None, :, None])
    layers = load_layers(p)
    assert layers and all(sk.meta["up_axis"] == "-y" for sk in layers)
