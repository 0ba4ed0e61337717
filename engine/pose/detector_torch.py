"""BlazePose on torch alone: MediaPipe's person detector + landmark model, with MediaPipe's own pre- and
post-processing, for one or several people per image.

The two networks are the `.tflite` files shipped in assets/pose/ (Apache-2.0, see NOTICE there), executed
by the TFLite → torch rebuild in `engine.attribution.mediapipe_torch` (device-agnostic: `.to(device)`).
What MediaPipe does around them is re-implemented here from its calculator graphs
(pose_detection_cpu, pose_detection_to_roi, pose_landmark_by_roi, pose_landmarks_to_roi):

1. detector input: the whole image letterboxed into 224×224 (zero border), values in [-1, 1];
2. 2254 SSD anchors (5 layers, strides 8/16/32/32/32, fixed size), boxes and 4 keypoints decoded
   against them (scale 224), score = sigmoid(clip(raw, ±100)) ≥ 0.5;
3. weighted non-maximum suppression (IoU > 0.3 merges, score-weighted average of boxes and keypoints),
   then the letterbox removed;
4. each detection → a rotated square ROI: centre = keypoint 0 (mid-hip), side = 2·|kp1 − kp0| · 1.25,
   rotation so that kp0→kp1 points up;
5. landmark input: the ROI warped to 256×256 (perspective warp of the rotated rectangle's corners,
   bilinear, edge replication) in [0, 1]; 39 landmarks decoded (visibility/presence = sigmoid),
   refined by the 64×64 heatmaps (9×9 sigmoid-weighted mean where the peak ≥ 0.5), projected back
   through the ROI; world landmarks rotated by the ROI angle; person kept if presence ≥ 0.5.

MediaPipe's legacy solution keeps only the best detection; here every detection above the threshold
gets its own landmarks (as the Tasks API's PoseLandmarker does with `num_poses`). In video mode the next
frame's ROI of each person comes from its auxiliary landmarks 33/34 (pose_landmarks_to_roi) and the
detector runs again only when someone was lost or every `redetect_every` frames.
"""
from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass

import numpy as np

from ..adapters import register_adapter
from ..errors import InputError
from .types import PerImagePredictor, Person
from .warp import box_points, perspective_transform, remap_fixed, warp_maps, warp_perspective

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
DET_SIZE = 224
LM_SIZE = 256
N_LANDMARKS = 39
N_POSE = 33


def ssd_anchors(size: int = DET_SIZE, strides=(8, 16, 32, 32, 32), per_layer: int = 2) -> np.ndarray:
    """Anchor centres (N×2, normalised x, y) as SsdAnchorsCalculator makes them for the pose detector
    (fixed_anchor_size: only centres matter; aspect ratio 1 plus the interpolated scale = 2 per layer)."""
    out = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        n_per_cell = per_layer * (last - layer)
        fm = int(math.ceil(size / strides[layer]))
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, n_per_cell, axis=0))
        layer = last
    return np.concatenate(out).astype(np.float32)


@dataclass
class Detection:
    score: float
    box: np.ndarray        # xmin, ymin, w, h (normalised image coordinates)
    keypoints: np.ndarray  # 4×2 normalised (0 mid-hip, 1 "scale" point above the head, 2, 3)


@dataclass
class Roi:
    x: float  # centre, normalised
    y: float
    w: float  # size, normalised (square in pixels)
    h: float
    rotation: float  # radians

    def pixels(self, W: int, H: int) -> tuple[float, float, float, float, float]:
        return self.x * W, self.y * H, self.w * W, self.h * H, self.rotation

    def box_px(self, W: int, H: int) -> np.ndarray:
        """Axis-aligned x, y, w, h (pixels) around the rotated square."""
        cx, cy, w, h, r = self.pixels(W, H)
        c, s = abs(math.cos(r)), abs(math.sin(r))
        bw, bh = w * c + h * s, w * s + h * c
        return np.array([cx - bw / 2, cy - bh / 2, bw, bh])


