"""The SceneLens main window: 3D view in the centre, 2D view, scene browser, inspector, jobs and log as
movable docks; menus for files, edits, views, device and workbenches.

The window owns the open Scene and hands it to the views; it runs every computation (loading included)
through the JobRunner, so the GUI thread only draws. Workbenches plug in through gui/workbenches.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from PySide6 import QtCore, QtGui, QtWidgets

from scenelens.engine import __version__
from scenelens.engine.device import describe, resolve_device
from scenelens.engine.errors import InputError, SceneLensError
from scenelens.engine.jobs import Job
from scenelens.engine.project import Project, RecoveryStore, load_project
from scenelens.engine.scene import CameraRig, ImageLayer, Layer, Scene
from scenelens.engine.session import WORKSPACES, Pick, Session, load_scene_of, suggest_workspace

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


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (Qt wrappers, torch, VTK modules) out of the collector's reach
    (gc.freeze): a full collection then scans only what the session made since, so the GUI-thread collector
    no longer stalls drawing for ~100 ms."""
    import gc

    gc.freeze()  # a list splice: no collection, no stall


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
BOTTOM_FRACTION = {"Occupancy": 0.42, "Registration": 0.34, "Pose": 0.24, "Attribution": 0.3}
NUSCENES_GRID = ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT")
AUTOSAVE_DEBOUNCE_MS = 1500  # quiet time after an edit before autosave
AUTOSAVE_MAX_DELAY_S = 4.0  # ... but never later than this after the first unsaved edit (goal: within 5 s)
# Common docks each workspace shows besides its own workbenches' docks (Blender/napari-style layouts).
WORKSPACE_COMMON = {
    "Viewer": ("Scene", "Inspector", "Cameras", "Jobs", "Log"),
    "Occupancy": ("Scene", "Inspector", "Cameras", "Jobs", "Log"),
    "Registration": ("Scene", "Inspector", "Jobs", "Log"),
    "Pose": ("Scene", "Inspector", "Image", "Jobs", "Log"),
    "Attribution": ("Scene", "Inspector", "Image", "Jobs", "Log"),
}


