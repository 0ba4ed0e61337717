"""PoseIG through the real (torch-rebuilt) MediaPipe model, and the `run attribution` CLI end to end."""
import argparse
import json

import numpy as np
import pytest
import torch

from scenelens.engine.attribution import poseig as P
from scenelens.engine.errors import InputError


def cli(argv):
    from scenelens.engine.tasks.attribution import TASK

    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=None)
    TASK.add_run_args(p)
    return TASK.run_cli(p.parse_args(argv))


def test_blur_path_endpoints():
    x = torch.rand(1, 3, 40, 40)
    path = P.blur_path(x, fold=5)
    assert path.shape == (6, 3, 40, 40)
    assert torch.equal(path[-1], x[0])
    assert P.blur_sigmas(5).tolist() == pytest.approx([19, 15.2, 11.4, 7.6, 3.8, 0])
    assert path[0].std() < path[3].std() < x.std()


def test_poseig_batched_equals_per_joint_and_localises_toy_joints():
    # toy "pose model": heatmap j = image channel j shifted; joint j is where that channel is bright
    def heat(b):
        return b[:, :2] * 4.0

    x = torch.zeros(1, 3, 32, 32)
    x[0, 0, 8, 6] = 1.0
    x[0, 1, 20, 25] = 1.0
    gt = torch.tensor([[6.0, 8.0], [25.0, 20.0]])

    def target(b):
        return P.joint_likelihood(P.soft_argmax(heat(b)), gt)

    a = P.poseig(target, x, ["j0", "j1"], fold=6, batch_size=4, batch_joints=True)
    b = P.poseig(target, x, ["j0", "j1"], fold=6, batch_size=3, batch_joints=False)
    np.testing.assert_allclose(a.raw, b.raw, rtol=1e-5, atol=1e-9)
    assert a.maps.max() == pytest.approx(1.0) and a.maps.min() >= 0
    assert np.unravel_index(a.maps[0].argmax(), (32, 32)) == (8, 6)
    assert np.unravel_index(a.maps[1].argmax(), (32, 32)) == (20, 25)


def test_cli_poseig_on_coco(coco_dir, tmp_path, capsys, torch_threads):
    out = tmp_path / "pose"
    rc = cli([str(coco_dir / "000000000785.jpg"), "--method", "poseig", "--gt", str(coco_dir / "test_coco.json"),
              "--joints", "nose,left_wrist,right_knee", "--steps", "3", "--batch-size", "3", "--curve-step", "8192",
              "--out", str(out), "--json"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    for k in ("FI", "LI", "DI"):
        assert set(m[k]) == {"nose", "left_wrist", "right_knee", "mean"}
        assert all(np.isfinite(v) for v in m[k].values())
    assert all(0 <= v <= 100 for v in m["DI"].values())
    assert m["reference"] == "ground truth" and set(m["EPE"]) == {"nose", "left_wrist", "right_knee"}
    jm = np.load(out / "joint_maps.npy")
    img_hw = np.load(out / "map.npy").shape
    assert jm.shape == (3,) + img_hw and jm.max() <= 1.0 + 1e-6
    # the nose map puts more mass on the person than a uniform map would
    assert m["FI"]["nose"] > 1.0
    for f in ("overlay.png", "indices.csv", "curves.csv"):
        assert (out / f).is_file()


def test_cli_gradcam_and_ig_on_cat(tmp_path, capsys, torch_threads):
    import cv2
    import skimage.data

    img = tmp_path / "cat.png"
    cv2.imwrite(str(img), cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR))
    rc = cli([str(img), "--method", "gradcam", "--out", str(tmp_path / "gc"), "--json", "--curve-step", "3584"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    assert m["target_name"] in ("Egyptian cat", "tabby", "tiger cat") and m["target"] == m["topk"][0]["index"]
    for k in ("deletion_auc", "insertion_auc", "deletion_auc_random"):
        assert 0.0 <= m[k] <= 1.0
    mp = np.load(tmp_path / "gc" / "map.npy")
    assert mp.shape == (300, 451) and mp.dtype == np.float32
    ov = cv2.imread(str(tmp_path / "gc" / "overlay.png"))
    assert ov.shape == (300, 451, 3)
    rc = cli([str(img), "--method", "ig", "--target", "tabby", "--steps", "8", "--tol", "0", "--no-faithfulness",
              "--out", str(tmp_path / "ig"), "--json"])
    m = json.loads(capsys.readouterr().out)
    assert m["target"] == 281 and m["baseline"] == "black" and m["steps"] == 8 and m["tolerance"] is None
    assert abs(m["convergence_delta"]) < abs(m["output_difference"])  # 8 steps: coarse, but not meaningless
    assert m["output_difference"] == pytest.approx(m["f_input"] - m["f_baseline"])


def test_cli_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="broken.png"):
        cli([str(bad), "--method", "gradcam", "--out", str(tmp_path / "o")])
    with pytest.raises(InputError, match="missing.jpg"):
        cli([str(tmp_path / "missing.jpg"), "--method", "gradcam", "--out", str(tmp_path / "o")])
    import cv2
    import skimage.data

    img = tmp_path / "c.png"
    cv2.imwrite(str(img), skimage.data.chelsea())
    with pytest.raises(InputError, match="unknown target class"):
        cli([str(img), "--method", "gradcam", "--target", "no such class", "--out", str(tmp_path / "o")])
    with pytest.raises(InputError, match="nope.json"):
        cli([str(img), "--method", "poseig", "--gt", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")])
