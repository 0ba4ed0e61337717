"""Voxel attribution on the demo scene with the built-in CamVox model, checked against facts computed here:
projections done independently, IG completeness, the receptive field, occlusion of image regions, captum,
and a user's voxel model."""
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CAR = (51, 79, 4)       # car voxel, seen by CAM_BACK only
TWO = (104, 113, 3)     # seen by CAM_FRONT_LEFT and CAM_BACK_LEFT (overlap of two cameras)


@pytest.fixture(scope="module")
def scene():
    import scenelens.engine.io as eio

    return eio.load(ROOT / "assets" / "demo" / "scene.json")


@pytest.fixture(scope="module")
def inputs(scene, torch_threads):
    from scenelens.engine.attribution.camvox import inputs_from_scene

    return inputs_from_scene(scene)


@pytest.fixture(scope="module")
def model(torch_threads):
    from scenelens.engine.attribution.camvox import load_camvox

    return load_camvox()


@pytest.fixture(scope="module")
def car(inputs, model):
    from scenelens.engine.attribution.voxel_explain import VoxelExplainOptions, explain_camvox

    return explain_camvox(inputs, CAR, VoxelExplainOptions(image_steps=64, batch_size=8), model)


@pytest.fixture(scope="module")
def two(inputs, model):
    from scenelens.engine.attribution.voxel_explain import VoxelExplainOptions, explain_camvox

    return explain_camvox(inputs, TWO, VoxelExplainOptions(image_steps=24, batch_size=8, occ_method="gxi"), model)


def project(p, cam):
    """Independent pinhole projection: frame → camera (inverse of cam_to_frame) → K."""
    R, t = cam.cam_to_frame[:3, :3], cam.cam_to_frame[:3, 3]
    pc = R.T @ (p - t)
    if pc[2] <= 0.1:
        return None
    u, v = (cam.K @ pc)[:2] / pc[2]
    h, w = cam.image.shape[:2]
    return (u, v) if 0 <= u < w and 0 <= v < h else None


@pytest.mark.parametrize("which", ["car", "two"])
def test_image_maps_zero_off_camera_and_concentrated_at_projection(which, car, two, inputs):
    res = {"car": car, "two": two}[which]
    centre = inputs.grid.centers(np.array([res.voxel]))[0]
    seen = 0
    for cam in inputs.rig.cameras:
        m = res.camera_maps[cam.name]
        uv = project(centre, cam)
        assert res.camera_visible[cam.name] == (uv is not None)
        if uv is None:
            assert not np.any(m), f"{cam.name} does not see the voxel but has attributions"
            continue
        seen += 1
        a = np.abs(m)
        assert a.sum() > 0
        yy, xx = np.mgrid[: m.shape[0], : m.shape[1]]
        near = np.hypot(xx - uv[0], yy - uv[1]) < 80
        assert near.mean() < 0.07
        assert a[near].sum() / a.sum() > 0.9, f"{cam.name}: mass not at the voxel's projection"
        # the strongest pixel is close to the projection too
        py, px = np.unravel_index(np.argmax(a), a.shape)
        assert np.hypot(px - uv[0], py - uv[1]) < 60
    assert seen == {"car": 1, "two": 2}[which]


def test_ig_completeness_and_prediction(car):
    m_img, m_occ = car.metrics["image"], car.metrics["occupancy"]
    assert car.predicted_name == "car" and car.probabilities["car"] > 0.5
    assert abs(m_img["output_difference"]) > 1.0
    assert m_img["relative_error"] < 0.03, m_img
    assert m_occ["relative_error"] < 0.03, m_occ
    total = sum(m.sum() for m in car.camera_maps.values())
    assert total == pytest.approx(m_img["output_difference"], rel=0.03)
    assert car.voxel_map.sum() == pytest.approx(m_occ["output_difference"], rel=0.03)


def test_voxel_map_within_receptive_field_on_occupied_voxels(car, two, inputs):
    from scenelens.engine.attribution.camvox import RF

    for res in (car, two):
        nz = np.argwhere(res.voxel_map != 0)
        assert len(nz) >= 5
        assert np.abs(nz - np.array(res.voxel)).max() <= RF
        assert np.all(inputs.occ[tuple(nz.T)] > 0)  # empty voxels have no attribution (x − x′ = 0)
        assert res.voxel_map.shape == inputs.grid.shape


def test_occupancy_ig_matches_captum(inputs, model):
    """ig.py's loop against captum's IntegratedGradients on the same occupancy function."""
    import torch

    from scenelens.engine.attribution.camvox import make_query
    from scenelens.engine.attribution.ig import captum_ig, integrated_gradients

    q = make_query(inputs.grid, np.array([CAR]), inputs.rig.cameras)
    with torch.no_grad():
        raw = model.sample_raw(model.raw_image_maps(inputs.image_tensor()), q)

    def f(pts):
        return model.classify(raw.expand(len(pts), -1, -1), model.occ_context(pts, q), q)[:, 0, :]

    occ = inputs.occ_tensor()
    ours = integrated_gradients(f, occ, 2, "black", 32)
    ref = captum_ig(f, occ, 2, "black", 32)
    np.testing.assert_allclose(ours.attributions, ref.attributions, atol=1e-5)


