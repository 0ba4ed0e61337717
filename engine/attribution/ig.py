"""Integrated Gradients with path steps evaluated in batches, progress per batch and cooperative cancel.

Captum's `IntegratedGradients` gives the reference result but no progress or cancel hook, and a GUI job
must show progress and stop when asked. So the path integral is computed here with captum's own
quadrature nodes and weights (same discretisation, same numbers), several path points per forward/
backward pass; `captum_ig` runs captum itself and serves as the independent check in the tests.
Completeness (Σ IG = F(x) − F(x′)) is reported as `convergence_delta` so the user sees how far the
discretisation is from exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .common import Progress, check_cancel, gaussian_blur, no_progress

BASELINES = ("black", "blurred", "user")


@dataclass
class IGResult:
    attributions: np.ndarray  # C×H×W, same shape as the input (batch dim dropped)
    f_input: float
    f_baseline: float
    convergence_delta: float  # Σ attributions − (f_input − f_baseline)
    steps: int
    method: str
    baseline: str
    tolerance: float | None = None  # the completeness tolerance the steps were doubled for (None: fixed steps)
    converged: bool = True          # False: the step cap was reached with the gap still above the tolerance
    tried: list = field(default_factory=list)  # [(steps, relative error)] of every round

    @property
    def output_difference(self) -> float:
        return self.f_input - self.f_baseline

    @property
    def relative_error(self) -> float:
        """|Σ IG − ΔF| / |ΔF|; NaN when the output does not change between baseline and input (ΔF = 0),
        where a relative gap means nothing (e.g. a voxel no camera sees)."""
        d = self.output_difference
        return abs(self.convergence_delta) / abs(d) if d != 0 else float("nan")


def format_gap(rel: float | None) -> str:
    """The completeness gap for people: "0.42 %", or why there is none."""
    if rel is None or not np.isfinite(rel):
        return "n/a (the output does not change along the path)"
    return f"{100 * rel:.2f} %"


MAX_STEPS = 1024


def make_baseline(x, kind: str | object = "black", sigma: float | None = None, user=None):
    """Baseline x′ for IG: `black` (zeros), `blurred` (Gaussian blur of x) or `user` (an image/tensor)."""
    import torch

    if not isinstance(kind, str):
        user, kind = kind, "user"
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blurred":
        s = sigma if sigma is not None else max(x.shape[-2:]) / 20.0
        size = int(2 * round(3 * s) + 1)
        return gaussian_blur(x, s, size)
    if kind == "user":
        if user is None:
            raise ValueError("baseline 'user' needs an image")
        b = user if torch.is_tensor(user) else None
        if b is None:
            from .common import resize, to_tensor

            u = np.asarray(user)
            b = to_tensor(resize(u, (x.shape[-1], x.shape[-2])), str(x.device))
        if b.dim() == x.dim() - 1:
            b = b[None]
        if b.shape != x.shape:
            if x.dim() != 4:
                raise ValueError(f"baseline shape {tuple(b.shape)} does not match the input {tuple(x.shape)}")
            b = torch.nn.functional.interpolate(b, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return b.to(x.dtype).to(x.device)
    raise ValueError(f"unknown baseline {kind!r} (use one of {', '.join(BASELINES)})")


def _select(out, target):
    if out.dim() == 1:
        return out
    if target is None:
        if out.shape[1] != 1:
            raise ValueError("model has several outputs: give a target")
        return out[:, 0]
    return out[:, target]


QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def quadrature(method: str, n: int) -> tuple[list[float], list[float]]:
    """(step sizes, alphas in [0, 1]) of the path integral, defined exactly as captum's IntegratedGradients
    defines its `method`s (captum keeps these helpers private, so they are restated here)."""
    import torch

    if method == "gausslegendre":
        if n < 1:
            raise ValueError("the number of steps must be ≥ 1")
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (0.5 * weights).tolist(), (0.5 * (1 + nodes)).tolist()
    if method not in QUADRATURES:
        raise ValueError(f"unknown integration method {method!r} (use one of {', '.join(QUADRATURES)})")
    if n < 2:
        raise ValueError("Riemann integration needs at least 2 steps")
    kind = method.split("_")[1]
    w = [1 / n] * n
    if kind == "trapezoid":
        w[0] /= 2
        w[-1] /= 2
    lo, hi = {"trapezoid": (0, 1), "left": (0, 1 - 1 / n), "middle": (1 / (2 * n), 1 - 1 / (2 * n)),
              "right": (1 / n, 1)}[kind]
    return w, torch.linspace(lo, hi, n).tolist()


def _weighted_grads(forward, x, xb, target, a, w, bs, progress, cancel, label):
    """Σ_k w_k ∇F(x′ + a_k (x − x′)), path points evaluated `bs` at a time."""
    import torch

    a = torch.as_tensor(np.asarray(a, np.float64), dtype=x.dtype, device=x.device)
    w = torch.as_tensor(np.asarray(w, np.float64), dtype=x.dtype, device=x.device)
    diff = (x - xb).detach()
    total = torch.zeros_like(x)
    n = len(a)
    done = 0
    for s in range(0, n, bs):
        check_cancel(cancel)
        aa = a[s:s + bs].view(-1, *([1] * (x.dim() - 1)))
        pts = (xb + aa * diff).detach().requires_grad_(True)
        out = _select(forward(pts), target)
        (g,) = torch.autograd.grad(out.sum(), pts)
        total += (g * w[s:s + bs].view_as(aa)).sum(0, keepdim=True)
        done += len(aa)
        progress(done / n, f"IG{label} step {done}/{n}")
    return total


def _ig_once(forward, x, xb, target, steps, method, bs, progress, cancel, label):
    step_sizes, alphas = quadrature(method, steps)
    total = _weighted_grads(forward, x, xb, target, alphas, step_sizes, bs, progress, cancel, label)
    return ((x - xb).detach() * total)[0]


class _NestedTrapezoid:
    """Method "trapezoid": the composite trapezoid rule on linspace(0, 1, n) (weights h/2, h, …, h, h/2 with
    h = 1/(n − 1); captum's `riemann_trapezoid` instead uses 1/n, whose weights sum to (n − 1)/n). Its
    refinement n → 2n − 1 only evaluates the new midpoints, so doubling to a tolerance costs the final
    number of path points, not twice it."""

    def __init__(self):
        self.n = 0
        self.ends = self.interior = None

    def refine(self, forward, x, xb, target, steps, bs, progress, cancel, label):
        if self.n == 0:
            self.n = max(2, steps)
            a = np.linspace(0.0, 1.0, self.n)
            self.ends = _weighted_grads(forward, x, xb, target, a[[0, -1]], [1.0, 1.0], bs, progress, cancel, label)
            self.interior = (_weighted_grads(forward, x, xb, target, a[1:-1], np.ones(self.n - 2), bs, progress,
                                             cancel, label) if self.n > 2 else 0 * self.ends)
        else:
            m = self.n - 1
            mids = (2 * np.arange(m) + 1) / (2 * m)
            self.interior = self.interior + _weighted_grads(forward, x, xb, target, mids, np.ones(m), bs, progress,
                                                            cancel, label)
            self.n = 2 * m + 1
        h = 1.0 / (self.n - 1)
        return ((x - xb).detach() * (h * (self.interior + self.ends / 2)))[0]


def _round_progress(progress, r: int):
    """Progress of doubling round r mapped onto [1 − 2^−r, 1 − 2^−(r+1)], so it never runs backwards."""
    lo, hi = 1 - 0.5 ** r, 1 - 0.5 ** (r + 1)
    return lambda f, msg="": progress(lo + (hi - lo) * f, msg)


def integrated_gradients(forward: Callable, x, target: int | None = None, baseline="black", steps: int = 50,
                         method: str = "gausslegendre", batch_size: int = 16, blur_sigma: float | None = None,
                         progress: Progress = no_progress, cancel=None, tol: float | None = None,
                         max_steps: int | None = None) -> IGResult:
    """IG of `forward(x)[:, target]` w.r.t. `x` along the straight path from the baseline.

    `x` is one sample with a leading batch axis of 1: an image 1×C×H×W, a cloud 1×N×C, a grid 1×C×X×Y×Z
    (the named baselines other than a user tensor are for images). `batch_size` path points share one
    forward/backward pass (1 = one step at a time, the naive loop).
    Completeness by construction: with `tol` (e.g. 0.01) the number of steps doubles from `steps` until
    |Σ IG − ΔF| / |ΔF| ≤ tol or the next round would pass `max_steps` (default 1024); the result says
    whether it converged and lists every round. Without `tol` exactly `steps` steps are used.
    """
    import torch

    if x.dim() < 2 or x.shape[0] != 1:
        raise ValueError("x must hold one sample with a leading batch axis of 1")
    steps = int(steps)
    if steps < 1:
        raise ValueError("steps must be ≥ 1")
    cap = max(steps, int(max_steps if max_steps is not None else MAX_STEPS))
    bname = baseline if isinstance(baseline, str) else "user"
    xb = make_baseline(x, baseline, blur_sigma)
    with torch.no_grad():
        f = _select(forward(torch.cat([x, xb])), target)
    fx, fb = float(f[0]), float(f[1])
    bs = max(1, int(batch_size))
    tried = []
    nested = _NestedTrapezoid() if method == "trapezoid" else None
    while True:
        label = f" ({steps} steps)" if tried else ""
        prog = progress if tol is None else _round_progress(progress, len(tried))
        if nested is not None:
            attr = nested.refine(forward, x, xb, target, steps, bs, prog, cancel, label)
            steps = nested.n
        else:
            attr = _ig_once(forward, x, xb, target, steps, method, bs, prog, cancel, label)
        delta = float(attr.sum()) - (fx - fb)
        rel = abs(delta) / abs(fx - fb) if fx != fb else float("nan")
        tried.append((steps, rel))
        nxt = 2 * steps - 1 if nested is not None else 2 * steps
        if tol is None or not np.isfinite(rel) or rel <= tol or nxt > cap:
            break
        steps = nxt
    if tol is not None:
        progress(1.0, f"IG done at {steps} steps")
    converged = tol is None or (np.isfinite(rel) and rel <= tol) or (not np.isfinite(rel) and delta == 0.0)
    return IGResult(attr.detach().cpu().numpy(), fx, fb, delta, steps, method, bname, tol, bool(converged), tried)


def captum_ig(forward: Callable, x, target: int | None = None, baseline="black", steps: int = 50,
              method: str = "gausslegendre", batch_size: int | None = None, blur_sigma: float | None = None) -> IGResult:
    """The same attribution computed by captum's `IntegratedGradients` (reference path, no progress)."""
    import torch
    from captum.attr import IntegratedGradients

    xb = make_baseline(x, baseline, blur_sigma)

    def fwd(inp):
        out = forward(inp)
        return out if out.dim() > 1 else out[:, None]

    ig = IntegratedGradients(fwd)
    attr, delta = ig.attribute(x, baselines=xb, target=0 if target is None else target, n_steps=steps,
                               method=method, internal_batch_size=batch_size, return_convergence_delta=True)
    with torch.no_grad():
        f = fwd(torch.cat([x, xb]))[:, 0 if target is None else target]
    return IGResult(attr[0].detach().cpu().numpy(), float(f[0]), float(f[1]), float(delta[0]), steps, method,
                    baseline if isinstance(baseline, str) else "user")
