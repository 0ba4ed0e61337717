"""Point-cloud readers and writers: PLY (plyfile), PCD (ascii/binary, and binary_compressed through pypcd4),
LAS/LAZ (laspy, read), NPY, KITTI/SemanticKITTI and nuScenes `.bin`.

The PLY and PCD writers store coordinates as float32 when that is lossless (clouds read from float32 files)
and as float64 otherwise, so a georeferenced point such as (500000.123, 5000000.456) comes back exactly.

Raw `.bin` scans have no header, so the column count (4 for KITTI, 5 for nuScenes) is decided from the
name, the byte count and, when both fit, from the content (nuScenes' 5th column is an integer ring index).
A SemanticKITTI `.label` next to a scan (same stem, or in the sibling `labels/` folder) is attached as
per-point `label` (training ids) and `instance`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..errors import InputError
from ..labels import get_label_set
from ..scene import PointCloud
from . import register, suffixes

# ----------------------------------------------------------------------------------------------- PLY


@register("ply", "PLY point cloud (ascii or binary)")
def load_ply(path: Path, **opts) -> list[PointCloud]:
    """Vertices of a PLY file. Binary: memory-mapped by plyfile and copied in 512k-row chunks. ASCII: the header
    by plyfile, the vertex rows parsed here in 64k-line blocks with `np.loadtxt` (plyfile's own ASCII reader
    converts value by value in Python: ~10 µs a value). Either way every chunk is a cancel point with progress,
    and the columns go straight into the final arrays (no whole-file structured copy). A vertex element with
    list properties (rare) is read whole by plyfile."""
    from plyfile import PlyData, PlyListProperty, PlyParseError

    from .chunks import CHUNK_ROWS, Ticker, read_text_rows, skip_lines
    from .limits import check_ply_header

    check_ply_header(path)
    try:
        with open(path, "rb") as f:
            header = PlyData._parse_header(f)  # plyfile's header parser; `f` is left at the first data byte
            names_el = [e.name for e in header.elements]
            if "vertex" not in names_el:
                raise InputError(path, "PLY has no 'vertex' element")
            vel = header["vertex"]
            names = tuple(p.name for p in vel.properties)
            if not {"x", "y", "z"} <= set(names):
                raise InputError(path, f"PLY vertices lack x/y/z (fields: {', '.join(names)})")
            has_lists = any(isinstance(p, PlyListProperty) for p in vel.properties)
            if header.text and not has_lists:
                for e in header.elements[:names_el.index("vertex")]:  # elements before the vertices: skip their lines
                    skip_lines(f, e.count, path, "reading PLY header elements")
                n = vel.count
                sink, out = _ply_sink(n, vel.dtype(), names)
                read_text_rows(f, n, vel.dtype(), sink, path, row_name="vertex rows")
                return _ply_layer(path, out, opts)
        ply = PlyData.read(str(path))
    except PlyParseError as e:
        raise InputError(path, f"corrupt PLY ({e})") from None
    except (ValueError, EOFError, IndexError) as e:
        raise InputError(path, f"corrupt PLY ({e})") from None
    v = ply["vertex"].data
    n = len(v)  # binary PLY is memory-mapped by plyfile: copy it in chunks, with cancel points
    sink, out = _ply_sink(n, v.dtype, v.dtype.names or ())
    tick = Ticker(n, "reading points")
    for s in range(0, n, CHUNK_ROWS):
        sink(s, v[s:s + CHUNK_ROWS])
        tick(min(s + CHUNK_ROWS, n))
    return _ply_layer(path, out, opts)


def _ply_sink(n: int, dtype: np.dtype, names):
    """Final arrays for `n` vertices of `dtype` and a sink that copies one block of rows into them."""
    dtype = np.dtype(dtype)
    out: dict[str, np.ndarray] = {"points": np.empty((n, 3), np.float64)}
    groups = []  # (output name, source fields, output dtype)
    if {"red", "green", "blue"} <= set(names):
        groups.append(("rgb", ("red", "green", "blue"), np.uint8))
    if {"nx", "ny", "nz"} <= set(names):
        groups.append(("normal", ("nx", "ny", "nz"), np.float32))
    singles = [k for k in names if k not in ("x", "y", "z", "red", "green", "blue", "nx", "ny", "nz", "alpha")]
    for name, _, dt in groups:
        out[name] = np.empty((n, 3), dt)
    for k in singles:
        out["attr:" + k] = np.empty((n,) + dtype[k].shape, dtype[k].base)

    def sink(s: int, block: np.ndarray) -> None:
        e = s + len(block)
        pts = out["points"]
        for j, c in enumerate("xyz"):
            pts[s:e, j] = block[c]
        for name, fields, _ in groups:
            for j, c in enumerate(fields):
                out[name][s:e, j] = block[c]
        for k in singles:
            out["attr:" + k][s:e] = block[k]

    return sink, out


def _ply_layer(path: Path, out: dict, opts) -> list[PointCloud]:
    attrs = {k: v for k, v in out.items() if k in ("rgb", "normal")}
    for k, v in out.items():
        if k.startswith("attr:"):
            attrs[{"scalar_intensity": "intensity"}.get(k[5:], k[5:])] = v
    return [PointCloud(name=path.name, source=str(path), points=out["points"], attributes=attrs,
                       label_set=opts.get("label_set"))]


@load_ply.sniffer
def _sniff_ply(p: Path, head: bytes) -> int:
    return 100 if head.startswith(b"ply") else 0


def coord_dtype(points: np.ndarray) -> str:
    """'f4' when float32 holds every coordinate exactly, else 'f8' (the writers never round coordinates)."""
    p = np.asarray(points)
    if p.dtype == np.float32 or p.size == 0:
        return "f4"
    with np.errstate(over="ignore", invalid="ignore"):
        return "f4" if np.array_equal(p.astype(np.float32).astype(p.dtype), p, equal_nan=True) else "f8"


def write_ply(path, cloud: PointCloud, binary: bool = True) -> None:
    """Write xyz (+rgb, normal, intensity, label) as PLY, atomically; float64 xyz when float32 would round."""
    from plyfile import PlyData, PlyElement

    c = coord_dtype(cloud.points)
    fields = [("x", c), ("y", c), ("z", c)]
    cols = [cloud.points[:, 0], cloud.points[:, 1], cloud.points[:, 2]]
    a = cloud.attributes
    if "rgb" in a:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        cols += [a["rgb"][:, 0], a["rgb"][:, 1], a["rgb"][:, 2]]
    if "normal" in a:
        fields += [("nx", "f4"), ("ny", "f4"), ("nz", "f4")]
        cols += [a["normal"][:, 0], a["normal"][:, 1], a["normal"][:, 2]]
    for k in ("intensity", "label", "instance", "score"):
        if k in a and a[k].ndim == 1:
            fields.append((k, a[k].dtype.str.lstrip("<>|=")))
            cols.append(a[k])
    arr = np.empty(cloud.n, dtype=fields)
    for (name, _), c in zip(fields, cols):
        arr[name] = c
    with atomic_open(path, "wb") as f:
        PlyData([PlyElement.describe(arr, "vertex")], text=not binary).write(f)


# ----------------------------------------------------------------------------------------------- PCD

PCD_HEADER_MAX = 1 << 20
_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}


@register("pcd", "PCD point cloud (ascii or binary)")
def load_pcd(path: Path, **opts) -> list[PointCloud]:
    with open(path, "rb") as f:  # the header only; binary data is read in chunks below
        raw = f.read(PCD_HEADER_MAX)
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise InputError(path, "PCD header ends before DATA line" if len(raw) < PCD_HEADER_MAX
                             else f"PCD header longer than {PCD_HEADER_MAX:,} bytes without a DATA line")
        line = raw[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
    except (KeyError, ValueError, IndexError) as e:
        raise InputError(path, f"PCD header incomplete or malformed ({e})") from None
    if n < 0 or any(c < 1 for c in counts) or any(s < 1 for s in sizes):
        raise InputError(path, "PCD header has a negative or zero POINTS/COUNT/SIZE")
    if not (len(fields) == len(sizes) == len(types) == len(counts)):
        raise InputError(path, "PCD header FIELDS/SIZE/TYPE/COUNT lengths differ")
    dt = []
    for f, s, t, c in zip(fields, sizes, types, counts):
        if (t.upper(), s) not in _PCD_TYPES:
            raise InputError(path, f"PCD field {f!r} has unsupported TYPE {t} SIZE {s}")
        base = _PCD_TYPES[(t.upper(), s)]
        name = f if f != "_" else f"_pad{len(dt)}"
        dt.append((name, base, (c,)) if c > 1 else (name, base))
    dtype = np.dtype(dt)
    mode = header["DATA"][0].lower() if header["DATA"] else ""
    if mode not in ("ascii", "binary", "binary_compressed"):
        raise InputError(path, f"PCD DATA {mode!r} is not supported (ascii, binary and binary_compressed are)")
    if not {"x", "y", "z"} <= set(dtype.names):
        raise InputError(path, f"PCD lacks x/y/z fields ({', '.join(fields)})")
    from .chunks import read_rows, read_text_rows
    from .limits import check_alloc

    body = path.stat().st_size - pos
    width = sum(int(np.prod(dtype[m].shape or (1,))) for m in dtype.names)  # values per point
    if mode == "ascii" and n * width * 2 > body:  # every value takes at least "0 "
        raise InputError(path, f"PCD header says {n:,} points of {width} values, but {body:,} bytes of ascii data "
                               "cannot hold them (truncated or forged)")
    check_alloc(path, n * (24 + dtype.itemsize), f"{n:,} PCD points")
    kept = [m for m in dtype.names if m not in ("x", "y", "z") and not m.startswith("_pad")]
    cols = {m: np.empty((n,) + dtype[m].shape, dtype[m].base) for m in kept}  # attribute fields, one array each
    pts = np.empty((n, 3), np.float64)

    def sink(s: int, block: np.ndarray) -> None:  # one block of records → the final arrays
        e = s + len(block)
        for j, c in enumerate("xyz"):
            pts[s:e, j] = block[c]
        for m in kept:
            cols[m][s:e] = block[m]

    if mode == "ascii":
        flat_sink = _pcd_text_sink(dtype, width, sink, path)
        with open(path, "rb") as f:
            f.seek(pos)
            got = read_text_rows(f, n, np.float64, flat_sink, path, row_name="rows")
            extra = _count_data_lines(f)
        if extra:
            raise InputError(path, f"PCD header says {n} points, data has {got + extra} rows")
    elif mode == "binary":
        need = n * dtype.itemsize
        if body < need:
            raise InputError(path, f"PCD binary data truncated: {body} bytes for {n} points × {dtype.itemsize}")
        with open(path, "rb") as f:
            f.seek(pos)
            read_rows(f, dtype, n, sink, path, "reading points")
    else:  # LZF, as PCL and Open3D write by default
        _read_compressed_pcd(path, pos, dtype, n, pts, cols)
    return _pcd_layer(path, pts, cols, opts)


def _pcd_text_sink(dtype: np.dtype, width: int, sink, path):
    """Adapt parsed float64 text rows (k values each) to `sink`'s records, cast through each field's type as the
    old whole-file reader did (loadtxt as float64, then assigned into the record array)."""
    def flat_sink(s: int, flat: np.ndarray) -> None:
        if flat.shape[1] != width:
            raise InputError(path, f"PCD ascii row {s + 1:,}: {flat.shape[1]} values, FIELDS/COUNT need {width}")
        rec = np.zeros(len(flat), dtype)
        col = 0
        for name in dtype.names:
            w = dtype[name].shape[0] if dtype[name].shape else 1
            rec[name] = flat[:, col:col + w].reshape(rec[name].shape)
            col += w
        sink(s, rec)

    return flat_sink


def _count_data_lines(f) -> int:
    """Non-blank, non-comment lines left in `f` (rows beyond the header's POINTS), counted without parsing."""
    n = 0
    for line in f:
        t = line.strip()
        if t and not t.startswith(b"#"):
            n += 1
    return n


def _pcd_layer(path: Path, pts: np.ndarray, cols: dict[str, np.ndarray], opts) -> list[PointCloud]:
    """The cloud from float64 points and one array per attribute field: PCL's packed `rgb` float unpacked (in
    chunks), normal_x/y/z stacked, curvature dropped, other fields kept under their names."""
    from .chunks import CHUNK_ROWS, check_cancel

    n = len(pts)
    attrs: dict[str, np.ndarray] = {}
    for name, col in cols.items():
        if name in ("rgb", "rgba") and col.ndim == 1 and col.dtype.itemsize == 4:
            rgb = np.empty((n, 3), np.uint8)
            for s in range(0, n, CHUNK_ROWS):
                packed = np.ascontiguousarray(col[s:s + CHUNK_ROWS]).view(np.uint32)
                rgb[s:s + CHUNK_ROWS] = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], 1)
                check_cancel()
            attrs["rgb"] = rgb
        elif name in ("normal_x", "normal_y", "normal_z", "curvature"):
            continue
        else:
            attrs[name] = col
    if {"normal_x", "normal_y", "normal_z"} <= set(cols):
        nrm = np.empty((n, 3), np.float32)
        for j, c in enumerate(("normal_x", "normal_y", "normal_z")):
            nrm[:, j] = cols[c]
            check_cancel()
        attrs["normal"] = nrm
    # organised clouds pad with NaN: engine.io drops those rows (with a one-line warning giving the count)
    return [PointCloud(name=path.name, source=str(path), points=pts, attributes=attrs,
                       label_set=opts.get("label_set"))]


