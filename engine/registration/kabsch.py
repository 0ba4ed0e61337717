"""Weighted Kabsch (Umeyama without scale), batched, because every hypothesis generator in the pipeline
(SC² seeds, RANSAC samples, post-refinement, manual point pairs, ICP) reduces to it.

The 3×3 cross-covariances are solved in float64 on the tensors' own device, so CPU and CUDA give the same
rotation up to rounding and a reflection in noisy data never leaks out (det R = +1 always).
"""
from __future__ import annotations

import numpy as np
import torch


def weighted_kabsch(P: torch.Tensor, Q: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Rigid T (…×4×4) minimising Σ w_i ‖R p_i + t − q_i‖² for batched P, Q (…×N×3), weights (…×N).

    Spec: p̄ = Σwp/Σw, q̄ = Σwq/Σw, H = Σ w (p−p̄)(q−q̄)ᵀ = U S Vᵀ, R = V diag(1,1,det(VUᵀ)) Uᵀ, t = q̄ − R p̄.
    All-zero weights fall back to uniform weights rather than dividing by zero.
    """
    P64, Q64 = P.to(torch.float64), Q.to(torch.float64)
    if w is None:
        w64 = torch.ones(P64.shape[:-1], dtype=torch.float64, device=P.device)
    else:
        w64 = w.to(torch.float64).clamp_min(0)
        tot = w64.sum(-1, keepdim=True)
        w64 = torch.where(tot > 0, w64, torch.ones_like(w64))
    wsum = w64.sum(-1, keepdim=True)[..., None]  # …×1×1
    pc = (w64[..., None] * P64).sum(-2, keepdim=True) / wsum
    qc = (w64[..., None] * Q64).sum(-2, keepdim=True) / wsum
    H = ((P64 - pc) * w64[..., None]).transpose(-1, -2) @ (Q64 - qc)  # …×3×3
    U, _, Vh = torch.linalg.svd(H)
    V = Vh.transpose(-1, -2)
    d = torch.sign(torch.linalg.det(V @ U.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = V @ D @ U.transpose(-1, -2)
    t = qc.squeeze(-2) - (R @ pc.transpose(-1, -2)).squeeze(-1)
    T = torch.zeros(P.shape[:-2] + (4, 4), dtype=torch.float64, device=P.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def kabsch_np(P: np.ndarray, Q: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """numpy convenience wrapper: 4×4 float64 transform mapping P onto Q (used for manual point pairs)."""
    P = np.asarray(P, float).reshape(-1, 3)
    Q = np.asarray(Q, float).reshape(-1, 3)
    if len(P) != len(Q):
        raise ValueError(f"{len(P)} source points but {len(Q)} target points")
    if len(P) < 3:
        raise ValueError("at least three point pairs are needed to solve a rigid transform")
    tw = None if w is None else torch.as_tensor(np.asarray(w, float))
    return weighted_kabsch(torch.as_tensor(P), torch.as_tensor(Q), tw).numpy()


def apply(T: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """q = R p + t for (…×4×4) T and (…×N×3) P, in P's dtype."""
    T = T.to(P.dtype)
    return P @ T[..., :3, :3].transpose(-1, -2) + T[..., None, :3, 3]


def rotation_matrix(axis, angle_rad: float) -> np.ndarray:
    """Rodrigues rotation about `axis` (any non-zero 3-vector)."""
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * K + (1 - np.cos(angle_rad)) * K @ K


def random_transform(rng: np.random.Generator, max_angle_deg: float = 180.0, max_translation: float = 1.0) -> np.ndarray:
    """A random rigid transform (uniform axis, angle up to max_angle_deg) — for tests and the benchmark."""
    T = np.eye(4)
    T[:3, :3] = rotation_matrix(rng.normal(size=3), np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg)))
    T[:3, 3] = rng.uniform(-max_translation, max_translation, 3)
    return T
