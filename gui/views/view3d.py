"""The interactive 3D view: a QVTKRenderWindowInteractor on a real (or virtual) display, or an offscreen
vtkRenderWindow shown through a QLabel when Qt runs with the offscreen platform (no GL context to share).
Screenshots always come from vtkWindowToImageFilter, never QWidget.grab()."""
from __future__ import annotations

import numpy as np
import vtk
from PySide6 import QtCore, QtGui, QtWidgets

from scenelens.engine.scene import Layer, Scene

from .scene_renderer import SceneRenderer
from .vtk_utils import image_from_window, items


def offscreen_platform() -> bool:
    app = QtGui.QGuiApplication.instance()
    return app is not None and app.platformName() in ("offscreen", "minimal")


class View3D(QtWidgets.QWidget):
    picked = QtCore.Signal(dict)
    layer_built = QtCore.Signal(str)  # uid: a mesh built in the background is now in the view

    # set by the window: big meshes (a builder with `background`/`prebuild` hooks) are built in its jobs
    runner = None
    pick_renderers: tuple = ()  # more renderers of this window that picks may hit (a workbench sets them)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.renderer = vtk.vtkRenderer()
        self.scene_renderer = SceneRenderer(self.renderer)
        self.offscreen = offscreen_platform()
        if self.offscreen:
            self.window = vtk.vtkRenderWindow()
            self.window.SetOffScreenRendering(1)
            self.window.SetSize(960, 640)
            self.window.AddRenderer(self.renderer)
            self._label = QtWidgets.QLabel()
            self._label.setMinimumSize(320, 240)
            self._label.setAlignment(QtCore.Qt.AlignCenter)
            lay.addWidget(self._label)
            self.interactor = None
        else:
            from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

            self.vtk_widget = QVTKRenderWindowInteractor(self)
            lay.addWidget(self.vtk_widget)
            self.window = self.vtk_widget.GetRenderWindow()
            self.window.AddRenderer(self.renderer)
            self.interactor = self.window.GetInteractor()
            self.interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
            # Clicks are seen on the Qt widget itself: the trackball style grabs VTK's press, so a release
            # observer on the interactor never fires for a real mouse (8 real clicks → 0 picks before).
            self.vtk_widget.installEventFilter(self)
            self._axes = vtk.vtkOrientationMarkerWidget()
            self._axes.SetOrientationMarker(vtk.vtkAxesActor())
            self._axes.SetInteractor(self.interactor)
            self._axes.SetViewport(0.0, 0.0, 0.12, 0.18)
            self._axes.SetEnabled(1)
            self._axes.InteractiveOff()
            self.vtk_widget.Initialize()
            # Qt's paint events render too (QVTKRenderWindowInteractor.paintEvent): counted, so a deferred
            # render that a paint has already done is skipped (an open drew its first frame three times).
            self.window.AddObserver("EndEvent", self._count_render)
            # Dragging draws each actor's coarse subset (`_sl_lod_data`: big clouds, big voxel meshes), the
            # release the still frame (the trackball style renders right after EndInteractionEvent).
            self.interactor.AddObserver("StartInteractionEvent", lambda *_a: self.set_interactive_lod(True))
            self.interactor.AddObserver("EndInteractionEvent", lambda *_a: self.set_interactive_lod(False))
        self._renders = 0
        self._render_asked = -1
        self._press_pos = None
        self._bg_gen: dict[str, int] = {}  # per layer: generation of the newest build (older results are dropped)
        self._bg_jobs: dict = {}
        self._bg_pending: dict[str, int] = {}  # uid → generation whose job is queued or running
        self._bg_landed: dict[str, int] = {}  # uid → generation whose mesh is in the view
        self._progressive: dict[str, list] = {}  # uid → mesh chunks still to draw (see _start_progressive)
        self._frame_key = None  # camera and size of the last frame drawn (see _count_render)
        # points, lines and glyphs are picked within ~4 px (a cloud's point is rarely hit dead on); closed voxel
        # surfaces (actors marked `_sl_exact_pick`) only where the ray hits a cell: the tolerant picker took a
        # face whose edge passed within a few pixels in front of the voxel actually hit (a ray 0.6 m past a tree
        # named a free voxel beside it). 1e-6 of the view's diagonal (~0.001 px) rather than 0 so a ray through
        # a shared quad edge is not lost to round-off; VTK's picker also uses it as the t slack between cells.
        self.picker = vtk.vtkCellPicker()
        self.picker.SetTolerance(0.004)
        self.exact_picker = vtk.vtkCellPicker()
        self.exact_picker.SetTolerance(1e-6)
        self.marker = self._make_marker()
        self.renderer.AddActor(self.marker)

    # --------------------------------------------------------------------------------------------- scene
    @property
    def origin(self):
        return self.scene_renderer.origin

    def set_scene(self, scene: Scene) -> None:
        self._progressive.clear()
        self.scene_renderer.clear()
        for lay in scene.layers:  # big grids build in a job (add_layer), the rest here
            self.add_layer(lay, render=False)
        self.renderer.AddActor(self.marker)
        self.reset_camera(render=False)
        self.render_later()

    def render_later(self) -> None:
        """One render on the next turn of the event loop, however many changes came before it (software GL
        frames cost tens of ms: never draw the same scene twice in one event)."""
        self._render_asked = self._renders  # every request: a render after this one draws what it asked for
        if not getattr(self, "_render_pending", False):
            self._render_pending = True
            # a 0 ms QTimer, not QTimer.singleShot(0) (a queued call): the frame then runs in the loop's timer
            # pass, after the posted events that asked for it, so the GUI thread's other timers get a turn
            # between an open's set_scene and its first frame (two ~50 ms stalls, not one of ~100)
            if getattr(self, "_render_timer", None) is None:
                self._render_timer = QtCore.QTimer(self)
                self._render_timer.setSingleShot(True)
                self._render_timer.setInterval(0)
                self._render_timer.timeout.connect(self._deferred_render)
            self._render_timer.start()

    def _count_render(self, *_a) -> None:
        self._renders += 1
        self._frame_key = self._view_key()
        w = getattr(self, "vtk_widget", None)
        if w is not None:  # the size of the frame in VTK's buffer (what a paint at this size may blit again)
            self._painted_size = (w.width(), w.height(), w.devicePixelRatioF())

    def _deferred_render(self) -> None:
        self._render_pending = False
        if not self.offscreen and self._renders > self._render_asked:
            return  # a paint event rendered the current scene since the last request
        self.render()

    def add_layer(self, layer: Layer, style: dict | None = None, render: bool = True) -> list:
        """(Re)build a layer's actors. A layer whose builder says its mesh is big (`builder.background`) is
        built in a job with `builder.prebuild`: the view keeps the layer's previous actors (or draws a
        placeholder, e.g. a grid's outline) until the mesh lands, then emits `layer_built(uid)`."""
        first = not self.scene_renderer.actors
        self._bg_gen[layer.uid] = self._bg_gen.get(layer.uid, 0) + 1  # any pending background build is stale
        if self._build_in_background(layer, style, first):
            return self.scene_renderer.actors.get(layer.uid, [])
        actors = self.scene_renderer.add_layer(layer, style)
        if first:
            self.reset_camera(render=False)
        self._start_progressive(layer.uid)
        if render:
            self.render()
        return actors

    def _build_in_background(self, layer: Layer, style: dict | None, first: bool) -> bool:
        from .builders import builder_for

        fn = builder_for(layer)
        wants, prebuild = getattr(fn, "background", None), getattr(fn, "prebuild", None)
        if self.runner is None or wants is None or prebuild is None:
            return False
        sr = self.scene_renderer
        st = dict(sr.styles.get(layer.uid, {}))
        st.update(style or {})
        if not wants(layer, st):
            return False
        from scenelens.engine.jobs import Job

        uid, gen = layer.uid, self._bg_gen[layer.uid]
        old = self._bg_jobs.pop(uid, None)
        if old is not None and old.state == "running":
            old.cancel()  # superseded: it stops at its next step
        if not sr.actors.get(uid):  # nothing drawn yet: a placeholder until the mesh lands
            sr.add_layer(layer, {**st, "placeholder": True})
            if first:
                self.reset_camera(render=False)
            self.render_later()
        sr.styles[uid] = {k: v for k, v in st.items() if k not in ("placeholder", "prebuilt")}
        cam = self.renderer.GetActiveCamera()
        view_before = (cam.GetPosition(), cam.GetFocalPoint())
        job_style = {**st, "origin": sr.origin}

        def done(pre) -> None:
            if self._bg_gen.get(uid) != gen or uid not in sr.layers:
                return  # superseded by a newer build, or the layer left the view
            self._bg_landed[uid] = gen
            placeholder = any(getattr(a, "_sl_placeholder", False) for a in sr.actors.get(uid, []))
            sr.add_layer(sr.layers[uid], {"prebuilt": pre})
            sr.styles[uid].pop("prebuilt", None)
            if placeholder and (cam.GetPosition(), cam.GetFocalPoint()) == view_before:
                self.reset_camera(render=False)  # framed on the outline and not moved since: frame the mesh
            self.layer_built.emit(uid)
            self._start_progressive(uid)  # a big mesh: chunk by chunk, one per turn, after this first frame
            self.render_later()  # one frame for the new mesh and whatever the listeners laid over it

        def failed(msg: str, details: str) -> None:
            if self._bg_gen.get(uid) == gen and uid in sr.layers:  # the jobs panel shows why; build it here
                self._bg_landed[uid] = gen
                sr.add_layer(sr.layers[uid])
                self.layer_built.emit(uid)
                self.render_later()

        def start() -> None:  # on the next turn: a restyle in the same event (a workbench) supersedes this one
            if self._bg_gen.get(uid) == gen and uid in sr.layers:
                self._bg_jobs[uid] = self.runner.start(
                    Job(f"Mesh of {layer.name}", lambda ctx: prebuild(layer, job_style, ctx)), done, None, failed)

        self._bg_pending[uid] = gen
        QtCore.QTimer.singleShot(0, self, start)
        return True

    def building(self) -> list[str]:
        """Uids of layers whose newest mesh is being built in the background (or queued to be)."""
        return sorted({u for u, g in self._bg_pending.items()
                       if g == self._bg_gen.get(u) and self._bg_landed.get(u) != g and u in self.scene_renderer.layers}
                      | set(self._progressive))

    # ------------------------------------------------------------------------------ progressive first frame
    def _start_progressive(self, uid: str) -> None:
        """A mesh built as chunks (`_sl_chunk`, voxels.CHUNK_QUADS) is drawn over several event-loop turns: the
        next frame draws the first chunk with everything else, then each turn draws only the next chunk over
        the last frame (renderer erase off: colour and depth of the earlier chunks stay), so a 1.5M-quad first
        frame (buffer upload + raster on software GL) is several short stalls. Chunks someone hid stay hidden;
        any change of camera, size or scene in between draws the rest in one normal frame instead."""
        self._progressive.pop(uid, None)
        if self.offscreen:
            return  # the offscreen label shows whole frames only
        acts = self.scene_renderer.actors.get(uid) or []
        chunks = [a for a in acts if getattr(a, "_sl_chunk", None) is not None and a.GetVisibility()]
        if len(chunks) < 2 or chunks[0].GetVisibility() == 0:
            return
        self.renderer.ResetCameraClippingRange()  # with every chunk visible: later chunks are not clipped
        for a in chunks[1:]:
            a.VisibilityOff()
        self._progressive[uid] = chunks[1:]
        self._progressive_later()

    def _progressive_later(self) -> None:
        if getattr(self, "_prog_timer", None) is None:
            self._prog_timer = QtCore.QTimer(self)
            self._prog_timer.setSingleShot(True)
            self._prog_timer.setInterval(0)
            self._prog_timer.timeout.connect(self._progressive_step)
        if not self._prog_timer.isActive():
            self._prog_timer.start()

    def _view_key(self) -> tuple:
        cam = self.renderer.GetActiveCamera()
        return (self._camera_state(), cam.GetClippingRange(), tuple(self.window.GetSize()),
                tuple(self.renderer.GetViewport()))

    def _progressive_step(self) -> None:
        if not self._progressive:
            return
        if getattr(self, "_render_pending", False) or self._renders == 0:
            self._progressive_later()  # the frame with the first chunk comes first
            return
        uid = next(iter(self._progressive))
        acts = self.scene_renderer.actors.get(uid) or []
        pend = [a for a in self._progressive[uid] if any(a is b for b in acts) and not a.GetVisibility()]
        if not pend or not acts or not acts[0].GetVisibility():  # rebuilt, revealed or hidden meanwhile
            self._progressive.pop(uid, None)
        elif self._frame_key != self._view_key() or self._render_asked >= self._renders:
            self._finish_progressive()  # the last frame is not the scene as it is now: the rest in one frame
            self.render_later()
            return
        else:
            nxt = pend.pop(0)
            self._progressive[uid] = pend
            if not pend:
                self._progressive.pop(uid)
            self._draw_over(nxt)
        if self._progressive:
            self._progressive_later()

    def _draw_over(self, actor) -> None:
        """Draw one more actor over the last frame: only it is visible in this render, and the renderer does
        not clear colour or depth."""
        ren = self.renderer
        hidden = [p for p in items(ren.GetViewProps()) if p is not actor and p.GetVisibility()]
        for p in hidden:
            p.VisibilityOff()
        actor.VisibilityOn()
        # the window's other renderers (the axes marker, a side-by-side half) keep their pixels from the last
        # frame: drawn again over themselves their blended text would grow bolder
        others = [r for r in items(self.window.GetRenderers()) if r is not ren and r.GetDraw()]
        for r in others:
            r.DrawOff()
        ren.EraseOff()
        try:
            self.window.Render()
        finally:
            ren.EraseOn()
            for r in others:
                r.DrawOn()
            for p in hidden:
                p.VisibilityOn()
        self._present()

    def _finish_progressive(self) -> None:
        """Show every chunk still waiting (a screenshot, or the view changed under the progressive draw)."""
        acts_by = self.scene_renderer.actors
        for uid, pend in list(self._progressive.items()):
            acts = acts_by.get(uid) or []
            if acts and acts[0].GetVisibility():
                for a in pend:
                    if any(a is b for b in acts):
                        a.VisibilityOn()
        self._progressive.clear()
        self.renderer.ResetCameraClippingRange()

    def set_interactive_lod(self, interacting: bool) -> int:
        """Swap the actors of this view's renderers (`pick_renderers` too: a side-by-side half) to their
        coarse data while the user drags, back on release; returns how many were switched."""
        from .layers.voxels import set_interactive_lod

        return sum(set_interactive_lod(r, interacting) for r in (self.renderer, *self.pick_renderers))

    def remove_layer(self, uid: str) -> None:
        self._progressive.pop(uid, None)
        self._bg_gen[uid] = self._bg_gen.get(uid, 0) + 1
        self.scene_renderer.remove_layer(uid)
        self.render()

    def set_visible(self, uid: str, visible: bool) -> None:
        self._progressive.pop(uid, None)  # all of the layer's actors take the visibility
        self.scene_renderer.set_visible(uid, visible)
        self.render()

    def reset_camera(self, view: str = "iso", render: bool = True) -> None:
        self.scene_renderer.set_view(view)
        self._framed = (view, self._camera_state())
        self._refit = False
        if render:
            self.render()

    def _camera_state(self) -> tuple:
        cam = self.renderer.GetActiveCamera()
        return (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp(), cam.GetViewAngle(), cam.GetParallelScale())

    def _camera_untouched(self) -> bool:
        """True while the camera is where the last preset put it (no drag, zoom or programmatic move since)."""
        framed = getattr(self, "_framed", None)
        return framed is not None and framed[1] == self._camera_state()

    def _refit_if_untouched(self) -> None:
        """A preset frames the box for the viewport's aspect at the time: the view is often resized right after
        an open (a workbench adds its docks), so an untouched preset is framed again for the new size."""
        if getattr(self, "_refit", False):
            self._refit = False
            if self._camera_untouched():
                self.reset_camera(self._framed[0], render=False)

    # --------------------------------------------------------------------------------------------- drawing
    def render(self) -> None:
        self._refit_if_untouched()
        self.window.Render()
        self._present()

    def _present(self) -> None:
        if self.offscreen:
            img = image_from_window(self.window)
            h, w = img.shape[:2]
            qimg = QtGui.QImage(img.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
            self._label.setPixmap(QtGui.QPixmap.fromImage(qimg))

    def screenshot(self, path: str | None = None) -> np.ndarray:
        """RGB array of the current frame; also written as PNG when `path` is given."""
        if self._progressive:
            self._finish_progressive()  # the whole mesh, not the chunks drawn so far
        self.window.Render()
        img = image_from_window(self.window)
        if path:
            from scenelens.engine.io.image import write_image

            write_image(path, img)
        return img

    # --------------------------------------------------------------------------------------------- picking
    def _make_marker(self) -> vtk.vtkActor:
        src = vtk.vtkSphereSource()
        src.SetRadius(0.25)
        src.SetThetaResolution(16)
        src.SetPhiResolution(12)
        self._marker_src = src
        m = vtk.vtkPolyDataMapper()
        m.SetInputConnection(src.GetOutputPort())
        a = vtk.vtkActor()
        a.SetMapper(m)
        a.GetProperty().SetColor(1.0, 1.0, 0.2)
        a.SetVisibility(False)
        a.PickableOff()
        return a

    def eventFilter(self, obj, ev) -> bool:
        """A left click (press and release within 4 px) picks; a drag only rotates. VTK still gets every event."""
        if obj is getattr(self, "vtk_widget", None):
            t = ev.type()
            if t == QtCore.QEvent.Paint:
                if getattr(self, "_refit", False):
                    self._refit_if_untouched()
                return self._expose_only(obj)
            if t == QtCore.QEvent.Resize and self._camera_untouched():
                self._refit = True  # framed again (for the new aspect) before the next frame
            if t == QtCore.QEvent.MouseButtonPress and ev.button() == QtCore.Qt.LeftButton:
                self._press_pos = ev.position().toPoint()
            elif t == QtCore.QEvent.MouseButtonRelease and ev.button() == QtCore.Qt.LeftButton:
                p, q = ev.position().toPoint(), self._press_pos
                self._press_pos = None
                if q is not None and abs(p.x() - q.x()) + abs(p.y() - q.y()) < 4:
                    r = self.vtk_widget.devicePixelRatioF() or 1.0
                    x, y = int(p.x() * r), int((self.vtk_widget.height() - 1 - p.y()) * r)
                    QtCore.QTimer.singleShot(0, self, lambda: self.pick_display(x, y))
        return False

    def _expose_only(self, widget) -> bool:
        """A paint event at the size of the last frame drawn with no change asked for since (dock relayouts and
        window exposes send several in a row: an open drew its first frame three times, 0.4–0.7 s each for a
        big cloud on software GL): show the last frame again (`Frame()` blits VTK's own framebuffer) instead
        of rendering it anew. Returns True when the paint was handled here."""
        size = (widget.width(), widget.height(), widget.devicePixelRatioF())
        fresh = self._renders > 0 and self._render_asked < self._renders  # (a pending render_later is then moot)
        if fresh and size == getattr(self, "_painted_size", None):
            self.window.Frame()
            return True
        if getattr(self, "_render_pending", False):
            # render_later's frame comes on the next turn of the event loop: drawing it here too would put
            # the change (an open's set_scene) and its first frame into one long stall of the GUI thread
            return True
        return False

    def display_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Qt widget coordinates (top-left origin) of a VTK display position (bottom-left origin)."""
        r = self.vtk_widget.devicePixelRatioF() or 1.0
        return QtCore.QPoint(int(round(x / r)), int(round(self.vtk_widget.height() - 1 - y / r)))

    def pick_display(self, x: int, y: int) -> dict | None:
        """Pick at display coordinates (VTK convention: origin bottom-left); emits `picked` with details.
        Renderers in `pick_renderers` (e.g. a side-by-side half sharing this view's local frame) are tried too."""
        picker = next((p for p in (self._pick_in(r, x, y) for r in (self.renderer, *self.pick_renderers)
                                   if r.IsInViewport(x, y)) if p is not None), None)
        if picker is None:
            return None
        actor = picker.GetActor()
        if actor is None or not hasattr(actor, "_sl_layer"):
            return None
        pos = self.scene_renderer.to_world(picker.GetPickPosition())
        info = {"layer": actor._sl_layer, "actor": actor, "cell_id": picker.GetCellId(),
                "point_id": picker.GetPointId(), "position": tuple(pos)}
        fn = getattr(actor, "_sl_pick", None)
        if fn is not None:
            # voxel meshes resolve the picked cell through its own polydata (full, coarse or a clip cap)
            kw = {"dataset": picker.GetDataSet()} if getattr(fn, "takes_dataset", False) else {}
            details = dict(fn(info["cell_id"], info["point_id"], info["position"], **kw) or {})
            # typed fields for the tools (never parse the inspector's display text back into numbers)
            info["kind"] = details.pop("_kind", "point" if "point" in details else "cell")
            info["index"] = details.pop("_index", details.get("point", info["point_id"]))
            info["value"] = details.pop("_value", None)
            if info["kind"] == "voxel":
                info["voxel"] = tuple(info["index"])
            info["details"] = details
        self._size_marker(actor, pos)
        self.show_marker(pos)
        self.picked.emit(info)
        return info

    def _pick_in(self, renderer, x: int, y: int):
        """Pick at (x, y) in one renderer: exact surfaces with the exact picker, everything else with the
        tolerant one; the picker whose hit is nearer along the ray, or None."""
        exact, loose = [], []
        for p in items(renderer.GetViewProps()):
            if p.GetPickable() and p.GetVisibility():
                (exact if getattr(p, "_sl_exact_pick", False) else loose).append(p)
        for p in exact:
            loc = self._locator(p)
            if loc is not None:
                self.exact_picker.AddLocator(loc)
        hits = []
        for picker, lst in ((self.exact_picker, exact), (self.picker, loose)):
            if not lst:
                continue
            picker.InitializePickList()
            for p in lst:
                picker.AddPickList(p)
            picker.PickFromListOn()
            hit = picker.Pick(x, y, 0, renderer) and picker.GetActor() is not None
            picker.InitializePickList()  # hold no references to the props (a removed mesh must be freed)
            picker.RemoveAllLocators()
            if hit:
                hits.append(picker)
        if len(hits) < 2:
            return hits[0] if hits else None
        cam = renderer.GetActiveCamera()
        eye, dop = np.asarray(cam.GetPosition()), np.asarray(cam.GetDirectionOfProjection())
        return min(hits, key=lambda p: float(np.dot(np.asarray(p.GetPickPosition()) - eye, dop)))

    LOCATOR_CELLS = 20_000  # above this many cells an exact surface is picked through a cell locator

    @classmethod
    def _locator(cls, prop):
        """A vtkStaticCellLocator for the polydata an exact surface draws now, built at its first pick and kept
        on the actor: VTK's cell picker otherwise tests every cell (365 ms per click on 1.5M quads at load 2;
        with the locator 0.3 ms, built once in ~0.2 s, +45 MB for that mesh). None for small meshes."""
        m = prop.GetMapper() if hasattr(prop, "GetMapper") else None
        pd = m.GetInput() if m is not None else None
        if pd is None or pd.GetNumberOfCells() <= cls.LOCATOR_CELLS:
            return None
        have = getattr(prop, "_sl_locator", None)
        if have is not None and have[0] is pd:
            return have[1]
        loc = vtk.vtkStaticCellLocator()
        loc.SetDataSet(pd)
        loc.BuildLocator()
        prop._sl_locator = (pd, loc)  # noqa: SLF001 - the polydata kept with it: checked by identity next time
        return loc

    def _size_marker(self, actor, world_pos=None) -> None:
        """The pick marker scales with what was picked (0.6 % of its bounding-box diagonal), kept between 2 and
        8 pixels at the picked spot: a fixed 0.25 m sphere hid the picked spot on an indoor fragment, and a
        purely relative one covered the picked voxel when zoomed in on a 100 m scan."""
        b = actor.GetBounds()
        diag = float(np.linalg.norm([b[1] - b[0], b[3] - b[2], b[5] - b[4]])) if b and b[1] >= b[0] else 0.0
        if not (np.isfinite(diag) and diag > 0):
            return
        r = max(0.006 * diag, 0.002)
        h = self.renderer.GetSize()[1]
        cam = self.renderer.GetActiveCamera()
        if world_pos is not None and h > 0 and not cam.GetParallelProjection():
            depth = float(np.linalg.norm(np.asarray(cam.GetPosition()) - self.scene_renderer.to_local(world_pos)))
            per_px = 2 * depth * np.tan(np.radians(cam.GetViewAngle()) / 2) / h
            if np.isfinite(per_px) and per_px > 0:
                r = float(np.clip(r, 2 * per_px, 8 * per_px))
        self._marker_src.SetRadius(r)

    def show_marker(self, world_xyz, visible: bool = True) -> None:
        self.marker.SetPosition(*self.scene_renderer.to_local(world_xyz))
        self.marker.SetVisibility(visible)
        self.render()

    def world_to_display(self, world_xyz) -> tuple[float, float]:
        """Display coordinates (bottom-left origin) of a world point, for tests and overlays."""
        coord = vtk.vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        coord.SetValue(*self.scene_renderer.to_local(world_xyz))
        x, y = coord.GetComputedDoubleDisplayValue(self.renderer)
        return x, y

    def close_view(self) -> None:
        if self.interactor is not None:
            self._axes.SetEnabled(0)
            self.vtk_widget.Finalize()
        else:
            self.window.Finalize()
