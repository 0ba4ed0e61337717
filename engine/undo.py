"""Undoable edits as plain command objects, so annotation logic is testable and usable without Qt.

The GUI wraps each `Command` in a QUndoCommand (gui/undo.py) and pushes it on a QUndoStack; headless
code and tests use `UndoStack` here. A command must be exactly reversible: `undo()` after `do()` restores
the state bit for bit.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


class Command:
    text = "edit"

    def do(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError


class SetArrayValues(Command):
    """Assign `values` at `index` (any numpy index) in `array`, remembering what was there."""

    def __init__(self, array: np.ndarray, index, values, text: str = "edit values",
                 on_change: Callable[[], None] | None = None):
        self.array, self.index, self.text = array, index, text
        self.new = np.array(values, dtype=array.dtype, copy=True)
        self.old = np.array(array[index], copy=True)
        self.on_change = on_change

    def do(self) -> None:
        self.array[self.index] = self.new
        if self.on_change:
            self.on_change()

    def undo(self) -> None:
        self.array[self.index] = self.old
        if self.on_change:
            self.on_change()


class SetAttr(Command):
    """Set `obj.<name> = value`, remembering the previous value."""

    def __init__(self, obj, name: str, value, text: str | None = None, on_change=None):
        self.obj, self.name, self.new = obj, name, value
        self.old = getattr(obj, name)
        self.text = text or f"set {name}"
        self.on_change = on_change

    def do(self) -> None:
        setattr(self.obj, self.name, self.new)
        if self.on_change:
            self.on_change()

    def undo(self) -> None:
        setattr(self.obj, self.name, self.old)
        if self.on_change:
            self.on_change()


class UndoStack:
    """Linear undo history; `push` runs the command. `clean` tracks whether there are unsaved edits."""

    def __init__(self) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_depth = 0

    def push(self, cmd: Command) -> None:
        cmd.do()
        self._done.append(cmd)
        self._undone.clear()
        if self._clean_depth > len(self._done) - 1:
            self._clean_depth = -1

    def undo(self) -> bool:
        if not self._done:
            return False
        cmd = self._done.pop()
        cmd.undo()
        self._undone.append(cmd)
        return True

    def redo(self) -> bool:
        if not self._undone:
            return False
        cmd = self._undone.pop()
        cmd.do()
        self._done.append(cmd)
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def set_clean(self) -> None:
        self._clean_depth = len(self._done)

    @property
    def is_clean(self) -> bool:
        return self._clean_depth == len(self._done)
