"""Layer → VTK actor builders, shared by the interactive 3D view and the headless `render` command, so a
screenshot from the CLI is drawn exactly as the window draws it.

Builders register per layer class; modules in gui/views/layers are discovered on first use, so a
workbench adds a layer type's look by adding a module. `tag_actor` links an actor back to its layer and to a
pick function that turns a picked cell/point into inspector information.
"""
from __future__ import annotations

from typing import Any, Callable

from scenelens.engine.scene import Layer

BuildFn = Callable[[Layer, dict], list]
PickFn = Callable[[int, int, tuple], dict]

_BUILDERS: dict[type, BuildFn] = {}


def register_builder(layer_cls: type):
    def deco(fn: BuildFn) -> BuildFn:
        _BUILDERS[layer_cls] = fn
        return fn

    return deco


def _discover() -> None:
    from scenelens.engine.plugins import discovered, import_submodules

    from . import layers

    if not discovered(layers):
        import_submodules(layers)


def builder_for(layer: Layer) -> BuildFn | None:
    _discover()
    for cls in type(layer).__mro__:
        if cls in _BUILDERS:
            return _BUILDERS[cls]
    return None


def build_actors(layer: Layer, style: dict | None = None) -> list:
    """Actors for a layer (empty for layers that have no 3D look, e.g. plain images)."""
    fn = builder_for(layer)
    if fn is None:
        return []
    return fn(layer, dict(style or {}))


def tag_actor(actor, layer: Layer, pick_fn: PickFn | None = None) -> Any:
    actor._sl_layer = layer.uid  # noqa: SLF001 - plain attribute on the Python wrapper
    actor._sl_pick = pick_fn
    return actor
