"""Format detection and loading: every reader registers itself here with a content sniffer.

`load(path)` picks the reader whose sniffer scores the file highest (content first, the name only as a
tie-breaker), so a mis-named file still loads and a corrupt one fails with an `InputError` naming it.
Reader modules in this package are discovered automatically; a capability adds a format by adding a
module with `@register(...)`, without touching this file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..scene import Layer, Scene
from .limits import check_readable

Sniffer = Callable[[Path, bytes], int]
Loader = Callable[..., "list[Layer] | Scene"]

HEAD_BYTES = 4096


@dataclass
class Reader:
    name: str
    sniff: Sniffer
    load: Loader
    description: str = ""
    folder: bool = False  # reads a directory rather than a file


_READERS: list[Reader] = []


def register(name: str, description: str = "", folder: bool = False):
    """Decorator for `load(path, **options)`; the sniffer is attached with `@<fn>.sniffer`.

    The sniffer gets the path and the first 4 KiB and returns a score: 0 = not mine, 10 = the name fits,
    50 = the content fits, 100 = a magic number matched.
    """

    def deco(fn: Loader):
        reader = Reader(name, lambda p, h: 0, fn, description or (fn.__doc__ or "").strip().split("\n")[0], folder)
        _READERS.append(reader)

        def set_sniffer(s: Sniffer):
            reader.sniff = s
            return s

        fn.sniffer = set_sniffer  # type: ignore[attr-defined]
        fn.reader = reader  # type: ignore[attr-defined]
        return fn

    return deco


def _discover() -> None:
    import sys

    from ..plugins import discovered, entry_point_plugins, import_submodules

    pkg = sys.modules[__name__]
    if not discovered(pkg):
        import_submodules(pkg)
        entry_point_plugins("readers")  # installed plug-ins register with @register when imported


def readers() -> list[Reader]:
    _discover()
    return list(_READERS)


def detect(path: str | os.PathLike) -> Reader:
    """The best reader for `path`, or InputError if none claims it."""
    _discover()
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or folder")
    check_readable(p)  # no devices, FIFOs, /proc, /sys, /dev — even through a link
    head = b""
    if p.is_file():
        try:
            with open(p, "rb") as f:
                head = f.read(HEAD_BYTES)
        except OSError as e:
            raise InputError(p, f"cannot read: {e.strerror}") from None
        if not head:
            raise InputError(p, "file is empty")
        preflight(p, head)
    best, best_score = None, 0
    for r in _READERS:
        if r.folder != p.is_dir():
            continue
        try:
            s = r.sniff(p, head)
        except Exception:  # a sniffer must never break detection of other formats
            s = 0
        if s > best_score:
            best, best_score = r, s
    if best is None:
        kind = "folder" if p.is_dir() else "file"
        raise InputError(p, f"unrecognised {kind} format (supported: {', '.join(sorted({r.name for r in _READERS}))})")
    return best


def preflight(p: Path, head: bytes) -> None:
    """Bounds checked from headers alone, before any reader (or sniffer) allocates: the file's size, zip
    members' uncompressed sizes, .npy and PLY declared shapes, image dimensions (see engine/io/limits.py)."""
    from .limits import check_alloc, check_image_header, check_npy_file, check_ply_header, check_zip

    check_alloc(p, p.stat().st_size, f"reading this {p.stat().st_size:,}-byte file")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        check_zip(p)
    elif head.startswith(b"\x93NUMPY"):
        check_npy_file(p)
    elif head.startswith(b"ply"):
        check_ply_header(p)
    elif head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"BM", b"II*\x00", b"MM\x00*", b"RIFF", b"GIF8")):
        check_image_header(p)


def _read(reader: Reader, p: Path, options: dict):
    """Run a reader; anything it raises becomes one InputError line naming the file (never a traceback)."""
    import warnings

    import numpy as np

    from ..errors import JobCancelled

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # numpy/torch chatter on hostile data; our error says it in one line
            out = reader.load(p, **options)
    except InputError as e:
        if e.path is None:
            raise InputError(p, e.message) from None
        raise
    except (JobCancelled, KeyboardInterrupt):
        raise
    except MemoryError:
        raise InputError(p, f"not a valid {reader.name} file (it needs more memory than there is)") from None
    except RecursionError:
        raise InputError(p, f"not a valid {reader.name} file (nested too deeply)") from None
    except Exception as e:  # noqa: BLE001 - hostile input reaches code paths no reader anticipates
        msg = str(e).splitlines()[0][:200] if str(e) else ""
        raise InputError(p, f"not a valid {reader.name} file ({type(e).__name__}{': ' + msg if msg else ''})") from None
    from .sanitize import sanitize_layers

    sanitize_layers(list(out.layers) if isinstance(out, Scene) else list(out), p)
    return out


def load_layers(path: str | os.PathLike, **options) -> list[Layer]:
    """Read one file or folder into layers; any parse failure becomes an InputError naming the file."""
    reader = detect(path)
    out = _read(reader, Path(path), options)
    if isinstance(out, Scene):
        return list(out.layers)
    return list(out)


def load(path: str | os.PathLike, **options) -> Scene:
    """Open a file or folder as a Scene (a manifest or a reader may return a whole Scene)."""
    reader = detect(path)
    p = Path(path)
    out = _read(reader, p, options)
    if isinstance(out, Scene):
        out.path = out.path or str(p)
        return out
    scene = Scene(name=p.name, layers=list(out), path=str(p))
    scene.meta["format"] = reader.name
    return scene


def suffixes(p: Path) -> str:
    """Lower-cased full suffix chain, e.g. '.pcd.bin'."""
    return "".join(p.suffixes).lower()
