"""3D attribution in a real window: pick a LiDAR point, explain a voxel on the demo scene, check the pixels of
the 3D render (coloured attribution voxels) and of the camera grid (heatmap on the camera that sees it)."""
from pathlib import Path

import numpy as np

from tests.conftest import wait_job

ROOT = Path(__file__).resolve().parents[2]
CAR_VOXEL = (51, 79, 4)  # a voxel of the car behind-left of the ego vehicle (seen by CAM_BACK only)


def wb_of(window):
    return next(b for b in window.workbenches if type(b).__name__ == "Attribution3DWorkbench")


def saturated(img, sat=90):
    img = img.astype(np.int16)
    return (img.max(2) - img.min(2)) > sat


def test_pick_explain_paint_and_camera_grid(window, qtbot, tmp_path):
    import scenelens.engine.io as eio
    from scenelens.engine.scene import AttributionMap, PointCloud

    OUT = tmp_path  # screenshots land here for a look
    window.set_scene(eio.load(ROOT / "assets" / "demo" / "scene.json"))
    window.set_workspace("Attribution")  # picks reach the active workspace's tools only
    window.resize(1600, 1000)
    qtbot.wait(50)
    wb = wb_of(window)
    pc = window.scene.of_type(PointCloud)[0]
    # --- pick a real LiDAR point of the car in the 3D view → the workbench's voxel is the one holding it
    grid = wb.reference_grid()
    car = np.flatnonzero((pc.attributes["label"] == 4) & np.all(grid.index_of(pc.points) == CAR_VOXEL, axis=1))
    assert len(car)
    p = pc.points[car[0]]
    v3 = window.view3d
    cam = v3.renderer.GetActiveCamera()
    loc = v3.scene_renderer.to_local(grid.centers(np.array([CAR_VOXEL]))[0])
    cam.SetFocalPoint(*loc)
    cam.SetPosition(*(loc + np.array([-6.0, -9.0, 7.0])))
    cam.SetViewUp(0, 0, 1)
    v3.renderer.ResetCameraClippingRange()
    v3.render()
    x, y = v3.world_to_display(p)
    info = v3.pick_display(int(round(x)), int(round(y)))
    assert info is not None and info["layer"] == pc.uid
    assert wb.voxel == tuple(int(a) for a in grid.index_of(np.asarray(info["position"])))
    # --- explain the car voxel (few steps: the test checks the flow and the pictures, not convergence)
    # the pick marker (0.6 % of the cloud's extent, ~1 m on this scan) would cover the voxels drawn below
    v3.show_marker(p, visible=False)
    before = v3.screenshot(str(OUT / "before.png"))
    wb.steps.setValue(16)
    h = wb.explain(CAR_VOXEL)
    wait_job(qtbot, h, 120000)
    res = wb.result
    assert res is not None and res.voxel == CAR_VOXEL and res.predicted_name == "car"
    assert "car" in window.inspector.title.text() and window.inspector.info["predicted"] == "car"
    maps = [lay for lay in window.scene.layers if isinstance(lay, AttributionMap)]
    assert len(maps) == 7 and maps[0].on_layer == res.grid.uid
    # (i) the 3D view now shows saturated red/blue voxels around the picked one
    # (the camera dock grows when the result arrives, so the 3D view is compared with itself, layer hidden)
    after = v3.screenshot(str(OUT / "after.png"))
    window.set_layer_visible(wb.voxel_layer.uid, False)
    hidden = v3.screenshot()
    assert hidden.shape == after.shape
    changed = np.abs(after.astype(int) - hidden.astype(int)).max(2) > 40
    assert changed.sum() > 500, changed.sum()
    new_sat = saturated(after) & changed
    assert new_sat.sum() > 0.3 * changed.sum()
    # the red/blue colours are the diverging map's: both channels extremes present among the new pixels
    a = after[new_sat].astype(int)
    assert ((a[:, 0] - a[:, 2]) > 60).sum() > 50  # red (for the class)
    window.set_layer_visible(wb.voxel_layer.uid, True)
    # (ii) camera grid: CAM_BACK has the heat map around the projection, the others are dimmed
    qtbot.wait(100)
    grid_img = wb.camera_grid.grab_image()
    wb.camera_grid.graphics.grab().save(str(OUT / "cameras.png"))
    from scenelens.engine.attribution.common import save_png

    save_png(OUT / "cam_back_overlay.png", wb.camera_grid.tiles["CAM_BACK"]["rgb"])
    tiles = wb.camera_grid.tiles
    assert set(tiles) == set(res.camera_names)
    scale = grid_img.shape[1] / wb.camera_grid.graphics.width()

    def tile_pixels(name):
        r = tiles[name]["image"].sceneBoundingRect()  # where the image is drawn in the tile
        x0, y0 = int(r.left() * scale) + 2, int(r.top() * scale) + 2
        x1, y1 = int(r.right() * scale) - 2, int(r.bottom() * scale) - 2
        return grid_img[y0:y1, x0:x1]

    back = tile_pixels("CAM_BACK")
    front = tile_pixels("CAM_FRONT")
    assert back.size and front.size
    assert back.mean() > 1.8 * front.mean()  # the not-seeing camera is drawn dimmed
    assert saturated(back, 120).sum() > 20   # heat-map colours on the seeing camera
    assert not res.camera_visible["CAM_FRONT"] and "not visible" in tiles["CAM_FRONT"]["label"].text
    # the seeing camera gets the big tile (≥ 3× the area of any other), and one colour bar keys the colours
    area = {n: t["image"].sceneBoundingRect().width() * t["image"].sceneBoundingRect().height() for n, t in tiles.items()}
    assert tiles["CAM_BACK"]["big"] and all(area["CAM_BACK"] > 3 * a for n, a in area.items() if n != "CAM_BACK")
    assert tiles["CAM_BACK"]["image"].sceneBoundingRect().width() > 0.3 * wb.camera_grid.graphics.width()
    bar = wb.camera_grid.colorbar.pixmap().toImage()
    assert bar.width() >= 300 and wb.camera_grid.scale > 0
    left, right = bar.pixelColor(12, 10), bar.pixelColor(bar.width() - 12, 10)
    assert left.blue() - left.red() > 60 and right.red() - right.blue() > 60  # blue = against, red = for
    # (iii) pick an attribution voxel: the inspector gets its score
    d = maps[0]
    nz = np.argwhere(np.abs(d.scores) > 0.1 * np.abs(d.scores).max())
    from scenelens.gui.views.layers.attribution import voxel_score_info

    info = voxel_score_info(d, tuple(nz[0]))
    assert info["score"] == float(d.scores[tuple(nz[0])])


