"""Explain one voxel of a voxel model: image attributions on every camera and per-voxel input attribution.

For the built-in CamVox model (engine/attribution/camvox.py) and one picked voxel v with target class k:
  (a) Integrated Gradients of logit_k(v) w.r.t. the six camera images jointly (occupancy held fixed),
      black or blurred baseline. A camera whose image cannot reach v's logit (v projects behind it or
      outside it) gets an all-zero map and `visible=False` — that zero is exact, not thresholded, because
      the model only samples each image at the voxel's own projection;
  (b) IG (or gradient × input) of the same logit w.r.t. the input occupancy grid (images held fixed),
      baseline = empty grid → an X×Y×Z map, non-zero only on occupied voxels within ±3 voxels (the
      occupancy branch's receptive field).
Both report completeness (Σ attributions vs f(x) − f(baseline)) so the user sees the discretisation error.

`explain_user_voxel_model` does (b) for a user's torch module mapping a 1×C×X×Y×Z grid to 1×K×X×Y×Z logits
(TorchScript or a torch.save'd module, see `load_voxel_model`), so user models work the same way.
Results come back as `AttributionMap` layers tied (`on_layer`) to the voxel grid and the camera rig.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import AttributionMap, Scene, VoxelGrid

OCC_METHODS = ("ig", "gxi")


@dataclass
class VoxelExplainOptions:
    image_steps: int = 24            # IG path steps over the images
    occ_steps: int = 64              # IG path steps over the occupancy grid
    baseline: str = "black"          # image baseline: black | blurred
    occ_method: str = "ig"           # ig | gxi (gradient × input)
    batch_size: int = 4              # image path points per backbone pass
    target: Any = None               # class index/name (default: the predicted class)
    images: bool = True              # (a) — off for models without cameras
    tol: float | None = 0.01         # completeness tolerance: IG steps double until |Σ IG − Δf| / |Δf| ≤ tol
    max_steps: int = 256             # cap on the doubling (images); the grid's cap is 4 × that


@dataclass
class VoxelExplanation:
    voxel: tuple[int, int, int]
    target: int
    target_name: str
    predicted: int
    predicted_name: str
    probabilities: dict[str, float]
    camera_names: list[str]
    camera_maps: dict[str, np.ndarray]        # name → H×W float32 (zeros where not visible)
    camera_visible: dict[str, bool]
    camera_uv: dict[str, tuple[float, float] | None]
    voxel_map: np.ndarray                     # X×Y×Z float32 (signed)
    grid: VoxelGrid                           # the occupancy grid the map belongs to
    metrics: dict = field(default_factory=dict)
    layers: list[AttributionMap] = field(default_factory=list)
    images: dict[str, np.ndarray] = field(default_factory=dict)   # name → H×W×3 uint8 (for overlays)
    model: str = ""
    grid_is_new: bool = False                 # the grid was made from a point cloud (add it to the scene)


def parse_voxel(spec, grid: VoxelGrid) -> tuple[int, int, int]:
    """'i,j,k' / (i, j, k) voxel index; with a leading 'm:' or floats with a dot, metric x,y,z (frame)."""
    if isinstance(spec, str):
        s = spec.strip()
        metric = s.startswith("m:") or "." in s
        s = s[2:] if s.startswith("m:") else s
        try:
            vals = [float(v) for v in s.split(",")]
        except ValueError:
            raise InputError(None, f"--voxel {spec!r}: expected i,j,k (indices) or m:x,y,z (metres)") from None
    else:
        vals, metric = [float(v) for v in spec], False
    if len(vals) != 3:
        raise InputError(None, f"voxel {spec!r} needs three values")
    idx = grid.index_of(np.array(vals)[None])[0] if metric else np.array([int(round(v)) for v in vals])
    idx = np.asarray(idx).reshape(3)
    if np.any(idx < 0) or np.any(idx >= np.asarray(grid.shape)):
        raise InputError(None, f"voxel {tuple(int(v) for v in idx)} is outside the grid {grid.shape}")
    return tuple(int(v) for v in idx)


def _prob_dict(model, logits) -> dict[str, float]:
    import torch

    p = torch.softmax(logits, -1)
    return {model.class_name(i): float(p[i]) for i in range(len(p))}


def explain_camvox(inputs, voxel, opts: VoxelExplainOptions | None = None, model=None, device: str = "cpu",
                   ctx: JobContext | None = None) -> VoxelExplanation:
    """(a) + (b) for CamVox on `inputs` (engine.attribution.camvox.CamVoxInputs) at voxel index `voxel`."""
    import torch

    from .camvox import load_camvox, make_query
    from .ig import integrated_gradients

    opts = opts or VoxelExplainOptions()
    ctx = ctx or JobContext()
    if opts.occ_method not in OCC_METHODS:
        raise InputError(None, f"unknown occupancy method {opts.occ_method!r} (use {'|'.join(OCC_METHODS)})")
    if opts.baseline not in ("black", "blurred"):
        raise InputError(None, f"image baseline {opts.baseline!r}: use black or blurred")
    t_all = time.perf_counter()
    with ctx.stage("load model"):
        ctx.progress(0.0, "loading CamVox")
        model = model or load_camvox(device=device)
    v = parse_voxel(voxel, inputs.grid)
    cams = inputs.rig.cameras
    q = make_query(inputs.grid, np.array([v]), cams)
    images = inputs.image_tensor(device)
    occ = inputs.occ_tensor(device)
    with ctx.stage("predict"):
        ctx.progress(0.03, "predicting the voxel")
        with torch.no_grad():
            raw = model.sample_raw(model.raw_image_maps(images), q)           # 1×1×40
            octx = model.occ_context(occ, q)                                  # 1×1×ctx
            logits = model.classify(raw, octx, q)[0, 0]
    pred = int(logits.argmax())
    t = model.class_index(opts.target, pred)
    metrics: dict = {"voxel": list(v), "occupied": bool(inputs.occ[v] > 0), "target": t,
                     "target_name": model.class_name(t), "predicted": model.class_name(pred),
                     "logit": float(logits[t]), "model": model.name}
    vis = [bool(q.valid[c, 0]) for c in range(len(cams))]
    cam_maps = {c.name: np.zeros(c.image.shape[:2], np.float32) for c in cams}
    uv = {c.name: (tuple(float(x) for x in q.uv[i, 0]) if vis[i] else None) for i, c in enumerate(cams)}
    seen = [i for i, ok in enumerate(vis) if ok]
    # (a) images
    if opts.images and seen:
        with ctx.stage("IG images"):
            x = images[:, seen].reshape(1, -1, *images.shape[-2:])
            n = len(seen)

            def f_img(pts):
                s = pts.shape[0]
                maps = model.raw_image_maps(pts.reshape(s, n, 3, *pts.shape[-2:]))
                r = model.sample_raw(maps, q, cams=seen)
                return model.classify(r, octx.expand(s, -1, -1), q)[:, 0, :]

            r = integrated_gradients(f_img, x, t, opts.baseline, opts.image_steps, "gausslegendre",
                                     opts.batch_size, progress=ctx.sub(0.05, 0.8), cancel=ctx.cancel_event,
                                     tol=opts.tol, max_steps=max(opts.image_steps, opts.max_steps))
            a = r.attributions.reshape(n, 3, *images.shape[-2:]).sum(1)
            for j, ci in enumerate(seen):
                cam_maps[cams[ci].name] = a[j].astype(np.float32)
            metrics["image"] = {"method": "ig", "baseline": r.baseline, "steps": r.steps, "f_input": r.f_input,
                                "f_baseline": r.f_baseline, "output_difference": r.output_difference,
                                "convergence_delta": r.convergence_delta, "relative_error": r.relative_error,
                                "tolerance": r.tolerance, "converged": r.converged, "steps_tried": r.tried,
                                "cameras_seeing": [cams[i].name for i in seen]}
            _warn(metrics, "image", r)
    elif opts.images:
        metrics["image"] = {"cameras_seeing": [], "note": "no camera sees this voxel"}
    # (b) occupancy
    with ctx.stage("IG occupancy"):
        def f_occ(pts):
            s = pts.shape[0]
            return model.classify(raw.expand(s, -1, -1), model.occ_context(pts, q), q)[:, 0, :]

        vmap, m_occ = _occupancy_attribution(f_occ, occ, t, opts, ctx.sub(0.8, 0.99), ctx.cancel_event)
        metrics["occupancy"] = m_occ
        if "_result" in m_occ:
            _warn(metrics, "occupancy", m_occ.pop("_result"))
    metrics["seconds"] = time.perf_counter() - t_all
    with torch.no_grad():
        probs = _prob_dict(model, logits)
    res = VoxelExplanation(v, t, model.class_name(t), pred, model.class_name(pred), probs, [c.name for c in cams],
                           cam_maps, dict(zip([c.name for c in cams], vis)), uv, vmap, inputs.grid, metrics,
                           images={c.name: np.asarray(c.image) for c in cams}, model=model.name)
    res.layers = result_layers(res, inputs.rig.uid)
    ctx.progress(1.0, "done")
    return res


def _occupancy_attribution(f, occ, target: int, opts: VoxelExplainOptions, progress, cancel):
    """IG (empty-grid baseline) or gradient × input of f(occ)[:, target] w.r.t. the occupancy grid."""
    import torch

    from .ig import integrated_gradients

    if opts.occ_method == "gxi":
        x = occ.detach().clone().requires_grad_(True)
        out = f(x)[:, target].sum()
        (g,) = torch.autograd.grad(out, x)
        progress(1.0, "gradient × input")
        a = (g * occ)[0].cpu().numpy()
        with torch.no_grad():
            fb = float(f(torch.zeros_like(occ))[0, target])
        fx = float(out.detach())
        return a.astype(np.float32), {"method": "gxi", "f_input": fx, "f_baseline": fb,
                                      "output_difference": fx - fb, "sum": float(a.sum())}
    r = integrated_gradients(f, occ, target, "black", opts.occ_steps, "gausslegendre", 16, progress=progress,
                             cancel=cancel, tol=opts.tol, max_steps=max(opts.occ_steps, 4 * opts.max_steps))
    return r.attributions.astype(np.float32), {
        "method": "ig", "baseline": "empty grid", "steps": r.steps, "f_input": r.f_input, "f_baseline": r.f_baseline,
        "output_difference": r.output_difference, "convergence_delta": r.convergence_delta,
        "relative_error": r.relative_error, "tolerance": r.tolerance, "converged": r.converged,
        "steps_tried": r.tried, "_result": r}


def _warn(metrics: dict, part: str, r) -> None:
    """A warning line in metrics["warnings"] when IG stopped at its cap above the tolerance."""
    from .pipeline import ig_warning

    w = ig_warning(r)
    if w:
        metrics.setdefault("warnings", []).append(f"{part}: {w}")


def result_layers(res: VoxelExplanation, rig_uid: str) -> list[AttributionMap]:
    """AttributionMap layers: one per-voxel map on the grid, one per-pixel map per camera on the rig."""
    tgt = {"voxel": list(res.voxel), "class": res.target_name, "class_index": res.target}
    g = res.grid
    out = [AttributionMap(name="Voxel attribution (occupancy)", source=f"{res.model} job", scores=res.voxel_map,
                          target=tgt, method=res.metrics.get("occupancy", {}).get("method", "ig"), on_layer=g.uid,
                          meta={"origin": g.origin, "voxel_size": g.voxel_size, "signed": True,
                                "picked": list(res.voxel)})]
    for name in res.camera_names:
        out.append(AttributionMap(name=f"Voxel attribution {name}", source=f"{res.model} job",
                                  scores=res.camera_maps[name], target=tgt, method="ig", on_layer=rig_uid,
                                  visible=False,  # per-pixel maps are drawn in the camera grid, not in 3D
                                  meta={"camera": name, "visible": res.camera_visible[name],
                                        "uv": res.camera_uv[name], "signed": True}))
    return out


def predict_grid(inputs, model=None, device: str = "cpu", ctx: JobContext | None = None,
                 name: str = "CamVox prediction") -> VoxelGrid:
    """Run CamVox on every occupied voxel: a grid with the predicted classes (Occ3D ids; background → 0
    'others') and the winning probability as `scores`."""
    import torch

    from .camvox import load_camvox, make_query

    ctx = ctx or JobContext()
    model = model or load_camvox(device=device)
    idx = np.argwhere(inputs.occ > 0)
    ctx.progress(0.05, "image features")
    q = make_query(inputs.grid, idx, inputs.rig.cameras)
    with torch.no_grad():
        raw = model.sample_raw(model.raw_image_maps(inputs.image_tensor(device)), q)
        ctx.progress(0.6, f"classifying {len(idx):,} voxels")
        p = torch.softmax(model.classify(raw, model.occ_context(inputs.occ_tensor(device), q), q)[0], -1)
    conf, cls = p.max(-1)
    g = VoxelGrid(name=name, source=f"{model.name} on {inputs.grid.source or inputs.grid.name}",
                  labels=np.full(inputs.grid.shape, 17, np.uint8), origin=inputs.grid.origin,
                  voxel_size=inputs.grid.voxel_size, label_set="occ3d", free_label=17, ignore_label=None,
                  frame=inputs.grid.frame)
    ids = np.array([c["occ3d_id"] for c in model.classes], np.uint8)
    g.labels[tuple(idx.T)] = ids[cls.numpy()]
    g.scores = np.zeros(g.shape, np.float32)
    g.scores[tuple(idx.T)] = conf.numpy()
    g.meta.update({"role": "prediction", "model": model.name, "classes": [c["name"] for c in model.classes],
                   "model_class": _class_grid(g.shape, idx, cls.numpy())})
    ctx.progress(1.0, "done")
    return g


def _class_grid(shape, idx, cls) -> np.ndarray:
    m = np.full(shape, -1, np.int16)
    m[tuple(idx.T)] = cls
    return m


# ------------------------------------------------------------------------------------------ user models
def load_voxel_model(path: str | Path, device: str = "cpu", weights: str | Path | None = None):
    """A user's voxel model mapping 1×C×X×Y×Z → 1×K×X×Y×Z logits, per `common.MODEL_CONTRACT` (TorchScript, an
    adapter .py with build_model() + state_dict/.safetensors weights, or a trusted whole-module pickle)."""
    from .common import load_user_model

    return load_user_model(path, device, weights)


def explain_user_voxel_model(module, grid_input: np.ndarray, grid: VoxelGrid, voxel, target=None,
                             opts: VoxelExplainOptions | None = None, ctx: JobContext | None = None,
                             name: str = "user model") -> VoxelExplanation:
    """Per-voxel attribution of a user model's logit at `voxel` w.r.t. its C×X×Y×Z input (summed over C)."""
    import torch

    opts = opts or VoxelExplainOptions()
    ctx = ctx or JobContext()
    x = torch.as_tensor(np.asarray(grid_input, np.float32))
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(grid.shape):
        raise InputError(None, f"model input must be C×{'×'.join(map(str, grid.shape))}, got {tuple(x.shape)}")
    v = parse_voxel(voxel, grid)
    C, X, Y, Z = x.shape
    t0 = time.perf_counter()

    def f(pts):  # S×C×X×(Y·Z) (ig.py works on 4-D tensors) → S×K
        out = module(pts.reshape(pts.shape[0], C, X, Y, Z))
        if out.dim() != 5 or tuple(out.shape[2:]) != (X, Y, Z):
            raise InputError(None, f"model output must be N×K×{X}×{Y}×{Z}, got {tuple(out.shape)}")
        return out[:, :, v[0], v[1], v[2]]

    x4 = x.reshape(1, C, X, Y * Z)
    with torch.no_grad():
        logits = f(x4)[0]
    pred = int(logits.argmax())
    t = pred if target in (None, "") else int(target)
    if not 0 <= t < len(logits):
        raise InputError(None, f"target class {t} out of range (0..{len(logits) - 1})")
    a, m = _occupancy_attribution(f, x4, t, opts, ctx.sub(0.0, 0.99), ctx.cancel_event)
    vmap = a.reshape(C, X, Y, Z).sum(0).astype(np.float32)
    metrics = {"voxel": list(v), "target": t, "predicted": pred, "logit": float(logits[t]), "model": name,
               "occupancy": m, "seconds": time.perf_counter() - t0}
    p = torch.softmax(logits, -1)
    res = VoxelExplanation(v, t, f"class {t}", pred, f"class {pred}", {f"class {i}": float(p[i]) for i in range(len(p))},
                           [], {}, {}, {}, vmap, grid, metrics, model=name)
    res.layers = result_layers(res, "")
    ctx.progress(1.0, "done")
    return res


