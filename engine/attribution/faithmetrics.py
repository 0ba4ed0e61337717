"""Quantus-style faithfulness metrics for image attribution maps: faithfulness correlation, region
perturbation (MoRF / LeRF curves and their AOPC) and the model-parameter-randomisation sanity check.

Definitions (and the parameters they default to) are Quantus 0.6.0's (Hedström et al., JMLR 2023), which
the tests compare against on the same model, inputs, perturbation and seed:

* **Faithfulness correlation** (Bhatt et al. 2020): `n_runs` times, pick a random subset S of `subset_size`
  features, replace them by the substrate, and record Δ = f(x) − f(x_S) and Σ_{i∈S} a_i; the metric is the
  Pearson correlation of the two over the runs (1 = the map predicts the output drops). Quantus' features are
  the input's *elements* (channel × pixel, the map broadcast over channels, ``unit="element"``); an image map
  has one value per pixel, so the default here removes whole pixels (``unit="pixel"``) — the two are the same
  for one-channel inputs, which the test uses to compare the pixel variant.
* **Region perturbation** (Samek et al. 2017): the map is summed over non-overlapping `patch` × `patch`
  regions (the image padded to a multiple of the patch, centred, as Quantus pads it); regions are removed one
  after another in the order of their sums — most relevant first (MoRF), least relevant first (LeRF) or at
  random — and the curve holds f(x) − f(x^(k)) for k = 1 … `regions`. `aopc(curve)` is Samek's area over the
  perturbation curve, the mean drop over k = 0 … L (the k = 0 term is 0): high for MoRF, low for LeRF;
  MoRF − LeRF (`aopc_gap`) is the single number that rewards both.
* **Model-parameter randomisation** (Adebayo et al. 2018, "Sanity checks"): the layers with parameters are
  re-initialised one after another from the output down (cascading, ``top_down``) or one at a time
  (``independent``), each with `torch.manual_seed(seed + 1)` then `reset_parameters()` — Quantus' scheme, so
  the randomised models are the same ones — and the map is recomputed; the Spearman rank correlation with
  the original map should fall towards 0. A map that stays similar while the model is destroyed does not
  explain the model. `checkpoints` limits the recomputations to a few cascade depths (a deep network has
  ~100 such layers; each recomputation costs a full map).

Quantus itself is not used at run time: its wrappers want numpy batches and a Quantus model interface and
bring TensorFlow-oriented dependencies; these functions take a torch score function and one image, batch the
model calls and honour progress and cancel. Substrates are `faithfulness.make_substrate`'s (zero, mean, blur,
or an image tensor), so the curves and these metrics remove pixels the same way.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .common import Progress, check_cancel, no_progress

METRICS = ("correlation", "aopc", "sanity")


def _rng(seed):
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    return np.random.default_rng(seed)


def _scores(score_fn: Callable, batches, batch_size: int, cancel=None, progress: Progress = no_progress) -> np.ndarray:
    """Score a list of 1×C×H×W perturbed images in model calls of `batch_size`."""
    import torch

    out = []
    n = len(batches)
    for s in range(0, n, max(1, batch_size)):
        check_cancel(cancel)
        b = torch.cat(batches[s:s + batch_size])
        with torch.no_grad():
            v = score_fn(b)
        out.append(np.asarray(v.detach().cpu() if torch.is_tensor(v) else v, np.float64).reshape(-1))
        progress(min(1.0, (s + len(b)) / n), f"{min(n, s + len(b))}/{n}")
    return np.concatenate(out) if out else np.zeros(0)


def _base_score(score_fn, x) -> float:
    import torch

    with torch.no_grad():
        v = score_fn(x)
    return float(np.asarray(v.detach().cpu() if torch.is_tensor(v) else v, np.float64).reshape(-1)[0])


def _substrate(x, substrate):
    from .faithfulness import make_substrate

    return make_substrate(x, "zero" if substrate == "rise" else substrate, "deletion")


# ------------------------------------------------------------------------------------ faithfulness correlation
@dataclass
class CorrelationResult:
    correlation: float           # Pearson(Σ a over S, f(x) − f(x_S)); NaN when either is constant
    attribution_sums: np.ndarray  # (n_runs,)
    deltas: np.ndarray            # (n_runs,)
    subset_size: int
    unit: str


def faithfulness_correlation(score_fn: Callable, x, a: np.ndarray, subset_size: int = 224, n_runs: int = 100,
                             substrate="zero", unit: str = "pixel", seed=0, batch_size: int = 16,
                             progress: Progress = no_progress, cancel=None) -> CorrelationResult:
    """`score_fn(N×C×H×W) -> N`; `x` 1×C×H×W; `a` the H×W map. `seed` may be an int or a numpy
    Generator/RandomState (subsets are drawn with `rng.choice(n, subset_size, replace=False)` per run)."""
    from scipy.stats import pearsonr

    C, H, W = x.shape[1:]
    a = np.asarray(a, np.float64)
    if a.shape != (H, W):
        raise ValueError(f"map {a.shape} does not match the input {(H, W)}")
    if unit not in ("pixel", "element"):
        raise ValueError(f"unit must be pixel or element, got {unit!r}")
    flat_a = a.reshape(-1) if unit == "pixel" else np.broadcast_to(a, (C, H, W)).reshape(-1)
    n = flat_a.size
    if not 0 < subset_size < n:
        raise ValueError(f"subset size {subset_size} must be in 1…{n - 1}")
    rng = _rng(seed)
    sub = _substrate(x, substrate)
    y0 = _base_score(score_fn, x)
    sums, images = [], []
    for _ in range(int(n_runs)):
        idx = rng.choice(n, subset_size, replace=False)
        sums.append(flat_a[idx].sum())
        if unit == "pixel":
            m = np.zeros(H * W, bool)
            m[idx] = True
            mask = m.reshape(1, 1, H, W)
        else:
            m = np.zeros(C * H * W, bool)
            m[idx] = True
            mask = m.reshape(1, C, H, W)
        import torch

        mt = torch.from_numpy(mask).to(x.device)
        images.append(torch.where(mt, sub, x))
    ys = _scores(score_fn, images, batch_size, cancel, progress)
    deltas = y0 - ys
    sums = np.asarray(sums)
    if np.ptp(sums) == 0 or np.ptp(deltas) == 0:
        corr = float("nan")
    else:
        corr = float(pearsonr(sums, deltas)[0])
    return CorrelationResult(corr, sums, deltas, int(subset_size), unit)


# ------------------------------------------------------------------------------------------ region perturbation
@dataclass
class RegionCurve:
    order: str            # morf | lerf | random
    drops: np.ndarray     # f(x) − f(x^(k)), k = 1 … L
    patch: int
    base_score: float

    @property
    def aopc(self) -> float:
        return aopc(self.drops)

    def to_dict(self) -> dict:
        return {"order": self.order, "patch": self.patch, "aopc": self.aopc, "base_score": self.base_score,
                "drops": [float(v) for v in self.drops]}


def aopc(drops) -> float:
    """Samek et al.'s AOPC = 1/(L+1) Σ_{k=0}^{L} (f(x^(0)) − f(x^(k))) from the drops for k = 1 … L."""
    d = np.asarray(drops, np.float64)
    return float(d.sum() / (len(d) + 1))