def _read_compressed_pcd(path: Path, pos: int, dtype: np.dtype, n: int, pts: np.ndarray,
                         cols: dict[str, np.ndarray]) -> None:
    """binary_compressed: two uint32 sizes, then one LZF block holding each field's n values in turn.

    LZF (python-neo-lzf, the decompressor pypcd4 uses) has no streaming API: the payload is decompressed whole
    (no cancel point inside; ~0.1 s per 100 MB here). Its two sizes are checked first — the uncompressed size
    against the header's points × record size (which `load_pcd` has bounded by the memory budget) and the
    compressed size against the file — so a forged file cannot make LZF allocate more. The compressed bytes are
    freed before the fields are converted (field by field, in 512k-row chunks with cancel points) straight from
    views into the decompressed buffer: peak = compressed + decompressed while LZF runs, then decompressed +
    the final arrays."""
    import struct

    import lzf

    from .chunks import CHUNK_ROWS, Ticker, check_cancel

    with open(path, "rb") as f:
        f.seek(pos)
        sizes = f.read(8)
        if n == 0 and not sizes.strip():  # pypcd4 writes no size words for an empty cloud
            return
        if len(sizes) < 8:
            raise InputError(path, "PCD binary_compressed data truncated (no size words)")
        packed, unpacked = struct.unpack("<II", sizes)
        if unpacked != n * dtype.itemsize:
            raise InputError(path, f"PCD binary_compressed holds {unpacked:,} bytes uncompressed; the header's "
                                   f"{n:,} points × {dtype.itemsize} bytes need {n * dtype.itemsize:,}")
        have = path.stat().st_size - pos - 8
        if packed > have:
            raise InputError(path, f"PCD binary_compressed data truncated: {have:,} of {packed:,} bytes")
        comp = f.read(packed)
    check_cancel()
    try:
        buf = lzf.decompress(comp, unpacked) if unpacked else b""
    except Exception as e:  # noqa: BLE001 - lzf raises ValueError/SystemError on corrupt data
        raise InputError(path, f"PCD binary_compressed data unreadable ({type(e).__name__}: {e})") from None
    del comp
    if buf is None or len(buf) != unpacked:
        raise InputError(path, f"PCD binary_compressed data unreadable (LZF gave {len(buf or b''):,} of "
                               f"{unpacked:,} bytes)")
    check_cancel()
    tick = Ticker(len(dtype.names) * max(n, 1), "reading points", 0.3, 0.9)
    off = 0
    for k, name in enumerate(dtype.names):
        fd = dtype[name]
        width = int(np.prod(fd.shape or (1,)))
        view = np.frombuffer(buf, fd.base, n * width, off).reshape((n,) + fd.shape)
        off += n * fd.itemsize
        j = "xyz".find(name) if name in ("x", "y", "z") else -1
        dst = pts[:, j] if j >= 0 else cols.get(name)
        if dst is not None:
            for s in range(0, n, CHUNK_ROWS):
                dst[s:s + CHUNK_ROWS] = view[s:s + CHUNK_ROWS]
                tick(k * n + min(s + CHUNK_ROWS, n))


