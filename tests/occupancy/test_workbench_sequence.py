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


def test_gui_build_densified_says_which_densification_ran(qtbot, window, tmp_path):
    """Occupancy ▸ Build densified ground truth…: SurroundOcc's Poisson when Open3D imports (else the closing
    stand-in, as a warning); the log line names the method and the voxel counts."""
    from scenelens.engine.occupancy.densify import open3d_version
    from tests.occupancy.test_densify import ground_coverage, write_sequence

    own = write_sequence(tmp_path / "own")
    wb = wb_of(window)
    wait_job(qtbot, wb.build_from_sequence(str(own), densify=True), timeout=300_000)
    g = wb.grid
    d = g.meta["densify"]
    method = "poisson" if open3d_version() else "closing"
    assert d["method"] == method
    lines = [m for lvl, m in window.log_panel.entries if "densified by" in m]
    assert lines and f"densified by {method}" in lines[-1] and f"{d['voxels_after']:,} voxels" in lines[-1]
    if method == "poisson":
        from scenelens.engine.occupancy.grids import preset

        assert ground_coverage(g, preset("surroundocc")) > 0.93
