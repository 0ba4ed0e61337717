"""Several people with stable identities: the tracker on synthetic motion (crossing, gaps, re-identification)
and the built-in torch pipeline + tracker on a two-person crossing clip made from the COCO samples
(scripts/make_crossing_clip.py), through `run pose` as a user runs it (PoseTrack-style JSON)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenelens.engine.pose.tracking import PoseTracker, oks
from scenelens.engine.pose.types import Person

ROOT = Path(__file__).resolve().parents[2]


def _skeleton(cx: float, cy: float = 300.0, s: float = 1.0) -> np.ndarray:
    """A crude upright COCO-17 figure around (cx, cy), height ≈ 300·s px."""
    rel = np.array([[0, -140], [-8, -148], [8, -148], [-16, -144], [16, -144], [-35, -100], [35, -100],
                    [-45, -50], [45, -50], [-50, 0], [50, 0], [-20, 10], [20, 10], [-22, 80], [22, 80],
                    [-24, 150], [24, 150]], float)
    return np.array([cx, cy]) + rel * s


def _person(kp: np.ndarray) -> Person:
    return Person(kp, np.ones(17), "coco17").with_coco()


def test_oks_is_one_for_identical_and_falls_with_distance():
    a = _skeleton(100)
    assert oks(a, a, 300 * 100) == pytest.approx(1.0)
    assert oks(a, a + 5, 300 * 100) > oks(a, a + 20, 300 * 100) > oks(a, a + 80, 300 * 100)


def test_crossing_people_keep_their_ids_without_appearance():
    tr = PoseTracker()
    ids = {0: set(), 1: set()}
    for t in range(30):
        xa, xb = 100 + 20 * t, 700 - 20 * t  # they meet at t = 15
        people = [_person(_skeleton(xb)), _person(_skeleton(xa))]  # detection order carries no identity
        tr.update(t, people)
        ids[1].add(people[0].track_id)
        ids[0].add(people[1].track_id)
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1]


def test_gap_tolerance_reidentifies_and_long_gaps_start_new_tracks():
    tr = PoseTracker(max_gap=10)
    seen = []
    for t in range(40):
        x = 100 + 10 * t
        people = [] if 10 <= t < 16 or 27 <= t < 39 else [_person(_skeleton(x))]
        tr.update(t, people)
        seen += [(t, p.track_id) for p in people]
    before = {i for t, i in seen if t < 10}
    after_short = {i for t, i in seen if 16 <= t < 27}
    after_long = {i for t, i in seen if t >= 39}
    assert before == after_short  # 6 frames hidden: the same person again
    assert after_long and after_long.isdisjoint(before)  # 12 frames > max_gap: a new track


def _nearest_truth(kp: np.ndarray, truth: np.ndarray) -> tuple[int, float]:
    """Which of the two true people a predicted COCO-17 skeleton is (by mean distance over labelled joints)."""
    d = []
    for k in range(2):
        lab = truth[k, :, 2] > 0
        d.append(float(np.linalg.norm(kp[lab] - truth[k, lab, :2], axis=1).mean()))
    return int(np.argmin(d)), min(d)


@pytest.fixture(scope="module")
def crossing_clip(tmp_path_factory, shared_data):
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_crossing_clip import make_crossing_clip

    p = tmp_path_factory.mktemp("clip") / "crossing.avi"
    truth = make_crossing_clip(p, frames=40)
    return p, truth


def test_run_pose_tracks_two_people_through_a_crossing(crossing_clip, tmp_path):
    clip, truth = crossing_clip
    out = tmp_path / "tracks.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "main.py", "run", "pose", str(clip), "--out", str(out), "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["model"] == "blazepose" and summary["frames"] == 40
    res = json.loads(out.read_text())
    assert {"image_id", "track_id", "score", "bbox", "keypoints", "category_id"} <= set(res[0])
    assert sorted({r["image_id"] for r in res}) == list(range(40))  # image_id = frame index
    frames_with_both = {i for i in range(40) if sum(r["image_id"] == i for r in res) == 2}
    assert len(frames_with_both) >= 25  # both seen before and after the crossing
    tracks = sorted({r["track_id"] for r in res})
    assert tracks == sorted(summary["tracks"]) and len(tracks) == 2
    who: dict[int, list[int]] = {t: [] for t in tracks}
    for e in res:
        kp = np.asarray(e["keypoints"], float).reshape(17, 3)[:, :2]
        k, dist = _nearest_truth(kp, truth[e["image_id"]])
        if dist < 40:  # a clear view of one person (skip skeletons mixed during the full overlap)
            who[e["track_id"]].append(k)
    # each ID stays on one person, and the two IDs are the two people: before and after the crossing
    for t, ks in who.items():
        assert len(ks) >= 15 and len(set(ks)) == 1, (t, ks)
    assert {who[t][0] for t in tracks} == {0, 1}
    first = {r["track_id"] for r in res if r["image_id"] < 5}
    last = {r["track_id"] for r in res if r["image_id"] >= 35}
    assert first == last == set(tracks)
    npz = np.load(out.with_suffix(".npz"))
    assert npz["keypoints_coco17"].shape[:2] == (40, 2) and list(npz["track_ids"]) == summary["tracks"]


def test_posetrack_json_reads_back_with_one_slot_per_track(tmp_path):
    from scenelens.engine.io import load_layers

    kp = np.c_[_skeleton(100), np.full(17, 2)].ravel().tolist()
    res = [{"image_id": 0, "category_id": 1, "keypoints": kp, "score": 0.9, "track_id": 5, "video": "v.avi", "frame": 0},
           {"image_id": 0, "category_id": 1, "keypoints": kp, "score": 0.8, "track_id": 2, "video": "v.avi", "frame": 0},
           {"image_id": 1, "category_id": 1, "keypoints": kp, "score": 0.8, "track_id": 2, "video": "v.avi", "frame": 1}]
    p = tmp_path / "tracks.json"
    p.write_text(json.dumps(res))
    sk = load_layers(p)[0]
    assert sk.meta["track_ids"] == [5, 2] and sk.joints.shape[:2] == (2, 2)
    assert sk.meta["valid"].tolist() == [[True, True], [False, True]]  # track 5 absent in frame 1, slot kept


def test_run_pose_rejects_bad_detector_options(shared_data, tmp_path):
    img = shared_data / "coco_keypoints" / "000000000785.jpg"
    for opt in (["--det-score", "0"], ["--max-people", "-1"]):
        r = subprocess.run([sys.executable, "main.py", "run", "pose", str(img), "--out", str(tmp_path / "o.json"), *opt],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
