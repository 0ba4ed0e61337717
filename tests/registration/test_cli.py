import json

import numpy as np
import pytest

from scenelens import cli as main


def test_run_registration_cli_json_and_eval(shared_data, tmp_path, capsys):
    d = shared_data / "3dmatch_pair"
    out = tmp_path / "T.txt"
    rc = main.main(["run", "registration", str(d / "src.npy"), str(d / "ref.npy"), "--out", str(out),
                    "--gt", str(d / "gt.npy"), "--json", "--device", "cpu"])
    assert rc == 0
    js = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for k in ("transform", "rotation_error_deg", "translation_error_cm", "success", "inlier_ratio", "seconds"):
        assert k in js
    assert js["success"] is True and js["rotation_error_deg"] < 15 and js["translation_error_cm"] < 30
    T = np.loadtxt(out)
    assert T.shape == (4, 4) and np.allclose(T, js["transform"], atol=1e-8)
    rc = main.main(["eval", "registration", "--pred", str(out), "--gt", str(d / "gt.npy"), "--json"])
    assert rc == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["rotation_error_deg"] == pytest.approx(js["rotation_error_deg"], abs=1e-6)
    assert ev["success"] is True
    # text mode with a KITTI preset uses the stricter thresholds
    rc = main.main(["eval", "registration", "--pred", str(out), "--gt", str(d / "gt.npy"), "--preset", "kitti"])
    assert rc == 0 and "success(kitti)" in capsys.readouterr().out


def test_eval_with_gt_log_pair_and_info(tmp_path, capsys):
    from scenelens.engine.io.registration_formats import write_gt_log, write_transform
    from scenelens.engine.registration.kabsch import random_transform

    M = random_transform(np.random.default_rng(0))
    write_gt_log(tmp_path / "gt.log", {(0, 7): M}, 10)
    (tmp_path / "gt.info").write_text("0\t7\t10\n" + "\n".join("\t".join(map(str, r)) for r in np.eye(6) * 100))
    write_transform(tmp_path / "est.json", M)
    rc = main.main(["eval", "registration", "--pred", str(tmp_path / "est.json"), "--gt", str(tmp_path / "gt.log"),
                    "--pair", "7", "0", "--info", str(tmp_path / "gt.info"), "--json"])
    assert rc == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["rotation_error_deg"] < 1e-5 and ev["success_official_3dmatch"]
    # the other direction is the inverse: scoring M as source 0 → target 7 is a failure
    rc = main.main(["eval", "registration", "--pred", str(tmp_path / "est.json"), "--gt", str(tmp_path / "gt.log"),
                    "--pair", "0", "7", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["success"] is False


def test_bad_inputs_exit_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "cloud.npy"
    np.save(bad, np.zeros((5, 2)))
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).uniform(size=(100, 3)))
    rc = main.main(["run", "registration", str(bad), str(good), "--out", str(tmp_path / "T.txt")])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and len(err.strip().splitlines()) == 1
    (tmp_path / "T.txt").write_text("1 0 0\n")
    rc = main.main(["eval", "registration", "--pred", str(tmp_path / "T.txt"), "--gt", str(tmp_path / "T.txt")])
    err = capsys.readouterr().err
    assert rc == 2 and "T.txt" in err and "16" in err
