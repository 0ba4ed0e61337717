"""Task registry: each module in this package that defines `TASK = Task(...)` is a task the CLI can
`run`/`eval` and the GUI can start as a job. Modules are discovered, so a capability adds a task without
editing shared files. Task modules must import heavy libraries (torch, scipy...) lazily inside functions,
so that `python main.py --help` and unknown-task errors stay instant.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from ..errors import InputError

ArgsFn = Callable[[argparse.ArgumentParser], None]
CliFn = Callable[[argparse.Namespace], int]


@dataclass
class Task:
    """`add_run_args`/`run_cli` implement `main.py run NAME ...`; `add_eval_args`/`eval_cli` `main.py eval NAME ...`.

    CLI functions return the exit code and raise InputError for bad input (main.py turns it into one line
    on stderr and exit 2).
    """

    name: str
    description: str
    add_run_args: ArgsFn | None = None
    run_cli: CliFn | None = None
    add_eval_args: ArgsFn | None = None
    eval_cli: CliFn | None = None


_TASKS: dict[str, Task] = {}


def _discover() -> None:
    import sys

    from ..plugins import collect

    collect(sys.modules[__name__], "TASK", Task, "tasks", _TASKS)


def tasks() -> dict[str, Task]:
    _discover()
    return dict(_TASKS)


def get_task(name: str, verb: str = "run") -> Task:
    _discover()
    t = _TASKS.get(name)
    have = sorted(n for n, t in _TASKS.items() if (t.run_cli if verb == "run" else t.eval_cli))
    if t is None or (verb == "run" and t.run_cli is None) or (verb == "eval" and t.eval_cli is None):
        raise InputError(None, f"unknown task {name!r} for '{verb}' (available: {', '.join(have) or 'none'})")
    return t
