"""Fast Point Feature Histograms (33-d) in torch, vectorised over all point/neighbour pairs.

Why not Open3D: it is CPU-only and not a dependency of the app; this follows Open3D's
`ComputePairFeatures` / SPFH / FPFH exactly (11 bins per angle, SPFH increments of 100/(k−1), FPFH
neighbour weights 1/‖p−q‖² and per-sub-histogram normalisation to 100, hybrid radius/max_nn search) so
descriptors match the ones the SC²-PCR/PointDSC papers used. Neighbourhoods come from one kNN query with
max_nn neighbours, masked by the radius, so there is no per-point Python loop and memory is bounded by
processing points in chunks.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import torch

from ..geometry import knn

ProgressFn = Callable[[float, str], None]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise dot of (3×m) component tensors, summed x + y + z in order (as a length-3 reduction)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _pair_features_cols(p1: torch.Tensor, n1: torch.Tensor, p2: torch.Tensor,
                        n2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ComputePairFeatures on component-major (3×m) inputs → (θ, α, φ, distance), each (m,).

    Component rows keep every operation a contiguous elementwise pass (a trailing length-3 dimension makes
    torch reduce and cross over tiny strided rows, which dominated the FPFH time)."""
    dp = p2 - p1
    dist = torch.sqrt(_dot(dp, dp))
    safe = torch.where(dist > 0, dist, torch.ones_like(dist))
    a1 = _dot(n1, dp) / safe
    a2 = _dot(n2, dp) / safe
    swap = torch.acos(a1.abs().clamp(max=1)) > torch.acos(a2.abs().clamp(max=1))
    n1s = torch.where(swap, n2, n1)
    n2s = torch.where(swap, n1, n2)
    dps = torch.where(swap, -dp, dp)
    f2 = torch.where(swap, -a2, a1)
    v = _cross(dps, n1s)
    vn = torch.sqrt(_dot(v, v))
    v = v / torch.where(vn > 0, vn, torch.ones_like(vn))
    w = _cross(n1s, v)
    f1 = _dot(v, n2s)
    f0 = torch.atan2(_dot(w, n2s), _dot(n1s, n2s))
    bad = (dist == 0) | (vn == 0)
    zero = torch.zeros_like(dist)
    return (torch.where(bad, zero, f0), torch.where(bad, zero, f1), torch.where(bad, zero, f2),
            torch.where(bad, zero, dist))


def _bins_exact(p1, n1, p2, n2) -> torch.Tensor:
    """(3×m) int64 histogram bins from the float64 reference computation."""
    f0, f1, f2, _ = _pair_features_cols(p1, n1, p2, n2)
    return torch.stack([torch.floor(11 * (f0 + math.pi) / (2 * math.pi)), torch.floor(11 * (f1 + 1.0) * 0.5),
                        torch.floor(11 * (f2 + 1.0) * 0.5)]).clamp_(0, 10).to(torch.int64)


# float32 pair features agree with float64 to ~1e-5 in the scaled angle (inputs are float32 keypoints);
# anything within _EDGE of a bin edge, a near-tie in the Darboux source choice or a near-degenerate frame
# is recomputed in float64, so the bins are exactly the float64 (= Open3D double) ones at ~half the cost.
_EDGE = 1e-3


def _bins_fast(P32, N32, P64, N64, r: torch.Tensor, j: torch.Tensor, with_tie: bool = False):
    """Bins of the pairs (r[i], j[i]) → (3×m) int64: float32 pass, float64 re-check of the doubtful few.
    With `with_tie` also the near-tie mask of the Darboux source choice (see _spfh_counts)."""
    p1, n1, p2, n2 = P32[:, r], N32[:, r], P32[:, j], N32[:, j]
    dp = p2 - p1
    dist = torch.sqrt(_dot(dp, dp))
    safe = torch.where(dist > 0, dist, torch.ones_like(dist))
    a1 = _dot(n1, dp) / safe
    a2 = _dot(n2, dp) / safe
    b1, b2 = a1.abs().clamp(max=1), a2.abs().clamp(max=1)
    swap = b1 < b2  # acos is decreasing: acos|a1| > acos|a2|  ⇔  |a1| < |a2| (ties re-checked below)
    n1s = torch.where(swap, n2, n1)
    n2s = torch.where(swap, n1, n2)
    dps = torch.where(swap, -dp, dp)
    f2 = torch.where(swap, -a2, a1)
    v = _cross(dps, n1s)
    vn = torch.sqrt(_dot(v, v))
    v = v / torch.where(vn > 0, vn, torch.ones_like(vn))
    w = _cross(n1s, v)
    s1 = 11 * (_dot(v, n2s) + 1.0) * 0.5
    s0 = 11 * (torch.atan2(_dot(w, n2s), _dot(n1s, n2s)) + math.pi) / (2 * math.pi)
    s2 = 11 * (f2 + 1.0) * 0.5
    s = torch.stack([s0, s1, s2])
    out = torch.floor(s)
    doubt = ((s - out).clamp(max=0.5) < _EDGE).any(0) | ((out + 1 - s) < _EDGE).any(0)
    tie = (b1 - b2).abs() < _EDGE
    doubt |= tie | (vn < 1e-2) | (dist < 1e-5)
    out = out.clamp_(0, 10).to(torch.int64)
    k = doubt.nonzero().squeeze(1)
    if len(k):
        rk, jk = r[k], j[k]
        out[:, k] = _bins_exact(P64[:, rk], N64[:, rk], P64[:, jk], N64[:, jk])
    return (out, tie) if with_tie else out


