"""Human pose: joint sets and mappings, model adapters, the estimation job and the metrics.

Importing this package registers the built-in adapters (MediaPipe, TorchScript keypoint models) without
importing mediapipe or torch themselves; those load only when a model is used.
"""
from . import mediapipe_adapter, torch_adapter  # noqa: F401  (adapter registration)
from .joints import COCO17, H36M17, JOINT_SETS, MEDIAPIPE33, convert, get_joint_set  # noqa: F401
