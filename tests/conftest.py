"""Shared fixtures: real sample data, isolated settings/state folders, and a main window on a virtual display."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENELENS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SCENELENS_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def window(qtbot):
    """A MainWindow with an empty scene, shown on the (virtual) display; closed cleanly afterwards."""
    from scenelens.gui.main_window import MainWindow

    win = MainWindow(device="cpu")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def wait_job(qtbot, handle, timeout: int = 60000) -> None:
    """Wait until a GUI job has finished and its callbacks ran."""
    qtbot.waitUntil(lambda: handle.state != "running", timeout=timeout)
    handle.thread.wait(timeout)
    qtbot.wait(50)


def colourful_fraction(img: np.ndarray, sat: int = 60) -> float:
    """Share of pixels whose channels differ by more than `sat` (i.e. clearly coloured, not grey/background)."""
    img = img.astype(np.int16)
    return float(((img.max(2) - img.min(2)) > sat).mean())


def pytest_sessionfinish(session, exitstatus):
    """Disconnect Qt from the X server before pytest-xvfb stops it; otherwise xcb sees the server vanish
    at interpreter exit and aborts the process with exit code 1 after a green run."""
    import sys

    if "PySide6" not in sys.modules:
        return
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is not None:
        app.closeAllWindows()
        app.processEvents()
        app.shutdown()


# namespace-codemod: checkout check (begin)
def _scenelens_is_this_checkout() -> None:
    """The tests import `scenelens` from the venv's install: if that is another checkout (or a wheel), every test
    here would silently run that code. One line instead."""
    import importlib.util
    import sys
    from pathlib import Path

    import pytest

    here = Path(__file__).resolve().parents[1]
    spec = importlib.util.find_spec("scenelens.engine")
    where = Path(spec.origin).resolve().parent if spec is not None and spec.origin else None
    if where != here / "engine":
        raise pytest.UsageError(f"scenelens.engine imports from {where}, not from this checkout ({here}): "
                                f"run `{sys.executable} -m pip install -e {here}`")


_scenelens_is_this_checkout()
# namespace-codemod: checkout check (end)
