"""Point-cloud readers/writers round-trip exactly and reject corrupt files with a message naming the file."""
import numpy as np
import pytest

from engine.errors import InputError
from engine.io import detect, load, load_layers
from engine.io.pointcloud import write_bin, write_pcd, write_ply, write_points
from engine.scene import PointCloud


@pytest.fixture
def cloud():
    rng = np.random.default_rng(0)
    n = 500
    return PointCloud(name="c", points=rng.normal(size=(n, 3)) * 10,
                      attributes={"intensity": rng.random(n).astype(np.float32),
                                  "label": rng.integers(0, 20, n).astype(np.uint32)})


@pytest.mark.parametrize("binary", [True, False])
def test_ply_roundtrip(tmp_path, cloud, binary):
    p = tmp_path / "c.ply"
    write_ply(p, cloud, binary=binary)
    back = load_layers(p)[0]
    np.testing.assert_allclose(back.points, cloud.points.astype(np.float32), rtol=0, atol=0)
    np.testing.assert_array_equal(back.attributes["label"], cloud.attributes["label"])
    np.testing.assert_allclose(back.attributes["intensity"], cloud.attributes["intensity"])
    assert detect(p).name == "ply"


@pytest.mark.parametrize("binary", [True, False])
def test_pcd_roundtrip(tmp_path, cloud, binary):
    p = tmp_path / "c.pcd"
    write_pcd(p, cloud, binary=binary)
    back = load_layers(p)[0]
    np.testing.assert_allclose(back.points, cloud.points.astype(np.float32), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(back.attributes["label"].astype(int), cloud.attributes["label"].astype(int))


def test_npy_and_bin_roundtrip(tmp_path, cloud):
    write_points(tmp_path / "c.npy", cloud)
    np.testing.assert_allclose(load_layers(tmp_path / "c.npy")[0].points, cloud.points)
    write_bin(tmp_path / "k.bin", cloud, 4)
    k = load_layers(tmp_path / "k.bin")[0]
    np.testing.assert_allclose(k.points, cloud.points.astype(np.float32))
    np.testing.assert_allclose(k.attributes["intensity"], cloud.attributes["intensity"])
    cloud.attributes["ring"] = np.arange(cloud.n) % 32
    write_bin(tmp_path / "n.pcd.bin", cloud, 5)
    n = load_layers(tmp_path / "n.pcd.bin")[0]
    assert n.meta["format"] == "nuscenes"
    np.testing.assert_array_equal(n.attributes["ring"], np.arange(cloud.n) % 32)


def test_detection_uses_content_not_name(tmp_path, cloud):
    p = tmp_path / "cloud.dat"
    write_ply(tmp_path / "x.ply", cloud)
    p.write_bytes((tmp_path / "x.ply").read_bytes())
    assert detect(p).name == "ply"
    assert load(p).layers[0].n == cloud.n


def test_real_scans(shared_data):
    sk = load_layers(shared_data / "semantickitti_00_000000/velodyne/000000.bin")[0]
    assert sk.n == 124668 and sk.label_set == "semantickitti"
    raw = np.fromfile(shared_data / "semantickitti_00_000000/labels/000000.label", np.uint32)
    np.testing.assert_array_equal(sk.attributes["raw_label"], raw & 0xFFFF)
    assert set(np.unique(sk.attributes["label"])) <= set(range(20))
    nu = load_layers(next((shared_data / "nuscenes_sample").glob("*.pcd.bin")))[0]
    assert nu.n == 34688 and "ring" in nu.attributes
    assert nu.attributes["ring"].max() < 32


@pytest.mark.parametrize("name,data,msg", [
    ("bad.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n", "PLY"),
    ("bad.pcd", b"# .PCD\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 10\nHEIGHT 1\nPOINTS 10\nDATA binary\n\x00\x00", "truncated"),
    ("odd.bin", b"\x00" * 18, "not a whole number"),
    ("empty.ply", b"", "empty"),
    ("noise.xyz", b"\x01\x02\x03hello", "unrecognised"),
])
def test_corrupt_files_are_rejected_clearly(tmp_path, name, data, msg):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(InputError) as e:
        load(p)
    assert str(p) in str(e.value) and msg.lower() in str(e.value).lower()
    assert "\n" not in str(e.value)
