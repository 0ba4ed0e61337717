"""Workbenches (occupancy, registration, pose, attribution...) plug menus and docks into the main window.
Each module here defining a `Workbench` subclass is discovered and installed at start-up."""
from __future__ import annotations

import importlib
import inspect
import pkgutil


def discover() -> list[type]:
    from .base import Workbench

    found = []
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name == "base":
            continue
        m = importlib.import_module(f"{__name__}.{mod.name}")
        for _, cls in inspect.getmembers(m, inspect.isclass):
            if issubclass(cls, Workbench) and cls is not Workbench and cls.__module__ == m.__name__:
                found.append(cls)
    return found
