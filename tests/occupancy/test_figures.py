"""Paper-style figures: white background, cube edges, paper palettes, views that frame what is drawn,
a folder rendered from one saved viewpoint (`scenelens figure`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
OCC = "occ3d_nuscenes_sample/labels.npz"


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def read(p):
    import cv2

    return cv2.imread(str(p))[:, :, ::-1].astype(int)


def content_box(img):
    ys, xs = np.nonzero((img < 245).any(2))
    return xs.min(), xs.max(), ys.min(), ys.max()


def test_palettes_follow_the_papers():
    from scenelens.gui.render import palette_colors

    so = palette_colors("surroundocc", "occ3d")
    assert tuple(so[11]) == (255, 0, 255) and tuple(so[0]) == (0, 0, 0) and tuple(so[6]) == (200, 180, 0)
    assert tuple(palette_colors("tpvformer", "occ3d")[6]) == (255, 127, 0)
    occ = palette_colors("occ3d", "occ3d")
    assert tuple(occ[0]) == (255, 158, 0) and tuple(occ[15]) == tuple(occ[0])  # label k uses row k % 15
    assert tuple(palette_colors("nuscenes", "occ3d")[11]) == (0, 207, 191)
    from scenelens.engine.errors import InputError

    with pytest.raises(InputError):
        palette_colors("surroundocc", "semantickitti")


@pytest.mark.parametrize("view", ["iso", "top", "front"])
def test_figure_is_white_with_edges_and_framed(shared_data, tmp_path, view):
    out = tmp_path / f"{view}.png"
    r = cli("figure", shared_data / OCC, "--out", out, "--view", view, "--palette", "surroundocc",
            "--size", "800x500", "--mask", "camera")
    assert r.returncode == 0, r.stderr
    img = read(out)
    assert img.shape == (500, 800, 3)
    white = (img > 245).all(2).mean()
    assert 0.3 < white < 0.95  # a white page with the grid on it
    dark = (img.max(2) < 40).mean()
    assert dark > 0.01  # black cube edges
    # SurroundOcc's driveable-surface magenta (shaded: R ≈ B, no green)
    road = ((img[:, :, 0] > 110) & (img[:, :, 2] > 110) & (img[:, :, 1] < 60) &
            (np.abs(img[:, :, 0] - img[:, :, 2]) < 30)).mean()
    assert road > 0.008
    x0, x1, y0, y1 = content_box(img)
    # what is drawn fills the frame along at least one axis, and nothing is cut at the border
    assert (x1 - x0) / 800 > 0.85 or (y1 - y0) / 500 > 0.85
    assert x0 > 0 and y0 > 0 and x1 < 799 and y1 < 499


def test_batch_folder_one_viewpoint(shared_data, tmp_path):
    seq = tmp_path / "frames"
    seq.mkdir()
    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    np.savez(seq / "a.npz", semantics=sem)
    np.savez(seq / "b.npz", semantics=np.where(np.arange(200)[:, None, None] < 100, sem, 17).astype(np.uint8))
    r = cli("figure", seq, "--out", tmp_path / "figs", "--view", "iso", "--size", "480x300", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert [Path(f).name for f in s["files"]] == ["a.png", "b.png"]
    vp = json.loads((tmp_path / "figs" / "viewpoint.json").read_text())
    a, b = read(tmp_path / "figs" / "a.png"), read(tmp_path / "figs" / "b.png")
    # same viewpoint: the half that both frames share is drawn identically in both, pixel for pixel
    same = (np.abs(a - b).max(2) == 0).mean()
    assert same > 0.6 and not np.array_equal(a, b)
    # the saved viewpoint reproduces the first frame
    shutil.copy(seq / "a.npz", tmp_path / "a_again.npz")
    (tmp_path / "vp.json").write_text(json.dumps(vp))
    r = cli("figure", tmp_path / "a_again.npz", "--out", tmp_path / "again.png", "--camera", tmp_path / "vp.json",
            "--size", "480x300")
    assert r.returncode == 0, r.stderr
    assert (np.abs(read(tmp_path / "again.png") - a).max(2) > 8).mean() < 0.002
    bad = tmp_path / "bad.json"
    bad.write_text('{"position": [0, 0]}')
    r = cli("figure", tmp_path / "a_again.npz", "--out", tmp_path / "x.png", "--camera", bad)
    assert r.returncode == 2 and "bad.json" in r.stderr and "Traceback" not in r.stderr


def test_show_ignore_draws_unknown_class_voxels_grey(tmp_path):
    sem = np.full((200, 200, 16), 17, np.uint8)
    sem[80:120, 80:120, 0:3] = 255  # occupied, class unknown (e.g. GT built from unlabelled points)
    np.savez(tmp_path / "g.npz", semantics=sem)
    outs = {}
    for flag in ((), ("--show-ignore",)):
        out = tmp_path / f"g{len(flag)}.png"
        r = cli("figure", tmp_path / "g.npz", "--out", out, "--size", "400x250", "--no-ego", *flag)
        assert r.returncode == 0, r.stderr
        outs[bool(flag)] = read(out)
    grey = lambda im: ((np.abs(im - 200).max(2) < 40) | (im.max(2) < 60)).mean()  # grey faces + black edges
    assert grey(outs[False]) < 0.001 and grey(outs[True]) > 0.05


def test_top_is_a_perspective_view_and_bev_the_orthographic_map(shared_data, tmp_path):
    """`top` and `bev` were the same image: `top` is a camera high above (perspective: walls and trees show
    their sides), `bev` the bird's-eye map (orthographic); both frame the whole grid."""
    shots, cams = {}, {}
    for view in ("top", "bev"):
        out, cam = tmp_path / f"{view}.png", tmp_path / f"{view}.json"
        r = cli("figure", shared_data / OCC, "--out", out, "--view", view, "--size", "800x500", "--save-camera", cam)
        assert r.returncode == 0, r.stderr
        shots[view], cams[view] = read(out), json.loads(cam.read_text())
        x0, x1, y0, y1 = content_box(shots[view])
        assert x0 > 0 and y0 > 0 and x1 < 799 and y1 < 499
    assert cams["bev"]["parallel"] is True and cams["top"]["parallel"] is False
    assert (np.abs(shots["top"].astype(int) - shots["bev"]).max(2) > 40).mean() > 0.02
