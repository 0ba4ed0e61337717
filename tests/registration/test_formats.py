import json

import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import load
from scenelens.engine.io.registration_formats import (gt_pair, kitti_relative, log_entry_for, read_gt_info, read_gt_log,
                                            read_kitti_calib, read_kitti_poses, read_transform, write_gt_log,
                                            write_transform)
from scenelens.engine.registration.kabsch import random_transform


def test_gt_log_round_trip_and_ij_direction(tmp_path):
    """Spec §9: warp fragment j by M and compare with fragment i."""
    rng = np.random.default_rng(0)
    frag_j = rng.uniform(-1, 1, (100, 3))
    M = random_transform(rng, 90, 1)
    frag_i = frag_j @ M[:3, :3].T + M[:3, 3]  # fragment i is fragment j seen in i's frame
    M2 = random_transform(rng)
    write_gt_log(tmp_path / "gt.log", {(0, 7): M, (3, 5): M2}, n_fragments=60)
    text = (tmp_path / "gt.log").read_text().splitlines()
    assert text[0].split() == ["0", "7", "60"] and len(text) == 10
    entries = read_gt_log(tmp_path / "gt.log")
    assert np.allclose(entries[(0, 7)], M) and np.allclose(entries[(3, 5)], M2)
    warped = frag_j @ entries[(0, 7)][:3, :3].T + entries[(0, 7)][:3, 3]
    assert np.allclose(warped, frag_i)
    # source = j = 7, target = i = 0 → M;  source = i, target = j → inv(M)
    assert np.allclose(gt_pair(entries, 7, 0), M)
    assert np.allclose(gt_pair(entries, 0, 7), np.linalg.inv(M))
    with pytest.raises(KeyError):
        gt_pair(entries, 1, 2)
    # an estimate exported as a .log line round-trips into the same direction convention
    (tmp_path / "est.log").write_text(log_entry_for(M, source=7, target=0, n_fragments=60))
    assert np.allclose(gt_pair(read_gt_log(tmp_path / "est.log"), 7, 0), M)


def test_gt_log_is_detected_from_content(tmp_path):
    rng = np.random.default_rng(1)
    p = tmp_path / "whatever.txt"
    write_gt_log(p, {(0, 1): random_transform(rng)})
    scene = load(p)
    assert scene.meta["format"] == "3dmatch-gt-log"
    assert "0 1" in scene.meta["registration_pairs"]


def test_gt_info_blocks(tmp_path):
    A = np.arange(36, dtype=float).reshape(6, 6)
    lines = ["0\t1\t10"] + ["\t".join(map(str, r)) for r in A] + ["2\t3\t10"] + ["\t".join(map(str, r)) for r in 2 * A]
    (tmp_path / "gt.info").write_text("\n".join(lines) + "\n")
    info = read_gt_info(tmp_path / "gt.info")
    assert np.array_equal(info[(0, 1)], A) and np.array_equal(info[(2, 3)], 2 * A)
    assert load(tmp_path / "gt.info").meta["format"] == "3dmatch-gt-info"


def test_bad_gt_log_names_file_and_line(tmp_path):
    p = tmp_path / "gt.log"
    p.write_text("0 1 3\n1 0 0 0\n0 1 0 0\n0 0 x 0\n0 0 0 1\n")
    with pytest.raises(InputError) as e:
        read_gt_log(p)
    assert str(p) in str(e.value) and "line" in str(e.value)
    p.write_text("0 1 3\n1 0 0 0\n0 1 0 0\n")
    with pytest.raises(InputError, match="blocks of 5 lines"):
        read_gt_log(p)


def test_kitti_relative_transform_moves_scan_a_onto_scan_b(tmp_path):
    rng = np.random.default_rng(2)
    Tr = random_transform(rng, 180, 0.5)  # velodyne → cam0
    poses = np.stack([random_transform(rng, 30, 10) for _ in range(3)])  # T_w_cam0 per frame
    world = rng.uniform(-20, 20, (200, 3))

    def scan(k):  # world points expressed in the velodyne frame of frame k
        T_w_velo = poses[k] @ Tr
        return (world - T_w_velo[:3, 3]) @ T_w_velo[:3, :3]

    (tmp_path / "00.txt").write_text("\n".join(" ".join(f"{v:.12g}" for v in P[:3].ravel()) for P in poses) + "\n")
    (tmp_path / "calib.txt").write_text("P0: " + " ".join(["0"] * 12) + "\nTr: " +
                                        " ".join(f"{v:.12g}" for v in Tr[:3].ravel()) + "\n")
    P = read_kitti_poses(tmp_path / "00.txt")
    calib = read_kitti_calib(tmp_path / "calib.txt")
    T = kitti_relative(P, calib["Tr"], 0, 2)
    assert np.allclose(scan(0) @ T[:3, :3].T + T[:3, 3], scan(2), atol=1e-6)


