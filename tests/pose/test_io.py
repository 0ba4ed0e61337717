"""Readers and writers: BVH forward kinematics against an independent implementation, COCO keypoint
round trips through pycocotools, trajectories, and 3-D joint files."""
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scenelens.engine.errors import InputError
from scenelens.engine.io import detect, load, load_layers
from scenelens.engine.io.bvh import forward_kinematics, parse_bvh
from scenelens.engine.io.coco_keypoints import skeletons_to_gt, skeletons_to_results, write_coco
from scenelens.engine.io.h36m import write_joints_npz
from scenelens.engine.io.trajectory import read_trajectory, write_kitti, write_tum
from scenelens.engine.scene import Skeleton, Trajectory

# ------------------------------------------------------------------------------------------------ BVH


def _fk_recursive(b, frame):
    """Independent FK: recursion over children with 4×4 homogeneous matrices and scipy's intrinsic
    Euler angles (upper-case axes), instead of the engine's per-axis matrix products in file order."""
    out = {}
    children = {}
    for j, p in enumerate(b.parents):
        children.setdefault(p, []).append(j)

    def visit(j, parent_m):
        ch = b.channels[j]
        vals = b.motion[frame, b.channel_start[j]:b.channel_start[j] + len(ch)]
        pos = {c[0]: v for c, v in zip(ch, vals) if c.endswith("position")}
        rot_axes = "".join(c[0] for c in ch if c.endswith("rotation"))
        rot_vals = [v for c, v in zip(ch, vals) if c.endswith("rotation")]
        local = np.eye(4)
        local[:3, 3] = b.offsets[j] + np.array([pos.get("X", 0.0), pos.get("Y", 0.0), pos.get("Z", 0.0)])
        if rot_axes:
            local[:3, :3] = Rotation.from_euler(rot_axes.upper(), rot_vals, degrees=True).as_matrix()
        m = parent_m @ local
        out[j] = m[:3, 3]
        for c in children.get(j, []):
            visit(c, m)

    visit(0, np.eye(4))
    return np.array([out[j] for j in range(len(b.names))])


def test_bvh_fk_matches_independent_recursive_fk(shared_data):
    path = shared_data / "cmu_mocap_131_01" / "scaled_131_01.bvh"
    b = parse_bvh(path)
    assert b.n_frames == 995 and abs(1 / b.frame_time - 120) < 0.01
    assert any("Xrotation Yrotation" in " ".join(c) for c in b.channels)  # arms use ZXY: order matters
    frames = [0, 1, 250, 500, 994]
    ours = forward_kinematics(b, np.array(frames))
    for k, f in enumerate(frames):
        np.testing.assert_allclose(ours[k], _fk_recursive(b, f), atol=1e-9)
    # sanity of the real motion: upright person, feet near the floor, walks a couple of metres
    pos = forward_kinematics(b)
    head = pos[:, b.names.index("Head")]
    foot = pos[:, b.names.index("LeftToe")]
    assert np.median(head[:, 1]) > 1.2 and np.all(head[:, 1] > pos[:, 0, 1]) and np.all(foot[:, 1] < 0.25)
    assert np.linalg.norm(pos[-1, 0, [0, 2]] - pos[0, 0, [0, 2]]) > 1.5


def test_bvh_hand_computed_chain(tmp_path):
    txt = """HIERARCHY
ROOT A
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT B
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 0 90 0
"""
    p = tmp_path / "chain.bvh"
    p.write_text(txt)
    b = parse_bvh(p)
    pos = forward_kinematics(b)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 3, 3], [1, 5, 3]], atol=1e-12)
    # frame 1: root turned 90° about Z sends +y to -x; B then turns 90° about X, its +y goes to +z in
    # B's frame, i.e. +z in the world (rotation about z keeps z)
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [-1, 0, 0], [-1, 0, 2]], atol=1e-12)
    sk = load(p).layers[0]
    assert sk.joint_names == ["A", "B", "B_end"] and sk.fps == 2.0 and sk.joints.shape == (2, 1, 3, 3)