def _normalize_radians(a: float) -> float:
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax1, ay1, ax2, ay2 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    iw, ih = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, kps: np.ndarray, threshold: float = 0.3,
                 max_detections: int = -1) -> list[Detection]:
    """MediaPipe's WEIGHTED non-maximum suppression (IoU): each kept detection is the score-weighted mean
    of the candidates overlapping the best remaining one by more than `threshold` (its score stays)."""
    order = list(np.argsort(-scores, kind="stable"))
    out: list[Detection] = []
    while order:
        top = order[0]
        cand, rest = [], []
        for i in order:
            (cand if _iou(boxes[i], boxes[top]) > threshold else rest).append(i)
        w = scores[cand].astype(np.float64)
        tot = w.sum()
        b = boxes[cand].astype(np.float64)
        x1 = (b[:, 0] * w).sum() / tot
        y1 = (b[:, 1] * w).sum() / tot
        x2 = ((b[:, 0] + b[:, 2]) * w).sum() / tot
        y2 = ((b[:, 1] + b[:, 3]) * w).sum() / tot
        k = (kps[cand].astype(np.float64) * w[:, None, None]).sum(0) / tot
        out.append(Detection(float(scores[top]), np.array([x1, y1, x2 - x1, y2 - y1]), k))
        if max_detections > 0 and len(out) >= max_detections:
            break
        if len(rest) == len(order):
            break
        order = rest
    return out


def alignment_roi(p0: np.ndarray, p1: np.ndarray, W: int, H: int, scale: float = 1.25,
                  target_deg: float = 90.0) -> Roi:
    """AlignmentPointsRectsCalculator + RectTransformationCalculator(scale 1.25, square_long): a square
    centred on p0 with side 2·|p1 − p0| (pixels), rotated so that p0→p1 points along `target_deg`."""
    x0, y0 = p0[0] * W, p0[1] * H
    x1, y1 = p1[0] * W, p1[1] * H
    size = math.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2) * 2.0
    rot = _normalize_radians(math.radians(target_deg) - math.atan2(-(y1 - y0), x1 - x0))
    long_side = max(size, size)  # square_long on an already square (in pixels) box
    return Roi(float(p0[0]), float(p0[1]), long_side / W * scale, long_side / H * scale, rot)


def _rotated_rect_matrix(cx: float, cy: float, w: float, h: float, rot: float, out_w: int, out_h: int):
    """The 3×3 projection ImageToTensorCalculator (OpenCV path) builds: cv::boxPoints of the rotated
    rectangle → the output tensor's corners (bottom-left, top-left, top-right, bottom-right)."""
    src = box_points((cx, cy), (w, h), rot * 180.0 / math.pi)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], np.float32)
    return perspective_transform(src, dst)


def letterbox_input(rgb: np.ndarray, size: int = DET_SIZE) -> tuple[np.ndarray, tuple[float, float]]:
    """The detector's input (size×size×3 uint8, zero border) and the letterbox (horizontal, vertical)
    padding as fractions of the tensor, as ImageToTensorCalculator's keep_aspect_ratio computes them."""
    H, W = rgb.shape[:2]
    roi_w, roi_h = float(W), float(H)
    ratio = roi_h / roi_w
    if 1.0 > ratio:
        pad_v, pad_h = (1.0 - ratio) / 2.0, 0.0
        roi_h = roi_w
    else:
        pad_h, pad_v = (1.0 - 1.0 / ratio) / 2.0, 0.0
        roi_w = roi_h
    xy, frac = _letterbox_maps(W, H, roi_w, roi_h, size)
    return remap_fixed(rgb, xy, frac, "constant", 0), (pad_h, pad_v)


@functools.lru_cache(maxsize=8)
def _letterbox_maps(W: int, H: int, roi_w: float, roi_h: float, size: int):
    """The letterbox's fixed-point sampling maps depend only on the image size: computed once per size
    (the per-pixel inverse map in double is most of the crop's cost; saves ~0.8 ms per detector run)."""
    M = _rotated_rect_matrix(W / 2.0, H / 2.0, roi_w, roi_h, 0.0, size, size)
    xy, frac = warp_maps(M, (size, size))
    xy.flags.writeable = False
    frac.flags.writeable = False
    return xy, frac