@load_pcd.sniffer
def _sniff_pcd(p: Path, head: bytes) -> int:
    txt = head[:1024].decode("ascii", "replace")
    if re.search(r"^FIELDS ", txt, re.M) and re.search(r"^DATA ", txt, re.M):
        return 100
    return 10 if p.suffix.lower() == ".pcd" else 0


def write_pcd(path, cloud: PointCloud, binary: bool = True, compressed: bool = False) -> None:
    """Write x y z (+rgb, normals, intensity, label) as PCD v0.7, atomically: binary (default), binary_compressed
    (LZF, through pypcd4) or ascii. Colour is PCL's packed `rgb` float; xyz is float64 when float32 would round
    (PCL, pypcd4 and CloudCompare read those; Open3D 0.20 reads binary float64 fields as zeros: use PLY there)."""
    c = np.dtype(coord_dtype(cloud.points))
    a = cloud.attributes
    names, cols = ["x", "y", "z"], [np.asarray(cloud.points[:, i], c) for i in range(3)]
    if "rgb" in a and a["rgb"].ndim == 2:
        rgb = np.asarray(a["rgb"][:, :3], np.uint32)
        packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
        names.append("rgb")
        cols.append(packed.view(np.float32) if binary else packed)  # ascii: the same bits as an unsigned int
    if "normal" in a and a["normal"].ndim == 2:
        names += ["normal_x", "normal_y", "normal_z"]
        cols += [np.asarray(a["normal"][:, i], np.float32) for i in range(3)]
    for k in ("intensity", "label"):
        if k in a and a[k].ndim == 1:
            names.append(k)
            cols.append(a[k].astype(np.float32 if k == "intensity" else np.uint32))
    if binary:
        from pypcd4 import Encoding
        from pypcd4 import PointCloud as PcdCloud

        pc = PcdCloud.from_points(cols, names, [col.dtype for col in cols])
        with atomic_open(path, "wb") as f:
            pc.save(f, encoding=Encoding.BINARY_COMPRESSED if compressed else Encoding.BINARY)
        return
    kinds = ["F" if col.dtype.kind == "f" else ("I" if col.dtype.kind == "i" else "U") for col in cols]
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {' '.join(names)}\nSIZE {' '.join(str(col.dtype.itemsize) for col in cols)}\n"
        f"TYPE {' '.join(kinds)}\nCOUNT {' '.join('1' for _ in cols)}\n"
        f"WIDTH {cloud.n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {cloud.n}\nDATA ascii\n"
    )
    text = [" ".join(repr(float(v)) if col.dtype.kind == "f" else str(int(v)) for v, col in zip(row, cols))
            for row in zip(*cols)]
    with atomic_open(path, "wb") as f:
        f.write(header.encode())
        f.write(("\n".join(text) + ("\n" if text else "")).encode())


