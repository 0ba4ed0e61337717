"""Display level of detail for big clouds: at most the budget is drawn, the count is on screen, picks are exact."""
from __future__ import annotations

import numpy as np

from scenelens.engine.scene import PointCloud


def test_big_cloud_is_decimated_for_display_with_the_count_shown(monkeypatch):
    from scenelens.gui.views.layers.points import build_points

    monkeypatch.setenv("SCENELENS_MAX_DISPLAY_POINTS", "1000")
    pts = np.random.default_rng(0).normal(size=(5000, 3))
    layer = PointCloud(name="big", points=pts, attributes={"intensity": np.arange(5000, dtype=np.float32)})
    actors = build_points(layer, {})
    pts_actor, label = actors
    shown, total = pts_actor._sl_display
    assert total == 5000 and 900 <= shown <= 1000
    assert pts_actor.GetMapper().GetInput().GetNumberOfPoints() == shown
    assert "1,000 of 5,000 points shown" in label.GetInput()
    info = pts_actor._sl_pick(-1, 7, None)  # the 8th drawn point is original point 7 × stride
    assert info["point"] == 7 * 5 and info["intensity"] == "35.000"
    small = build_points(PointCloud(name="s", points=pts[:500]), {})
    assert len(small) == 1 and small[0]._sl_display == (500, 500)


def test_hidden_classes_are_left_out_of_the_shown_and_total_counts(monkeypatch):
    from scenelens.gui.views.layers.points import build_points

    monkeypatch.setenv("SCENELENS_MAX_DISPLAY_POINTS", "1000")
    lab = np.repeat(np.array([1, 2], np.uint8), 2500)
    layer = PointCloud(name="lab", points=np.random.default_rng(1).normal(size=(5000, 3)),
                       attributes={"label": lab}, label_set="occ3d")
    pts_actor, label = build_points(layer, {"hidden_classes": {1}})
    shown, total = pts_actor._sl_display
    assert total == 2500 and 450 <= shown <= 500
    assert "of 2,500 points shown" in label.GetInput()
    assert pts_actor._sl_pick(-1, 0, None)["class"].startswith("2 ")


def test_display_subset_of_a_count_is_the_stride_without_an_index_array():
    from scenelens.gui.views.layers.points import display_subset

    for n, budget in ((10, 100), (5000, 1000), (5001, 1000), (10_000_000, 150_000)):
        want = display_subset(np.arange(n), budget)
        got = display_subset(n, budget)
        np.testing.assert_array_equal(got, want)
        assert len(got) <= budget


def test_view_centre_and_framing_of_a_big_cloud_come_from_a_sample():
    import vtk

    from scenelens.gui.views.scene_renderer import STAT_SAMPLE, SceneRenderer

    rng = np.random.default_rng(2)
    pts = rng.normal(size=(2_000_000, 3)) * (40, 20, 2) + (1000, -500, 10)
    pts[rng.integers(0, len(pts), 2000)] = (9e5, 9e5, 9e5)  # far returns must not decide the framing
    sr = SceneRenderer(vtk.vtkRenderer())
    sr.add_layer(PointCloud(name="big", points=pts))
    np.testing.assert_allclose(sr.origin, np.round(np.median(pts, 0)), atol=1.0)
    lo, hi = sr.focus_bounds()
    full_lo, full_hi = np.percentile(pts, [2, 98], axis=0)
    span = full_hi - full_lo
    np.testing.assert_allclose(lo, full_lo - sr.origin, atol=0.02 * span.max())
    np.testing.assert_allclose(hi, full_hi - sr.origin, atol=0.02 * span.max())
    uid = next(iter(sr.layers))
    key, *_ = sr._framing[uid]
    assert key == (id(sr.layers[uid].points), len(pts))  # computed once per layer, reused by later framings
    assert STAT_SAMPLE < len(pts)


def test_rotation_draws_a_coarser_subset_and_the_still_frame_the_budget(monkeypatch):
    import vtk

    from scenelens.gui.views.layers.points import build_points
    from scenelens.gui.views.layers.voxels import set_interactive_lod

    monkeypatch.setenv("SCENELENS_MAX_DISPLAY_POINTS", "3000")
    monkeypatch.setenv("SCENELENS_INTERACTIVE_POINTS", "1000")
    layer = PointCloud(name="big", points=np.random.default_rng(4).normal(size=(30_000, 3)))
    pts_actor, _label = build_points(layer, {})
    still, coarse = pts_actor._sl_lod_data
    assert still.GetNumberOfPoints() == 3000 and 900 <= coarse.GetNumberOfPoints() <= 1000
    ren = vtk.vtkRenderer()
    ren.AddViewProp(pts_actor)
    assert set_interactive_lod(ren, True) == 1 and pts_actor.GetMapper().GetInput() is coarse
    assert set_interactive_lod(ren, False) == 1 and pts_actor.GetMapper().GetInput() is still
    assert pts_actor._sl_pick(-1, 5, None)["point"] == 5 * 10  # picks (on the still frame) map to the cloud
    small = build_points(PointCloud(name="s", points=layer.points[:800]), {})
    assert getattr(small[0], "_sl_lod_data", None) is None  # nothing to coarsen
