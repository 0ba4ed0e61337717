"""engine/ must never import Qt, VTK or pyqtgraph: checked statically and by importing every module."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "vtk", "vtkmodules", "pyqtgraph")


def test_engine_sources_import_no_gui_toolkit():
    bad = []
    for f in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [f"{f.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not bad, bad


def test_importing_all_engine_modules_loads_no_gui_toolkit():
    code = (
        "import importlib, pkgutil, sys; from scenelens import engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'scenelens.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "from scenelens.engine import io, tasks; io.readers(); tasks.tasks()\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
