"""The in-view gizmo: the box is drawn around the source, a drag previews the move, a release is one undoable
manual pose edit, and undo puts both the pose and the box back."""
import numpy as np
import pytest
import vtk

from tests.conftest import wait_job

from .test_gui import _bench

SRC = (255, 140, 0)


def _yellow(img) -> int:
    """Pixels of the amber gizmo outline (renderer lighting brightens it towards yellow): red and green high,
    blue low — unlike the orange source (G 140), the blue target and the red/green correspondence lines."""
    i = img.astype(int)
    return int(((i[..., 0] > 200) & (i[..., 1] > 185) & (i[..., 2] < 170) & (i[..., 0] - i[..., 2] > 80)).sum())


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_gizmo_moves_source_with_undo(window, qtbot, shared_data, tmp_path):
    if window.view3d.interactor is None:
        pytest.skip("offscreen view: no interactor for widgets")
    d = shared_data / "3dmatch_pair"
    wb = _bench(window)
    wait_job(qtbot, wb.open_pair(str(d / "src.npy"), str(d / "ref.npy")))
    wait_job(qtbot, wb.run(), timeout=120000)
    for lay in window.scene.layers:
        window.set_layer_visible(lay.uid, lay.name.startswith("registration: "))
    window.view3d.reset_camera("top")
    img0 = window.view3d.screenshot(str(tmp_path / "before.png"))
    assert _yellow(img0) < 20

    wb.gizmo_box.setChecked(True)
    assert wb.gizmo.enabled
    img1 = window.view3d.screenshot(str(tmp_path / "gizmo.png"))
    assert _yellow(img1) > 200  # the box outline is drawn
    T_before = wb.current_T().copy()
    src0 = _centroid(np.abs(img1.astype(int) - SRC).max(2) < 40)

    # a drag of 1.5 m along x, as the widget reports it
    t = vtk.vtkTransform()
    t.Translate(1.5, 0.0, 0.0)
    wb.gizmo.rep.SetTransform(t)
    wb.gizmo._moving()
    img2 = window.view3d.screenshot(str(tmp_path / "dragging.png"))
    src1 = _centroid(np.abs(img2.astype(int) - SRC).max(2) < 40)
    assert np.linalg.norm(src1 - src0) > 20  # the preview moved the orange cloud on screen
    assert wb.stage == "refined"  # nothing committed while dragging

    wb.gizmo._released()
    assert wb.stage == "manual"
    expect = np.eye(4)
    expect[0, 3] = 1.5
    np.testing.assert_allclose(wb.T_manual, expect @ T_before, atol=1e-9)
    D = wb.gizmo.delta()
    np.testing.assert_allclose(D, np.eye(4), atol=1e-9)  # the box was re-placed at the new pose
    assert window.undo_stack.undoText() == "move with gizmo"

    window.undo_stack.undo()
    np.testing.assert_allclose(wb.current_T(), T_before, atol=1e-12)
    img3 = window.view3d.screenshot(str(tmp_path / "undone.png"))
    src3 = _centroid(np.abs(img3.astype(int) - SRC).max(2) < 40)
    assert np.linalg.norm(src3 - src0) < 3

    # the box follows the pose: placed around the source keypoints in the current pose
    b = wb.gizmo.rep.GetBounds()
    pts = wb._source_points() @ T_before[:3, :3].T + T_before[:3, 3]
    np.testing.assert_allclose([b[0], b[2], b[4]], pts.min(0), atol=1e-6)

    wb.gizmo_box.setChecked(False)
    assert not wb.gizmo.enabled
    assert _yellow(window.view3d.screenshot()) < 20
