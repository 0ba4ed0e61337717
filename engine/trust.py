"""Model files are data, adapter files are code: what SceneLens loads without asking, and what it needs leave for.

* A checkpoint is read as data: `.safetensors` through safetensors, a TorchScript archive through
  `torch.jit.load` (TorchScript's own unpickler knows only tensors and plain containers), anything else
  through `torch.load(weights_only=True)`. None of these can run code from the file.
* A whole `torch.save`d module is a pickle whose classes are imported and called on load, so it can run
  anything. It is refused with a message that names the opt-in, unless the user trusted that very file:
  `--trust-model` on the CLI, or the GUI's confirmation, which calls `trust_model_file(path)`. Trust is
  keyed by the file's SHA-256, so a file swapped after the confirmation is not trusted.
* An adapter `.py` is Python code by design. The engine keeps a record of adapter files the user has
  confirmed (by hash, in `state_dir()/trusted.json`) so the GUI asks once per file version:
  `is_adapter_trusted(path)` before running one, `trust_adapter(path)` after the user says yes.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from .errors import InputError

TRUST_FILE = "trusted.json"
TRUST_FLAG = "--trust-model"
_lock = threading.Lock()
_session_models: set[str] = set()  # hashes trusted for this process only (CLI flag, GUI "this time")


class UntrustedModelError(InputError):
    """A model file needs unpickling (it can run code) and the user has not trusted it."""


class UntrustedAdapterError(InputError):
    """An adapter `.py` the user has not confirmed, while confirmations are required (the GUI asks first)."""


_confirm_adapters = False  # the GUI turns this on: an adapter file runs only after the user confirmed it


def require_adapter_confirmation(on: bool = True) -> None:
    """Process-wide: refuse adapter files the user has not confirmed (`UntrustedAdapterError`) so the GUI can
    ask once per file version. Off for the CLI and the Python API, where naming the file is the consent."""
    global _confirm_adapters
    _confirm_adapters = bool(on)


def check_adapter(path: str | os.PathLike) -> None:
    """Called before an adapter file is imported; raises when confirmations are required and it has none."""
    if _confirm_adapters and not is_adapter_trusted(path):
        raise UntrustedAdapterError(path, "is an adapter: Python code that runs with your permissions; it runs "
                                          "only after you confirm it (once per file version)")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror}") from None
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ the record


def trust_store_path() -> Path:
    from .project import state_dir

    return state_dir() / TRUST_FILE


def _read_store() -> dict:
    p = trust_store_path()
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"adapters": {}, "models": {}}
    if not isinstance(d, dict):
        return {"adapters": {}, "models": {}}
    return {k: v if isinstance(v := d.get(k), dict) else {} for k in ("adapters", "models")}


def _write_store(d: dict) -> None:
    from .atomic import write_text

    p = trust_store_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text(p, json.dumps(d, indent=1, sort_keys=True))


def _remember(kind: str, path: str | os.PathLike) -> str:
    digest = file_sha256(path)
    with _lock:
        d = _read_store()
        d[kind][digest] = {"path": str(Path(path).resolve()), "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write_store(d)
    return digest


def _forget(kind: str, path: str | os.PathLike) -> None:
    digest = file_sha256(path)
    with _lock:
        d = _read_store()
        if d[kind].pop(digest, None) is not None:
            _write_store(d)


def is_adapter_trusted(path: str | os.PathLike) -> bool:
    """True when the user confirmed this adapter file (this exact content) before."""
    return file_sha256(path) in _read_store()["adapters"]


def trust_adapter(path: str | os.PathLike) -> str:
    """Record the user's confirmation that adapter `path` may run; returns its hash."""
    return _remember("adapters", path)


def forget_adapter(path: str | os.PathLike) -> None:
    _forget("adapters", path)


def trust_model_file(path: str | os.PathLike, remember: bool = False) -> str:
    """Let `path` be unpickled (it may run code) in this process; with `remember`, for later sessions too."""
    digest = _remember("models", path) if remember else file_sha256(path)
    with _lock:
        _session_models.add(digest)
    return digest


def forget_model_file(path: str | os.PathLike) -> None:
    digest = file_sha256(path)
    with _lock:
        _session_models.discard(digest)
    _forget("models", path)


def is_model_trusted(path: str | os.PathLike) -> bool:
    digest = file_sha256(path)
    with _lock:
        if digest in _session_models:
            return True
    return digest in _read_store()["models"]


# ------------------------------------------------------------------------------------------ loading


def model_file_kind(path: str | os.PathLike) -> str:
    """'safetensors', 'torchscript', 'torch-zip' (torch.save, zip format) or 'torch-legacy' (older pickle)."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(16)
    if p.suffix.lower() == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{" and not head.startswith(b"PK")):
        return "safetensors"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "torch-legacy"
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return "torch-zip"
    return "torch-legacy"


def refusal_message() -> str:
    return ("holds a pickled Python object (a whole torch.save'd module); unpickling it can run any code, so it "
            "was not loaded. Save the model as TorchScript (torch.jit.script/trace, then .save) or its weights "
            f"(.safetensors, or a state_dict for an adapter .py) — or, if you trust its source, pass {TRUST_FLAG} "
            "(the GUI asks first)")


def load_model_file(path: str | os.PathLike, device: str = "cpu", trust: bool | None = None) -> Any:
    """What a model file holds, loaded as data: a TorchScript module, or tensors/state dicts.

    A pickle that needs arbitrary globals (a whole module) is unpickled only when `trust` is True, or when
    `trust` is None and the file was trusted through `trust_model_file`; otherwise `UntrustedModelError`."""
    import pickle
    import warnings

    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "model file does not exist")
    kind = model_file_kind(p)
    if kind == "safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - a runtime dependency
            raise InputError(p, "reading .safetensors needs the 'safetensors' package") from None
        try:
            return load_file(str(p), device=device)
        except Exception as e:  # safetensors raises its own SafetensorError for any malformed file
            raise InputError(p, f"not a valid .safetensors file ({type(e).__name__}: {e})") from None
    if kind == "torchscript":
        try:
            return torch.jit.load(str(p), map_location=device)
        except Exception as e:
            raise InputError(p, f"not a loadable TorchScript file ({type(e).__name__})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: our one line says what matters
            return torch.load(str(p), map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Unsupported global" not in str(e) and "GLOBAL" not in str(e):
            raise InputError(p, f"corrupt checkpoint ({str(e).splitlines()[0][:200]})") from None
    except Exception as e:
        raise InputError(p, f"not a TorchScript, safetensors or torch.save file ({type(e).__name__})") from None
    if not (trust if trust is not None else is_model_trusted(p)):
        raise UntrustedModelError(p, refusal_message())
    try:
        return torch.load(str(p), map_location=device, weights_only=False)
    except Exception as e:
        raise InputError(p, f"trusted model failed to unpickle ({type(e).__name__}: {e})") from None
