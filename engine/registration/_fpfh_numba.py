"""Open3D's SPFH/FPFH loops compiled with numba (parallel over points, float64): the CPU path of
engine.registration.fpfh.compute_fpfh. A module of its own so numba's on-disk cache works (functions defined
in a closure are recompiled in every process: ~10 s) and so `import numba` happens only when it runs.

numba's cache entries name this module and are keyed by this file's timestamp: an edit here (as when the module
became scenelens.engine.registration._fpfh_numba) is what invalidates caches written under an older name."""
import math
import os

# libgomp, as torch uses (and with engine/__init__'s passive waiting); numba would otherwise probe TBB and warn
os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")

import numba as nb  # noqa: E402
import numpy as np  # noqa: E402


@nb.njit(cache=True, fastmath=False)
def pair_bins(p1x, p1y, p1z, n1x, n1y, n1z, p2x, p2y, p2z, n2x, n2y, n2z):
    dx, dy, dz = p2x - p1x, p2y - p1y, p2z - p1z
    dist = math.sqrt(dx * dx + dy * dy + dz * dz)
    if dist == 0.0:
        return 5, 5, 5  # zero features: floor(11·π/2π) = 5, floor(11·0.5) = 5
    a1 = (n1x * dx + n1y * dy + n1z * dz) / dist
    a2 = (n2x * dx + n2y * dy + n2z * dz) / dist
    b1, b2 = min(abs(a1), 1.0), min(abs(a2), 1.0)
    # acos is decreasing: acos b1 > acos b2 ⇔ b1 < b2; acos itself decides only near-ties (as Open3D)
    if b1 < b2 - 1e-9:
        swap = True
    elif b1 > b2 + 1e-9:
        swap = False
    else:
        swap = math.acos(b1) > math.acos(b2)
    if swap:
        n1x, n1y, n1z, n2x, n2y, n2z = n2x, n2y, n2z, n1x, n1y, n1z
        dx, dy, dz = -dx, -dy, -dz
        f2 = -a2
    else:
        f2 = a1
    vx, vy, vz = dy * n1z - dz * n1y, dz * n1x - dx * n1z, dx * n1y - dy * n1x
    vn = math.sqrt(vx * vx + vy * vy + vz * vz)
    if vn == 0.0:
        return 5, 5, 5
    vx, vy, vz = vx / vn, vy / vn, vz / vn
    wx, wy, wz = n1y * vz - n1z * vy, n1z * vx - n1x * vz, n1x * vy - n1y * vx
    f1 = vx * n2x + vy * n2y + vz * n2z
    f0 = math.atan2(wx * n2x + wy * n2y + wz * n2z, n1x * n2x + n1y * n2y + n1z * n2z)
    b0 = int(math.floor(11 * (f0 + math.pi) / (2.0 * math.pi)))
    b1 = int(math.floor(11 * (f1 + 1.0) * 0.5))
    b2 = int(math.floor(11 * (f2 + 1.0) * 0.5))
    return min(max(b0, 0), 10), min(max(b1, 0), 10), min(max(b2, 0), 10)

@nb.njit(cache=True, parallel=True)
def fpfh_kernel(P, Nrm, crow, nbr, d2):
    n = P.shape[0]
    spfh = np.zeros((n, 33))
    for i in nb.prange(n):
        k0, k1 = crow[i], crow[i + 1]
        if k1 == k0:
            continue
        inc = 100.0 / (k1 - k0)
        for k in range(k0, k1):
            j = nbr[k]
            b0, b1, b2 = pair_bins(P[i, 0], P[i, 1], P[i, 2], Nrm[i, 0], Nrm[i, 1], Nrm[i, 2],
                                   P[j, 0], P[j, 1], P[j, 2], Nrm[j, 0], Nrm[j, 1], Nrm[j, 2])
            spfh[i, b0] += inc
            spfh[i, 11 + b1] += inc
            spfh[i, 22 + b2] += inc
    out = np.zeros((n, 33))
    for i in nb.prange(n):
        k0, k1 = crow[i], crow[i + 1]
        if k1 == k0:
            continue
        acc = np.zeros(33)
        for k in range(k0, k1):
            dd = d2[k]
            if dd == 0.0:
                continue
            j = nbr[k]
            for c in range(33):
                acc[c] += spfh[j, c] / dd
        s0 = s1 = s2 = 0.0
        for c in range(11):
            s0 += acc[c]
            s1 += acc[11 + c]
            s2 += acc[22 + c]
        for c in range(33):
            out[i, c] = acc[c]
        f0 = 100.0 / s0 if s0 != 0.0 else 0.0
        f1 = 100.0 / s1 if s1 != 0.0 else 0.0
        f2 = 100.0 / s2 if s2 != 0.0 else 0.0
        for c in range(11):
            out[i, c] = out[i, c] * f0 + spfh[i, c]
            out[i, 11 + c] = out[i, 11 + c] * f1 + spfh[i, 11 + c]
            out[i, 22 + c] = out[i, 22 + c] * f2 + spfh[i, 22 + c]
    return out

