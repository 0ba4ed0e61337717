"""Joint sets and the mappings between them.

Models, datasets and motion-capture files each number the body differently (COCO-17 detectors,
Human3.6M-17 lifters such as GFPose, MediaPipe's 33 landmarks, BVH hierarchies). Mixing orders silently
gives plausible-looking but wrong metrics, so every skeleton carries a `joint_set` name and conversion
goes through one explicit linear map per pair: target = M @ source, where a row averages the source
joints that define the target (e.g. H36M pelvis = mid-hips). Joints a source cannot define get a zero
row and zero confidence, never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointSet:
    name: str
    names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    left: tuple[int, ...] = ()
    right: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def n(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def side(self, j: int) -> str:
        """'left', 'right' or 'centre' — used for left/right colouring."""
        return "left" if j in self.left else "right" if j in self.right else "centre"

    def flip_perm(self) -> np.ndarray:
        """Index permutation that swaps left and right joints (for flip augmentation / mirror checks)."""
        perm = np.arange(self.n)
        for a, b in zip(self.left, self.right):
            perm[a], perm[b] = b, a
        return perm


COCO17 = JointSet(
    "coco17",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
     "right_knee", "left_ankle", "right_ankle"),
    # COCO's own 'skeleton' (1-based in the annotation files), here 0-based
    ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
     (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    left=(1, 3, 5, 7, 9, 11, 13, 15), right=(2, 4, 6, 8, 10, 12, 14, 16),
)

# COCO OKS per-keypoint sigmas (pycocotools COCOeval.Params.kpt_oks_sigmas)
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0

H36M17 = JointSet(
    "h36m17",
    ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine",
     "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
     "right_elbow", "right_wrist"),
    ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12),
     (12, 13), (8, 14), (14, 15), (15, 16)),
    left=(4, 5, 6, 11, 12, 13), right=(1, 2, 3, 14, 15, 16),
)

MEDIAPIPE33 = JointSet(
    "mediapipe33",
    ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
     "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
     "left_foot_index", "right_foot_index"),
    # mediapipe.solutions.pose.POSE_CONNECTIONS
    ((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
     (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
     (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30),
     (29, 31), (30, 32), (27, 31), (28, 32)),
    left=(1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),
    right=(4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32),
)

# CMU Panoptic Studio "coco19" (hdPose3d_stage1_coco19/body3DScene_*.json, joints19), its toolbox's edges
PANOPTIC19 = JointSet(
    "panoptic19",
    ("neck", "nose", "body_center", "left_shoulder", "left_elbow", "left_wrist", "left_hip", "left_knee",
     "left_ankle", "right_shoulder", "right_elbow", "right_wrist", "right_hip", "right_knee", "right_ankle",
     "left_eye", "left_ear", "right_eye", "right_ear"),
    ((0, 1), (0, 3), (3, 4), (4, 5), (0, 2), (2, 6), (6, 7), (7, 8), (2, 12), (12, 13), (13, 14), (0, 9),
     (9, 10), (10, 11), (1, 15), (15, 16), (1, 17), (17, 18)),
    left=(3, 4, 5, 6, 7, 8, 15, 16), right=(9, 10, 11, 12, 13, 14, 17, 18),
)

JOINT_SETS: dict[str, JointSet] = {js.name: js for js in (COCO17, H36M17, MEDIAPIPE33, PANOPTIC19)}
_BY_COUNT = {17: "coco17", 33: "mediapipe33"}


def get_joint_set(name: str) -> JointSet:
    key = name.lower().replace("-", "").replace("_", "")
    aliases = {"coco": "coco17", "coco17": "coco17", "h36m": "h36m17", "h36m17": "h36m17", "human36m": "h36m17",
               "mediapipe": "mediapipe33", "mediapipe33": "mediapipe33", "blazepose": "mediapipe33",
               "panoptic": "panoptic19", "panoptic19": "panoptic19", "coco19": "panoptic19"}
    if key not in aliases:
        raise KeyError(f"unknown joint set {name!r} (known: {', '.join(JOINT_SETS)})")
    return JOINT_SETS[aliases[key]]


def guess_joint_set(n_joints: int) -> str | None:
    """Only 33 is unambiguous; 17 could be COCO or H36M, so callers must ask (default coco17 for 2-D)."""
    return _BY_COUNT.get(n_joints)


# ------------------------------------------------------------------------------------------ mappings
# each target joint: list of source joint names averaged (empty = not defined by the source)

def _rows(src: JointSet, dst: JointSet, spec: dict[str, list[str]]) -> np.ndarray:
    m = np.zeros((dst.n, src.n))
    for t, sources in spec.items():
        for s in sources:
            m[dst.index(t), src.index(s)] = 1.0 / len(sources)
    return m


_MP_TO_COCO = {n: [n] for n in COCO17.names}
_COCO_TO_H36M = {
    "pelvis": ["left_hip", "right_hip"], "right_hip": ["right_hip"], "right_knee": ["right_knee"],
    "right_ankle": ["right_ankle"], "left_hip": ["left_hip"], "left_knee": ["left_knee"],
    "left_ankle": ["left_ankle"],
    # spine: halfway between pelvis and thorax
    "spine": ["left_hip", "right_hip", "left_shoulder", "right_shoulder"],
    "thorax": ["left_shoulder", "right_shoulder"], "neck_nose": ["nose"], "head": ["left_ear", "right_ear"],
    "left_shoulder": ["left_shoulder"], "left_elbow": ["left_elbow"], "left_wrist": ["left_wrist"],
    "right_shoulder": ["right_shoulder"], "right_elbow": ["right_elbow"], "right_wrist": ["right_wrist"],
}
_H36M_TO_COCO = {n: [n] for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                                  "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
                                  "left_ankle", "right_ankle")}
_H36M_TO_COCO["nose"] = ["neck_nose"]

# CMU motion-capture BVH names (the cgspeed "3dsmax-friendly" release, e.g. 131_01) → H36M-17
CMU_BVH_TO_H36M = {
    "pelvis": ["Hips"], "right_hip": ["RightHip"], "right_knee": ["RightKnee"], "right_ankle": ["RightAnkle"],
    "left_hip": ["LeftHip"], "left_knee": ["LeftKnee"], "left_ankle": ["LeftAnkle"], "spine": ["Chest"],
    "thorax": ["Chest2"], "neck_nose": ["Neck"], "head": ["Head"], "left_shoulder": ["LeftShoulder"],
    "left_elbow": ["LeftElbow"], "left_wrist": ["LeftWrist"], "right_shoulder": ["RightShoulder"],
    "right_elbow": ["RightElbow"], "right_wrist": ["RightWrist"],
}

_MAPS: dict[tuple[str, str], np.ndarray] = {
    ("mediapipe33", "coco17"): _rows(MEDIAPIPE33, COCO17, _MP_TO_COCO),
    ("coco17", "h36m17"): _rows(COCO17, H36M17, _COCO_TO_H36M),
    ("h36m17", "coco17"): _rows(H36M17, COCO17, _H36M_TO_COCO),
}
_MAPS[("mediapipe33", "h36m17")] = _MAPS[("coco17", "h36m17")] @ _MAPS[("mediapipe33", "coco17")]
_MAPS[("panoptic19", "coco17")] = _rows(PANOPTIC19, COCO17, {n: [n] for n in COCO17.names})
_MAPS[("panoptic19", "h36m17")] = _rows(PANOPTIC19, H36M17, {
    **_COCO_TO_H36M, "pelvis": ["body_center"], "thorax": ["neck"], "spine": ["body_center", "neck"]})


def mapping_matrix(src: str, dst: str) -> np.ndarray:
    """The (J_dst × J_src) averaging matrix; KeyError when no mapping is defined."""
    src, dst = get_joint_set(src).name, get_joint_set(dst).name
    if src == dst:
        return np.eye(JOINT_SETS[src].n)
    if (src, dst) not in _MAPS:
        have = ", ".join(f"{a}→{b}" for a, b in _MAPS)
        raise KeyError(f"no joint mapping {src}→{dst} (defined: {have})")
    return _MAPS[(src, dst)]


def convert(joints: np.ndarray, src: str, dst: str,
            confidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Map joints (..., J_src, D) to (..., J_dst, D). Confidence of a derived joint is the minimum of its
    sources (a mid-point is only as sure as its least sure end); undefined joints get 0."""
    m = mapping_matrix(src, dst)
    joints = np.asarray(joints, float)
    out = np.einsum("ts,...sd->...td", m, joints)
    if confidence is None:
        confidence = np.ones(joints.shape[:-1])
    confidence = np.asarray(confidence, float)
    conf = np.zeros(confidence.shape[:-1] + (m.shape[0],))
    for t in range(m.shape[0]):
        src_idx = np.nonzero(m[t])[0]
        if len(src_idx):
            conf[..., t] = confidence[..., src_idx].min(-1)
    return out, conf


def bvh_to_h36m(names: list[str], joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a CMU-named BVH skeleton (..., J, 3) as H36M-17; missing names get confidence 0."""
    out = np.zeros(joints.shape[:-2] + (17, joints.shape[-1]))
    conf = np.zeros(joints.shape[:-2] + (17,))
    for t, srcs in CMU_BVH_TO_H36M.items():
        idx = [names.index(s) for s in srcs if s in names]
        if len(idx) == len(srcs):
            ti = H36M17.index(t)
            out[..., ti, :] = joints[..., idx, :].mean(-2)
            conf[..., ti] = 1.0
    return out, conf
