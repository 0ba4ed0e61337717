"""`run attribution` refuses bad choices in one line with exit 2: an unknown Grad-CAM layer, an ambiguous
class name (the matches listed), a PoseIG tolerance below zero."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cat_png(tmp_path_factory):
    import cv2
    import skimage.data

    p = tmp_path_factory.mktemp("img") / "cat.png"
    cv2.imwrite(str(p), cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR))
    return p


def _run(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "attribution", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def test_unknown_layer_is_one_line_exit_2(cat_png, tmp_path):
    r = _run(cat_png, "--method", "gradcam", "--layer", "nonexistent", "--no-faithfulness", "--out", tmp_path / "o")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip() and "%" not in ln]
    assert len(lines) == 1 and "nonexistent" in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_ambiguous_target_lists_the_matches(cat_png, tmp_path):
    r = _run(cat_png, "--method", "gradcam", "--target", "cat", "--no-faithfulness", "--out", tmp_path / "o")
    assert r.returncode == 2, r.stderr
    assert "ambiguous" in r.stderr and "catamaran" in r.stderr and "Egyptian cat" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_negative_tolerance_is_refused(cat_png, tmp_path):
    r = _run(cat_png, "--method", "ig", "--tol", "-1", "--out", tmp_path / "o")
    assert r.returncode == 2 and "--tol" in r.stderr, r.stderr
