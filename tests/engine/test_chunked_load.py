"""Big point files are read in chunks that honour Cancel: a 10M-point open stops within ~0.5 s of the click,
and the chunked readers return exactly what a one-shot read gives (chunk boundaries included)."""
import threading
import time

import numpy as np
import pytest

import scenelens.engine.io.chunks as chunks
from scenelens.engine.errors import InputError, JobCancelled
from scenelens.engine.io import load
from scenelens.engine.jobs import Job, JobContext

N_BIG = 10_000_000


def _write_big(path, kind: str, n: int = N_BIG) -> None:
    """A float32 N×4 cloud written block-wise (no N-row array in this test process either)."""
    rng = np.random.default_rng(0)
    block = 1 << 20
    if kind == "npy":
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 4))
        for s in range(0, n, block):
            mm[s:s + block] = rng.normal(size=(min(block, n - s), 4)).astype(np.float32)
        mm.flush()
        del mm
        return
    with open(path, "wb") as f:
        if kind == "pcd":
            f.write((f"VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
                     f"WIDTH {n}\nHEIGHT 1\nPOINTS {n}\nDATA binary\n").encode())
        for s in range(0, n, block):
            f.write(rng.normal(size=(min(block, n - s), 4)).astype(np.float32).tobytes())


def _open_in_job(path):
    """Run `load(path)` as an engine Job on a thread (as the GUI does); returns (ctx, thread, outcome)."""
    ctx = JobContext()
    out: dict = {}

    def run():
        try:
            out["scene"] = Job("open", lambda c: load(path)).run(ctx)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            out["error"] = e
        out["t_end"] = time.perf_counter()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return ctx, th, out


@pytest.mark.parametrize("kind", ["npy", "bin", "pcd"])
def test_cancel_during_a_10m_point_open_returns_quickly(tmp_path, kind):
    path = tmp_path / f"big.{kind}"
    _write_big(path, kind)
    load(_small(tmp_path, kind))  # readers imported, caches warm: what is timed is the read itself
    ctx, th, out = _open_in_job(path)
    seen = time.perf_counter()
    while ctx.fraction < 0.2 and th.is_alive() and time.perf_counter() - seen < 30:
        time.sleep(0.005)  # wait until the read is well under way (progress comes from the chunks)
    assert th.is_alive(), "the read finished before it could be cancelled"
    t_cancel = time.perf_counter()
    ctx.cancel()
    th.join(10)
    assert not th.is_alive()
    assert isinstance(out.get("error"), JobCancelled), out
    lag = out["t_end"] - t_cancel
    assert lag < 0.5, f"{kind}: Cancel honoured after {lag:.2f} s"
    assert "reading points" in ctx.message


def _small(tmp_path, kind: str, n: int = 1000):
    p = tmp_path / f"small.{kind}"
    _write_big(p, kind, n)
    return p


@pytest.mark.parametrize("kind", ["npy", "bin", "pcd"])
def test_chunked_read_equals_one_shot_across_chunk_boundaries(tmp_path, kind, monkeypatch):
    n = 1003
    p = _small(tmp_path, kind, n)
    if kind == "npy":
        ref = np.load(p)
    else:
        raw = p.read_bytes()
        ref = np.frombuffer(raw[len(raw) - n * 16:], np.float32).reshape(n, 4)
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 7)  # 143 full chunks and a short one
    (pc,) = load(p).layers
    assert pc.points.dtype == np.float64 and pc.points.shape == (n, 3)
    np.testing.assert_array_equal(pc.points, ref[:, :3].astype(np.float64))
    np.testing.assert_array_equal(pc.attributes["intensity"], ref[:, 3])


def test_truncated_pcd_names_the_file(tmp_path):
    p = _small(tmp_path, "pcd", 100)
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(InputError, match="small.pcd.*truncated"):
        load(p)


