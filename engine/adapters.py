"""The model-adapter protocol: how a model (built-in or the user's own checkpoint) plugs into a task.

An adapter is a class with `load(spec, device)` and `predict(inputs, progress, cancel) -> result`.
`progress(fraction, message)` reports progress; `cancel` is a `threading.Event`-like object whose
`is_set()` says the user cancelled (the adapter should stop and raise `engine.errors.JobCancelled`).
Built-ins register with `@register_adapter(task, name)`; a user's adapter is a Python file that defines
one class with those two methods (or names it `ADAPTER = MyClass`) and is passed as `--model path.py`.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from .errors import InputError


@runtime_checkable
class ModelAdapter(Protocol):
    task: str

    def load(self, spec: str | None, device: str) -> None: ...

    def predict(self, inputs: Any, progress: Callable[[float, str], None], cancel: Any) -> Any: ...


_REGISTRY: dict[tuple[str, str], type] = {}


def register_adapter(task: str, name: str):
    def deco(cls: type) -> type:
        cls.task = task
        cls.adapter_name = name
        _REGISTRY[(task, name)] = cls
        return cls

    return deco


def builtin_adapters(task: str | None = None) -> dict[tuple[str, str], type]:
    from . import tasks as _tasks  # importing the task modules registers their adapters

    _tasks.tasks()
    from .plugins import entry_point_plugins, mark_failed

    for rec in entry_point_plugins("models"):  # installed plug-ins: a module using register_adapter, or a class
        if rec.state != "loaded" or not isinstance(rec.obj, type) or rec.obj in _REGISTRY.values():
            continue
        if not isinstance(getattr(rec.obj, "task", None), str):
            mark_failed(rec, f"{rec.target} has no `task` attribute naming the task it serves")
        else:
            register_adapter(rec.obj.task, rec.name)(rec.obj)
    return {k: v for k, v in _REGISTRY.items() if task is None or k[0] == task}


def import_user_file(path: Path, prefix: str):
    """Import a user's `.py` file (an adapter: code that runs with the user's rights) under a name of its own.
    The one place such files are executed: the trust check (the GUI asks once per file version) comes first,
    and a file that fails to import is one InputError naming it, never a traceback."""
    from .trust import check_adapter

    check_adapter(path)
    name = f"{prefix}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(path, "not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: report, don't crash
        raise InputError(path, f"adapter failed to import: {type(e).__name__}: {e}") from None
    return module


def load_adapter_file(path: str | Path) -> type:
    """Import a user's adapter file and return its adapter class (named ADAPTER, or the only one)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "adapter file does not exist")
    module = import_user_file(path, "scenelens_user_adapter")
    if hasattr(module, "ADAPTER"):
        return module.ADAPTER
    found = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if c.__module__ == module.__name__ and callable(getattr(c, "load", None)) and callable(getattr(c, "predict", None))]
    if len(found) != 1:
        raise InputError(path, f"expected one adapter class with load() and predict(), found {len(found)}; "
                               "or set ADAPTER = YourClass")
    return found[0]


def get_adapter(task: str, model: str | None, device: str, default: str | None = None) -> Any:
    """Instantiate and load the adapter named `model` (built-in name or .py path) for `task`."""
    model = model or default
    if model is None:
        raise InputError(None, f"task {task!r} needs --model")
    if model.endswith(".py") or "/" in model:
        cls = load_adapter_file(model)
        spec = None
    else:
        reg = builtin_adapters(task)
        if (task, model) not in reg:
            names = ", ".join(n for _, n in reg) or "none"
            raise InputError(None, f"unknown model {model!r} for task {task!r} (built-in: {names}; or a .py adapter file)")
        cls, spec = reg[(task, model)], None
    return load_instance(cls(), spec, device, model)


def load_instance(adapter: Any, spec: str | None, device: str, label: str) -> Any:
    """Call `adapter.load(spec, device)`, turning any failure into an InputError naming `label`."""
    try:
        adapter.load(spec, device)
    except InputError:
        raise
    except Exception as e:
        raise InputError(label, f"model failed to load: {type(e).__name__}: {e}") from None
    return adapter
