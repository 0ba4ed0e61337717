"""The Pose workbench: run the pose model as a job with results streaming into the views, inspect 2-D
keypoints over the image and 3-D skeletons, play sequences, compare trajectories, and correct keypoints.

The GUI only draws: estimation, metrics, ATE, exports and the overlay video are engine jobs; edits are
engine commands on the window's undo stack, saved through `annotation_providers`. One timeline drives both
the 2-D overlay and every 3-D skeleton layer.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from scenelens.engine.jobs import Job
from scenelens.engine.scene import ImageLayer, Skeleton, Trajectory

from .base import Workbench

SIDE_QT = {"left": (60, 140, 255), "right": (255, 110, 40), "centre": (90, 220, 120)}
GT_QT = (40, 255, 40)
# one colour per track ID (bones and label), none of them the ground truth's green
TRACK_QT = [(255, 80, 80), (80, 160, 255), (255, 200, 40), (200, 90, 255), (255, 130, 200), (40, 220, 230),
            (255, 150, 60), (170, 170, 255), (230, 230, 110), (150, 110, 80)]


def track_colour(track_id: int) -> tuple[int, int, int]:
    return TRACK_QT[int(track_id) % len(TRACK_QT)]


def _sides(sk: Skeleton) -> list[str]:
    from scenelens.engine.pose.joints import JOINT_SETS

    js = JOINT_SETS.get(sk.joint_set)
    return [js.side(j) for j in range(js.n)] if js else ["centre"] * sk.joints.shape[2]


class KeypointItem(pg.GraphItem):
    """One person's joints and bones; joints can be dragged (the edit is pushed as one command on release)."""

    def __init__(self, bench, sk: Skeleton, t: int, p: int, editable: bool):
        super().__init__()
        self.bench, self.sk, self.t, self.p, self.editable = bench, sk, t, p, editable
        self._drag = None
        self.refresh()

    def refresh(self) -> None:
        sk, t, p = self.sk, self.t, self.p
        xy = sk.joints[t, p, :, :2]
        conf = sk.confidence[t, p] if sk.confidence is not None else np.ones(len(xy))
        vis = sk.meta.get("visibility")
        v = vis[t, p] if vis is not None else np.where(conf > 0, 2, 0)
        shown = v > 0
        if sk.meta.get("kind") == "gt":
            brushes = [pg.mkBrush(*GT_QT, 255 if vv == 2 else 110) for vv in v]
            pen = pg.mkPen(GT_QT + (200,), width=2)
        elif self.bench.colour_mode == "confidence":
            from matplotlib import colormaps

            cm = colormaps["plasma"]  # purple → yellow: no green, which is the ground truth's colour
            brushes = [pg.mkBrush(*[int(255 * c) for c in cm(float(np.clip(cc, 0, 1)))[:3]]) for cc in conf]
            pen = pg.mkPen((230, 230, 230, 200), width=2)
        else:
            sides = _sides(sk)
            brushes = [pg.mkBrush(*SIDE_QT[s]) for s in sides]
            pen = pg.mkPen((255, 255, 255, 170), width=2)
        ids = sk.meta.get("track_ids")
        self.track_id = int(ids[p]) if ids is not None and p < len(ids) and sk.meta.get("kind") != "gt" else None
        if self.track_id is not None:  # tracked people: bones in the track's colour, its ID by the head
            pen = pg.mkPen(track_colour(self.track_id) + (230,), width=3)
            if getattr(self, "_label", None) is None:
                self._label = pg.TextItem(anchor=(0.5, 1.0), fill=pg.mkBrush(0, 0, 0, 170))
                self._label.setParentItem(self)
            self._label.setText(f"ID {self.track_id}", color=track_colour(self.track_id))
            top = xy[shown] if shown.any() else xy
            self._label.setPos(float(top[:, 0].mean()), float(top[:, 1].min()) - 12)
        adj = np.array([(a, b) for a, b in sk.bones if shown[a] and shown[b]], int).reshape(-1, 2)
        sizes = np.where(shown, 9.0, 0.0)
        # keep our own copy of what was drawn: pyqtgraph 0.14 made GraphItem.data a method
        self._drawn = dict(pos=xy.astype(float), adj=adj, pen=pen, symbolBrush=brushes, size=sizes, pxMode=True,
                           symbol="o", symbolPen=pg.mkPen("k"))
        self.setData(**self._drawn)

    def mouseDragEvent(self, ev):
        if not self.editable or ev.button() != QtCore.Qt.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            pts = self.scatter.pointsAt(ev.buttonDownPos())
            if len(pts) == 0:
                ev.ignore()
                return
            self._drag = int(pts[0].index())
            self._drag_offset = self.sk.joints[self.t, self.p, self._drag, :2] - np.array([ev.buttonDownPos().x(), ev.buttonDownPos().y()])
        elif self._drag is None:
            ev.ignore()
            return
        pos = np.array([ev.pos().x(), ev.pos().y()]) + self._drag_offset
        if ev.isFinish():
            j, self._drag = self._drag, None
            self.bench.move_keypoint(self.sk, self.t, self.p, j, pos)
        else:  # preview only; the model is changed by the command on release
            data = self._drawn["pos"].copy()
            data[self._drag] = pos
            self.setData(**{**self._drawn, "pos": data})
        ev.accept()


