"""Top-level CLI verbs beyond `render`/`run`/`eval` (e.g. `export`, `plugins`), discovered like tasks, so a
capability adds a verb by adding a module here that defines `COMMAND = Command(...)` — main.py stays thin and
never needs editing. Modules must import heavy libraries lazily inside their functions.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable


@dataclass
class Command:
    """`add_args(parser)` declares the verb's options; `run(args) -> exit code` runs it (raise InputError for
    bad input: main.py prints one line and exits 2)."""

    name: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


_COMMANDS: dict[str, Command] = {}


def commands() -> dict[str, Command]:
    import sys

    from ..plugins import collect

    return dict(collect(sys.modules[__name__], "COMMAND", Command, "commands", _COMMANDS))
