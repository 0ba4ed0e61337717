"""Images and videos through OpenCV (headless build). Images are held as RGB uint8; video frames are
decoded on demand so a long clip never sits in memory whole."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..scene import ImageLayer
from . import register

_IMG_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (H×W×3); InputError naming the file when OpenCV cannot decode it."""
    import cv2

    from .limits import check_image_header, check_readable, quiet_native_stderr

    check_readable(path)
    data = np.fromfile(str(path), np.uint8)
    check_image_header(path, data.tobytes() if data.size < (64 << 10) else None)
    img = None
    if data.size:
        try:
            with quiet_native_stderr():  # libpng/libjpeg warnings: our one line below says it
                img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        except cv2.error:  # e.g. more pixels than OpenCV's own limit
            img = None
    if img is None:
        raise InputError(path, "cannot decode image (corrupt or unsupported)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    import cv2

    from ..atomic import write_bytes

    ext = Path(path).suffix.lower() or ".png"
    img = rgb if rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise InputError(path, f"cannot encode image as {ext}")
    write_bytes(path, buf.tobytes())


class VideoReader:
    """Sequential/random access to video frames as RGB arrays."""

    def __init__(self, path: str | Path):
        import cv2

        from .limits import check_readable, quiet_native_stderr

        self.path = str(check_readable(path))
        with quiet_native_stderr():  # FFmpeg prints its own complaints about a broken file
            self.cap = cv2.VideoCapture(self.path)
        if not self.cap.isOpened():
            raise InputError(path, "cannot open video")
        self.n_frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._next = 0

    def read(self, index: int | None = None) -> np.ndarray | None:
        import cv2

        if index is not None and index != self._next:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._next = index
        from .limits import quiet_native_stderr

        with quiet_native_stderr():
            ok, frame = self.cap.read()
        if not ok:
            return None
        self._next += 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def __iter__(self):
        while True:
            f = self.read()
            if f is None:
                return
            yield f

    def close(self) -> None:
        self.cap.release()


@register("image", "Image (PNG, JPEG, BMP, TIFF, WebP)")
def load_image(path: Path, **opts) -> list[ImageLayer]:
    img = read_image(path)
    return [ImageLayer(name=path.name, source=str(path), image=img, path=str(path))]


@load_image.sniffer
def _sniff_image(p: Path, head: bytes) -> int:
    if any(head.startswith(m) for m in _IMG_MAGIC):
        if head.startswith(b"RIFF") and head[8:12] != b"WEBP":
            return 0
        return 100
    return 0


@register("video", "Video (MP4, AVI, MOV, MKV, WebM)")
def load_video(path: Path, **opts) -> list[ImageLayer]:
    vr = VideoReader(path)
    first = vr.read(0)
    vr.close()
    if first is None:
        raise InputError(path, "video has no decodable frames")
    return [ImageLayer(name=path.name, source=str(path), image=first, path=str(path),
                       n_frames=max(vr.n_frames, 1), fps=vr.fps)]


@load_video.sniffer
def _sniff_video(p: Path, head: bytes) -> int:
    if head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3") or (head.startswith(b"RIFF") and head[8:11] == b"AVI"):
        return 100
    return 10 if p.suffix.lower() in _VIDEO_EXT else 0
