"""`eval trajectory` (APE/RPE) equals evo (evo_ape / evo_rpe semantics, run here through evo's own core
classes) to 1e-6 for TUM, KITTI and EuRoC files, SE(3)/Sim(3)/no alignment, time offsets and both RPE
delta units; and it reports bad input in one line."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[2]


def _ref_traj(n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 0.05 + 1000.0
    a = np.linspace(0, 4 * np.pi, n)
    pos = np.stack([3 * np.cos(a), 2 * np.sin(a), 0.3 * a], 1) + rng.normal(0, 0.01, (n, 3))
    rot = Rotation.from_euler("zyx", np.stack([a, 0.2 * np.sin(a), 0.1 * np.cos(2 * a)], 1))
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, :3] = rot.as_matrix()
    poses[:, :3, 3] = pos
    return t, poses


def _estimate(t, ref, scale=1.0, seed=1, drop=0.1, jitter=0.004, offset=0.0):
    """A drifting, noisy estimate in another frame (and scale), with dropped and jittered stamps."""
    rng = np.random.default_rng(seed)
    n = len(ref)
    keep = np.sort(rng.choice(n, int(n * (1 - drop)), replace=False))
    G = np.eye(4)
    G[:3, :3] = Rotation.from_euler("xyz", [0.3, -0.5, 1.1]).as_matrix()
    G[:3, 3] = [5.0, -2.0, 0.7]
    est = []
    for k, i in enumerate(keep):
        p = ref[i].copy()
        p[:3, :3] = p[:3, :3] @ Rotation.from_rotvec(rng.normal(0, 0.01, 3) + [0, 0, 0.0005 * k]).as_matrix()
        p[:3, 3] = p[:3, 3] + rng.normal(0, 0.02, 3) + 0.001 * k
        p[:3, 3] *= scale
        est.append(G @ p)
    return t[keep] + rng.uniform(-jitter, jitter, len(keep)) - offset, np.asarray(est)


def _quat_xyzw(poses):
    return Rotation.from_matrix(poses[:, :3, :3]).as_quat()


def _write_tum(path, t, poses):
    q = _quat_xyzw(poses)
    rows = [f"{tt:.6f} " + " ".join(f"{v:.9f}" for v in (*p[:3, 3], *qq)) for tt, p, qq in zip(t, poses, q)]
    path.write_text("# timestamp tx ty tz qx qy qz qw\n" + "\n".join(rows) + "\n")


def _write_kitti(path, poses):
    path.write_text("".join(" ".join(f"{v:.9e}" for v in p[:3, :].ravel()) + "\n" for p in poses))


def _write_euroc(path, t, poses):
    q = _quat_xyzw(poses)
    head = ("#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], "
            "v_RS_R_x [m s^-1], v_RS_R_y [m s^-1], v_RS_R_z [m s^-1], b_w_RS_S_x [rad s^-1], "
            "b_w_RS_S_y [rad s^-1], b_w_RS_S_z [rad s^-1], b_a_RS_S_x [m s^-2], b_a_RS_S_y [m s^-2], "
            "b_a_RS_S_z [m s^-2]\n")
    rows = [f"{int(round(tt * 1e9))}," + ",".join(f"{v:.9f}" for v in (*p[:3, 3], qq[3], *qq[:3], *([0.1] * 9)))
            for tt, p, qq in zip(t, poses, q)]
    path.write_text(head + "\n".join(rows) + "\n")


def _evo_load(path, fmt):
    """evo's trajectory objects, parsed as evo's file_interface readers do."""
    from evo.core.trajectory import PosePath3D, PoseTrajectory3D

    if fmt == "kitti":
        m = np.loadtxt(path)
        return PosePath3D(poses_se3=[np.vstack([r.reshape(3, 4), [0, 0, 0, 1]]) for r in m])
    if fmt == "tum":
        m = np.loadtxt(path, comments="#")
        return PoseTrajectory3D(m[:, 1:4], np.roll(m[:, 4:8], 1, axis=1), m[:, 0])
    m = np.loadtxt(path, delimiter=",", comments="#")
    return PoseTrajectory3D(m[:, 1:4], m[:, 4:8], m[:, 0] / 1e9)


def _evo(est_path, ref_path, est_fmt, ref_fmt, align, t_max_diff=0.01, t_offset=0.0, delta=1, unit="f"):
    from evo.core import metrics, sync
    from evo.core.metrics import PoseRelation, Unit

    est, ref = _evo_load(est_path, est_fmt), _evo_load(ref_path, ref_fmt)
    if hasattr(est, "timestamps") and hasattr(ref, "timestamps"):
        ref, est = sync.associate_trajectories(ref, est, max_diff=t_max_diff, offset_2=t_offset)
    if align != "none":
        est.align(ref, correct_scale=align == "sim3")
    out = {}
    for key, rel in (("translation_m", PoseRelation.translation_part), ("rotation_deg", PoseRelation.rotation_angle_deg)):
        ape = metrics.APE(rel)
        ape.process_data((ref, est))
        rpe = metrics.RPE(rel, delta, Unit.frames if unit == "f" else Unit.meters, all_pairs=False)
        rpe.process_data((ref, est))
        out[("ape", key)] = ape.get_all_statistics()
        out[("rpe", key)] = rpe.get_all_statistics()
    return out, est.num_poses


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "eval", "trajectory", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


CASES = [  # (est format, ref format, align, t_offset, delta, delta unit, estimate scale)
    ("tum", "tum", "se3", 0.0, 1, "f", 1.0),
    ("tum", "tum", "sim3", 0.25, 5, "f", 0.6),
    ("tum", "tum", "none", 0.0, 2.0, "m", 1.0),
    ("kitti", "kitti", "se3", 0.0, 10, "f", 1.0),
    ("tum", "euroc", "sim3", 0.0, 1.5, "m", 1.7),
]


@pytest.mark.parametrize("est_fmt,ref_fmt,align,offset,delta,unit,scale", CASES)
def test_eval_trajectory_equals_evo(tmp_path, est_fmt, ref_fmt, align, offset, delta, unit, scale):
    pytest.importorskip("evo.core.metrics")
    t, ref = _ref_traj()
    if est_fmt == "kitti":  # no stamps: same frames, matched by index
        te, est = _estimate(t, ref, scale, drop=0.0, jitter=0.0)
    else:
        te, est = _estimate(t, ref, scale, offset=offset)
    writers = {"tum": lambda p, tt, pp: _write_tum(p, tt, pp), "kitti": lambda p, tt, pp: _write_kitti(p, pp),
               "euroc": _write_euroc}
    ep, rp = tmp_path / f"est.{est_fmt}.txt", tmp_path / f"ref.{ref_fmt}.csv"
    writers[est_fmt](ep, te, est)
    writers[ref_fmt](rp, t, ref)
    r = _cli("--est", ep, "--ref", rp, "--align", align, "--t-offset", offset, "--delta", delta, "--delta-unit", unit,
             "--json")
    assert r.returncode == 0, r.stderr
    ours = json.loads(r.stdout)
    assert ours["est_format"] == est_fmt and ours["ref_format"] == ref_fmt
    ref_stats, n = _evo(ep, rp, est_fmt, ref_fmt, align, 0.01, offset, delta, unit)
    assert ours["matched"] == n and n > 100
    for (kind, key), stats in ref_stats.items():
        for stat in ("rmse", "mean", "median", "std", "min", "max", "sse"):
            assert ours[kind][key][stat] == pytest.approx(stats[stat], abs=1e-6, rel=1e-9), (kind, key, stat)
    if align == "sim3":
        assert ours["alignment"]["scale"] == pytest.approx(1 / scale, rel=0.05)
    if align != "none":
        assert ours["ape"]["translation_m"]["rmse"] < 0.3


def test_eval_trajectory_bad_input_is_one_line(tmp_path):
    t, ref = _ref_traj(50)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    _write_kitti(a, ref)
    _write_kitti(b, ref[:40])
    r = _cli("--est", a, "--ref", b)
    assert r.returncode == 2 and "same number of poses" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    _write_tum(a, t, ref)
    _write_tum(b, t + 100.0, ref)
    r = _cli("--est", a, "--ref", b, "--json")
    assert r.returncode == 2 and "no matching timestamps" in r.stderr
    b.write_text("1 2 3\n")
    r = _cli("--est", a, "--ref", b)
    assert r.returncode == 2 and str(b) in r.stderr