def test_progress_is_reported_while_reading(tmp_path, monkeypatch):
    p = _small(tmp_path, "bin", 50_000)
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(chunks, "PROGRESS_EVERY_S", 0.0)
    seen = []
    ctx = JobContext(on_progress=lambda f, m: seen.append((f, m)))
    Job("open", lambda c: load(p)).run(ctx)
    fr = [f for f, m in seen if m.startswith("reading points")]
    assert len(fr) >= 40 and fr == sorted(fr) and fr[-1] == pytest.approx(0.9)


def test_finite_rows_in_chunks_matches_the_one_shot_rule(monkeypatch):
    import scenelens.engine.io.limits as limits

    rng = np.random.default_rng(3)
    a = rng.normal(size=(10_001, 3))
    a[rng.integers(0, len(a), 50), rng.integers(0, 3, 50)] = np.nan
    a[rng.integers(0, len(a), 20), 0] = np.inf
    a[rng.integers(0, len(a), 20), 1] = 2e9
    monkeypatch.setattr(limits, "FINITE_CHUNK", 333)
    want = (np.isfinite(a) & (np.abs(a) <= 1e9)).all(1)
    np.testing.assert_array_equal(limits.finite_rows(a, 1e9), want)
    np.testing.assert_array_equal(limits.finite_rows(a, np.inf), np.isfinite(a).all(1))


# --------------------------------------------------------------------------------------------------------------
# Session 5: the formats that were read in one go — ASCII PLY/PCD, binary_compressed PCD, LAS/LAZ, Fortran .npy

NEW_KINDS = ["ply-ascii", "pcd-ascii", "pcd-compressed", "las", "laz", "npy-fortran"]
N_NEW_BIG = 5_000_000
_SUFFIX = {"ply-ascii": ".ply", "pcd-ascii": ".pcd", "pcd-compressed": ".pcd", "las": ".las", "laz": ".laz",
           "npy-fortran": ".npy"}


