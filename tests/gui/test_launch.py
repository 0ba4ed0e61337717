"""The README's commands, run as a user types them: the real program as a subprocess on the (virtual) display,
checked by the pixels of the window it draws (SCENELENS_AUTOSHOT writes one screenshot, then quits)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (run under xvfb-run)")


def _launch(args, tmp_path, size="1280x800", exe=None, workspace=None, timeout=180):
    shot = tmp_path / f"shot-{size}-{len(list(tmp_path.iterdir()))}.png"
    env = dict(os.environ, SCENELENS_AUTOSHOT=str(shot), SCENELENS_WINDOW_SIZE=size,
               SCENELENS_STATE_DIR=str(tmp_path / "state"), SCENELENS_CONFIG_DIR=str(tmp_path / "config"),
               OMP_NUM_THREADS="1")
    if workspace:
        env["SCENELENS_WORKSPACE"] = workspace
    cmd = [exe] if exe else [sys.executable, "main.py"]
    r = subprocess.run(cmd + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert shot.exists(), r.stdout + r.stderr
    from scenelens.engine.io.image import read_image

    img = read_image(shot)
    return img, r


def _window_size(img):
    return img.shape[1], img.shape[0]


def _cloud_and_grid(img):
    """The demo's LiDAR (grey/coloured dots on the dark 3D background) in the upper part and six camera tiles
    (photographs: bright, varied pixels) in the lower part."""
    h, w = img.shape[:2]
    top = img[int(h * 0.1): int(h * 0.45), int(w * 0.3):]
    dark = (top.max(2) < 70).mean()
    lit = (top.max(2) > 100).mean()  # drawn points: grey, class or intensity colours
    bottom = img[int(h * 0.55): int(h * 0.95), int(w * 0.25):]
    varied = bottom.reshape(-1, 3).std(0).mean()
    return dark, lit, varied


def _tile_widths(img):
    """Widths of the photo tiles in the camera grid, measured on one row of the lower half: runs of
    'photo-like' columns (high local variance) separated by the grid's dark gaps."""
    h, w = img.shape[:2]
    rows = img[int(h * 0.62): int(h * 0.70)]
    photo = (rows.max(2) >= 45).mean(0) > 0.1  # the grid's gaps are near-black down the whole strip
    runs, start = [], None
    for x, p in enumerate(photo):
        if p and start is None:
            start = x
        elif not p and start is not None:
            if start > 0:  # the run from the left edge is the side panel column, not a tile
                runs.append(x - start)
            start = None
    if start is not None:
        runs.append(w - start)
    return [r for r in runs if r > 60]


@pytest.mark.parametrize("size", ["1280x800", "1920x1080"])
def test_no_argument_opens_the_demo_with_cloud_and_camera_grid(tmp_path, size):
    img, r = _launch([], tmp_path, size)
    assert _window_size(img) == tuple(int(v) for v in size.split("x"))
    dark, lit, varied = _cloud_and_grid(img)
    assert dark > 0.5 and lit > 0.002, (dark, lit)  # the dark 3D view with the cloud drawn in it
    assert varied > 25, varied  # photographs, not an empty panel
    widths = _tile_widths(img)
    assert len(widths) >= 3 and min(sorted(widths)[-3:]) >= 320, widths


def test_device_cpu_and_a_path(tmp_path, shared_data):
    img, _ = _launch(["--device", "cpu"], tmp_path)
    assert _cloud_and_grid(img)[0] > 0.5
    kitti = shared_data / "kitti_000008" / "000008.bin"
    img, r = _launch([str(kitti), "--device", "cpu"], tmp_path)
    assert "workspace Viewer" in r.stdout
    dark, lit, _ = _cloud_and_grid(img)
    assert dark > 0.3 and lit > 0.003, (dark, lit)  # a KITTI scan: sparse, intensity-coloured points


def test_folder_with_manifest_and_grid_picks_occupancy(tmp_path, shared_data):
    img, r = _launch([str(ROOT / "assets" / "demo")], tmp_path)
    assert "workspace Viewer" in r.stdout
    occ = shared_data / "occ3d_nuscenes_sample" / "labels.npz"
    img, r = _launch([str(occ)], tmp_path)
    assert "workspace Occupancy" in r.stdout


def test_two_clouds_open_as_a_registration_pair(tmp_path, shared_data):
    d = shared_data / "3dmatch_pair"
    img, r = _launch([str(d / "src.npy"), str(d / "ref.npy")], tmp_path)
    assert "workspace Registration" in r.stdout


def test_installed_entry_point(tmp_path):
    exe = shutil.which("scenelens", path=str(Path(sys.executable).parent))
    assert exe, "the scenelens command is not installed next to this Python"
    img, _ = _launch([], tmp_path, exe=exe)
    assert _cloud_and_grid(img)[0] > 0.5


@pytest.mark.parametrize("args, message", [
    (["--device", "bogus"], "unknown device 'bogus'"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["a.ply", "b.ply", "c.ply"], "at most two paths"),
    (["/no/such/scene.ply"], "no such file"),
    (["--device", "cuda"], "CUDA"),
])
def test_bad_arguments_exit_2_with_one_line(args, message):
    import torch

    if args == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1 and "Traceback" not in r.stderr


def test_render_accepts_a_scene_folder(tmp_path):
    out = tmp_path / "demo.png"
    r = subprocess.run([sys.executable, "main.py", "render", "assets/demo", "--out", str(out), "--size", "640x400"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    from scenelens.engine.io.image import read_image

    img = read_image(out)
    assert img.shape[:2] == (400, 640) and (img.min(2) > 110).mean() > 0.002


def test_run_and_eval_list_their_tasks():
    for verb in ("run", "eval"):
        r = subprocess.run([sys.executable, "main.py", verb, "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and "registration" in r.stdout and "occupancy" in r.stdout, r.stdout


def test_readme_commands_are_the_ones_tested():
    text = (ROOT / "README.md").read_text()
    assert "bash scripts/app.sh" in text and "bash scripts/test.sh" in text
    app = (ROOT / "scripts" / "app.sh").read_text()
    assert "main.py" in app and '"$@"' in app  # the app script runs exactly `python main.py [args]`


def test_readme_first_command_opens_the_demo(tmp_path):
    """`bash scripts/app.sh`, exactly as the README says (its install step is idempotent)."""
    shot = tmp_path / "app.png"
    env = dict(os.environ, SCENELENS_AUTOSHOT=str(shot), SCENELENS_WINDOW_SIZE="1280x800",
               SCENELENS_STATE_DIR=str(tmp_path / "state"), SCENELENS_CONFIG_DIR=str(tmp_path / "config"))
    r = subprocess.run(["bash", "scripts/app.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    from scenelens.engine.io.image import read_image

    img = read_image(shot)
    dark, lit, varied = _cloud_and_grid(img)
    assert dark > 0.5 and lit > 0.002 and varied > 25