class MainWindow(QtWidgets.QMainWindow):
    scene_changed = QtCore.Signal(object)
    layer_added = QtCore.Signal(object)
    workspace_changed = QtCore.Signal(str)

    def __init__(self, device: str | None = None, autosave_ms: int = AUTOSAVE_DEBOUNCE_MS):
        super().__init__()
        collect_garbage_on_gui_thread()
        self.setWindowTitle("SceneLens")
        self.setAcceptDrops(True)
        self.settings = Settings()
        self.device_choice = device or self.settings.get("device") or "auto"
        try:
            self.device = resolve_device(self.device_choice)
        except InputError as e:
            self.device, self._device_warning = "cpu", f"{e}; using the CPU"
        self.session = Session(device=self.device)
        self.project_path: str | None = None
        self.annotation_providers: list = []
        self.last_dialog = None
        self._dirty_annotations = False
        self._first_unsaved: float | None = None
        self._clearing_undo = False
        self._restored_unsaved = False  # recovered work lives only in a recovery file until the user saves
        self.recovery = RecoveryStore()
        self._closing = False
        self._installing_workspace: str | None = None
        self.workspace_docks: dict[str, list[QtWidgets.QDockWidget]] = {w: [] for w in WORKSPACES}
        self.common_docks: dict[str, QtWidgets.QDockWidget] = {}
        self.pick_handlers: list[tuple[str | None, object]] = []
        self.click_handlers: list[tuple[str | None, object]] = []

        self.runner = JobRunner(self)
        self.undo_stack = QtGui.QUndoStack(self)
        self.undo_stack.indexChanged.connect(lambda _i: None if self._clearing_undo else self._mark_dirty())
        self.session.set_undo_backend(lambda cmd: self.undo_stack.push(EngineCommand(cmd)))

        from .panels.notifications import NotificationArea
        from .panels.welcome import WelcomePanel
        from .views.camera_grid import CameraGrid

        self.view3d = View3D(self)
        self.view3d.runner = self.runner  # big meshes (e.g. a 300k-voxel grid) are built in a job, not here
        self.welcome = WelcomePanel()
        self.welcome.open_file.connect(self._open_dialog)
        self.welcome.open_folder.connect(self._open_folder_dialog)
        self.welcome.open_demo.connect(lambda: self._user_open(self.open_path, demo_scene_path()))
        self.welcome.open_recent.connect(lambda p: self._user_open(self.open_path, p))
        self.central = QtWidgets.QStackedWidget()
        self.central.addWidget(self.view3d)
        self.central.addWidget(self.welcome)
        self.setCentralWidget(self.central)
        self.notifications = NotificationArea(self)
        self.view2d = View2D()
        self.camera_grid = CameraGrid()
        self.camera_grid.camera_clicked.connect(self.enlarge_camera)
        self.browser = SceneBrowser()
        self.inspector = Inspector()
        self.jobs_panel = JobsPanel(self.runner)
        self.log_panel = LogPanel()
        self.setDockNestingEnabled(True)
        # Left column: Scene, Inspector, Jobs|Log (the left area owns both left corners, so the bottom area
        # — cameras, timelines, plots — spans the width beside it). Right: the image view and panels.
        self.setCorner(QtCore.Qt.BottomLeftCorner, QtCore.Qt.LeftDockWidgetArea)
        self.setCorner(QtCore.Qt.TopLeftCorner, QtCore.Qt.LeftDockWidgetArea)
        self.dock_browser = self.add_dock(self.browser, "Scene", "left", tabify=False, scroll=False)
        self.dock_inspector = self.add_dock(self.inspector, "Inspector", "left", tabify=False)
        self.dock_jobs = self.add_dock(self.jobs_panel, "Jobs", "left", tabify=False, scroll=False)
        self.dock_log = self.add_dock(self.log_panel, "Log", "left", tabify=False, scroll=False)
        self.tabifyDockWidget(self.dock_jobs, self.dock_log)
        self.dock_cameras = self.add_dock(self.camera_grid, "Cameras", "bottom", tabify=False)
        self.dock_2d = self.add_dock(self.view2d, "Image", "right", tabify=False)
        self._tab_docks[("bottom", None)] = self.dock_cameras
        for d in (self.dock_browser, self.dock_inspector, self.dock_cameras, self.dock_2d, self.dock_jobs, self.dock_log):
            self.common_docks[d.windowTitle()] = d
        self.dock_jobs.raise_()

        self.browser.visibility_changed.connect(self.set_layer_visible)
        self.view3d.picked.connect(self._on_pick)
        self.view2d.clicked.connect(self._on_click2d)

        self.device_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().setSizeGripEnabled(True)
        self._update_device_label()
        self._menus: dict[str, QtWidgets.QMenu] = {}
        self._build_menus()
        from .trust_prompts import TrustPrompts

        self.trust = TrustPrompts(self)  # model/adapter confirmations, outside-paths setting, reader warnings
        self._build_workspace_bar()

        from .workbenches import discover

        self.workbenches = []
        for cls in discover():
            wb = cls(self)
            self._installing_workspace = getattr(cls, "workspace", None)
            try:
                wb.install(self)
            except Exception as e:  # one broken workbench must not take the app down
                self.log(f"workbench {cls.__name__} failed to install: {e}", "error")
                continue
            finally:
                self._installing_workspace = None
            self.workbenches.append(wb)
        self.dock_jobs.raise_()

        self.autosave_timer = QtCore.QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(autosave_ms)
        self.autosave_timer.timeout.connect(self.autosave)
        self.session.on("edited", lambda _p: self._mark_dirty())
        self._follow_session()
        self.resize(1280, 760)
        self._initial_sizes()
        self._restore_layout()
        self.set_workspace(self.session.workspace, force=True)
        self._update_central()
        if getattr(self, "_device_warning", None):
            self.log(self._device_warning, "warning")

    def _initial_sizes(self) -> None:
        h, w = max(self.height(), 600), max(self.width(), 800)
        self.resizeDocks([self.dock_browser, self.dock_2d], [min(300, w // 5), w // 3], QtCore.Qt.Horizontal)
        self.resizeDocks([self.dock_cameras], [int(h * 0.5)], QtCore.Qt.Vertical)
        self.resizeDocks([self.dock_browser, self.dock_inspector, self.dock_jobs], [h // 4, h // 3, h // 4],
                         QtCore.Qt.Vertical)


    @property
    def scene(self) -> Scene:
        return self.session.scene

    @scene.setter
    def scene(self, scene: Scene) -> None:
        self.session.scene = scene

    # ------------------------------------------------------------------------------------------ plumbing
    def add_dock(self, widget: QtWidgets.QWidget, title: str, area: str = "right",
                 tabify: bool = True, scroll: bool | None = None) -> QtWidgets.QDockWidget:
        """Add a movable dock. A dock added while a workbench installs belongs to that workbench's workspace
        (shown only there). Panels (left/right) scroll rather than impose their minimum size on the window,
        so the window fits 1280×720; workbench docks in one area are tabbed together."""
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        if scroll is None:
            scroll = area in ("left", "right") and not isinstance(widget, (View2D, QtWidgets.QAbstractScrollArea))
        if scroll:
            sa = QtWidgets.QScrollArea()
            sa.setWidgetResizable(True)
            sa.setFrameShape(QtWidgets.QFrame.NoFrame)
            sa.setWidget(widget)
            dock.setWidget(sa)
        else:
            dock.setWidget(widget)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFloatable
                         | QtWidgets.QDockWidget.DockWidgetClosable)
        self.addDockWidget(AREAS[area], dock)
        # any dock shown or hidden (by a workspace, a workbench or the user) can leave Qt's stale bar behind
        dock.visibilityChanged.connect(self._schedule_stale_tab_check)
        ws = self._installing_workspace
        tab_docks = self.__dict__.setdefault("_tab_docks", {})
        if tabify:
            key = (area, ws)
            anchor = tab_docks.get(key) or tab_docks.get((area, None))
            if anchor is not None:
                self.tabifyDockWidget(anchor, dock)
            tab_docks[key] = dock
        if ws in self.workspace_docks:
            self.workspace_docks[ws].append(dock)
        elif hasattr(self, "workspace_docks") and tabify:  # a tool without a workspace: shown everywhere
            for lst in self.workspace_docks.values():
                lst.append(dock)
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

    def log(self, message: str, level: str = "info", details: str | None = None) -> None:
        """Every message goes to the log; warnings and errors also pop up as a non-modal notification."""
        self.log_panel.log(message, level)
        if level != "info":
            self.statusBar().showMessage(message[:200], 8000)
            self.last_dialog = self.notifications.notify(message, level, details)

    def error(self, title: str, message: str):
        """A failure the user must see but that blocks nothing: a notification (kept in the log)."""
        self.log(f"{title}: {message}", "error")
        return self.last_dialog

    def start_job(self, job: Job, on_result=None, on_partial=None, on_error=None, on_cancel=None):
        """Run an engine job on a worker thread; result/partial callbacks run on the GUI thread."""
        self.log(f"started: {job.name}")

        def failed(msg: str, details: str) -> None:
            if details:
                self.log_panel.log(details, "error")
            if on_error is not None:
                on_error(msg, details)
            if self.trust.ask(getattr(handle, "exception", None),  # "run this file?": on yes, the same job again
                              lambda: self.start_job(job, on_result, on_partial, on_error, on_cancel)):
                self.log(f"{job.name}: waiting for your confirmation: {_elide(msg, 300)}")
                return
            self.error(f"{job.name} failed", msg)

        def finished(result) -> None:
            self.log(f"finished: {job.name}")
            if on_result is not None:
                try:
                    on_result(result)
                except Exception as e:  # showing a result must not crash the window
                    import traceback

                    self.log_panel.log(traceback.format_exc(), "error")
                    self.error(f"{job.name}: cannot show the result", _one_line(e))

        def cancelled() -> None:
            self.log(f"cancelled: {job.name}", "warning")
            if on_cancel is not None:
                on_cancel()

        handle = self.runner.start(job, finished, on_partial, failed, cancelled)
        return handle

    def run_task(self, task: str, on_layers=None, **options):
        """Run a task through its engine controller (the same plan the CLI and the Python API use): the job
        in the background, then its layers, with provenance, into the scene. Returns the job handle."""
        from scenelens.engine.controllers import build

        try:
            plan = build(task, self.session, **options)
        except InputError as e:
            if not self.trust.ask(e, lambda: self.run_task(task, on_layers, **options)):
                self.error(task.capitalize(), str(e))
            return None

        def done(result) -> None:
            layers = [self.add_layer(lay) for lay in plan.to_layers(result)]
            if on_layers is not None:
                on_layers(layers)

        return self.start_job(plan.job, on_result=done)

    def push(self, command) -> None:
        self.session.push(command)

    def _mark_dirty(self) -> None:
        """An unsaved change: autosave after a quiet moment, and never later than AUTOSAVE_MAX_DELAY_S."""
        import time

        self._dirty_annotations = True
        now = time.monotonic()
        if self._first_unsaved is None:
            self._first_unsaved = now
        if now - self._first_unsaved >= AUTOSAVE_MAX_DELAY_S:
            QtCore.QTimer.singleShot(0, self, self.autosave)
        else:
            self.autosave_timer.start()

    # ------------------------------------------------------------------------------------------ workspaces
    def _build_workspace_bar(self) -> None:
        bar = QtWidgets.QToolBar("Workspaces", self)
        bar.setObjectName("toolbar_workspaces")
        bar.setMovable(False)
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonTextOnly)
        self.addToolBar(QtCore.Qt.TopToolBarArea, bar)
        group = QtGui.QActionGroup(self)
        group.setExclusive(True)
        self.workspace_actions: dict[str, QtGui.QAction] = {}
        m = self.menu("&Workspace")
        for i, name in enumerate(WORKSPACES):
            a = QtGui.QAction(name, self)
            a.setCheckable(True)
            a.setShortcut(QtGui.QKeySequence(f"Ctrl+{i + 1}"))
            a.setToolTip(f"{name} workspace (Ctrl+{i + 1})")
            a.triggered.connect(lambda _c=False, n=name: self.set_workspace(n))
            group.addAction(a)
            bar.addAction(a)
            m.addAction(a)
            self.workspace_actions[name] = a
        self.workspace_bar = bar

    def set_workspace(self, name: str, force: bool = False) -> None:
        """Show the common docks of workspace `name` and its workbenches' docks; hide every other dock."""
        if name not in WORKSPACES:
            raise InputError(None, f"unknown workspace {name!r}")
        if name == getattr(self, "workspace", None) and not force:
            return
        self.workspace = name
        self.session.workspace = name
        common = [t for t in WORKSPACE_COMMON[name] if (t != "Cameras" or self.camera_grid.names())
                  and (t != "Image" or not getattr(self, "image_central", False))]
        wanted = {self.common_docks[t] for t in common} | set(self.workspace_docks[name])
        all_docks = set(self.common_docks.values()) | {d for lst in self.workspace_docks.values() for d in lst}
        self.setUpdatesEnabled(False)
        try:
            for d in all_docks - wanted:
                d.hide()
            for d in wanted:
                d.show()
            own = self.workspace_docks[name]
            bottom = [d for d in wanted if self.dockWidgetArea(d) == QtCore.Qt.BottomDockWidgetArea]
            if bottom:  # the bottom strip: tall for the camera grid, short for a timeline
                frac = 0.5 if self.dock_cameras in bottom else BOTTOM_FRACTION.get(name, 0.35)
                self.resizeDocks(bottom[:1], [int(self.height() * frac)], QtCore.Qt.Vertical)
            for d in reversed(own):  # bring the workbench's own tabs to the front, its first one on top
                d.raise_()
            if not own or all(self.dockWidgetArea(d) != QtCore.Qt.BottomDockWidgetArea for d in own):
                self.dock_jobs.raise_()
        finally:
            self.setUpdatesEnabled(True)
        self.workspace_actions[name].setChecked(True)
        QtCore.QTimer.singleShot(0, self, self.hide_stale_tab_bars)
        self.session.emit("workspace", name)
        self.workspace_changed.emit(name)

    def connect_pick(self, workbench, fn) -> None:
        """Deliver 3D picks to `fn` only while `workbench`'s workspace is active (its tool is in use)."""
        self.pick_handlers.append((getattr(workbench, "workspace", None), fn))

    def connect_click(self, workbench, fn) -> None:
        """Deliver 2D image clicks (x, y) to `fn` only while `workbench`'s workspace is active."""
        self.click_handlers.append((getattr(workbench, "workspace", None), fn))

    def _dispatch(self, handlers, *args) -> None:
        for ws, fn in list(handlers):
            if ws is None or ws == self.workspace:
                try:
                    fn(*args)
                except Exception as e:  # one tool's bug must not break picking for the others
                    import traceback

                    self.log_panel.log(traceback.format_exc(), "error")
                    self.error("Pick failed", _one_line(e))

    # ------------------------------------------------------------------------------------------ scene
    def adopt_session(self, session: Session) -> None:
        """Show an existing Session (from `scenelens.show`): the window becomes a view of that very object, so
        what the user does here is in the caller's session when the window closes."""
        session.device = self.device
        self.session = session
        session.set_undo_backend(lambda cmd: self.undo_stack.push(EngineCommand(cmd)))
        session.on("edited", lambda _p: self._mark_dirty())
        self._follow_session()
        self.set_scene(session.scene, workspace=session.workspace if session.workspace != "Viewer" else None)

    def set_scene(self, scene: Scene, workspace: str | None = None) -> None:
        if scene is not self.session.scene:
            self.session.set_scene(scene)
        self._clearing_undo = True  # QUndoStack.clear() moves the index: not an edit of the new scene
        try:
            self.undo_stack.clear()
        finally:
            self._clearing_undo = False
        self._dirty_annotations = False  # a new scene has nothing unsaved yet (the user chose: confirm_replace_scene)
        self._first_unsaved = None
        self._restored_unsaved = False
        self.view2d.clear()
        self.view3d.set_scene(scene)
        for lay in scene.layers:
            self._show_2d(lay)
        self._update_camera_grid(relayout=False)
        self.browser.set_scene(scene)
        self.setWindowTitle(f"SceneLens — {_elide(scene.name)}")
        self.statusBar().showMessage(f"{_elide(scene.name)}: {len(scene)} layer(s)", 5000)
        for wb in self.workbenches:
            try:
                wb.on_scene_changed(scene)
            except Exception as e:
                self.log(f"{wb.title}: {_one_line(e)}", "error")
        self._update_central(relayout=False)
        self.set_workspace(workspace or suggest_workspace(scene), force=True)  # one dock relayout per scene
        self.scene_changed.emit(scene)
        if not getattr(self, "_frozen", False):
            self._frozen = True
            QtCore.QTimer.singleShot(1500, self, freeze_startup_objects)

    def _update_central(self, relayout: bool = True) -> None:
        """The centre shows the 3D view; a scene with images but nothing to draw in 3D (a photo, a video)
        puts the image view there instead, full size; an empty scene shows the welcome page."""
        has3d = any(self.view3d.scene_renderer.actors.values())
        image_central = bool(len(self.scene)) and not has3d and bool(self.view2d.images)
        if image_central and self.view2d.parent() is not self.central:
            self.dock_2d.setWidget(QtWidgets.QWidget())
            self.central.addWidget(self.view2d)
        elif not image_central and self.view2d.parent() is self.central:
            self.central.removeWidget(self.view2d)
            self.dock_2d.setWidget(self.view2d)
        changed = image_central != getattr(self, "image_central", False)
        self.image_central = image_central
        if not len(self.scene):
            self.central.setCurrentWidget(self.welcome)
            self.welcome.set_recent(self.settings.recent)
        else:
            self.central.setCurrentWidget(self.view2d if image_central else self.view3d)
        if changed and relayout and hasattr(self, "workspace"):
            self.set_workspace(self.workspace, force=True)

    def _update_camera_grid(self, relayout: bool = True) -> None:
        items = [(cam.name, cam.image) for rig in self.scene.of_type(CameraRig) for cam in rig.cameras
                 if cam.image is not None]
        order = {n: i for i, n in enumerate(NUSCENES_GRID)}
        if items and all(n.upper() in order for n, _ in items):  # the rig as the car sees it: front row, back row
            items.sort(key=lambda it: order[it[0].upper()])
        had = bool(self.camera_grid.names())
        self.camera_grid.set_cameras(items)
        self.dock_cameras.setWindowTitle(f"Cameras ({len(items)})" if items else "Cameras")
        if had != bool(items) and relayout and hasattr(self, "workspace"):  # no rig: the 3D view gets the room
            self.set_workspace(self.workspace, force=True)

    def enlarge_camera(self, name: str) -> None:
        """A camera tile was clicked: show it full size in the image view (with the workbenches' overlays)."""
        if name in self.view2d.images:
            self.view2d.show_image(self.view2d.images[name], name)
        self.dock_2d.show()
        self.dock_2d.raise_()

    def _show_2d(self, lay: Layer) -> None:
        if isinstance(lay, ImageLayer) and lay.image is not None:
            self.view2d.show_image(lay.image, lay.name, select=self.view2d.current is None)
        elif isinstance(lay, CameraRig):
            for cam in lay.cameras:
                if cam.image is not None:
                    self.view2d.show_image(cam.image, cam.name, select=self.view2d.current is None)

    def add_layer(self, layer: Layer, replace: bool = True) -> Layer:
        """Add a layer (a job's result) to the session; a layer of the same name is replaced when `replace`.
        The views follow through the session's events, so layers added from the Python API show up too."""
        return self.session.add_layer(layer, replace=replace)

    def refresh_layer(self, layer: Layer, style: dict | None = None) -> None:
        self.view3d.add_layer(layer, style)

    def remove_layer(self, uid: str) -> None:
        self.session.remove_layer(uid)

    # session events → views (the window draws what the session holds; it never holds its own copy)
    def _follow_session(self) -> None:
        self.session.on("layer_added", self._on_layer_added)
        self.session.on("layer_removed", self._on_layer_removed)
        self.session.on("layer_changed", self._on_layer_changed)

    def _on_layer_added(self, layer: Layer) -> None:
        self.view3d.add_layer(layer)
        self._show_2d(layer)
        if isinstance(layer, CameraRig):
            self._update_camera_grid()
        self.browser.set_scene(self.scene)
        self._update_central()
        self.layer_added.emit(layer)

    def _on_layer_removed(self, layer: Layer) -> None:
        self.view3d.scene_renderer.remove_layer(layer.uid)
        self.view3d.render_later()
        self.browser.set_scene(self.scene)
        if isinstance(layer, CameraRig):
            self._update_camera_grid()
        self._update_central()

    def _on_layer_changed(self, layer: Layer) -> None:
        if self.scene.get(layer.uid) is layer:
            self.view3d.add_layer(layer, render=False)
            self.view3d.render_later()
            item = self.browser.item_for(layer.uid)
            if item is not None:
                item.setText(2, layer.summary())

    def set_layer_visible(self, uid: str, visible: bool) -> None:
        self.view3d.set_visible(uid, visible)
        item = self.browser.item_for(uid)
        if item is not None and (item.checkState(0) == QtCore.Qt.Checked) != visible:
            self.browser._updating = True
            item.setCheckState(0, QtCore.Qt.Checked if visible else QtCore.Qt.Unchecked)
            self.browser._updating = False

    def _on_pick(self, info: dict) -> None:
        """A 3D pick: typed into a Pick for the session (selection) and the inspector, then handed to the
        active workspace's tools only."""
        lay = self.scene.get(info["layer"])
        details = info.get("details") or {"position": "%.3f, %.3f, %.3f" % info["position"]}
        kind = info.get("kind") or ("voxel" if info.get("voxel") is not None else "point")
        index = info.get("voxel") if kind == "voxel" else info.get("point_id")
        self.session.select(Pick(layer=info["layer"], kind=kind, index=index, position=tuple(info["position"]),
                                 value=info.get("value"), details=dict(details)))
        self.inspector.show(f"{_elide(lay.name) if lay else 'layer'} — picked", details)
        self._dispatch(self.pick_handlers, info)

    def _on_click2d(self, x: float, y: float) -> None:
        self._dispatch(self.click_handlers, x, y)

    # ------------------------------------------------------------------------------------------ files
    def open_path(self, path: str | os.PathLike, target: str | os.PathLike | None = None):
        """Open a scene file/folder or a project (.slproj) in a background job; returns the job handle.
        With `target`, `path` and `target` open as a registration pair (source, target)."""
        path = str(path)
        if target is not None:
            reg = next((wb for wb in self.workbenches if hasattr(wb, "open_pair")), None)
            if reg is not None:
                return reg.open_pair(path, str(target))
        if path.endswith(".slproj"):
            return self.open_project(path)
        from scenelens.engine.io import load

        def work(ctx):
            from .views.layers.points import prepare_scene

            ctx.progress(0.05, f"reading {Path(path).name}")
            scene = Session.precompute_prints(load(path))  # hashing a big cloud: here, not on the GUI thread
            prepare_scene(scene, ctx)  # the clouds' display subsets, colours and VTK arrays: here too
            return scene

        def done(scene: Scene) -> None:
            self.set_scene(scene)
            self.project_path = None
            self.settings.add_recent(path)
            self._update_recent_menu()
            self.log(f"opened {path}: {len(scene)} layer(s)")

        return self.start_job(Job(f"Open {Path(path).name}", work), on_result=done)

    def open_paths(self, paths: list[str]):
        """Open what the user gave at once (command line, drop, File → Open with several files): one path as
        `open_path`; two by what the files are (gui/app.py `pair_kind`): two point clouds → a registration
        pair, a video/image and its pose results JSON → the results on that video, two trajectories → both
        opened and compared (APE / RPE); any other pair → one error naming both and the pairs accepted.
        Returns the job handle (None when refused or nothing given)."""
        from .app import PAIRS_ACCEPTED, pair_kind

        paths = [str(p) for p in paths]
        if len(paths) != 2:
            if len(paths) > 2:
                self.error("Cannot open these files together",
                           f"{len(paths)} files given; open one, or two as a pair: {PAIRS_ACCEPTED}")
                return None
            return self.open_path(paths[0]) if paths else None

        kind, what = pair_kind(*paths)
        if kind == "registration":
            return self.open_path(*what)
        if kind == "pose":
            return self.open_results_on(*what)
        if kind == "trajectories":
            return self.open_trajectory_pair(*what)
        self.error("Cannot open these two files together", what)
        return None

    def open_results_on(self, media: str, results: str):
        """Pose results (a COCO keypoint JSON) opened on the video or image the user gave with them, in a job:
        a video is handed to the results' reader, which draws the people on it instead of the video the file
        names (engine/io/coco_keypoints.py); an image is added, and pictures the reader found itself give way."""
        from scenelens.engine.io import detect, load, load_layers

        def work(ctx):
            from .views.layers.points import prepare_scene

            ctx.progress(0.05, f"reading {Path(results).name}")
            if detect(media).name == "video":
                scene = load(results, video=media)
            else:
                scene = load(results)
                ctx.progress(0.6, f"reading {Path(media).name}")
                pictures = load_layers(media)
                mine = {str(Path(lay.path).resolve()) for lay in pictures if getattr(lay, "path", None)}
                scene.layers = [lay for lay in scene.layers if not isinstance(lay, ImageLayer)
                                or str(Path(lay.path or "").resolve()) in mine]
                have = {str(Path(lay.path).resolve()) for lay in scene.of_type(ImageLayer) if lay.path}
                scene.layers[:0] = [lay for lay in pictures if str(Path(lay.path).resolve()) not in have]
            scene.name = f"{Path(results).name} on {Path(media).name}"
            scene = Session.precompute_prints(scene)
            prepare_scene(scene, ctx)
            return scene

        def done(scene: Scene) -> None:
            self.set_scene(scene, workspace="Pose")
            self.project_path = None
            self.log(f"opened {results} on {media}: {len(scene)} layer(s)")

        return self.start_job(Job(f"Open {Path(results).name} on {Path(media).name}", work), on_result=done)

    def open_trajectory_pair(self, a: str, b: str):
        """Two trajectory files: a scene of both, then the Pose panel's comparison (the user names the
        estimate, the reference and the alignment; gui/workbenches/pose.py `_compare_dialog`)."""
        from scenelens.engine.io.trajectory import load_trajectories

        def done(layers) -> None:
            self.set_scene(Scene(name=f"{Path(a).name} vs {Path(b).name}", layers=layers), workspace="Pose")
            self.project_path = None
            self.log(f"opened trajectories {a} and {b}")
            wb = next((w for w in self.workbenches if hasattr(w, "compare_trajectories")), None)
            if wb is not None:  # after this callback: the dialogs open on the scene just shown
                QtCore.QTimer.singleShot(0, self, wb._compare_dialog)

        return self.start_job(Job(f"Open {Path(a).name} and {Path(b).name}", lambda ctx: load_trajectories((a, b), ctx)),
                              on_result=done)

    def confirm_replace_scene(self) -> bool:
        """Before an open the user asked for replaces a scene with unsaved edits: save them (to the project, or
        a new one), discard them on purpose, or cancel the open. Without the question the edits vanished with
        the old scene, and the next autosave wrote the new scene over the old one's recovery file."""
        if not (len(self.scene) and self.has_unsaved_work()):
            return True
        box = QtWidgets.QMessageBox(self)
        box.setObjectName("unsaved_changes")
        box.setIcon(QtWidgets.QMessageBox.Warning)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"{_elide(self.scene.name)} has unsaved changes.")
        box.setInformativeText("Save them as a project before opening something else?")
        box.setStandardButtons(QtWidgets.QMessageBox.Save | QtWidgets.QMessageBox.Discard
                               | QtWidgets.QMessageBox.Cancel)
        box.setDefaultButton(QtWidgets.QMessageBox.Save)
        answer = box.exec()
        if answer == QtWidgets.QMessageBox.Save:
            return self._save_project_dialog()
        if answer == QtWidgets.QMessageBox.Discard:
            self.recovery.discard_own()
            return True
        return False

    def _user_open(self, fn, *args):
        """An open from the menus, the welcome page or a drop: only once unsaved edits are dealt with."""
        return fn(*args) if self.confirm_replace_scene() else None

    def _open_dialog(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open scene, file or project (or two files as a pair)")
        if paths:
            self._user_open(self.open_paths, paths)

    def _open_folder_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open folder")
        if path:
            self._user_open(self.open_path, path)

    def dragEnterEvent(self, e: QtGui.QDragEnterEvent) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QtGui.QDropEvent) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            e.acceptProposedAction()
            self.last_drop = self._user_open(self.open_paths, paths)

    # ------------------------------------------------------------------------------------------ projects
    def current_project(self) -> Project:
        cam = self.view3d.renderer.GetActiveCamera()
        self.session.view = {"position": list(cam.GetPosition()), "focal_point": list(cam.GetFocalPoint()),
                             "view_up": list(cam.GetViewUp())}
        self.session.workspace = self.workspace
        proj = self.session.to_project()
        for p in self.annotation_providers:
            p.save_annotations(proj)
        return proj

    def save_project(self, path: str) -> bool:
        from scenelens.engine.project import save_project

        try:
            save_project(path, self.current_project())
        except (OSError, InputError) as e:
            self.error("Cannot save the project", f"{path}: {getattr(e, 'strerror', None) or e}")
            return False
        self.project_path = path
        self.session.project_path = path
        self.undo_stack.setClean()
        self._dirty_annotations = False
        self._first_unsaved = None
        self._restored_unsaved = False
        self.recovery.discard_own()
        self.log(f"saved project {path}")
        return True

    def _save_project_dialog(self, save_as: bool = False) -> bool:
        path = self.project_path
        if save_as or not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save project", "", "SceneLens project (*.slproj)")
            if not path:
                return False
            if not path.endswith(".slproj"):
                path += ".slproj"
        return self.save_project(path)

    def open_project(self, path: str, wait: bool = False):
        """Open a `.slproj` in a job (reading it, its scene and its saved layers all happen there)."""
        return self.apply_project(None, path, source=path)

    def apply_project(self, proj: Project | None, path: str | None = None, unsaved: bool = False,
                      source: str | os.PathLike | None = None):
        """Load the project's scene in a job, then lay its layers, view, workspace and annotations over it.
        `proj` None: the job reads the project from `source` first. `unsaved`: restored work (a recovery file)
        stays marked unsaved until the user saves it.

        As with a plain open (`open_path`), the job does all the heavy work: inflating the project's arrays,
        reading the scene file, hashing the file's layers, rebuilding the saved layers over them
        (`project_layers`) and preparing each cloud's display (`prepare_scene`: LOD subset, colours, VTK
        polydata, framing statistics); the GUI thread installs the result and makes the actors, once."""
        name = Path(str(source or path or "recovered")).name

        def work(ctx):
            from scenelens.engine.session import project_layers

            from .views.layers.points import prepare_scene

            pj = proj
            if pj is None:
                ctx.progress(0.02, f"reading {name}")
                pj = load_project(source)
            ctx.progress(0.3, "reading the project's scene")
            scene = Session.precompute_prints(load_scene_of(pj, path))  # the file's prints, as read
            layers = project_layers(pj, scene)
            ctx.check_cancel()
            prepare_scene(SimpleNamespace(layers=layers), ctx)  # the layers the view will build, in its order
            return pj, scene, layers

        def done(result) -> None:
            pj, scene, layers = result
            self.session.apply_project(pj, scene, layers)
            self.set_scene(scene, workspace=pj.workspace if pj.workspace in WORKSPACES else None)
            for lay in self.scene.layers:
                if lay.name in pj.visibility and not pj.layers:
                    self.set_layer_visible(lay.uid, bool(pj.visibility[lay.name]))
            for p in self.annotation_providers:
                try:
                    p.restore_annotations(pj)
                except Exception as e:  # a workbench's saved state it cannot read must not lose the rest
                    self.log(f"cannot restore {getattr(p, 'title', 'annotations')}: {_one_line(e)}", "warning")
            if pj.view:
                try:
                    cam = self.view3d.renderer.GetActiveCamera()
                    cam.SetPosition(*pj.view["position"])
                    cam.SetFocalPoint(*pj.view["focal_point"])
                    cam.SetViewUp(*pj.view["view_up"])
                    self.view3d.renderer.ResetCameraClippingRange()
                except (KeyError, TypeError):
                    self.log("the project's saved view is unreadable; using the default view", "warning")
                self.view3d.render_later()
            self.project_path = path
            self.session.project_path = path
            if unsaved:
                self._restored_unsaved = True
                self._mark_dirty()
            self.log(f"opened project {path or '(recovered work)'}")

        return self.start_job(Job(f"Open project {name}", work), on_result=done)

    def has_unsaved_work(self) -> bool:
        return self._dirty_annotations or not self.undo_stack.isClean() or self._restored_unsaved

    def autosave(self, force: bool = False) -> Path | None:
        """Write this instance's recovery file when there are unsaved edits (atomic, debounced by the caller)."""
        self.autosave_timer.stop()
        if not (self._dirty_annotations or (force and self.has_unsaved_work())) or not len(self.scene):
            return None
        try:
            p = self.recovery.write(self.current_project())
        except (OSError, InputError, SceneLensError, TypeError, ValueError) as e:
            self.log(f"autosave failed: {_one_line(e)}", "warning")
            return None
        self._dirty_annotations = False
        self._first_unsaved = None
        self.log(f"autosaved to {p}")
        return p

    def offer_recovery(self) -> bool:
        """After a crash, offer the autosaved work of instances that are no longer running (never a live one's)."""
        orphans = self.recovery.orphans()
        if not orphans:
            return False
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Question, "Recover unsaved work?",
                                    "SceneLens found autosaved work from a session that did not close cleanly:\n"
                                    f"{orphans[0]}\n\nRestore it?",
                                    QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No, self)
        box.setModal(False)
        box.buttonClicked.connect(lambda b: self.restore_recovery(orphans[0]) if box.buttonRole(b) == QtWidgets.QMessageBox.YesRole
                                  else [self.recovery.discard(o) for o in orphans])
        box.show()
        self.recovery_box = box
        return True

    def restore_recovery(self, path: Path | None = None):
        path = path or next(iter(self.recovery.orphans()), None)
        if path is None:
            return None
        h = self.apply_project(None, None, unsaved=True, source=path)  # read in the job

        def adopt(state: str) -> None:  # our own recovery file now holds the work: the orphan can go
            if state == "finished" and self.autosave(force=True) is not None:
                self.recovery.discard(path)

        if h is not None:
            h.done.connect(adopt)
        return h

    # ------------------------------------------------------------------------------------------ exports
    def export_view_screenshot(self, path: str) -> None:
        self.view3d.screenshot(path)
        self.log(f"wrote 3D view screenshot {path}")

    def export_window_screenshot(self, path: str) -> None:
        """The whole window, with the GL area filled from VTK's own buffer (QWidget.grab shows garbage there)."""
        from scenelens.engine.io.image import write_image

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
        if not v.isVisible():  # the centre shows the image view or the welcome page
            return arr
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
        f.addAction("Open &demo scene", lambda: self._user_open(self.open_path, demo_scene_path()))
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
            self._recent_menu.addAction(p, lambda p=p: self._user_open(self.open_path, p))
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
        if not getattr(self, "_sized_once", False) and not self.settings.get("window_state"):
            self._sized_once = True  # first show without a saved layout: split the space by the real size
            QtCore.QTimer.singleShot(0, self, self._initial_sizes)
        QtCore.QTimer.singleShot(0, self, self.hide_stale_tab_bars)  # context: dropped if the window goes

    def _schedule_stale_tab_check(self, _visible: bool = False) -> None:
        if not getattr(self, "_stale_check_pending", False):
            self._stale_check_pending = True
            QtCore.QTimer.singleShot(0, self, self._run_stale_tab_check)

    def _run_stale_tab_check(self) -> None:
        self._stale_check_pending = False
        self.hide_stale_tab_bars()

    def hide_stale_tab_bars(self) -> list[QtWidgets.QTabBar]:
        """Qt 6.11 leaves a second, visible copy of a dock tab bar when a new tab group is made while another
        group exists (reproduced with a bare QMainWindow) — it floats over the inspector. The copy stops
        updating, so its tabs are a strict prefix of the live bar's: hide those."""
        bars = [b for b in self.findChildren(QtWidgets.QTabBar) if b.parent() is self and b.isVisible()]
        for b in [b for b in bars if b.count() == 0]:  # a group whose docks the workspace hid
            b.hide()
        bars = [b for b in bars if b.count()]
        tabs = {b: [b.tabText(i) for i in range(b.count())] for b in bars}
        # Qt drops a closed dock's tab from a live group's bar (a tab behind the current one is not closed: its
        # view action stays checked), so a bar naming a closed dock, or no dock at all, is a leftover too (seen
        # at 1280×800 as "Jobs | Log | Cameras | Attribution 3D" over the inspector in the Occupancy workspace)
        docks = {d.windowTitle(): d for d in self.findChildren(QtWidgets.QDockWidget)}
        stale = [b for b in bars if any(t not in docks or not docks[t].toggleViewAction().isChecked() for t in tabs[b])]
        live = [b for b in bars if b not in stale]
        stale += [b for b in live if any(o is not b and len(tabs[o]) > len(tabs[b]) and tabs[o][:len(tabs[b])] == tabs[b]
                                         for o in live)]
        for b in stale:
            b.hide()
        return stale

    def closeEvent(self, e: QtGui.QCloseEvent) -> None:
        """Cancel every job and close once all have stopped at their next cancel point — never terminate() a
        thread (that can leave locks held and files half-written). Meanwhile say what is still stopping."""
        running = [h for h in self.runner.handles if h.state == "running" or h.thread.isRunning()]
        if running:
            for h in running:
                h.cancel()
            e.ignore()
            names = ", ".join(_elide(h.name, 60) for h in running)
            self.statusBar().showMessage(f"Closing — waiting for {len(running)} job(s) to stop: {names}")
            if not self._closing:
                self._closing = True
                self.log(f"closing: waiting for {names} to stop", "warning")
                self._close_poll = QtCore.QTimer(self)
                self._close_poll.setInterval(20)
                self._close_poll.timeout.connect(self._close_when_idle)
                self._close_poll.start()
            return
        if getattr(self, "_close_poll", None) is not None:
            self._close_poll.stop()
        self.autosave_timer.stop()
        self.save_layout()
        if self.has_unsaved_work():
            self.autosave(force=True)  # unsaved edits stay recoverable even after a clean close
        else:
            self.recovery.discard_own()
        self.recovery.close()
        self.view3d.close_view()
        self.notifications.clear()
        super().closeEvent(e)

    def _close_when_idle(self) -> None:
        if any(h.thread.isRunning() for h in self.runner.handles):
            return
        QtCore.QCoreApplication.processEvents()  # let the jobs' done callbacks run first
        self._close_poll.stop()
        self.close()


def _one_line(e: BaseException) -> str:
    """An exception as one readable line for a notification (the traceback goes to the log only)."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, (InputError, SceneLensError)):
        return _elide(msg, 300)
    return _elide(f"{type(e).__name__}: {msg}" if msg else type(e).__name__, 300)


def _elide(text: str, n: int = 120) -> str:
    """Long strings (a 50 MB scene name) never reach X11 whole."""
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def demo_scene_path() -> str:
    return str(Path(__file__).resolve().parent.parent / "assets" / "demo" / "scene.json")