def _padding(dim: int, patch: int) -> tuple[int, int]:
    r = dim % patch
    if r == 0:
        return (0, 0)
    t = patch - r
    return (t // 2, t - t // 2)


def region_perturbation(score_fn: Callable, x, a: np.ndarray, patch: int = 8, order: str = "morf",
                        regions: int = 100, substrate="zero", seed=0, batch_size: int = 16,
                        progress: Progress = no_progress, cancel=None) -> RegionCurve:
    """Remove `regions` patch × patch regions cumulatively in `order`; the curve of output drops."""
    import torch

    C, H, W = x.shape[1:]
    a = np.asarray(a, np.float64)
    if a.shape != (H, W):
        raise ValueError(f"map {a.shape} does not match the input {(H, W)}")
    if order not in ("morf", "lerf", "random"):
        raise ValueError(f"order must be morf, lerf or random, got {order!r}")
    p = int(patch)
    if not 1 <= p <= min(H, W):
        raise ValueError(f"patch size {p} must be in 1…{min(H, W)}")
    ph, pw = _padding(H, p), _padding(W, p)
    ap = np.pad(a, (ph, pw), mode="constant")
    gh, gw = ap.shape[0] // p, ap.shape[1] // p
    sums = ap.reshape(gh, p, gw, p).sum(axis=(1, 3)).reshape(-1)
    if order == "morf":
        ranking = np.argsort(-sums, kind="stable")
    elif order == "lerf":
        ranking = np.argsort(sums, kind="stable")
    else:
        ranking = _rng(seed).permutation(sums.size)
    ranking = ranking[: int(regions)]
    sub = _substrate(x, substrate)
    y0 = _base_score(score_fn, x)
    mask = torch.zeros((1, 1, H + sum(ph), W + sum(pw)), dtype=torch.bool, device=x.device)
    images = []
    for r in ranking:
        i, j = divmod(int(r), gw)
        mask[..., i * p:(i + 1) * p, j * p:(j + 1) * p] = True
        m = mask[..., ph[0]:ph[0] + H, pw[0]:pw[0] + W]
        images.append(torch.where(m, sub, x))
    ys = _scores(score_fn, images, batch_size, cancel, progress)
    return RegionCurve(order, y0 - ys, p, y0)


# -------------------------------------------------------------------------------- model-parameter randomisation
@dataclass
class RandomisationResult:
    layers: list[str]                  # layers re-initialised, in cascade order
    similarity: dict = field(default_factory=dict)  # layer name (last one randomised) -> Spearman ρ
    order: str = "top_down"
    seed: int = 42
    depth: dict = field(default_factory=dict)  # layer name -> how many layers were randomised by then

    @property
    def last(self) -> float:
        return float(list(self.similarity.values())[-1]) if self.similarity else float("nan")

    def to_dict(self) -> dict:
        return {"order": self.order, "seed": self.seed, "n_layers": len(self.layers),
                "similarity": {k: float(v) for k, v in self.similarity.items()},
                "depth": dict(self.depth)}


def randomisable_layers(model) -> list[tuple[str, object]]:
    """Modules with `reset_parameters`, in definition order (Quantus' list: convs, linears, norms …)."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "reset_parameters")]


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


def model_randomisation(model, explain: Callable, original: np.ndarray | None = None, order: str = "top_down",
                        seed: int = 42, checkpoints: list[int] | None = None, abs_maps: bool = True,
                        progress: Progress = no_progress, cancel=None) -> RandomisationResult:
    """`explain(module) -> H×W map` recomputes the explanation for a (randomised copy of the) model.

    `checkpoints`: cascade depths (1 = only the top layer randomised) at which to recompute; None = every
    layer (Quantus' default). For ``independent`` each checkpoint names one layer index (1-based)."""
    import torch

    if order not in ("top_down", "bottom_up", "independent"):
        raise ValueError(f"order must be top_down, bottom_up or independent, got {order!r}")
    orig = np.asarray(original if original is not None else explain(model), np.float64)
    if abs_maps:
        orig = np.abs(orig)
    rmodel = copy.deepcopy(model)
    for prm in rmodel.parameters():
        prm.requires_grad_(False)
    state = copy.deepcopy(rmodel.state_dict())
    mods = randomisable_layers(rmodel)
    if order == "top_down":
        mods = mods[::-1]
    n = len(mods)
    if n == 0:
        raise ValueError("the model has no layer with parameters to randomise")
    todo = sorted({int(c) for c in (checkpoints or range(1, n + 1)) if 1 <= int(c) <= n})
    res = RandomisationResult([m[0] for m in mods], order=order, seed=seed)
    for k, (name, mod) in enumerate(mods, start=1):
        check_cancel(cancel)
        if order == "independent":
            rmodel.load_state_dict(state)
        torch.manual_seed(seed + 1)
        mod.reset_parameters()
        if k not in todo:
            continue
        for prm in rmodel.parameters():
            prm.requires_grad_(False)
        m = np.asarray(explain(rmodel), np.float64)
        res.similarity[name] = _spearman(orig, np.abs(m) if abs_maps else m)
        res.depth[name] = k
        progress(len(res.similarity) / len(todo), f"randomised {k}/{n} layers ({name})")
    return res


def log_checkpoints(n: int, count: int = 6) -> list[int]:
    """About `count` cascade depths spread log-uniformly over 1 … n, always including 1 and n."""
    if n <= count:
        return list(range(1, n + 1))
    v = np.unique(np.round(np.logspace(0, math.log10(n), count)).astype(int))
    return sorted(set(v.tolist()) | {1, n})