def test_occluding_far_pixels_changes_nothing_near_pixels_change_the_logit(inputs, model, car):
    """Locality checked without attributions: black out a disk far from the projection → same logit;
    at the projection → a different logit."""
    import torch

    from scenelens.engine.attribution.camvox import make_query

    q = make_query(inputs.grid, np.array([CAR]), inputs.rig.cameras)
    ci = [c.name for c in inputs.rig.cameras].index("CAM_BACK")
    u, v = car.camera_uv["CAM_BACK"]
    yy, xx = np.mgrid[:450, :800]
    occ = inputs.occ_tensor()

    def logit(mask):
        x = inputs.image_tensor().clone()
        x[0, ci, :, torch.as_tensor(mask)] = 0.0
        with torch.no_grad():
            return float(model.logits(x, occ, q)[0, 0, 2])

    base = logit(np.zeros((450, 800), bool))
    far = logit(np.hypot(xx - (u + 300), yy - v) < 40)
    near = logit(np.hypot(xx - u, yy - v) < 40)
    assert far == pytest.approx(base, abs=1e-4)
    assert abs(near - base) > 0.5


def test_layers_and_job_progress_cancel(scene, inputs):
    from scenelens.engine.attribution.voxel_explain import VoxelExplainOptions, make_voxel_job
    from scenelens.engine.errors import InputError, JobCancelled
    from scenelens.engine.jobs import JobContext, run_sync

    seen = []
    res, ctx = run_sync(make_voxel_job(scene, "51,79,4", VoxelExplainOptions(image_steps=4, occ_steps=8, tol=None)),
                        lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 4
    assert {"inputs", "predict", "IG images", "IG occupancy"} <= set(ctx.stage_times)
    vox, *cams = res.layers
    assert vox.scores.shape == inputs.grid.shape and vox.on_layer == res.grid.uid
    assert vox.target == {"voxel": [51, 79, 4], "class": "car", "class_index": 2}
    assert len(cams) == 6 and all(c.on_layer == scene.of_type(type(inputs.rig))[0].uid for c in cams)
    assert [c.meta["camera"] for c in cams if c.meta["visible"]] == ["CAM_BACK"]
    # metric coordinates pick the voxel holding the point
    c = inputs.grid.centers(np.array([CAR]))[0]
    from scenelens.engine.attribution.voxel_explain import parse_voxel

    assert parse_voxel(f"m:{c[0]},{c[1]},{c[2]}", inputs.grid) == CAR
    with pytest.raises(InputError):
        parse_voxel("500,1,1", inputs.grid)
    ctx = JobContext()
    ctx.cancel()
    with pytest.raises(JobCancelled):
        make_voxel_job(scene, CAR).run(ctx)


def test_model_file_and_accuracy_on_its_scene(inputs, model):
    from scenelens.engine.attribution.camvox import WEIGHTS
    from scenelens.engine.attribution.voxel_explain import predict_grid

    assert WEIGHTS.stat().st_size < 2 * 1024 * 1024
    import torch

    ck = torch.load(WEIGHTS, weights_only=True)
    assert ck["metrics"]["held_out"]["accuracy"] > 0.9
    g = predict_grid(inputs, model)
    occ = inputs.occ > 0
    assert np.array_equal(g.labels != 17, occ)
    gt = inputs.grid.labels[occ]
    pred = g.labels[occ]
    gt_model = np.where(gt == 255, 0, gt)  # not annotated → background (shown as 'others' = 0)
    assert (pred == gt_model).mean() > 0.95
    car = gt == 4
    assert (pred[car] == 4).mean() > 0.8


def test_user_voxel_model(tmp_path, scene, inputs):
    """A user's torch.save'd module (1×C×X×Y×Z → 1×K×X×Y×Z) explained through the same job."""
    import torch

    from scenelens.engine.attribution.voxel_explain import VoxelExplainOptions, make_voxel_job
    from scenelens.engine.jobs import run_sync

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv3d(2, 3, 1))
    path = tmp_path / "user_vox.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    res, _ = run_sync(make_voxel_job(scene, CAR, VoxelExplainOptions(occ_steps=16), model=str(path)))
    nz = np.argwhere(res.voxel_map != 0)
    assert len(nz) > 3 and np.abs(nz - np.array(CAR)).max() <= 1  # RF of one 3×3×3 conv
    m = res.metrics["occupancy"]
    assert m["relative_error"] < 0.01
    assert res.camera_names == [] and len(res.layers) == 1


def test_cli_voxel(tmp_path, capsys, torch_threads):
    """`run attribution SCENE --voxel` writes the per-camera maps + overlays, the voxel map and metrics."""
    import argparse
    import json

    import cv2

    from scenelens.engine.errors import InputError
    from scenelens.engine.tasks.attribution import TASK

    def cli(argv):
        p = argparse.ArgumentParser()
        p.add_argument("--device", default="cpu")
        p.add_argument("--model", default=None)
        TASK.add_run_args(p)
        return TASK.run_cli(p.parse_args(argv))

    scene = str(ROOT / "assets" / "demo" / "scene.json")
    out = tmp_path / "v"
    assert cli([scene, "--voxel", "51,79,4", "--steps", "4", "--occ-steps", "8", "--out", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["voxel"] == [51, 79, 4] and m["predicted"] == "car" and m["camera_visible"]["CAM_BACK"]
    for cam in ("front", "front_right", "front_left", "back", "back_left", "back_right"):
        mp = np.load(out / f"cam_{cam}_map.npy")
        assert mp.shape == (450, 800) and mp.dtype == np.float32
        assert (np.abs(mp).sum() > 0) == (cam == "back")
        assert cv2.imread(str(out / f"cam_{cam}_overlay.png")).shape == (450, 800, 3)
    vm = np.load(out / "voxel_map.npy")
    assert vm.shape == (200, 200, 16) and np.count_nonzero(vm) == m["voxel_map_nonzero"] > 0
    with pytest.raises(InputError, match="outside the grid"):
        cli([scene, "--voxel", "0,0,99", "--out", str(out)])
    with pytest.raises(InputError, match="--method"):
        cli([scene, "--out", str(out)])
