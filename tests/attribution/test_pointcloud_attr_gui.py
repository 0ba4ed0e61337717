"""3D attribution in the real window: "Explain alignment" on the real 3DMatch pair paints the source cloud in
diverging colours (checked by pixels: the flat orange disappears, red appears where the support is, and the
toggle brings the orange back), the inspector shows a picked keypoint's score and its cell's effect; the
Attribution ▸ Explain point-cloud model path paints a user model's box-shaped attribution (red pixels only
where the box is)."""
from __future__ import annotations

import numpy as np
import torch

from tests.conftest import wait_job

ORANGE = (255, 140, 0)


def _bench(window, name):
    return next(b for b in window.workbenches if type(b).__name__ == name)


def _count(img, rgb, tol=40):
    return int((np.abs(img.astype(int) - np.array(rgb)).max(2) < tol).sum())


def _reddish(img) -> np.ndarray:
    """The red half of the diverging map (RdBu_r: 244,165,130 … 103,0,31) — blue is never 0, unlike orange."""
    i = img.astype(int)
    r, g, b = i[..., 0], i[..., 1], i[..., 2]
    return (r > 90) & (r - g > 60) & (r - b > 30) & (b > 0.2 * r)


def test_explain_alignment_paints_source(window, qtbot, shared_data, tmp_path):
    d = shared_data / "3dmatch_pair"
    wb = _bench(window, "RegistrationWorkbench")
    wait_job(qtbot, wb.open_pair(str(d / "src.npy"), str(d / "ref.npy"), str(d / "gt.npy")))
    wb.icp_combo.setCurrentText("off")
    wait_job(qtbot, wb.run(), timeout=120000)
    wb.corr_box.setChecked(False)  # correspondence lines (red outliers) would mix with the attribution's red
    ex = wb.explainer
    assert not ex.show_box.isEnabled()
    for lay in window.scene.layers:
        window.set_layer_visible(lay.uid, lay.name in ("registration: source",))
    window.view3d.reset_camera()
    before = window.view3d.screenshot(str(tmp_path / "before.png"))
    orange0 = _count(before, ORANGE)
    assert orange0 > 1000

    ex.cell_spin.setValue(1.0)
    ex.explain_btn.click()  # the button, as a user would
    wait_job(qtbot, ex.handle, timeout=120000)
    assert ex.explanation is not None and ex.show_box.isChecked()
    img = window.view3d.screenshot(str(tmp_path / "explained.png"))
    red = int(_reddish(img).sum())
    assert _count(img, ORANGE) < 0.05 * orange0, "source still flat orange"
    assert red > 300, red
    # red pixels sit where the high-score keypoints project: the layer's colours are the explanation's
    s = ex.scores
    cols = wb.src_layer.attributes["rgb"]
    top = cols[np.argmax(s)].astype(int)
    assert top[0] > 90 and top[0] > 2 * max(top[1], top[2])  # strongest point is (dark) red
    neutral = cols[s == 0]
    assert len(neutral) and (neutral.min(1) > 200).all()  # zero effect = the map's near-white centre

    # inspector: a picked keypoint's score and its cell's effect
    i = int(np.argmax(s))
    window.view3d.picked.emit({"layer": wb.src_layer.uid, "point_id": i, "cell_id": i, "actor": None,
                               "position": tuple(wb.src_layer.points[i])})
    info = window.inspector.info
    assert "score (support lost with its cell)" in info and "cell score (support lost)" in info
    assert "pose change without cell" in info and float(info["score (support lost with its cell)"]) > 0

    # toggle back to normal colours
    ex.show_box.setChecked(False)
    img2 = window.view3d.screenshot(str(tmp_path / "toggled.png"))
    assert _count(img2, ORANGE) > 0.8 * orange0 and _reddish(img2).sum() < 0.2 * red


class _BoxModel(torch.nn.Module):
    def forward(self, x):  # 1×N×3 → 1×2: class 1 counts the points inside [0.5, 1.5]³
        w = (torch.sigmoid(30 * (x - 0.5)) * torch.sigmoid(30 * (1.5 - x))).prod(-1)
        return torch.stack([x[..., 0].sum(1) * 0, (w * x.square().sum(-1)).sum(1)], 1)


def test_explain_point_cloud_model_menu_path(window, qtbot, tmp_path):
    from scenelens.engine.scene import AttributionMap, PointCloud

    rng = np.random.default_rng(0)
    far = rng.uniform(-2, 2, (3000, 3))
    far = far[~(far > 0.3).all(1)]
    box = rng.uniform(0.6, 1.4, (400, 3))
    layer = PointCloud(name="scan", points=np.concatenate([far, box]),
                       attributes={"rgb": np.full((len(far) + 400, 3), 90, np.uint8)})
    window.add_layer(layer)
    model = tmp_path / "box_model.pt"
    torch.jit.script(_BoxModel()).save(str(model))
    pb = _bench(window, "PointCloudAttributionWorkbench")
    menu_texts = [a.text() for a in window.menu("Attribution").actions()]
    assert "Explain point-cloud model…" in menu_texts
    assert pb.current_cloud() is layer
    wait_job(qtbot, pb.explain(layer, str(model), 1, method="ig", steps=64))
    am = pb.last_map
    assert isinstance(am, AttributionMap) and am.on_layer == layer.uid and window.scene.get(am.uid) is am
    assert np.abs(am.scores[-400:]).sum() / np.abs(am.scores).sum() > 0.99
    window.view3d.reset_camera()
    img = window.view3d.screenshot(str(tmp_path / "model_attr.png"))
    red = _reddish(img)
    assert red.sum() > 200
    # red only where the box projects: its bounding box in the image is small
    ys, xs = np.nonzero(red)
    assert (ys.max() - ys.min()) < 0.6 * img.shape[0] and (xs.max() - xs.min()) < 0.6 * img.shape[1]
