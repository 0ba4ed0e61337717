"""Per-point attribution for point-cloud inputs: users' torch point models, and (re-exported from
`registration_explain`) the cell-ablation explanation of a registration.

User models take one cloud as a 1×N×C tensor (``layout="NC"``, channels = xyz then the chosen per-point
attributes, e.g. intensity) or 1×C×N (``layout="CN"``, PointNet style) and return logits per cloud (1×K) or
per point (1×N×K, or 1×K×N for CN models). The target is a class id (per-cloud output) or (point index,
class id) for segmentation. Two gradient methods, both reduced to one score per point:

  * Integrated Gradients — captum's quadrature nodes and weights, path points batched, progress + cancel
    per batch (as `ig.py` does for images; `captum` itself is the cross-check in the tests).
  * gradient × (input − baseline) at the input — one backward pass; equals the classic gradient × input for
    the zeros baseline.

Baselines ("what is absence of a point cloud?"):
  * ``centroid`` (default): every point collapsed onto the cloud's centroid, extra channels zeroed. The
    path then grows the shape out of one location, so xyz attributions measure the *geometry* relative to
    where the cloud is; unlike zeros it does not move the cloud to the world origin (far away for a LiDAR
    scan cut-out, which most models never saw).
  * ``zeros``: all channels 0 (the same as ``centroid`` for centred, normalised inputs).
  * ``features``: xyz kept, extra channels zeroed — attributes only the per-point features (xyz gets 0).

Per point: ``signed`` = sum over channels (Σ of it = IG completeness gap aside, F(x) − F(x′)) and
``magnitude`` = L2 norm over channels. Scores come back as an `AttributionMap` on the cloud's layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import AttributionMap, PointCloud
from .registration_explain import ExplainParams, RegistrationExplanation, explain_registration  # noqa: F401

BASELINES = ("centroid", "zeros", "features")
METHODS = ("ig", "gradxinput")


@dataclass
class PointAttribution:
    signed: np.ndarray  # (N,) sum over channels
    magnitude: np.ndarray  # (N,) L2 over channels
    per_channel: np.ndarray  # (N, C)
    f_input: float
    f_baseline: float
    convergence_delta: float  # Σ signed − (f_input − f_baseline); only meaningful for IG
    method: str
    baseline: str
    target: object
    steps: int
    tolerance: float | None = None
    converged: bool = True
    tried: list = field(default_factory=list)

    @property
    def relative_error(self) -> float:
        """|Σ − Δf| / |Δf|; NaN when the output does not change (Δf = 0)."""
        d = self.f_input - self.f_baseline
        return abs(self.convergence_delta) / abs(d) if d != 0 else float("nan")


def load_point_model(path: str | Path, device: str = "cpu", weights: str | Path | None = None):
    """A user's point model per `common.MODEL_CONTRACT`: TorchScript, an adapter .py with build_model() (+ a
    state_dict/.safetensors `weights` file), or a whole torch.save'd module when trusted."""
    from .common import load_user_model

    return load_user_model(path, device, weights)


