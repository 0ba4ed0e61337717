"""Pictures and files of a voxel explanation, shared by the CLI and the GUI's camera grid.

IG maps of a voxel are pixel-sparse (a few hundred pixels around its projection carry the mass), so the
overlay smooths the map slightly for display and blends it in proportion to |score|: pixels the model did
not use keep the photo unchanged instead of being tinted by the zero colour of a diverging map. Files
are written atomically: cam_<name>_map.npy (full-resolution float32), cam_<name>_overlay.png,
voxel_map.npy (X×Y×Z float32), metrics.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CMAP_SIGNED = "RdBu_r"
CMAP_ABS = "inferno"


def heat_scale(m: np.ndarray, sigma: float = 3.0) -> float:
    """The |value| that saturates a camera map in `heat_overlay`: the 99.5th percentile of the non-zero
    |smoothed map| (IG has single-pixel spikes that would make a max-scaled map look empty)."""
    import cv2

    a = np.asarray(m, np.float32)
    if sigma > 0 and a.any():
        a = cv2.GaussianBlur(a, (0, 0), sigma)
    nz = np.abs(a[a != 0])
    return float(np.percentile(nz, 99.5)) if nz.size else 0.0


def heat_overlay(img: np.ndarray, m: np.ndarray, alpha: float = 0.85, signed: bool = True, sigma: float = 3.0,
                 visible: bool = True, scale: float | None = None) -> np.ndarray:
    """H×W×3 uint8: the photo with the map blended where |map| is large (dimmed when not `visible`).

    `scale` (default `heat_scale(m)`) saturates the colours; pass one shared scale so several cameras and
    their colour bar (`heat_colorbar`) read alike."""
    import cv2
    from matplotlib import colormaps

    base = np.asarray(img)[..., :3].astype(np.float32)
    if not visible:
        return (base * 0.35).astype(np.uint8)
    a = np.asarray(m, np.float32)
    if sigma > 0 and a.any():
        a = cv2.GaussianBlur(a, (0, 0), sigma)
    scale = heat_scale(m, sigma) if scale is None else float(scale)
    if scale <= 0:
        return base.astype(np.uint8)
    n = np.clip(a / scale, -1, 1)
    w = np.clip(np.abs(n) * 2.0, 0, 1)[..., None] * alpha
    return np.clip(base * (1 - w) + _heat_colours(n, signed) * w, 0, 255).astype(np.uint8)


def _heat_colours(n: np.ndarray, signed: bool) -> np.ndarray:
    from matplotlib import colormaps

    if signed:
        return colormaps[CMAP_SIGNED]((n + 1) / 2)[..., :3] * 255
    return colormaps[CMAP_ABS](0.25 + 0.75 * np.abs(n))[..., :3] * 255


def heat_colorbar(scale: float, signed: bool = True, width: int = 360, height: int = 46) -> np.ndarray:
    """The key of `heat_overlay` at `scale`: exactly its colours (−scale … +scale, or 0 … scale), with ticks."""
    from .common import colorbar_image

    n = np.linspace(-1 if signed else 0, 1, width - 16)
    return colorbar_image((_heat_colours(n, signed) + 0.5).astype(np.uint8), scale, signed, width, height)


def shared_heat_scale(maps: dict, visible: dict, sigma: float = 3.0) -> float:
    """One scale for all cameras that see the voxel (the largest of their own scales)."""
    vals = [heat_scale(maps[n], sigma) for n in maps if visible.get(n, True)]
    return max(vals, default=0.0)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def export_voxel_explanation(res, out_dir, alpha: float = 0.85, signed: bool = True) -> dict:
    """Write the per-camera maps and overlays, the per-voxel map and metrics.json into `out_dir`."""
    from ..atomic import save_npy, write_text
    from .common import save_png
    from .pipeline import _jsonable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict = {"cameras": {}}
    scale = shared_heat_scale(res.camera_maps, res.camera_visible)
    for name in res.camera_names:
        key = _safe(name.lower())
        key = key[4:] if key.startswith("cam_") else key  # CAM_BACK → cam_back_map.npy
        save_npy(out / f"cam_{key}_map.npy", res.camera_maps[name].astype(np.float32))
        png = out / f"cam_{key}_overlay.png"
        save_png(png, heat_overlay(res.images[name], res.camera_maps[name], alpha, signed,
                                   visible=res.camera_visible[name], scale=scale))
        files["cameras"][name] = {"map": str(out / f"cam_{key}_map.npy"), "overlay": str(png)}
    if res.camera_names:
        save_png(out / "colorbar.png", heat_colorbar(scale, signed))
        files["colorbar"] = str(out / "colorbar.png")
    save_npy(out / "voxel_map.npy", res.voxel_map.astype(np.float32))
    files["voxel_map"] = str(out / "voxel_map.npy")
    g = res.grid
    m = {"voxel": list(res.voxel), "target": res.target, "target_name": res.target_name,
         "predicted": res.predicted_name, "probabilities": res.probabilities, "model": res.model,
         "camera_visible": res.camera_visible, "camera_uv": res.camera_uv,
         "grid": {"shape": list(g.shape), "origin": list(g.origin), "voxel_size": list(g.voxel_size),
                  "frame": g.frame, "axis_order": g.axis_order},
         "voxel_map_nonzero": int(np.count_nonzero(res.voxel_map)),
         "display": {"signed": bool(signed), "scale": scale, "cmap": CMAP_SIGNED if signed else CMAP_ABS,
                     "note": "one scale for every camera (99.5th percentile of the smoothed |map|)"}}
    m.update(res.metrics)
    write_text(out / "metrics.json", json.dumps(_jsonable(m), indent=1))
    files["metrics"] = str(out / "metrics.json")
    return files