def test_builder_point_and_voxel_maps_threshold_and_colours():
    """The builder draws per-point maps at the cloud's points and hides near-zero scores; signed maps use
    the diverging colours (red > 0, blue < 0), absolute maps the sequential ones."""
    from vtk.util import numpy_support as ns

    from scenelens.engine.scene import AttributionMap, PointCloud
    from scenelens.gui.views.layers.attribution import build_attribution

    rng = np.random.default_rng(0)
    pc = PointCloud(name="pc", points=rng.normal(size=(100, 3)))
    s = np.zeros(100)
    s[:10] = np.linspace(1, 2, 10)
    s[10:15] = -1.5
    s[15:20] = 0.01  # below 2 % of max: hidden
    m = AttributionMap(name="pts", scores=s, on_layer=pc.uid, method="ig")
    (actor,) = build_attribution(m, {"on_layer": pc})
    assert actor._sl_shown == 15
    pd = actor.GetMapper().GetInput()
    xyz = ns.vtk_to_numpy(pd.GetPoints().GetData())
    cols = ns.vtk_to_numpy(pd.GetPointData().GetScalars()).astype(int)
    d = np.linalg.norm(pc.points[:15, None] - xyz[None], axis=2)
    assert len(xyz) == 15 and np.all(d.min(1) < 1e-5)  # drawn exactly at the 15 shown points
    red = cols[:, 0] - cols[:, 2] > 60
    blue = cols[:, 2] - cols[:, 0] > 60
    assert red.sum() == 10 and blue.sum() == 5
    # without geometry nothing is drawn (no guessing); with meta points it is
    assert build_attribution(AttributionMap(name="x", scores=s), {}) == []
    assert len(build_attribution(AttributionMap(name="x", scores=s, meta={"points": pc.points}), {})) == 1
    # a voxel map with absolute colours and the picked-voxel outline
    v = np.zeros((6, 6, 6))
    v[2, 2, 2], v[3, 2, 2] = 1.0, -0.5
    vm = AttributionMap(name="vox", scores=v, meta={"origin": (0, 0, 0), "voxel_size": (0.4, 0.4, 0.4),
                                                     "picked": [2, 2, 2]})
    actors = build_attribution(vm, {"absolute": True})
    assert len(actors) == 2 and actors[0]._sl_shown == 2
    info = actors[0]._sl_pick(0, 0, (0.4 * 3.5, 0.4 * 2.5, 0.4 * 3.0 - 1e-3))
    assert info["voxel (i, j, k)"] == "3, 2, 2" and info["score"] == -0.5
