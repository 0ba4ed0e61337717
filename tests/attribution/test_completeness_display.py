"""Completeness by construction (IG / PoseIG steps double to a tolerance, the gap is shown, the cap warns)
and readable maps (captum's clipping, signed diverging maps, colour bars, a report with axes)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scenelens.engine.attribution import ig
from scenelens.engine.attribution import poseig as P
from scenelens.engine.attribution.pipeline import AttributionOptions, export_all, run_attribution

ROOT = Path(__file__).resolve().parents[2]


def _photos(coco_dir):
    import skimage.data

    return {"cat": skimage.data.chelsea(), "coffee": skimage.data.coffee(),
            "skier (COCO 785)": str(coco_dir / "000000000785.jpg")}


def test_ig_completeness_within_1_percent_by_default_on_three_photos(coco_dir, classifier):
    for name, img in _photos(coco_dir).items():
        res = run_attribution(img, "ig", None, None, AttributionOptions(faithfulness=False))
        m = res.metrics
        assert m["tolerance"] == 0.01 and m["converged"], (name, m["steps_tried"])
        assert m["relative_error"] <= 0.01, (name, m["steps_tried"])
        assert m["steps_tried"][0][0] == 64 and "warnings" not in m


def test_ig_cap_warns_and_fixed_steps_do_not_adapt(cat_image, classifier):
    res = run_attribution(cat_image, "ig", 285, None, AttributionOptions(steps=2, max_steps=4, faithfulness=False))
    m = res.metrics
    assert [s for s, _ in m["steps_tried"]] == [2, 4] and m["converged"] is False
    assert m["relative_error"] > 0.01 and "step cap" in m["warnings"][0]
    fixed = run_attribution(cat_image, "ig", 285, None, AttributionOptions(steps=3, tol=None, faithfulness=False))
    assert fixed.metrics["steps_tried"] == [(3, pytest.approx(fixed.metrics["relative_error"]))]


def test_nested_trapezoid_reuses_points_and_equals_the_direct_rule():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.rand(1, 3, 12, 12)
    calls = []

    def fwd(b):
        calls.append(len(b))
        return net(b)
    r = ig.integrated_gradients(fwd, x, 1, steps=5, method="trapezoid", tol=0.0, max_steps=17, batch_size=64)
    assert [s for s, _ in r.tried] == [5, 9, 17] and r.steps == 17
    assert sum(calls) == 2 + 17  # f(x), f(x′) once, then every path point exactly once
    direct = ig.integrated_gradients(net, x, 1, steps=17, method="riemann_trapezoid", batch_size=64)
    np.testing.assert_allclose(r.attributions, direct.attributions * 17 / 16, rtol=1e-5, atol=1e-7)


def test_no_output_change_gives_no_gap_instead_of_inf():
    x = torch.rand(1, 3, 8, 8)
    r = ig.integrated_gradients(lambda b: torch.zeros(len(b), 2) + 0 * b.sum((1, 2, 3))[:, None], x, 0, steps=4,
                                tol=0.01)
    assert r.output_difference == 0 and np.isnan(r.relative_error) and r.converged and len(r.tried) == 1
    assert ig.format_gap(r.relative_error).startswith("n/a") and "inf" not in ig.format_gap(r.relative_error)
    assert ig.format_gap(0.0123) == "1.23 %"


def test_poseig_doubles_the_fold_until_complete():
    torch.manual_seed(0)
    w = torch.randn(2, 3, 24, 24)
    x = torch.rand(1, 3, 24, 24)

    def target(b):  # two smooth "joint likelihoods" of the image
        return torch.sigmoid((b[:, None] * w[None]).sum((2, 3, 4)) / 10)

    r = P.poseig(target, x, ["a", "b"], fold=2, batch_size=8, tol=0.01, max_fold=256)
    assert r.converged and r.max_relative_gap <= 0.01 and r.fold > 2
    assert [f for f, _ in r.tried] == [2 ** k for k in range(1, len(r.tried) + 1)]
    # Σ IG / fold = t(x) − t(x_0) is what the gap measures
    np.testing.assert_allclose(r.raw.reshape(2, -1).sum(1) / r.fold - (r.targets - r.targets_start), r.gaps, atol=1e-6)
    capped = P.poseig(target, x, ["a", "b"], fold=1, batch_size=8, tol=1e-6, max_fold=2)
    assert not capped.converged and [f for f, _ in capped.tried] == [1, 2]


def test_display_clipping_equals_captum_and_signed_maps_diverge():
    from captum.attr._utils.visualization import _normalize_attr

    from scenelens.engine.attribution.common import colorbar, colorize, normalize_map

    m = np.random.default_rng(0).standard_t(2, size=(40, 50))
    np.testing.assert_allclose(normalize_map(m, True), _normalize_attr(m, "all", 2), atol=1e-6)
    np.testing.assert_allclose(normalize_map(m, False), _normalize_attr(m, "absolute_value", 2), atol=1e-6)
    # one spike no longer hides the rest of the map
    spike = np.full((100, 100), 1.0)
    spike[0, 0] = 50.0  # 0.5 % of the mass
    assert (normalize_map(spike, False, 0.0) > 0.5).mean() < 0.01 and (normalize_map(spike, False) > 0.5).mean() > 0.9
    c = colorize(np.array([[-1.0, 0.0, 1.0]]), "jet", True)[0]
    assert c[0, 2] > c[0, 0] and c[2, 0] > c[2, 2] and abs(int(c[1, 0]) - int(c[1, 2])) < 20  # blue, white, red
    bar = colorbar("jet", True, 0.5)
    assert bar.shape[2] == 3 and (bar[5, 10, 2] > bar[5, 10, 0]) and (bar[5, -10, 0] > bar[5, -10, 2])


def test_export_and_report_carry_scale_axes_and_gap(cat_image, classifier, tmp_path):
    import cv2

    res = run_attribution(cat_image, "occlusion", 285, None,
                          AttributionOptions(window=56, stride=56, curve_step=224 * 56))
    files = export_all(res, tmp_path)
    assert res.signed and (res.map < 0).any() and (res.map > 0).any()
    m = json.loads(Path(files["metrics"]).read_text())
    assert m["display"]["signed"] and m["display"]["scale"] > 0
    assert cv2.imread(files["colorbar"]).shape[1] >= 300
    html = Path(files["report"]).read_text()
    assert "fraction of pixels deleted / inserted" in html and "score of the target" in html
    assert "colour scale" in html


def test_cli_prints_the_gap_and_warns_at_the_cap(tmp_path):
    import cv2
    import skimage.data

    img = tmp_path / "cat.png"
    cv2.imwrite(str(img), cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "attribution", str(img), "--method", "ig",
                        "--steps", "2", "--max-steps", "4", "--no-faithfulness", "--out", str(tmp_path / "o")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "completeness gap" in r.stdout and "at 4 steps (tolerance 1.00 %)" in r.stdout, r.stdout
    assert "warning: completeness gap" in r.stderr and "step cap" in r.stderr
    html = (tmp_path / "o" / "report.html").read_text()
    assert "ABOVE TOLERANCE" in html
