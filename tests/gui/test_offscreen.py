"""With Qt's offscreen platform (no display at all) the 3D view switches to an offscreen VTK window and
screenshots still show the scene."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys, time
from PySide6 import QtWidgets
import pyqtgraph
app = QtWidgets.QApplication([])
from scenelens.gui.main_window import MainWindow, demo_scene_path
w = MainWindow(device="cpu"); w.show()
h = w.open_path(demo_scene_path())
t0 = time.time()
while h.state == "running" and time.time() - t0 < 60:
    app.processEvents(); time.sleep(0.01)
img = w.view3d.screenshot()
print(app.platformName(), w.view3d.offscreen, round(float((img.max(2) > 120).mean()), 4))
w.close()
"""


def test_offscreen_platform_renders(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SCENELENS_CONFIG_DIR=str(tmp_path))
    env.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    platform, offscreen, bright = r.stdout.split()[-3:]
    assert platform == "offscreen" and offscreen == "True"
    assert float(bright) > 0.02
