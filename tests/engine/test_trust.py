"""Model files are data: a pickled payload never runs unless the user trusts that file; adapters are recorded by hash."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scenelens.engine.errors import InputError
from scenelens.engine.trust import (UntrustedModelError, forget_adapter, is_adapter_trusted, is_model_trusted, load_model_file,
                          model_file_kind, trust_adapter, trust_model_file)

ROOT = Path(__file__).resolve().parents[2]


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def evil_checkpoint(tmp_path: Path, name: str = "evil.pt") -> tuple[Path, Path]:
    marker = tmp_path / "PAYLOAD_RAN"
    p = tmp_path / name
    torch.save({"state_dict": {}, "hook": _Payload(marker)}, p)
    assert not marker.exists()
    return p, marker


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    from scenelens.engine.attribution.common import load_user_module

    p, marker = evil_checkpoint(tmp_path)
    with pytest.raises(UntrustedModelError) as e:
        load_user_module(p)
    assert "--trust-model" in str(e.value) and str(p) in str(e.value)
    assert not marker.exists()


def test_trusted_file_is_unpickled_but_only_that_content(tmp_path):
    p = tmp_path / "whole.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)), p)
    assert model_file_kind(p) == "torch-zip"
    with pytest.raises(UntrustedModelError):
        load_model_file(p)
    trust_model_file(p)
    assert is_model_trusted(p)
    m = load_model_file(p)
    assert isinstance(m, torch.nn.Sequential)
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 4)), p)  # swapped after the confirmation
    assert not is_model_trusted(p)
    with pytest.raises(UntrustedModelError):
        load_model_file(p)


def test_torchscript_and_safetensors_load_as_data(tmp_path):
    from safetensors.torch import save_file

    from scenelens.engine.attribution.common import load_user_module

    ts = tmp_path / "m.pt"
    torch.jit.script(torch.nn.Linear(3, 2)).save(str(ts))
    assert model_file_kind(ts) == "torchscript"
    out = load_user_module(ts)(torch.zeros(1, 3))
    assert out.shape == (1, 2)
    st = tmp_path / "w.safetensors"
    save_file({"weight": torch.ones(2, 3)}, str(st))
    d = load_model_file(st)
    assert torch.equal(d["weight"], torch.ones(2, 3))
    with pytest.raises(InputError, match="no runnable module"):
        load_user_module(st)
    sd = tmp_path / "sd.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), sd)
    assert set(load_model_file(sd)) == {"weight", "bias"}
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 40)
    with pytest.raises(InputError, match="safetensors"):
        load_model_file(bad)


def test_adapter_trust_is_recorded_by_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENELENS_STATE_DIR", str(tmp_path / "state"))
    a = tmp_path / "adapter.py"
    a.write_text("class A:\n    def load(self, s, d): pass\n    def predict(self, i, p, c): return 1\n")
    assert not is_adapter_trusted(a)
    trust_adapter(a)
    assert is_adapter_trusted(a)
    assert (tmp_path / "state" / "trusted.json").is_file()
    a.write_text(a.read_text() + "# changed\n")
    assert not is_adapter_trusted(a)
    trust_adapter(a)
    forget_adapter(a)
    assert not is_adapter_trusted(a)


def _run(*args, cwd=ROOT):
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "main.py", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_refuses_pickled_model_and_names_the_opt_in(tmp_path):
    import cv2

    p, marker = evil_checkpoint(tmp_path)
    img = tmp_path / "img.png"
    cv2.imwrite(str(img), (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    r = _run("run", "attribution", str(img), "--method", "gradcam", "--model", str(p), "--out", str(tmp_path / "o"),
             "--device", "cpu")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "%" not in ln]
    assert len(lines) == 1 and "--trust-model" in lines[0] and "evil.pt" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not marker.exists()
    h = _run("run", "attribution", "--help")
    assert "--trust-model" in h.stdout and "Python code" in h.stdout