def test_bvh_bad_input_names_file(tmp_path):
    p = tmp_path / "bad.bvh"
    p.write_text("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n}\nMOTION\n"
                 "Frames: 3\nFrame Time: 0.1\n1 2 3\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert "bad.bvh" in str(e.value) and "3 frames" in str(e.value)


# ----------------------------------------------------------------------------------------------- COCO


def test_coco_gt_round_trip_valid_for_pycocotools(shared_data, tmp_path):
    from pycocotools.coco import COCO

    src = shared_data / "coco_keypoints" / "test_coco.json"
    orig = json.loads(src.read_text())
    layers = load_layers(src)
    sks = [s for s in layers if isinstance(s, Skeleton)]
    assert len(sks) == 4 and sum(s.joints.shape[1] for s in sks) == len(orig["annotations"])
    assert any(lay.kind == "image" for lay in layers)  # images beside the JSON come along
    out = tmp_path / "gt.json"
    write_coco(out, skeletons_to_gt(sks, sks[0].meta["categories"]))
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == len(orig["annotations"])
    by_id = {a["id"]: a for a in orig["annotations"]}
    for a in coco.loadAnns(coco.getAnnIds()):
        o = by_id[a["id"]]
        ok = np.asarray(o["keypoints"]).reshape(-1, 3)
        nk = np.asarray(a["keypoints"]).reshape(-1, 3)
        lab = ok[:, 2] > 0
        np.testing.assert_allclose(nk[lab], ok[lab], atol=0.01)
        assert a["num_keypoints"] == o["num_keypoints"] and a["image_id"] == o["image_id"]


def test_coco_results_round_trip(shared_data, tmp_path):
    from pycocotools.coco import COCO

    from scenelens.engine.pose.evaluate import evaluate_coco

    src = shared_data / "coco_keypoints" / "test_coco.json"
    gt = json.loads(src.read_text())
    sks = [s for s in load_layers(src, with_images=False) if isinstance(s, Skeleton)]
    for s in sks:
        s.meta["kind"] = "pred"
        s.meta["score"] = np.full(s.joints.shape[:2], 0.9)
    res = skeletons_to_results(sks)
    # unlabelled people (num_keypoints 0) still export; COCOeval ignores them through the GT side
    out = tmp_path / "res.json"
    write_coco(out, res)
    coco = COCO(str(src))
    coco.loadRes(str(out))  # accepted as a result file
    m = evaluate_coco(gt, json.loads(out.read_text()))
    assert m["AP"] == pytest.approx(1.0) and m["PCK@0.2"] == pytest.approx(1.0)
    back = [s for s in load_layers(out) if isinstance(s, Skeleton)]
    assert all(s.meta["kind"] == "pred" for s in back)


def test_coco_bad_keypoint_count_names_file(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text(json.dumps({"images": [{"id": 1}], "categories": [{"id": 1, "keypoints": ["a"] * 17}],
                             "annotations": [{"id": 5, "image_id": 1, "keypoints": [1, 2, 2]}]}))
    with pytest.raises(InputError) as e:
        load(p)
    assert "broken.json" in str(e.value) and "expected 51" in str(e.value)


# ------------------------------------------------------------------------------------------ trajectory


def _random_poses(n, seed=1):
    rng = np.random.default_rng(seed)
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    poses[:, :3, 3] = rng.normal(size=(n, 3))
    return poses


def test_kitti_and_tum_round_trip(tmp_path):
    poses = _random_poses(30)
    k = tmp_path / "poses.txt"
    write_kitti(k, poses)
    assert detect(k).name == "trajectory"
    tr = load_layers(k)[0]
    assert isinstance(tr, Trajectory) and tr.meta["format"] == "kitti"
    np.testing.assert_allclose(tr.poses, poses, atol=1e-8)
    t = tmp_path / "traj_tum.txt"
    ts = np.arange(30) * 0.1 + 1e9
    write_tum(t, poses, ts)
    tr2 = read_trajectory(t)
    assert tr2.meta["format"] == "tum"
    np.testing.assert_allclose(tr2.poses, poses, atol=1e-7)
    np.testing.assert_allclose(tr2.timestamps, ts, atol=1e-5)


def test_trajectory_bad_input(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("0 1 2 3 0 0 0 2\n")  # |q| = 2
    with pytest.raises(InputError) as e:
        read_trajectory(p)
    assert "t.txt" in str(e.value) and "unit" in str(e.value)
    p.write_text("1 2 3 4 5\n")
    with pytest.raises(InputError):
        read_trajectory(p)


# ------------------------------------------------------------------------------------------- 3-D joints


def test_joints_npz_and_h36m_npz(tmp_path):
    from scenelens.engine.pose.joints import H36M17

    rng = np.random.default_rng(3)
    j = rng.normal(size=(4, 1, 17, 3))
    sk = Skeleton(name="x", joints=j, confidence=np.ones((4, 1, 17)), joint_set="h36m17",
                  joint_names=list(H36M17.names), bones=list(H36M17.bones), fps=25.0)
    p = tmp_path / "joints.npz"
    write_joints_npz(p, sk)
    assert detect(p).name == "pose3d-npz"
    back = load_layers(p)[0]
    assert back.joint_set == "h36m17" and back.fps == 25.0
    np.testing.assert_allclose(back.joints, j)
    # mmpose-style Human3.6M: S in millimetres with a visibility column, part = 2-D
    s_mm = np.concatenate([j[:, 0] * 1000.0, np.ones((4, 17, 1))], -1)
    part = np.concatenate([rng.uniform(0, 1000, (4, 17, 2)), np.ones((4, 17, 1))], -1)
    h = tmp_path / "h36m_test.npz"
    np.savez(h, S=s_mm, part=part, imgname=np.array(["a.jpg"] * 4), f=np.array([1145.0, 1144.0]),
             c=np.array([512.0, 515.0]))
    lay = load_layers(h)
    assert lay[0].meta["units_in"] == "mm"
    np.testing.assert_allclose(lay[0].joints, j, atol=1e-12)
    assert lay[0].meta["camera"]["K"][0, 0] == 1145.0
    assert lay[1].dims == 2
    # GFPose results with hypotheses
    g = tmp_path / "results.npz"
    np.savez(g, pred3d=rng.normal(size=(1, 3, 5, 17, 3)), gt3d=rng.normal(size=(1, 3, 1, 17, 3)))
    pred, gt = load_layers(g)
    assert pred.meta["hypotheses"].shape == (5, 3, 1, 17, 3) and gt.joints.shape == (3, 1, 17, 3)
    bad = tmp_path / "other.npz"
    np.savez(bad, S=np.zeros((3, 5)))
    with pytest.raises(InputError) as e:
        load(bad)
    assert "other.npz" in str(e.value)


def test_joints_npy_declared_joint_set(tmp_path):
    p = tmp_path / "mp.npy"
    np.save(p, np.random.default_rng(0).normal(size=(6, 33, 3)))
    assert detect(p).name == "pose3d-npy"
    sk = load_layers(p)[0]
    assert sk.joint_set == "mediapipe33" and sk.joints.shape == (6, 1, 33, 3)
    sk2 = load_layers(p, joint_set="mediapipe33")[0]
    assert sk2.meta["joint_set_declared"]
