"""Point-cloud readers/writers round-trip exactly and reject corrupt files with a message naming the file."""
import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import detect, load, load_layers
from scenelens.engine.io.pointcloud import write_bin, write_pcd, write_ply, write_points
from scenelens.engine.scene import PointCloud


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
    np.testing.assert_array_equal(back.points, cloud.points)  # float64 coordinates are kept, not rounded
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


@pytest.mark.parametrize("ext,opts", [("ply", {"binary": True}), ("ply", {"binary": False}),
                                      ("pcd", {"binary": True}), ("pcd", {"binary": False}),
                                      ("pcd", {"binary": True, "compressed": True})])
def test_georeferenced_points_and_colour_roundtrip_exactly(tmp_path, ext, opts):
    pts = np.array([[500000.123, 5000000.456, 12.25], [500001.5, 5000000.0, 13.0], [499999.999, 4999999.001, 0.1]])
    rgb = np.array([[255, 0, 10], [1, 2, 3], [128, 64, 32]], np.uint8)
    cloud = PointCloud(name="geo", points=pts, attributes={"rgb": rgb, "label": np.array([1, 2, 3], np.uint32)})
    p = tmp_path / f"geo.{ext}"
    (write_ply if ext == "ply" else write_pcd)(p, cloud, **opts)
    back = load_layers(p)[0]
    np.testing.assert_array_equal(back.points, pts)
    np.testing.assert_array_equal(back.attributes["rgb"], rgb)
    np.testing.assert_array_equal(back.attributes["label"].astype(int), [1, 2, 3])


def test_float32_clouds_stay_float32(tmp_path):
    from plyfile import PlyData

    pts = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32).astype(np.float64)
    write_ply(tmp_path / "f.ply", PointCloud(name="f", points=pts))
    assert PlyData.read(str(tmp_path / "f.ply"))["vertex"].data.dtype["x"] == np.float32
    write_pcd(tmp_path / "f.pcd", PointCloud(name="f", points=pts))
    assert b"SIZE 4 4 4" in (tmp_path / "f.pcd").read_bytes()[:300]


def test_compressed_pcd_as_pypcd4_writes_it(tmp_path):
    """binary_compressed files written by another tool (pypcd4, LZF like PCL/Open3D) are read, colour included."""
    from pypcd4 import Encoding
    from pypcd4 import PointCloud as PcdCloud

    rng = np.random.default_rng(2)
    xyz = (rng.integers(0, 8, (300, 3)) * 0.25).astype(np.float32)  # compressible: LZF falls back to binary otherwise
    rgb = rng.choice(np.array([[255, 0, 0], [0, 128, 255], [9, 9, 9]], np.uint8), 300)
    pc = PcdCloud.from_points([xyz[:, 0], xyz[:, 1], xyz[:, 2], PcdCloud.encode_rgb(rgb)], ["x", "y", "z", "rgb"],
                              [np.float32, np.float32, np.float32, np.float32])
    pc.save(tmp_path / "c.pcd", encoding=Encoding.BINARY_COMPRESSED)
    assert b"DATA binary_compressed" in (tmp_path / "c.pcd").read_bytes()[:400]
    back = load_layers(tmp_path / "c.pcd")[0]
    np.testing.assert_array_equal(back.points, xyz.astype(np.float64))
    np.testing.assert_array_equal(back.attributes["rgb"], rgb)
    raw = (tmp_path / "c.pcd").read_bytes()
    (tmp_path / "cut.pcd").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="cut.pcd"):
        load_layers(tmp_path / "cut.pcd")


@pytest.mark.parametrize("ext", ["las", "laz"])
def test_las_laz_read(tmp_path, ext):
    laspy = pytest.importorskip("laspy")
    if ext == "laz" and not laspy.LazBackend.detect_available():
        pytest.skip("no LAZ backend (pip install lazrs)")
    hdr = laspy.LasHeader(point_format=3, version="1.2")
    hdr.offsets = [500000.0, 5000000.0, 0.0]
    hdr.scales = [0.001, 0.001, 0.001]
    las = laspy.LasData(hdr)
    las.x = np.array([500000.123, 500010.5, 500020.25])
    las.y = np.array([5000000.456, 5000001.0, 5000002.0])
    las.z = np.array([12.0, 13.5, 14.0])
    las.intensity = np.array([10, 20, 30], np.uint16)
    las.classification = np.array([2, 5, 6], np.uint8)
    las.red, las.green, las.blue = (np.array([65535, 0, 256 * 128], np.uint16),) * 3
    p = tmp_path / f"t.{ext}"
    las.write(str(p))
    assert detect(p).name == "las"
    pc = load_layers(p)[0]
    np.testing.assert_allclose(pc.points, [[500000.123, 5000000.456, 12.0], [500010.5, 5000001.0, 13.5],
                                           [500020.25, 5000002.0, 14.0]], rtol=0, atol=1e-9)
    assert pc.attributes["classification"].tolist() == [2, 5, 6]
    assert pc.attributes["rgb"][:, 0].tolist() == [255, 0, 128]
    (tmp_path / f"bad.{ext}").write_bytes(b"LASF" + b"\0" * 40)
    with pytest.raises(InputError, match=f"bad.{ext}"):
        load_layers(tmp_path / f"bad.{ext}")


def test_pcd_compressed_interop_with_open3d(tmp_path):
    """Open3D's own compressed PCD reads here; ours (compressed, colour, float64) reads in Open3D."""
    o3d = pytest.importorskip("open3d")
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(400, 3)) * 5
    rgb = rng.integers(0, 256, (400, 3)).astype(np.uint8)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz))
    pc.colors = o3d.utility.Vector3dVector(rgb / 255.0)
    p = tmp_path / "o3d.pcd"
    assert o3d.io.write_point_cloud(str(p), pc, compressed=True)
    assert b"DATA binary_compressed" in p.read_bytes()[:400]
    back = load_layers(p)[0]
    np.testing.assert_allclose(back.points, xyz.astype(np.float32), rtol=0, atol=1e-5)  # Open3D writes float32
    np.testing.assert_array_equal(back.attributes["rgb"], rgb)
    # ours, compressed for real (compressible data; LZF falls back to binary otherwise), float32-exact coordinates:
    # Open3D 0.20 reads binary F 8 fields as zeros, so float64 PCDs are for PCL/pypcd4/CloudCompare readers
    grid = (rng.integers(0, 16, (400, 3)) * 0.25).astype(np.float64)
    cols = rng.choice(np.array([[255, 0, 0], [0, 128, 255], [9, 9, 9]], np.uint8), 400)
    ours = tmp_path / "ours.pcd"
    write_pcd(ours, PointCloud(name="c", points=grid, attributes={"rgb": cols}), compressed=True)
    assert b"DATA binary_compressed" in ours.read_bytes()[:400]
    got = o3d.io.read_point_cloud(str(ours))
    np.testing.assert_array_equal(np.asarray(got.points), grid)
    np.testing.assert_allclose(np.asarray(got.colors) * 255, cols, atol=0.5)
