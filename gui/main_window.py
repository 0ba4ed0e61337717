"""The SceneLens main window: 3D view in the centre, 2D view, scene browser, inspector, jobs and log as
movable docks; menus for files, edits, views, device and workbenches.

The window owns the open Scene and hands it to the views; it runs every computation (loading included)
through the JobRunner, so the GUI thread only draws. Workbenches plug in through gui/workbenches.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from engine import __version__
from engine.device import describe, resolve_device
from engine.errors import InputError
from engine.jobs import Job
from engine.project import Project, discard_recovery, has_recovery, load_project, recovery_path, save_project, write_recovery
from engine.scene import CameraRig, ImageLayer, Layer, Scene

from .jobs import JobRunner
from .panels.inspector import Inspector
from .panels.jobs_panel import JobsPanel
from .panels.log_panel import LogPanel
from .panels.scene_browser import SceneBrowser
from .settings import Settings
from .undo import EngineCommand
from .views.view2d import View2D
from .views.view3d import View3D

_GUI_THREAD_GC = None


def collect_garbage_on_gui_thread() -> None:
    """Run Python's cyclic GC only on the GUI thread (pyqtgraph's GarbageCollector: automatic GC off, a GUI
    timer collects). Otherwise a collection triggered inside a job's worker thread can destroy a Qt wrapper
    there (e.g. of a closed dialog or a removed plot item): its ~QObject takes a Qt lock and waits for the GIL
    while the GUI thread holds the GIL and waits for that lock — a hard freeze, reproduced with a closed
    window followed by a job that imports scipy."""
    global _GUI_THREAD_GC
    if _GUI_THREAD_GC is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GUI_THREAD_GC = GarbageCollector(interval=0.5)


AREAS = {"left": QtCore.Qt.LeftDockWidgetArea, "right": QtCore.Qt.RightDockWidgetArea,
         "bottom": QtCore.Qt.BottomDockWidgetArea, "top": QtCore.Qt.TopDockWidgetArea}
AUTOSAVE_MS = 60_000


class MainWindow(QtWidgets.QMainWindow):
    scene_changed = QtCore.Signal(object)
    layer_added = QtCore.Signal(object)

    def __init__(self, device: str = "auto", autosave_ms: int = AUTOSAVE_MS):
        super().__init__()
        collect_garbage_on_gui_thread()
        self.setWindowTitle("SceneLens")
        self.setAcceptDrops(True)
        self.settings = Settings()
        self.device_choice = device or self.settings.get("device", "auto")
        try:
            self.device = resolve_device(self.device_choice)
        except InputError:
            self.device = "cpu"
        self.scene = Scene()
        self.project_path: str | None = None
        self.annotation_providers: list = []
        self.last_dialog: QtWidgets.QMessageBox | None = None
        self._dirty_annotations = False

        self.runner = JobRunner(self)
        self.undo_stack = QtGui.QUndoStack(self)
        self.undo_stack.indexChanged.connect(lambda _i: self._mark_dirty())

        self.view3d = View3D(self)
        self.setCentralWidget(self.view3d)
        self.view2d = View2D()
        self.browser = SceneBrowser()
        self.inspector = Inspector()
        self.jobs_panel = JobsPanel(self.runner)
        self.log_panel = LogPanel()
        self.setDockNestingEnabled(True)
        self.dock_browser = self.add_dock(self.browser, "Scene", "left", tabify=False)
        self.dock_inspector = self.add_dock(self.inspector, "Inspector", "left", tabify=False)
        self.dock_2d = self.add_dock(self.view2d, "Image", "right", tabify=False)
        self.dock_jobs = self.add_dock(self.jobs_panel, "Jobs", "bottom", tabify=False)
        self.dock_log = self.add_dock(self.log_panel, "Log", "bottom", tabify=False)
        self.tabifyDockWidget(self.dock_jobs, self.dock_log)
        self.dock_jobs.raise_()

        self.browser.visibility_changed.connect(self.set_layer_visible)
        self.view3d.picked.connect(self._on_pick)

        self.device_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self._update_device_label()
        self._menus: dict[str, QtWidgets.QMenu] = {}
        self._build_menus()

        from .workbenches import discover

        self.workbenches = []
        for cls in discover():
            wb = cls(self)
            try:
                wb.install(self)
            except Exception as e:  # one broken workbench must not take the app down
                self.log(f"workbench {cls.__name__} failed to install: {e}", "error")
                continue
            self.workbenches.append(wb)
        self.dock_jobs.raise_()

        self.autosave_timer = QtCore.QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start(autosave_ms)
        self.resize(1500, 920)
        self.resizeDocks([self.dock_jobs], [170], QtCore.Qt.Vertical)
        self.resizeDocks([self.dock_browser, self.dock_2d], [300, 480], QtCore.Qt.Horizontal)
        self._restore_layout()

    # ------------------------------------------------------------------------------------------ plumbing
    def add_dock(self, widget: QtWidgets.QWidget, title: str, area: str = "right",
                 tabify: bool = True) -> QtWidgets.QDockWidget:
        """Add a movable dock. Workbench docks are tabbed with the previous one in the same area (bottom:
        with Jobs/Log) so four workbenches do not squeeze the 3D view."""
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFloatable
                         | QtWidgets.QDockWidget.DockWidgetClosable)
        self.addDockWidget(AREAS[area], dock)
        tab_docks = self.__dict__.setdefault("_tab_docks", {})
        if tabify:
            anchor = tab_docks.get(area) or (self.dock_log if area == "bottom" and hasattr(self, "dock_log") else None)
            if anchor is not None:
                self.tabifyDockWidget(anchor, dock)
            tab_docks[area] = dock
        if hasattr(self, "_view_menu"):
            self._view_menu.addAction(dock.toggleViewAction())
        return dock

    def menu(self, title: str) -> QtWidgets.QMenu:
        key = title.replace("&", "")
        if key not in self._menus:
            m = QtWidgets.QMenu(title, self)
            help_action = self._menus["Help"].menuAction() if "Help" in self._menus else None
            if help_action is not None:
                self.menuBar().insertMenu(help_action, m)
            else:
                self.menuBar().addMenu(m)
            self._menus[key] = m
        return self._menus[key]

    def log(self, message: str, level: str = "info") -> None:
        self.log_panel.log(message, level)
        if level != "info":
            self.statusBar().showMessage(message, 8000)

    def error(self, title: str, message: str) -> QtWidgets.QMessageBox:
        """A non-blocking error dialog (the app stays usable) plus a log entry."""
        self.log(f"{title}: {message}", "error")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Critical, title, message, QtWidgets.QMessageBox.Ok, self)
        box.setModal(False)
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose, False)
        box.show()
        self.last_dialog = box
        return box

    def start_job(self, job: Job, on_result=None, on_partial=None, on_error=None, on_cancel=None):
        """Run an engine job on a worker thread; result/partial callbacks run on the GUI thread."""
        self.log(f"started: {job.name}")

        def failed(msg: str, details: str) -> None:
            if details:
                self.log(details, "error")
            if on_error is not None:
                on_error(msg, details)
            self.error(f"{job.name} failed", msg)

        def finished(result) -> None:
            self.log(f"finished: {job.name}")
            if on_result is not None:
                try:
                    on_result(result)
                except Exception as e:  # showing a result must not crash the window
                    import traceback

                    self.log(traceback.format_exc(), "error")
                    self.error(f"{job.name}: cannot show result", f"{type(e).__name__}: {e}")

        def cancelled() -> None:
            self.log(f"cancelled: {job.name}", "warning")
            if on_cancel is not None:
                on_cancel()

        return self.runner.start(job, finished, on_partial, failed, cancelled)

    def push(self, command) -> None:
        self.undo_stack.push(EngineCommand(command))

    def _mark_dirty(self) -> None:
        self._dirty_annotations = True

    # ------------------------------------------------------------------------------------------ scene
    def set_scene(self, scene: Scene) -> None:
        self.scene = scene
        self.undo_stack.clear()
        self.view2d.clear()
        self.view3d.set_scene(scene)
        for lay in scene.layers:
            self._show_2d(lay)
        self.browser.set_scene(scene)
        self.setWindowTitle(f"SceneLens — {scene.name}")
        self.statusBar().showMessage(f"{scene.name}: {len(scene)} layer(s)", 5000)
        for wb in self.workbenches:
            try:
                wb.on_scene_changed(scene)
            except Exception as e:
                self.log(f"{wb.title}: {type(e).__name__}: {e}", "error")
        self.scene_changed.emit(scene)

    def _show_2d(self, lay: Layer) -> None:
        if isinstance(lay, ImageLayer) and lay.image is not None:
            self.view2d.show_image(lay.image, lay.name, select=self.view2d.current is None)
        elif isinstance(lay, CameraRig):
            for cam in lay.cameras:
                if cam.image is not None:
                    self.view2d.show_image(cam.image, cam.name, select=self.view2d.current is None)

    def add_layer(self, layer: Layer, replace: bool = True) -> Layer:
        """Show a new layer (a job's result): a layer of the same name is replaced when `replace`."""
        old = next((lay for lay in self.scene.layers if lay.name == layer.name), None) if replace else None
        if old is not None:
            self.view3d.scene_renderer.remove_layer(old.uid)
        (self.scene.replace if replace else self.scene.add)(layer)
        self.view3d.add_layer(layer)
        self._show_2d(layer)
        self.browser.set_scene(self.scene)
        self.layer_added.emit(layer)
        return layer

    def refresh_layer(self, layer: Layer, style: dict | None = None) -> None:
        self.view3d.add_layer(layer, style)

    def remove_layer(self, uid: str) -> None:
        self.scene.remove(uid)
        self.view3d.remove_layer(uid)
        self.browser.set_scene(self.scene)

    def set_layer_visible(self, uid: str, visible: bool) -> None:
        self.view3d.set_visible(uid, visible)
        item = self.browser.item_for(uid)
        if item is not None and (item.checkState(0) == QtCore.Qt.Checked) != visible:
            self.browser._updating = True
            item.setCheckState(0, QtCore.Qt.Checked if visible else QtCore.Qt.Unchecked)
            self.browser._updating = False

    def _on_pick(self, info: dict) -> None:
        lay = self.scene.get(info["layer"])
        details = info.get("details") or {"position": "%.3f, %.3f, %.3f" % info["position"]}
        self.inspector.show(f"{lay.name if lay else 'layer'} — picked", details)

    # ------------------------------------------------------------------------------------------ files
    def open_path(self, path: str | os.PathLike):
        """Open a scene file/folder or a project (.slproj) in a background job; returns the job handle."""
        path = str(path)
        if path.endswith(".slproj"):
            try:
                return self.open_project(path)
            except InputError as e:
                self.error("Cannot open project", str(e))
                return None
        from engine.io import load

        def work(ctx):
            ctx.progress(0.05, f"reading {Path(path).name}")
            return load(path)

        def done(scene: Scene) -> None:
            self.set_scene(scene)
            self.project_path = None
            self.settings.add_recent(path)
            self._update_recent_menu()
            self.log(f"opened {path}: {len(scene)} layer(s)")

        return self.start_job(Job(f"Open {Path(path).name}", work), on_result=done)

    def _open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open scene, file or project")
        if path:
            self.open_path(path)

    def _open_folder_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open folder")
        if path:
            self.open_path(path)

    def dragEnterEvent(self, e: QtGui.QDragEnterEvent) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QtGui.QDropEvent) -> None:
        for url in e.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                break

    # ------------------------------------------------------------------------------------------ projects
    def current_project(self) -> Project:
        proj = Project(scene_path=self.scene.path, frame_index=int(self.scene.meta.get("frame_index", 0)),
                       visibility={lay.name: lay.visible for lay in self.scene.layers})
        cam = self.view3d.renderer.GetActiveCamera()
        proj.view = {"position": list(cam.GetPosition()), "focal_point": list(cam.GetFocalPoint()),
                     "view_up": list(cam.GetViewUp())}
        for p in self.annotation_providers:
            p.save_annotations(proj)
        return proj

    def save_project(self, path: str) -> None:
        save_project(path, self.current_project())
        self.project_path = path
        self.undo_stack.setClean()
        self._dirty_annotations = False
        self.log(f"saved project {path}")

    def _save_project_dialog(self, save_as: bool = False) -> None:
        path = self.project_path
        if save_as or not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save project", "", "SceneLens project (*.slproj)")
            if not path:
                return
            if not path.endswith(".slproj"):
                path += ".slproj"
        self.save_project(path)

    def open_project(self, path: str, wait: bool = False):
        proj = load_project(path)
        return self.apply_project(proj, path)

    def apply_project(self, proj: Project, path: str | None = None):
        if not proj.scene_path:
            raise InputError(path, "project has no scene")
        from engine.io import load

        def done(scene: Scene) -> None:
            self.set_scene(scene)
            for lay in scene.layers:
                if lay.name in proj.visibility:
                    self.set_layer_visible(lay.uid, bool(proj.visibility[lay.name]))
            for p in self.annotation_providers:
                p.restore_annotations(proj)
            if proj.view:
                cam = self.view3d.renderer.GetActiveCamera()
                cam.SetPosition(*proj.view["position"])
                cam.SetFocalPoint(*proj.view["focal_point"])
                cam.SetViewUp(*proj.view["view_up"])
                self.view3d.renderer.ResetCameraClippingRange()
                self.view3d.render()
            self.project_path = path
            self.log(f"opened project {path}")

        return self.start_job(Job(f"Open project {Path(path or '').name}", lambda ctx: load(proj.scene_path)),
                              on_result=done)

    def autosave(self) -> Path | None:
        """Write the recovery file when there are unsaved edits."""
        if not (self._dirty_annotations or not self.undo_stack.isClean()) or not self.scene.path:
            return None
        try:
            p = write_recovery(self.current_project())
        except OSError as e:
            self.log(f"autosave failed: {e}", "warning")
            return None
        self._dirty_annotations = False
        self.log(f"autosaved to {p}")
        return p

    def offer_recovery(self) -> bool:
        """After a crash, ask whether to restore the autosaved work (non-blocking dialog)."""
        if not has_recovery():
            return False
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Question, "Recover unsaved work?",
                                    f"SceneLens found autosaved work from a session that did not close cleanly:\n"
                                    f"{recovery_path()}\n\nRestore it?",
                                    QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No, self)
        box.setModal(False)
        box.buttonClicked.connect(lambda b: self.restore_recovery() if box.buttonRole(b) == QtWidgets.QMessageBox.YesRole
                                  else discard_recovery())
        box.show()
        self.last_dialog = box
        return True

    def restore_recovery(self):
        try:
            proj = load_project(recovery_path())
        except InputError as e:
            self.error("Recovery file unreadable", str(e))
            return None
        return self.apply_project(proj, None)

    # ------------------------------------------------------------------------------------------ exports
    def export_view_screenshot(self, path: str) -> None:
        self.view3d.screenshot(path)
        self.log(f"wrote 3D view screenshot {path}")

    def export_window_screenshot(self, path: str) -> None:
        """The whole window, with the GL area filled from VTK's own buffer (QWidget.grab shows garbage there)."""
        from engine.io.image import write_image

        write_image(path, self.window_image())
        self.log(f"wrote window screenshot {path}")

    def window_image(self):
        import numpy as np

        pix = self.grab()
        img = pix.toImage().convertToFormat(QtGui.QImage.Format_RGB888)
        w, h = img.width(), img.height()
        arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
        arr = arr[:, : 3 * w].reshape(h, w, 3).copy()
        dpr = pix.devicePixelRatio() or 1.0
        v = self.view3d
        top_left = v.mapTo(self, QtCore.QPoint(0, 0))
        shot = v.screenshot()
        x0, y0 = int(top_left.x() * dpr), int(top_left.y() * dpr)
        sh, sw = min(shot.shape[0], h - y0), min(shot.shape[1], w - x0)
        arr[y0:y0 + sh, x0:x0 + sw] = shot[:sh, :sw]
        return arr

    def _export_dialog(self, which: str) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export screenshot", f"{which}.png", "PNG (*.png)")
        if path:
            (self.export_view_screenshot if which == "view" else self.export_window_screenshot)(path)

    # ------------------------------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        f = self.menu("&File")
        f.addAction("&Open…", self._open_dialog, QtGui.QKeySequence.Open)
        f.addAction("Open &folder…", self._open_folder_dialog)
        self._recent_menu = f.addMenu("Open &recent")
        self._update_recent_menu()
        f.addAction("Open &demo scene", lambda: self.open_path(demo_scene_path()))
        f.addSeparator()
        f.addAction("&Save project", self._save_project_dialog, QtGui.QKeySequence.Save)
        f.addAction("Save project &as…", lambda: self._save_project_dialog(True), QtGui.QKeySequence.SaveAs)
        f.addSeparator()
        f.addAction("Export 3D view screenshot…", lambda: self._export_dialog("view"))
        f.addAction("Export window screenshot…", lambda: self._export_dialog("window"))
        f.addSeparator()
        f.addAction("&Quit", self.close, QtGui.QKeySequence.Quit)
        e = self.menu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QtGui.QKeySequence.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QtGui.QKeySequence.Redo)
        e.addAction(undo)
        e.addAction(redo)
        v = self.menu("&View")
        for name in ("iso", "top", "front", "side"):
            v.addAction(f"Camera: {name}", lambda n=name: self.view3d.reset_camera(n))
        v.addSeparator()
        self._view_menu = v
        for d in (self.dock_browser, self.dock_inspector, self.dock_2d, self.dock_jobs, self.dock_log):
            v.addAction(d.toggleViewAction())
        s = self.menu("&Settings")
        dev = s.addMenu("Device")
        group = QtGui.QActionGroup(self)
        for choice in ("auto", "cpu", "cuda"):
            a = dev.addAction(choice, lambda c=choice: self.set_device(c))
            a.setCheckable(True)
            a.setChecked(choice == self.device_choice)
            group.addAction(a)
        h = self.menu("&Help")
        h.addAction("About SceneLens", lambda: QtWidgets.QMessageBox.about(
            self, "SceneLens", f"SceneLens {__version__}\nA workbench for 3D perception models."))

    def _update_recent_menu(self) -> None:
        self._recent_menu.clear()
        for p in self.settings.recent:
            self._recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self._recent_menu.setEnabled(bool(self.settings.recent))

    def set_device(self, choice: str) -> None:
        try:
            self.device = resolve_device(choice)
        except InputError as e:
            self.error("Device unavailable", str(e))
            return
        self.device_choice = choice
        self.settings.set("device", choice)
        self._update_device_label()
        self.log(f"device: {describe(self.device)}")

    def _update_device_label(self) -> None:
        try:
            self.device_label.setText(f"Device: {describe(self.device)}")
        except Exception:
            self.device_label.setText(f"Device: {self.device}")

    # ------------------------------------------------------------------------------------------ lifecycle
    def _restore_layout(self) -> None:
        geom, state = self.settings.get("geometry"), self.settings.get("window_state")
        if geom:
            self.restoreGeometry(QtCore.QByteArray.fromBase64(geom.encode()))
        if state:
            self.restoreState(QtCore.QByteArray.fromBase64(state.encode()))

    def save_layout(self) -> None:
        self.settings.set("geometry", bytes(self.saveGeometry().toBase64()).decode())
        self.settings.set("window_state", bytes(self.saveState().toBase64()).decode())
        try:
            self.settings.save()
        except OSError as e:
            self.log(f"cannot save settings: {e}", "warning")

    def showEvent(self, e: QtGui.QShowEvent) -> None:
        super().showEvent(e)
        QtCore.QTimer.singleShot(0, self, self.hide_stale_tab_bars)  # context: dropped if the window goes

    def hide_stale_tab_bars(self) -> list[QtWidgets.QTabBar]:
        """Qt 6.11 leaves a second, visible copy of a dock tab bar when a new tab group is made while another
        group exists (reproduced with a bare QMainWindow) — it floats over the inspector. The copy stops
        updating, so its tabs are a strict prefix of the live bar's: hide those."""
        bars = [b for b in self.findChildren(QtWidgets.QTabBar) if b.parent() is self and b.isVisible()]
        tabs = {b: [b.tabText(i) for i in range(b.count())] for b in bars}
        stale = [b for b in bars if any(o is not b and len(tabs[o]) > len(tabs[b]) and tabs[o][:len(tabs[b])] == tabs[b]
                                        for o in bars)]
        for b in stale:
            b.hide()
        return stale

    def closeEvent(self, e: QtGui.QCloseEvent) -> None:
        self.autosave_timer.stop()
        self.runner.shutdown()
        self.save_layout()
        if self._dirty_annotations or not self.undo_stack.isClean():
            self.autosave()  # unsaved edits stay recoverable even after a clean close
        else:
            discard_recovery()
        self.view3d.close_view()
        super().closeEvent(e)


def demo_scene_path() -> str:
    return str(Path(__file__).resolve().parent.parent / "assets" / "demo" / "scene.json")
