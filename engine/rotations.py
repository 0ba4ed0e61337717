"""Rotations and quaternions in one place, on scipy's Rotation, with the component order in every name —
nuScenes and most papers write [w, x, y, z], TUM/EuRoC files and scipy [x, y, z, w]; a routine that does not
say which is how the two get mixed up.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """(…×4) [x, y, z, w] quaternions (normalised here) → (…×3×3) rotation matrices."""
    q = np.asarray(q, float)
    flat = q.reshape(-1, 4)
    return Rotation.from_quat(flat).as_matrix().reshape(q.shape[:-1] + (3, 3))


def quat_wxyz_to_matrix(q) -> np.ndarray:
    """(…×4) [w, x, y, z] quaternions → (…×3×3) rotation matrices."""
    q = np.asarray(q, float)
    return quat_xyzw_to_matrix(np.concatenate([q[..., 1:4], q[..., :1]], -1))


def matrix_to_quat_xyzw(r) -> np.ndarray:
    """(…×3×3) rotations → (…×4) [x, y, z, w] with w ≥ 0."""
    r = np.asarray(r, float)
    q = Rotation.from_matrix(r.reshape(-1, 3, 3)).as_quat().reshape(r.shape[:-2] + (4,))
    return q * np.where(q[..., 3:4] < 0, -1.0, 1.0)


def matrix_to_quat_wxyz(r) -> np.ndarray:
    """(…×3×3) rotations → (…×4) [w, x, y, z] with w ≥ 0."""
    q = matrix_to_quat_xyzw(r)
    return np.concatenate([q[..., 3:4], q[..., :3]], -1)


def pose_from_wxyz(translation, rotation_wxyz) -> np.ndarray:
    """4×4 pose from a translation and a [w, x, y, z] quaternion (nuScenes calibrated_sensor / ego_pose)."""
    T = np.eye(4)
    T[:3, :3] = quat_wxyz_to_matrix(rotation_wxyz)
    T[:3, 3] = np.asarray(translation, float).reshape(3)
    return T
