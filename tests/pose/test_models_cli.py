"""The built-in MediaPipe model against the COCO annotation, the job loop (streaming, cancel, video),
a user's TorchScript keypoint model through the adapter, and the `run pose` / `eval pose` CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenelens.engine.errors import InputError, JobCancelled
from scenelens.engine.jobs import JobContext, run_sync
from scenelens.engine.pose.evaluate import evaluate_coco
from scenelens.engine.pose.metrics import pck, torso_size

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mp_model():
    pytest.importorskip("mediapipe")
    from scenelens.engine.pose.mediapipe_adapter import MediaPipePose

    m = MediaPipePose()
    m.load(None, "cpu")
    yield m
    m.close()


def test_mediapipe_matches_coco_annotation(shared_data, mp_model):
    from scenelens.engine.io.image import read_image

    d = shared_data / "coco_keypoints"
    gt = json.loads((d / "test_coco.json").read_text())
    img_id = next(im["id"] for im in gt["images"] if im["file_name"] == "000000000785.jpg")
    ann = next(a for a in gt["annotations"] if a["image_id"] == img_id)
    g = np.asarray(ann["keypoints"], float).reshape(17, 3)
    people = mp_model.predict_image(read_image(d / "000000000785.jpg"))
    assert len(people) == 1
    p = people[0]
    assert p.keypoints.shape == (33, 2) and p.world.shape == (33, 3) and p.coco.shape == (17, 2)
    score, _ = pck(p.coco, g[:, :2], g[:, 2], torso_size(g[:, :2], g[:, 2]), 0.2)
    assert score >= 0.9
    # world landmarks are metric: shoulder width of an adult, 0.25–0.5 m
    sw = np.linalg.norm(p.world[11] - p.world[12])
    assert 0.25 < sw < 0.5


def _make_video(src_dir: Path, out: Path, n: int = 6) -> Path:
    import cv2

    img = cv2.imread(str(src_dir / "000000000785.jpg"))
    h, w = img.shape[:2]
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(n):
        vw.write(np.roll(img, 3 * i, axis=1))
    vw.release()
    return out


def test_video_job_streams_frames_and_cancels(shared_data, mp_model, tmp_path):
    from scenelens.engine.pose.run import estimate

    video = _make_video(shared_data / "coco_keypoints", tmp_path / "clip.avi")
    seen, progress = [], []
    ctx = JobContext(lambda f, m: progress.append(f), seen.append)
    run = estimate(video, mp_model, ctx, every=2)
    assert run.kind == "video" and [f.frame for f in run.frames] == [0, 2, 4]
    assert [f.frame for f in seen] == [0, 2, 4] and all(f.image is not None for f in seen)
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert all(len(f.persons) == 1 for f in run.frames)
    # the person moves 3 px per frame to the right: the nose follows
    xs = [f.persons[0].coco[0, 0] for f in run.frames]
    assert xs[0] < xs[1] < xs[2]
    sks = run.skeletons()
    assert sks[0].joints.shape == (3, 1, 17, 2) and sks[1].joints.shape == (3, 1, 33, 3)
    # cancel after the first streamed frame
    ctx2 = JobContext(None, None)
    ctx2._on_partial = lambda fr: ctx2.cancel()
    with pytest.raises(JobCancelled):
        estimate(video, mp_model, ctx2)


def test_bad_inputs_name_the_file(tmp_path, mp_model):
    from scenelens.engine.pose.run import estimate

    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(InputError) as e:
        estimate(empty, mp_model, JobContext())
    assert "nothing" in str(e.value)
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError) as e:
        estimate(bad, mp_model, JobContext())
    assert "x.jpg" in str(e.value)


def _band_model_file(tmp_path: Path, output: str) -> Path:
    """A TorchScript 'keypoint network' whose joint j is the brightest spot in horizontal band j of the
    input: heatmaps (stride 4) or soft-argmax coordinates, so decoding and crop mapping can be checked
    against dots drawn at known places."""
    import torch

    class Bands(torch.nn.Module):
        def __init__(self, coords: bool):
            super().__init__()
            self.coords = coords

        def forward(self, x):
            g = x.mean(1, keepdim=True)
            hm = torch.nn.functional.avg_pool2d(g, 4)          # 1×1×34×16 for a 136×64 input
            h = hm.shape[2]
            rows = torch.arange(h).view(1, 1, h, 1)
            j = torch.arange(17).view(1, 17, 1, 1)
            mask = ((rows // 2) == j).float()
            hm = hm - hm.min()
            out = hm * mask
            out = out / out.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
            if not self.coords:
                return out
            w = torch.softmax(out.flatten(2) * 50.0, -1).view(out.shape)
            ys = (w.sum(3) * torch.arange(h).float()).sum(2) * 4 + 1.5
            xs = (w.sum(2) * torch.arange(out.shape[3]).float()).sum(2) * 4 + 1.5
            return torch.stack([xs, ys, torch.ones_like(xs)], -1)

    p = tmp_path / f"bands_{output}.pt"
    torch.jit.script(Bands(output == "coords")).save(str(p))
    return p


@pytest.mark.parametrize("output", ["heatmaps", "coords"])
def test_torchscript_keypoint_adapter(tmp_path, output):
    from scenelens.engine.pose.torch_adapter import TorchKeypointAdapter

    rng = np.random.default_rng(1)
    # image 272×100: letterboxed into 136×64 at scale 0.5 with 7 px side padding
    img = np.zeros((272, 100, 3), np.uint8)
    truth = np.zeros((17, 2))
    for j in range(17):
        x, y = int(rng.integers(12, 88)), 16 * j + 8
        img[y - 4:y + 4, x - 4:x + 4] = 255
        truth[j] = (x - 0.5, y - 0.5)
    ad = TorchKeypointAdapter(output=output, joint_set="coco17", input_size=(136, 64))
    ad.load(str(_band_model_file(tmp_path, output)), "cpu")
    people = ad.predict_image(img)
    assert len(people) == 1
    err = np.linalg.norm(people[0].coco - truth, axis=1)
    assert err.max() < 6.0, err
    # a box crop maps back into the full image (no margin, so the crop is exactly the image above)
    ad.margin = 0.0
    big = np.zeros((400, 300, 3), np.uint8)
    big[50:322, 120:220] = img
    people = ad.predict_image(big, boxes=np.array([[120, 50, 100, 272]]))
    err = np.linalg.norm(people[0].coco - (truth + (120, 50)), axis=1)
    assert err.max() < 6.0, err


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_run_and_eval(shared_data, tmp_path):
    from pycocotools.coco import COCO

    d = shared_data / "coco_keypoints"
    out = tmp_path / "pred.json"
    r = _cli("run", "pose", d / "000000000785.jpg", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["people"] == 1
    res = json.loads(out.read_text())
    assert res[0]["image_id"] == 785 and len(res[0]["keypoints"]) == 51 and 0 < res[0]["score"] <= 1
    assert len(res[0]["extra"]["world"]) == 33
    COCO(str(d / "test_coco.json")).loadRes(str(out))
    npz = np.load(out.with_suffix(".npz"))
    assert str(npz["world_joint_set"]) == "mediapipe33" and npz["world"].shape == (1, 1, 33, 3)
    r = _cli("eval", "pose", "--pred", out, "--gt", d / "test_coco.json", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    # the same numbers as computing them here from the two JSON files
    ref = evaluate_coco(json.loads((d / "test_coco.json").read_text()), res)
    assert m["PCK@0.2"] == pytest.approx(ref["PCK@0.2"]) and m["PCK@0.2"] >= 0.9
    assert m["AP"] == pytest.approx(ref["AP"]) and m["AP"] > 0.5
    r = _cli("eval", "pose", "--pred", out, "--gt", d / "test_coco.json")
    assert "AP" in r.stdout and "PCK@0.2" in r.stdout and "mean pixel error" in r.stdout
    # bad input: exit 2, one line naming the file
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = _cli("eval", "pose", "--pred", bad, "--gt", d / "test_coco.json")
    assert r.returncode == 2 and "bad.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("run", "pose", tmp_path / "missing.mp4", "--out", out)
    assert r.returncode == 2 and "missing.mp4" in r.stderr
