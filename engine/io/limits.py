"""Bounds every reader checks before it allocates, and the rules for paths written inside files.

* A memory budget (`SCENELENS_MAX_MEMORY`, e.g. "4G"; default half the machine's RAM, at most 16 GiB):
  a file whose declared counts or shapes need more is refused before anything is allocated. Declared
  sizes are also checked against what the file can hold (a header that promises 10¹² points in 200 bytes).
* Zip archives (npz, projects, checkpoints) are judged by their members' *uncompressed* sizes before any
  member is inflated; Python's zipfile never inflates past a member's declared size, so that bound holds.
* Images: at most `SCENELENS_MAX_PIXELS` pixels (default 2·10⁸), read from the header first.
* JSON: at most `MAX_JSON_DEPTH` levels of nesting and `MAX_JSON_BYTES`; a UTF-8 BOM is accepted.
* Paths inside a file (manifest entries, info-file LiDAR paths, COCO file names) resolve relative to that
  file and may not leave its folder unless the user allows it (`allow_outside_paths(True)`, the CLI's
  `--allow-outside-paths`, or `SCENELENS_ALLOW_OUTSIDE_PATHS=1`). Device files, FIFOs, sockets and
  anything under /proc, /sys or /dev are never read.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import stat
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import InputError

log = logging.getLogger("scenelens.io")

MAX_JSON_DEPTH = 200
MAX_JSON_BYTES = 512 << 20
MAX_ZIP_MEMBERS = 10_000
MAX_COORD = 1e9  # metres: beyond this a coordinate is garbage (and blanks any view it is in)
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")

_allow_outside: contextvars.ContextVar[bool | None] = contextvars.ContextVar("allow_outside", default=None)


def _parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise ValueError(text)
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def memory_budget() -> int:
    """Bytes one file may make SceneLens allocate (`SCENELENS_MAX_MEMORY`, else half the RAM, ≤ 16 GiB)."""
    env = os.environ.get("SCENELENS_MAX_MEMORY")
    if env:
        try:
            return _parse_bytes(env)
        except ValueError:
            log.warning("warning: SCENELENS_MAX_MEMORY=%r is not a size (e.g. 4G); using the default", env)
    try:
        import psutil

        total = psutil.virtual_memory().total
    except Exception:  # noqa: BLE001 - psutil missing or no /proc: a safe constant
        total = 8 << 30
    return int(min(total // 2, 16 << 30))


def max_pixels() -> int:
    try:
        return int(float(os.environ.get("SCENELENS_MAX_PIXELS", "2e8")))
    except ValueError:
        return 200_000_000


def _fmt(n: int | float) -> str:
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def check_alloc(path, nbytes: int | float, what: str) -> None:
    """Refuse `what` when it needs more than the memory budget."""
    budget = memory_budget()
    if nbytes > budget:
        raise InputError(path, f"{what} needs {_fmt(nbytes)}, over the memory budget of {_fmt(budget)} "
                               "(SCENELENS_MAX_MEMORY)")


# ------------------------------------------------------------------------------------------ paths


_allow_outside_global: list[bool | None] = [None]  # the session's choice (CLI flag, GUI setting): every thread


def allow_outside_paths(flag: bool | None) -> None:
    """For the whole process: let paths inside files leave their file's folder (True), forbid it (False) or
    follow SCENELENS_ALLOW_OUTSIDE_PATHS (None). `outside_paths(flag)` overrides it within one context."""
    _allow_outside_global[0] = flag


def outside_paths_allowed() -> bool:
    v = _allow_outside.get()
    if v is None:
        v = _allow_outside_global[0]
    if v is not None:
        return v
    return os.environ.get("SCENELENS_ALLOW_OUTSIDE_PATHS", "").lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def outside_paths(flag: bool):
    tok = _allow_outside.set(flag)
    try:
        yield
    finally:
        _allow_outside.reset(tok)


def check_readable(path: str | os.PathLike, shown: str | os.PathLike | None = None) -> Path:
    """Refuse device files, FIFOs, sockets and /proc, /sys, /dev (after following links); return the path."""
    p = Path(path)
    shown = p if shown is None else shown
    try:
        real = Path(os.path.realpath(p))
        st = os.stat(p)
    except OSError as e:
        raise InputError(shown, f"cannot read: {e.strerror}") from None
    if any(str(real) == r or str(real).startswith(r + "/") for r in FORBIDDEN_ROOTS):
        raise InputError(shown, f"refusing to read {real} (system and device files are never opened)")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        kind = ("a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "special")
        raise InputError(shown, f"is {kind} file, not a regular file")
    return p


def resolve_inside(owner: str | os.PathLike, rel: str, field: str = "path", must_exist: bool = True) -> Path:
    """`rel` (written inside file `owner`) resolved against `owner`'s folder; it may not leave that folder
    unless outside paths are allowed, and never names a device or system file. Errors name `owner`."""
    owner = Path(owner)
    base = owner if owner.is_dir() else owner.parent
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise InputError(owner, f"{field} must be a non-empty path string, got {rel!r:.80}")
    p = Path(os.path.normpath(base / rel))
    real, real_base = Path(os.path.realpath(p)), Path(os.path.realpath(base))
    if not outside_paths_allowed() and real != real_base and real_base not in real.parents:
        raise InputError(owner, f"{field} {rel!r:.200} leaves the folder of this file (allow it with "
                                "--allow-outside-paths or SCENELENS_ALLOW_OUTSIDE_PATHS=1)")
    if any(str(real) == r or str(real).startswith(r + "/") for r in FORBIDDEN_ROOTS):
        raise InputError(owner, f"{field} {rel!r:.200} names a system or device file; refused")
    if must_exist:
        if not p.exists():
            raise InputError(owner, f"{field}: file {rel!r:.200} does not exist")
        try:
            check_readable(p)
        except InputError as e:
            raise InputError(owner, f"{field} {rel!r:.200}: {e.message}") from None
    return p


# ------------------------------------------------------------------------------------------ npy / zip


MAX_NPY_HEADER = 10_000  # numpy's own default (np.load refuses longer headers unless allow_pickle)
_NPY_LENGTH = {(1, 0): "<H", (2, 0): "<I", (3, 0): "<I"}


def _read_exactly(f: IO[bytes], n: int, what: str) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise ValueError(f"truncated .npy {what} ({len(b)} of {n} bytes)")
    return b


def read_npy_header(f: IO[bytes], max_header_size: int = MAX_NPY_HEADER) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy header at `f`, leaving `f` just after it; nothing is allocated
    for the array. Any fault is a ValueError.

    numpy's public API (`read_magic`, `read_array_header_1_0/2_0`, `descr_to_dtype`) does the parsing. The header
    length is checked against `max_header_size` before the header is read: numpy's readers read the declared
    length (up to 4 GiB in version 2/3) first and judge it afterwards. numpy has no public reader for version 3.0
    (version 2.0 with a UTF-8 header, written only for non-Latin-1 field names), so that one is parsed here with
    numpy's own rules: a literal dict with exactly descr/fortran_order/shape, read by `ast.literal_eval`."""
    import ast
    import io

    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version not in _NPY_LENGTH:
        raise ValueError(f"unsupported .npy version {version}")
    prefix = _read_exactly(f, struct.calcsize(_NPY_LENGTH[version]), "header length")
    (length,) = struct.unpack(_NPY_LENGTH[version], prefix)
    if length > max_header_size:
        raise ValueError(f".npy header is {length:,} bytes (limit {max_header_size:,})")
    header = _read_exactly(f, length, "header")
    if version != (3, 0):
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        try:
            return read(io.BytesIO(prefix + header), max_header_size=max_header_size)
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - numpy's Python-2 header repair lets SyntaxError, TokenError... out
            raise ValueError(f"cannot parse .npy header ({type(e).__name__})") from None
    try:
        d = ast.literal_eval(header.decode("utf-8"))
    except (UnicodeDecodeError, SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(f"cannot parse .npy header ({type(e).__name__})") from None
    if not isinstance(d, dict) or d.keys() != {"descr", "fortran_order", "shape"}:
        raise ValueError(".npy header is not a dict of descr, fortran_order and shape")
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape):
        raise ValueError(f".npy header shape is not a tuple of ints: {shape!r:.80}")
    if not isinstance(fortran, bool):
        raise ValueError(f".npy header fortran_order is not a bool: {fortran!r:.80}")
    try:
        dtype = fmt.descr_to_dtype(d["descr"])
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise ValueError(f".npy header descr is not a dtype ({type(e).__name__})") from None
    return shape, fortran, dtype


