"""Workbenches (occupancy, registration, pose, attribution...) plug menus and docks into the main window.
Each module here defining a `Workbench` subclass is discovered and installed at start-up."""
from __future__ import annotations

import inspect


def discover() -> list[type]:
    import sys

    from engine.plugins import import_submodules

    from .base import Workbench

    found = []
    for m in import_submodules(sys.modules[__name__]):
        for _, cls in inspect.getmembers(m, inspect.isclass):
            if issubclass(cls, Workbench) and cls is not Workbench and cls.__module__ == m.__name__:
                found.append(cls)
    return found