def _cloud(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    xyz = (rng.normal(size=(n, 3)) * 20).astype(np.float32)
    return xyz, rng.random(n).astype(np.float32), rng.integers(0, 256, (n, 3), dtype=np.uint8)


def _text(xyz, inten, rgb=None) -> bytes:
    cols = [xyz[:, 0], xyz[:, 1], xyz[:, 2]] + ([rgb[:, 0], rgb[:, 1], rgb[:, 2]] if rgb is not None else []) + [inten]
    fmt = " ".join(["%.9g"] * 3 + (["%d"] * 3 if rgb is not None else []) + ["%.9g"]) + "\n"
    rows = np.column_stack([c.astype(np.float64) for c in cols]).tolist()
    return "".join(fmt % tuple(r) for r in rows).encode()


def _write_new(path, kind: str, n: int, nan_rows=(), repeat_block: int = 0):
    """A cloud of `kind` (x y z float32, intensity, 8-bit colour where the format has one). `repeat_block`: text
    formats repeat one block of that many rows (big files fast); returns (xyz, intensity, rgb) written."""
    xyz, inten, rgb = _cloud(repeat_block or n)
    if repeat_block:
        reps = -(-n // repeat_block)
        xyz, inten, rgb = (np.concatenate([a] * reps)[:n] for a in (xyz, inten, rgb))
    for i in nan_rows:
        xyz[i, i % 3] = np.nan
    if kind == "ply-ascii":
        with open(path, "wb") as f:
            f.write((f"ply\nformat ascii 1.0\ncomment made by a test\nelement camera 2\nproperty float k\n"
                     f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\n"
                     "property uchar green\nproperty uchar blue\nproperty float intensity\nelement face 1\n"
                     "property list uchar int vertex_indices\nend_header\n1.5\n2.5\n").encode())
            if repeat_block:
                block = _text(xyz[:repeat_block], inten[:repeat_block], rgb[:repeat_block])
                for s in range(0, n, repeat_block):
                    f.write(block if s + repeat_block <= n else _text(xyz[s:n], inten[s:n], rgb[s:n]))
            else:
                f.write(_text(xyz, inten, rgb))
            f.write(b"3 0 1 2\n")
    elif kind == "pcd-ascii":
        with open(path, "wb") as f:
            f.write((f"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z rgb intensity\nSIZE 4 4 4 4 4\nTYPE F F F U F\n"
                     f"COUNT 1 1 1 1 1\nWIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA ascii\n").encode())
            packed = ((rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2])

            def rows(s, e):
                a = np.column_stack([xyz[s:e].astype(np.float64), packed[s:e], inten[s:e]]).tolist()
                return "".join("%.9g %.9g %.9g %d %.9g\n" % tuple(r) for r in a).encode()
            step = repeat_block or n or 1
            block = rows(0, min(step, n))
            for s in range(0, n, step):
                f.write(block if repeat_block and s + step <= n else rows(s, min(s + step, n)))
    elif kind == "pcd-compressed":
        from pypcd4 import Encoding
        from pypcd4 import PointCloud as PcdCloud

        packed = ((rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]).view(np.float32)
        pc = PcdCloud.from_points([xyz[:, 0], xyz[:, 1], xyz[:, 2], inten, packed],
                                  ["x", "y", "z", "intensity", "rgb"], [np.float32] * 5)
        with open(path, "wb") as f:
            pc.save(f, encoding=Encoding.BINARY_COMPRESSED)
    elif kind in ("las", "laz"):
        import laspy

        hdr = laspy.LasHeader(point_format=3, version="1.2")
        hdr.scales, hdr.offsets = np.array([0.001] * 3), np.zeros(3)
        las = laspy.LasData(hdr)
        las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        las.intensity = (inten * 65535).astype(np.uint16)
        las.classification = (np.arange(n) % 10).astype(np.uint8)
        las.return_number = (np.arange(n) % 3 + 1).astype(np.uint8)
        las.gps_time = np.arange(n, dtype=np.float64) * 1e-5
        las.red, las.green, las.blue = (rgb.astype(np.uint16) * 257).T
        las.write(str(path))
    elif kind == "npy-fortran":
        np.save(path, np.asfortranarray(np.column_stack([xyz, inten])))
    return xyz, inten, rgb


def _reference(path, kind: str):
    """What the one-shot libraries give for the file, post-processed as the old readers did."""
    if kind == "ply-ascii":
        from plyfile import PlyData

        v = PlyData.read(str(path))["vertex"].data
        pts = np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float64)
        return pts, {"rgb": np.stack([v["red"], v["green"], v["blue"]], 1).astype(np.uint8),
                     "intensity": np.array(v["intensity"])}
    if kind.startswith("pcd"):
        from pypcd4 import PointCloud as PcdCloud

        d = PcdCloud.from_path(str(path)).pc_data
        packed = np.ascontiguousarray(d["rgb"]).view(np.uint32)
        pts = np.stack([d["x"], d["y"], d["z"]], 1).astype(np.float64)
        rgb = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], 1).astype(np.uint8)
        return pts, {"rgb": rgb, "intensity": np.array(d["intensity"])}
    if kind in ("las", "laz"):
        import laspy

        las = laspy.read(str(path))
        pts = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], 1)
        rgb = np.stack([np.asarray(las.red), np.asarray(las.green), np.asarray(las.blue)], 1).astype(np.uint32)
        return pts, {"intensity": np.asarray(las.intensity, np.float32),
                     "classification": np.asarray(las.classification, np.uint8),
                     "return_number": np.asarray(las.return_number, np.uint8),
                     "number_of_returns": np.asarray(las.number_of_returns, np.uint8),
                     "gps_time": np.asarray(las.gps_time, np.float64), "rgb": (rgb >> 8).astype(np.uint8)}
    a = np.load(path)
    return a[:, :3].astype(np.float64), {"intensity": a[:, 3].astype(np.float32)}


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_new_chunked_readers_equal_the_one_shot_libraries(tmp_path, kind, monkeypatch):
    n = 1003
    p = tmp_path / f"c{_SUFFIX[kind]}"
    xyz, inten, rgb = _write_new(p, kind, n)
    ref_pts, ref_attrs = _reference(p, kind)
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 7)  # 143 full chunks and a short one
    monkeypatch.setattr(chunks, "TEXT_CHUNK_ROWS", 7)
    monkeypatch.setattr(chunks, "LAS_CHUNK_ROWS", 7)
    (pc,) = load(p).layers
    assert pc.points.dtype == np.float64 and pc.points.shape == (n, 3)
    np.testing.assert_array_equal(pc.points, ref_pts)
    assert sorted(pc.attributes) == sorted(ref_attrs)
    for k, v in ref_attrs.items():
        assert pc.attributes[k].dtype == v.dtype, k
        np.testing.assert_array_equal(pc.attributes[k], v, err_msg=k)
    if kind in ("las", "laz"):  # millimetre scale: the coordinates within half a millimetre
        np.testing.assert_allclose(pc.points, xyz, atol=5.1e-4)
    else:  # what was written, exactly (float32 → text with 9 digits → float32 is exact)
        np.testing.assert_array_equal(pc.points, xyz.astype(np.float64))
        np.testing.assert_array_equal(pc.attributes["intensity"], inten)
    if "rgb" in ref_attrs:
        np.testing.assert_array_equal(pc.attributes["rgb"], rgb)


