"""Work is never lost: a project keeps job-made layers and edits and reopens from anywhere; autosave lands within
seconds and survives kill -9; a second instance never touches a live instance's recovery file."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import wait_job

ROOT = Path(__file__).resolve().parents[2]
needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (run under xvfb-run)")


def _demo_copy(folder: Path) -> Path:
    shutil.copytree(ROOT / "assets" / "demo", folder / "demo")
    return folder / "demo"


def test_gui_job_and_edit_survive_save_move_and_reopen_in_a_new_process(qtbot, window, tmp_path):
    from scenelens.engine.scene import PointCloud
    from scenelens.engine.undo import SetArrayValues

    demo = _demo_copy(tmp_path / "work")
    wait_job(qtbot, window.open_path(demo))
    core = next(wb for wb in window.workbenches if wb.title == "Tools")
    wait_job(qtbot, core.run_preprocess(voxel=0.5))
    down = next(lay for lay in window.scene.layers if "↓0.5" in lay.name)
    window.push(SetArrayValues(down.points, (slice(0, 5), 2), 42.0, "lift five points"))  # edit the job's result
    lidar = window.scene.of_type(PointCloud)[0]
    window.push(SetArrayValues(lidar.attributes["label"], slice(0, 7), 9, "relabel seven points"))  # a file layer
    window.set_workspace("Registration")
    window.save_project(str(tmp_path / "work" / "session.slproj"))
    (tmp_path / "work").rename(tmp_path / "moved")
    code = textwrap.dedent(f"""
        import json, scenelens
        s = scenelens.open({str(tmp_path / 'moved' / 'session.slproj')!r}, device="cpu")
        down = next(l for n, l in s.layers.items() if "↓0.5" in n)
        lidar = s.layers["LIDAR_TOP (ego frame)"]
        print(json.dumps({{"layers": list(s.layers), "z": down.points[:6, 2].tolist(), "normals": "normal" in down.attributes,
                          "prov": down.provenance, "labels": lidar.attributes["label"][:8].tolist(),
                          "workspace": s.workspace, "scene": s.scene.path}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["z"][:5] == [42.0] * 5 and out["z"][5] != 42.0 and out["normals"]
    assert out["prov"]["kind"] == "job" and out["prov"]["task"] == "preprocess" and out["prov"]["params"]["voxel"] == 0.5
    assert out["labels"][:7] == [9] * 7
    assert out["workspace"] == "Registration" and out["scene"].startswith(str(tmp_path / "moved"))


_DRIVER = textwrap.dedent("""
    import json, sys, time
    from PySide6 import QtCore, QtWidgets
    import pyqtgraph  # noqa: F401
    from scenelens.gui.main_window import MainWindow

    app = QtWidgets.QApplication(sys.argv[:1])
    win = MainWindow(device="cpu")
    win.show()
    mode, demo = sys.argv[1], sys.argv[2]

    def wait(h):
        while h.state == "running" or h.thread.isRunning():
            app.processEvents(); time.sleep(0.01)
        app.processEvents()

    if mode == "edit":
        from scenelens.engine.undo import SetArrayValues
        wait(win.open_path(demo))
        core = next(wb for wb in win.workbenches if wb.title == "Tools")
        wait(core.run_preprocess(voxel=0.5))
        down = next(l for l in win.scene.layers if "↓0.5" in l.name)
        win.push(SetArrayValues(down.points, (slice(0, 3), 2), -7.0, "sink three points"))
        lidar = win.scene.layers[0]
        win.push(SetArrayValues(lidar.attributes["label"], slice(0, 11), 6, "relabel"))
        print("edited", flush=True)
        t0 = time.time()
        while True:  # the user keeps working; the test kills us with SIGKILL
            app.processEvents(); time.sleep(0.01)
    else:
        offered = win.offer_recovery()
        h = win.restore_recovery() if offered else None
        if h is not None:
            wait(h)
        down = next((l for l in win.scene.layers if "↓0.5" in l.name), None)
        print(json.dumps({"offered": offered, "layers": [l.name for l in win.scene.layers],
                          "z": down.points[:4, 2].tolist() if down is not None else None,
                          "labels": win.scene.layers[0].attributes["label"][:12].tolist() if win.scene.layers else None,
                          "unsaved": win.has_unsaved_work()}), flush=True)
        win.close()
""")


@needs_display
def test_kill_9_six_seconds_after_an_edit_loses_nothing(tmp_path):
    demo = _demo_copy(tmp_path)
    env = dict(os.environ, SCENELENS_STATE_DIR=str(tmp_path / "state"), SCENELENS_CONFIG_DIR=str(tmp_path / "cfg"),
               OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    (tmp_path / "driver.py").write_text(_DRIVER)
    p = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), "edit", str(demo)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "edited", line + p.stderr.read()
        time.sleep(6)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    r = subprocess.run([sys.executable, str(tmp_path / "driver.py"), "restore", str(demo)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["offered"], out
    assert out["z"][:3] == [-7.0] * 3 and out["z"][3] != -7.0, out
    assert out["labels"][:11] == [6] * 11, out
    assert out["unsaved"], out  # restored work stays unsaved until the user saves it


def test_second_instance_never_touches_a_live_instances_recovery(tmp_path, monkeypatch):
    from scenelens.engine.project import Project, RecoveryStore

    monkeypatch.setenv("SCENELENS_STATE_DIR", str(tmp_path / "state"))
    code = textwrap.dedent("""
        import sys, time
        from scenelens.engine.project import Project, RecoveryStore
        st = RecoveryStore(); p = st.write(Project(annotations={"who": "first"}))
        print(p, flush=True); time.sleep(60)
    """)
    first = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                             stdout=subprocess.PIPE, text=True)
    try:
        live = Path(first.stdout.readline().strip())
        assert live.exists()
        second = RecoveryStore()
        assert second.orphans() == []  # not offered while its owner lives
        assert second.discard(live) is False and live.exists()  # and "No" cannot delete it
        second.write(Project(annotations={"who": "second"}))
        assert second.path != live
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert live in RecoveryStore().orphans()  # offered once its owner has died
