"""Class tables (ids, names, RGB colours, raw→train maps), one per label set, read from assets/labels.

One table per label set is the single source of truth for colours in the 3D view, the legend, the 2D
overlays and the exports.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import InputError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
LABEL_DIR = ASSETS / "labels"


@dataclass(frozen=True)
class LabelSet:
    name: str
    names: tuple[str, ...]
    colors: np.ndarray  # (C, 3) uint8 RGB
    free: int | None
    ignore: int | None
    raw_to_train: dict[int, int]

    @property
    def n(self) -> int:
        return len(self.names)

    def lut(self, size: int = 256) -> np.ndarray:
        """(size, 3) uint8 colour lookup indexed by class id; ids beyond the table are grey."""
        out = np.full((size, 3), 128, np.uint8)
        out[: self.n] = self.colors
        return out

    def map_raw(self, raw: np.ndarray, unknown: int = 0) -> np.ndarray:
        """Map raw dataset ids (e.g. SemanticKITTI 0..259) to training ids with one vectorised lookup."""
        raw = np.asarray(raw, np.int64)
        table = np.full(max(max(self.raw_to_train, default=0), int(raw.max(initial=0))) + 1, unknown, np.int64)
        for k, v in self.raw_to_train.items():
            table[k] = v
        return table[raw]

    def name_of(self, cid: int) -> str:
        if 0 <= cid < self.n:
            return self.names[cid]
        if cid == self.ignore:
            return "ignore"
        return f"class {cid}"


@lru_cache(maxsize=None)
def get_label_set(name: str) -> LabelSet:
    path = LABEL_DIR / f"{name}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in LABEL_DIR.glob("*.json")))
        raise InputError(None, f"unknown label set {name!r} (known: {known})")
    d = json.loads(path.read_text())
    classes = sorted(d["classes"], key=lambda c: c["id"])
    return LabelSet(
        name=d["name"],
        names=tuple(c["name"] for c in classes),
        colors=np.array([c["rgb"] for c in classes], np.uint8),
        free=d.get("free"),
        ignore=d.get("ignore"),
        raw_to_train={int(k): int(v) for k, v in d.get("raw_to_train", {}).items()},
    )


def available() -> list[str]:
    return sorted(p.stem for p in LABEL_DIR.glob("*.json"))