def check_npy_stream(owner, f: IO[bytes], available: int, what: str = "array") -> tuple[tuple[int, ...], np.dtype]:
    """Validate a .npy header read from `f` against the bytes that follow it and the memory budget."""
    try:
        start = f.tell() if f.seekable() else 0
        shape, _, dtype = read_npy_header(f)
        hdr = (f.tell() - start) if f.seekable() else 0
    except Exception as e:  # noqa: BLE001 - numpy raises ValueError, SyntaxError, TokenError, struct.error ...
        raise InputError(owner, f"{what}: unreadable .npy header ({type(e).__name__})") from None
    if dtype.hasobject:
        raise InputError(owner, f"{what} holds Python objects (a pickle); refused: objects in a data file can run code")
    if any(int(s) < 0 for s in shape):
        raise InputError(owner, f"{what}: negative dimension in shape {shape}")
    nbytes = int(np.prod([int(s) for s in shape], dtype=object)) * dtype.itemsize
    if available >= 0 and nbytes > available - hdr:
        raise InputError(owner, f"{what}: header declares shape {shape} of {dtype} ({_fmt(nbytes)}) but only "
                                f"{_fmt(max(available - hdr, 0))} follow (truncated or forged)")
    check_alloc(owner, nbytes, f"{what} of shape {shape}")
    return tuple(int(s) for s in shape), dtype


