"""Faithfulness metrics (engine/attribution/faithmetrics.py, faithfulness.py substrates and random floors).

Quantus agreement: the same seeded CNN, inputs, maps, perturbation settings and random draws go through Quantus
0.6.0's FaithfulnessCorrelation, RegionPerturbation (MoRF and LeRF) and MPRT and through ours; the numbers must
agree to float precision. Skipped only when quantus is not importable (it is installed with --no-deps by
scripts/setup.sh). The behaviour tests below need no Quantus and can fail: a map that points at the pixels
the model reads must beat its negation and the random floors, and a model-independent "explanation" must
fail the sanity check.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scenelens.engine.attribution import faithfulness as fa
from scenelens.engine.attribution import faithmetrics as fm


class SmallCNN(torch.nn.Module):
    def __init__(self, c: int = 3, k: int = 5):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(c, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, k)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        h = torch.nn.functional.adaptive_avg_pool2d(h, 4)
        return self.fc(h.flatten(1))


def _image(c=3, h=32, w=32, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + i) * np.cos(5 * yy - i) for i in range(c)])
    x = np.clip(0.5 + 0.35 * base + 0.1 * rng.standard_normal((c, h, w)), 0, 1).astype(np.float32)
    return torch.from_numpy(x)[None]


def _grad_x_input(model, x, t):
    xi = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xi)[:, t].sum(), xi)
    return (g * x).sum(1)[0].detach().numpy().astype(np.float64)  # H×W, signed, no ties


def _logit(model, t):
    def f(b):
        return model(b)[:, t]
    return f


# ------------------------------------------------------------------------------------------- Quantus agreement
quantus = None
try:  # quantus imports fine without its TensorFlow extras; any import failure means "not installed here"
    import quantus  # noqa: F811
except Exception:  # noqa: BLE001
    quantus = None
needs_quantus = pytest.mark.skipif(quantus is None, reason="quantus is not importable (pip install --no-deps quantus)")


def _model_and_input(c, h=32, w=32):
    model = SmallCNN(c).eval()
    x = _image(c, h, w)
    t = int(model(x).argmax(1))
    return model, x, t, _grad_x_input(model, x, t)


@needs_quantus
@pytest.mark.parametrize("c,unit", [(1, "pixel"), (3, "element")])
def test_faithfulness_correlation_matches_quantus(c, unit):
    model, x, t, a = _model_and_input(c)
    metric = quantus.FaithfulnessCorrelation(nr_runs=40, subset_size=60, perturb_baseline=0.0, abs=False,
                                             normalise=False, return_aggregate=False, disable_warnings=True)
    np.random.seed(7)
    q = metric(model=model, x_batch=x.numpy(), y_batch=np.array([t]), a_batch=a[None, None], device="cpu",
               softmax=False, channel_first=True)
    ours = fm.faithfulness_correlation(_logit(model, t), x, a, 60, 40, "zero", unit, np.random.RandomState(7))
    assert np.isfinite(ours.correlation)
    assert abs(ours.correlation - q[0]) < 1e-5, (ours.correlation, q)


@needs_quantus
def test_faithfulness_correlation_blur_substrate_matches_quantus():
    model, x, t, a = _model_and_input(1)
    blurred = fa.make_substrate(x, "blur").numpy().reshape(1, -1)

    def perturb(arr, indices, **_):
        out = arr.copy()
        out[np.arange(len(arr))[:, None], indices] = blurred[np.arange(len(arr))[:, None], indices]
        return out

    metric = quantus.FaithfulnessCorrelation(nr_runs=30, subset_size=80, perturb_func=perturb, abs=False,
                                             normalise=False, return_aggregate=False, disable_warnings=True)
    np.random.seed(3)
    q = metric(model=model, x_batch=x.numpy(), y_batch=np.array([t]), a_batch=a[None, None], device="cpu",
               softmax=False, channel_first=True)
    ours = fm.faithfulness_correlation(_logit(model, t), x, a, 80, 30, "blur", "pixel", np.random.RandomState(3))
    assert abs(ours.correlation - q[0]) < 1e-5, (ours.correlation, q)


@needs_quantus
@pytest.mark.parametrize("order", ["morf", "lerf"])
@pytest.mark.parametrize("size,patch", [(32, 4), (30, 4)])  # 30: Quantus pads the grid (1 px each side)
def test_region_perturbation_matches_quantus(order, size, patch):
    model, x, t, a = _model_and_input(3, size, size)
    metric = quantus.RegionPerturbation(patch_size=patch, order=order, regions_evaluation=25, perturb_baseline=0.0,
                                        abs=False, normalise=False, return_aggregate=False, disable_warnings=True)
    q = np.asarray(metric(model=model, x_batch=x.numpy(), y_batch=np.array([t]), a_batch=a[None, None],
                          device="cpu", softmax=False, channel_first=True))[0]
    ours = fm.region_perturbation(_logit(model, t), x, a, patch, order, 25, "zero")
    assert ours.drops.shape == q.shape == (25,)
    np.testing.assert_allclose(ours.drops, q, atol=1e-5, rtol=1e-5)
    assert ours.aopc == pytest.approx(q.sum() / 26)


@needs_quantus
def test_model_randomisation_matches_quantus():
    model, x, t, _ = _model_and_input(3)

    def explain_q(model, inputs, targets, **_):
        xs = torch.as_tensor(inputs)
        return np.stack([_grad_x_input(model, xs[i:i + 1], int(targets[i]))[None] for i in range(len(xs))])

    metric = quantus.MPRT(layer_order="top_down", seed=42, abs=True, normalise=False, return_aggregate=False,
                          disable_warnings=True)
    q = metric(model=model, x_batch=x.numpy(), y_batch=np.array([t]), a_batch=None, explain_func=explain_q,
               device="cpu", softmax=False, channel_first=True)
    ours = fm.model_randomisation(model, lambda m: _grad_x_input(m, x, t), order="top_down", seed=42)
    q_layers = {k: v[0] for k, v in q.items() if k != "original"}
    assert list(ours.similarity) == list(q_layers) == ["fc", "conv2", "conv1"]
    np.testing.assert_allclose(list(ours.similarity.values()), list(q_layers.values()), atol=1e-6)
    assert ours.last < 0.9  # randomising the whole network changes a gradient map


# ------------------------------------------------------------------------------------------- behaviour (no Quantus)
class RegionModel(torch.nn.Module):
    """Score = mean brightness of a known 8×8 region (top-left quadrant block), through a conv so the
    sanity check has layers to randomise."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1 / 3)

    def forward(self, x):
        return self.conv(x)[:, 0, 4:12, 4:12].mean((1, 2))[:, None]


