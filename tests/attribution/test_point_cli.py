"""`run attribution CLOUD --points …` and the model contracts (TorchScript, adapter .py + state_dict/.safetensors,
trusted pickle) for point and voxel models, through the real CLI (subprocess: exit codes and stderr lines).

The adapter's model reads only the points inside a known box, so a correct attribution puts (almost) all its
mass there; the same weights loaded three ways must give the same scores.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

ADAPTER = '''
import torch

class Box(torch.nn.Module):
    """Logits = sum over points inside [0.4, 1]^3 (steep window) of tanh(A [xyz, intensity])."""
    def __init__(self, c=4, k=3):
        super().__init__()
        self.A = torch.nn.Parameter(torch.zeros(c, k))

    def forward(self, x):
        xyz = x[..., :3]
        w = (torch.sigmoid(40 * (xyz - 0.4)) * torch.sigmoid(40 * (1.0 - xyz))).prod(-1)
        return (w[..., None] * torch.tanh(x @ self.A)).sum(1)

def build_model():
    return Box()
'''


def _adapter(tmp_path, text=ADAPTER, name="box_adapter.py"):
    p = tmp_path / name
    p.write_text(text)
    spec = importlib.util.spec_from_file_location(name[:-3], p)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name[:-3]] = mod  # so torch.save can pickle its class by module name (the trusted-pickle case)
    spec.loader.exec_module(mod)
    return p, mod


def _cloud(tmp_path, n=400, seed=0):
    from scenelens.engine.io.pointcloud import write_ply
    from scenelens.engine.scene import PointCloud

    rng = np.random.default_rng(seed)
    p_in = rng.uniform(0.5, 1.0, (n // 10, 3))
    p_out = rng.uniform(-1, 1, (6 * n, 3))
    p_out = p_out[~(p_out > 0.25).all(1)][: n - len(p_in)]
    pts = np.concatenate([p_out, p_in])
    inside = np.r_[np.zeros(len(p_out), bool), np.ones(len(p_in), bool)]
    path = tmp_path / "scan.ply"
    write_ply(path, PointCloud(name="scan", points=pts, attributes={"intensity": rng.uniform(0, 1, len(pts)).astype(np.float32)}))
    return path, inside


def _run(*args, cwd=ROOT, pythonpath=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    if pythonpath:  # where the pickled module's class can be imported from
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "attribution", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pointcli")
    adapter, mod = _adapter(tmp)
    model = mod.build_model()
    with torch.no_grad():
        model.A.copy_(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    torch.jit.script(model).save(str(tmp / "box_ts.pt"))
    torch.save(model.state_dict(), str(tmp / "box_state.pt"))
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(tmp / "box.safetensors"))
    torch.save(model, str(tmp / "box_pickled.pt"))
    cloud, inside = _cloud(tmp)
    return tmp, adapter, cloud, inside


def _scores(out):
    return np.load(out / "point_scores.npy")


def test_three_contracts_give_the_same_faithful_scores(files):
    tmp, adapter, cloud, inside = files
    runs = {"torchscript": ["--model", tmp / "box_ts.pt"],
            "state_dict": ["--model", adapter, "--weights", tmp / "box_state.pt"],
            "safetensors": ["--model", adapter, "--weights", tmp / "box.safetensors"]}
    got = {}
    for name, model_args in runs.items():
        out = tmp / f"out_{name}"
        r = _run(cloud, "--points", *model_args, "--target", "1", "--channels", "intensity", "--out", out)
        assert r.returncode == 0, (name, r.stderr)
        assert "completeness gap" in r.stdout and "wrote" in r.stdout
        s = _scores(out)
        assert s.shape == (len(inside),)
        a = np.abs(s)
        assert a[inside].sum() / a.sum() > 0.99, name  # the mass lies on the points the model reads
        m = json.loads((out / "metrics.json").read_text())
        assert m["relative_error"] < 0.01 and m["channels"] == ["x", "y", "z", "intensity"]
        assert (out / "attribution.ply").is_file() and (out / "colorbar.png").is_file()
        got[name] = s
    np.testing.assert_allclose(got["state_dict"], got["torchscript"], atol=1e-6)
    np.testing.assert_allclose(got["safetensors"], got["torchscript"], atol=1e-6)
    # the PLY carries the scores for any point viewer
    from scenelens.engine import io as eio

    lay = eio.load(tmp / "out_torchscript" / "attribution.ply").layers[0]
    np.testing.assert_allclose(lay.attributes["score"], got["torchscript"], atol=1e-6)


def _err(r):
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_clear_errors(files, tmp_path):
    tmp, adapter, cloud, _ = files
    base = [cloud, "--points", "--target", "1", "--channels", "intensity", "--out", tmp_path / "o"]
    line = _err(_run(*base, "--model", tmp / "box_state.pt"))
    assert "box_state.pt" in line and "--weights" in line and "state_dict" in line
    line = _err(_run(*base, "--model", tmp / "box_pickled.pt"))
    assert "box_pickled.pt" in line and "--trust-model" in line
    r = _run(*base, "--model", tmp / "box_pickled.pt", "--trust-model", pythonpath=tmp)
    assert r.returncode == 0, r.stderr
    line = _err(_run(*base, "--model", tmp / "box_ts.pt", "--weights", tmp / "box_state.pt"))
    assert "adapter" in line
    wrong, _ = _adapter(tmp_path, ADAPTER.replace("c=4, k=3", "c=4, k=5"), "wrong.py")
    line = _err(_run(*base, "--model", wrong, "--weights", tmp / "box_state.pt"))
    assert "box_state.pt" in line and "do not fit" in line
    nobuild, _ = _adapter(tmp_path, "import torch\nX = 1\n", "nobuild.py")
    line = _err(_run(*base, "--model", nobuild))
    assert "nobuild.py" in line and "build_model" in line
    line = _err(_run(cloud, "--points", "--model", tmp / "box_ts.pt", "--out", tmp_path / "o"))
    assert "--target" in line
    line = _err(_run(*base, "--model", tmp / "box_ts.pt", "--weights", tmp / "box_ts.pt"))
    line = _err(_run(cloud, "--points", "--model", tmp / "box_ts.pt", "--target", "1", "--out", tmp_path / "o"))
    assert "box_ts.pt" in line and "failed" in line  # 3 channels where the model wants 4
    line = _err(_run(tmp_path / "missing.ply", *base[1:], "--model", tmp / "box_ts.pt"))
    assert "missing.ply" in line


def test_voxel_model_adapter_with_weights(tmp_path):
    """The same contract for a user's voxel model (engine path; the voxel CLI passes --weights through)."""
    from scenelens.engine.attribution.voxel_explain import load_voxel_model

    text = ("import torch\n"
            "def build_model():\n"
            "    return torch.nn.Conv3d(1, 3, 3, padding=1)\n")
    adapter, mod = _adapter(tmp_path, text, "vox.py")
    net = mod.build_model()
    torch.save(net.state_dict(), str(tmp_path / "vox_state.pt"))
    m = load_voxel_model(adapter, weights=tmp_path / "vox_state.pt")
    x = torch.rand(1, 1, 4, 5, 6)
    assert torch.allclose(m(x), net(x)) and not any(p.requires_grad for p in m.parameters())
    from scenelens.engine.errors import InputError

    with pytest.raises(InputError, match="state_dict"):
        load_voxel_model(tmp_path / "vox_state.pt")


def test_classifier_adapter_file(tmp_path):
    """Image classifiers take the same contract: an adapter .py whose build_model() loads its own WEIGHTS."""
    from scenelens.engine.attribution.classifier import load_classifier
    from scenelens.engine.errors import InputError

    text = ("import torch\n"
            "WEIGHTS = 'clf_state.pt'\n"
            "def build_model():\n"
            "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())\n")
    adapter, mod = _adapter(tmp_path, text, "clf.py")
    net = mod.build_model()
    torch.save(net.state_dict(), str(tmp_path / "clf_state.pt"))
    clf = load_classifier(str(adapter))
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(clf.module(x), net(x)) and clf.name == "clf.py"
    (tmp_path / "clf_state.pt").unlink()
    bad, _ = _adapter(tmp_path, text.replace("clf_state.pt", "gone.pt"), "clf2.py")
    with pytest.raises(InputError, match="gone.pt"):
        load_classifier(str(bad))
