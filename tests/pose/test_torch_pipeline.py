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
def pipe(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    from scenelens.engine.pose.detector_torch import BlazePoseTorch

    with pytest.MonkeyPatch.context() as mp:  # the fusion probe's answer goes to a test state folder
        mp.setenv("SCENELENS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
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
    from scenelens.engine.pose.detector_torch import ssd_anchors, weighted_nms

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
    from scenelens.engine.pose.detector_torch import BlazePoseAdapter

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
    from scenelens.engine.pose.detector_torch import BlazePoseTorch

    gpu = BlazePoseTorch("cuda")
    for name in ("000000000785.jpg", "000000196141.jpg@rot90"):
        a = pipe.people(ref_images[name])[0][0]
        b = gpu.people(ref_images[name])[0][0]
        assert np.abs(a["keypoints"] - b["keypoints"]).max() < 0.05


def test_pruned_landmark_graph_gives_the_same_outputs():
    import torch

    from scenelens.engine.attribution.mediapipe_torch import build_module, bundled_model_path
    from scenelens.engine.attribution.tflite_reader import read_tflite

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

    from scenelens.engine.attribution.mediapipe_torch import build_module, bundled_model_path
    from scenelens.engine.attribution.tflite_reader import read_tflite

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


def test_optimised_modules_match_the_eager_ones(pipe):
    """The traced, frozen, channels-last modules the pipeline runs give the eager modules' outputs (one
    and several crops per batch: both networks' fused graphs for batch 1, batch 3 run one crop at a time
    through them, and batch 1 again afterwards), and the landmark graph keeps no explicit PAD step (folded
    into the convolutions)."""
    import torch

    from scenelens.engine.pose.detector_torch import BlazePoseTorch

    assert pipe.optimized
    assert pipe.detector_fused  # the detector runs oneDNN-fused (conv + bias + ReLU6 + add partitions)
    assert pipe.landmarker_fused  # and so does the landmark graph (traced with out-of-place activations)
    eager = BlazePoseTorch("cpu", optimize=False)
    assert not eager.optimized and not eager.detector_fused and not eager.landmarker_fused
    assert not any(st[0] == "pad" for st in eager.landmarker.plan)
    g = torch.Generator().manual_seed(1)
    for mod_fast, mod_ref, size in ((pipe.landmarker, eager.landmarker, 256), (pipe.detector, eager.detector, 224)):
        for n in (1, 3, 1):
            x = torch.rand(n, size, size, 3, generator=g).permute(0, 3, 1, 2)  # NHWC memory, as the pipeline feeds it
            with torch.inference_mode():
                a, b = mod_fast(x), mod_ref(x.contiguous())
            assert set(a) == set(b)
            for k in b:
                assert a[k].shape == b[k].shape, k
                scale = max(1.0, float(b[k].abs().max()))
                assert float((a[k] - b[k]).abs().max()) <= 2e-5 * scale + 2e-3, (k, n)


def test_vectorised_heatmap_refinement_matches_the_per_joint_rule():
    from scenelens.engine.pose.detector_torch import refine_from_heatmaps

    def per_joint(xy, heat, kernel=9, min_conf=0.5):  # MediaPipe's loop, bounds quirk included
        J, h, w = heat.shape
        out = xy.copy()
        off = (kernel - 1) // 2
        for j in range(J):
            c, r = int(xy[j, 0] * w), int(xy[j, 1] * h)
            if c < 0 or c >= w or r < 0 or c >= h:
                continue
            c0, c1, r0, r1 = max(0, c - off), min(w, c + off + 1), max(0, r - off), min(h, r + off + 1)
            if r1 <= r0 or c1 <= c0:
                continue
            conf = 1.0 / (1.0 + np.exp(-heat[j, r0:r1, c0:c1].astype(np.float64)))
            if conf.max() >= min_conf and conf.sum() > 0:
                rows, cols = np.mgrid[r0:r1, c0:c1]
                out[j] = (cols * conf).sum() / w / conf.sum(), (rows * conf).sum() / h / conf.sum()
        return out

    rng = np.random.default_rng(0)
    moved = 0
    for _ in range(50):
        xy = rng.uniform(-0.2, 1.3, (39, 2)).astype(np.float32)
        heat = rng.normal(0, 3, (39, 64, 64)).astype(np.float32)
        ref, got = per_joint(xy, heat), refine_from_heatmaps(xy, heat)
        np.testing.assert_allclose(got, ref, atol=1e-6)
        moved += int((np.abs(ref - xy) > 1e-6).any(1).sum())
    assert moved > 500  # most joints inside the map are refined, so the comparison means something


def test_one_person_followed_runs_no_detector(pipe, ref_images):
    """With max_people=1 (MediaPipe's single-person solution) a followed person costs one landmark pass
    per frame: the detector runs on the first frame only, as long as the person is not lost."""
    from scenelens.engine.pose.detector_torch import BlazePoseAdapter

    ad = BlazePoseAdapter(max_people=1)
    ad.pipe = pipe
    calls = []
    real = pipe.detect
    pipe.detect = lambda rgb: calls.append(1) or real(rgb)
    try:
        ad.set_video_mode(True)
        img = ref_images["000000000785.jpg"]
        for i in range(12):
            assert len(ad.predict_image(np.roll(img, 2 * i, axis=1))) == 1
    finally:
        del pipe.detect
    assert len(calls) == 1


def test_crop_is_opencv4s_warp_bit_for_bit():
    """engine/pose/warp.py reproduces OpenCV 4's boxPoints, getPerspectiveTransform and warpPerspective
    (INTER_LINEAR, replicate and constant borders) exactly — recorded from opencv-python-headless 4.10 in
    tests/pose/data/opencv4_warps.npz — whatever OpenCV is installed (5.x differs by up to 4 levels)."""
    from scenelens.engine.pose.warp import box_points, perspective_transform, warp_perspective

    ref = np.load(Path(__file__).parent / "data" / "opencv4_warps.npz")
    assert str(ref["opencv"]).startswith("4.")
    dst = np.array([[0, 32], [0, 0], [32, 0], [32, 32]], np.float32)
    for (cx, cy, w, h, a), box, M, crop, const in zip(ref["rects"], ref["boxes"], ref["M"], ref["crops"],
                                                      ref["constant_border"]):
        assert np.array_equal(box_points((cx, cy), (w, h), a), box)
        np.testing.assert_allclose(perspective_transform(box, dst), M, rtol=0, atol=1e-9)
        got = warp_perspective(ref["image"], M, (32, 32), "constant" if const else "replicate")
        assert np.array_equal(got, crop)
    assert ref["constant_border"].any() and (~ref["constant_border"]).any()
    # and a plain shift by whole pixels is the image itself
    img = ref["image"]
    T = np.array([[1, 0, -5], [0, 1, -3], [0, 0, 1]], float)
    assert np.array_equal(warp_perspective(img, T, (40, 30)), img[3:33, 5:45])


def test_cached_letterbox_equals_the_warp_computed_each_time():
    """The detector's letterbox reuses its sampling maps per image size (lru cache): same bytes as the
    OpenCV-4-exact warp computed afresh, for landscape, portrait and square images, and the second call
    with another image of the same size samples that image (not the first one)."""
    from scenelens.engine.pose import detector_torch as dt
    from scenelens.engine.pose.warp import warp_perspective

    rng = np.random.default_rng(3)
    for W, H in ((640, 480), (333, 517), (256, 256)):
        for _ in range(2):
            img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            got, (ph, pv) = dt.letterbox_input(img)
            side = float(max(W, H))
            M = dt._rotated_rect_matrix(W / 2.0, H / 2.0, side, side, 0.0, dt.DET_SIZE, dt.DET_SIZE)
            want = warp_perspective(img, M, (dt.DET_SIZE, dt.DET_SIZE), "constant", 0)
            assert np.array_equal(got, want)
            assert (ph > 0) == (H > W) and (pv > 0) == (W > H)


def test_fused_landmark_graph_equals_the_eager_module_on_real_crops(pipe, ref_images):
    """The oneDNN-fused landmark graph the pipeline runs gives the eager module's outputs on person crops
    of the reference images (heatmaps included: they refine the landmarks), and tracing it out of place
    changes nothing in the eager module (in-place and out-of-place activations give the same bits)."""
    import torch

    from scenelens.engine.attribution.mediapipe_torch import out_of_place_activations
    from scenelens.engine.pose.detector_torch import BlazePoseTorch, roi_crop

    assert pipe.landmarker_fused
    eager = BlazePoseTorch("cpu", optimize=False).landmarker
    crops = []
    for _name, rgb in list(ref_images.items())[:4]:
        H, W = rgb.shape[:2]
        dets = pipe.detect(rgb)
        assert dets
        crops.append(roi_crop(rgb, pipe.roi_from_detection(dets[0], W, H)))
    for crop in crops:
        x = torch.from_numpy(crop[None]).permute(0, 3, 1, 2).float() / 255.0  # NHWC memory, as the pipeline
        with torch.inference_mode():
            a, b = pipe.landmarker(x), eager(x.contiguous())
        with torch.no_grad(), out_of_place_activations():
            c = eager(x.contiguous())
        for k in b:
            assert torch.equal(b[k], c[k]), k
            assert a[k].shape == b[k].shape, k
            scale = max(1.0, float(b[k].abs().max()))
            assert float((a[k] - b[k]).abs().max()) <= 2e-5 * scale + 2e-3, k
        assert float(b["presence"].min()) > 0.5  # real people: the comparison is not on an empty output


def test_fusion_probe_child_outcomes():
    """The fusion probe's child: a clean report gives each network's verdict; a fault inside one network
    (the fuser's segfault) gives False for it and for those not reached; any other failure (an exception,
    SIGKILL from outside, a missing report) gives no answer; SCENELENS_ONEDNN_FUSION=0 asks nothing."""
    import os

    from scenelens.engine.pose import detector_torch as dt

    ok = "print('fusion-probe start detector'); print('fusion-probe done detector fused'); " \
         "print('fusion-probe start landmarker'); print('fusion-probe done landmarker traced')"
    assert dt._probe_child(ok, 60) == {"detector": True, "landmarker": False}
    seg = "import os, signal; print('fusion-probe start detector'); print('fusion-probe done detector fused'); " \
          "print('fusion-probe start landmarker', flush=True); os.kill(os.getpid(), signal.SIGSEGV)"
    assert dt._probe_child(seg, 60) == {"detector": True, "landmarker": False}
    seg_first = "import os, signal; print('fusion-probe start detector', flush=True); " \
                "os.kill(os.getpid(), signal.SIGSEGV)"
    assert dt._probe_child(seg_first, 60) == {"detector": False, "landmarker": False}
    killed = "import os, signal; print('fusion-probe start detector', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    assert dt._probe_child(killed, 60) is None
    assert dt._probe_child("raise ImportError('no torch')", 60) is None
    assert dt._probe_child("print('fusion-probe start detector'); print('fusion-probe done detector fused')", 60) is None
    os.environ["SCENELENS_ONEDNN_FUSION"] = "0"
    try:
        assert dt.fusion_probe() == {"detector": False, "landmarker": False}
    finally:
        del os.environ["SCENELENS_ONEDNN_FUSION"]


def test_fusion_probe_runs_the_real_child_once_and_keeps_its_answer(tmp_path, monkeypatch):
    """The real probe (a child process builds, fuses and checks both networks) answers True for both here,
    writes that answer under its key in the state folder, and a later call reads it back without a child."""
    import json

    from scenelens.engine.pose import detector_torch as dt

    monkeypatch.setenv("SCENELENS_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(dt, "_probe_cache", {})
    assert dt.fusion_probe() == {"detector": True, "landmarker": True}
    stored = json.loads((tmp_path / "onednn_fusion.json").read_text())
    assert stored == {dt._fusion_key(): {"detector": True, "landmarker": True}}
    monkeypatch.setattr(dt, "_probe_cache", {})
    monkeypatch.setattr(dt, "_probe_child", lambda *a: pytest.fail("the stored answer was not used"))
    assert dt.fusion_probe() == {"detector": True, "landmarker": True}
