"""Exports of a registration result — transform (4×4 text / JSON with metrics / 3DMatch .log block), merged
cloud (PLY) and the correspondence set with inlier flags (NPZ) — as engine functions so the GUI and scripts
write the same files, always atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import save_npz, write_text
from ..io.registration_formats import log_entry_for, write_transform
from ..scene import PointCloud


def export_transform(path, T: np.ndarray, summary: dict | None = None) -> None:
    """.json carries `summary` (metrics, timings) next to the transform; .txt/.npy only the matrix."""
    write_transform(path, T, extra=summary if str(path).lower().endswith(".json") else None)


def export_log_line(path, T: np.ndarray, source: int, target: int, n_fragments: int) -> None:
    write_text(path, log_entry_for(T, source, target, n_fragments))


def export_merged_cloud(path, source: np.ndarray, target: np.ndarray, T: np.ndarray,
                        source_rgb=(255, 140, 0), target_rgb=(40, 140, 255)) -> PointCloud:
    """Source moved by T plus target in one PLY, each coloured so the overlap is visible in any viewer."""
    from ..io.pointcloud import write_ply

    src = np.asarray(source, float) @ np.asarray(T, float)[:3, :3].T + np.asarray(T, float)[:3, 3]
    pts = np.vstack([src, np.asarray(target, float)])
    rgb = np.vstack([np.tile(np.array(source_rgb, np.uint8), (len(src), 1)),
                     np.tile(np.array(target_rgb, np.uint8), (len(target), 1))])
    origin = np.r_[np.zeros(len(src), np.uint8), np.ones(len(target), np.uint8)]
    cloud = PointCloud(name=Path(path).name, points=pts, attributes={"rgb": rgb, "label": origin})
    write_ply(path, cloud)
    return cloud


def export_correspondences(path, result, T: np.ndarray | None = None) -> None:
    """NPZ with the matched points, their indices, predicted (and GT) inlier flags and per-match numbers."""
    T = result.T_refined if T is None else np.asarray(T, float)
    arrays = {"src_xyz": result.P, "tgt_xyz": result.Q, "pairs": result.corr, "inlier": result.inlier,
              "feat_dist": result.feat_dist, "residual": result.residual, "confidence": result.confidence,
              "seed_compat": result.seed_compat, "transform": T, "coarse_transform": result.T_coarse}
    if result.gt_inlier is not None:
        arrays["gt_inlier"] = result.gt_inlier
    if result.gt is not None:
        arrays["gt_transform"] = result.gt
    save_npz(path, **arrays)