# ----------------------------------------------------------------------------------------------- LAS


@register("las", "LAS / LAZ point cloud (laspy)")
def load_las(path: Path, **opts) -> list[PointCloud]:
    """Scaled float64 coordinates, intensity, ASPRS classification, return numbers, GPS time and RGB (8-bit).

    Read with laspy's `chunk_iterator` (64k points at a time, LAZ decompressed chunk by chunk through lazrs)
    straight into the final arrays: every chunk is a cancel point with progress, and the peak is the result
    plus one chunk's records (laspy.read held every record and its scaled copies at once). 16-bit colour is
    kept as its high and low bytes until the whole file has shown whether any value exceeds 255."""
    import laspy

    from .chunks import LAS_CHUNK_ROWS, Ticker
    from .limits import check_alloc

    try:
        with laspy.open(str(path)) as rd:  # the header first: declared points × record size, before reading
            hdr = rd.header
            n, rec, laz = int(hdr.point_count), int(hdr.point_format.size), hdr.are_points_compressed
            body = path.stat().st_size - int(hdr.offset_to_point_data)
            if not laz and n * rec > body:
                raise InputError(path, f"LAS header declares {n:,} points of {rec} bytes but {max(body, 0):,} bytes "
                                       "follow (truncated or forged)")
            check_alloc(path, n * (rec + 48), f"{n:,} LAS points")
            dims = set(hdr.point_format.dimension_names)
            pts = np.empty((n, 3), np.float64)
            attrs: dict[str, np.ndarray] = {}
            want = [(k, dt) for k, dt in (("intensity", np.float32), ("classification", np.uint8),
                                          ("return_number", np.uint8), ("number_of_returns", np.uint8),
                                          ("gps_time", np.float64)) if k in dims]
            for k, dt in want:
                attrs[k] = np.empty(n, dt)
            colour = {"red", "green", "blue"} <= dims
            if colour:
                hi, lo, top = np.empty((n, 3), np.uint8), np.empty((n, 3), np.uint8), 0
            tick = Ticker(n, "reading points")
            s = 0
            for chunk in rd.chunk_iterator(LAS_CHUNK_ROWS):
                e = s + len(chunk)
                if e > n:
                    raise InputError(path, f"LAS holds more than the {n:,} points its header declares")
                for j, c in enumerate("xyz"):
                    pts[s:e, j] = chunk[c]  # scaled: X × scale + offset, as float64
                for k, _ in want:
                    attrs[k][s:e] = chunk[k]
                if colour:
                    for j, c in enumerate(("red", "green", "blue")):
                        v = np.asarray(chunk[c])
                        top = max(top, int(v.max(initial=0)))
                        hi[s:e, j] = v >> 8
                        lo[s:e, j] = v
                s = e
                tick(s)
            if s != n:
                raise InputError(path, f"LAS data ends after {s:,} of {n:,} points (file truncated)")
    except InputError:
        raise
    except (laspy.errors.LaspyException, ValueError, OSError, EOFError, RuntimeError) as e:
        raise InputError(path, f"unreadable LAS/LAZ ({type(e).__name__}: {e})") from None
    if colour:
        attrs["rgb"] = hi if top > 255 else lo  # LAS stores 16-bit colour; some writers put 8-bit values in it
        del hi, lo
    pc = PointCloud(name=path.name, source=str(path), points=pts, attributes=attrs, label_set=opts.get("label_set"))
    pc.meta["format"] = "laz" if path.suffix.lower() == ".laz" else "las"
    try:
        crs = hdr.parse_crs()  # needs pyproj; optional
    except Exception:  # noqa: BLE001 - a missing pyproj or an odd VLR only loses the CRS note
        crs = None
    if crs is not None:
        pc.meta["crs"] = str(crs)
    return [pc]