def test_kitti_files_errors(tmp_path):
    (tmp_path / "p.txt").write_text("1 2 3\n")
    with pytest.raises(InputError, match="12 numbers"):
        read_kitti_poses(tmp_path / "p.txt")
    (tmp_path / "c.txt").write_text("P0: " + " ".join(["0"] * 12) + "\n")
    with pytest.raises(InputError, match="Tr"):
        read_kitti_calib(tmp_path / "c.txt")


@pytest.mark.parametrize("suffix", [".txt", ".npy", ".json"])
def test_transform_round_trip(tmp_path, suffix):
    T = random_transform(np.random.default_rng(3))
    p = tmp_path / ("T" + suffix)
    write_transform(p, T, extra={"rotation_error_deg": 1.5})
    assert np.allclose(read_transform(p), T, atol=1e-9)
    if suffix == ".json":
        assert json.loads(p.read_text())["rotation_error_deg"] == 1.5


def test_transform_text_variants(tmp_path):
    T = random_transform(np.random.default_rng(4))
    (tmp_path / "a.txt").write_text(" ".join(repr(float(v)) for v in T[:3].ravel()))  # one line, 12 numbers (numpy 2 repr is np.float64(…))
    assert np.allclose(read_transform(tmp_path / "a.txt"), T)
    (tmp_path / "b.json").write_text(json.dumps(T.tolist()))
    assert np.allclose(read_transform(tmp_path / "b.json"), T)


@pytest.mark.parametrize("content,msg", [("1 2 3\n", "16"), ("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "rotation"),
                                         ("a b c\n", "numbers"), ('{"x": 1}', "transform")])
def test_bad_transform_files_raise_input_error_naming_file(tmp_path, content, msg):
    p = tmp_path / ("bad.json" if content.startswith("{") else "bad.txt")
    p.write_text(content)
    with pytest.raises(InputError, match=msg) as e:
        read_transform(p)
    assert str(p) in str(e.value)


def test_ground_truth_file_reads_every_format_the_workbench_writes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from scenelens.engine.io.registration_formats import GroundTruthFile, load_ground_truth, write_gt_log, write_transform
    from scenelens.engine.registration.kabsch import random_transform

    rng = np.random.default_rng(3)
    T = random_transform(rng)
    for name in ("T.txt", "T.json", "T.npy"):
        write_transform(tmp_path / name, T, extra={"rotation_error_deg": 1.0} if name.endswith("json") else None)
        g = GroundTruthFile(tmp_path / name)
        assert not g.needs_pair
        np.testing.assert_allclose(g.get(), T, atol=1e-9)
    write_gt_log(tmp_path / "gt.log", {(7, 3): T, (5, 1): np.eye(4)}, 10)
    g = GroundTruthFile(tmp_path / "gt.log")
    assert g.needs_pair and sorted(g.pairs()) == [(1, 5), (3, 7)]
    np.testing.assert_allclose(g.get(3, 7), T, atol=1e-7)
    np.testing.assert_allclose(load_ground_truth(tmp_path / "gt.log", (7, 3)), np.linalg.inv(T), atol=1e-6)
    with pytest.raises(InputError, match="--pair"):
        g.get()
    # KITTI odometry: poses of camera 0, Tr velodyne→cam0 from calib.txt found in ../sequences/00/
    poses = np.stack([random_transform(rng, 10, 20) for _ in range(12)])
    (tmp_path / "poses").mkdir()
    (tmp_path / "poses" / "00.txt").write_text("\n".join(" ".join(f"{v:.12g}" for v in P[:3].ravel()) for P in poses))
    Tr = random_transform(rng, 90, 1)
    (tmp_path / "sequences" / "00").mkdir(parents=True)
    (tmp_path / "sequences" / "00" / "calib.txt").write_text(
        "P0: " + " ".join(["0"] * 12) + "\nTr: " + " ".join(f"{v:.12g}" for v in Tr[:3].ravel()) + "\n")
    g = GroundTruthFile(tmp_path / "poses" / "00.txt")
    assert g.kind == "kitti-poses" and g.Tr is not None and "Tr" in g.describe()
    want = np.linalg.inv(Tr) @ np.linalg.inv(poses[10]) @ poses[0] @ Tr
    np.testing.assert_allclose(g.get(0, 10), want, atol=1e-6)
    with pytest.raises(InputError, match="outside"):
        g.get(0, 12)
    # the CLI: eval registration --gt poses --pair 0 10 (was exit 2)
    write_transform(tmp_path / "pred.txt", want)
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "main.py", "eval", "registration", "--pred", str(tmp_path / "pred.txt"),
                        "--gt", str(tmp_path / "poses" / "00.txt"), "--pair", "0", "10", "--preset", "kitti", "--json"],
                       cwd=root, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    import json

    ev = json.loads(p.stdout)
    assert ev["rotation_error_deg"] < 1e-4 and ev["translation_error_cm"] < 1e-3 and ev["success"] is True
    p = subprocess.run([sys.executable, "main.py", "eval", "registration", "--pred", str(tmp_path / "pred.txt"),
                        "--gt", str(tmp_path / "poses" / "00.txt")], cwd=root, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2 and "--pair" in p.stderr and "00.txt" in p.stderr
