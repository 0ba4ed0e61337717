"""Layers to and from plain data (JSON-able dict + named numpy arrays), so a project can keep what jobs made
and what the user edited without pickling anything.

Every layer type is a dataclass over numpy arrays; this walks its fields generically, so a new layer type is
saved without touching this file as long as its fields are arrays, dicts of arrays, JSON values or cameras.
Arrays are stored under `<prefix>/<field>` (dict entries under `<prefix>/<field>/<key>`); nothing is ever
loaded with pickle (`np.load(..., allow_pickle=False)`).
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from . import scene as sc

LAYER_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    sc.PointCloud, sc.VoxelGrid, sc.CameraRig, sc.ImageLayer, sc.CorrespondenceSet, sc.Skeleton,
    sc.Trajectory, sc.AttributionMap)}
_SKIP = {"uid"}


def _plain(v: Any):
    """A JSON-able copy of `v`, or raise TypeError."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, np.ndarray) and v.size <= 64 and v.dtype.kind in "biuf":
        return {"__array__": v.tolist(), "dtype": v.dtype.str}
    raise TypeError(type(v).__name__)


def _unplain(v: Any):
    if isinstance(v, dict):
        if "__array__" in v and "dtype" in v:
            return np.asarray(v["__array__"], dtype=np.dtype(v["dtype"]))
        return {k: _unplain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unplain(x) for x in v]
    return v


def _meta(d: dict) -> tuple[dict, list[str]]:
    """JSON-able part of a meta/style/provenance dict plus the keys that could not be kept."""
    out, dropped = {}, []
    for k, v in d.items():
        try:
            out[str(k)] = _plain(v)
        except TypeError:
            dropped.append(str(k))
    return out, dropped


def dump_layer(layer: sc.Layer, prefix: str, with_images: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """(description, arrays) of one layer. Camera images that live in a file are not stored unless
    `with_images` (they are re-read from `image_path`)."""
    cls = type(layer).__name__
    if cls not in LAYER_TYPES:
        raise TypeError(f"layer type {cls} cannot be saved")
    desc: dict[str, Any] = {"type": cls, "uid": layer.uid, "fields": {}}
    arrays: dict[str, np.ndarray] = {}
    for f in dataclasses.fields(layer):
        if f.name in _SKIP:
            continue
        v = getattr(layer, f.name)
        key = f"{prefix}/{f.name}"
        if isinstance(v, np.ndarray):
            arrays[key] = v
            desc["fields"][f.name] = {"array": key}
        elif f.name == "cameras":
            cams = []
            for i, cam in enumerate(v):
                c: dict[str, Any] = {}
                for cf in dataclasses.fields(cam):
                    cv = getattr(cam, cf.name)
                    if isinstance(cv, np.ndarray):
                        if cf.name == "image" and cam.image_path and not with_images:
                            continue
                        arrays[f"{key}/{i}/{cf.name}"] = cv
                        c[cf.name] = {"array": f"{key}/{i}/{cf.name}"}
                    else:
                        c[cf.name] = _plain(cv)
                cams.append(c)
            desc["fields"][f.name] = {"cameras": cams}
        elif isinstance(v, dict) and v and all(isinstance(x, np.ndarray) for x in v.values()) \
                and f.name in ("attributes", "masks"):
            desc["fields"][f.name] = {"array_dict": {k: f"{key}/{k}" for k in v}}
            for k, x in v.items():
                arrays[f"{key}/{k}"] = x
        elif isinstance(v, dict):
            plain, dropped = _meta(v)
            desc["fields"][f.name] = {"value": plain}
            if dropped:
                desc.setdefault("dropped", []).extend(f"{f.name}.{k}" for k in dropped)
        else:
            try:
                desc["fields"][f.name] = {"value": _plain(v)}
            except TypeError:
                desc.setdefault("dropped", []).append(f.name)
    return desc, arrays


def load_layer(desc: dict, arrays) -> sc.Layer:
    """Rebuild a layer from `dump_layer`'s output (arrays: a mapping such as an open NpzFile)."""
    from .errors import SceneLensError

    cls = LAYER_TYPES.get(desc.get("type", ""))
    if cls is None:
        raise SceneLensError(f"unknown layer type {desc.get('type')!r} in project")
    kw: dict[str, Any] = {}
    for name, spec in desc.get("fields", {}).items():
        if "array" in spec:
            kw[name] = np.asarray(arrays[spec["array"]])
        elif "array_dict" in spec:
            kw[name] = {k: np.asarray(arrays[a]) for k, a in spec["array_dict"].items()}
        elif "cameras" in spec:
            cams = []
            for c in spec["cameras"]:
                ckw = {k: (np.asarray(arrays[v["array"]]) if isinstance(v, dict) and "array" in v else _unplain(v))
                       for k, v in c.items()}
                if ckw.get("size") is not None:
                    ckw["size"] = tuple(ckw["size"])
                cams.append(sc.Camera(**ckw))
            kw[name] = cams
        else:
            kw[name] = _unplain(spec["value"])
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {k: v for k, v in kw.items() if k in names}
    for k in ("origin", "voxel_size", "image_size"):
        if isinstance(kw.get(k), list):
            kw[k] = tuple(kw[k])
    if "bones" in kw and kw["bones"] is not None:
        kw["bones"] = [tuple(b) for b in kw["bones"]]
    return cls(**kw)


def fingerprint(layer: sc.Layer) -> str:
    """A digest of a layer's editable content (arrays and transform; camera images excluded), used to tell
    which file-backed layers the user changed since they were loaded."""
    h = hashlib.blake2b(digest_size=16)
    for f in dataclasses.fields(layer):
        v = getattr(layer, f.name)
        items = v.items() if isinstance(v, dict) and f.name in ("attributes", "masks") else [(f.name, v)]
        for k, x in items:
            if isinstance(x, np.ndarray):
                h.update(k.encode())
                h.update(str(x.shape).encode() + x.dtype.str.encode())
                h.update(np.ascontiguousarray(x).view(np.uint8).reshape(-1).data)
    if isinstance(layer, sc.CameraRig):
        for cam in layer.cameras:
            for x in (cam.K, cam.cam_to_frame):
                if x is not None:
                    h.update(np.ascontiguousarray(x, float).tobytes())
    return h.hexdigest()