def check_npy_file(path: Path, shown=None) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as f:
        return check_npy_stream(shown or path, f, os.fstat(f.fileno()).st_size)


def check_zip(path: Path, shown=None, depth: int = 0) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Refuse a zip whose members, declared uncompressed, exceed the budget, or whose .npy members' headers
    promise more than their member holds. Nothing but headers is inflated. Returns {member stem: (shape, dtype)}
    of the .npy members, so a reader can judge shapes before loading anything."""
    shown = shown or path
    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise InputError(shown, f"zip archive has {len(infos):,} members (limit {MAX_ZIP_MEMBERS:,})")
            total = sum(i.file_size for i in infos)
            check_alloc(shown, total, f"zip archive ({len(infos)} members, uncompressed)")
            for i in infos:
                if i.flag_bits & 0x1:
                    raise InputError(shown, f"zip member {i.filename!r} is encrypted")
                if i.filename.endswith(".npy"):
                    if not i.file_size:
                        raise InputError(shown, f"zip member {i.filename!r} is empty (not a .npy array)")
                    with z.open(i) as f:
                        headers[i.filename[:-4]] = check_npy_stream(shown, _Counted(f), i.file_size,
                                                                    f"member {i.filename!r}")
                elif i.filename.endswith(".npz") and depth == 0 and i.file_size:
                    import io

                    check_zip_bytes(read_member(z, i), shown, f"member {i.filename!r}")
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError, struct.error) as e:
        raise InputError(shown, f"corrupt or unsupported zip archive ({type(e).__name__}: {str(e)[:120]})") from None
    return headers


def read_member(z: zipfile.ZipFile, member, chunk: int = 1 << 22):
    """A zip member inflated into a BytesIO 4 MiB at a time. `ZipFile.read` hands back one bytes object, and
    its last step holds the GIL ~0.1 s for a 130 MB member (a .slproj's arrays.npz of a 10M-point cloud):
    the GUI thread froze that long while a job opened a project. Piecewise, no step holds it over ~20 ms."""
    import io

    out = io.BytesIO()
    with z.open(member) as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            out.write(b)
    out.seek(0)
    return out


def check_zip_bytes(data, shown, what: str) -> None:
    import io

    try:
        check_zip(data if isinstance(data, io.BytesIO) else io.BytesIO(data), shown, depth=1)  # type: ignore[arg-type]
    except InputError as e:
        raise InputError(shown, f"{what}: {e.message}") from None


class _Counted:
    """A non-seekable zip member stream with tell() (to measure a .npy header's length)."""

    def __init__(self, f):
        self.f, self.n = f, 0

    def read(self, k=-1):
        b = self.f.read(k)
        self.n += len(b)
        return b

    def tell(self):
        return self.n

    def seekable(self):
        return True

    def readline(self, k=-1):
        b = self.f.readline(k)
        self.n += len(b)
        return b


# ------------------------------------------------------------------------------------------ images


def check_image_header(path, data: bytes | None = None) -> tuple[int, int] | None:
    """(width, height) from the image header, refusing more than `max_pixels()`; None when PIL cannot tell."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, with a message
    try:
        import io

        src = io.BytesIO(data) if data is not None else str(path)
        with Image.open(src) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - a format PIL does not know; OpenCV decides (under its own limit)
        return None
    if w <= 0 or h <= 0:
        raise InputError(path, f"image header declares {w}×{h} pixels")
    limit = max_pixels()
    if w * h > limit:
        raise InputError(path, f"image is {w:,}×{h:,} = {w * h:,} pixels, over the limit of {limit:,} "
                               "(SCENELENS_MAX_PIXELS)")
    return w, h


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what C libraries (libpng, FFmpeg, OpenCV) print on fd 2 while they decode; our own error says
    what went wrong in one line instead."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


# ------------------------------------------------------------------------------------------ JSON


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings (iterative: no recursion however deep)."""
    stripped = re.sub(r'"[^"\\]*(?:\\.[^"\\]*)*"', '""', text)  # unrolled: no backtracking stack
    b = np.frombuffer(stripped.encode("utf-8", "replace"), np.uint8)
    step = np.zeros(len(b), np.int32)
    step[(b == ord("[")) | (b == ord("{"))] = 1
    step[(b == ord("]")) | (b == ord("}"))] = -1
    return int(np.cumsum(step).max()) if len(step) else 0


def load_json(path: str | os.PathLike, data: bytes | str | None = None, what: str = "JSON",
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON file (or `data` read from it) with size and depth limits; a UTF-8 BOM is accepted."""
    if data is None:
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise InputError(path, f"cannot read: {e.strerror}") from None
        if size > MAX_JSON_BYTES:
            raise InputError(path, f"{what} file is {_fmt(size)} (limit {_fmt(MAX_JSON_BYTES)})")
        data = Path(path).read_bytes()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(path, f"{what} is not UTF-8 text (byte {e.start})") from None
    data = data.lstrip("\ufeff")
    depth = json_depth(data)
    if depth > max_depth:
        raise InputError(path, f"{what} is nested {depth} levels deep (limit {max_depth})")
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise InputError(path, f"invalid {what} ({e})") from None
    except RecursionError:
        raise InputError(path, f"{what} is nested too deeply") from None


# ------------------------------------------------------------------------------------------ PLY header


_PLY_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
              "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}


def check_ply_header(path: Path) -> None:
    """Declared element counts × row sizes against the file's size and the memory budget (before plyfile)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    end = head.find(b"end_header")
    if end < 0:
        raise InputError(path, "PLY header has no end_header (in the first MiB)")
    lines = head[:end].decode("ascii", "replace").splitlines()
    fmt = next((ln.split()[1] for ln in lines if ln.startswith("format ") and len(ln.split()) > 1), "")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputError(path, f"PLY format {fmt!r} is not ascii/binary_little_endian/binary_big_endian")
    elements: list[list] = []
    for ln in lines:
        parts = ln.split()
        if parts[:1] == ["element"]:
            if len(parts) != 3 or not re.fullmatch(r"\d+", parts[2]):
                raise InputError(path, f"PLY element line {ln.strip()!r:.80} needs a name and a non-negative count")
            elements.append([parts[1], int(parts[2]), 0, False])
        elif parts[:1] == ["property"] and elements:
            if len(parts) >= 2 and parts[1] == "list":
                elements[-1][3] = True
                elements[-1][2] += _PLY_SIZES.get(parts[2] if len(parts) > 2 else "", 1)
            else:
                elements[-1][2] += _PLY_SIZES.get(parts[1] if len(parts) > 1 else "", 1)
    body = size - end
    need = 0
    for name, count, row, _ in elements:
        per = max(row, 1) if fmt != "ascii" else 2 * max(1, row // 8 or 1)  # ascii: ≥ "0 " per value
        need += count * per
        if count * per > body:
            raise InputError(path, f"PLY declares {count:,} '{name}' rows (≥ {_fmt(count * per)}) but the file "
                                   f"holds {_fmt(body)} after its header (truncated or forged)")
    rows = sum(c * max(r, 1) for _, c, r, _ in elements)
    check_alloc(path, rows * 3, "PLY data")  # plyfile's arrays plus our float64 copy


# ------------------------------------------------------------------------------------------ finite values


FINITE_CHUNK = 1 << 19


def finite_rows(a: np.ndarray, limit: float = MAX_COORD) -> np.ndarray:
    """Mask of rows whose values are all finite and within ±limit. In row chunks (a cancel point each), so a
    50M-point cloud needs a 50 MB mask and the temporaries of one chunk of one column (512k values), not an
    N×3 float copy."""
    from .chunks import check_cancel

    a = np.asarray(a)
    if a.dtype.kind not in "fc":
        return np.ones(len(a), bool)
    out = np.empty(len(a), bool)
    if not len(a):
        return out
    flat = a.reshape(len(a), -1)
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(0, len(a), FINITE_CHUNK):
            ok = out[s:s + FINITE_CHUNK]
            ok[:] = True
            for j in range(flat.shape[1]):  # one column at a time: the temporaries are one chunk of one column
                col = flat[s:s + FINITE_CHUNK, j]
                ok &= np.abs(col) <= limit  # False for NaN; Inf fails unless limit is inf
                if limit == np.inf:
                    ok &= np.isfinite(col)
            check_cancel()
    return out


def check_finite(owner, arr, what: str) -> np.ndarray:
    """`arr` as float, refusing any non-finite value (poses, intrinsics, offsets) with the count."""
    a = np.asarray(arr, float)
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise InputError(owner, f"{what} has {bad} non-finite value{'s' if bad != 1 else ''} (NaN or Inf)")
    return a
