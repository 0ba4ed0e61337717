"""Human pose: joint sets and mappings, model adapters, the estimation job and the metrics.

Importing this package registers the built-in adapters (BlazePose on torch, MediaPipe's own solution when
that optional package is installed, TorchScript keypoint models) without importing torch or mediapipe;
those load only when a model is used.
"""
from . import detector_torch, mediapipe_adapter, torch_adapter  # noqa: F401  (adapter registration)
from .joints import COCO17, H36M17, JOINT_SETS, MEDIAPIPE33, convert, get_joint_set  # noqa: F401