def _twin_valid(idx, valid, rows, nb, d2, capped, far) -> torch.Tensor:
    """For each listed pair (p, q): is (q, p) listed too? q's list holds every point within the radius unless
    max_nn cut it, and then exactly those closer than its farthest kept neighbour; at exactly that distance
    (the kept farthest itself, or an equidistant point that was cut) q's row is looked up."""
    ok = ~capped[nb] | (d2 < far[nb])
    edge = (capped[nb] & (d2 == far[nb])).nonzero().squeeze(1)
    if len(edge):
        q, p = nb[edge], rows[edge]
        ok[edge] = ((idx[q] == p[:, None]) & valid[q]).any(1)
    return ok


def _spfh_counts(P32, N32, P64, N64, rows: torch.Tensor, nb: torch.Tensor, twin_ok: torch.Tensor,
                 n: int, chunk: int, fast: bool, progress=None) -> torch.Tensor:
    """Histogram counts (n×33, float64) of every valid pair (rows[i], nb[i]), each unordered pair binned once.

    Open3D's pair feature is symmetric: for (q, p) the Darboux source flips and every quantity is the exact
    negation of the (p, q) one, so both rows get the same bins — except when |n_p·d| = |n_q·d| (no flip
    either way); those near-ties are binned from q's side as well. `twin_ok[i]` says whether the reverse of
    pair i is listed (see _twin_valid); pairs whose twin max_nn cut are binned directly.
    Halves the dominant cost of FPFH on CPU (the float64 path bins every pair as listed)."""
    counts = torch.zeros(n * 33, dtype=torch.float64, device=rows.device)
    offs = torch.tensor([[0], [11], [22]], device=rows.device)
    m = len(rows)
    if m == 0:
        return counts.view(n, 33)
    if fast:
        first = (rows < nb) | ~twin_ok  # canonical pairs, and listed pairs with no listed twin
    else:
        first = torch.ones_like(rows, dtype=torch.bool)
    todo = first.nonzero().squeeze(1)
    n_chunks = max(1, math.ceil(len(todo) / chunk))
    late_r, late_j = [], []
    for c, s in enumerate(range(0, len(todo), chunk)):
        k = todo[s:s + chunk]
        r, j = rows[k], nb[k]
        if fast:
            b, tie = _bins_fast(P32, N32, P64, N64, r, j, with_tie=True)
        else:
            b, tie = _bins_exact(P64[:, r], N64[:, r], P64[:, j], N64[:, j]), None
        one = torch.ones(3 * len(k), dtype=torch.float64, device=rows.device)
        counts.index_add_(0, (b + offs + r * 33).reshape(-1), one)
        if fast:
            mirror = (r < j) & twin_ok[k]
            easy = mirror & ~tie
            bj = b[:, easy]
            counts.index_add_(0, (bj + offs + j[easy] * 33).reshape(-1), one[:3 * bj.shape[1]])
            hard = mirror & tie
            late_r.append(j[hard])
            late_j.append(r[hard])
        if progress is not None:
            progress(0.7 * (c + 1) / n_chunks, "SPFH")
    if fast and late_r:
        r, j = torch.cat(late_r), torch.cat(late_j)
        if len(r):
            b = _bins_fast(P32, N32, P64, N64, r, j)
            counts.index_add_(0, (b + offs + r * 33).reshape(-1), torch.ones(3 * len(r), dtype=torch.float64,
                                                                                device=rows.device))
    return counts.view(n, 33)


