"""The window asks before foreign code runs: a pickled model file or an unconfirmed adapter stops its job with
a question naming the file; only a click on a real button trusts it and reruns the job. Also: the
"paths outside a file's folder" setting (menu, persisted) and reader warnings shown as notifications."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from scenelens.engine.jobs import Job
from tests.conftest import wait_job


class _Payload:
    """Unpickling it writes a marker file: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _evil(tmp_path: Path) -> tuple[Path, Path]:
    import torch

    marker = tmp_path / "PAYLOAD_RAN"
    p = tmp_path / "whole_model.pt"
    torch.save({"hook": _Payload(marker), "w": torch.zeros(2)}, p)
    return p, marker


def _load_job(path):
    from scenelens.engine.trust import load_model_file

    return Job(f"Load {Path(path).name}", lambda ctx: load_model_file(path))


def _click(qtbot, button: QtWidgets.QAbstractButton) -> None:
    qtbot.waitUntil(button.isVisible, timeout=5000)
    QTest.mouseClick(button, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, button.rect().center())


def _question(qtbot, window, kind: str) -> QtWidgets.QMessageBox:
    qtbot.waitUntil(lambda: window.trust.box is not None and window.trust.box.isVisible()
                    and window.trust.box.objectName() == f"trust_{kind}", timeout=20000)
    return window.trust.box


@pytest.mark.parametrize("choice", ["once", "always"])
def test_pickled_model_asks_then_reruns_the_job(qtbot, window, tmp_path, choice):
    from scenelens.engine.trust import _read_store, is_model_trusted

    p, marker = _evil(tmp_path)
    results = []
    h = window.start_job(_load_job(p), on_result=results.append)
    wait_job(qtbot, h)
    assert h.state == "failed"
    box = _question(qtbot, window, "model")
    assert p.name in box.text() and "run any code" in box.text()
    assert not marker.exists(), "code from the file ran before the user said yes"
    assert not results
    # the job failed but no error toast: the question is the message
    assert not any("failed" in t.message for t in window.notifications.toasts())
    button = box.buttons_by_role[choice]
    assert button.text() == {"once": "Run once", "always": "Always trust this file"}[choice]
    _click(qtbot, button)
    qtbot.waitUntil(lambda: bool(results), timeout=30000)
    assert marker.exists(), "after the confirmation the same job ran again and unpickled the file"
    assert isinstance(results[0], dict) and "w" in results[0]
    assert is_model_trusted(p)
    stored = any(v["path"] == str(p.resolve()) for v in _read_store()["models"].values())
    assert stored == (choice == "always")


def test_cancel_leaves_the_model_refused_and_runs_nothing(qtbot, window, tmp_path):
    from scenelens.engine.trust import is_model_trusted

    p, marker = _evil(tmp_path)
    results = []
    h = window.start_job(_load_job(p), on_result=results.append)
    wait_job(qtbot, h)
    box = _question(qtbot, window, "model")
    assert box.defaultButton().text().replace("&", "") == "Cancel"  # Enter does not run foreign code
    _click(qtbot, box.button(QtWidgets.QMessageBox.Cancel))
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=5000)
    qtbot.wait(300)
    assert not marker.exists() and not results and not is_model_trusted(p)
    assert len(window.runner.handles) == 0  # nothing was restarted
    assert any("not run" in t.message and p.name in t.message for t in window.notifications.toasts())


ADAPTER = '''
from pathlib import Path
Path(__file__).with_name("ADAPTER_RAN").write_text("ran")

class Toy:
    def load(self, spec, device):
        pass

    def predict(self, inputs, progress=None, cancel=None):
        return None
'''


@pytest.fixture
def confirm_adapters():
    from scenelens.engine.trust import require_adapter_confirmation

    require_adapter_confirmation(True)  # what the app (gui/app.py) turns on
    yield
    require_adapter_confirmation(False)


