"""Display level of detail for big clouds: at most the budget is drawn, the count is on screen, picks are exact."""
from __future__ import annotations

import numpy as np

from engine.scene import PointCloud


def test_big_cloud_is_decimated_for_display_with_the_count_shown(monkeypatch):
    from gui.views.layers.points import build_points

    monkeypatch.setenv("SCENELENS_MAX_DISPLAY_POINTS", "1000")
    pts = np.random.default_rng(0).normal(size=(5000, 3))
    layer = PointCloud(name="big", points=pts, attributes={"intensity": np.arange(5000, dtype=np.float32)})
    actors = build_points(layer, {})
    pts_actor, label = actors
    shown, total = pts_actor._sl_display
    assert total == 5000 and shown <= 1000 and shown >= 900
    assert pts_actor.GetMapper().GetInput().GetNumberOfPoints() == shown
    assert "1,000 of 5,000 points shown" in label.GetInput()
    info = pts_actor._sl_pick(-1, 7, None)  # the 8th drawn point is original point 7 × stride
    assert info["point"] == 7 * 5 and info["intensity"] == "35.000"
    small = build_points(PointCloud(name="s", points=pts[:500]), {})
    assert len(small) == 1 and small[0]._sl_display == (500, 500)
