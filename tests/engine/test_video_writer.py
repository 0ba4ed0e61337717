"""The one video writer: complete files replace the old one atomically; a cancelled or failed export leaves
the previous video byte for byte."""
import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io.video import AtomicVideoWriter


def _frames(n, h=61, w=81, v=0):
    return [np.full((h, w, 3), (v + 10 * i) % 255, np.uint8) for i in range(n)]


def test_commit_writes_a_readable_video_with_even_size(tmp_path):
    import cv2

    out = tmp_path / "v.mp4"
    with AtomicVideoWriter(out, 10) as w:
        for f in _frames(5):
            w.write(f)
    assert w.size == (82, 62)
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 5 and not list(tmp_path.glob(".*partial*"))


def test_cancel_or_error_keeps_the_old_file(tmp_path):
    out = tmp_path / "v.mp4"
    with AtomicVideoWriter(out) as w:
        for f in _frames(3):
            w.write(f)
    old = out.read_bytes()
    w = AtomicVideoWriter(out)
    for f in _frames(4, v=100):
        w.write(f)
    w.abort()  # the user pressed Cancel
    assert out.read_bytes() == old
    with pytest.raises(RuntimeError):
        with AtomicVideoWriter(out) as w:
            w.write(_frames(1)[0])
            raise RuntimeError("renderer died")
    assert out.read_bytes() == old and not list(tmp_path.glob(".*partial*"))


def test_bad_frames_and_missing_folder_are_clear(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        AtomicVideoWriter(tmp_path / "nope" / "v.mp4")
    w = AtomicVideoWriter(tmp_path / "v.mp4")
    with pytest.raises(ValueError, match="uint8"):
        w.write(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError, match="no frames"):
        w.commit()