def test_faithful_map_beats_its_negation_and_random_floors():
    model = RegionModel().eval()
    x = _image(3, 32, 32)
    good = np.zeros((32, 32))
    good[4:12, 4:12] = 1 + np.random.default_rng(0).random((8, 8))  # ties broken
    score = _logit(model, 0)
    fc = fm.faithfulness_correlation(score, x, good, 40, 50, "zero", "pixel", 0)
    fc_neg = fm.faithfulness_correlation(score, x, -good, 40, 50, "zero", "pixel", 0)
    assert fc.correlation > 0.9 and fc_neg.correlation < -0.9
    morf = fm.region_perturbation(score, x, good, 4, "morf", 20, "zero")
    lerf = fm.region_perturbation(score, x, good, 4, "lerf", 20, "zero")
    rnd = fm.region_perturbation(score, x, good, 4, "random", 20, "zero", seed=0)
    assert morf.aopc > rnd.aopc > lerf.aopc - 1e-9
    assert abs(lerf.aopc) < 1e-6  # removing the 20 least relevant regions never touches the read region
    for sub in ("blur", "mean", "zero", "rise"):
        f = fa.deletion_insertion(score, x, good, step=16, substrate=sub, cell=4)
        assert f.substrate == sub and f.cell == 4
        assert f.deletion.auc < f.deletion_random.auc and f.deletion.auc < f.extra["deletion_random_cells"].auc
        assert f.insertion.auc > f.insertion_random.auc
        m = f.metrics()
        assert {"deletion_auc_random_cells", "insertion_auc_random_cells", "random_cell"} <= set(m)