@load_las.sniffer
def _sniff_las(p: Path, head: bytes) -> int:
    return 100 if head.startswith(b"LASF") else 0


# ----------------------------------------------------------------------------------------------- NPY


@register("npy-points", "NumPy array of points (N×3 or more columns)")
def load_npy(path: Path, **opts) -> list[PointCloud]:
    from .chunks import read_columns, read_fortran_columns
    from .limits import check_npy_file, read_npy_header

    shape, dtype = check_npy_file(path)
    if len(shape) != 2 or shape[1] < 3 or dtype.kind not in "fiu":
        raise InputError(path, f"expected an N×3 (or N×k, k≥3) numeric array, got {dtype} {shape}")
    n, k = shape
    with open(path, "rb") as f:
        _, fortran, _ = read_npy_header(f)
        extra = {"_3": (3, np.float32)} if k >= 4 else {}
        if k == 6:
            extra["_rgb"] = (slice(3, 6), np.float32)
        if fortran:  # column-major: each column is contiguous, read column by column (engine/io/chunks.py)
            pts, cols = read_fortran_columns(f, dtype, n, k, path, (0, 1, 2), extra)
        else:  # row chunks with cancel points, straight into float64 (see engine/io/chunks.py)
            pts, cols = read_columns(f, np.dtype((dtype, (k,))), n, path, (0, 1, 2), extra)
    attrs = {}
    if k >= 4:
        attrs["intensity"] = np.asarray(cols["_3"], np.float32)
    if k == 6:
        extra = cols["_rgb"]
        if len(extra) and extra.min() >= 0 and extra.max() <= 255:
            attrs = {"rgb": extra.astype(np.uint8)}
    return [PointCloud(name=path.name, source=str(path), points=pts, attributes=attrs,
                       label_set=opts.get("label_set"))]


