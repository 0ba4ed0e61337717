"""Installable plug-ins: an example package installed with pip adds a reader, a task and a model through entry
points; its broken entries are reported by name while everything else works; `plugins` lists them all."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The example plug-in installed with pip into its own folder (offline: no build isolation, no deps)."""
    from tests.plugins.helpers import install_example

    return install_example(tmp_path_factory.mktemp("plugin"))


def cli(site, *args, timeout=240):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)


def test_plugins_lists_every_entry_with_its_state(site):
    r = cli(site, "plugins", "--json")
    assert r.returncode == 0, r.stderr
    recs = {(x["group"], x["name"]): x for x in json.loads(r.stdout)}
    assert recs[("scenelens.readers", "example-xyz")]["state"] == "loaded"
    assert recs[("scenelens.readers", "example-xyz")]["dist"] == "scenelens-example-plugin 0.1.0"
    assert recs[("scenelens.tasks", "example-count")]["state"] == "loaded"
    assert recs[("scenelens.models", "example-constant")]["state"] == "loaded"
    broken = recs[("scenelens.readers", "broken")]
    assert broken["state"] == "failed" and "broken on purpose" in broken["error"]
    bad_task = recs[("scenelens.tasks", "not-a-task")]
    assert bad_task["state"] == "failed" and "not a Task" in bad_task["error"]
    assert recs[("scenelens.workbenches", "example-bench")]["state"] == "loaded"
    assert "'broken'" in r.stderr and "Traceback" not in r.stderr
    r = cli(site, "plugins", "--check", "--no-gui")
    assert r.returncode == 1 and "failed" in r.stdout and "example-xyz" in r.stdout
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "plugins"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0 and "example-xyz" not in r.stdout  # not installed in this environment


def test_plugin_reader_and_task_work_beside_a_broken_plugin(site, tmp_path):
    f = tmp_path / "pts.exyz"
    f.write_text("EXAMPLE-XYZ\n0 0 0\n2 0 0\n1 3 0\n")
    out = tmp_path / "o.json"
    r = cli(site, "run", "example-count", f, "--out", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) == {"points": 3, "centroid": [1.0, 1.0, 0.0]}
    assert "broken" in r.stderr and "Traceback" not in r.stderr  # reported by name, one line
    r = cli(site, "run", "--help")
    assert r.returncode == 0 and "example-count" in r.stdout and "occupancy" in r.stdout


def test_plugin_model_runs_as_occupancy_adapter(site, shared_data, tmp_path):
    scan = shared_data / "semantickitti_00_000000" / "velodyne" / "000000.bin"
    out = tmp_path / "g.label"
    r = cli(site, "run", "occupancy", scan, "--model", "example-constant", "--grid", "semantickitti", "--out", out,
            "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["class_counts"] == {"11": 256 * 256 * 32}


def test_in_tree_module_that_fails_is_isolated(tmp_path, monkeypatch, capsys):
    from scenelens.engine.plugins import import_submodules, records

    pkg = tmp_path / "fakepkg_i16"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a_good.py").write_text("VALUE = 1\n")
    (pkg / "b_bad.py").write_text("import not_a_module_anywhere_i16\n")
    (pkg / "c_good.py").write_text("VALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("fakepkg_i16")
    assert isinstance(mod, types.ModuleType)
    got = import_submodules(mod)
    assert [m.VALUE for m in got] == [1, 3]
    err = capsys.readouterr().err
    assert "'b_bad'" in err and "not_a_module_anywhere_i16" in err
    rec = next(r for r in records() if r.group == "fakepkg_i16")
    assert rec.name == "b_bad" and rec.state == "failed"