class PoseWorkbench(Workbench):
    title = "Pose"
    workspace = "Pose"

    def install(self, window) -> None:
        self.window = window
        self.frame = 0
        self.colour_mode = "side"
        self.selected: tuple | None = None          # (layer uid, t, p, j)
        self.live: dict = {"frames": 0, "t0": 0.0, "last_draw": 0.0}
        self.min_draw_interval = 0.0
        self._items: list = []
        self._handle = None
        self.model = None
        import queue

        # streamed frames arrive through a queue drained by a GUI timer, not a Qt signal: PySide6 6.12
        # drains None/True reference counts on every signal emitted from a worker thread
        self._partials: queue.SimpleQueue = queue.SimpleQueue()
        self._drain = QtCore.QTimer(window)
        self._drain.setInterval(15)
        self._drain.timeout.connect(self._drain_partials)
        m = window.menu("&Pose")
        self.menu = m
        self.act_run = m.addAction("Run pose on current image/video", self.run_current)
        m.addAction("Run pose on file or folder…", self._run_dialog)
        m.addSeparator()
        self.act_colour = m.addAction("Colour by confidence", self._toggle_colour)
        self.act_colour.setCheckable(True)
        self.act_follow = m.addAction("3-D camera follows the subject", lambda: setattr(self, "_follow_prev", None))
        self.act_follow.setCheckable(True)
        self.act_follow.setChecked(True)
        self._follow_prev = None
        m.addSeparator()
        m.addAction("Toggle visibility of selected keypoint", self.toggle_visibility)
        m.addAction("Add person", self.add_person)
        m.addAction("Delete selected person", self.delete_person)
        m.addSeparator()
        m.addAction("Compare trajectories (APE / RPE)…", self._compare_dialog)
        self.act_err_colour = m.addAction("Colour the aligned trajectory by its error", self._restyle_aligned)
        self.act_err_colour.setCheckable(True)
        self.act_err_colour.setChecked(True)
        m.addSeparator()
        m.addAction("Export COCO keypoints JSON…", lambda: self._export_dialog("coco"))
        m.addAction("Export 3-D joints NPZ…", lambda: self._export_dialog("npz"))
        m.addAction("Export overlay video…", lambda: self._export_dialog("video"))
        self._build_panel()
        self._build_timeline()
        self._build_ate()
        window.annotation_providers.append(self)
        window.connect_click(self, self._on_click)
        # another video chosen in the selector (a camera of a pose3d result): its frame at the timeline's
        window.view2d.image_changed.connect(lambda key: (self._show_video_frame(self.frame), self.redraw_2d()))
        window.layer_added.connect(lambda lay: self._on_layer_added(lay))

    # ------------------------------------------------------------------ docks
    def _build_panel(self) -> None:
        """The Pose panel: the menu's actions as buttons (the same QActions, so menu and panel never differ),
        grouped as a user works: run, edit, compare, export; and what is selected."""
        w = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(w)
        groups = {"Run": [], "Edit keypoints": [], "Trajectories": [], "Export": []}
        for a in self.menu.actions():
            if a.isSeparator():
                continue
            t = a.text()
            key = ("Run" if t.startswith("Run") or "confidence" in t else "Trajectories" if "trajector" in t.lower()
                   else "Export" if t.startswith("Export") else "Edit keypoints")
            groups[key].append(a)
        for title, actions in groups.items():
            box = QtWidgets.QGroupBox(title)
            bl = QtWidgets.QVBoxLayout(box)
            for a in actions:
                b = QtWidgets.QToolButton()
                b.setDefaultAction(a)
                b.setToolButtonStyle(QtCore.Qt.ToolButtonTextOnly)
                b.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
                bl.addWidget(b)
            lay.addWidget(box)
        self.status_label = QtWidgets.QLabel("Open an image, a folder or a video, then Run.")
        self.status_label.setWordWrap(True)
        lay.addWidget(self.status_label)
        lay.addStretch(1)
        self.panel_dock = self.window.add_dock(w, "Pose", "right")

    def _build_timeline(self) -> None:
        w = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(w)
        lay = QtWidgets.QHBoxLayout()
        outer.addLayout(lay)
        # per-track timeline: one bar per track ID over the frames where it was seen; click to jump there
        self.track_plot = pg.PlotWidget()
        self.track_plot.setMaximumHeight(110)
        self.track_plot.setMouseEnabled(x=True, y=False)
        self.track_plot.hideButtons()
        self.track_plot.setLabel("bottom", "frame")
        self.track_cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen((255, 255, 255, 160), width=1))
        self.track_plot.addItem(self.track_cursor)
        self.track_plot.scene().sigMouseClicked.connect(self._on_track_click)
        self.track_plot.hide()
        self.track_curves: list = []
        outer.addWidget(self.track_plot)
        self.btn_prev = QtWidgets.QToolButton(text="◀")
        self.btn_play = QtWidgets.QToolButton(text="▶")
        self.btn_next = QtWidgets.QToolButton(text="▶|")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.lbl_frame = QtWidgets.QLabel("0 / 0")
        for x in (self.btn_prev, self.btn_play, self.btn_next, self.slider, self.lbl_frame):
            lay.addWidget(x)
        self.btn_prev.clicked.connect(lambda: self.step(-1))
        self.btn_next.clicked.connect(lambda: self.step(1))
        self.btn_play.clicked.connect(self.toggle_play)
        self.slider.valueChanged.connect(self.set_frame)
        self.timer = QtCore.QTimer(w)
        self.timer.timeout.connect(self._play_tick)
        self._play_clock: tuple[float, int, float] | None = None  # (wall start, frame at start, fps)
        self.timeline = w
        self.dock_timeline = self.window.add_dock(w, "Pose timeline", "bottom")

    def _build_ate(self) -> None:
        self.ate_plot = pg.PlotWidget()
        self.ate_plot.setLabel("left", "error", units="m")
        self.ate_plot.setLabel("bottom", "estimate pose")
        # an opaque box: the curves ran through the legend's text and made it unreadable
        self.ate_plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(45, 45, 45, 235), pen=pg.mkPen(110, 110, 110),
                                labelTextColor=(235, 235, 235))
        self.ate_curve = self.ate_plot.plot([], [], pen=pg.mkPen((255, 200, 60), width=2), name="APE (translation)")
        self.rpe_curve = self.ate_plot.plot([], [], pen=pg.mkPen((80, 200, 255), width=2), name="RPE (translation)")
        self.dock_ate = self.window.add_dock(self.ate_plot, "Trajectory error", "bottom")

    # ------------------------------------------------------------------ layers
    def skeletons(self, dims: int | None = None) -> list[Skeleton]:
        return [s for s in self.window.scene.of_type(Skeleton) if dims is None or s.dims == dims]

    def n_frames(self) -> int:
        n = [s.joints.shape[0] for s in self.skeletons()]
        n += [lay.n_frames for lay in self.window.scene.of_type(ImageLayer) if lay.n_frames > 1]
        return max(n + [1])

    def on_scene_changed(self, scene) -> None:
        self.frame = 0
        self._camera_canvases()
        self._update_range()
        self.redraw_2d()

    def _on_layer_added(self, lay) -> None:
        if isinstance(lay, (Skeleton, ImageLayer)):
            self._camera_canvases()
            self._update_range()
            self.redraw_2d()

    def _camera_canvases(self) -> None:
        """`run pose3d` reprojections come without their pictures: a plain canvas of each camera's size (one
        array per size, shared, so a 500-camera rig costs one) lets the image view show the people drawn into
        every camera, chosen in its selector by camera name."""
        v2 = self.window.view2d
        named = {lay.name for lay in self.window.scene.of_type(ImageLayer)}
        canvases: dict[tuple[int, int], np.ndarray] = {}
        for s in self.skeletons(2):
            cam, size = s.meta.get("camera"), s.image_size
            if s.meta.get("format") != "pose3d-reprojection" or not cam or not size or cam in v2.images or cam in named:
                continue
            w, h = int(size[0]), int(size[1])
            if not (0 < w <= 16384 and 0 < h <= 16384):
                continue
            img = canvases.setdefault((w, h), np.full((h, w, 3), 48, np.uint8))
            v2.show_image(img, cam, select=v2.current is None)

    def _update_range(self) -> None:
        n = self.n_frames()
        self.slider.blockSignals(True)
        self.slider.setRange(0, n - 1)
        self.slider.blockSignals(False)
        self.lbl_frame.setText(f"{self.frame + 1} / {n}")
        self._update_tracks()

    def tracked_layer(self) -> Skeleton | None:
        return next((s for s in self.skeletons(2) if s.meta.get("track_ids") and s.meta.get("kind") != "gt"), None)

    def _update_tracks(self) -> None:
        for c in self.track_curves:
            self.track_plot.removeItem(c)
        self.track_curves = []
        sk = self.tracked_layer()
        if sk is None:
            self.track_plot.hide()
            return
        ids = list(sk.meta["track_ids"])
        valid = np.asarray(sk.meta.get("valid", np.ones(sk.joints.shape[:2], bool)))
        frames = np.arange(valid.shape[0], dtype=float)
        for p, tid in enumerate(ids):
            y = np.where(valid[:, p], float(p), np.nan)
            # a square on every frame too: a track seen in one frame only has no segment to draw
            c = self.track_plot.plot(frames, y, pen=pg.mkPen(track_colour(tid), width=7), connect="finite",
                                     symbol="s", symbolSize=7, symbolPen=None, symbolBrush=track_colour(tid))
            self.track_curves.append(c)
        self.track_plot.getAxis("left").setTicks([[(float(p), f"ID {t}") for p, t in enumerate(ids)]])
        self.track_plot.setYRange(-0.7, len(ids) - 0.3, padding=0)
        self.track_plot.setXRange(0, max(valid.shape[0] - 1, 1), padding=0.01)
        self.track_plot.show()

    def _on_track_click(self, ev) -> None:
        vb = self.track_plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        self.set_frame(int(round(vb.mapSceneToView(ev.scenePos()).x())))

    def layers_for_image(self, key: str | None) -> list[tuple[Skeleton, int]]:
        """2-D skeleton layers (and their frame index) that belong to the image shown under `key`."""
        out = []
        for s in self.skeletons(2):
            names = s.meta.get("file_names") or []
            video = s.meta.get("video")
            if video and key in (Path(video).name, "pose live", video):
                out.append((s, min(self.frame, s.joints.shape[0] - 1)))
            elif key in names:
                out.append((s, names.index(key)))
            elif key is not None and key == s.meta.get("camera"):  # a pose3d reprojection, on its camera
                out.append((s, min(self.frame, s.joints.shape[0] - 1)))
            elif len(self.skeletons(2)) == 1 and not names:
                out.append((s, min(self.frame, s.joints.shape[0] - 1)))
        return out

    # ------------------------------------------------------------------ timeline
    def set_frame(self, t: int) -> None:
        t = int(np.clip(t, 0, self.n_frames() - 1))
        self.frame = t
        if self.slider.value() != t:
            self.slider.blockSignals(True)
            self.slider.setValue(t)
            self.slider.blockSignals(False)
        self.lbl_frame.setText(f"{t + 1} / {self.n_frames()}")
        self.track_cursor.setValue(t)
        for s in self.skeletons(3):
            self.window.view3d.scene_renderer.add_layer(s, {"frame": min(t, s.joints.shape[0] - 1)})
        self._follow(t)
        self._show_video_frame(t)
        self.redraw_2d()
        self.window.view3d.render()

    def _show_video_frame(self, t: int) -> None:
        """Frame t of the video shown (the one chosen in the image view's selector when several are open,
        e.g. one per camera of a `run pose3d` result), at the video frame its results name."""
        vids = [lay for lay in self.window.scene.of_type(ImageLayer) if lay.n_frames > 1 and lay.path]
        if not vids or getattr(self, "_showing_frame", False):
            return
        cur = self.window.view2d.current
        lay = next((v for v in vids if v.name == cur), vids[0])
        from scenelens.engine.io.image import VideoReader

        if getattr(self, "_vr_path", None) != lay.path:
            self._vr = VideoReader(lay.path)
            self._vr_path = lay.path
        owners = [s for s, _ in self.layers_for_image(lay.name) if s.meta.get("frames")]
        frame = t
        if owners:
            fr = owners[0].meta["frames"]
            frame = int(fr[min(t, len(fr) - 1)])
        img = self._vr.read(frame)
        if img is not None:
            self._showing_frame = True  # show_image → image_changed → here again
            try:
                self.window.view2d.show_image(img, lay.name, select=cur is None or cur == lay.name)
            finally:
                self._showing_frame = False

    def subject_centre(self, t: int) -> np.ndarray | None:
        """Where the first 3-D layer's people are at frame t, in the 3-D view's (display) coordinates."""
        from scenelens.gui.views.layers.skeleton import display_rotation

        for sk in self.skeletons(3):
            f = min(t, sk.joints.shape[0] - 1)
            j = np.asarray(sk.joints[f], float).reshape(-1, 3)
            ok = np.isfinite(j).all(1) & (np.abs(j).sum(1) > 0)
            if sk.confidence is not None:
                ok &= np.asarray(sk.confidence[f]).reshape(-1) > 0
            if ok.any():
                c = display_rotation(sk) @ j[ok].mean(0)
                o = self.window.view3d.origin
                return c - (np.asarray(o, float) if o is not None else 0.0)
        return None

    def _follow(self, t: int) -> None:
        """While playing, move the 3-D camera with the subject (same view direction and distance)."""
        if not (self.act_follow.isChecked() and self.timer.isActive()):
            self._follow_prev = None
            return
        c = self.subject_centre(t)
        if c is None:
            return
        if self._follow_prev is not None:
            d = c - self._follow_prev
            cam = self.window.view3d.renderer.GetActiveCamera()
            cam.SetFocalPoint(*(np.asarray(cam.GetFocalPoint()) + d))
            cam.SetPosition(*(np.asarray(cam.GetPosition()) + d))
            self.window.view3d.renderer.ResetCameraClippingRange()
        self._follow_prev = c

    def first_frame_with_people(self) -> int | None:
        """The first frame where a 3-D layer holds a person (valid, non-zero joints), or None."""
        best = None
        for sk in self.skeletons(3):
            j = np.asarray(sk.joints)
            has = np.abs(j).reshape(j.shape[0], j.shape[1], -1).max(-1) > 0
            if sk.confidence is not None:
                has &= np.asarray(sk.confidence).reshape(j.shape[0], j.shape[1], -1).max(-1) > 0
            hit = np.nonzero(has.any(1))[0]
            if len(hit):
                best = int(hit[0]) if best is None else min(best, int(hit[0]))
        return best

    def step(self, d: int, wrap: bool = False) -> None:
        n = self.n_frames()
        t = self.frame + d
        if wrap:
            t %= n
        self.set_frame(t)

    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.btn_play.setText("▶")
            return
        fps = max((s.fps for s in self.skeletons() if s.fps > 0), default=10.0)
        # real time: each tick shows the frame the clock has reached, skipping frames the drawing cannot keep
        # up with (120 Hz motion capture, slow renders), instead of one frame per tick
        self._play_clock = (time.perf_counter(), self.frame, fps)
        self._follow_prev = self.subject_centre(self.frame)
        self.timer.start(int(max(1000.0 / min(fps, 60.0), 15)))
        self.btn_play.setText("⏸")

    def _play_tick(self) -> None:
        if self._play_clock is None:
            self.step(1, wrap=True)
            return
        t0, f0, fps = self._play_clock
        n = max(self.n_frames(), 1)
        target = (f0 + int((time.perf_counter() - t0) * fps)) % n
        if target != self.frame:
            self.set_frame(target)

    # ------------------------------------------------------------------ drawing (2-D)
    def redraw_2d(self) -> None:
        v2 = self.window.view2d
        for it in self._items:
            v2.plot.removeItem(it)
        self._items = []
        pairs = self.layers_for_image(v2.current)
        for sk, t in pairs:
            valid = sk.meta.get("valid")
            for p in range(sk.joints.shape[1]):
                if valid is not None and not valid[t, p]:
                    continue
                it = KeypointItem(self, sk, t, p, editable=True)
                v2.plot.addItem(it)
                self._items.append(it)
        gts = [(s, t) for s, t in pairs if s.meta.get("kind") == "gt"]
        preds = [(s, t) for s, t in pairs if s.meta.get("kind") != "gt"]
        if gts and preds:
            self._draw_errors(gts[0], preds[0])

    def _draw_errors(self, gt_pair, pred_pair) -> None:
        from scenelens.engine.pose.evaluate import match_people

        (g, tg), (p, tp) = gt_pair, pred_pair
        gv = g.meta.get("visibility")[tg]
        gval = g.meta.get("valid")
        pval = p.meta.get("valid")
        gi = [i for i in range(g.joints.shape[1]) if (gval is None or gval[tg, i]) and gv[i].any()]
        pi = [i for i in range(p.joints.shape[1]) if pval is None or pval[tp, i]]
        gk = [np.c_[g.joints[tg, i], gv[i]] for i in gi]
        area = [float(g.meta["area"][tg, i]) if "area" in g.meta else 1000.0 for i in gi]
        pairs = match_people(gk, area, [p.joints[tp, i] for i in pi])
        segs = []
        for a, b, _ in pairs:
            for j in range(g.joints.shape[2]):
                if gv[gi[a], j] > 0:
                    segs += [g.joints[tg, gi[a], j], p.joints[tp, pi[b], j]]
        if segs:
            s = np.asarray(segs)
            line = pg.PlotDataItem(s[:, 0], s[:, 1], connect="pairs", pen=pg.mkPen((255, 40, 200), width=2))
            self.window.view2d.plot.addItem(line)
            self._items.append(line)

    def _toggle_colour(self) -> None:
        self.colour_mode = "confidence" if self.act_colour.isChecked() else "side"
        self.redraw_2d()

    # ------------------------------------------------------------------ running the model
    def _load_model(self):
        if self.model is None:
            from scenelens.engine.tasks.pose import load_pose_model

            # in-process on the job's worker thread: the 'none_dealloc' aborts that once forced a child process
            # were PySide6 6.12.0's refcount bug (pinned away in pyproject), not MediaPipe's graph threads
            self.model = load_pose_model("mediapipe", self.window.device)
        return self.model

    def run_current(self):
        imgs = [lay for lay in self.window.scene.of_type(ImageLayer) if lay.path]
        cur = self.window.view2d.current
        lay = next((i for i in imgs if i.name == cur), imgs[0] if imgs else None)
        if lay is None:
            self.window.error("No image", "Open an image or a video first.")
            return None
        return self.run_on(lay.path)

    def _run_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Run pose on", "",
                                                        "Images and videos (*.jpg *.jpeg *.png *.bmp *.mp4 *.avi *.mov *.mkv)")
        if path:
            self.run_on(path)

    def run_on(self, path, every: int = 1, boxes=None):
        from scenelens.engine.errors import InputError
        from scenelens.engine.pose.run import make_job

        try:
            model = self._load_model()
        except InputError as e:
            self.window.error("Pose model unavailable", str(e))
            return None
        self.live = {"frames": 0, "t0": time.perf_counter(), "last_draw": 0.0, "draw_s": 0.0}
        self._drain.start()
        self._handle = self.window.start_job(make_job(path, model, every, boxes, sink=self._partials.put),
                                             on_result=self._on_run_done, on_error=lambda *a: self._drain_partials(True),
                                             on_cancel=lambda: self._drain_partials(True))
        return self._handle

    def _drain_partials(self, final: bool = False) -> None:
        """Show the newest streamed frame (older ones are counted, not drawn: the view keeps up)."""
        import queue

        latest = None
        while True:
            try:
                latest = self._partials.get_nowait()
            except queue.Empty:
                break
            self.live["frames"] += 1
        if latest is not None:
            self._on_partial(latest, count=False)
        if final:
            self._drain.stop()

    def _on_partial(self, fr, count: bool = True) -> None:
        """A finished frame from the worker: show its image and people now (GUI thread, drawing only)."""
        if count:
            self.live["frames"] += 1
        now = time.perf_counter()
        if now - self.live["last_draw"] < self.min_draw_interval:
            return
        t0 = now
        v2 = self.window.view2d
        if fr.image is not None:
            v2.show_image(fr.image, "pose live")
        for it in self._items:
            v2.plot.removeItem(it)
        self._items = []
        for q in fr.persons:
            xy = q.coco if q.coco is not None else q.keypoints
            it = pg.ScatterPlotItem(xy[:, 0], xy[:, 1], size=8, brush=pg.mkBrush(255, 200, 0))
            v2.plot.addItem(it)
            self._items.append(it)
        self.live["last_draw"] = time.perf_counter()
        self.live["draw_s"] += self.live["last_draw"] - t0

    def _on_run_done(self, run) -> None:
        self._drain_partials(True)
        self.last_run = run
        self.live["elapsed"] = time.perf_counter() - self.live["t0"]
        for sk in run.skeletons():
            self.window.add_layer(sk)
        if self.skeletons(3):
            # never frame an empty frame (the camera would sit inside the first skeleton that appears)
            first = self.first_frame_with_people()
            if first is not None:
                self.set_frame(first)
                self.window.view3d.reset_camera("side")  # look from where the estimated camera stood
        self.window.view2d.remove_image("pose live")
        self._update_range()
        msg = f"pose: {len(run.frames)} frame(s), {sum(len(f.persons) for f in run.frames)} person(s)"
        self.window.log(msg)
        self.status_label.setText(msg[6:].capitalize() + " — click a keypoint to inspect it, drag it to edit.")
        self.redraw_2d()

    # ------------------------------------------------------------------ selection, inspector, edits
    def _on_click(self, x: float, y: float) -> None:
        best, bd = None, 15.0
        for sk, t in self.layers_for_image(self.window.view2d.current):
            valid = sk.meta.get("valid")
            for p in range(sk.joints.shape[1]):
                if valid is not None and not valid[t, p]:
                    continue
                d = np.linalg.norm(sk.joints[t, p, :, :2] - (x, y), axis=1)
                j = int(np.argmin(d))
                if d[j] < bd:
                    best, bd = (sk, t, p, j), d[j]
        if best is None:
            self.selected = None
            return
        self.select(*best)

    def select(self, sk: Skeleton, t: int, p: int, j: int) -> dict:
        self.selected = (sk.uid, t, p, j)
        x, y = sk.joints[t, p, j, :2]
        info = {"joint": sk.joint_names[j] if j < len(sk.joint_names) else str(j), "person": p, "frame": t,
                "x, y (px)": f"{x:.1f}, {y:.1f}",
                "confidence": f"{float(sk.confidence[t, p, j]):.3f}" if sk.confidence is not None else "—"}
        vis = sk.meta.get("visibility")
        if vis is not None:
            info["visibility (COCO v)"] = int(vis[t, p, j])
        err = self._error_of(sk, t, p, j)
        if err is not None:
            info["error vs GT (px)"] = f"{err:.2f}"
        self.window.inspector.show(f"{sk.name} — keypoint", info)
        return info

    def _error_of(self, sk, t, p, j):
        if sk.meta.get("kind") == "gt":
            return None
        names = sk.meta.get("file_names") or []
        key = names[t] if t < len(names) else None
        gts = [s for s in self.skeletons(2) if s.meta.get("kind") == "gt" and key in (s.meta.get("file_names") or [])]
        if not gts:
            return None
        g = gts[0]
        tg = g.meta["file_names"].index(key)
        vis = g.meta["visibility"][tg]
        d = [np.linalg.norm(g.joints[tg, i, j] - sk.joints[t, p, j]) for i in range(g.joints.shape[1]) if vis[i, j] > 0]
        return float(min(d)) if d else None

    def _selected_layer(self):
        if self.selected is None:
            return None
        uid, t, p, j = self.selected
        sk = self.window.scene.get(uid)
        return (sk, t, p, j) if sk is not None else None

    def _changed(self) -> None:
        self.window._mark_dirty()
        self.redraw_2d()

    def move_keypoint(self, sk, t, p, j, xy) -> None:
        from scenelens.engine.pose.edit import KeypointEdit

        self.window.push(KeypointEdit(sk, t, p, j, xy=xy, on_change=self._changed))
        self.select(sk, t, p, j)

    def toggle_visibility(self) -> None:
        from scenelens.engine.pose.edit import KeypointEdit

        s = self._selected_layer()
        if s is None:
            self.window.error("Nothing selected", "Click a keypoint in the image first.")
            return
        sk, t, p, j = s
        vis = sk.meta.get("visibility")
        v = int(vis[t, p, j]) if vis is not None else 2
        self.window.push(KeypointEdit(sk, t, p, j, v={2: 1, 1: 0, 0: 2}[v], on_change=self._changed))
        self.select(sk, t, p, j)

    def add_person(self, sk: Skeleton | None = None, center=None):
        from scenelens.engine.pose.edit import AddPerson, template_person

        pairs = self.layers_for_image(self.window.view2d.current)
        if sk is None:
            sk = next((s for s, _ in pairs if s.meta.get("kind") == "gt"), pairs[0][0] if pairs else None)
        if sk is None:
            self.window.error("No keypoint layer", "Open COCO keypoints or run the pose model first.")
            return None
        t = dict((s.uid, tt) for s, tt in pairs).get(sk.uid, 0)
        img = self.window.view2d.images.get(self.window.view2d.current)
        h, w = img.shape[:2] if img is not None else (480, 640)
        cmd = AddPerson(sk, t, template_person(center or (w / 2, h / 2), 0.6 * h), on_change=self._changed)
        self.window.push(cmd)
        return cmd.person

    def delete_person(self) -> None:
        from scenelens.engine.pose.edit import DeletePerson

        s = self._selected_layer()
        if s is None:
            self.window.error("Nothing selected", "Click a keypoint of the person to delete first.")
            return
        sk, t, p, _ = s
        self.window.push(DeletePerson(sk, t, p, on_change=self._changed))
        self.selected = None

    # ------------------------------------------------------------------ annotations in projects
    def save_annotations(self, project) -> None:
        from scenelens.engine.pose.edit import annotation_arrays

        for sk in self.skeletons(2):
            if sk.meta.get("edited"):
                for k, v in annotation_arrays(sk).items():
                    project.annotations[f"pose:{sk.name}:{k}"] = v

    def restore_annotations(self, project) -> None:
        from scenelens.engine.pose.edit import apply_annotation_arrays

        for sk in self.skeletons(2):
            keys = {k: f"pose:{sk.name}:{k}" for k in ("joints", "confidence", "visibility", "valid")}
            if all(v in project.annotations for v in keys.values()):
                apply_annotation_arrays(sk, {k: project.annotations[v] for k, v in keys.items()})
        self.redraw_2d()

    # ------------------------------------------------------------------ trajectories
    ALIGN_CHOICES = {"SE(3): rigid (evo --align)": "se3", "Sim(3): with scale (monocular; --correct_scale)": "sim3",
                     "none": "none"}
    # one colour map per role, so the estimate, the reference and the aligned estimate never look alike
    TRAJ_COLOURS = {"estimate": "Oranges", "reference": "Greys", "aligned": "Blues"}

    def _compare_dialog(self):
        """The menu's entry: the user names the estimate, the reference and the alignment."""
        trs = self._input_trajectories()
        if len(trs) < 2:
            # File → Open replaces the scene and two paths open as a registration pair, so the files are asked
            # for here and added to the scene; the comparison continues once they are read
            paths, _ = QtWidgets.QFileDialog.getOpenFileNames(
                self.window, f"Open the estimated and the reference trajectory ({len(trs)} in the scene)", "",
                "Trajectories (*.txt *.tum *.csv *.kitti);;All files (*)")
            if not paths:
                return None
            return self.open_trajectories(paths, then_compare=True)
        est, ref = self._pick_trajectories(trs)
        if est is None:
            return None
        labels = list(self.ALIGN_CHOICES)
        default = 1 if est.meta.get("monocular", False) else 0
        a, ok = QtWidgets.QInputDialog.getItem(self.window, "Trajectory error", "Align the estimate:", labels,
                                               default, False)
        if not ok:
            return None
        return self.compare_trajectories(est, ref, self.ALIGN_CHOICES[a])

    def _input_trajectories(self) -> list[Trajectory]:
        """The scene's trajectories a comparison may take (not the aligned copies a comparison adds)."""
        return [t for t in self.window.scene.of_type(Trajectory) if not t.source.startswith("ATE alignment")]

    def open_trajectories(self, paths: list[str], then_compare: bool = False):
        """Add the trajectories of these files (TUM, KITTI, EuRoC) to the scene in a background job; with
        `then_compare`, the comparison dialog follows when two or more are there."""
        from scenelens.engine.io.trajectory import load_trajectories

        def done(layers):
            for lay in layers:
                self.window.add_layer(lay, replace=False)
            if not then_compare:
                return
            if len(self._input_trajectories()) >= 2:
                self._compare_dialog()
            else:
                self.window.error("Two trajectories needed", "Choose an estimated and a reference trajectory file.")

        return self.window.start_job(Job("Open trajectories", lambda ctx: load_trajectories(paths, ctx)), on_result=done)

    def compare_trajectories(self, est: Trajectory | None = None, ref: Trajectory | None = None,
                             align: str | None = None, t_max_diff: float = 0.01, delta: float = 1,
                             delta_unit: str = "f"):
        """APE and RPE of `est` against `ref` as evo computes them (engine/pose/trajectory_eval.py); asks which
        is which when not given. `align`: 'se3', 'sim3' or 'none' (default: sim3 for a monocular estimate)."""
        trs = self._input_trajectories()
        if est is None or ref is None:
            if len(trs) < 2:
                self.window.error("Two trajectories needed", "Open an estimated and a reference trajectory.")
                return None
            est, ref = self._pick_trajectories(trs)  # never by layer order: the user names both
            if est is None:
                return None
        align = align or ("sim3" if est.meta.get("monocular", False) else "se3")
        from scenelens.engine.pose.trajectory_eval import evaluate

        def work(ctx):
            ctx.progress(0.1, "associating and aligning")
            return evaluate(est.poses, ref.poses, est.timestamps, ref.timestamps, align, t_max_diff, 0.0, delta,
                            delta_unit)

        def done(res):
            e = res["errors"]
            est.meta["ate_errors"] = np.full(len(est.poses), np.nan)
            est.meta["ate_errors"][e["est_index"]] = e["ape_translation"]
            self.ate_curve.setData(e["est_index"].astype(float), e["ape_translation"])
            self.rpe_curve.setData(e["est_index"][e["rpe_pairs"][:, 0]].astype(float), e["rpe_translation"])
            self.last_ate = res
            self.last_eval = res
            aligned = Trajectory(name=f"{est.name} aligned ({align})",
                                 source=f"ATE alignment of {est.name} to {ref.name}", poses=e["aligned"],
                                 timestamps=est.timestamps[e["est_index"]] if est.timestamps is not None else None)
            aligned.meta["ate_errors"] = e["ape_translation"]
            self.window.add_layer(aligned)
            v3 = self.window.view3d
            for lay, role in ((est, "estimate"), (ref, "reference"), (aligned, "aligned")):
                st = {"colormap": self.TRAJ_COLOURS[role]}
                if role == "aligned":  # in the reference's frame: its colour is its APE, with a colour bar
                    st.update(self._error_style())
                v3.add_layer(lay, st, render=False)
            v3.render()
            a, r = res["ape"], res["rpe"]
            self.window.log(f"{est.name} (estimate) vs {ref.name} (reference), {align}: APE RMSE "
                            f"{a['translation_m']['rmse']:.4f} m / {a['rotation_deg']['rmse']:.3f}°, RPE RMSE "
                            f"{r['translation_m']['rmse']:.4f} m / {r['rotation_deg']['rmse']:.3f}° over "
                            f"{res['matched']} poses")

        return self.window.start_job(Job(f"APE/RPE {est.name} vs {ref.name}", work), on_result=done)

    def _error_style(self) -> dict:
        return {"color_by": "error" if self.act_err_colour.isChecked() else "time", "error_title": "APE (m)"}

    def _restyle_aligned(self) -> None:
        """The menu's toggle: aligned trajectories coloured by their per-pose APE or by time."""
        v3 = self.window.view3d
        for t in self.window.scene.of_type(Trajectory):
            if t.source.startswith("ATE alignment") and t.meta.get("ate_errors") is not None:
                v3.add_layer(t, self._error_style(), render=False)
        v3.render()

    def _pick_trajectories(self, trs: list[Trajectory]):
        names = [t.name for t in trs]
        e, ok = QtWidgets.QInputDialog.getItem(self.window, "Trajectory error", "Estimated trajectory:", names, 0,
                                               False)
        if not ok:
            return None, None
        rest = [n for n in names if n != e]
        r, ok = QtWidgets.QInputDialog.getItem(self.window, "Trajectory error", "Reference trajectory:", rest, 0,
                                               False)
        if not ok:
            return None, None
        return trs[names.index(e)], trs[names.index(r)]

    # ------------------------------------------------------------------ exports
    def _export_dialog(self, kind: str) -> None:
        filt = {"coco": "COCO JSON (*.json)", "npz": "NumPy NPZ (*.npz)", "video": "Video (*.mp4 *.avi)"}[kind]
        which = None
        if kind == "coco":
            sks = self.skeletons(2)
            if any(s.meta.get("kind") == "gt" for s in sks) and any(s.meta.get("kind") != "gt" for s in sks):
                opts = ["both", "predictions", "ground truth"]
                which, ok = QtWidgets.QInputDialog.getItem(self.window, "Export COCO keypoints", "Export:", opts, 0,
                                                           False)
                if not ok:
                    return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Export", "", filt)
        if path:
            self.export(kind, path, which)

    def export(self, kind: str, path: str, which: str | None = None):
        """`which` (COCO only): 'predictions', 'ground truth' or 'both' (default: what is loaded)."""
        from scenelens.engine.io.coco_keypoints import write_coco

        w = self.window
        if kind == "coco":
            from scenelens.engine.errors import InputError
            from scenelens.engine.io.coco_keypoints import EXPORT_CHOICES, export_coco

            sks = self.skeletons(2)
            if not sks:
                w.error("Nothing to export", "No 2-D keypoint layers.")
                return None
            has_gt = any(s.meta.get("kind") == "gt" for s in sks)
            has_pred = any(s.meta.get("kind") != "gt" for s in sks)
            which = which or ("both" if has_gt and has_pred else "ground truth" if has_gt else "predictions")
            if which not in EXPORT_CHOICES:
                raise ValueError(which)
            try:
                data = export_coco(sks, which)
            except InputError as e:
                w.error("Nothing to export", e.message)
                return None
            return w.start_job(Job(f"Export {Path(path).name}", lambda ctx: write_coco(path, data)))
        if kind == "npz":
            from scenelens.engine.io.h36m import write_joints_npz

            sks = self.skeletons(3)
            if not sks:
                w.error("Nothing to export", "No 3-D skeleton layers.")
                return None
            return w.start_job(Job(f"Export {Path(path).name}", lambda ctx: write_joints_npz(path, sks[0])))
        if kind == "video":
            from scenelens.engine.pose.overlay import overlay_job

            sk = next((s for s in self.skeletons(2) if s.meta.get("video")), None)
            if sk is None:
                w.error("Nothing to export", "Run pose on a video first.")
                return None
            return w.start_job(overlay_job(sk.meta["video"], sk, path),
                               on_result=lambda out: w.log(f"wrote overlay video {out}"))
        raise ValueError(kind)
