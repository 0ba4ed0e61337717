"""Keypoint corrections as exactly reversible commands, and their project (de)serialisation.

Edits operate on the arrays of a 2-D Skeleton layer (joints, meta['visibility'], confidence,
meta['valid']), so the same commands drive the GUI's undo stack and headless tests. Adding a person may
grow the person axis; the command keeps both the old and the new arrays so undo restores the original
objects bit for bit.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..scene import Skeleton
from ..undo import Command

_PER_PERSON_META = ("visibility", "valid", "bbox", "area", "score", "iscrowd", "ann_id")


def _ensure_meta(sk: Skeleton) -> None:
    t, p, j = sk.joints.shape[:3]
    if sk.confidence is None:
        sk.confidence = np.ones((t, p, j))
    sk.meta.setdefault("visibility", np.where(sk.confidence > 0, 2, 0).astype(np.int8))
    sk.meta.setdefault("valid", np.ones((t, p), bool))


class KeypointEdit(Command):
    """Move keypoint (t, p, j) to xy and/or set its COCO visibility flag v (0, 1, 2)."""

    def __init__(self, sk: Skeleton, t: int, p: int, j: int, xy=None, v: int | None = None,
                 on_change: Callable[[], None] | None = None):
        _ensure_meta(sk)
        self.sk, self.idx, self.on_change = sk, (t, p, j), on_change
        self.old = (sk.joints[t, p, j].copy(), int(sk.meta["visibility"][t, p, j]), float(sk.confidence[t, p, j]))
        new_v = self.old[1] if v is None else int(v)
        if xy is not None and v is None and self.old[1] == 0:
            new_v = 2  # placing an unlabelled joint labels it
        new_xy = self.old[0] if xy is None else np.asarray(xy, float)
        self.new = (new_xy, new_v, 1.0 if new_v > 0 and sk.meta.get("kind") != "pred" else (self.old[2] if new_v > 0 else 0.0))
        self.text = "move keypoint" if xy is not None else f"set visibility {new_v}"

    def _set(self, state) -> None:
        xy, v, c = state
        self.sk.joints[self.idx] = xy
        self.sk.meta["visibility"][self.idx] = v
        self.sk.confidence[self.idx] = c
        self.sk.meta["edited"] = True
        if self.on_change:
            self.on_change()

    def do(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class _PeopleChange(Command):
    def __init__(self, sk: Skeleton, on_change=None):
        _ensure_meta(sk)
        self.sk, self.on_change = sk, on_change
        self.old = self._snapshot()

    def _snapshot(self):
        sk = self.sk
        return (sk.joints, sk.confidence, {k: sk.meta[k] for k in _PER_PERSON_META if k in sk.meta})

    def _restore(self, snap) -> None:
        self.sk.joints, self.sk.confidence, meta = snap
        self.sk.meta.update(meta)
        self.sk.meta["edited"] = True
        if self.on_change:
            self.on_change()

    def undo(self) -> None:
        self._restore(self.old)


class AddPerson(_PeopleChange):
    """Add a person at frame t with keypoints xy (J×2), all visible; reuses a free slot or grows P."""

    text = "add person"

    def __init__(self, sk: Skeleton, t: int, xy: np.ndarray, on_change=None):
        super().__init__(sk, on_change)
        joints, conf = sk.joints.copy(), sk.confidence.copy()
        meta = {k: np.array(v, copy=True) for k, v in self.old[2].items()}
        free = np.nonzero(~meta["valid"][t])[0]
        if len(free):
            p = int(free[0])
        else:
            p = joints.shape[1]
            joints = np.concatenate([joints, np.zeros(joints.shape[:1] + (1,) + joints.shape[2:])], 1)
            conf = np.concatenate([conf, np.zeros(conf.shape[:1] + (1,) + conf.shape[2:])], 1)
            for k, v in meta.items():
                fill = -1 if k == "ann_id" else 0
                meta[k] = np.concatenate([v, np.full(v.shape[:1] + (1,) + v.shape[2:], fill, v.dtype)], 1)
        xy = np.asarray(xy, float)
        joints[t, p] = xy
        conf[t, p] = 1.0
        meta["visibility"][t, p] = 2
        meta["valid"][t, p] = True
        lo, hi = xy.min(0), xy.max(0)
        if "bbox" in meta:
            meta["bbox"][t, p] = [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]
        if "area" in meta:
            meta["area"][t, p] = (hi[0] - lo[0]) * (hi[1] - lo[1])
        if "score" in meta:
            meta["score"][t, p] = 1.0
        if "ann_id" in meta:
            meta["ann_id"][t, p] = -1
        self.person = p
        self.new = (joints, conf, meta)

    def do(self) -> None:
        self._restore(self.new)


class DeletePerson(_PeopleChange):
    """Remove person p from frame t (its slot is marked invalid; exports skip it)."""

    text = "delete person"

    def __init__(self, sk: Skeleton, t: int, p: int, on_change=None):
        super().__init__(sk, on_change)
        meta = dict(self.old[2])
        valid = np.array(meta["valid"], copy=True)
        valid[t, p] = False
        meta["valid"] = valid
        self.new = (sk.joints, sk.confidence, meta)

    def do(self) -> None:
        self._restore(self.new)


def template_person(center: tuple[float, float], height: float) -> np.ndarray:
    """A standing COCO-17 figure (for 'add person'), `height` pixels tall around `center`."""
    unit = np.array([[0, -0.42], [0.03, -0.45], [-0.03, -0.45], [0.07, -0.43], [-0.07, -0.43], [0.12, -0.3],
                     [-0.12, -0.3], [0.16, -0.12], [-0.16, -0.12], [0.18, 0.05], [-0.18, 0.05], [0.08, 0.05],
                     [-0.08, 0.05], [0.09, 0.28], [-0.09, 0.28], [0.09, 0.5], [-0.09, 0.5]])
    # COCO 'left' is the person's left = image right for a person facing the camera
    return np.asarray(center, float) + unit * height


def annotation_arrays(sk: Skeleton) -> dict[str, np.ndarray]:
    _ensure_meta(sk)
    return {"joints": np.asarray(sk.joints), "confidence": np.asarray(sk.confidence),
            "visibility": np.asarray(sk.meta["visibility"]), "valid": np.asarray(sk.meta["valid"])}


def apply_annotation_arrays(sk: Skeleton, arrays: dict[str, np.ndarray]) -> None:
    _ensure_meta(sk)
    sk.joints = np.array(arrays["joints"], float)
    sk.confidence = np.array(arrays["confidence"], float)
    sk.meta["visibility"] = np.array(arrays["visibility"], np.int8)
    sk.meta["valid"] = np.array(arrays["valid"], bool)
    t, p = sk.joints.shape[:2]
    for k in ("bbox", "area", "score", "iscrowd", "ann_id"):
        v = sk.meta.get(k)
        if v is not None and v.shape[1] < p:
            fill = -1 if k == "ann_id" else 0
            sk.meta[k] = np.concatenate([v, np.full(v.shape[:1] + (p - v.shape[1],) + v.shape[2:], fill, v.dtype)], 1)
    sk.meta["edited"] = True