def pair_features(p1: torch.Tensor, n1: torch.Tensor, p2: torch.Tensor, n2: torch.Tensor) -> torch.Tensor:
    """Open3D's ComputePairFeatures for broadcastable (…×3) inputs → (…×4): (θ, α, φ, distance).

    The source of the Darboux frame is whichever point's normal makes the smaller angle with the line
    joining them; degenerate pairs (coincident points, normal parallel to the line) give zeros.
    """
    shape = torch.broadcast_shapes(p1.shape, n1.shape, p2.shape, n2.shape)
    cols = [x.expand(shape).reshape(-1, 3).T for x in (p1, n1, p2, n2)]
    return torch.stack(_pair_features_cols(*cols), -1).reshape(shape[:-1] + (4,))


def _bins(pf: torch.Tensor) -> torch.Tensor:
    """Histogram bin (0…32) of each of the three angles: (…×3) int64."""
    b0 = torch.floor(11 * (pf[..., 0] + math.pi) / (2 * math.pi))
    b1 = torch.floor(11 * (pf[..., 1] + 1.0) * 0.5)
    b2 = torch.floor(11 * (pf[..., 2] + 1.0) * 0.5)
    b = torch.stack([b0, b1, b2], -1).clamp(0, 10).to(torch.int64)
    return b + torch.tensor([0, 11, 22], device=pf.device)


TIE_EXTRA = 4  # neighbours queried beyond max_nn to break distance ties at the cut by index


