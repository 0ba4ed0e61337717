"""Occupancy ▸ Build ground truth from sequence… in a real window (needs a display)."""
from __future__ import annotations

from tests.conftest import wait_job
from tests.occupancy.occ_helpers import wb_of
from tests.occupancy.test_sequence_gt import write_surroundocc_layout


def test_gui_build_from_sequence(qtbot, window, tmp_path):
    """Occupancy ▸ Build ground truth from sequence…: a job that adds the grid and logs data warnings."""
    own = write_surroundocc_layout(tmp_path / "own")
    wb = wb_of(window)
    wait_job(qtbot, wb.build_from_sequence(str(own)))
    g = wb.grid
    assert g is not None and g in window.scene.layers and g.meta["layout"] == "surroundocc"
    assert (g.labels == 4).sum() > 10 and "mask_lidar" in g.masks and g.frame == "lidar"
