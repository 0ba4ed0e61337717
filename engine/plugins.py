"""Plug-in discovery shared by every registry (readers, tasks, models, layer builders, workbenches, commands).

Two sources, both loaded module by module in isolation, so one that fails to import is reported by name
(one line on stderr, and `scenelens plugins` lists it as failed) while everything else keeps working:
* the modules of a package in this tree (`import_submodules`): a capability registers itself just by adding
  a file;
* installed distributions' entry points (`entry_point_plugins`), in the groups of `GROUPS`:

      [project.entry-points."scenelens.readers"]      # a module using engine.io.register
      myformat = "mypkg.reader"
      [project.entry-points."scenelens.tasks"]        # a Task object, or a module defining TASK
      mytask = "mypkg.task:TASK"
      [project.entry-points."scenelens.models"]       # a module using register_adapter, or an adapter class
      mymodel = "mypkg.model"                         #   with a `task` attribute (registered as the entry name)
      [project.entry-points."scenelens.workbenches"]  # a gui Workbench subclass, or a module holding some
      mybench = "mypkg.bench:MyWorkbench"
      [project.entry-points."scenelens.commands"]     # an engine.commands.Command, or a module defining COMMAND
      myverb = "mypkg.cli:COMMAND"
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

GROUPS = {"readers": "scenelens.readers", "models": "scenelens.models", "workbenches": "scenelens.workbenches",
          "tasks": "scenelens.tasks", "commands": "scenelens.commands"}

_done: set[str] = set()


@dataclass
class PluginRecord:
    """One plug-in: where it came from, what it names and whether it loaded."""

    group: str           # an entry-point group (scenelens.readers …) or an in-tree package (engine.io …)
    name: str
    target: str          # module[:attribute]
    dist: str = ""       # "name version" of the installed distribution; "" for in-tree modules
    state: str = "loaded"  # loaded | failed
    error: str = ""
    obj: Any = None

    def as_dict(self) -> dict:
        return {"group": self.group, "name": self.name, "target": self.target, "dist": self.dist,
                "state": self.state, "error": self.error}


_RECORDS: dict[tuple[str, str], PluginRecord] = {}
_LOADED_GROUPS: dict[str, list[PluginRecord]] = {}


def _fail(rec: PluginRecord, e: BaseException) -> PluginRecord:
    rec.state = "failed"
    rec.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    what = f"plug-in {rec.name!r} ({rec.group}{', ' + rec.dist if rec.dist else ''})"
    print(f"scenelens: {what} failed to load and is skipped: {rec.error}", file=sys.stderr)
    return rec


def mark_failed(rec: PluginRecord, message: str) -> None:
    """A plug-in that imported but does not provide what its group needs (e.g. a tasks entry without a Task)."""
    _fail(rec, TypeError(message))


def import_submodules(package: ModuleType) -> list[ModuleType]:
    """Import every direct submodule of `package` (in name order), each in isolation: one that raises is
    recorded and skipped. Later calls return the cached modules."""
    mods = []
    for m in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        full = f"{package.__name__}.{m.name}"
        rec = _RECORDS.get((package.__name__, m.name))
        if rec is not None and rec.state == "failed":
            continue
        rec = PluginRecord(package.__name__, m.name, full)
        try:
            mods.append(importlib.import_module(full))
        except Exception as e:  # noqa: BLE001 - any error in one module must not break the others
            _fail(rec, e)
        _RECORDS[(package.__name__, m.name)] = rec
    _done.add(package.__name__)
    return mods


def discovered(package: ModuleType) -> bool:
    return package.__name__ in _done


def entry_point_plugins(group: str) -> list[PluginRecord]:
    """Load the installed entry points of `group` once, each in isolation; returns their records (the loaded
    object in `.obj`). A group name from GROUPS' keys ("readers") or values ("scenelens.readers") works."""
    group = GROUPS.get(group, group)
    if group in _LOADED_GROUPS:
        return _LOADED_GROUPS[group]
    from importlib.metadata import entry_points

    recs: list[PluginRecord] = []
    _LOADED_GROUPS[group] = recs  # set first: a plug-in that triggers discovery again must not recurse
    seen: set[str] = set()
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        if ep.name in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(ep.name)
        dist = f"{ep.dist.name} {ep.dist.version}" if getattr(ep, "dist", None) is not None else ""
        rec = PluginRecord(group, ep.name, ep.value, dist)
        try:
            rec.obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plug-in is reported by name; the rest still load
            _fail(rec, e)
        _RECORDS[(group, ep.name)] = rec
        recs.append(rec)
    return recs


def loaded_objects(group: str, attr: str | None = None, kind: type | None = None) -> list[tuple[PluginRecord, Any]]:
    """(record, object) for each loaded plug-in of `group`: the entry point's object, or `module.<attr>`
    when it names a module. With `kind`, an object of another type marks the plug-in failed."""
    out = []
    for rec in entry_point_plugins(group):
        if rec.state != "loaded":
            continue
        obj = rec.obj
        if isinstance(obj, ModuleType) and attr is not None:
            obj = getattr(obj, attr, None)
        if kind is not None and not isinstance(obj, kind):
            mark_failed(rec, f"{rec.target} is not a {kind.__name__}" + (f" (and defines no {attr})" if attr else ""))
            continue
        out.append((rec, obj))
    return out


def collect(package: ModuleType, attr: str, kind: type, group: str, into: dict[str, Any]) -> dict[str, Any]:
    """Fill `into` (name → object) once: each submodule of `package` that defines `attr` as a `kind`, then the
    installed plug-ins of entry-point `group` (an in-tree name wins). The one discovery loop behind the task and
    command registries."""
    if not discovered(package):
        for m in import_submodules(package):
            obj = getattr(m, attr, None)
            if isinstance(obj, kind):
                into[obj.name] = obj
        for _, obj in loaded_objects(group, attr, kind):
            into.setdefault(obj.name, obj)
    return into


def records() -> list[PluginRecord]:
    """Every plug-in seen so far: in-tree modules that failed, and all entry-point plug-ins."""
    return sorted((r for r in _RECORDS.values() if r.dist or r.state == "failed" or r.group in GROUPS.values()),
                  key=lambda r: (r.group, r.name))
