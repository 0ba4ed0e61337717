"""The one video writer (overlay videos, turntables, sequence renders): frames go to a hidden partial file that
replaces the target only when the video is complete, so a cancelled or failed export leaves the old file.

OpenCV encodes (mp4v for .mp4/.m4v/.mov, MJPG otherwise); frames are RGB uint8 of one size (odd sizes are
padded to even, which H.264-class codecs and most players require).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError


class AtomicVideoWriter:
    def __init__(self, path: str | os.PathLike, fps: float = 25.0):
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        suffix = self.path.suffix or ".mp4"
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{suffix}")
        self._writer = None
        self.size: tuple[int, int] | None = None
        self.frames = 0
        if not self.path.parent.is_dir():
            raise InputError(self.path, "the folder to write the video into does not exist")

    def write(self, rgb: np.ndarray) -> None:
        import cv2

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
            raise ValueError(f"video frames must be H×W×3 uint8, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        if self._writer is None:
            self.size = (w + w % 2, h + h % 2)
            four = "mp4v" if self.path.suffix.lower() in (".mp4", ".m4v", ".mov", "") else "MJPG"
            self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*four), self.fps, self.size)
            if not self._writer.isOpened():
                self._writer = None
                raise InputError(self.path, "OpenCV cannot write a video with this extension")
        if (w + w % 2, h + h % 2) != self.size:
            rgb = cv2.resize(rgb, self.size)
        elif (w, h) != self.size:
            rgb = np.pad(rgb, ((0, self.size[1] - h), (0, self.size[0] - w), (0, 0)), mode="edge")
        self._writer.write(np.ascontiguousarray(rgb[:, :, 2::-1]))
        self.frames += 1

    def commit(self) -> Path:
        """Finish the file and put it in place (atomic rename)."""
        if self._writer is None:
            raise InputError(self.path, "no frames to write")
        self._writer.release()
        self._writer = None
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file; the previous video at `path`, if any, stays."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self._writer is not None:
            self.commit()
        else:
            self.abort()