def cloud_tensor(layer_or_points, channels: tuple[str, ...] = (), name: str = "point cloud"):
    """N×C float32 array: xyz followed by the named per-point attributes (1-D or N×k each)."""
    pts = np.asarray(getattr(layer_or_points, "points", layer_or_points), np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3 or len(pts) == 0:
        raise InputError(getattr(layer_or_points, "source", None) or name, f"expected a non-empty N×3 cloud, got {pts.shape}")
    cols = [pts[:, :3]] if isinstance(layer_or_points, PointCloud) else [pts]
    attrs = getattr(layer_or_points, "attributes", {})
    for ch in channels:
        if ch not in attrs:
            raise InputError(getattr(layer_or_points, "source", None) or name,
                             f"no per-point attribute {ch!r} (has: {', '.join(sorted(attrs)) or 'none'})")
        cols.append(np.asarray(attrs[ch], np.float64).reshape(len(pts), -1))
    x = np.concatenate(cols, 1).astype(np.float32)
    if not np.isfinite(x).all():
        raise InputError(getattr(layer_or_points, "source", None) or name, "cloud has NaN or infinite values")
    return x


def make_baseline(x, kind: str = "centroid"):
    """x: 1×N×C tensor (channels-last). See the module docstring for what each baseline means."""
    import torch

    if kind == "zeros":
        return torch.zeros_like(x)
    b = torch.zeros_like(x)
    if kind == "centroid":
        b[..., :3] = x[..., :3].mean(1, keepdim=True)
    elif kind == "features":
        b[..., :3] = x[..., :3]
    else:
        raise InputError(None, f"unknown baseline {kind!r} (use one of {', '.join(BASELINES)})")
    return b


def _scalar_fn(model, target, layout: str, n: int):
    """f(B×N×C) → B scores: the logit of the target class (per cloud) or of (point, class)."""
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise InputError(None, f"segmentation target must be (point index, class id), got {target!r}")
        pidx, cls = int(target[0]), int(target[1])
        if not 0 <= pidx < n:
            raise InputError(None, f"point index {pidx} is outside the cloud (0…{n - 1})")
    else:
        pidx, cls = None, int(target)

    def f(xb):
        out = model(xb.transpose(1, 2) if layout == "CN" else xb)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.dim() == 2:
            if pidx is not None:
                raise InputError(None, "the model returns one row of logits per cloud: give a class id, not (point, class)")
            logits = out
        elif out.dim() == 3:
            per_point = out if out.shape[1] == n else out.transpose(1, 2) if out.shape[2] == n else None
            if per_point is None:
                raise InputError(None, f"per-point output {tuple(out.shape)} has no axis of length N = {n}")
            if pidx is None:
                raise InputError(None, "the model returns logits per point: give the target as (point index, class id)")
            logits = per_point[:, pidx]
        else:
            raise InputError(None, f"model output must be B×K or B×N×K, got {tuple(out.shape)}")
        if not 0 <= cls < logits.shape[1]:
            raise InputError(None, f"class id {cls} is outside the model's {logits.shape[1]} outputs")
        return logits[:, cls]

    return f


def attribute_points(model, x, target, method: str = "ig", baseline: str = "centroid", steps: int = 64,
                     batch_size: int = 8, layout: str = "NC", progress=None, cancel=None, tol: float | None = 0.01,
                     max_steps: int | None = None) -> PointAttribution:
    """Attribution of `model`'s target score to each point of x (N×C array or 1×N×C tensor)."""
    import torch

    if method not in METHODS:
        raise InputError(None, f"unknown method {method!r} (use {' or '.join(METHODS)})")
    if layout not in ("NC", "CN"):
        raise InputError(None, f"layout must be NC or CN, got {layout!r}")
    prog = progress or (lambda f, m="": None)
    x = torch.as_tensor(np.asarray(x, np.float32)) if not torch.is_tensor(x) else x
    x = x if x.dim() == 3 else x[None]
    n = x.shape[1]
    f = _scalar_fn(model, target, layout, n)
    xb = make_baseline(x, baseline)
    if method == "gradxinput":
        pts = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(pts).sum(), pts)
        attr, used = (x - xb).detach() * g, 1
        prog(1.0, "gradient × input")
        with torch.no_grad():
            fx, fb = (float(v) for v in f(torch.cat([x, xb])))
        attr = attr[0].detach().cpu().numpy()
    else:
        from .ig import integrated_gradients

        r = integrated_gradients(f, x, None, xb, int(steps), "gausslegendre", batch_size, progress=prog, cancel=cancel,
                                 tol=tol, max_steps=max_steps)
        attr, used, fx, fb = r.attributions, r.steps, r.f_input, r.f_baseline
        conv = (r.tolerance, r.converged, r.tried)
    pc = np.asarray(attr, np.float64)
    signed = pc.sum(1)
    tl, ok, tried = conv if method != "gradxinput" else (None, True, [])
    return PointAttribution(signed.astype(np.float32), np.linalg.norm(pc, axis=1).astype(np.float32),
                            pc.astype(np.float32), fx, fb, float(signed.sum() - (fx - fb)), method, baseline,
                            target, used, tl, ok, tried)


def parse_target(text: str):
    """'3' → 3 (per-cloud class); '120, 3' or '120:3' → (120, 3) (point 120, class 3)."""
    parts = [p for p in str(text).replace(":", ",").replace(" ", ",").split(",") if p]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise InputError(None, f"target must be a class id or 'point, class', got {text!r}") from None
    if len(vals) == 1:
        return vals[0]
    if len(vals) == 2:
        return (vals[0], vals[1])
    raise InputError(None, f"target must be a class id or 'point, class', got {text!r}")


def explain_point_model(layer: PointCloud, model_path, target, method: str = "ig", baseline: str = "centroid",
                        steps: int = 64, channels: tuple[str, ...] = (), layout: str = "NC", device: str = "cpu",
                        ctx: JobContext | None = None, weights: str | Path | None = None, tol: float | None = 0.01,
                        max_steps: int | None = None) -> AttributionMap:
    """Load the user's model, attribute its target score to each point of `layer`, return an AttributionMap
    (signed per-point scores; magnitude, per-channel values and the completeness numbers in meta)."""
    ctx = ctx or JobContext()
    with ctx.stage("load model"):
        model = load_point_model(model_path, device, weights)
    x = cloud_tensor(layer, tuple(channels), getattr(layer, "name", "point cloud"))
    import torch

    with ctx.stage(method):
        try:
            res = attribute_points(model, torch.as_tensor(x, device=device)[None], target, method, baseline, steps,
                                   layout=layout, progress=ctx.sub(0.05, 1.0), cancel=ctx.cancel_event, tol=tol,
                                   max_steps=max_steps)
        except InputError as e:
            raise InputError(model_path, e.message) from None
        except RuntimeError as e:  # shape mismatches inside the user's forward
            raise InputError(model_path, f"model failed on a 1×{'×'.join(map(str, x.shape if layout == 'NC' else x.shape[::-1]))} "
                                         f"input: {str(e).splitlines()[0]}") from None
    ctx.progress(1.0, "done")
    return AttributionMap(
        name=f"{method} → {target} on {getattr(layer, 'name', 'cloud')}", source=f"model:{Path(model_path).name}",
        scores=res.signed, target=target, method=f"{method} ({baseline})", on_layer=getattr(layer, "uid", ""),
        meta={"magnitude": res.magnitude, "per_channel": res.per_channel, "channels": ["x", "y", "z", *channels],
              "f_input": res.f_input, "f_baseline": res.f_baseline, "convergence_delta": res.convergence_delta,
              "relative_error": res.relative_error, "steps": res.steps, "baseline": baseline,
              "tolerance": res.tolerance, "converged": res.converged, "steps_tried": res.tried,
              "stage_seconds": dict(ctx.stage_times)})


def make_point_model_job(layer: PointCloud, model_path, target, **kw) -> Job:
    return Job(f"Explain point model {Path(model_path).name} → {target}",
               lambda ctx: explain_point_model(layer, model_path, target, ctx=ctx, **kw), meta={"task": "attribution"})
