"""The MediaPipe pose landmark model rebuilt in torch agrees with the original run by mediapipe itself."""
import numpy as np
import pytest
import torch

from scenelens.engine.attribution import mediapipe_torch as M
from scenelens.engine.attribution.tflite_reader import read_tflite

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def crops(coco_dir):
    from scenelens.engine.attribution.common import load_image
    from scenelens.engine.attribution.posepipeline import coco_ground_truth, crop_transform, warp

    out = []
    for name in ("000000000785.jpg", "000000197388.jpg"):
        img = load_image(coco_dir / name)
        gt = coco_ground_truth(str(coco_dir / "test_coco.json"), name, img.shape[:2])
        out.append(warp(img, crop_transform(gt["bbox"], 256), 256))
    return np.stack(out)


def test_reader_sees_the_documented_graph():
    g = read_tflite(M.bundled_model_path().read_bytes())
    assert g.op_counts() == {"DEQUANTIZE": 192, "CONV_2D": 58, "DEPTHWISE_CONV_2D": 38, "ADD": 28, "PAD": 5,
                             "RESIZE_BILINEAR": 5, "MAX_POOL_2D": 2, "RESHAPE": 3, "LOGISTIC": 1}
    assert g.tensors[g.inputs[0]].shape == [1, 256, 256, 3]
    assert [g.tensors[i].shape for i in g.outputs] == [[1, 195], [1, 1], [1, 256, 256, 1], [1, 64, 64, 39], [1, 117]]
    with pytest.raises(ValueError):
        read_tflite(b"not a model at all")


def test_torch_module_matches_mediapipe(crops, torch_threads):
    m = M.load_pose_landmark_model()
    x = torch.from_numpy(crops.astype(np.float32) / 255).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = m(x)  # a batch of two
    ref = M.reference_outputs(crops)
    tol = {"landmarks": 2e-3, "presence": 1e-4, "heatmaps": 1e-3, "world_landmarks": 1e-4}
    for i in range(len(crops)):
        for k, t in tol.items():
            v = out[k][i:i + 1]
            v = (v.permute(0, 2, 3, 1) if v.dim() == 4 else v).reshape(-1).numpy()
            assert np.abs(v - ref[i][k]).max() < t, (k, np.abs(v - ref[i][k]).max())
        seg = out["segmentation"][i, 0].reshape(-1).numpy()
        assert np.abs(seg - ref[i]["segmentation"]).max() < 1e-3 * np.abs(ref[i]["segmentation"]).max()
    # a person is there, and the heatmap peaks land near the regressed landmarks
    assert float(out["presence"].min()) > 0.5
    lm = out["landmarks"][0].reshape(39, 5)[:33, :2]
    hm = out["heatmaps"][0, :33]
    peaks = torch.stack([torch.tensor(divmod(int(h.argmax()), 64)[::-1]) for h in hm]).float() * 4 + 2
    assert float((peaks - lm).norm(dim=1).median()) < 12


def test_gradients_are_finite_and_dense(crops, torch_threads):
    m = M.load_pose_landmark_model()
    x = torch.from_numpy(crops[:1].astype(np.float32) / 255).permute(0, 3, 1, 2).requires_grad_(True)
    y = torch.sigmoid(m(x)["heatmaps"][0, 0]).max()
    (g,) = torch.autograd.grad(y, x)
    assert torch.isfinite(g).all() and float((g != 0).float().mean()) > 0.5
