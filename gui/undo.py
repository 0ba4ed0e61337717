"""Bridges engine `Command` objects onto Qt's QUndoStack, so Edit ▸ Undo/Redo and Ctrl+Z work for every
workbench's edits while the edit logic itself stays Qt-free and testable."""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from scenelens.engine.undo import Command


class EngineCommand(QUndoCommand):
    def __init__(self, cmd: Command):
        super().__init__(cmd.text)
        self.cmd = cmd

    def redo(self) -> None:  # Qt calls redo() on push, which is the first do()
        self.cmd.do()

    def undo(self) -> None:
        self.cmd.undo()
