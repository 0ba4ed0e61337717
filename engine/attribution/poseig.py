"""PoseIG: per-joint Integrated Gradients for pose models along a Gaussian-blur path, and its indices.

Follows He et al., CVPR 2023 (PoseIG) as written down in shared/specs/attribution.md §2: every pose model
is reduced to a per-joint scalar target_j = exp(−0.3·EPE_j) (soft-argmax of the heatmap, β = 10, in
heatmap pixels); the path goes from the most blurred image (σ = 19, 31×31 kernel, reflect padding) to
the original in `fold` steps; IG_j = Σ_i ∇target_j(x_i) ⊙ (x_{i+1} − x_i)·fold; maps are |Σ_RGB IG_j|
divided by their maximum. Indices: Foreground (FI), Locality (LI), Diffusion (DI = 100·(1 − Gini)).
All joints are computed from one forward pass per path step: the J backward passes are vectorised
(`is_grads_batched`), which is what makes all-joint PoseIG affordable on a CPU (see bench/).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .common import Progress, check_cancel, gaussian_blur, no_progress

BETA = 10.0
EPE_SCALE = 0.3


# ------------------------------------------------------------------------------------------ targets
def soft_argmax(heatmaps, beta: float = BETA):
    """N×J×h×w heatmaps → N×J×2 (x, y) in heatmap pixels via a spatial softmax with temperature β."""
    import torch

    n, j, h, w = heatmaps.shape
    p = torch.softmax(beta * heatmaps.reshape(n, j, h * w), dim=-1).reshape(n, j, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device)
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], dim=-1)


def joint_likelihood(pred_xy, gt_xy):
    """target_j = exp(−0.3·‖k̂_j − k_j‖₂) (same units as the inputs: heatmap pixels for heatmap models)."""
    import torch

    return torch.exp(-EPE_SCALE * torch.linalg.vector_norm(pred_xy - gt_xy, dim=-1))


# ------------------------------------------------------------------------------------------ path
def blur_sigmas(fold: int = 50, sigma_max: float = 19.0) -> np.ndarray:
    return np.linspace(sigma_max, 0.0, fold + 1)


def blur_path(x, fold: int = 50, sigma_max: float = 19.0, ksize: int = 31):
    """(fold+1)×C×H×W images G(σ_i) * x for σ_i = linspace(19, 0, fold + 1); the last one is x."""
    import torch

    return torch.cat([gaussian_blur(x, float(s), ksize, "reflect") for s in blur_sigmas(fold, sigma_max)])


@dataclass
class PoseIGResult:
    raw: np.ndarray        # J×C×H×W integrated gradients (PoseIG's scaling: × fold)
    maps: np.ndarray       # J×H×W, |Σ_RGB IG| / max  ∈ [0, 1]
    joints: list[str]
    targets: np.ndarray    # J target values on the original image
    fold: int
    targets_start: np.ndarray | None = None  # J target values on the most blurred image (path start)
    gaps: np.ndarray | None = None           # J completeness gaps Σ IG/fold − (t(x) − t(x_0))
    relative_gaps: np.ndarray | None = None  # J |gap| / max(|Δt|, DELTA_FLOOR)
    tolerance: float | None = None
    converged: bool = True                   # False: the fold cap was reached above the tolerance
    tried: list = None                       # [(fold, max relative gap)] of every round
    stalled: bool = False                    # True: doubling stopped helping (the target jumps along the path)

    @property
    def max_relative_gap(self) -> float:
        return float(np.max(self.relative_gaps)) if self.relative_gaps is not None and len(self.relative_gaps) else 0.0


DELTA_FLOOR = 0.01  # targets live in [0, 1]: a change below 0.01 along the path is measured against 0.01


def _poseig_once(target_fn, x, J, fold, sigma_max, bs, batch_joints, progress, cancel, label, rule="trapezoid"):
    import torch

    path = blur_path(x, fold, sigma_max)
    deriv = (path[1:] - path[:-1]) * fold  # d_i, i = 0..fold-1
    if rule == "left":  # PoseIG's sum: ∇t(x_i) ⊙ d_i over i = 0..fold-1
        n_pts, weight = fold, deriv
    elif rule == "trapezoid":  # ½(∇t(x_i) + ∇t(x_{i+1})) ⊙ d_i: point k weighs ½(d_{k−1} + d_k), k = 0..fold
        z = torch.zeros_like(deriv[:1])
        n_pts, weight = fold + 1, 0.5 * (torch.cat([z, deriv]) + torch.cat([deriv, z]))
    else:
        raise ValueError(f"unknown PoseIG rule {rule!r} (use trapezoid or left)")
    total = torch.zeros((J,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    eye = torch.eye(J, dtype=x.dtype, device=x.device)
    done = 0
    t_start = None
    for s in range(0, n_pts, bs):
        check_cancel(cancel)
        pts = path[s:min(s + bs, n_pts)].detach().requires_grad_(True)
        d = weight[s:s + bs]
        t = target_fn(pts)  # n×J
        if t.dim() != 2 or t.shape[1] != J:
            raise ValueError(f"target_fn gives {tuple(t.shape)}, expected (n, {J}) for {J} joints")
        if s == 0:
            t_start = t[0].detach().cpu().numpy().astype(np.float64)
        if batch_joints:
            go = eye[:, None, :].expand(J, len(pts), J)
            (g,) = torch.autograd.grad(t, pts, grad_outputs=go, is_grads_batched=True)  # J×n×C×H×W
            total += (g * d[None]).sum(1)
        else:
            for j in range(J):
                check_cancel(cancel)
                (g,) = torch.autograd.grad(t[:, j].sum(), pts, retain_graph=j < J - 1)
                total[j] += (g * d).sum(0)
        done += len(pts)
        progress(done / n_pts, f"PoseIG{label} step {done}/{n_pts} ({J} joints)")
    return total, t_start


def poseig(target_fn: Callable, x, joints: list[str], fold: int = 50, sigma_max: float = 19.0,
           batch_size: int = 8, batch_joints: bool | None = None, progress: Progress = no_progress,
           cancel=None, tol: float | None = None, max_fold: int | None = None, rule: str = "trapezoid") -> PoseIGResult:
    """PoseIG for all `joints` of `target_fn(N×C×H×W) -> N×J` on the blur path of `x` (1×C×H×W).

    batch_joints=True: one forward per batch of path points, J vectorised backward passes;
    False: the same forward, then one backward per joint (retain_graph), as the official script does;
    None (default): chosen per device — vectorised on accelerators, per joint on the CPU, where the
    vectorised backward measured slower (bench/bench_attribution.py prints both).
    Completeness: Σ IG_j / fold should equal t_j(x) − t_j(x_0) (x_0 the most blurred image). With `tol`
    the fold doubles (from `fold`, up to `max_fold`, default 8×fold) until every joint's relative gap
    |gap_j| / max(|Δt_j|, 0.01) is ≤ tol; `converged` is False when the cap stopped it first.
    `rule`: "left" is PoseIG's sum Σ_i ∇t(x_i) ⊙ d_i (fold gradients); "trapezoid" (default) averages the
    gradients at both ends of each path segment (fold + 1 gradients). The blur path changes the image
    most in its last steps (fine detail only appears as σ → 0), where the left sum never looks at the
    original image: on smooth toy targets its gap is still 8 % at fold 256, the trapezoid's far lower.
    """
    import torch

    J = len(joints)
    if batch_joints is None:
        batch_joints = x.device.type != "cpu"
    bs = max(1, int(batch_size))
    fold = max(1, int(fold))
    cap = max(fold, int(max_fold if max_fold is not None else 8 * fold))
    with torch.no_grad():
        tv = target_fn(x)[0].cpu().numpy().astype(np.float64)
    tried = []
    while True:
        label = f" (fold {fold})" if tried else ""
        if tol is None:
            prog = progress
        else:  # round r on [1 − 2^−r, 1 − 2^−(r+1)]: progress never runs backwards
            lo, hi = 1 - 0.5 ** len(tried), 1 - 0.5 ** (len(tried) + 1)
            prog = (lambda lo, hi: lambda f, msg="": progress(lo + (hi - lo) * f, msg))(lo, hi)
        total, t0 = _poseig_once(target_fn, x, J, fold, sigma_max, bs, batch_joints, prog, cancel, label, rule)
        raw = total.detach().cpu().numpy()
        integral = raw.reshape(J, -1).astype(np.float64).sum(1) / fold
        dt = tv - t0
        gaps = integral - dt
        rel = np.abs(gaps) / np.maximum(np.abs(dt), DELTA_FLOOR)
        tried.append((fold, float(rel.max()) if J else 0.0))
        if tol is None or (J and rel.max() <= tol) or fold * 2 > cap or _stalled(tried):
            break
        fold *= 2
    converged = tol is None or not J or bool(rel.max() <= tol)
    stalled = not converged and _stalled(tried)
    maps = np.abs(raw.sum(1))
    mx = maps.reshape(J, -1).max(1)
    maps = maps / np.where(mx > 0, mx, 1)[:, None, None]
    return PoseIGResult(raw, maps.astype(np.float32), list(joints), tv, fold, t0, gaps, rel, tol, converged, tried,
                        stalled)


def _stalled(tried: list) -> bool:
    """Two doublings in a row that shrank the gap by less than 10 % each: what remains is not discretisation
    error but a jump of the target along the path (a decode that switches, e.g. MediaPipe's refinement
    window moving by a heatmap cell or a joint crossing the 0.5 confidence threshold), which no number of
    steps integrates."""
    if len(tried) < 3 or tried[-3][0] < 16:  # coarse folds plateau before the last σ steps are resolved
        return False
    (_, a), (_, b), (_, c) = tried[-3:]
    return b > 0.9 * a and c > 0.9 * b


# ------------------------------------------------------------------------------------------ indices
def gini(a: np.ndarray) -> float:
    """Gini over the flattened values after shifting negatives to ≥ 0 and adding 1e-7 (spec §2.3)."""
    v = np.sort(np.asarray(a, np.float64).reshape(-1))
    if v[0] < 0:
        v = v - v[0]
    v = v + 1e-7
    n = v.size
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * v).sum() / (n * v.sum()))


def diffusion_index(a: np.ndarray) -> float:
    return 100.0 * (1.0 - gini(a))


def dilate_mask(mask: np.ndarray, size: int = 5) -> np.ndarray:
    """Binary dilation by a size×size max-pool (stride 1, same size), as PoseIG dilates the person mask."""
    from scipy.ndimage import maximum_filter

    return maximum_filter(np.asarray(mask, np.float64), size=size, mode="constant", cval=0.0)


def _concentration(a: np.ndarray, w: np.ndarray) -> float:
    a = np.asarray(a, np.float64)
    w = np.asarray(w, np.float64)
    sa, sw = a.sum(), w.sum()
    if sa <= 0 or sw <= 0:
        return 0.0  # NaN → 0 (empty mask or empty map)
    v = float(((a / sa) * w).sum() * a.size / sw)
    return v if np.isfinite(v) else 0.0


def foreground_index(a: np.ndarray, mask: np.ndarray, dilate: bool = True) -> float:
    """FI = (Σ Â·M)·HW/ΣM with Â = A/ΣA and M the person mask dilated by a 5×5 max-pool."""
    return _concentration(a, dilate_mask(mask) if dilate else mask)


def locality_index(a: np.ndarray, g: np.ndarray) -> float:
    """LI = (Σ Â·G_j)·HW/ΣG_j with G_j the joint's GT Gaussian heatmap at input resolution."""
    return _concentration(a, g)


