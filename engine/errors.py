"""Typed errors so that every entry point (GUI dialog, CLI exit 2) can report bad input in one line.

An `InputError` always names the file and what is wrong with it; a traceback is never what the user sees.
"""
from __future__ import annotations

import os


class SceneLensError(Exception):
    """Base class for errors that are the user's to fix, not bugs."""


class InputError(SceneLensError):
    """A file or argument the user gave cannot be used. `str()` is one line naming the file and the fault."""

    def __init__(self, path: str | os.PathLike | None, message: str):
        self.path = None if path is None else os.fspath(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class JobCancelled(SceneLensError):
    """Raised inside a job when the user cancelled it; runners treat it as a clean stop, not an error."""


class TaskError(SceneLensError):
    """A task could not produce a result for a reason worth showing the user (model failed, no overlap...)."""
