"""Plug-in discovery shared by every registry (readers, tasks, layer builders, workbenches): importing each
module of a package once lets a capability register itself just by adding a file."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_done: set[str] = set()


def import_submodules(package: ModuleType) -> list[ModuleType]:
    """Import every direct submodule of `package` (in name order); later calls return the cached modules."""
    mods = [importlib.import_module(f"{package.__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)]
    _done.add(package.__name__)
    return mods


def discovered(package: ModuleType) -> bool:
    return package.__name__ in _done