def test_adapter_is_confirmed_once_per_file_version(qtbot, window, tmp_path, confirm_adapters):
    from scenelens.engine.adapters import load_adapter_file
    from scenelens.engine.trust import is_adapter_trusted

    ad = tmp_path / "my_adapter.py"
    ad.write_text(ADAPTER)
    ran = tmp_path / "ADAPTER_RAN"
    results = []
    job = lambda: Job("Run adapter", lambda ctx: load_adapter_file(ad).__name__)  # noqa: E731
    wait_job(qtbot, window.start_job(job(), on_result=results.append))
    box = _question(qtbot, window, "adapter")
    assert ad.name in box.text() and "Python file" in box.text()
    assert not ran.exists()
    _click(qtbot, box.buttons_by_role["always"])
    qtbot.waitUntil(lambda: results == ["Toy"], timeout=20000)
    assert ran.exists() and is_adapter_trusted(ad)
    # confirmed: the next run does not ask
    window.trust.box = None
    wait_job(qtbot, window.start_job(job(), on_result=results.append))
    assert results == ["Toy", "Toy"] and window.trust.box is None
    # a changed file is a new version: asked again
    ad.write_text(ADAPTER + "\n# edited\n")
    wait_job(qtbot, window.start_job(job(), on_result=results.append))
    _question(qtbot, window, "adapter")
    assert results == ["Toy", "Toy"]


def _menu_click(qtbot, window, menu_title: str, action_text: str) -> None:
    """Open a menu from the menu bar and click an item, with real mouse events."""
    bar = window.menuBar()
    act = next(a for a in bar.actions() if a.text().replace("&", "") == menu_title)
    QTest.mouseClick(bar, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, bar.actionGeometry(act).center())
    menu = act.menu()
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    item = next(a for a in menu.actions() if a.text() == action_text)
    QTest.mouseClick(menu, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, menu.actionGeometry(item).center())
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=5000)


def test_outside_paths_setting_from_the_menu_is_used_and_kept(qtbot, window, tmp_path):
    import json

    from scenelens.engine.io.limits import allow_outside_paths, outside_paths_allowed
    from scenelens.gui.settings import Settings

    (tmp_path / "data").mkdir()
    (tmp_path / "scenes").mkdir()
    np.save(tmp_path / "data" / "cloud.npy", np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32))
    man = tmp_path / "scenes" / "scene.json"
    man.write_text(json.dumps({"scenelens_scene": 1, "name": "outside", "layers": [{"path": "../data/cloud.npy"}]}))
    try:
        assert not outside_paths_allowed()
        h = window.open_path(man)
        wait_job(qtbot, h)
        assert h.state == "failed" and "leaves the folder" in h.error
        _menu_click(qtbot, window, "Settings", "Allow paths outside a file's folder")
        assert window.trust.outside_action.isChecked() and outside_paths_allowed()
        assert Settings().get("allow_outside_paths") is True  # written to the settings file
        h = window.open_path(man)
        wait_job(qtbot, h)
        assert h.state == "finished" and len(window.scene.layers) == 1
        _menu_click(qtbot, window, "Settings", "Allow paths outside a file's folder")
        assert not outside_paths_allowed() and Settings().get("allow_outside_paths") is False
    finally:
        allow_outside_paths(None)


def test_reader_warnings_become_notifications(qtbot, window, tmp_path):
    pts = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
    pts[[3, 50, 77]] = np.nan
    p = tmp_path / "some_nan.npy"
    np.save(p, pts)
    h = window.open_path(p)
    wait_job(qtbot, h)
    assert h.state == "finished" and window.scene.layers[0].n == 97
    qtbot.waitUntil(lambda: any("dropped 3 of 100 points" in t.message for t in window.notifications.toasts()),
                    timeout=5000)
    toast = next(t for t in window.notifications.toasts() if "dropped 3 of 100" in t.message)
    assert toast.level == "warning" and p.name in toast.message and toast.isVisible()
    img = toast.grab().toImage()
    assert img.width() > 100 and img.height() > 20
    # the toast is drawn: its pixels are not one flat colour
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 3)}
    assert len(colours) > 3
