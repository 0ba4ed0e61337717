"""The README's Python example runs as written, in a fresh interpreter, from another working directory."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_python_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # the README's /tmp/ paths first, then the demo path (the checkout itself may live under /tmp)
    code = code.replace("/tmp/", f"{tmp_path}/").replace('"assets/demo"', repr(str(ROOT / "assets" / "demo")))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("(34688, 3)")
    assert "↓0.5" in lines[1] and "preprocess" in lines[1]
    assert lines[2] == "(500, 800, 3)"
    assert (tmp_path / "demo.png").exists() and (tmp_path / "demo-session.slproj").exists()


def test_import_loads_no_gui_toolkit():
    code = "import sys, scenelens; s = scenelens.open(%r, device='cpu'); " \
           "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'vtk', 'vtkmodules', 'pyqtgraph')])" \
           % str(ROOT / "assets" / "demo")
    r = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_session_run_registration_and_show_arrays_type_errors():
    import numpy as np
    import pytest

    import scenelens
    from scenelens.engine.errors import InputError

    s = scenelens.open(ROOT / "assets" / "demo", device="cpu")
    with pytest.raises(InputError, match="two different point clouds"):
        s.run("registration", progress=False)
    with pytest.raises(InputError, match="unknown task"):
        s.run("nosuchtask")
    with pytest.raises(TypeError, match="cannot show array"):
        scenelens._as_session({"bad": np.zeros((3, 3, 3, 3))})
    sess = scenelens._as_session({"cloud": np.random.default_rng(0).normal(size=(100, 3))})
    assert sess.layers["cloud"].n == 100


def test_show_opens_the_window_on_a_session_and_on_arrays(tmp_path):
    import os

    import pytest

    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display")
    code = f"""
import numpy as np, scenelens
s = scenelens.open({str(ROOT / 'assets' / 'demo')!r}, device="cpu")
down, = s.run("preprocess", voxel=1.0, progress=False)
out = scenelens.show(s, size=(1000, 700))
print("same", out is s, len(out.layers))
pts = np.random.default_rng(0).normal(size=(3000, 3)) * [20, 20, 2]
print("arrays", list(scenelens.show({{"cloud": pts}}, size=(900, 600)).layers))
"""
    env = dict(os.environ, SCENELENS_AUTOSHOT=str(tmp_path / "show.png"), SCENELENS_STATE_DIR=str(tmp_path / "st"),
               SCENELENS_CONFIG_DIR=str(tmp_path / "cfg"), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "same True 3" in r.stdout and "arrays ['cloud']" in r.stdout
    from scenelens.engine.io.image import read_image

    img = read_image(tmp_path / "show.png")  # the last window: the array cloud drawn in the 3D view
    assert img.shape[:2] == (600, 900) and (img.max(2) > 100).mean() > 0.002
