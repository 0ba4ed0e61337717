"""Metrics checked against constructions whose answer is known by design (random similarity transforms,
exact offsets), not against numbers copied from the implementation."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scenelens.engine.pose.joints import COCO17, H36M17, MEDIAPIPE33, convert, get_joint_set, mapping_matrix
from scenelens.engine.pose.metrics import (ate, coco_keypoint_ap, hypothesis_spread, mpjpe, multi_hypothesis_mpjpe, oks,
                                 pa_mpjpe, pck, per_joint_error, procrustes_align, torso_size, umeyama)

rng = np.random.default_rng(0)


def _random_similarity():
    r = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    return float(rng.uniform(0.3, 3.0)), r, rng.normal(size=3) * 5


def test_umeyama_recovers_random_similarity():
    for _ in range(20):
        p = rng.normal(size=(17, 3))
        s, r, t = _random_similarity()
        q = s * p @ r.T + t
        sim = umeyama(p, q)
        assert sim.s == pytest.approx(s, rel=1e-9)
        np.testing.assert_allclose(sim.R, r, atol=1e-9)
        np.testing.assert_allclose(sim.t, t, atol=1e-8)
        assert pa_mpjpe(p, q) < 1e-9
        # ...while plain MPJPE sees the full displacement
        assert mpjpe(p, q) == pytest.approx(np.linalg.norm(p - q, axis=1).mean())


def test_pa_mpjpe_with_noise_is_below_noise_and_batched():
    gt = rng.normal(size=(5, 17, 3))
    noise = rng.normal(scale=0.01, size=gt.shape)
    pred = np.stack([_apply(*_random_similarity(), g + n) for g, n in zip(gt, noise)])
    e = pa_mpjpe(pred, gt)
    assert 0 < e < np.linalg.norm(noise, axis=-1).mean() * 1.5
    aligned = procrustes_align(pred, gt)
    assert aligned.shape == gt.shape


def _apply(s, r, t, p):
    return s * p @ r.T + t


def test_reflections_are_excluded_unless_asked():
    gt = rng.normal(size=(17, 3))
    mirrored = gt * np.array([-1.0, 1, 1])  # a reflection, not a rotation
    assert pa_mpjpe(mirrored, gt) > 0.1
    assert pa_mpjpe(mirrored, gt, allow_reflection=True) < 1e-9
    sim = umeyama(mirrored, gt)
    assert np.linalg.det(sim.R) == pytest.approx(1.0)


def test_mpjpe_offsets_and_root():
    gt = rng.normal(size=(17, 3))
    d = np.array([0.3, -0.4, 0.0])
    assert mpjpe(gt + d, gt) == pytest.approx(0.5)
    assert mpjpe(gt + d, gt, root=0) == pytest.approx(0.0, abs=1e-12)
    pj = per_joint_error(gt + d, gt)
    np.testing.assert_allclose(pj, 0.5)


def test_multi_hypothesis_oracle_and_spread():
    gt = rng.normal(size=(17, 3))
    hyps = np.stack([gt + rng.normal(scale=s, size=gt.shape) for s in (0.5, 0.01, 0.3)])
    assert multi_hypothesis_mpjpe(hyps, gt) == pytest.approx(mpjpe(hyps[1], gt, 0))
    same = np.repeat(gt[None], 4, 0)
    np.testing.assert_allclose(hypothesis_spread(same), 0, atol=1e-12)
    assert hypothesis_spread(hyps)[5] > 0


def test_pck_counts_joints_within_alpha_torso():
    g = np.zeros((17, 2))
    g[COCO17.index("left_shoulder")] = [0, 0]
    g[COCO17.index("right_hip")] = [30, 40]      # diagonal 50
    g[COCO17.index("right_shoulder")] = [30, 0]
    g[COCO17.index("left_hip")] = [0, 40]        # diagonal 50
    vis = np.full(17, 2)
    vis[0] = 0                                   # nose unlabelled: not counted
    assert torso_size(g, vis) == pytest.approx(50.0)
    pred = g.copy()
    pred[1:5] += [9.0, 0]                        # within 0.2*50 = 10
    pred[5:9] += [0, 11.0]                       # outside
    total, per_joint = pck(pred, g, vis, 50.0, 0.2)
    assert total == pytest.approx(12 / 16)
    assert np.isnan(per_joint[0]) and per_joint[1] == 1 and per_joint[5] == 0


def test_oks_and_coco_ap_via_pycocotools():
    g = rng.uniform(50, 150, size=(17, 2))
    gt = {"images": [{"id": 1, "width": 200, "height": 200}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 5000.0,
                           "bbox": [50, 50, 100, 100], "num_keypoints": 17,
                           "keypoints": np.c_[g, np.full(17, 2)].ravel().tolist()}],
          "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.names)}]}
    assert oks(g, g, np.full(17, 2), 5000.0) == pytest.approx(1.0)
    perfect = [{"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": np.c_[g, np.ones(17)].ravel().tolist()}]
    assert coco_keypoint_ap(gt, perfect)["AP"] == pytest.approx(1.0)
    far = [{"image_id": 1, "category_id": 1, "score": 0.9,
            "keypoints": np.c_[g + 25, np.ones(17)].ravel().tolist()}]
    assert coco_keypoint_ap(gt, far)["AP"] < 0.5


def test_ate_after_rigid_and_similarity_alignment():
    n = 50
    t = np.linspace(0, 10, n)
    ref = np.tile(np.eye(4), (n, 1, 1))
    ref[:, :3, 3] = np.c_[np.cos(t), np.sin(t), 0.1 * t]
    s, r, tr = _random_similarity()
    est = ref.copy()
    est[:, :3, 3] = (ref[:, :3, 3] - tr) @ r / s   # inverse similarity: est is ref seen in another frame
    res = ate(est, ref, scale=True)
    assert res.rmse < 1e-9 and res.alignment.s == pytest.approx(s)
    rigid = ate(est, ref, scale=False)
    assert rigid.rmse > 1e-3  # without scale the wrong-size estimate cannot align
    noise = rng.normal(scale=0.01, size=(n, 3))
    est2 = ref.copy()
    est2[:, :3, 3] = ref[:, :3, 3] @ r.T + tr + noise
    res2 = ate(est2, ref, scale=False)
    assert res2.rmse < 0.02 and len(res2.errors) == n
    # timestamp association drops frames without a partner
    res3 = ate(est2[::2], ref, est_t=t[::2] + 1e-4, ref_t=t)
    assert len(res3.errors) == len(t[::2])


def test_joint_sets_and_mappings():
    assert COCO17.n == 17 and H36M17.n == 17 and MEDIAPIPE33.n == 33
    assert get_joint_set("H36M").name == "h36m17"
    for js in (COCO17, H36M17, MEDIAPIPE33):
        assert all(0 <= a < js.n and 0 <= b < js.n for a, b in js.bones)
        perm = js.flip_perm()
        assert sorted(perm) == list(range(js.n))
        for a, b in zip(js.left, js.right):  # left/right pairs name the same body part
            assert js.names[a].replace("left", "X") == js.names[b].replace("right", "X")
    mp = rng.normal(size=(33, 2))
    coco, conf = convert(mp, "mediapipe33", "coco17", np.linspace(0, 1, 33))
    for j, n in enumerate(COCO17.names):
        np.testing.assert_allclose(coco[j], mp[MEDIAPIPE33.index(n)])
    h36m, hc = convert(coco, "coco17", "h36m17")
    np.testing.assert_allclose(h36m[H36M17.index("pelvis")], (coco[11] + coco[12]) / 2)
    np.testing.assert_allclose(h36m[H36M17.index("thorax")], (coco[5] + coco[6]) / 2)
    assert mapping_matrix("mediapipe33", "h36m17").shape == (17, 33)
    with pytest.raises(KeyError):
        mapping_matrix("h36m17", "mediapipe33")


def test_mediapipe_connections_match_package():
    mp = pytest.importorskip("mediapipe")
    ours = {tuple(sorted(b)) for b in MEDIAPIPE33.bones}
    theirs = {tuple(sorted(b)) for b in mp.solutions.pose.POSE_CONNECTIONS}
    assert ours == theirs
    assert [lm.name.lower() for lm in mp.solutions.pose.PoseLandmark] == list(MEDIAPIPE33.names)
