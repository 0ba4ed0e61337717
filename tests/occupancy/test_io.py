"""Readers and writers of occupancy formats on the real samples: detection, geometry, round trips, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import detect, load, load_layers
from scenelens.engine.scene import CameraRig, PointCloud, VoxelGrid

OCC = "occ3d_nuscenes_sample/labels.npz"
NUS = "nuscenes_sample/n015-2018-07-24-11-22-45+0800.pkl"


def test_occ3d_gt_sample(shared_data):
    g = load_layers(shared_data / OCC)[0]
    assert isinstance(g, VoxelGrid) and g.shape == (200, 200, 16)
    assert g.origin == (-40.0, -40.0, -1.0) and g.voxel_size == (0.4, 0.4, 0.4) and g.frame == "ego"
    assert g.label_set == "occ3d" and g.free_label == 17 and g.meta["role"] == "gt"
    # facts from the spec: free count, masks (camera ⊂ lidar), driveable surface at k = 0 only
    assert int((g.labels == 17).sum()) == 600_908
    assert int(g.masks["mask_camera"].sum()) == 43_355 and int(g.masks["mask_lidar"].sum()) == 56_601
    assert g.masks["mask_camera"].dtype == bool
    assert not (g.masks["mask_camera"] & ~g.masks["mask_lidar"]).any()
    assert set(np.nonzero(g.labels == 11)[2]) == {0}
    c = g.centers(np.array([[0, 0, 0], [199, 199, 15]]))
    assert np.allclose(c, [[-39.8, -39.8, -0.8], [39.8, 39.8, 5.2]])


def test_occ3d_roundtrip_and_prediction_forms(shared_data, tmp_path):
    from scenelens.engine.io.occ3d import write_occ3d

    g = load_layers(shared_data / OCC)[0]
    write_occ3d(tmp_path / "copy.npz", g)
    h = load_layers(tmp_path / "copy.npz")[0]
    assert np.array_equal(h.labels, g.labels)
    for k in ("mask_camera", "mask_lidar"):
        assert np.array_equal(h.masks[k], g.masks[k])
    # a submission file: one uint8 grid under an arbitrary key → prediction
    np.savez_compressed(tmp_path / "tok.npz", arr_0=g.labels)
    p = load_layers(tmp_path / "tok.npz")[0]
    assert p.meta["role"] == "prediction" and np.array_equal(p.labels, g.labels) and not p.masks
    # scores travel with the prediction
    np.savez(tmp_path / "s.npz", semantics=g.labels, scores=np.full(g.shape, 0.5, np.float32))
    assert float(load_layers(tmp_path / "s.npz")[0].scores.mean()) == 0.5


def test_occ3d_bad_files(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage" * 10)
    with pytest.raises(InputError, match="bad.npz"):
        load(tmp_path / "bad.npz")
    np.savez(tmp_path / "wrong.npz", semantics=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InputError, match="does not match"):
        load(tmp_path / "wrong.npz")
    # a custom grid is fine when its geometry is given explicitly
    g = load_layers(tmp_path / "wrong.npz", origin=[0, 0, 0], voxel_size=0.5)[0]
    assert g.shape == (10, 10, 3) and g.voxel_size == (0.5, 0.5, 0.5)


def test_occ3d_folder_is_a_sequence(shared_data, tmp_path):
    g = load_layers(shared_data / OCC)[0]
    for i in range(3):
        np.savez(tmp_path / f"f{i}.npz", semantics=g.labels, mask_camera=g.masks["mask_camera"].astype(np.uint8))
    s = load(tmp_path)
    assert s.meta["format"] == "occ3d-sequence" and len(s.meta["occ_frames"]) == 3


def test_semantickitti_pack_unpack_and_roundtrip(tmp_path):
    from scenelens.engine.io.semantickitti_voxels import pack, unpack, write_ssc

    bits = np.zeros(16, np.uint8)
    bits[0] = 1  # voxel 0 is bit 7 of byte 0 (MSB first)
    bits[9] = 1
    assert pack(bits).tolist() == [0x80, 0x40]
    rng = np.random.default_rng(1)
    b = rng.integers(0, 2, 256 * 256 * 32).astype(np.uint8)
    assert np.array_equal(unpack(pack(b)), b)
    # a full voxel file set with raw ids, including ids that map to 255 (52 other-structure) and moving ids
    raw = rng.choice(np.array([0, 10, 40, 44, 48, 50, 52, 70, 72, 252, 99], np.uint16), size=(256, 256, 32))
    stem = tmp_path / "voxels" / "000000"
    stem.parent.mkdir()
    raw.tofile(stem.with_suffix(".label"))
    pack(rng.integers(0, 2, raw.size)).tofile(stem.with_suffix(".invalid"))
    pack(rng.integers(0, 2, raw.size)).tofile(stem.with_suffix(".occluded"))
    pack(raw > 0).tofile(stem.with_suffix(".bin"))
    assert detect(stem.with_suffix(".bin")).name == "semantickitti-voxels"  # not a LiDAR scan
    g = load_layers(stem.with_suffix(".label"))[0]
    assert g.shape == (256, 256, 32) and g.origin == (0.0, -25.6, -2.0) and g.voxel_size == (0.2, 0.2, 0.2)
    assert set(np.unique(g.labels)) <= set(range(20)) | {255}
    assert (g.labels[raw == 52] == 255).all() and (g.labels[raw == 0] == 0).all() and (g.labels[raw == 252] == 1).all()
    out = tmp_path / "out" / "000000"
    write_ssc(out, g)
    for ext in (".label", ".invalid", ".occluded", ".bin"):
        assert out.with_suffix(ext).read_bytes() == stem.with_suffix(ext).read_bytes(), ext
    # an edited voxel is written with the canonical raw id of its new class
    g.labels[0, 0, 0] = 13
    write_ssc(out, g)
    assert np.fromfile(out.with_suffix(".label"), np.uint16)[0] == 50


def test_semantickitti_bad_size(tmp_path):
    p = tmp_path / "x.invalid"
    p.write_bytes(b"\0" * 1000)
    with pytest.raises(InputError, match="x.invalid"):
        load(p)


def test_surroundocc_list(tmp_path):
    a = np.array([[0, 0, 0, 4], [199, 199, 15, 16], [10, 20, 3, 0]], np.float32)
    np.save(tmp_path / "gt.npy", a)
    g = load_layers(tmp_path / "gt.npy")[0]
    assert g.meta["format"] == "surroundocc" and g.origin == (-50.0, -50.0, -5.0) and g.voxel_size == (0.5,) * 3
    assert g.labels[0, 0, 0] == 4 and g.labels[199, 199, 15] == 16 and g.labels[10, 20, 3] == 255
    assert int((g.labels == 17).sum()) == 200 * 200 * 16 - 3
    # an N×4 float point cloud is not mistaken for a voxel list
    np.save(tmp_path / "pts.npy", np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32))
    assert detect(tmp_path / "pts.npy").name != "surroundocc"


def test_nuscenes_info(shared_data):
    s = load(shared_data / NUS)
    rig = s.of_type(CameraRig)[0]
    assert [c.name for c in rig.cameras] == ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK",
                                             "CAM_BACK_LEFT", "CAM_BACK_RIGHT"]
    assert all(c.image is not None and c.image.shape == (900, 1600, 3) for c in rig.cameras)
    pc = s.of_type(PointCloud)[0]
    assert pc.n == 34_688 and pc.frame == "ego"
    assert s.meta["lidar2ego"].shape == (4, 4) and s.meta["ego2global"].shape == (4, 4) and len(s.meta["boxes"]) == 69
    # LiDAR points projected into CAM_FRONT land in the image, in front of the camera
    cam = rig.cameras[0]
    T = np.linalg.inv(cam.cam_to_frame)
    pc_cam = pc.points @ T[:3, :3].T + T[:3, 3]
    front = pc_cam[:, 2] > 1
    uv = pc_cam[front] @ cam.K.T
    uv = uv[:, :2] / uv[:, 2:]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < 1600) & (uv[:, 1] >= 0) & (uv[:, 1] < 900)
    assert inside.sum() > 2000
    # ground points (low z in ego frame) project into the lower half of the image
    low = (pc.points[front][inside][:, 2] < 0.3)
    assert np.median(uv[inside][low][:, 1]) > 450


def test_restricted_unpickler_refuses_code(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"data_list": [Evil()]}))
    with pytest.raises(InputError, match="not allowed"):
        load(p)


def test_manifest_overrides_grid_geometry(shared_data, tmp_path):
    import json
    import shutil

    shutil.copy(shared_data / OCC, tmp_path / "labels.npz")
    (tmp_path / "scene.json").write_text(json.dumps({
        "scenelens_scene": 1, "name": "custom occ", "frame": "ego",
        "layers": [{"path": "labels.npz", "name": "occ", "options": {"origin": [-20, -20, -2], "voxel_size": 0.2,
                                                                    "axis_order": "xyz"}}]}))
    s = load(tmp_path / "scene.json")
    g = s.get("occ")
    assert isinstance(g, VoxelGrid) and g.origin == (-20.0, -20.0, -2.0) and g.voxel_size == (0.2, 0.2, 0.2)
    assert np.allclose(g.bounds()[1], [20.0, 20.0, 1.2])


def test_axis_order_option(shared_data, tmp_path):
    g = load_layers(shared_data / OCC)[0]
    np.savez(tmp_path / "zyx.npz", semantics=g.labels.transpose(2, 1, 0))
    h = load_layers(tmp_path / "zyx.npz", axis_order="zyx")[0]
    assert h.shape == (200, 200, 16) and np.array_equal(h.labels, g.labels) and h.meta["stored_axis_order"] == "zyx"
