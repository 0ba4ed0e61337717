"""Grad-CAM on a named layer, hand-written with one forward hook.

Captum's `LayerGradCam` computes the same thing (a test checks they agree); the hand-written version is
kept because it returns the class logits of the same pass (the GUI shows them next to the map), works
for any scalar target function (e.g. a pose model's joint likelihood) and needs one pass per target.
Formula (Selvaraju et al.): α_k = mean_ij ∂y/∂A_k,ij ; L = ReLU(Σ_k α_k A_k), bilinearly upsampled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def find_layer(module, name: str):
    """A sub-module by dotted name (`net._blocks.10`); the error lists a few valid names."""
    mods = dict(module.named_modules())
    if name in mods:
        return mods[name]
    convs = [n for n, m in mods.items() if n and type(m).__name__ in ("Conv2d", "Identity", "Sequential")]
    raise ValueError(f"no layer {name!r}; e.g. {', '.join(convs[-5:])}")


def default_layer(module) -> str:
    """Last 2-D convolution (or an explicit `feature_map` marker) — the usual Grad-CAM choice."""
    names = [n for n, m in module.named_modules() if n == "feature_map"]
    if names:
        return names[0]
    convs = [n for n, m in module.named_modules() if type(m).__name__ == "Conv2d"]
    if not convs:
        raise ValueError("model has no Conv2d layer; name one with --layer")
    return convs[-1]


@dataclass
class GradCAMResult:
    cam: np.ndarray        # H×W at input resolution, ≥ 0 (not normalised)
    cam_lowres: np.ndarray  # h×w at the layer's resolution
    score: float
    layer: str


def grad_cam(module, x, target: int | Callable | None = None, layer: str | None = None,
             relu: bool = True) -> GradCAMResult:
    """Grad-CAM of `target` (class index, or a function of the module output giving a scalar per sample)."""
    import torch
    import torch.nn.functional as F

    layer = layer or default_layer(module)
    lay = find_layer(module, layer)
    store = {}

    def hook(_m, _i, out):
        store["A"] = out
        return None

    h = lay.register_forward_hook(hook)
    try:
        xi = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = module(xi)
            A = store["A"]
            if callable(target):
                y = target(out)
            else:
                t = int(out.argmax(1)[0]) if target is None else int(target)
                y = out[:, t]
            (g,) = torch.autograd.grad(y.sum(), A)
    finally:
        h.remove()
    alpha = g.mean(dim=(2, 3), keepdim=True)
    cam = (alpha * A).sum(1, keepdim=True)
    if relu:
        cam = F.relu(cam)
    up = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return GradCAMResult(up[0, 0].detach().cpu().numpy(), cam[0, 0].detach().cpu().numpy(),
                         float(y[0].detach()), layer)
