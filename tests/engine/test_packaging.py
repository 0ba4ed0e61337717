"""The installed layout (issue 16 §3): everything is one package, `scenelens` (gui/scenelens as `scenelens`, engine/ as
`scenelens.engine`, gui/ as `scenelens.gui`, assets/ as package data), so site-packages gets no generic top-level
names; a folder imports under one name only; the sources use the new names (scripts/namespace_codemod.py has nothing
left to do); a Ray cluster gets a folder that imports as `scenelens`."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


def _files(folder: str, suffix: str | None = None) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix != ".pyc" and (suffix is None or p.suffix == suffix))


def test_sources_use_the_package_names_and_pyproject_lists_every_package():
    r = subprocess.run([sys.executable, "scripts/namespace_codemod.py", "--check", "-q"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"rerun `python scripts/namespace_codemod.py`:\n{r.stdout}{r.stderr}"
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    st = cfg["tool"]["setuptools"]
    found = {"scenelens." + ".".join((top, *p.parent.relative_to(ROOT / top).parts)).rstrip(".")
             for top in ("engine", "gui") for p in (ROOT / top).rglob("__init__.py")
             if "__pycache__" not in p.parts and "scenelens" not in p.relative_to(ROOT).parts}
    assert found <= set(st["packages"]), sorted(found - set(st["packages"]))
    assert {p.split(".")[0] for p in st["packages"]} == {"scenelens"} and "py-modules" not in st
    assert st["package-dir"] == {"scenelens": "gui/scenelens", "scenelens.engine": "engine", "scenelens.gui": "gui",
                                 "scenelens.assets": "assets"}
    assert cfg["project"]["scripts"] == {"scenelens": "scenelens.cli:main"}


def test_wheel_holds_one_package_with_the_assets(tmp_path):
    """A wheel built from the sources (offline, as pip builds it for `pip install .`): its top level is `scenelens`
    and its dist-info, every module sits under scenelens/, and assets/ comes along (the demo scene opens)."""
    src = tmp_path / "src"
    for name in ("engine", "gui", "assets"):
        shutil.copytree(ROOT / name, src / name, ignore=JUNK)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = (tmp_path / "dist").glob("scenelens-*.whl")
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"scenelens", dist_info}, sorted({n.split("/")[0] for n in names})
    want = {f"scenelens/engine/{p.relative_to(ROOT / 'engine').as_posix()}" for p in _files("engine", ".py")}
    want |= {f"scenelens/gui/{p.relative_to(ROOT / 'gui').as_posix()}" for p in _files("gui", ".py")
             if p.relative_to(ROOT / "gui").parts[0] != "scenelens"}
    want |= {f"scenelens/{p.relative_to(ROOT / 'gui' / 'scenelens').as_posix()}" for p in _files("gui/scenelens", ".py")}
    want |= {f"scenelens/assets/{p.relative_to(ROOT / 'assets').as_posix()}" for p in _files("assets")
             if p.suffix != ".py"}
    assert "scenelens/assets/demo/scene.json" in want and "scenelens/cli.py" in want
    assert not want - names, sorted(want - names)
    assert not [n for n in names if n.startswith(("scenelens/gui/scenelens/", "scenelens/assets/")) and n.endswith(".py")]
    assert "scenelens = scenelens.cli:main" in entry_points


def test_a_folder_imports_under_one_name_only():
    """With the checkout on sys.path (as `python main.py` and pytest put it), the old names fail with a message
    instead of loading a second copy of every module; everything else loads once, under scenelens.*."""
    code = r"""
import importlib, json, pkgutil, sys
out = {}
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
        out[name] = "imported"
    except ImportError as e:
        out[name] = str(e)
import scenelens, scenelens.engine, scenelens.gui
for pkg in (scenelens.engine, scenelens.gui):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if m.name != "scenelens.gui.scenelens":
            importlib.import_module(m.name)
files = {}
for name, mod in list(sys.modules.items()):
    f = getattr(mod, "__file__", None)
    if f and f.startswith(tuple(sys.argv[1] + "/" + d + "/" for d in ("engine", "gui", "assets", "tests"))):
        files.setdefault(f, []).append(name)
out["files"] = files
print(json.dumps(out))
"""
    # the old names, spelt so that the codemod leaves them alone: old name → the package its folder now is
    old = {"engine": "scenelens.engine", "gui": "scenelens.gui", ".".join(("engine", "scene")): "scenelens.engine",
           "scenelens.gui.scenelens": "scenelens"}
    r = subprocess.run([sys.executable, "-c", code, str(ROOT), json.dumps(list(old))], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.splitlines()[-1])
    for name, new in old.items():
        assert f"is the package {new} " in out[name], (name, out[name])
    files = out["files"]
    assert len(files) > 100, len(files)  # every module of engine/ and gui/ was imported
    assert not {f: n for f, n in files.items() if len(n) > 1}, "a file loaded as two modules"
    assert all(n[0].split(".")[0] == "scenelens" for f, n in files.items() if "/tests/" not in f), sorted(files.values())


def test_package_dir_for_a_ray_cluster_imports_as_scenelens(tmp_path):
    """`runtime_env.py_modules` gets one folder named `scenelens` (the installed one, or the checkout laid out as a
    wheel): on its own on sys.path, without this install's finder, it imports the engine and reads the assets."""
    from scenelens.engine.package_layout import installed_as_one_folder, package_dir

    d = package_dir()
    assert d.name == "scenelens" and (d / "engine" / "datasets.py").is_file()
    assert (d / "assets" / "labels" / "occ3d.json").is_file() and (d / "__init__.py").is_file()
    if installed_as_one_folder() is not None:
        return  # a wheel install: the folder is site-packages/scenelens itself
    code = r"""
import json, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
sys.path.insert(0, sys.argv[1])
import scenelens.engine.registration.dataset as ds
from scenelens.engine.labels import get_label_set
print(json.dumps({"file": ds.__file__, "api": __import__("scenelens").__file__, "classes": len(get_label_set("occ3d").names)}))
"""
    r = subprocess.run([sys.executable, "-c", code, str(d.parent)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["file"].startswith(str(d)) and out["api"].startswith(str(d)), out
    assert out["classes"] >= 17
