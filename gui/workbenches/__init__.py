"""Workbenches (occupancy, registration, pose, attribution...) plug menus and docks into the main window.
Each module here defining a `Workbench` subclass is discovered and installed at start-up."""
from __future__ import annotations

import inspect


def discover() -> list[type]:
    import sys

    from scenelens.engine.plugins import import_submodules

    from .base import Workbench

    found = []
    for m in import_submodules(sys.modules[__name__]):
        for _, cls in inspect.getmembers(m, inspect.isclass):
            if issubclass(cls, Workbench) and cls is not Workbench and cls.__module__ == m.__name__:
                found.append(cls)
    found += plugin_workbenches()
    return found


def plugin_workbenches() -> list[type]:
    """Workbench classes from installed plug-ins (entry-point group scenelens.workbenches): a Workbench
    subclass, or a module holding some; anything else is reported as a failed plug-in."""
    import types

    from scenelens.engine.plugins import entry_point_plugins, mark_failed

    from .base import Workbench

    out = []
    for rec in entry_point_plugins("workbenches"):
        if rec.state != "loaded":
            continue
        obj = rec.obj
        classes = ([c for _, c in inspect.getmembers(obj, inspect.isclass) if c.__module__ == obj.__name__]
                   if isinstance(obj, types.ModuleType) else [obj])
        got = [c for c in classes if isinstance(c, type) and issubclass(c, Workbench) and c is not Workbench]
        if not got:
            mark_failed(rec, f"{rec.target} holds no Workbench subclass")
        out += got
    return out
