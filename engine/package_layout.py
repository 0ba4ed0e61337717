"""Where the `scenelens` package lives, as one folder that imports as `scenelens` on another machine.

Installed from a wheel, the package is already one folder (site-packages/scenelens with engine/, gui/ and assets/
inside). Installed from a checkout (`pip install -e .`), it is spread over gui/scenelens, engine/, gui/ and
assets/ (pyproject's package-dir), which a Ray cluster cannot import from a single `runtime_env.py_modules` entry;
`package_dir()` then assembles the wheel's layout in a temporary folder (the engine, the API's own modules and the
assets: what a worker imports and reads; not the Qt views).
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_ENGINE = Path(__file__).resolve().parent
_staged: Path | None = None


def installed_as_one_folder() -> Path | None:
    """site-packages/scenelens when the package is a single folder (a wheel install), else None."""
    import scenelens

    pkg = Path(scenelens.__file__).resolve().parent
    return pkg if (pkg / "engine").resolve() == _ENGINE else None


def package_dir() -> Path:
    """A folder named `scenelens` holding the engine, the API modules and assets, laid out as a wheel installs
    them; built once per process (under the temp folder, removed at exit) when the package is a checkout."""
    global _staged
    one = installed_as_one_folder()
    if one is not None:
        return one
    if _staged is not None and _staged.is_dir():
        return _staged
    import scenelens

    api = Path(scenelens.__file__).resolve().parent  # gui/scenelens in a checkout
    assets = _ENGINE.parent / "assets"
    tmp = Path(tempfile.mkdtemp(prefix="scenelens-pkg-"))
    atexit.register(shutil.rmtree, tmp, True)
    out = tmp / "scenelens"
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(api, out, ignore=junk)
    shutil.copytree(_ENGINE, out / "engine", ignore=junk)
    if assets.is_dir():
        shutil.copytree(assets, out / "assets", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.py"))
    _staged = out
    return out
