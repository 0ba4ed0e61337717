"""PoseIG / occlusion runs on a pose model: person crop, ground truth, per-joint maps, indices, curves.

Kept apart from `pipeline.py` because pose needs things classifiers do not: a person crop (MediaPipe's
landmark model sees a 256×256 crop, warped with edge replication as MediaPipe does), ground-truth
keypoints and a person mask (from a COCO keypoint JSON when given; otherwise the model's own prediction
on the unperturbed image serves as the reference, so targets then measure stability, not accuracy),
and mapping the crop-resolution maps back onto the full image.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..jobs import JobContext
from .mediapipe_torch import COCO17_NAMES, COCO17_TO_BLAZEPOSE

BUILTIN_POSE = "mediapipe-pose"


def mediapipe_keypoints(out: dict, kernel: int = 7, min_confidence: float = 0.5, size: int = 256):
    """MediaPipe's own landmark decode, in torch: N×39×2 (x, y) in crop pixels, and which were refined.

    As `PoseLandmarkByRoiCpu` decodes the landmark model (TensorsToLandmarksCalculator, then
    RefineLandmarksFromHeatmapCalculator with kernel_size 7, min_confidence_to_refine 0.5): the regressed
    (x, y) of `Identity`; where the sigmoid of the 64×64 heatmap reaches ≥ 0.5 in the kernel×kernel window
    around the regressed point (centre cell = truncated x·64/256), the point is replaced by the sigmoid-
    weighted mean of the window's cell indices (×256/64, no half-pixel shift, as mediapipe writes it). The
    window is chosen from the regressed point (piecewise constant, like the calculator's integer
    indexing); the weighted mean and the regressed coordinates carry the gradients.
    """
    import torch

    lm = out["landmarks"]
    n = lm.shape[0]
    lm = lm.reshape(n, -1, 5)[:, :, :2]
    hm = out["heatmaps"]
    _, J, h, w = hm.shape
    off = (kernel - 1) // 2
    with torch.no_grad():
        cc = torch.trunc(lm[..., 0] / size * w)
        cr = torch.trunc(lm[..., 1] / size * h)
        # the calculator's bounds test checks the column twice and never the row's upper bound (kept as is)
        inside = (cc >= 0) & (cc < w) & (cr >= 0) & (cc < h)
        cols = torch.arange(w, dtype=hm.dtype, device=hm.device)
        rows = torch.arange(h, dtype=hm.dtype, device=hm.device)
        mc = ((cols >= cc[..., None] - off) & (cols <= cc[..., None] + off)).to(hm.dtype)
        mr = ((rows >= cr[..., None] - off) & (rows <= cr[..., None] + off)).to(hm.dtype)
        window = mr[..., :, None] * mc[..., None, :]
    conf = torch.sigmoid(hm) * window
    s = conf.sum((-1, -2))
    refined = inside & (conf.amax((-1, -2)) >= min_confidence) & (s > 0)
    sd = s.clamp_min(1e-12)
    xr = (conf * cols).sum((-1, -2)) / sd * (size / w)
    yr = (conf * rows[:, None]).sum((-1, -2)) / sd * (size / h)
    return torch.where(refined[..., None], torch.stack([xr, yr], -1), lm), refined


class PoseModel:
    """A differentiable pose model on N×3×S×S crops in [0, 1].

    `keypoints(x) -> N×J×2` (crop pixels) is the model's own decode: MediaPipe's regressed landmarks with
    its heatmap refinement for the built-in model; an adapter's `decode_keypoints(output)` when it has
    one; otherwise (a plain heatmap adapter) the soft-argmax (β = 10) of the heatmaps, PoseIG's convention
    for heatmap models, which is the only differentiable read-out such a model offers. `decoder` names
    which one is used (it goes into the metrics).
    """

    def __init__(self, module, joint_names: list[str], channels: list[int], input_size: int, name: str,
                 sigmoid: bool, decode=None, decoder: str = "soft-argmax of the heatmaps (β = 10)"):
        self.module, self.joint_names, self.channels = module, joint_names, channels
        self.input_size, self.name, self.sigmoid = input_size, name, sigmoid
        self._decode, self.decoder = decode, decoder

    def heatmaps(self, x):
        import torch

        out = self.module(x)
        h = out["heatmaps"] if isinstance(out, dict) else out
        h = h[:, self.channels]
        return torch.sigmoid(h) if self.sigmoid else h

    def keypoints(self, x):
        """N×J×2 keypoints in crop pixels, as the model itself decodes them (see the class docstring)."""
        from . import poseig as P

        if self._decode is not None:
            return self._decode(self.module(x))[:, self.channels]
        hm = self.heatmaps(x)
        stride = self.input_size / hm.shape[-1]
        return (P.soft_argmax(hm) + 0.5) * stride - 0.5


def load_pose_model(spec: str | None, device: str) -> PoseModel:
    """Built-in MediaPipe (torch rebuild) or a user adapter file exposing `torch_module()`/`joint_names`
    (and optionally `decode_keypoints(output) -> N×J×2` crop pixels, its own differentiable decode)."""
    if spec in (None, "", BUILTIN_POSE):
        from .mediapipe_torch import load_pose_landmark_model

        try:
            m = load_pose_landmark_model(device=device)
        except FileNotFoundError as e:
            raise InputError(None, f"built-in pose model unavailable: {e}") from None
        for p in m.parameters():
            p.requires_grad_(False)
        return PoseModel(m, COCO17_NAMES, COCO17_TO_BLAZEPOSE, 256, BUILTIN_POSE, sigmoid=True,
                         decode=lambda out: mediapipe_keypoints(out)[0],
                         decoder="MediaPipe landmarks (regressed, refined on the heatmap, kernel 7)")
    from ..adapters import load_adapter_file, load_instance

    inst = load_instance(load_adapter_file(spec)(), None, device, spec)
    if not hasattr(inst, "torch_module"):
        raise InputError(spec, "pose adapter for attribution needs torch_module() returning heatmaps N×J×h×w")
    names = list(getattr(inst, "joint_names", COCO17_NAMES))
    dec = getattr(inst, "decode_keypoints", None)
    return PoseModel(inst.torch_module(), names, list(range(len(names))), int(getattr(inst, "input_size", 256)),
                     Path(spec).name, sigmoid=bool(getattr(inst, "heatmap_logits", False)), decode=dec,
                     **({"decoder": "the adapter's decode_keypoints"} if dec is not None else {}))


def crop_transform(bbox, size: int, scale: float = 1.25) -> np.ndarray:
    """2×3 affine mapping image pixels → a size×size square crop around `bbox` (x, y, w, h) enlarged by `scale`."""
    x, y, w, h = [float(v) for v in bbox]
    cx, cy = x + w / 2, y + h / 2
    side = max(w, h) * scale
    s = size / side
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float64)


def warp(img: np.ndarray, A: np.ndarray, size: int, border_replicate: bool = True, nearest: bool = False) -> np.ndarray:
    import cv2

    return cv2.warpAffine(img, A, (size, size), flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE if border_replicate else cv2.BORDER_CONSTANT)


def unwarp(m: np.ndarray, A: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.warpAffine(m.astype(np.float32), A, (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def coco_ground_truth(json_path: str, image_path: str, image_hw: tuple[int, int], person: int = 0) -> dict:
    """Keypoints (17×3, COCO order), bbox and binary mask of one annotated person of `image_path`."""
    p = Path(json_path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(p, f"not a readable COCO JSON: {e}") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise InputError(p, "not a COCO keypoint file (needs 'images' and 'annotations')")
    name = Path(image_path).name
    ids = [im["id"] for im in data["images"] if Path(im.get("file_name", "")).name == name]
    if not ids:
        raise InputError(p, f"has no image named {name}")
    anns = [a for a in data["annotations"] if a.get("image_id") == ids[0] and a.get("num_keypoints", 0) > 0
            and not a.get("iscrowd", 0)]
    anns.sort(key=lambda a: -a.get("area", 0))
    if not anns:
        raise InputError(p, f"has no person with keypoints in {name}")
    if not 0 <= person < len(anns):
        raise InputError(p, f"person {person} out of range (the image has {len(anns)})")
    a = anns[person]
    kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
    h, w = image_hw
    mask = np.zeros((h, w), np.uint8)
    seg = a.get("segmentation")
    if seg:
        from pycocotools import mask as mask_utils

        if isinstance(seg, list):
            rles = mask_utils.frPyObjects(seg, h, w)
            mask = mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
        else:
            mask = mask_utils.decode(seg if not isinstance(seg.get("counts"), list) else
                                     mask_utils.frPyObjects(seg, h, w)).astype(np.uint8)
    return {"keypoints": kp, "bbox": a["bbox"], "mask": mask, "annotation_id": a.get("id")}


def run_pose_method(img: np.ndarray, method: str, target, model, opts, device: str = "cpu",
                    ctx: JobContext | None = None, source: str = ""):
    import torch

    from . import faithfulness as fa
    from . import poseig as P
    from .common import to_tensor
    from .pipeline import AttributionResult

    ctx = ctx or JobContext()
    cancel = ctx.cancel_event
    with ctx.stage("load model"):
        ctx.progress(0.0, "loading pose model")
        pm = load_pose_model(model, device)
    H, W = img.shape[:2]
    S = pm.input_size
    gt = coco_ground_truth(opts.gt, source or "", (H, W), opts.person) if opts.gt else None
    bbox = gt["bbox"] if gt else [0, 0, W, H]
    A = crop_transform(bbox, S)
    crop = warp(img, A, S)
    x = to_tensor(crop, device)
    joints = opts.joints or pm.joint_names
    unknown = [j for j in joints if j not in pm.joint_names]
    if unknown:
        raise InputError(None, f"unknown joint(s) {', '.join(unknown)} (model joints: {', '.join(pm.joint_names)})")
    sel = [pm.joint_names.index(j) for j in joints]
    with torch.no_grad():
        out0 = pm.module(x)
        pred_px = pm.keypoints(x)[0, sel].cpu().numpy().astype(np.float64)  # the model's own keypoints, crop px
    hm_out = out0.get("heatmaps") if isinstance(out0, dict) else out0
    hw = int(hm_out.shape[-1]) if getattr(hm_out, "dim", lambda: 0)() == 4 else S // 4
    stride = S / hw  # PoseIG measures distances in heatmap pixels (crop pixels / stride)
    if gt is not None:
        kp = gt["keypoints"][sel]
        gt_px = np.c_[kp[:, :2], np.ones(len(kp))] @ A.T  # crop pixels
        vis = (kp[:, 2] > 0).astype(np.float64)
        mask_crop = warp(gt["mask"], A, S, border_replicate=False, nearest=True) > 0
        reference = "ground truth"
    else:
        gt_px = pred_px.copy()
        vis = np.ones(len(sel))
        seg = out0.get("segmentation") if isinstance(out0, dict) else None
        mask_crop = (seg[0, 0].cpu().numpy() > 0) if seg is not None else np.zeros((S, S), bool)
        reference = "model prediction on the unperturbed image"
    gt_t = torch.as_tensor(gt_px / stride, dtype=x.dtype, device=x.device)

    def target_fn(b):
        """target_j = exp(−0.3·‖k̂_j − k_j‖) with k̂ the model's decoded keypoints, in heatmap pixels."""
        return P.joint_likelihood(pm.keypoints(b)[:, sel] / stride, gt_t)

    if target in (None, ""):
        tj = None
    elif str(target) in joints:
        tj = joints.index(str(target))
    else:
        raise InputError(None, f"unknown target joint {target!r} (joints: {', '.join(joints)})")
    metrics: dict = {"reference": reference, "joints": joints, "input_size": S}
    t0 = time.perf_counter()
    work = ctx.sub(0.02, 0.8 if opts.faithfulness else 0.98)
    with ctx.stage(method):
        if method == "poseig":
            r = P.poseig(target_fn, x, joints, opts.steps, 19.0, opts.batch_size,
                         batch_joints=getattr(opts, "batch_joints", None), progress=work, cancel=cancel,
                         tol=opts.tol, max_fold=opts.max_steps)
            crop_maps = {j: r.maps[i] for i, j in enumerate(joints)}
            metrics.update(fold=r.fold, targets={j: float(v) for j, v in zip(joints, r.targets)},
                           targets_start={j: float(v) for j, v in zip(joints, r.targets_start)},
                           completeness_gap={j: float(v) for j, v in zip(joints, r.gaps)},
                           relative_gap_per_joint={j: float(v) for j, v in zip(joints, r.relative_gaps)},
                           relative_error=r.max_relative_gap, steps=r.fold, steps_tried=r.tried,
                           tolerance=r.tolerance, converged=r.converged)
            metrics["stalled"] = r.stalled
            if r.stalled:
                metrics.setdefault("warnings", []).append(
                    f"completeness gap {r.max_relative_gap:.1%} stays above the {r.tolerance:.1%} tolerance as the "
                    f"fold doubles (stopped at {r.fold}): the target jumps along the blur path (the model's decode "
                    f"switches there), so Σ IG misses those jumps; more steps will not close it")
            elif not r.converged:
                metrics.setdefault("warnings", []).append(
                    f"completeness gap {r.max_relative_gap:.1%} is above the {r.tolerance:.1%} tolerance at the "
                    f"fold cap {r.fold}: raise --max-steps (or accept a looser --tol)")
        elif method == "occlusion":
            from .occlusion import occlusion

            crop_maps = {}
            ids = range(len(joints)) if tj is None else [tj]
            for n, i in enumerate(ids):
                sub = ctx.sub(0.02 + 0.78 * n / len(ids), 0.02 + 0.78 * (n + 1) / len(ids))
                o = occlusion(lambda b, i=i: target_fn(b)[:, i], x, opts.window, opts.stride, "blur", opts.batch_size,
                              sub, cancel)
                crop_maps[joints[i]] = o.attributions.astype(np.float32)  # signed: negative = occluding helps
            metrics.update(window=opts.window, stride=opts.stride)
        else:
            raise InputError(None, f"method {method!r} is not available for pose models (use poseig or occlusion)")
    metrics["seconds_method"] = time.perf_counter() - t0
    # indices (on crop-resolution maps, as PoseIG computes them)
    gt_hm = (gt_px + 0.5) / stride - 0.5  # heatmap-cell coordinates of the reference keypoints
    gt_heat = {j: P.gt_heatmap_at_input(gt_hm[i], (hw, hw), (S, S), 2.0) for i, j in enumerate(joints)}
    weights = {j: float(vis[i]) for i, j in enumerate(joints)}
    # the indices measure where the evidence *for* the joint lies: the positive part of a signed map
    indices = P.indices_for_maps({j: np.clip(m, 0, None) for j, m in crop_maps.items()}, mask_crop,
                                 {j: gt_heat[j] for j in crop_maps}, {j: weights[j] for j in crop_maps})
    epe_px = np.linalg.norm(pred_px - gt_px, axis=1)
    metrics["EPE"] = {j: float(epe_px[i]) for i, j in enumerate(joints)}
    metrics["keypoint_decode"] = pm.decoder
    metrics["joint_inversions"] = P.joint_inversions(pred_px, gt_px, joints, vis, 10.0)
    metrics["predicted_keypoints_crop"] = pred_px.tolist()
    metrics["reference_keypoints_crop"] = gt_px.tolist()
    # the main map: the target joint's, else the mean over joints
    shown = crop_maps[joints[tj]] if tj is not None and joints[tj] in crop_maps else np.mean(list(crop_maps.values()), 0)
    curves = {}
    if opts.faithfulness:
        with ctx.stage("faithfulness"):
            ti = tj if tj is not None else None

            def score(b):
                t = target_fn(b)
                return t[:, ti] if ti is not None else t.mean(1)
            from .pipeline import measure_faithfulness

            fm_metrics, curves = measure_faithfulness(score, x, shown.astype(np.float64), opts, ctx, 0.8, 0.98,
                                                      opts.curve_step or S * 8,
                                                      opts.stride if method == "occlusion" else 1)
            warns = fm_metrics.pop("warnings", [])
            metrics.update(fm_metrics)
            if warns:
                metrics.setdefault("warnings", []).extend(warns)
    full = {j: unwarp(m, A, (H, W)) for j, m in crop_maps.items()}
    ctx.progress(1.0, "done")
    res = AttributionResult(img, unwarp(shown, A, (H, W)), method, joints[tj] if tj is not None else "all joints",
                            joints[tj] if tj is not None else "all joints", pm.name, method == "occlusion", metrics,
                            [], curves, full,
                            indices, source=source)
    res.extra.update(crop=crop, crop_maps=crop_maps, crop_transform=A, mask_crop=mask_crop,
                     pred_keypoints=(np.c_[pred_px, np.ones(len(pred_px))] @ np.linalg.inv(np.r_[A, [[0, 0, 1]]]).T)[:, :2])
    return res