def test_las_8bit_colour_in_16bit_fields_is_kept(tmp_path, monkeypatch):
    """Writers that store 0–255 in LAS's 16-bit colour: kept as is (the decision needs the whole file)."""
    import laspy

    p = tmp_path / "c8.las"
    xyz, _, rgb = _cloud(100)
    las = laspy.LasData(laspy.LasHeader(point_format=3, version="1.2"))
    las.x, las.y, las.z = xyz.T
    las.red, las.green, las.blue = rgb.astype(np.uint16).T
    las.write(str(p))
    monkeypatch.setattr(chunks, "LAS_CHUNK_ROWS", 7)
    (pc,) = load(p).layers
    np.testing.assert_array_equal(pc.attributes["rgb"], rgb)
    las.red[99] = 300  # one value above 255 anywhere (the last chunk): the whole file is 16-bit
    las.write(str(p))
    (pc,) = load(p).layers
    np.testing.assert_array_equal(pc.attributes["rgb"][:99], (rgb[:99].astype(np.uint16) >> 8).astype(np.uint8))


@pytest.mark.parametrize("kind", ["ply-ascii", "pcd-ascii", "pcd-compressed", "npy-fortran"])
def test_nan_rows_are_dropped_with_one_warning(tmp_path, kind, caplog, monkeypatch):
    p = tmp_path / f"nan{_SUFFIX[kind]}"
    xyz, _, _ = _write_new(p, kind, 100, nan_rows=(5, 17, 60))
    monkeypatch.setattr(chunks, "TEXT_CHUNK_ROWS", 9)
    with caplog.at_level("WARNING", logger="scenelens.io"):
        (pc,) = load(p).layers
    assert pc.n == 97
    keep = np.ones(100, bool)
    keep[[5, 17, 60]] = False
    np.testing.assert_array_equal(pc.points, xyz[keep].astype(np.float64))
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 1 and "dropped 3 of 100 points" in lines[0] and p.name in lines[0], lines


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_empty_and_truncated_files_give_one_line_naming_the_file(tmp_path, kind):
    p = tmp_path / f"whole{_SUFFIX[kind]}"
    _write_new(p, kind, 2000)
    data = p.read_bytes()
    cases = {"empty": b"", "truncated": data[: len(data) * 2 // 3]}
    if kind == "ply-ascii":
        cases["cut mid-row"] = data[: data.index(b"\n", len(data) // 2) - 3]
    for what, body in cases.items():
        q = tmp_path / f"{what.replace(' ', '_')}_{kind}{_SUFFIX[kind]}"
        q.write_bytes(body)
        with pytest.raises(InputError) as ei:
            load(q)
        msg = str(ei.value)
        assert q.name in msg and "\n" not in msg, (what, msg)
        if what != "empty" and kind not in ("laz", "pcd-compressed"):
            assert "truncated" in msg or "ends" in msg or "unreadable" in msg, (what, msg)


@pytest.mark.parametrize("kind", ["ply-ascii", "pcd-ascii", "pcd-compressed", "las"])
def test_a_header_with_no_points_is_refused(tmp_path, kind):
    # (an empty N×4 .npy is not here: it is a valid empty SurroundOcc grid, and detected as one)
    p = tmp_path / f"none{_SUFFIX[kind]}"
    _write_new(p, kind, 0)
    with pytest.raises(InputError, match=f"{p.name}.*no points"):
        load(p)


def test_ascii_rows_with_wrong_values_are_refused_with_the_row(tmp_path):
    p = tmp_path / "bad.pcd"
    _write_new(p, "pcd-ascii", 50)
    lines = p.read_bytes().split(b"\n")
    hdr = next(i for i, ln in enumerate(lines) if ln.startswith(b"DATA"))
    lines[hdr + 31] = b"1 2 3"
    p.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match="bad.pcd.*unreadable after 0 rows.*columns"):
        load(p)
    q = tmp_path / "bad.ply"
    _write_new(q, "ply-ascii", 50)
    lines = q.read_bytes().split(b"\n")
    row = lines.index(b"end_header") + 3 + 20  # after two camera rows: vertex row 21
    vals = lines[row].split()
    vals[3] = b"300"  # 'red' is a uchar
    lines[row] = b" ".join(vals)
    q.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match="bad.ply.*unreadable after 0 vertex rows.*300"):
        load(q)
    lines[row] = b" ".join(vals[:-1])  # a value missing
    q.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match="bad.ply.*unreadable after 0 vertex rows.*columns"):
        load(q)
    r = tmp_path / "more.pcd"
    _write_new(r, "pcd-ascii", 50)
    r.write_bytes(r.read_bytes() + b"1 2 3 4 5\n")
    with pytest.raises(InputError, match="more.pcd.*says 50 points, data has 51 rows"):
        load(r)


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_progress_is_reported_more_than_once(tmp_path, kind, monkeypatch):
    p = tmp_path / f"prog{_SUFFIX[kind]}"
    _write_new(p, kind, 5000)
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 500)
    monkeypatch.setattr(chunks, "TEXT_CHUNK_ROWS", 500)
    monkeypatch.setattr(chunks, "LAS_CHUNK_ROWS", 500)
    monkeypatch.setattr(chunks, "PROGRESS_EVERY_S", 0.0)
    seen = []
    ctx = JobContext(on_progress=lambda f, m: seen.append((f, m)))
    Job("open", lambda c: load(p)).run(ctx)
    fr = [f for f, m in seen if m.startswith("reading points")]
    assert len(fr) >= 5 and fr == sorted(fr), seen


