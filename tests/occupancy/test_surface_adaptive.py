"""Exposed faces merge where neighbouring faces continue each other and skip the merge on scattered voxels."""
from __future__ import annotations

import numpy as np

from scenelens.engine.occupancy.surface import exposed_faces


def area(s):
    return int((s.du * s.dv).sum())


def test_scattered_voxels_skip_the_merge_surfaces_still_merge():
    rng = np.random.default_rng(0)
    occ = rng.random((64, 64, 16)) < 0.14
    lab = rng.integers(0, 19, occ.shape).astype(np.uint8)
    a, m = exposed_faces(occ, lab, merge=False), exposed_faces(occ, lab, merge=True)
    assert area(a) == area(m) and m.n == a.n  # nothing worth merging: the unmerged faces, same surface
    occ2 = np.zeros((64, 64, 16), bool)
    occ2[:, :, 0] = True
    occ2[10:20, 10:30, 1:8] = True
    lab2 = np.where(occ2, 11, 17).astype(np.uint8)
    a2, m2 = exposed_faces(occ2, lab2, merge=False), exposed_faces(occ2, lab2, merge=True)
    assert area(a2) == area(m2) and m2.n * 10 < a2.n  # a ground plane and a block merge into few quads