def test_substrates_are_what_they_say():
    x = _image(3, 16, 16)
    assert torch.equal(fa.make_substrate(x, "zero"), torch.zeros_like(x))
    mean = fa.make_substrate(x, "mean")
    assert torch.allclose(mean[0, :, 3, 5], x.mean((2, 3))[0])
    assert torch.allclose(fa.make_substrate(x, "rise", "insertion"), fa.make_substrate(x, "blur"))
    assert torch.equal(fa.make_substrate(x, "rise", "deletion"), torch.zeros_like(x))
    with pytest.raises(ValueError, match="substrate"):
        fa.make_substrate(x, "grey")


def test_cell_shuffle_keeps_values_and_granularity():
    rng = np.random.default_rng(0)
    m = np.kron(rng.random((4, 5)), np.ones((8, 8)))  # a 4×5 grid of 8-px cells
    sh = fa.cell_shuffled(m, 8, np.random.default_rng(1))
    assert sorted(sh.reshape(-1)) == sorted(m.reshape(-1))
    assert not np.array_equal(sh, m)
    blocks = sh.reshape(4, 8, 5, 8)
    assert np.allclose(blocks, blocks[:, :1, :, :1])  # still constant inside each 8 × 8 cell
    lo = rng.random((7, 7))
    up = fa.cell_shuffled(np.zeros((224, 224)), 32, np.random.default_rng(2), lowres=lo)
    assert up.shape == (224, 224)
    assert np.isclose(np.sort(up.reshape(-1))[-1], lo.max(), atol=0.05)  # upsampled permuted grid, same range


def test_sanity_check_flags_a_model_independent_map():
    model = SmallCNN(3).eval()
    x = _image(3)
    t = int(model(x).argmax(1))
    edge = np.abs(np.diff(x[0].sum(0).numpy(), axis=1, prepend=0))  # an "explanation" that ignores the model
    r = fm.model_randomisation(model, lambda m: edge, order="top_down", seed=42, checkpoints=[1, 3])
    assert r.last == pytest.approx(1.0) and list(r.depth.values()) == [1, 3]
    g = fm.model_randomisation(model, lambda m: _grad_x_input(m, x, t), order="independent", seed=42)
    assert len(g.similarity) == 3 and g.last < 0.9
    assert fm.log_checkpoints(100, 6)[0] == 1 and fm.log_checkpoints(100, 6)[-1] == 100
    assert fm.log_checkpoints(3, 6) == [1, 2, 3]
    with pytest.raises(ValueError, match="order"):
        fm.model_randomisation(model, lambda m: edge, order="sideways")


def test_bad_parameters_are_clear():
    model, x, t, a = SmallCNN(3).eval(), _image(3), 0, np.ones((32, 32))
    with pytest.raises(ValueError, match="subset size"):
        fm.faithfulness_correlation(_logit(model, t), x, a, 32 * 32, 5)
    with pytest.raises(ValueError, match="does not match"):
        fm.region_perturbation(_logit(model, t), x, np.ones((8, 8)))
    with pytest.raises(ValueError, match="order"):
        fm.region_perturbation(_logit(model, t), x, a, order="best")


def test_report_shows_the_metrics_with_axes():
    from scenelens.engine.attribution.pipeline import AttributionResult
    from scenelens.engine.attribution.report import html_report

    model = RegionModel().eval()
    x = _image(3, 32, 32)
    good = np.zeros((32, 32))
    good[4:12, 4:12] = 1 + np.random.default_rng(0).random((8, 8))
    score = _logit(model, 0)
    rc = {o: fm.region_perturbation(score, x, good, 4, o, 10, "zero").to_dict() for o in ("morf", "lerf")}
    f = fa.deletion_insertion(score, x, good, step=64, cell=4)
    m = {**f.metrics(), "aopc_morf": rc["morf"]["aopc"], "aopc_lerf": rc["lerf"]["aopc"], "region_perturbation": rc,
         "sanity_last": 0.93, "sanity": {"order": "top_down", "n_layers": 1, "similarity": {"conv": 0.93},
                                         "depth": {"conv": 1}}}
    img = (x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    res = AttributionResult(img, good.astype(np.float32), "ig", 0, "region", "toy", True, m, curves=f.curves())
    page = html_report(res)
    assert "<h2>Faithfulness</h2>" in page and page.count("<svg") == 3  # curves, region perturbation, sanity
    assert "regions removed" in page and "Spearman" in page and "random cells" not in page
    assert "deletion_random_cells AUC" in page
    assert 'style="background:#fdd"><th>sanity' in page  # ρ 0.93 after randomisation: flagged
