"""Install the example plug-in package with pip (offline: no build isolation, no dependencies) into a folder."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent / "example_plugin"


def install_example(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src)  # pip writes build files beside the sources: keep the tree clean
    target = tmp / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                        "--no-index", "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"pip install of the example plug-in failed:\n{r.stderr}")
    if not any(p.name.startswith("scenelens_example_plugin-") for p in target.glob("*.dist-info")):
        raise RuntimeError("pip installed no scenelens_example_plugin dist-info")
    return target
