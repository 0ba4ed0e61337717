"""Generates hostile input files for every reader (and for model files and projects).

Each `Case` is a file or folder plus how it enters SceneLens (`render` for scene files, `model` for a
checkpoint passed to `run attribution --model`, `project` for a `.slproj`) and what must happen:
`reject` (exit 2, one line naming the file), `warn` (exit 0 with one warning line naming the file and a
count: some values were dropped) or `accept` (exit 0: valid despite looking odd, e.g. a UTF-8 BOM).
Pickle payloads write a marker file when executed; no marker may ever appear.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MARKER = "PAYLOAD_RAN"


@dataclass
class Case:
    path: Path
    kind: str  # what it is, for the report
    entry: str = "render"  # render | model | project
    expect: str = "reject"  # reject | warn | accept
    names: tuple[str, ...] = field(default_factory=tuple)  # other names the one line may give instead


class Payload:
    """Unpickling this writes the marker: stands for any code a hostile file could run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _npy_bytes(arr: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def _npy_header(shape, dtype="<f4", fortran=False) -> bytes:
    d = {"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)}
    h = repr(d).encode()
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def _pickle_npy(obj) -> bytes:
    b = io.BytesIO()
    np.save(b, np.array([obj, 1], dtype=object), allow_pickle=True)
    return b.getvalue()


def _zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return path


def _zip_bomb(path: Path, member: str, header: bytes, total: int) -> Path:
    """A real deflate bomb: `header` then zeros up to `total` bytes, streamed (never held in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(member, "w", force_zip64=True) as f:
            f.write(header)
            block = bytes(1 << 24)
            left = total - len(header)
            while left > 0:
                f.write(block[: min(left, len(block))])
                left -= len(block)
    return path


def _ply(vertex_count, body: bytes = b"", fmt="binary_little_endian", props=("x", "y", "z")) -> bytes:
    h = f"ply\nformat {fmt} 1.0\nelement vertex {vertex_count}\n"
    h += "".join(f"property float {p}\n" for p in props) + "end_header\n"
    return h.encode() + body


def _pcd(points, data="ascii", body=None, fields="x y z", size="4 4 4", typ="F F F", count="1 1 1") -> bytes:
    h = (f"VERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {typ}\nCOUNT {count}\nWIDTH {points}\nHEIGHT 1\n"
         f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {points}\nDATA {data}\n")
    return h.encode() + (body if body is not None else b"")


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    out = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 1000)
    out += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return out + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def _deep_json(depth: int, key: str = "scenelens_scene") -> str:
    return '{"%s": 1, "layers": ' % key + "[" * depth + "]" * depth + "}"


def _valid_cloud(n=200, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)


def generate(root: Path, bomb_bytes: int = 1536 << 20) -> list[Case]:
    """Write the corpus under `root` (idempotent) and return its cases."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    n = [0]

    def f(name: str, data: bytes | str, kind: str, **kw) -> Path:
        n[0] += 1
        d = root / f"c{n[0]:03d}"
        d.mkdir(exist_ok=True)
        p = d / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        cases.append(Case(p, kind, **kw))
        return p

    def folder(kind: str, **kw) -> Path:
        n[0] += 1
        d = root / f"c{n[0]:03d}"
        d.mkdir(exist_ok=True)
        return d

    def marker_for(i: int | None = None) -> Path:
        return root / f"{MARKER}_{n[0] + 1:03d}"

    rng = np.random.default_rng(11)
    pts = _valid_cloud()
    ply_ok = _ply(len(pts), pts.tobytes())

    # ---- generic: empty, random, truncated, for every extension a reader claims
    for ext in (".ply", ".pcd", ".npy", ".bin", ".pcd.bin", ".npz", ".json", ".pkl", ".bvh", ".png", ".jpg",
                ".mp4", ".txt", ".log", ".info", ".label", ".las", ".laz", ".csv", ".slproj"):
        entry = "project" if ext == ".slproj" else "render"
        f(f"empty{ext}", b"", f"empty {ext}", entry=entry)
        f(f"random{ext}", rng.bytes(4099), f"random {ext}", entry=entry)
    # ---- PLY
    f("trunc.ply", ply_ok[: len(ply_ok) // 2], "PLY truncated binary")
    f("huge.ply", _ply(10**12, pts.tobytes()), "PLY element vertex 10^12 (binary)")
    f("huge_ascii.ply", _ply(10**12, b"0 0 0\n", fmt="ascii"), "PLY element vertex 10^12 (ascii)")
    f("neg.ply", _ply(-5, b""), "PLY negative count")
    f("word.ply", _ply("many", b""), "PLY count not a number")
    f("noz.ply", _ply(len(pts), np.zeros((len(pts), 2), np.float32).tobytes(), props=("x", "y")), "PLY lacks z")
    f("zero.ply", _ply(0, b""), "PLY with no vertices")
    f("allnan.ply", _ply(50, np.full((50, 3), np.nan, np.float32).tobytes()), "PLY all NaN")
    f("allinf.ply", _ply(50, np.full((50, 3), np.inf, np.float32).tobytes()), "PLY all Inf")
    f("huge_vals.ply", _ply(50, np.full((50, 3), 1e38, np.float32).tobytes()), "PLY all 1e38")
    some = pts.copy()
    some[::7] = np.nan
    f("somenan.ply", _ply(len(some), some.tobytes()), "PLY some NaN", expect="warn")
    f("nohdr.ply", b"ply\nformat binary_little_endian 1.0\n" + rng.bytes(300), "PLY header never ends")
    f("badfmt.ply", _ply(3, b"", fmt="binary_middle_endian"), "PLY unknown format")
    f("manyprops.ply", ("ply\nformat ascii 1.0\nelement vertex 1\n" + "".join(f"property float p{i}\n" for i in range(50000))
                        + "end_header\n").encode(), "PLY 50k properties")
    f("list.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty list uint32 float x\nend_header\n"
      + struct.pack("<I", 4_000_000_000), "PLY list of 4e9 items")
    # ---- PCD
    f("huge.pcd", _pcd(10**12, "binary", pts.tobytes()), "PCD POINTS 10^12 binary")
    f("huge_ascii.pcd", _pcd(10**12, "ascii", b"0 0 0\n"), "PCD POINTS 10^12 ascii")
    f("rows.pcd", _pcd(10, "ascii", b"0 0 0\n1 1 1\n"), "PCD ascii fewer rows")
    f("badtype.pcd", _pcd(1, "ascii", b"0 0 0\n", typ="Q Q Q"), "PCD unknown TYPE")
    f("compressed.pcd", _pcd(1, "binary_compressed", rng.bytes(40)), "PCD binary_compressed garbage")
    f("nodata.pcd", b"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n", "PCD without DATA")
    f("lens.pcd", _pcd(1, "ascii", b"0 0 0\n", size="4 4"), "PCD SIZE/FIELDS mismatch")
    f("neg.pcd", _pcd(-3, "binary", b""), "PCD negative POINTS")
    f("allnan.pcd", _pcd(5, "ascii", b"nan nan nan\n" * 5), "PCD all NaN")
    f("somenan.pcd", _pcd(4, "ascii", b"nan nan nan\n0 0 0\n1 2 3\n1 0 1\n"), "PCD some NaN (organised)", expect="warn")
    f("count.pcd", _pcd(1, "binary", b"\0" * 12, count=f"1 1 {10**9}"), "PCD COUNT 10^9")
    f("noxyz.pcd", _pcd(1, "ascii", b"0 0 0\n", fields="a b c"), "PCD lacks x/y/z")
    import laspy

    las = laspy.LasData(laspy.LasHeader(point_format=3, version="1.2"))
    las.x, las.y, las.z = np.arange(10.0), np.arange(10.0), np.arange(10.0)
    b = io.BytesIO()
    las.write(b)
    las_ok = bytearray(b.getvalue())
    for count, label in ((4_000_000_000, "4e9"), (200_000_000, "2e8")):
        forged = bytearray(las_ok)
        struct.pack_into("<I", forged, 107, count)
        f(f"huge{label}.las", bytes(forged), f"LAS header declaring {label} points")
    f("trunc.las", bytes(las_ok[: len(las_ok) - 100]), "LAS truncated")
    # ---- NPY points
    f("huge.npy", _npy_header((10**12, 3)) + pts.tobytes(), "NPY header shape (10^12, 3)")
    f("trunc.npy", _npy_header((1000, 3)) + pts.tobytes()[:100], "NPY truncated data")
    f("obj.npy", _pickle_npy(Payload(marker_for())), "NPY object array (pickle payload)")
    f("shape2.npy", _npy_bytes(np.zeros((10, 2), np.float32)), "NPY N×2")
    f("d4.npy", _npy_bytes(np.zeros((2, 2, 2, 3), np.float32)), "NPY 4-D")
    f("cplx.npy", _npy_bytes(np.zeros((10, 3), np.complex64)), "NPY complex")
    f("struct.npy", _npy_bytes(np.zeros(10, [("x", "f4"), ("y", "f4")])), "NPY structured dtype")
    f("str.npy", _npy_bytes(np.array([["a", "b", "c"]])), "NPY strings")
    f("empty_arr.npy", _npy_bytes(np.zeros((0, 3), np.float32)), "NPY 0×3")
    f("allnan.npy", _npy_bytes(np.full((20, 3), np.nan, np.float32)), "NPY all NaN")
    f("allinf.npy", _npy_bytes(np.full((20, 3), -np.inf)), "NPY all -Inf")
    f("big.npy", _npy_bytes(np.full((20, 3), 3e38, np.float32)), "NPY all 3e38")
    f("somenan.npy", _npy_bytes(np.where(rng.random((300, 1)) < 0.1, np.nan, _valid_cloud(300))), "NPY some NaN",
      expect="warn")
    f("badhdr.npy", b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (((((" + b" " * 10 + b"\n", "NPY garbage header")
    f("hdrlen.npy", b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 100, "NPY header length past the end")
    f("v3.npy", b"\x93NUMPY\x09\x00" + rng.bytes(100), "NPY unknown version")
    # ---- raw LiDAR .bin
    f("odd.bin", rng.bytes(4 * 4 * 10 + 3), "KITTI .bin odd size")
    f("allnan.bin", np.full((40, 4), np.nan, np.float32).tobytes(), "KITTI .bin all NaN")
    f("big.bin", np.full((40, 4), 1e38, np.float32).tobytes(), "KITTI .bin all 1e38")
    f("nan5.pcd.bin", np.full((40, 5), np.nan, np.float32).tobytes(), "nuScenes .pcd.bin all NaN")
    scan = np.concatenate([_valid_cloud(100), np.ones((100, 1), np.float32)], 1)
    scan[3] = np.nan
    f("somenan.bin", scan.tobytes(), "KITTI .bin some NaN", expect="warn")
    d = folder("bin + bad label")
    (d / "scan.bin").write_bytes(np.concatenate([_valid_cloud(64), np.ones((64, 1), np.float32)], 1).tobytes())
    (d / "scan.label").write_bytes(b"\0" * 12)
    cases.append(Case(d / "scan.bin", "KITTI .bin with a short .label", names=("scan.label",)))
    # ---- Occ3D / npz
    sem = np.zeros((200, 200, 16), np.uint8)
    f("huge_hdr.npz", _zip_bytes({"semantics.npy": _npy_header((10**6, 10**6, 16), "|u1")}),
      "Occ3D semantics header (10^6,10^6,16)")
    zb = _zip_bytes({"semantics.npy": _npy_bytes(rng.integers(0, 18, (200, 200, 16), dtype=np.uint8))})
    f("trunc.npz", zb[: len(zb) // 2], "Occ3D truncated zip")
    f("obj.npz", _zip_bytes({"semantics.npy": _pickle_npy(Payload(marker_for()))}), "Occ3D object member (pickle payload)")
    f("float.npz", _zip_bytes({"semantics.npy": _npy_bytes(np.zeros((200, 200, 16), np.float32))}), "Occ3D float labels")
    f("shape.npz", _zip_bytes({"semantics.npy": _npy_bytes(np.zeros((7, 7, 7), np.uint8))}), "Occ3D wrong shape")
    f("neg.npz", _zip_bytes({"semantics.npy": _npy_bytes(np.full((200, 200, 16), -3, np.int16))}), "Occ3D negative ids")
    f("mask.npz", _zip_bytes({"semantics.npy": _npy_bytes(sem), "mask_camera.npy": _npy_bytes(np.zeros(3, bool))}),
      "Occ3D mask of wrong shape")
    f("nokey.npz", _zip_bytes({"foo.npy": _npy_bytes(np.zeros(3))}), "npz without known keys")
    f("many.npz", _zip_bytes({f"m{i}.npy": b"" for i in range(5000)}), "npz with 5000 empty members")
    f("notnpy.npz", _zip_bytes({"semantics.npy": b"hello"}), "npz member not a .npy")
    f("stored_huge.npz", _zip_bytes({"semantics.npy": _npy_header((10**5, 10**5, 16), "|u1") + b"\0" * 100},
                                    zipfile.ZIP_STORED), "Occ3D stored member, huge header")
    bomb = root / "bomb_occ3d"
    bomb.mkdir(exist_ok=True)
    bp = bomb / "labels.npz"
    side = int(round((bomb_bytes / 16) ** 0.5))
    if not bp.exists():
        _zip_bomb(bp, "semantics.npy", _npy_header((side, side, 16), "|u1"), side * side * 16 + 128)
    cases.append(Case(bp, f"Occ3D zip bomb ({side * side * 16 >> 20} MiB of zeros)"))
    bomb2 = root / "bomb_surroundocc"
    bomb2.mkdir(exist_ok=True)
    bp2 = bomb2 / "pred.npz"
    if not bp2.exists():
        _zip_bomb(bp2, "occ.npy", _npy_header((bomb_bytes // 8, 4), "<i2"), bomb_bytes + 128)
    cases.append(Case(bp2, "npz bomb of an N×4 list"))
    # ---- SurroundOcc N×4
    f("so_huge.npy", _npy_header((10**12, 4), "<i8") + b"\0" * 64, "SurroundOcc header (10^12, 4)")
    f("so_idx.npy", _npy_bytes(np.array([[10**9, 5, 5, 3], [1, 1, 1, 2]], np.int64)), "SurroundOcc index 10^9")
    f("so_neg.npy", _npy_bytes(np.array([[-1, -5, 5, 3]] * 4, np.int64)), "N×4 ints with negatives: a valid point cloud", expect="accept")
    f("so_nan.npy", _npy_bytes(np.full((8, 4), np.nan)), "SurroundOcc NaN list")
    f("so_cls.npy", _npy_bytes(np.array([[1, 1, 1, 10**6]] * 4, np.int64)), "N×4 ints, 4th column 10^6: a valid point cloud", expect="accept")
    # ---- SemanticKITTI voxels
    f("000000.label", rng.bytes(1000), "SemanticKITTI voxel .label wrong size")
    f("000000.invalid", rng.bytes(999), "SemanticKITTI .invalid wrong size")
    # ---- nuScenes / mmdet3d info .pkl (pickle payloads and hostile paths)
    f("evil.pkl", pickle.dumps(Payload(marker_for())), "info .pkl exec payload")
    f("evil_os.pkl", b"\x80\x04cos\nsystem\n(Vtouch " + str(root / f"{MARKER}_os").encode() + b"\ntR.", "info .pkl os.system")
    f("evil_meta.pkl", pickle.dumps({"metainfo": {}, "data_list": [Payload(marker_for())]}), "info .pkl payload in data_list")
    f("deep.pkl", b"\x80\x04" + b"]" * 100000 + b"." , "info .pkl 100k nested lists")
    f("trunc.pkl", pickle.dumps({"metainfo": {"x": 1}, "data_list": [{"a": 1}] * 50})[:60], "info .pkl truncated")
    f("wrongtype.pkl", pickle.dumps({"metainfo": {}, "data_list": 5}), "info .pkl data_list not a list")
    f("empty_list.pkl", pickle.dumps({"metainfo": {}, "data_list": []}), "info .pkl no samples")
    for j, lp in enumerate(("/dev/zero", "/proc/self/environ", "../../../../../../etc/passwd", "/etc/shadow")):
        info = {"metainfo": {"dataset": "nuscenes"}, "data_list": [{
            "sample_idx": 0, "token": "t", "lidar_points": {"lidar_path": lp, "num_pts_feats": 5,
                                                            "lidar2ego": np.eye(4).tolist()},
            "ego2global": np.eye(4).tolist(), "images": {}, "instances": []}]}
        f(f"path{j}.pkl", pickle.dumps(info, protocol=4), f"info .pkl lidar_path {lp}")
    nan_info = {"metainfo": {"dataset": "nuscenes"}, "data_list": [{
        "sample_idx": 0, "token": "t", "lidar_points": {"lidar_path": "scan.pcd.bin", "num_pts_feats": 5,
                                                        "lidar2ego": np.full((4, 4), np.nan).tolist()},
        "ego2global": np.eye(4).tolist(), "images": {}, "instances": []}]}
    p = f("nanpose.pkl", pickle.dumps(nan_info, protocol=4), "info .pkl NaN lidar2ego")
    (p.parent / "scan.pcd.bin").write_bytes(np.concatenate([_valid_cloud(50), np.ones((50, 2), np.float32)], 1).tobytes())
    # ---- manifests
    KEY = "scenelens_scene"
    ok_layer = {"path": "cloud.ply"}

    def manifest(name: str, d: dict | str, kind: str, with_cloud: bool = True, **kw) -> Path:
        p = f(name, d if isinstance(d, (str, bytes)) else json.dumps(d), kind, **kw)
        if with_cloud:
            (p.parent / "cloud.ply").write_bytes(ply_ok)
        return p

    manifest("deep.json", _deep_json(5000), "manifest nested 5000 deep")
    manifest("deep100.json", '{"%s": 1, "layers": [], "meta": ' % KEY + '{"a":' * 100 + "1" + "}" * 100 + "}",
             "manifest nested 100 deep")
    p = manifest("self.json", {KEY: 1, "layers": [{"path": "self.json"}]}, "manifest lists itself")
    p = manifest("a.json", {KEY: 1, "layers": [{"path": "b.json"}]}, "manifest cycle a→b→a")
    (p.parent / "b.json").write_text(json.dumps({KEY: 1, "layers": [{"path": "a.json"}]}))
    manifest("frames5.json", {KEY: 1, "layers": [ok_layer], "frames": [5]}, "manifest frames: [5]")
    manifest("layers_str.json", {KEY: 1, "layers": "cloud.ply"}, "manifest layers is a string")
    manifest("path_int.json", {KEY: 1, "layers": [{"path": 5}]}, "manifest path is a number")
    manifest("opts.json", {KEY: 1, "layers": [{"path": "cloud.ply", "options": 5}]}, "manifest options is a number")
    manifest("meta.json", {KEY: 1, "layers": [{"path": "cloud.ply", "meta": [1]}]}, "manifest meta is a list")
    manifest("nopath.json", {KEY: 1, "layers": [{"name": "x"}]}, "manifest layer without path")
    manifest("missing.json", {KEY: 1, "layers": [{"path": "nope.ply"}]}, "manifest missing file")
    for j, tp in enumerate(("/etc/shadow", "../../../../../../../etc/passwd", "/dev/zero", "/proc/self/environ",
                            "/proc/self/mem", "/dev/urandom")):
        manifest(f"trav{j}.json", {KEY: 1, "layers": [{"path": tp}]}, f"manifest path {tp}")
    manifest("trav_labels.json", {KEY: 1, "layers": [{"path": "cloud.ply", "options": {"labels": "/dev/zero"}}]},
             "manifest options.labels /dev/zero")
    manifest("name_big.json", {KEY: 1, "name": "N" * (20 << 20), "layers": [ok_layer]}, "manifest 20 MB name")
    manifest("name_type.json", {KEY: 1, "name": {"a": 1}, "layers": [ok_layer]}, "manifest name is an object")
    manifest("frames_obj.json", {KEY: 1, "layers": [ok_layer], "frames": {"a": 1}}, "manifest frames is an object")
    manifest("frames_layers.json", {KEY: 1, "layers": [ok_layer], "frames": [{"layers": 7}]}, "manifest frame layers 7")
    manifest("nolayers.json", {KEY: 1, "layers": []}, "manifest with nothing to draw")
    manifest("bom.json", "\ufeff" + json.dumps({KEY: 1, "layers": [ok_layer]}), "manifest with a UTF-8 BOM",
             expect="accept")
    manifest("latin1.json", ('{"%s": 1, "name": "caf\xe9", "layers": []}' % KEY).encode("latin-1"),
             "manifest not UTF-8")
    manifest("nan.json", '{"%s": 1, "layers": [{"path": "cloud.ply"}], "frame": NaN}' % KEY, "manifest frame NaN")
    # cameras
    img = np.zeros((32, 48, 3), np.uint8)
    import cv2

    ok, png = cv2.imencode(".png", img)
    for label, K in (("NaN K", [[float("nan"), 0, 24], [0, 50, 16], [0, 0, 1]]),
                     ("Inf K", [[50, 0, 24], [0, float("inf"), 16], [0, 0, 1]]),
                     ("K 2×2", [[1, 0], [0, 1]]), ("K strings", [["a", "b", "c"]] * 3),
                     ("K zero focal", [[0, 0, 24], [0, 0, 16], [0, 0, 1]])):
        p = manifest(f"cam{len(cases)}.json",
                     json.dumps({KEY: 1, "layers": [ok_layer, {"path": "cam.png", "camera": {"K": K}}]}),
                     f"manifest camera {label}")
        (p.parent / "cam.png").write_bytes(png.tobytes())
    p = manifest("campose.json", json.dumps({KEY: 1, "layers": [ok_layer, {"path": "cam.png", "camera": {
        "K": [[50, 0, 24], [0, 50, 16], [0, 0, 1]], "cam_to_frame": [[float("nan")] * 4] * 4}}]}),
        "manifest camera NaN cam_to_frame")
    (p.parent / "cam.png").write_bytes(png.tobytes())
    # manifest folder whose scene.json is a cycle
    d = folder("folder")
    (d / "scene.json").write_text(json.dumps({KEY: 1, "layers": [{"path": "."}]}))
    cases.append(Case(d, "manifest folder listing itself"))
    # symlinks to devices and to outside
    for j, tgt in enumerate(("/dev/zero", "/proc/self/mem", "/dev/urandom")):
        d = folder("symlink")
        link = d / f"cloud{j}.bin"
        if not link.is_symlink():
            os.symlink(tgt, link)
        cases.append(Case(link, f"symlink .bin → {tgt}"))
    d = folder("fifo")
    fifo = d / "pipe.ply"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case(fifo, "a FIFO named .ply"))
    # ---- images and video
    f("huge.png", _png_header(100000, 100000), "PNG declaring 100000×100000")
    f("wide.png", _png_header(2**31 - 1, 1), "PNG declaring 2^31-1 × 1")
    f("zero.png", _png_header(0, 0), "PNG declaring 0×0")
    f("trunc.png", png.tobytes()[:30], "PNG truncated")
    f("trunc.jpg", b"\xff\xd8\xff\xe0" + rng.bytes(200), "JPEG garbage after magic")
    sof = b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    f("huge.jpg", sof + b"\xff\xd9", "JPEG SOF 65535×65535")
    f("tiff.tif", b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 2) + struct.pack("<HHII", 256, 4, 1, 10**6)
      + struct.pack("<HHII", 257, 4, 1, 10**6) + b"\0\0\0\0", "TIFF declaring 10^6×10^6")
    f("bmp.bmp", b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 100000, 100000, 1, 24, 0, 0,
                                                                        0, 0, 0, 0), "BMP declaring 100000²")
    f("fake.mp4", b"\0\0\0\x18ftypisom" + rng.bytes(2000), "MP4 garbage after ftyp")
    f("fake.avi", b"RIFF\0\0\0\0AVI LIST" + rng.bytes(500), "AVI garbage")
    # ---- COCO keypoints
    coco_ok = {"images": [{"id": 1, "file_name": "a.jpg", "width": 48, "height": 32}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2] * 17,
                                "num_keypoints": 17, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}],
               "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)],
                               "skeleton": [[1, 2]]}]}

    def coco(name, mutate, kind, **kw):
        d = json.loads(json.dumps(coco_ok))
        mutate(d)
        return f(name, json.dumps(d), kind, **kw)

    f("coco_deep.json", '{"images": [], "annotations": [{"keypoints": ' + "[" * 5000 + "]" * 5000 + "}]}",
      "COCO nested 5000 deep")
    coco("coco_kp_short.json", lambda d: d["annotations"][0].update(keypoints=[1, 2]), "COCO keypoints too short")
    coco("coco_kp_nan.json", lambda d: d["annotations"][0].update(keypoints=[float("nan")] * 51), "COCO NaN keypoints")
    coco("coco_kp_str.json", lambda d: d["annotations"][0].update(keypoints="abc"), "COCO keypoints a string")
    coco("coco_ann_dict.json", lambda d: d.update(annotations={"a": 1}), "COCO annotations an object")
    coco("coco_img_missing.json", lambda d: d["annotations"][0].update(image_id=99), "COCO unknown image id")
    coco("coco_file_trav.json", lambda d: d["images"][0].update(file_name="../../../../../../etc/passwd"),
         "COCO file_name traversal")
    coco("coco_file_dev.json", lambda d: d["images"][0].update(file_name="/dev/zero"), "COCO file_name /dev/zero")
    coco("coco_bbox.json", lambda d: d["annotations"][0].update(bbox="x"), "COCO bbox a string")
    coco("coco_huge_wh.json", lambda d: d["images"][0].update(width=10**12, height=10**12), "COCO image 10^12 wide")
    # ---- BVH
    bvh_ok = ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation "
              "Yrotation\n JOINT Chest\n {\n  OFFSET 0 1 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n  End Site\n  {\n"
              "   OFFSET 0 1 0\n  }\n }\n}\nMOTION\nFrames: 2\nFrame Time: 0.0333\n" + "0 0 0 0 0 0 0 0 0\n" * 2)
    f("trunc.bvh", bvh_ok[: len(bvh_ok) // 2], "BVH truncated")
    f("frames.bvh", bvh_ok.replace("Frames: 2", f"Frames: {10**12}"), "BVH Frames 10^12")
    f("chan.bvh", bvh_ok.replace("CHANNELS 3", f"CHANNELS {10**9}"), "BVH CHANNELS 10^9")
    f("nanm.bvh", bvh_ok.replace("0 0 0 0 0 0 0 0 0\n", "nan nan nan 0 0 0 0 0 0\n"), "BVH NaN motion")
    f("inf.bvh", bvh_ok.replace("OFFSET 0 1 0", "OFFSET inf 1 0"), "BVH Inf offset")
    f("ftime.bvh", bvh_ok.replace("0.0333", "-1"), "BVH negative frame time")
    f("short.bvh", bvh_ok.replace("0 0 0 0 0 0 0 0 0\n", "0 0\n"), "BVH short motion rows")
    deep = "HIERARCHY\nROOT R\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n"
    deep += "".join(f"JOINT J{i}\n{{\nOFFSET 0 0 1\nCHANNELS 1 Zrotation\n" for i in range(5000))
    deep += "}\n" * 5001 + "MOTION\nFrames: 1\nFrame Time: 0.1\n" + "0 " * 5003 + "\n"
    f("deep.bvh", deep, "BVH 5000 nested joints (valid, if odd)", expect="accept")
    f("nomotion.bvh", bvh_ok.split("MOTION")[0], "BVH without MOTION")
    # ---- 3-D joints npz/npy
    f("pose_huge.npy", _npy_header((10**9, 17, 3)) + b"\0" * 64, "joints NPY header (10^9,17,3)")
    f("pose_nan.npy", _npy_bytes(np.full((5, 17, 3), np.nan, np.float32)), "joints NPY all NaN")
    f("pose_shape.npy", _npy_bytes(np.zeros((5, 17, 2), np.float32)), "joints NPY T×J×2")
    f("pose.npz", _zip_bytes({"joints.npy": _npy_bytes(np.zeros((5, 17, 3))),
                              "joint_set.npy": _npy_bytes(np.array("nope"))}), "joints NPZ unknown joint set")
    f("pose_obj.npz", _zip_bytes({"joints.npy": _pickle_npy(Payload(marker_for())),
                                  "joint_set.npy": _npy_bytes(np.array("h36m17"))}), "joints NPZ pickle payload")
    f("pose_S.npz", _zip_bytes({"S.npy": _npy_header((10**9, 17, 3)) + b"\0" * 10}), "H36M S header 10^9")
    f("pose_nanS.npz", _zip_bytes({"S.npy": _npy_bytes(np.full((4, 17, 3), np.inf))}), "H36M S all Inf")
    # ---- 3DMatch gt.log / gt.info, trajectories
    f("gt.log", "0 1 2\n" + "1 0 0 0\n0 1 0 0\n0 0 1 0\n", "gt.log truncated matrix")
    f("gt_nan.log", "0 1 2\n" + "nan 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "gt.log NaN")
    f("gt_huge.log", f"0 1 {10**12}\n" + "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "gt.log pair count 10^12")
    f("gt.info", "0 1 2\n" + "1 0 0 0 0 0\n" * 3, "gt.info truncated")
    f("poses.txt", "1 0 0 nan 0 1 0 0 0 0 1 0\n" * 5, "KITTI poses with NaN")
    f("poses_inf.txt", "1 0 0 inf 0 1 0 0 0 0 1 0\n" * 5, "KITTI poses with Inf")
    f("poses_rot.txt", "5 0 0 0 0 5 0 0 0 0 5 0\n" * 3, "KITTI poses not rotations")
    f("tum.txt", "0.0 1 2 3 0 0 0 0\n" * 3, "TUM zero quaternion")
    f("tum_nan.txt", "nan 1 2 3 0 0 0 1\n" * 3, "TUM NaN timestamp")
    # ---- model files (run attribution --model)
    def model(name: str, data: bytes | None, kind: str, writer=None):
        n[0] += 1
        d = root / f"c{n[0]:03d}"
        d.mkdir(exist_ok=True)
        p = d / name
        if writer is not None:
            if not p.exists():
                writer(p)
        else:
            p.write_bytes(data)
        cases.append(Case(p, kind, entry="model"))
        return p

    import torch

    model("evil.pt", None, "checkpoint: torch.save zip with exec payload",
          lambda p: torch.save({"w": torch.zeros(2), "x": Payload(root / f"{MARKER}_{n[0]:03d}")}, p))
    model("evil_legacy.pt", None, "checkpoint: legacy torch.save with exec payload",
          lambda p: torch.save(Payload(root / f"{MARKER}_{n[0]:03d}"), p, _use_new_zipfile_serialization=False))
    model("evil.pth", pickle.dumps(Payload(root / f"{MARKER}_pth")), "checkpoint: bare pickle payload")
    model("evil_os.pt", b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.",
          "checkpoint: posix.system payload")
    model("module.pt", None, "checkpoint: whole pickled nn.Module (needs --trust-model)",
          lambda p: torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)), p))
    model("weights.pt", None, "checkpoint: state_dict only",
          lambda p: torch.save(torch.nn.Linear(2, 2).state_dict(), p))
    model("random.pt", rng.bytes(3000), "checkpoint: random bytes")
    model("empty.pt", b"", "checkpoint: empty")
    model("trunc_ts.pt", None, "checkpoint: truncated TorchScript",
          lambda p: (torch.jit.script(torch.nn.Linear(2, 2)).save(str(p)), p.write_bytes(p.read_bytes()[:400])))
    model("bad.safetensors", struct.pack("<Q", 10**15) + b"{}", "checkpoint: safetensors header length 10^15")
    model("weights.safetensors", None, "checkpoint: safetensors weights only",
          lambda p: __import__("safetensors.torch").torch.save_file({"w": torch.zeros(3)}, str(p)))
    model("zipbomb.pt", None, "checkpoint: zip with a 1.5 GB data member",
          lambda p: _zip_bomb(p, "archive/data/0", b"", bomb_bytes))
    # ---- projects (.slproj)
    def project(name, members: dict[str, bytes], kind):
        n[0] += 1
        d = root / f"c{n[0]:03d}"
        d.mkdir(exist_ok=True)
        p = _zip(d / name, members)
        cases.append(Case(p, kind, entry="project"))
        return p

    pj = json.dumps({"version": 2, "scene": "scene.ply"}).encode()
    project("deep.slproj", {"project.json": _deep_json(5000, "version").encode(), "arrays.npz": _zip_bytes({})},
            "project.json nested 5000 deep")
    project("obj.slproj", {"project.json": pj, "arrays.npz": _zip_bytes({"a.npy": _pickle_npy(Payload(marker_for()))})},
            "project arrays.npz with a pickle payload")
    project("pkl.slproj", {"project.json": pj, "arrays.npz": pickle.dumps(Payload(marker_for()))},
            "project arrays.npz is a pickle")
    project("nojson.slproj", {"arrays.npz": _zip_bytes({})}, "project without project.json")
    project("badjson.slproj", {"project.json": b"{", "arrays.npz": _zip_bytes({})}, "project.json invalid")
    project("list.slproj", {"project.json": b"[1, 2]", "arrays.npz": _zip_bytes({})}, "project.json a list")
    project("trav.slproj", {"project.json": json.dumps({"version": 2, "scene": "../../../../../../dev/zero"}).encode(),
                            "arrays.npz": _zip_bytes({})}, "project scene path → /dev/zero")
    project("huge_arr.slproj", {"project.json": pj, "arrays.npz": _zip_bytes({"a.npy": _npy_header((10**12,))})},
            "project array header 10^12")
    d = root / "bomb_project"
    d.mkdir(exist_ok=True)
    pb = d / "bomb.slproj"
    if not pb.exists():
        with zipfile.ZipFile(pb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("project.json", pj)
            with z.open("arrays.npz", "w", force_zip64=True) as fh:
                block = bytes(1 << 24)
                for _ in range(bomb_bytes // len(block)):
                    fh.write(block)
    cases.append(Case(pb, "project with a 1.5 GB arrays.npz member", entry="project"))
    # the same hostile grids through `eval occupancy` (which reads grids without engine.io.load) and hostile
    # images through `run attribution` (its own image loader)
    for c in list(cases):
        if c.entry == "render" and c.expect == "reject" and c.path.is_file() and (
                c.path.suffix == ".npz" or c.path.name.startswith("so_") or c.path.suffix == ".label"):
            cases.append(Case(c.path, c.kind + " [eval occupancy]", entry="eval"))
        if c.entry == "render" and c.path.suffix in (".png", ".jpg", ".bmp", ".tif"):
            cases.append(Case(c.path, c.kind + " [run attribution]", entry="image"))
    return cases


def _zip_bytes(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return b.getvalue()