def roi_crop(rgb: np.ndarray, roi: Roi, size: int = LM_SIZE) -> np.ndarray:
    """The landmark model's input: the rotated ROI warped to size×size (bilinear, edge replication)."""
    H, W = rgb.shape[:2]
    M = _rotated_rect_matrix(*roi.pixels(W, H), size, size)
    return warp_perspective(rgb, M, (size, size), "replicate")


def refine_from_heatmaps(xy: np.ndarray, heat: np.ndarray, kernel: int = 9, min_conf: float = 0.5) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator: xy (J×2, normalised crop coordinates), heat (J×h×w logits).
    Where the sigmoid peak in the kernel window around a landmark reaches `min_conf`, the landmark moves to
    the window's sigmoid-weighted mean cell (col / w, row / h). MediaPipe's bounds test checks the column
    twice and never the row; kept, so that results match. All joints at once (one gather of the J windows;
    cells outside the heatmap weigh 0)."""
    J, h, w = heat.shape
    out = xy.copy()
    off = (kernel - 1) // 2
    c = xy[:, 0].astype(np.float64) * w
    r = xy[:, 1].astype(np.float64) * h
    c = np.trunc(c).astype(np.int64)  # C++ int(): truncation toward zero
    r = np.trunc(r).astype(np.int64)
    ok = (c >= 0) & (c < w) & (r >= 0) & (c < h)
    d = np.arange(-off, off + 1)
    rows, cols = r[:, None] + d, c[:, None] + d  # J×k
    rin, cin = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    ok &= rin.any(1) & cin.any(1)
    win = heat[np.arange(J)[:, None, None], np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :]]
    conf = 1.0 / (1.0 + np.exp(-win.astype(np.float32)))
    conf = np.where(rin[:, :, None] & cin[:, None, :], conf, np.float32(0.0))
    s = conf.sum((1, 2), dtype=np.float64)
    ok &= (conf.max((1, 2)) >= min_conf) & (s > 0)
    if ok.any():
        s_ok = np.where(ok, s, 1.0)
        mx = (conf * cols[:, None, :]).sum((1, 2), dtype=np.float64) / w / s_ok
        my = (conf * rows[:, :, None]).sum((1, 2), dtype=np.float64) / h / s_ok
        out[ok, 0] = mx[ok]
        out[ok, 1] = my[ok]
    return out


def _frozen(module, shape: tuple[int, ...], device: str, onednn_fusion: bool = False):
    """`module` prepared for inference: weights and activations in channels-last (NHWC) memory, so every
    convolution — the 1×1 ones too, which NCHW sends to torch's im2col path on one thread — runs in
    oneDNN, and the input, an NHWC uint8 image viewed as NCHW, needs no copy; then traced and frozen with
    TorchScript (torch.jit.trace + torch.jit.freeze): the TFLite plan's per-operator Python dispatch
    (~250 steps per landmark pass) becomes one graph run by the C++ interpreter, weights inlined as
    constants. Outputs move by ≤ 2e-3 (crop pixels; float summation order), far inside the ≤ 1 px match
    to MediaPipe (tests). The batch size stays free (the trace reads it from the input). Falls back to the
    eager module when tracing fails; returns (module, "fused" | "traced" | "" (eager)).

    `onednn_fusion` (CPU only): TorchScript's oneDNN Graph fuser (`torch.jit.enable_onednn_fusion`) turns
    conv + bias + ReLU6 + residual add chains into fused oneDNN partitions — the fusion XNNPACK does and
    plain oneDNN calls lack (thread CPU, one thread: detector 12.3 vs 16.8 ms, landmarks 10.9 vs 15.5 ms).
    The fuser runs when the profiling executor optimises the graph on its first calls, so the switch is on
    only for those warm-up calls (batch 1) and restored afterwards; the fused module runs a larger batch
    one image at a time through that graph (`_one_by_one_class`). It needs the out-of-place graph:
    traced with autograd on (in-place ADDs make it fail) and with out-of-place activations
    (`out_of_place_activations`; in-place ones made it segfault on the landmark graph). Its outputs are
    checked against the plain module, and on any mismatch or error the plain traced module is used.
    Because a fuser bug can kill the process, the caller first asks `fusion_probe()`, which tries the
    fusion in a child process once per torch build, CPU and model (answer kept in the state folder).
    `SCENELENS_ONEDNN_FUSION=0` in the environment turns it off."""
    with _JIT_LOCK:  # the fuser switch is process-wide: no other pipeline warms up meanwhile
        return _frozen_locked(module, shape, device, onednn_fusion)


_JIT_LOCK = threading.Lock()


def _frozen_locked(module, shape, device, onednn_fusion):
    import copy
    import warnings

    import torch

    try:
        nhwc = copy.deepcopy(module)
        for name, b in list(nhwc.named_buffers()):
            if b.dim() == 4:
                setattr(nhwc, name, b.contiguous(memory_format=torch.channels_last))
        x = torch.rand(*shape, device=device).contiguous(memory_format=torch.channels_last)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarning: the Python shape logic becomes constants (fixed input size)
            with torch.no_grad():
                traced = torch.jit.freeze(torch.jit.trace(nhwc, x, strict=False, check_trace=False).eval())
                ref = traced(x)
                traced(x)  # the profiling executor specialises on the first calls
        if (onednn_fusion and str(device).startswith("cpu") and hasattr(torch.jit, "enable_onednn_fusion")
                and os.environ.get("SCENELENS_ONEDNN_FUSION", "1") != "0"):
            fused = _onednn_fused(nhwc, x, ref)
            if fused is not None:
                return _one_by_one_class()(fused), "fused"
        return traced, "traced"
    except Exception:  # any TorchScript failure: the eager module computes the same
        return module, ""


@functools.lru_cache(maxsize=None)
def _one_by_one_class():  # torch is imported on first use only
    import torch

    class OneByOne(torch.nn.Module):
        """A graph fused for batch 1, run on a batch one image at a time (outputs concatenated): the fused
        partitions are specialised for the warm-up shape, and another batch size would take the guard's
        slow fallback (landmarks, 2 crops: 37 ms as one batch there, 27.6 ms plain, 23 ms one by one)."""

        def __init__(self, fused):
            super().__init__()
            self.fused = fused

        def forward(self, x):
            if x.shape[0] == 1:
                return self.fused(x)
            outs = [self.fused(x[i:i + 1]) for i in range(x.shape[0])]
            return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    return OneByOne


def _onednn_fused(nhwc, x, ref):
    """The oneDNN-Graph-fused trace of `nhwc` (see `_frozen`), or None when it fails or differs."""
    import warnings

    import torch

    from ..attribution.mediapipe_torch import out_of_place_activations

    was = torch.jit.onednn_fusion_enabled()
    try:
        with warnings.catch_warnings(), out_of_place_activations():
            warnings.simplefilter("ignore")
            fused = torch.jit.freeze(torch.jit.trace(nhwc, x, strict=False, check_trace=False).eval())
        torch.jit.enable_onednn_fusion(True)
        with torch.no_grad():
            for _ in range(3):  # profiling run(s), then the optimised (fused) graph
                out = fused(x)
    except Exception:
        return None
    finally:
        torch.jit.enable_onednn_fusion(was)
    for k in ref:
        scale = max(1.0, float(ref[k].abs().max()))
        if out[k].shape != ref[k].shape or float((out[k] - ref[k]).abs().max()) > 2e-5 * scale + 2e-3:
            return None
    return fused


FUSION_PROBE_VERSION = 1
_FUSION_FILE = "onednn_fusion.json"
_PROBE_NETS = ("detector", "landmarker")
_probe_cache: dict[str, dict[str, bool]] = {}
_probe_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _fusion_key() -> str:
    """What the fuser's behaviour may depend on: torch build, Python, CPU, the model files and this code
    (computed once per process: none of it changes while the process runs, and every pipeline load asks)."""
    import hashlib
    import platform
    import sys

    import torch

    from ..attribution import mediapipe_torch
    from ..attribution.mediapipe_torch import bundled_model_path

    h = hashlib.sha256()
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            cpu = "".join(ln for ln in f if ln.startswith(("model name", "flags")))[:4000]
    except OSError:
        cpu = platform.processor()
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "")()
    for part in (str(FUSION_PROBE_VERSION), torch.__version__, sys.version, platform.machine(), cpu, capability):
        h.update(part.encode("utf-8", "replace") + b"\0")
    for path in (bundled_model_path(DETECTOR_FILE), bundled_model_path(LANDMARK_FILE), __file__,
                 mediapipe_torch.__file__):
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:32]


def fusion_probe(timeout: float = 300.0) -> dict[str, bool]:
    """{"detector": ok, "landmarker": ok}: whether the oneDNN-fused trace of each network works on this
    machine, found by building and checking it in a child process (`_fusion_probe_main`), so that a fuser
    that crashes (a segfault, as torch 2.13 did on the in-place landmark graph) takes down the child only.
    A definite answer (all checked, or a crash in one) is kept in the state folder under a key of torch
    build, Python, CPU, model files and this code, so the child runs once per such combination (~5 s CPU);
    no answer (no Python to start, a timeout) means no fusion this time. All False when
    SCENELENS_ONEDNN_FUSION=0 or this torch has no fuser."""
    import json

    import torch

    off = {n: False for n in _PROBE_NETS}
    if os.environ.get("SCENELENS_ONEDNN_FUSION", "1") == "0" or not hasattr(torch.jit, "enable_onednn_fusion"):
        return off
    with _probe_lock:
        try:
            key = _fusion_key()
        except Exception:
            return off
        if key in _probe_cache:
            return dict(_probe_cache[key])
        store = None
        try:
            from ..project import state_dir

            store = state_dir() / _FUSION_FILE
            known = json.loads(store.read_text()) if store.is_file() else {}
        except Exception:
            known = {}
        if isinstance(known.get(key), dict):
            res = {n: bool(known[key].get(n)) for n in _PROBE_NETS}
            _probe_cache[key] = res
            return dict(res)
        res = _probe_child(f"import importlib; importlib.import_module({__name__!r})._fusion_probe_main()", timeout)
        if res is None:
            return off  # no answer (no interpreter to start, timeout, import error...): ask again next time
        _probe_cache[key] = res
        if store is not None:
            try:
                known[key] = res
                store.parent.mkdir(parents=True, exist_ok=True)
                tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(known, indent=1))
                os.replace(tmp, store)
            except Exception:
                pass
        return dict(res)


def _probe_child(code: str, timeout: float) -> dict[str, bool] | None:
    """Run `code` in a child Python (the parent's interpreter and import path, one thread) and read its
    `fusion-probe start|done NET [fused]` lines: {net: fused} when it reported every network, or when a
    signal killed it inside one (that one and those not reached: False); None for any other outcome."""
    import subprocess
    import sys

    if getattr(sys, "frozen", False):  # a bundled application: sys.executable is not a Python to run code with
        return None
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)))
    try:
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    except Exception:
        return None
    started, done = set(), {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "fusion-probe" and parts[2] in _PROBE_NETS:
            if parts[1] == "start":
                started.add(parts[2])
            elif parts[1] == "done":
                done[parts[2]] = parts[3:] == ["fused"]
    import signal

    # killed inside the fuser by a fault (not by SIGKILL/SIGTERM from outside, e.g. the OOM killer)
    faults = {-int(getattr(signal, n)) for n in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGABRT", "SIGFPE")
              if hasattr(signal, n)}
    crashed = r.returncode in faults and bool(started - set(done))
    if not (r.returncode == 0 and set(done) == set(_PROBE_NETS)) and not crashed:
        return None
    return {n: bool(done.get(n)) for n in _PROBE_NETS}


def _fusion_probe_main() -> None:
    """The child of `fusion_probe`: fuse and check each network as the pipeline would, reporting as it goes
    (a line before each attempt, so that the parent knows which one a crash happened in)."""
    import sys

    import torch

    torch.set_num_threads(1)
    pipe = BlazePoseTorch("cpu", optimize=False)
    for net, module, size in (("detector", pipe.detector, DET_SIZE), ("landmarker", pipe.landmarker, LM_SIZE)):
        print(f"fusion-probe start {net}", flush=True)
        _m, kind = _frozen(module, (1, 3, size, size), "cpu", onednn_fusion=True)
        print(f"fusion-probe done {net} {kind or 'eager'}", flush=True)
    sys.stdout.flush()


class BlazePoseTorch:
    """Detector + landmark model on one torch device, with MediaPipe's processing around them."""

    def __init__(self, device: str = "cpu", min_detection_confidence: float = 0.5,
                 min_presence: float = 0.5, max_people: int = 0, nms_threshold: float = 0.3,
                 optimize: bool = True):
        from ..attribution.mediapipe_torch import build_module, bundled_model_path
        from ..attribution.tflite_reader import read_tflite

        import torch

        self.torch = torch
        self.device = device
        self.min_detection_confidence = min_detection_confidence
        self.min_presence = min_presence
        self.max_people = max_people
        self.nms_threshold = nms_threshold
        try:
            det_path = bundled_model_path(DETECTOR_FILE)
            lm_path = bundled_model_path(LANDMARK_FILE)
        except FileNotFoundError as e:
            raise InputError(None, f"built-in pose model files missing: {e}") from None
        self.detector = build_module(read_tflite(det_path.read_bytes()),
                                     {"Identity": "boxes", "Identity_1": "scores"}).eval().to(device)
        # the landmark graph without its segmentation head (not used here: about a fifth of the work)
        self.landmarker = build_module(read_tflite(lm_path.read_bytes()),
                                       keep=["landmarks", "presence", "heatmaps", "world_landmarks"]).eval().to(device)
        for m in (self.detector, self.landmarker):
            for p in m.parameters():
                p.requires_grad_(False)
        self.optimized = False
        self.detector_fused = False
        self.landmarker_fused = False
        if optimize:
            # the oneDNN-fused graphs only where a child process has shown they work (a fuser bug segfaults)
            fuse = fusion_probe() if str(device).startswith("cpu") else {}
            self.detector, ok_d = _frozen(self.detector, (1, 3, DET_SIZE, DET_SIZE), device,
                                          onednn_fusion=fuse.get("detector", False))
            self.landmarker, ok_l = _frozen(self.landmarker, (1, 3, LM_SIZE, LM_SIZE), device,
                                            onednn_fusion=fuse.get("landmarker", False))
            self.optimized = bool(ok_d and ok_l)
            self.detector_fused = ok_d == "fused"
            self.landmarker_fused = ok_l == "fused"
        self.anchors = ssd_anchors()

    # ------------------------------------------------------------------ detection
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Person detections (normalised image coordinates), best first."""
        torch = self.torch
        img, (ph, pv) = letterbox_input(rgb)
        x = torch.from_numpy(img).to(self.device).permute(2, 0, 1)[None].float() * (2.0 / 255.0) - 1.0
        with torch.inference_mode():
            out = self.detector(x)
        raw = out["boxes"][0].float().cpu().numpy()
        logit = out["scores"][0, :, 0].float().cpu().numpy()
        score = (1.0 / (1.0 + np.exp(-np.clip(logit.astype(np.float64), -100.0, 100.0)))).astype(np.float32)
        keep = np.nonzero(score >= self.min_detection_confidence)[0]
        if not len(keep):
            return []
        raw, score, a = raw[keep], score[keep], self.anchors[keep]
        s = float(DET_SIZE)
        cx = raw[:, 0] / s + a[:, 0]
        cy = raw[:, 1] / s + a[:, 1]
        w, h = raw[:, 2] / s, raw[:, 3] / s
        boxes = np.stack([cx - w / 2, cy - h / 2, w, h], 1)
        kps = raw[:, 4:12].reshape(-1, 4, 2) / s + a[:, None, :]
        dets = weighted_nms(score, boxes, kps, self.nms_threshold)
        # remove the letterbox
        sx, sy = 1.0 - 2 * ph, 1.0 - 2 * pv
        for d in dets:
            d.box = np.array([(d.box[0] - ph) / sx, (d.box[1] - pv) / sy, d.box[2] / sx, d.box[3] / sy])
            d.keypoints = (d.keypoints - (ph, pv)) / (sx, sy)
        if self.max_people > 0:
            dets = dets[: self.max_people]
        return dets

    def roi_from_detection(self, d: Detection, W: int, H: int) -> Roi:
        return alignment_roi(d.keypoints[0], d.keypoints[1], W, H)

    # ------------------------------------------------------------------ landmarks
    def landmarks(self, rgb: np.ndarray, rois: list[Roi]) -> list[dict]:
        """Per ROI: 'keypoints' 39×2 px, 'z' 39, 'visibility' 39, 'presence_lm' 39, 'world' 39×3 m,
        'presence' (person), 'roi'. One batched forward pass for all ROIs."""
        torch = self.torch
        if not rois:
            return []
        H, W = rgb.shape[:2]
        crops = np.stack([roi_crop(rgb, r) for r in rois])
        x = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            out = self.landmarker(x)
        lm = out["landmarks"].float().cpu().numpy().reshape(len(rois), N_LANDMARKS, 5)
        heat = out["heatmaps"].float().cpu().numpy()  # N×39×64×64
        world = out["world_landmarks"].float().cpu().numpy().reshape(len(rois), N_LANDMARKS, 3)
        pres = out["presence"].float().cpu().numpy().reshape(len(rois))
        res = []
        for i, r in enumerate(rois):
            xy = lm[i, :, :2] / LM_SIZE
            xy = refine_from_heatmaps(xy, heat[i])
            z = lm[i, :, 2] / LM_SIZE
            # sigmoid; clipped so a saturated logit (seen on --boxes crops) does not overflow exp's float32
            vis = 1.0 / (1.0 + np.exp(-np.clip(lm[i, :, 3], -80.0, 80.0)))
            prs = 1.0 / (1.0 + np.exp(-np.clip(lm[i, :, 4], -80.0, 80.0)))
            c, s = math.cos(r.rotation), math.sin(r.rotation)
            dx, dy = xy[:, 0] - 0.5, xy[:, 1] - 0.5
            nx = (c * dx - s * dy) * r.w + r.x
            ny = (s * dx + c * dy) * r.h + r.y
            wx, wy = world[i, :, 0], world[i, :, 1]
            wl = np.stack([c * wx - s * wy, s * wx + c * wy, world[i, :, 2]], 1)
            res.append({"keypoints": np.stack([nx * W, ny * H], 1), "z": z * r.w, "visibility": vis,
                        "presence_lm": prs, "world": wl, "presence": float(pres[i]), "roi": r})
        return res

    def next_roi(self, lm: dict, W: int, H: int) -> Roi:
        """pose_landmarks_to_roi: the next frame's ROI from the auxiliary landmarks 33 (centre) and 34."""
        k = lm["keypoints"]
        return alignment_roi(k[33] / (W, H), k[34] / (W, H), W, H)

    def people(self, rgb: np.ndarray, rois: list[Roi] | None = None,
               scores: list[float] | None = None) -> list[tuple[dict, float]]:
        """(landmarks, detection score) for every person present; detects when `rois` is None."""
        H, W = rgb.shape[:2]
        if rois is None:
            dets = self.detect(rgb)
            rois = [self.roi_from_detection(d, W, H) for d in dets]
            scores = [d.score for d in dets]
        lms = self.landmarks(rgb, rois)
        scores = scores if scores is not None else [1.0] * len(lms)
        return [(lm, s) for lm, s in zip(lms, scores) if lm["presence"] >= self.min_presence]


def to_person(lm: dict, det_score: float) -> Person:
    p = Person(lm["keypoints"][:N_POSE].astype(float), np.clip(lm["visibility"][:N_POSE], 0, 1).astype(float),
               "mediapipe33", world=lm["world"][:N_POSE].astype(float), world_joint_set="mediapipe33")
    p.detection_score = float(det_score)
    p.presence = float(lm["presence"])
    return p.with_coco()


@register_adapter("pose", "blazepose")
class BlazePoseAdapter(PerImagePredictor):
    """The built-in pose model: BlazePose (full) detector + landmarks on torch, several people per image.

    `predict_image(rgb)` → one `Person` per detected person (MediaPipe-33 keypoints in pixels, COCO-17
    view, world joints in metres). With `boxes` (N×4 x, y, w, h) the detector is skipped and each box
    becomes an upright square ROI. Video mode (`set_video_mode(True)`) follows each person's ROI from its
    previous landmarks, as MediaPipe does, and re-runs the detector every `redetect_every` frames or when
    someone was lost.
    """

    joint_set = "mediapipe33"
    world_joint_set = "mediapipe33"
    world_axes = "x-right y-down z-forward (camera-aligned, origin mid-hips)"

    def __init__(self, min_detection_confidence: float = 0.5, max_people: int = 0, redetect_every: int = 8):
        self.min_detection_confidence = min_detection_confidence
        self.max_people = max_people
        self.redetect_every = redetect_every
        self.pipe: BlazePoseTorch | None = None
        self._video = False
        self._tracked: list[tuple[Roi, float]] = []
        self._since_detect = 0
        self._lock = threading.Lock()

    def load(self, spec: str | None = None, device: str = "cpu") -> None:
        self.pipe = BlazePoseTorch(device, self.min_detection_confidence, max_people=self.max_people)
        self.device = device

    def set_video_mode(self, video: bool) -> None:
        self._video = video
        self._tracked = []
        self._since_detect = 0

    def close(self) -> None:
        self._tracked = []

    def _frame(self, rgb: np.ndarray) -> list[tuple[dict, float]]:
        pipe = self.pipe
        H, W = rgb.shape[:2]
        if not self._video:
            return pipe.people(rgb)
        found: list[tuple[dict, float]] = []
        if self._tracked:
            found = pipe.people(rgb, [r for r, _ in self._tracked], [s for _, s in self._tracked])
        lost = len(found) < len(self._tracked)
        self._since_detect += 1
        # MediaPipe's rule when the number of people is bounded: the detector runs only while fewer than
        # `max_people` are followed (so one person, followed, costs one landmark pass per frame); otherwise
        # it also runs every `redetect_every` frames to pick up newcomers
        full = self.max_people > 0 and len(found) >= self.max_people
        if not self._tracked or lost or (not full and self._since_detect >= self.redetect_every):
            self._since_detect = 0
            dets = pipe.detect(rgb)
            # a detection is someone already followed when its mid-hip point lies close to a followed
            # person's hip centre (landmark 33), relative to that person's ROI size
            centres = [(lm["keypoints"][33], lm["roi"].w * W) for lm, _ in found]
            new = []
            for d in dets:
                r = pipe.roi_from_detection(d, W, H)
                c = d.keypoints[0] * (W, H)
                if all(np.hypot(*(c - o)) > 0.15 * side for o, side in centres):
                    new.append((r, d.score))
                    centres.append((c, r.w * W))
            if new:
                found += pipe.people(rgb, [r for r, _ in new], [s for _, s in new])
            if self.max_people > 0:
                found = found[: self.max_people]
        return found

    def predict_image(self, rgb: np.ndarray, boxes: np.ndarray | None = None) -> list[Person]:
        if self.pipe is None:
            raise RuntimeError("adapter not loaded")
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        H, W = rgb.shape[:2]
        with self._lock:
            if boxes is not None and len(boxes):
                rois = []
                for x, y, bw, bh in np.asarray(boxes, float):
                    side = max(bw, bh) * 1.25
                    rois.append(Roi((x + bw / 2) / W, (y + bh / 2) / H, side / W, side / H, 0.0))
                out = []
                for lm, b in zip(self.pipe.landmarks(rgb, rois), np.asarray(boxes, float)):
                    if lm["presence"] >= self.pipe.min_presence:
                        p = to_person(lm, 1.0)
                        p.box_hint = b
                        out.append(p)
                return out
            from .tracking import dedupe

            found = self._frame(rgb)
            people = [to_person(lm, s) for lm, s in found]
            # two ROIs that converged on one person (the one behind gets pulled onto the one in front) give
            # one person: keep the better-centred view, i.e. the higher presence × mean visibility
            kept = dedupe(sorted(people, key=lambda p: -(p.presence or 0.0) * p.score))
            kept.sort(key=lambda p: next(i for i, q in enumerate(people) if q is p))
            if self._video:
                self._tracked = [(self.pipe.next_roi(lm, W, H), s) for (lm, s), p in zip(found, people) if any(p is q for q in kept)]
            return kept


@register_adapter("pose", "mediapipe")
class MediaPipeNameAdapter(BlazePoseAdapter):
    """The same torch pipeline under the name projects and scripts used when the built-in model ran on
    the mediapipe package (which is no longer needed)."""