@pytest.fixture(scope="module")
def big_new_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("big5m")
    return d


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_cancel_during_a_5m_point_open_of_each_newly_chunked_format(big_new_files, kind):
    path = big_new_files / f"big_{kind}{_SUFFIX[kind]}"
    _write_new(path, kind, N_NEW_BIG, repeat_block=1 << 16)
    small = big_new_files / f"small_{kind}{_SUFFIX[kind]}"
    _write_new(small, kind, 1000)
    load(small)  # readers imported, caches warm: what is timed is the read itself
    ctx, th, out = _open_in_job(path)
    seen = time.perf_counter()
    while not ctx.message.startswith("reading points") and th.is_alive() and time.perf_counter() - seen < 60:
        time.sleep(0.002)  # wait until the read reports progress (compressed PCD: after LZF, converting fields)
    assert th.is_alive(), "the read finished before it could be cancelled"
    time.sleep(0.05)  # well inside the read (the text formats take seconds, the binary ones ~0.3–1 s)
    assert th.is_alive(), "the read finished before it could be cancelled"
    t_cancel = time.perf_counter()
    ctx.cancel()
    th.join(20)
    assert not th.is_alive()
    assert isinstance(out.get("error"), JobCancelled), out
    lag = out["t_end"] - t_cancel
    assert lag < 0.5, f"{kind}: Cancel honoured after {lag:.2f} s"
    print(f"{kind}: cancelled at {ctx.fraction:.0%} ({ctx.message}); honoured after {lag * 1000:.0f} ms")
    path.unlink()
