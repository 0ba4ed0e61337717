"""Starts the Qt application and the main window (on the demo scene when no path is given)."""
from __future__ import annotations

import sys


def run_app(paths: list[str], device: str = "auto") -> int:
    from PySide6 import QtWidgets

    import pyqtgraph  # noqa: F401  (pyqtgraph must see the Qt binding before the app exists)

    from .main_window import MainWindow, demo_scene_path

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("SceneLens")
    win = MainWindow(device=device)
    win.show()
    win.open_path(paths[0] if paths else demo_scene_path())
    win.offer_recovery()
    _warm_up_imports()
    return app.exec()


def _warm_up_imports() -> None:
    """Import torch/scipy on a background thread while the user looks at the first scene, so the first
    job does not pay seconds of import time (which holds the GIL in long chunks and stalls drawing)."""
    import threading

    def work() -> None:
        import scipy.spatial  # noqa: F401
        import torch

        from engine.device import worker_threads

        torch.set_num_threads(worker_threads())  # leave a core for drawing on small machines

    threading.Thread(target=work, name="warm-up-imports", daemon=True).start()
