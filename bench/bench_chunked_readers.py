"""Old one-shot vs chunked point readers (issue 11): read time and peak memory per format, in one run.

    .venv/bin/python bench/bench_chunked_readers.py [--n 5000000] [--old REV] [--formats ply-ascii,...]

Writes a synthetic cloud (float32 x y z intensity, plus 8-bit colour where the format has it) in each format
that Session 5 made chunked — ASCII PLY, ASCII PCD, binary_compressed PCD, LAS, LAZ, Fortran-order `.npy` —
then reads each file with the reader as it was at git revision `--old` (loaded from `git show`) and with the
current one, alternately (old, new, old, new with `--repeat 2`), each read in a fresh process. Per read it
prints wall time, tracemalloc's peak (numpy's allocations are traced) and the peak RSS growth (VmHWM after a
reset through /proc/self/clear_refs), both also as
(peak − final float64 points) / raw float32 N×3 — the issue's "≤ 2.5× the raw array" measure — and checks
that old and new give identical points and attributes. `uptime`'s load average is printed with every row.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ["ply-ascii", "pcd-ascii", "pcd-compressed", "las", "laz", "npy-fortran"]
DEFAULT_OLD = "a4ef754"  # main before the Session 5 readers


def load_avg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cloud(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xyz = (rng.normal(size=(n, 3)) * 20).astype(np.float32)
    inten = rng.random(n).astype(np.float32)
    rgb = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    return xyz, inten, rgb


def _text_rows(f, cols: list[np.ndarray], fmts: list[str], n: int, block: int = 1 << 16) -> None:
    fmt = " ".join(fmts) + "\n"
    for s in range(0, n, block):
        e = min(s + block, n)
        rows = np.column_stack([c[s:e].astype(np.float64) for c in cols])
        f.write("".join(fmt % tuple(r) for r in rows.tolist()).encode())


def write_file(kind: str, path: Path, n: int) -> None:
    """One synthetic file of `kind` with n points."""
    xyz, inten, rgb = _cloud(n)
    if kind == "ply-ascii":
        with open(path, "wb") as f:
            f.write((f"ply\nformat ascii 1.0\nelement vertex {n}\nproperty float x\nproperty float y\n"
                     "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
                     "property float intensity\nend_header\n").encode())
            _text_rows(f, [xyz[:, 0], xyz[:, 1], xyz[:, 2], rgb[:, 0], rgb[:, 1], rgb[:, 2], inten],
                       ["%.9g"] * 3 + ["%d"] * 3 + ["%.9g"], n)
    elif kind == "pcd-ascii":
        with open(path, "wb") as f:
            f.write((f"VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
                     f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA ascii\n").encode())
            _text_rows(f, [xyz[:, 0], xyz[:, 1], xyz[:, 2], inten], ["%.9g"] * 4, n)
    elif kind == "pcd-compressed":
        from pypcd4 import Encoding
        from pypcd4 import PointCloud as PcdCloud

        packed = ((rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]).view(np.float32)
        pc = PcdCloud.from_points([xyz[:, 0], xyz[:, 1], xyz[:, 2], inten, packed], ["x", "y", "z", "intensity", "rgb"],
                                  [np.float32] * 5)
        with open(path, "wb") as f:
            pc.save(f, encoding=Encoding.BINARY_COMPRESSED)
    elif kind in ("las", "laz"):
        import laspy

        hdr = laspy.LasHeader(point_format=3, version="1.2")
        hdr.scales = np.array([0.001, 0.001, 0.001])
        hdr.offsets = np.array([0.0, 0.0, 0.0])
        las = laspy.LasData(hdr)
        las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        las.intensity = (inten * 65535).astype(np.uint16)
        las.classification = (np.arange(n) % 10).astype(np.uint8)
        las.gps_time = np.arange(n, dtype=np.float64) * 1e-5
        las.red, las.green, las.blue = (rgb.astype(np.uint16) * 257).T
        las.write(str(path))
    elif kind == "npy-fortran":
        a = np.asfortranarray(np.column_stack([xyz, inten]))
        np.save(path, a)
    else:
        raise ValueError(kind)


def _reader(kind: str, mod):
    return {"ply-ascii": mod.load_ply, "pcd-ascii": mod.load_pcd, "pcd-compressed": mod.load_pcd,
            "las": mod.load_las, "laz": mod.load_las, "npy-fortran": mod.load_npy}[kind]


def _old_module(rev: str):
    """engine/io/pointcloud.py as it was at `rev`, imported beside the current one (its readers not registered)."""
    import importlib.util

    import scenelens.engine.io as io_pkg

    src = subprocess.run(["git", "show", f"{rev}:engine/io/pointcloud.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "pointcloud_old.py"
    path.write_text(src)

    def no_register(*a, **k):
        def deco(fn):
            fn.sniffer = lambda s: s
            return fn
        return deco

    real = io_pkg.register
    io_pkg.register = no_register
    try:
        spec = importlib.util.spec_from_file_location("scenelens.engine.io._pointcloud_old", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    finally:
        io_pkg.register = real
    return mod


def _vm(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak_rss() -> int:
    """Reset this process's peak RSS (VmHWM; `ru_maxrss` keeps the parent's peak across fork+exec) → RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _vm("VmRSS")