@load_npy.sniffer
def _sniff_npy(p: Path, head: bytes) -> int:
    if not head.startswith(b"\x93NUMPY"):
        return 0
    m = re.search(rb"'shape':\s*\((\d+),\s*(\d+)\)", head[:256])
    return 60 if m and int(m.group(2)) >= 3 else 20


def write_npy(path, cloud: PointCloud) -> None:
    from ..atomic import save_npy

    save_npy(path, cloud.points)


# ----------------------------------------------------------------------------------------------- BIN


def bin_columns(path: Path, size: int, head: bytes) -> int:
    """4 (KITTI x,y,z,remission) or 5 (nuScenes x,y,z,intensity,ring) float32 columns."""
    if suffixes(path).endswith(".pcd.bin"):
        return 5
    fits4, fits5 = size % 16 == 0, size % 20 == 0
    if fits5 and not fits4:
        return 5
    if fits4 and fits5 and len(head) >= 400:
        a = np.frombuffer(head[: (len(head) // 20) * 20], np.float32).reshape(-1, 5)
        ring = a[:, 4]
        if np.all(np.isfinite(ring)) and np.all(ring == np.round(ring)) and ring.min() >= 0 and ring.max() < 128:
            return 5
    if fits4:
        return 4
    raise ValueError(f"{size} bytes is not a whole number of 4- or 5-float points")


def find_label_file(path: Path) -> Path | None:
    for cand in (path.with_suffix(".label"), path.parent.parent / "labels" / (path.stem + ".label")):
        if cand.exists():
            return cand
    return None


def read_semantickitti_labels(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw semantic id = low 16 bits, instance id = high 16 bits) of a uint32 `.label` file."""
    raw = np.fromfile(path, np.uint32)
    if len(raw) != n:
        raise InputError(path, f"label file has {len(raw)} entries for a scan of {n} points")
    return (raw & 0xFFFF).astype(np.uint16), (raw >> 16).astype(np.uint16)


@register("lidar-bin", "KITTI / SemanticKITTI (.bin, 4 floats) or nuScenes (.pcd.bin, 5 floats) LiDAR scan")
def load_bin(path: Path, **opts) -> list[PointCloud]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4000)
    try:
        ncol = int(opts.get("columns") or bin_columns(path, size, head))
    except ValueError as e:
        raise InputError(path, str(e)) from None
    if size % (4 * ncol):
        raise InputError(path, f"{size} bytes is not a whole number of {ncol}-float points")
    from .chunks import read_columns
    from .limits import finite_rows

    n = size // (4 * ncol)
    extra = {"intensity": (3, np.float32)}
    if ncol == 5:
        extra["ring"] = (4, np.int16)
    with open(path, "rb") as f:  # row chunks with cancel points, straight into float64 (engine/io/chunks.py)
        pts, attrs = read_columns(f, np.dtype((np.float32, (ncol,))), n, path, (0, 1, 2), extra)
    with np.errstate(invalid="ignore"):
        bad = n - int(finite_rows(pts, np.inf).sum())
    if n and bad > n / 2:  # a few NaN are dropped later with a warning; mostly NaN is not a scan
        raise InputError(path, f"{bad:,} of {n:,} points have non-finite coordinates "
                               "(is this really a float32 point file?)")
    label_set = opts.get("label_set")
    lab_path = Path(opts["labels"]) if opts.get("labels") else find_label_file(path)
    if lab_path is not None and ncol == 4:
        sem, inst = read_semantickitti_labels(lab_path, n)
        label_set = label_set or "semantickitti"
        attrs["label"] = get_label_set(label_set).map_raw(sem).astype(np.uint8)
        attrs["raw_label"] = sem
        attrs["instance"] = inst
    pc = PointCloud(name=path.name, source=str(path), points=pts, attributes=attrs, label_set=label_set,
                    frame="lidar")
    pc.meta["format"] = "nuscenes" if ncol == 5 else "kitti"
    if lab_path is not None:
        pc.meta["labels_file"] = str(lab_path)
    return [pc]


@load_bin.sniffer
def _sniff_bin(p: Path, head: bytes) -> int:
    if p.suffix.lower() != ".bin":
        return 0
    try:
        bin_columns(p, p.stat().st_size, head)
    except ValueError:
        return 10  # a .bin we cannot read as points: let the loader say exactly why
    return 30


def write_bin(path, cloud: PointCloud, columns: int = 4) -> None:
    out = np.zeros((cloud.n, columns), np.float32)
    out[:, :3] = cloud.points
    if "intensity" in cloud.attributes:
        out[:, 3] = cloud.attributes["intensity"]
    if columns == 5 and "ring" in cloud.attributes:
        out[:, 4] = cloud.attributes["ring"]
    with atomic_open(path, "wb") as f:
        f.write(out.tobytes())


def write_points(path, cloud: PointCloud) -> None:
    """Write a point cloud in the format its name asks for (.ply, .pcd, .npy, .bin)."""
    s = suffixes(Path(path))
    if s.endswith(".ply"):
        write_ply(path, cloud)
    elif s.endswith(".pcd"):
        write_pcd(path, cloud)
    elif s.endswith(".npy"):
        write_npy(path, cloud)
    elif s.endswith(".pcd.bin"):
        write_bin(path, cloud, 5)
    elif s.endswith(".bin"):
        write_bin(path, cloud, 4)
    else:
        raise InputError(path, "unknown point-cloud extension (use .ply, .pcd, .npy or .bin)")
