"""Synthetic data shared by the registration tests."""
from __future__ import annotations

import numpy as np


def room(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """Points on three orthogonal walls of a 3 m room corner plus two boxes — enough structure for ICP
    and FPFH to be well-posed (no sliding direction)."""
    parts = []
    k = n // 5
    parts.append(np.c_[rng.uniform(0, 3, k), rng.uniform(0, 3, k), np.zeros(k)])
    parts.append(np.c_[rng.uniform(0, 3, k), np.zeros(k), rng.uniform(0, 2.5, k)])
    parts.append(np.c_[np.zeros(k), rng.uniform(0, 3, k), rng.uniform(0, 2.5, k)])
    for c, s in (((1.0, 1.2, 0.0), (0.6, 0.4, 0.8)), ((2.0, 0.6, 0.0), (0.5, 0.7, 0.4))):
        m = k // 2
        face = rng.integers(0, 3, m)
        u = rng.uniform(0, 1, (m, 3))
        u[np.arange(m), face] = rng.integers(0, 2, m)
        parts.append(np.asarray(c) + u * np.asarray(s))
    return np.concatenate(parts)


def outlier_correspondences(rng: np.random.Generator, T: np.ndarray, n: int = 1000, inlier_ratio: float = 0.05,
                            noise: float = 0.005, extent: float = 3.0):
    """Spec §9 stress case: random points in a cube, a random SE(3), σ-noise on inliers, the rest uniform."""
    P = rng.uniform(0, extent, (n, 3))
    Q = P @ T[:3, :3].T + T[:3, 3] + rng.normal(0, noise, (n, 3))
    n_in = int(round(inlier_ratio * n))
    out = rng.permutation(n)[n_in:]
    lo, hi = Q.min(0), Q.max(0)
    Q[out] = rng.uniform(lo, hi, (len(out), 3))
    truth = np.zeros(n, bool)
    truth[np.setdiff1d(np.arange(n), out)] = True
    return P, Q, truth