# ------------------------------------------------------------------------------------------ jobs
def make_voxel_job(scene: Scene, voxel, opts: VoxelExplainOptions | None = None, model: str | None = None,
                   device: str = "cpu", grid: VoxelGrid | None = None, weights: str | None = None) -> Job:
    """A Job explaining `voxel` in `scene`: CamVox (default, or a CamVox checkpoint `model`) or a user
    voxel model (`model` = TorchScript / torch.save'd module file) on the scene's occupancy."""

    def work(ctx: JobContext) -> VoxelExplanation:
        from .camvox import inputs_from_scene

        with ctx.stage("inputs"):
            ctx.progress(0.0, "preparing occupancy and images")
            opts_ = opts or VoxelExplainOptions()
            if model and not _is_camvox_checkpoint(model):
                from .camvox import voxelise_points
                from ..scene import PointCloud

                g = grid or next(iter(scene.of_type(VoxelGrid)), None)
                new = g is None
                if g is None:
                    pcs = scene.of_type(PointCloud)
                    if not pcs:
                        raise InputError(scene.path, "the scene has neither a voxel grid nor a point cloud")
                    g = voxelise_points(pcs[0])
                module = load_voxel_model(model, device, weights)
                res = explain_user_voxel_model(module, g.occupied().astype(np.float32)[None], g, voxel,
                                               opts_.target, opts_, ctx, Path(model).name)
                res.grid_is_new = new
                return res
            inputs = inputs_from_scene(scene, grid)
        from .camvox import load_camvox

        res = explain_camvox(inputs, voxel, opts_, load_camvox(model, device) if model else None, device, ctx)
        res.grid_is_new = inputs.grid.uid not in {lay.uid for lay in scene.layers}
        return res

    return Job(f"Explain voxel {voxel}", work)


def _is_camvox_checkpoint(path: str) -> bool:
    import torch

    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        return False
    return isinstance(ck, dict) and "heads" in ck and "classes" in ck


def make_predict_job(scene: Scene, device: str = "cpu", grid: VoxelGrid | None = None) -> Job:
    def work(ctx: JobContext) -> VoxelGrid:
        from .camvox import inputs_from_scene

        inputs = inputs_from_scene(scene, grid)
        return predict_grid(inputs, device=device, ctx=ctx)

    return Job("CamVox: predict voxels", work)