def gaussian_heatmap(xy, size_hw: tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """A Gaussian bump (peak 1) at `xy` (heatmap pixels) on an h×w grid, as pose datasets draw GT."""
    h, w = size_hw
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - xy[0]) ** 2 + (ys - xy[1]) ** 2) / (2 * sigma ** 2))


def gt_heatmap_at_input(xy_hm, hm_hw: tuple[int, int], in_hw: tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """GT heatmap drawn at heatmap resolution, resized (bilinear) to the input resolution."""
    import cv2

    g = gaussian_heatmap(xy_hm, hm_hw, sigma).astype(np.float32)
    return cv2.resize(g, (in_hw[1], in_hw[0]), interpolation=cv2.INTER_LINEAR).astype(np.float64)


def joint_inversions(pred: np.ndarray, gt: np.ndarray, names: list[str], visible=None, eps: float = 10.0) -> list[dict]:
    """J2J check: joint j1 is > eps from its own GT but < eps from joint j2's GT (a left/right swap when
    it holds both ways). Distances in the units of `pred`/`gt` (input pixels, eps = 10 px)."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    vis = np.ones(len(gt), bool) if visible is None else np.asarray(visible) > 0
    found = []
    for j1 in range(len(pred)):
        if not vis[j1] or np.linalg.norm(pred[j1] - gt[j1]) <= eps:
            continue
        for j2 in range(len(gt)):
            if j2 != j1 and vis[j2] and np.linalg.norm(pred[j1] - gt[j2]) < eps:
                found.append({"joint": names[j1], "to": names[j2],
                              "epe_own": float(np.linalg.norm(pred[j1] - gt[j1])),
                              "dist_to": float(np.linalg.norm(pred[j1] - gt[j2]))})
    pairs = {(f["joint"], f["to"]) for f in found}
    for f in found:
        f["swap"] = (f["to"], f["joint"]) in pairs
        # two ground-truth joints closer than 2·eps cannot be told apart by this check (e.g. eye and nose in a
        # small face, a bent elbow over its wrist): such a flag says "near the other joint", not "confused"
        f["ambiguous"] = bool(np.linalg.norm(gt[names.index(f["joint"])] - gt[names.index(f["to"])]) < 2 * eps)
    return found


def indices_for_maps(maps: dict[str, np.ndarray], mask: np.ndarray | None, gt_heatmaps: dict[str, np.ndarray],
                     weights: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per joint FI / LI / DI (×visibility weight); 'mean' = weighted mean over visible joints."""
    out: dict[str, dict[str, float]] = {"FI": {}, "LI": {}, "DI": {}}
    weights = weights or {j: 1.0 for j in maps}
    for j, a in maps.items():
        w = float(weights.get(j, 1.0))
        out["DI"][j] = diffusion_index(a) * w
        out["FI"][j] = (foreground_index(a, mask) if mask is not None and mask.any() else 0.0) * w
        out["LI"][j] = (locality_index(a, gt_heatmaps[j]) if j in gt_heatmaps else 0.0) * w
    nvis = sum(1 for j in maps if weights.get(j, 1.0) > 0)
    for k in out:
        out[k]["mean"] = float(sum(out[k][j] for j in maps) / nvis) if nvis else 0.0
    return out
