"""The built-in pose model on torch alone (detector + landmarks + MediaPipe's processing) matches
MediaPipe's own `mp.solutions.pose` — recorded in tests/pose/data/mediapipe_reference.npz by
scripts/make_pose_reference.py while mediapipe was installed — to well under a pixel."""
import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
REF = Path(__file__).parent / "data" / "mediapipe_reference.npz"


@pytest.fixture(scope="module")
def pipe():
    import torch

    torch.set_num_threads(1)
    from engine.pose.detector_torch import BlazePoseTorch

    return BlazePoseTorch("cpu")


@pytest.fixture(scope="module")
def ref_images(shared_data):
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_pose_reference import reference_images

    return dict(reference_images())


def test_shipped_models_are_the_wheel_files():
    notice = (ROOT / "assets" / "pose" / "NOTICE").read_text()
    assert "Apache License" in (ROOT / "assets" / "pose" / "LICENSE").read_text()
    sums = dict((n, h) for h, n in re.findall(r"([0-9a-f]{64})\s+(\S+\.tflite)", notice))
    assert set(sums) == {"pose_detection.tflite", "pose_landmark_full.tflite"}
    for name, h in sums.items():
        assert hashlib.sha256((ROOT / "assets" / "pose" / name).read_bytes()).hexdigest() == h


def test_anchors_and_weighted_nms():
    from engine.pose.detector_torch import ssd_anchors, weighted_nms

    a = ssd_anchors()
    assert a.shape == (2254, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.12, 0.1, 0.2, 0.2], [0.6, 0.6, 0.2, 0.2]], np.float32)
    kps = np.zeros((3, 4, 2), np.float32)
    kps[:, 0, 0] = [0.2, 0.3, 0.7]
    d = weighted_nms(np.array([0.9, 0.6, 0.8], np.float32), boxes, kps, 0.3)
    assert len(d) == 2 and d[0].score == pytest.approx(0.9) and d[1].score == pytest.approx(0.8)
    assert d[0].box[0] == pytest.approx((0.1 * 0.9 + 0.12 * 0.6) / 1.5, abs=1e-6)  # score-weighted mean
    assert d[0].keypoints[0, 0] == pytest.approx((0.2 * 0.9 + 0.3 * 0.6) / 1.5, abs=1e-6)
    assert d[1].box[0] == pytest.approx(0.6)


def test_matches_mediapipe_solution_within_a_pixel(pipe, ref_images):
    ref = np.load(REF)
    assert len(ref["names"]) == 8  # 4 COCO samples, upright and turned 90°
    worst = 0.0
    for i, name in enumerate(ref["names"]):
        people = pipe.people(ref_images[str(name)])
        assert people, name
        lm = people[0][0]
        err = np.abs(lm["keypoints"][:33] - ref["keypoints"][i]).max()
        worst = max(worst, err)
        assert err <= 1.0, (name, err)
        np.testing.assert_allclose(lm["visibility"][:33], ref["visibility"][i], atol=0.01)
        np.testing.assert_allclose(lm["world"][:33], ref["world"][i], atol=0.005)
    assert worst < 0.5


def test_adapter_gives_people_with_coco_and_world(pipe, ref_images):
    from engine.pose.detector_torch import BlazePoseAdapter

    ad = BlazePoseAdapter()
    ad.pipe = pipe
    people = ad.predict_image(ref_images["000000000785.jpg"])
    assert len(people) == 1
    p = people[0]
    assert p.keypoints.shape == (33, 2) and p.coco.shape == (17, 2) and p.world.shape == (33, 3)
    assert 0.5 < p.detection_score <= 1 and p.presence > 0.5


def test_cuda_gives_the_same_landmarks(pipe, ref_images):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from engine.pose.detector_torch import BlazePoseTorch

    gpu = BlazePoseTorch("cuda")
    for name in ("000000000785.jpg", "000000196141.jpg@rot90"):
        a = pipe.people(ref_images[name])[0][0]
        b = gpu.people(ref_images[name])[0][0]
        assert np.abs(a["keypoints"] - b["keypoints"]).max() < 0.05


def test_pruned_landmark_graph_gives_the_same_outputs():
    import torch

    from engine.attribution.mediapipe_torch import build_module, bundled_model_path
    from engine.attribution.tflite_reader import read_tflite

    g = read_tflite(bundled_model_path().read_bytes())
    full = build_module(g).eval()
    pruned = build_module(g, keep=["landmarks", "heatmaps"]).eval()
    assert len(pruned.plan) < len(full.plan) and pruned.output_names == ["landmarks", "heatmaps"]
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = full(x), pruned(x)
    for k in b:
        assert torch.equal(a[k], b[k])
    with pytest.raises(KeyError):
        build_module(g, keep=["nope"])


def test_inference_mode_frees_and_adds_in_place_without_changing_outputs():
    import torch

    from engine.attribution.mediapipe_torch import build_module, bundled_model_path
    from engine.attribution.tflite_reader import read_tflite

    for name, size in (("pose_detection.tflite", 224), ("pose_landmark_full.tflite", 256)):
        m = build_module(read_tflite(bundled_model_path(name).read_bytes())).eval()
        assert m.inplace_ok and m.dead_after
        x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.enable_grad():
            a = m(x)
        with torch.no_grad():
            b = m(x)
        for k in a:
            assert torch.equal(a[k].detach(), b[k]), (name, k)