def child(kind: str, impl: str, path: str, rev: str, dump: str) -> None:
    """One read in this (fresh) process; prints a JSON line."""
    import tracemalloc

    from scenelens.engine.io import pointcloud as new_mod
    from scenelens.engine.io.sanitize import sanitize_layers

    mod = _old_module(rev) if impl == "old" else new_mod
    fn = _reader(kind, mod)
    import plyfile  # noqa: F401 - imports out of the timed part
    import laspy  # noqa: F401
    import pypcd4  # noqa: F401

    rss0 = _reset_peak_rss()
    tracemalloc.start()
    t = time.perf_counter()
    (pc,) = fn(Path(path))
    sanitize_layers([pc], path)
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _vm("VmHWM") - rss0
    out_bytes = pc.points.nbytes + sum(a.nbytes for a in pc.attributes.values())
    if dump:
        np.savez(dump, points=pc.points, **{f"a_{k}": v for k, v in pc.attributes.items()})
    print(json.dumps({"s": dt, "trace_peak": peak, "rss_peak": rss_peak,
                      "points": pc.points.nbytes, "outputs": out_bytes, "n": pc.n}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--old", default=DEFAULT_OLD)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_chunked_"))
    raw = a.n * 12
    print(f"n = {a.n:,} points; raw float32 N×3 = {raw / 2**20:.1f} MiB; old = {a.old}; load {load_avg()}")
    print(f"{'format':15s} {'impl':4s} {'read s':>8s} {'trace MiB':>10s} {'(tr-pts)/raw':>12s} "
          f"{'RSS+ MiB':>9s} {'(rss-pts)/raw':>13s}  load")
    for kind in a.formats.split(","):
        suffix = {"ply-ascii": ".ply", "pcd-ascii": ".pcd", "pcd-compressed": ".pcd", "las": ".las", "laz": ".laz",
                  "npy-fortran": ".npy"}[kind]
        path = tmp / f"cloud_{kind}{suffix}"
        t = time.perf_counter()
        write_file(kind, path, a.n)
        print(f"# {kind}: wrote {path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.1f} s")
        res: dict[str, list] = {"old": [], "new": []}
        for r in range(a.repeat):
            for impl in ("old", "new"):
                dump = str(tmp / f"{kind}_{impl}.npz") if r == 0 else ""
                p = subprocess.run([sys.executable, __file__, "--child", kind, impl, str(path), a.old, dump],
                                   capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                if p.returncode:
                    print(f"{kind:15s} {impl:4s} FAILED: {(p.stderr.strip().splitlines() or ['?'])[-1][:200]}")
                    continue
                m = json.loads(p.stdout.strip().splitlines()[-1])
                res[impl].append(m)
                print(f"{kind:15s} {impl:4s} {m['s']:8.2f} {m['trace_peak'] / 2**20:10.0f} "
                      f"{(m['trace_peak'] - m['points']) / raw:12.2f} {m['rss_peak'] / 2**20:9.0f} "
                      f"{(m['rss_peak'] - m['points']) / raw:13.2f}  {load_avg()}", flush=True)
        if res["old"] and res["new"]:
            o, nw = np.load(tmp / f"{kind}_old.npz"), np.load(tmp / f"{kind}_new.npz")
            same = sorted(o.files) == sorted(nw.files) and all(
                o[k].dtype == nw[k].dtype and np.array_equal(o[k], nw[k], equal_nan=True) for k in o.files)
            so, sn = min(x["s"] for x in res["old"]), min(x["s"] for x in res["new"])
            to = min(x["trace_peak"] for x in res["old"])
            tn = min(x["trace_peak"] for x in res["new"])
            print(f"# {kind}: old/new read time {so / sn:.2f}×, traced peak {to / tn:.2f}×; "
                  f"identical results: {same}" + ("" if same else f" (keys {sorted(o.files)} vs {sorted(nw.files)})"))
        for f in tmp.glob(f"*{kind}*"):
            f.unlink()


if __name__ == "__main__":
    main()
