"""The GUI side of engine/trust.py and engine/io/limits.py: questions before foreign code runs, the
"paths outside a file's folder" setting, and reader warnings shown as notifications.

* A job (or a task's set-up) that fails with `engine.trust.UntrustedModelError` — a model file that is a
  pickle and so can run code — is turned into a question naming the file: "Run once" trusts it for this
  session, "Always trust this file" remembers its SHA-256, Cancel leaves it refused. On yes the same job
  is started again. `UntrustedAdapterError` (an adapter `.py` not confirmed before; the app requires the
  confirmation through `engine.trust.require_adapter_confirmation`) asks once per file version.
  The boxes are window-modal but opened with `open()`, never `exec()`: no nested event loop inside a job's
  done-callback, and scripted runs (autoshot, tests) never block on them.
* Settings ▸ "Allow paths outside a file's folder" maps onto `engine.io.limits.allow_outside_paths`
  (process-wide, read by readers in job threads) and is kept in the settings file.
* Warnings on the `scenelens.io` logger (e.g. "dropped 7 of 100 points with non-finite coordinates") come
  from job threads; a logging.Handler hands them to the GUI thread through a queued Qt signal and the
  window shows them as notifications (and in the log). Standard `logging` rather than a custom channel, so
  the CLI prints the very same lines.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtWidgets

from scenelens.engine.errors import InputError
from scenelens.engine.trust import UntrustedAdapterError, UntrustedModelError

SETTING_OUTSIDE = "allow_outside_paths"
IO_LOGGER = "scenelens.io"


def _short(path: str, n: int = 90) -> str:
    s = str(path)
    return s if len(s) <= n else "…" + s[-(n - 1):]


class _Bridge(QtCore.QObject):
    message = QtCore.Signal(str)


class IoWarningHandler(logging.Handler):
    """Forwards `scenelens.io` warnings from any thread to `show(text)` on the GUI thread."""

    def __init__(self, show: Callable[[str], None], parent: QtCore.QObject):
        super().__init__(logging.WARNING)
        self.bridge = _Bridge(parent)
        self.bridge.message.connect(show, QtCore.Qt.QueuedConnection)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must never break a reader
            return
        text = text[len("warning: "):] if text.startswith("warning: ") else text
        try:
            self.bridge.message.emit(text[:2000])
        except RuntimeError:  # the window (and its bridge) is gone
            pass


class TrustPrompts(QtCore.QObject):
    """Installed on the main window as `window.trust`; `ask(exc, retry)` is called where failures arrive."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.box: QtWidgets.QMessageBox | None = None
        self._open_for: set[tuple[str, str]] = set()
        self.handler = IoWarningHandler(self._io_warning, self)
        logging.getLogger(IO_LOGGER).addHandler(self.handler)
        window.destroyed.connect(self._detach)
        self._build_setting()

    # ------------------------------------------------------------------------------ reader warnings
    def _io_warning(self, text: str) -> None:
        self.window.log(text, "warning")

    def _detach(self, *_a) -> None:
        logging.getLogger(IO_LOGGER).removeHandler(self.handler)

    def detach(self) -> None:
        self._detach()

    # ------------------------------------------------------------------------------ setting
    def _build_setting(self) -> None:
        from scenelens.engine.io.limits import allow_outside_paths

        on = bool(self.window.settings.get(SETTING_OUTSIDE, False))
        allow_outside_paths(True if on else None)  # None: the environment variable still decides
        a = self.window.menu("&Settings").addAction("Allow paths outside a file's folder")
        a.setCheckable(True)
        a.setChecked(on)
        a.setToolTip("Manifests, info files and COCO/nuScenes indexes may name files outside their own folder "
                     "(device files and /proc stay refused)")
        a.toggled.connect(self.set_allow_outside)
        self.outside_action = a

    def set_allow_outside(self, on: bool) -> None:
        from scenelens.engine.io.limits import allow_outside_paths

        allow_outside_paths(True if on else None)
        self.window.settings.set(SETTING_OUTSIDE, bool(on))
        try:
            self.window.settings.save()
        except OSError as e:
            self.window.log(f"cannot save settings: {e}", "warning")
        if self.outside_action.isChecked() != bool(on):
            self.outside_action.setChecked(bool(on))
        self.window.log("paths outside a file's folder are " + ("allowed" if on else "refused"))

    # ------------------------------------------------------------------------------ questions
    def ask(self, exc: BaseException | None, retry: Callable[[], object]) -> bool:
        """If `exc` is a trust question, show it (retry on yes) and return True; else False."""
        if isinstance(exc, UntrustedModelError) and exc.path:
            self._ask(exc.path, "model", retry)
            return True
        if isinstance(exc, UntrustedAdapterError) and exc.path:
            self._ask(exc.path, "adapter", retry)
            return True
        return False

    def _ask(self, path: str, kind: str, retry: Callable[[], object]) -> None:
        key = (kind, str(Path(path).resolve()))
        if key in self._open_for:  # the same question already on screen (e.g. two runs queued)
            return
        name = Path(path).name
        if kind == "model":
            title = "Run code from this model file?"
            text = (f"The model file\n{_short(path)}\nis a pickled Python object (a whole torch.save'd module). "
                    "Loading it can run any code it contains, with your permissions.")
            info = "Load it only if you trust where it came from. TorchScript or .safetensors files need no trust."
        else:
            title = "Run this adapter file?"
            text = (f"The adapter\n{_short(path)}\nis a Python file: running it executes its code with your "
                    "permissions.")
            info = "You are asked once per file version (a changed file is asked about again)."
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Warning, title, text, QtWidgets.QMessageBox.NoButton,
                                    self.window)
        box.setInformativeText(info)
        box.setObjectName(f"trust_{kind}")
        buttons = {}
        if kind == "model":
            buttons["once"] = box.addButton("Run once", QtWidgets.QMessageBox.AcceptRole)
            buttons["always"] = box.addButton("Always trust this file", QtWidgets.QMessageBox.AcceptRole)
        else:
            buttons["always"] = box.addButton("Run this adapter", QtWidgets.QMessageBox.AcceptRole)
        cancel = box.addButton(QtWidgets.QMessageBox.Cancel)
        box.setDefaultButton(cancel)  # Enter does not run foreign code
        box.setEscapeButton(cancel)
        box.setWindowModality(QtCore.Qt.WindowModal)
        box.buttons_by_role = buttons  # for tests and scripts: the buttons a user can click
        self._open_for.add(key)

        def clicked(button) -> None:
            self._open_for.discard(key)
            choice = next((k for k, b in buttons.items() if b is button), None)
            if choice is None:
                self.window.log(f"not run: {name} (you cancelled the confirmation)", "warning")
                return
            try:
                if kind == "model":
                    from scenelens.engine.trust import trust_model_file

                    trust_model_file(path, remember=choice == "always")
                else:
                    from scenelens.engine.trust import trust_adapter

                    trust_adapter(path)
            except (InputError, OSError) as e:  # the file vanished or the record cannot be written
                self.window.error(f"Cannot trust {name}", str(e))
                return
            self.window.log(f"{'trusted' if choice == 'always' else 'trusted for this session'}: {path}")
            QtCore.QTimer.singleShot(0, self.window, retry)

        box.buttonClicked.connect(clicked)
        box.finished.connect(lambda _r: self._open_for.discard(key))
        self.box = box
        box.open()