def neighbourhoods(points: torch.Tensor, radius: float, max_nn: int,
                   neighbours: tuple[torch.Tensor, torch.Tensor] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hybrid search as Open3D's KDTreeSearchParamHybrid: the max_nn nearest within `radius`, where (as in
    Open3D) the point itself counts towards max_nn, so at most max_nn − 1 true neighbours remain.
    `neighbours`: a precomputed sorted self-kNN (squared distances, indices) with ≥ max_nn columns (give
    max_nn + TIE_EXTRA so ties at the cut are broken by index as Open3D does).

    Returns (indices N×K, squared distances N×K, valid mask N×K, self excluded); K = max_nn.
    """
    if neighbours is not None:
        sq, idx = neighbours
    else:
        sq, idx = knn(points, points, max_nn + TIE_EXTRA, radius=radius)
        sq_all, idx_all = sq, idx
    sq, idx = sq.to(points.device), idx.to(points.device)
    if sq.shape[1] > max_nn:
        # equidistant points at the max_nn cut (grid-aligned voxel centroids): keep the lower index, as Open3D
        # does — the KD-tree's own tie order differs, which changed whole FPFH rows (issue 12). Only rows with
        # a tie across the cut are re-sorted.
        tie = (sq[:, max_nn - 1] == sq[:, max_nn]) & torch.isfinite(sq[:, max_nn])
        rows = tie.nonzero().squeeze(1)
        sq, idx = sq[:, :max_nn].clone(), idx[:, :max_nn].clone()
        if len(rows):
            full_sq, full_idx = (neighbours if neighbours is not None else (sq_all, idx_all))
            s2, i2 = full_sq[rows].to(sq.device), full_idx[rows].to(idx.device)
            o = torch.argsort(i2, dim=1)
            s2, i2 = torch.gather(s2, 1, o), torch.gather(i2, 1, o)
            o = torch.argsort(s2, dim=1, stable=True)
            sq[rows], idx[rows] = torch.gather(s2, 1, o)[:, :max_nn], torch.gather(i2, 1, o)[:, :max_nn]
    me = torch.arange(len(points), device=points.device)[:, None]
    valid = (sq <= radius * radius) & (idx != me)
    # the point's own slot is column 0 unless duplicates tie with it; never keep more than max_nn − 1 others
    keep = valid.cumsum(1) <= max_nn - 1
    valid &= keep
    return idx, sq, valid


def compute_fpfh(points: torch.Tensor, normals: torch.Tensor, radius: float, max_nn: int = 100,
                 chunk: int = 262144, progress: ProgressFn | None = None, exact_fast: bool = True,
                 neighbours: tuple[torch.Tensor, torch.Tensor] | None = None, backend: str = "auto") -> torch.Tensor:
    """33-d FPFH of every point (N×33, float32, histograms summing to 100 per angle plus the SPFH term).

    Work is over the flat list of valid (point, neighbour) pairs, `chunk` pairs at a time; the FPFH
    neighbour sum is one sparse (CSR) × dense product. Bins are those of a float64 computation (floors of
    angles; float64 keeps CPU and CUDA on the same bin): with `exact_fast` each unordered pair is binned once,
    in float32, and only pairs near a bin edge or a tie are recomputed in float64 — identical bins, so the
    descriptors equal the `exact_fast=False` ones exactly.

    `backend`: "auto" runs the compiled numba kernel for CPU tensors (same neighbourhoods and float64 maths,
    2–3× faster than this torch path on one thread) and torch elsewhere; "torch" / "numba" force one.
    """
    if backend not in ("auto", "torch", "numba"):
        raise ValueError(f"unknown FPFH backend {backend!r}")
    if backend == "numba" or (backend == "auto" and points.device.type == "cpu"):
        out = compute_fpfh_numba(points, normals, radius, max_nn, neighbours)
        if out is not None:
            if progress is not None:
                progress(1.0, "FPFH")
            return out.to(points.device)
        if backend == "numba":
            raise RuntimeError("the numba FPFH backend needs numba installed")
    P = points.to(torch.float64)
    Nn = normals.to(torch.float64)
    n = len(P)
    if n == 0:
        return torch.zeros(0, 33, dtype=torch.float32, device=points.device)
    idx, sq, valid = neighbourhoods(P, radius, max_nn, neighbours)
    rows, slot = valid.nonzero(as_tuple=True)  # row-major: rows sorted
    nb = idx[rows, slot]
    d2 = sq[rows, slot].to(torch.float64)
    cnt = valid.sum(1)
    inc = 100.0 / cnt.clamp_min(1).to(torch.float64)
    PT, NT = P.T.contiguous(), Nn.T.contiguous()  # 3×n: gathers give component-major 3×m blocks
    capped = cnt >= max_nn - 1
    far = torch.where(valid, sq.to(torch.float64), torch.full_like(sq, -1, dtype=torch.float64)).amax(1)
    twin_ok = _twin_valid(idx, valid, rows, nb, sq[rows, slot], capped, far) if exact_fast else None
    counts = _spfh_counts(PT.float(), NT.float(), PT, NT, rows, nb, twin_ok, n, chunk, exact_fast,
                          (lambda f, m: progress(0.8 * f, m)) if progress is not None else None)
    spfh = counts * inc[:, None]  # SPFH increments are 100/k per pair, as Open3D's
    w = torch.where(d2 > 0, 1.0 / torch.where(d2 > 0, d2, torch.ones_like(d2)), torch.zeros_like(d2))
    crow = torch.zeros(n + 1, dtype=torch.int64, device=P.device)
    crow[1:] = torch.cumsum(cnt, 0)
    with warnings.catch_warnings():  # CSR is "beta" in torch; the indices are valid by construction
        warnings.simplefilter("ignore", UserWarning)
        W = torch.sparse_csr_tensor(crow, nb, w, size=(n, n), check_invariants=False)
        acc = (W @ spfh).view(n, 3, 11)
    sums = acc.sum(-1, keepdim=True)
    scale = torch.where(sums != 0, 100.0 / torch.where(sums != 0, sums, torch.ones_like(sums)), torch.zeros_like(sums))
    out = (acc * scale).reshape(n, 33) + spfh
    out = torch.where((cnt > 0)[:, None], out, torch.zeros_like(out))
    if progress is not None:
        progress(1.0, "FPFH")
    return out.to(torch.float32)


# --------------------------------------------------------------------------------------------- compiled CPU path
# Open3D's loops (ComputeSPFHFeature / ComputeFPFHFeature) compiled with numba, parallel over points: one pass per
# point over its neighbour list, float64, no temporaries. On CPU this is what compute_fpfh runs (the torch path
# above stays for CUDA and as the reference); bench/bench_registration.py --fpfh measures both and Open3D.
_NUMBA = None


def _numba_kernels():
    global _NUMBA
    if _NUMBA is None:
        try:
            from ._fpfh_numba import fpfh_kernel
        except ImportError:  # numba is optional: without it the torch path runs
            fpfh_kernel = False
        _NUMBA = fpfh_kernel
    return _NUMBA


def compute_fpfh_numba(points: torch.Tensor, normals: torch.Tensor, radius: float, max_nn: int = 100,
                       neighbours: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor | None:
    """compute_fpfh on CPU with the compiled kernel (same neighbourhoods, same float64 maths); None without
    numba. The order of the FPFH sums follows Open3D's loop (per neighbour, per bin)."""
    kern = _numba_kernels()
    if not kern:
        return None
    P = points.detach().to("cpu", torch.float64).contiguous()
    n = len(P)
    if n == 0:
        return torch.zeros(0, 33, dtype=torch.float32)
    idx, sq, valid = neighbourhoods(P, radius, max_nn, neighbours)
    rows, slot = valid.nonzero(as_tuple=True)
    crow = np.zeros(n + 1, np.int64)
    crow[1:] = np.cumsum(valid.sum(1).numpy())
    out = kern(P.numpy(), normals.detach().to("cpu", torch.float64).contiguous().numpy(), crow,
               idx[rows, slot].numpy().astype(np.int64), sq[rows, slot].to(torch.float64).numpy())
    return torch.from_numpy(out).to(torch.float32)
