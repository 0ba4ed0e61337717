"""Occupancy workbench: class legend and toggles, visibility masks, diff mode, per-class IoU table and bar
chart, TPV plane slices linked to a 3-D clip, sequence timeline, brush/box painting with undo, camera
projections, the LiDAR → occupancy task with what-if re-runs, and exports.

Everything that computes (metrics, comparison codes, projections, ray casts, voxelisation, frame loading,
exports) is an engine function run through `window.start_job`; this module only turns results into
widgets and actor styles.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from scenelens.engine.jobs import Job
from scenelens.engine.labels import get_label_set
from scenelens.engine.occupancy.metrics import DIFF_COLORS, DIFF_NAMES
from scenelens.engine.scene import CameraRig, PointCloud, VoxelGrid
from scenelens.engine.undo import Command, SetArrayValues

from .base import Workbench

PLANES = (("top x–y", 2, (0, 1)), ("side y–z", 0, (1, 2)), ("front x–z", 1, (0, 2)))  # (name, sliced axis, shown axes)
BG = np.array([20, 22, 28], np.uint8)


def rgb_lut(label_set: str | None) -> np.ndarray:
    lut = get_label_set(label_set or "occ3d").lut().copy()
    lut[(lut.astype(int).sum(1) < 40)] = 110
    return lut


UNLABELLED_ACTION = "unlabelled points as one class…"  # the menu entries that ask for that class
CLI_UNLABELLED_HINT = "give --unlabeled-class C to assign a class"  # the builder's words (engine/occupancy/sequence.py)

class PaintCommand(Command):
    """Label edit on one grid (brush, box fill, 3-D pick), undoable, with the redraw attached."""

    def __init__(self, grid: VoxelGrid, index, value: int, on_change, text="paint voxels"):
        self.inner = SetArrayValues(grid.labels, index, np.full(len(index[0]), value, grid.labels.dtype), text,
                                    on_change)
        self.text = text

    def do(self):
        self.inner.do()

    def undo(self):
        self.inner.undo()


class OccupancyWorkbench(Workbench):
    title = "Occupancy"
    workspace = "Occupancy"

    # ------------------------------------------------------------------------------------------- setup
    def install(self, window) -> None:
        self.window = window
        self.grid: VoxelGrid | None = None
        self.gt: VoxelGrid | None = None
        self.hidden: set[int] = set()
        self.codes = None
        self.clip = None
        self.highlight = None
        self.metrics: dict | None = None
        self.projections: dict = {}
        self.frames: list[str] = []
        self.frame_index = 0
        self.previous: VoxelGrid | None = None
        self.last_run_inputs = None
        self.box_corner = None
        self._updating = False
        self._build_menu()
        self._build_panel()
        self._build_planes()
        window.connect_pick(self, self._on_pick3d)
        window.connect_click(self, self._on_image_click)
        window.view2d.image_changed.connect(lambda key: self._draw_projection())
        window.layer_added.connect(self._on_layer_added)
        window.view3d.layer_built.connect(self._on_layer_built)
        window.annotation_providers.append(self)
        # rotation's coarse meshes (both halves side by side): View3D.set_interactive_lod, wired by the view
        self.play_timer = QtCore.QTimer(window)
        self.play_timer.setInterval(500)
        self.play_timer.timeout.connect(self._next_frame)

    def _build_menu(self) -> None:
        m = self.window.menu("&Occupancy")
        m.addAction("LiDAR → occupancy (current scene)", self.run_lidar_task)
        m.addAction("Open prediction… (compare with the ground truth in one view)", self._open_prediction_dialog)
        self.side_action = m.addAction("Compare side by side (linked cameras)")
        self.side_action.setCheckable(True)
        self.side_action.toggled.connect(lambda on: self.side_check.setChecked(on))
        m.addAction("Build ground truth from sequence folder…", self._sequence_gt_dialog)
        m.addAction("Build densified ground truth from sequence folder (SurroundOcc Poisson)…",
                    lambda: self._sequence_gt_dialog(densify=True))
        m.addAction("Build ground truth from nuScenes info file…",
                    lambda: self._sequence_gt_dialog(info_file=True))
        m.addAction(f"Build ground truth from sequence folder, {UNLABELLED_ACTION}",
                    lambda: self._sequence_gt_dialog(ask_class=True))
        m.addAction(f"Build ground truth from nuScenes info file, {UNLABELLED_ACTION}",
                    lambda: self._sequence_gt_dialog(info_file=True, ask_class=True))
        m.addAction("What-if: drop a class from the input points and re-run…", self._whatif_dialog)
        m.addAction("Run occupancy model (adapter file)…", self._adapter_dialog)
        m.addAction("Compute metrics", self.compute_metrics)
        m.addAction("Sequence metrics against a ground-truth folder…", self._sequence_metrics_dialog)
        m.addAction("Project voxels onto cameras", self.project_cameras)
        m.addAction("Project LiDAR points onto cameras", lambda: self.project_cameras(source="points"))
        m.addSeparator()
        ex = m.addMenu("Export")
        ex.addAction("Grid as Occ3D .npz…", lambda: self._save_dialog("Occ3D grid", "*.npz", self.export_occ3d))
        ex.addAction("Grid as SurroundOcc occupied-voxel list (.npy)…",
                     lambda: self._save_dialog("SurroundOcc .npy", "*.npy", self.export_surroundocc))
        ex.addAction("Grid as SemanticKITTI voxels…", lambda: self._save_dialog("SemanticKITTI .label", "*.label",
                                                                               self.export_semantickitti))
        ex.addAction("Voxel surface as PLY…", lambda: self._save_dialog("PLY", "*.ply", self.export_ply))
        ex.addAction("Metrics as CSV/JSON…", lambda: self._save_dialog("Metrics", "*.csv *.json", self.export_metrics))
        ex.addAction("Turntable / sequence MP4…", lambda: self._save_dialog("MP4", "*.mp4", self.export_video))

    def _save_dialog(self, what, filt, fn):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, f"Export {what}", "", filt)
        if path:
            fn(path)

    def _build_panel(self) -> None:
        w = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(w)
        form = QtWidgets.QFormLayout()
        self.grid_combo = QtWidgets.QComboBox()
        self.gt_combo = QtWidgets.QComboBox()
        self.grid_combo.currentIndexChanged.connect(self._on_grid_choice)
        self.gt_combo.currentIndexChanged.connect(self._on_gt_choice)
        form.addRow("Grid", self.grid_combo)
        form.addRow("Compare with", self.gt_combo)
        self.mask_combo = QtWidgets.QComboBox()
        self.mask_combo.addItems(["all voxels", "mask_camera", "mask_lidar"])
        self.mask_combo.currentIndexChanged.connect(lambda *_: self.redraw())
        form.addRow("Show", self.mask_combo)
        self.unobs_combo = QtWidgets.QComboBox()
        self.unobs_combo.addItems(["hide unobserved", "unobserved translucent"])
        self.unobs_combo.currentIndexChanged.connect(lambda *_: self.redraw())
        form.addRow("", self.unobs_combo)
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(100)
        self.opacity.sliderReleased.connect(self.redraw)
        form.addRow("Opacity", self.opacity)
        self.diff_check = QtWidgets.QCheckBox("diff mode (correct / wrong / false occ. / missed)")
        self.diff_check.toggled.connect(self.set_diff_mode)
        form.addRow(self.diff_check)
        self.side_check = QtWidgets.QCheckBox("side by side: prediction | ground truth (linked cameras)")
        self.side_check.toggled.connect(self.set_side_by_side)
        form.addRow(self.side_check)
        lay.addLayout(form)
        self.legend = QtWidgets.QListWidget()
        self.legend.itemChanged.connect(self._on_legend_item)
        lay.addWidget(QtWidgets.QLabel("Classes (untick to hide)"))
        lay.addWidget(self.legend, 2)
        # metrics
        mrow = QtWidgets.QHBoxLayout()
        self.metric_mask = QtWidgets.QComboBox()
        self.metric_mask.addItems(["camera", "lidar", "none"])
        mrow.addWidget(QtWidgets.QLabel("Metric mask"))
        mrow.addWidget(self.metric_mask)
        b = QtWidgets.QPushButton("Compute metrics")
        b.clicked.connect(self.compute_metrics)
        mrow.addWidget(b)
        lay.addLayout(mrow)
        self.metric_label = QtWidgets.QLabel("mIoU —   geometry IoU —")
        self.metric_label.setWordWrap(True)  # the summary line must not widen the panel past its dock
        lay.addWidget(self.metric_label)
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["class", "IoU %"])
        self.table.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.table, 2)
        self.bar_plot = pg.PlotWidget()
        self.bar_plot.setMinimumHeight(120)
        self.bar_plot.setYRange(0, 100)
        lay.addWidget(self.bar_plot, 1)
        self.frame_plot = pg.PlotWidget()  # per-frame mIoU / geometry IoU of a sequence evaluation
        self.frame_plot.setMinimumHeight(100)
        self.frame_plot.setYRange(0, 100)
        self.frame_plot.addLegend(offset=(5, 5))
        self.frame_plot.setLabel("bottom", "frame")
        self.frame_plot.hide()
        lay.addWidget(self.frame_plot, 1)
        # timeline
        trow = QtWidgets.QHBoxLayout()
        self.play_btn = QtWidgets.QPushButton("▶")
        self.play_btn.setCheckable(True)
        self.play_btn.toggled.connect(self._toggle_play)
        self.timeline = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.timeline.setEnabled(False)
        self.timeline.valueChanged.connect(self.load_frame)
        self.frame_label = QtWidgets.QLabel("no sequence")
        trow.addWidget(self.play_btn)
        trow.addWidget(self.timeline, 1)
        trow.addWidget(self.frame_label)
        lay.addLayout(trow)
        # editing
        erow = QtWidgets.QHBoxLayout()
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItems(["inspect", "paint", "erase", "box fill"])
        self.paint_class = QtWidgets.QComboBox()
        self.brush = QtWidgets.QSpinBox()
        self.brush.setRange(0, 20)
        self.brush.setValue(1)
        self.brush.setPrefix("r=")
        erow.addWidget(self.mode_combo)
        erow.addWidget(self.paint_class, 1)
        erow.addWidget(self.brush)
        lay.addLayout(erow)
        self.dock = self.window.add_dock(w, "Occupancy", "right")
        self.panel = w

    def _build_planes(self) -> None:
        w = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(w)
        grid = QtWidgets.QGridLayout()  # the square top plane on the left, the flat side/front slices stacked
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 2)
        lay.addLayout(grid, 1)
        self.plane_views = []
        for n_plane, (name, axis, shown) in enumerate(PLANES):
            col = QtWidgets.QVBoxLayout()
            pw = pg.PlotWidget(title=name)
            pw.setAspectLocked(axis == 2)  # side/front slices are 16–32 cells high: stretch them to fill
            img = pg.ImageItem()
            pw.addItem(img)
            pw.scene().sigMouseClicked.connect(lambda ev, a=axis, p=pw: self._on_plane_click(ev, a, p))
            s = QtWidgets.QSlider(QtCore.Qt.Horizontal)
            s.valueChanged.connect(lambda v, a=axis: self._on_slice(a, v))
            s.sliderReleased.connect(lambda a=axis: self._on_slice_released(a))
            col.addWidget(pw, 1)
            col.addWidget(s)
            if n_plane == 0:
                grid.addLayout(col, 0, 0, 2, 1)
            else:
                grid.addLayout(col, n_plane - 1, 1)
            self.plane_views.append({"axis": axis, "shown": shown, "plot": pw, "image": img, "slider": s})
        side = QtWidgets.QVBoxLayout()
        self.clip_check = QtWidgets.QCheckBox("clip 3D at slice")
        self.clip_axis = QtWidgets.QComboBox()
        self.clip_axis.addItems(["z (top)", "x (side)", "y (front)"])
        self.clip_check.toggled.connect(lambda *_: self._update_clip())
        self.clip_axis.currentIndexChanged.connect(lambda *_: self._update_clip())
        side.addWidget(self.clip_check)
        side.addWidget(self.clip_axis)
        side.addStretch(1)
        lay.addLayout(side)
        self.planes_dock = self.window.add_dock(w, "TPV planes", "bottom")

    # ------------------------------------------------------------------------------------ scene/layers
    def grids(self) -> list[VoxelGrid]:
        return self.window.scene.of_type(VoxelGrid)

    def on_scene_changed(self, scene) -> None:
        self.side_check.setChecked(False)
        self.projections = {}
        self.metrics = None
        self.codes = None
        self.highlight = None
        self.previous = None
        self.frames = list(scene.meta.get("occ_frames") or [])
        self.play_btn.setChecked(False)
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, max(0, len(self.frames) - 1))
        self.timeline.setValue(int(scene.meta.get("frame_index", 0)))
        self.timeline.blockSignals(False)
        self.timeline.setEnabled(len(self.frames) > 1)
        self.frame_label.setText(f"1/{len(self.frames)}" if self.frames else "no sequence")
        self._refresh_combos()

    def _on_layer_added(self, layer) -> None:
        if isinstance(layer, VoxelGrid):
            self._refresh_combos(select=layer)

    def _refresh_combos(self, select: VoxelGrid | None = None) -> None:
        grids = self.grids()
        self._updating = True
        cur = select or self.grid
        self.grid_combo.clear()
        self.gt_combo.clear()
        self.gt_combo.addItem("(none)", None)
        for g in grids:
            self.grid_combo.addItem(g.name, g.uid)
            self.gt_combo.addItem(g.name, g.uid)
        self._updating = False
        if not grids:
            self.grid = None
            self.gt = None
            self.legend.clear()
            return
        # show a prediction, compare with the ground truth when both exist
        if cur is None or cur not in grids:
            preds = [g for g in grids if g.meta.get("role") == "prediction"]
            cur = preds[0] if preds else grids[0]
        self.grid_combo.setCurrentIndex(self.grid_combo.findData(cur.uid))
        gts = [g for g in grids if g is not cur and g.meta.get("role") == "gt" and g.shape == cur.shape]
        if cur.meta.get("role") == "gt":
            gts = []  # a ground truth (opened or built) is shown alone, not diffed against another scene's GT
        if self.previous is not None and self.previous in grids:
            gts = [self.previous]
        if gts:
            self.gt_combo.setCurrentIndex(self.gt_combo.findData(gts[0].uid))
        self._on_grid_choice()

    def _on_grid_choice(self, *_):
        if self._updating:
            return
        uid = self.grid_combo.currentData()
        self.grid = self.window.scene.get(uid) if uid else None
        self._fill_legend()
        self._on_gt_choice()
        self._setup_sliders()

    def _on_gt_choice(self, *_):
        if self._updating:
            return
        uid = self.gt_combo.currentData()
        g = self.window.scene.get(uid) if uid else None
        self.gt = g if (g is not None and self.grid is not None and g is not self.grid and g.shape == self.grid.shape) else None
        if self.diff_check.isChecked():
            self._compute_codes()
        else:
            self.redraw()

    def _fill_legend(self) -> None:
        self.legend.blockSignals(True)
        self.legend.clear()
        self.paint_class.clear()
        if self.diff_check.isChecked() and self.codes is not None:
            from scenelens.engine.occupancy.metrics import DIFF_COLORS, DIFF_NAMES

            counts = np.bincount(self.codes.ravel(), minlength=len(DIFF_NAMES))
            for c in range(1, len(DIFF_NAMES)):  # the diff colours' legend, above the classes
                pm = QtGui.QPixmap(14, 14)
                pm.fill(QtGui.QColor(*[int(v) for v in DIFF_COLORS[c]]))
                it = QtWidgets.QListWidgetItem(QtGui.QIcon(pm), f"{DIFF_NAMES[c]}  ({counts[c]:,})")
                it.setData(QtCore.Qt.UserRole, -c)
                it.setFlags(it.flags() & ~QtCore.Qt.ItemIsUserCheckable)
                self.legend.addItem(it)
        if self.grid is not None:
            ls = get_label_set(self.grid.label_set or "occ3d")
            lut = rgb_lut(ls.name)
            counts = np.bincount(self.grid.labels.ravel(), minlength=256)
            for c, name in enumerate(ls.names):
                if c == self.grid.free_label:
                    continue
                pm = QtGui.QPixmap(14, 14)
                pm.fill(QtGui.QColor(*[int(v) for v in lut[c]]))
                it = QtWidgets.QListWidgetItem(QtGui.QIcon(pm), f"{c:2d} {name}  ({counts[c]:,})")
                it.setData(QtCore.Qt.UserRole, c)
                it.setFlags(it.flags() | QtCore.Qt.ItemIsUserCheckable)
                it.setCheckState(QtCore.Qt.Unchecked if c in self.hidden else QtCore.Qt.Checked)
                self.legend.addItem(it)
                self.paint_class.addItem(QtGui.QIcon(pm), f"{c} {name}", c)
        self.legend.blockSignals(False)

    def _on_legend_item(self, item) -> None:
        c = int(item.data(QtCore.Qt.UserRole))
        if c < 0:  # a diff-colour legend row
            return
        if item.checkState() == QtCore.Qt.Checked:
            self.hidden.discard(c)
        else:
            self.hidden.add(c)
        self.redraw()

    def set_class_visible(self, cid: int, visible: bool) -> None:
        for i in range(self.legend.count()):
            it = self.legend.item(i)
            if int(it.data(QtCore.Qt.UserRole)) == cid and cid >= 0:
                it.setCheckState(QtCore.Qt.Checked if visible else QtCore.Qt.Unchecked)

    # --------------------------------------------------------------------------------------- drawing
    def style(self) -> dict:
        mask = self.mask_combo.currentText()
        st = {"hidden_classes": set(self.hidden), "mask": None if mask == "all voxels" else mask,
              "unobserved": "translucent" if self.unobs_combo.currentIndex() == 1 else "hide",
              "opacity": self.opacity.value() / 100.0, "clip": None, "compare_to": self.gt,  # clip: GPU plane
              "diff_codes": self._pair_codes() if self.diff_check.isChecked() else None, "highlight": self.highlight}
        return st

    def _pair_codes(self):
        """Diff codes with the hidden classes removed on both sides of the pair (what to show, not a result)."""
        if self.codes is None or not self.hidden or self.gt is None:
            return self.codes
        h = np.fromiter(self.hidden, np.int64)
        codes = self.codes.copy()
        codes[np.isin(self.grid.labels, h) | np.isin(self.gt.labels, h)] = 0
        return codes

    def redraw(self) -> None:
        if self.grid is None:
            return
        self.window.refresh_layer(self.grid, self.style())  # a big grid: built in a job, see _on_layer_built
        self._after_build()
        if getattr(self, "_side", None) is not None:
            self._build_side()
        self.draw_planes()

    def _after_build(self, render: bool = True) -> None:
        """What the workbench lays over the grid's actors once they exist: the clip, the pair shown as one, the
        LOD note. Runs after every synchronous redraw and when a background build lands."""
        self._apply_clip()  # removes the previous cap (not one of the layer's actors) and cuts the new ones
        self._show_pair_as_one()
        acts = self.window.view3d.scene_renderer.actors.get(self.grid.uid) or []
        lod = getattr(acts[0], "_sl_lod", 1) if acts else 1
        if lod > 1 and getattr(self, "_lod_noted", None) != self.grid.uid:
            self._lod_noted = self.grid.uid  # never a silent half resolution: say it once per grid
            self.window.log(f"{self.grid.name}: {int(self.grid.occupied().sum()):,} voxels drawn at 1/{lod} "
                            "resolution (picks still use the full grid)", "warning")
        if render:
            self.window.view3d.render()

    def _on_layer_built(self, uid: str) -> None:  # the view renders once after this
        if self.grid is not None and uid == self.grid.uid:
            self._after_build(render=False)
        elif self.gt is not None and uid == self.gt.uid:
            self._show_pair_as_one()

    def _show_pair_as_one(self) -> None:
        """In diff mode the prediction layer draws the pair (agree / wrong class / false positive / missed), so
        the ground truth's own actors are hidden: clip, hide and pick then act on the pair alone."""
        sr = self.window.view3d.scene_renderer
        pair = (self.diff_check.isChecked() and self.codes is not None and self.gt is not None) or \
            getattr(self, "_side", None) is not None  # side by side: the ground truth is drawn on the right
        for g in self.grids():
            if g is self.grid:
                continue
            hide = pair and g is self.gt
            for a in sr.actors.get(g.uid, []):
                a.SetVisibility(bool(g.visible and not hide))
                a.SetPickable(not hide)

    # ------------------------------------------------------------------------------- side by side
    def set_side_by_side(self, on: bool) -> None:
        """Occupancy ▸ compare side by side: the prediction in the left half of the 3-D view, the ground truth
        in the right half, two renderers that share one vtkCamera — a drag, zoom or view preset in either
        moves both, and one render draws both. Clip and hidden classes apply to both sides."""
        import vtk

        v3 = self.window.view3d
        if self.side_action.isChecked() != on:
            self.side_action.setChecked(on)
        if on and (self.grid is None or self.gt is None):
            self.window.log("side by side needs a prediction and a grid to compare with ('Compare with')", "warning")
            self.side_check.setChecked(False)
            return
        side = getattr(self, "_side", None)
        if on and side is None:
            ren = v3.renderer
            r2 = vtk.vtkRenderer()
            r2.GradientBackgroundOn()
            r2.SetBackground(*ren.GetBackground())
            r2.SetBackground2(*ren.GetBackground2())
            r2.SetActiveCamera(ren.GetActiveCamera())  # the link: one camera for both views
            ren.SetViewport(0.0, 0.0, 0.5, 1.0)
            r2.SetViewport(0.5, 0.0, 1.0, 1.0)
            v3.window.AddRenderer(r2)
            v3.pick_renderers = (r2,)  # a click in the right half picks the ground truth
            titles = []
            for r in (ren, r2):
                t = vtk.vtkTextActor()
                t.GetTextProperty().SetFontSize(15)
                t.GetTextProperty().SetColor(0.95, 0.95, 0.95)
                t.SetPosition(12, 12)
                r.AddViewProp(t)
                titles.append(t)
            divider = vtk.vtkActor2D()  # a thin line between the halves
            pts = vtk.vtkPoints()
            pts.InsertNextPoint(0.0, 0.0, 0.0)
            pts.InsertNextPoint(0.0, 1.0, 0.0)
            line = vtk.vtkCellArray()
            line.InsertNextCell(2, [0, 1])
            pd = vtk.vtkPolyData()
            pd.SetPoints(pts)
            pd.SetLines(line)
            coord = vtk.vtkCoordinate()
            coord.SetCoordinateSystemToNormalizedViewport()
            m = vtk.vtkPolyDataMapper2D()
            m.SetInputData(pd)
            m.SetTransformCoordinate(coord)
            divider.SetMapper(m)
            divider.GetProperty().SetColor(0.55, 0.57, 0.62)
            divider.GetProperty().SetLineWidth(2)
            r2.AddViewProp(divider)
            self._side = {"renderer": r2, "titles": titles, "divider": divider, "actors": [], "cap": None}
            self._build_side()
            self._show_pair_as_one()
            v3.reset_camera(render=False)  # set_view frames the grid for the half's own aspect
            v3.render()
        elif not on and side is not None:
            self._clear_side_actors()
            v3.window.RemoveRenderer(side["renderer"])
            v3.pick_renderers = ()
            for t, r in zip(side["titles"], (v3.renderer, side["renderer"])):
                r.RemoveViewProp(t)
            v3.renderer.SetViewport(0.0, 0.0, 1.0, 1.0)
            self._side = None
            self._show_pair_as_one()
            v3.render()

    def _clear_side_actors(self) -> None:
        side = self._side
        for a in side["actors"] + ([side["cap"]] if side["cap"] is not None else []):
            side["renderer"].RemoveViewProp(a)
        side["actors"], side["cap"] = [], None

    def _side_style(self) -> dict:
        sr = self.window.view3d.scene_renderer
        return {**self.style(), "diff_codes": None, "compare_to": None, "highlight": None, "clip": None,
                "origin": sr.origin}

    def _build_side(self) -> None:
        """(Re)build the ground truth's actors in the right-hand renderer; a big grid's mesh in a job."""
        from scenelens.gui.views.builders import build_actors
        from scenelens.gui.views.layers.voxels import prebuild, wants_background

        side, gt = self._side, self.gt
        if gt is None or self.grid is None:  # nothing to compare with any more
            self.side_check.setChecked(False)
            return None
        st = self._side_style()
        def short(name: str, n: int = 26) -> str:
            name = Path(name).name if "/" in name else name
            return name if len(name) <= n else name[: n - 1] + "…"

        side["titles"][0].SetInput(f"prediction: {short(self.grid.name)}")
        side["titles"][1].SetInput(f"ground truth: {short(gt.name)}")
        side["gen"] = side.get("gen", 0) + 1
        gen = side["gen"]

        def land(pre) -> None:
            if getattr(self, "_side", None) is not side or side["gen"] != gen or self.gt is not gt:
                return  # switched off or rebuilt since
            self._clear_side_actors()
            side["actors"] = build_actors(gt, {**st, "prebuilt": pre, "ego_marker": True})
            for a in side["actors"]:
                a.SetVisibility(gt.visible)
                side["renderer"].AddViewProp(a)
            self._apply_side_clip()
            self.window.view3d.render()

        if wants_background(gt, st):
            return self.window.start_job(Job(f"Mesh of {gt.name} (side by side)", lambda ctx: prebuild(gt, st, ctx)),
                                         on_result=land)
        land(None)
        return None

    def _apply_side_clip(self) -> None:
        from scenelens.gui.views.layers.voxels import apply_clip, visible_voxels

        side = getattr(self, "_side", None)
        if side is None or self.gt is None:
            return
        if side["cap"] is not None:
            side["renderer"].RemoveViewProp(side["cap"])
            side["cap"] = None
        if self.clip is None:
            for a in side["actors"]:
                m = a.GetMapper()
                if m is not None and hasattr(m, "RemoveAllClippingPlanes"):
                    m.RemoveAllClippingPlanes()
            return
        sr = self.window.view3d.scene_renderer
        drawn = visible_voxels(self.gt, self._side_style())[0]
        origin = np.asarray(self.gt.origin, float) - (sr.origin if sr.origin is not None else 0.0)
        side["cap"] = apply_clip(side["actors"], self.gt, drawn, self.gt.labels, self.clip[0], self.clip[1], origin,
                                 side["renderer"])

    def set_diff_mode(self, on: bool) -> None:
        if on and self.gt is None:
            self.window.log("diff mode needs a grid to compare with (choose one under 'Compare with')", "warning")
        if on:
            self._compute_codes()
        else:
            self.codes = None
            self._fill_legend()
            self.redraw()

    def _compute_codes(self) -> None:
        if self.grid is None or self.gt is None:
            self.codes = None
            self._fill_legend()  # class rows, not the last pair's diff counts
            self.redraw()
            return
        from scenelens.engine.occupancy.metrics import diff_codes

        pred, gt = self.grid, self.gt
        free = gt.free_label if gt.free_label is not None else 17

        def done(codes):
            self.codes = codes
            self._fill_legend()
            self.redraw()

        return self.window.start_job(Job("Compare grids", lambda ctx: diff_codes(pred.labels, gt.labels, free)),
                                     on_result=done)

    def _setup_sliders(self) -> None:
        if self.grid is None:
            return
        for pv in self.plane_views:
            s = pv["slider"]
            s.blockSignals(True)
            s.setRange(0, self.grid.shape[pv["axis"]] - 1)
            if pv["axis"] == 2:  # the top plane at the layer holding the most voxels (the ground in any grid)
                per_k = self.grid.occupied().sum((0, 1))
                s.setValue(int(per_k.argmax()) if per_k.any() else 0)
            else:
                s.setValue(self.grid.shape[pv["axis"]] // 2)
            s.blockSignals(False)
        self.draw_planes()

    def plane_rgb(self, pv) -> np.ndarray:
        """(A, B, 3) colours of the slice (A = first shown axis, horizontal)."""
        g = self.grid
        axis, k = pv["axis"], pv["slider"].value()
        sl = [slice(None)] * 3
        sl[axis] = k
        lab = g.labels[tuple(sl)]
        if self.diff_check.isChecked() and self.codes is not None:
            c = self.codes[tuple(sl)]
            cols = np.where((c > 0)[..., None], DIFF_COLORS[np.minimum(c, 4)], BG)
        else:
            lut = rgb_lut(g.label_set)
            occ = g.occupied()[tuple(sl)]
            if self.hidden:
                occ &= ~np.isin(lab, list(self.hidden))
            cols = np.where(occ[..., None], lut[lab], BG)
        return cols.astype(np.uint8)

    def draw_planes(self, axis: int | None = None) -> None:
        """Redraw the TPV plane images (only the one slicing `axis` when given: a slider step changes one)."""
        if self.grid is None:
            return
        for pv in self.plane_views:
            if axis is not None and pv["axis"] != axis:
                continue
            rgb = self.plane_rgb(pv)  # (A, B, 3): A horizontal, B vertical
            shown = rgb.transpose(1, 0, 2) if pg.getConfigOption("imageAxisOrder") == "row-major" else rgb
            pv["image"].setImage(np.ascontiguousarray(shown), levels=(0, 255))
            if pv.get("extent") != rgb.shape[:2]:
                pv["extent"] = rgb.shape[:2]
                pv["plot"].setRange(xRange=(0, rgb.shape[0]), yRange=(0, rgb.shape[1]), padding=0.02)

    def _set_lod(self, on: bool) -> int:
        """The coarse meshes while the user drags (rotation, a clip slider), full detail on release."""
        from scenelens.gui.views.layers.voxels import set_interactive_lod

        side = getattr(self, "_side", None)
        return sum(set_interactive_lod(r, on) for r in (self.window.view3d.renderer, side and side["renderer"]) if r)

    def _on_slice(self, axis: int, value: int) -> None:
        self.draw_planes(axis)
        if self.clip_check.isChecked() and self._clip_axis() == axis:
            pv = next(p for p in self.plane_views if p["axis"] == axis)
            if pv["slider"].isSliderDown():  # dragging the clip: frames from the coarse mesh, as rotation does
                self._set_lod(True)
            self._update_clip()

    def _on_slice_released(self, axis: int) -> None:
        if self._set_lod(False):  # the still frame at full detail
            self.window.view3d.render()

    def _clip_axis(self) -> int:
        return (2, 0, 1)[self.clip_axis.currentIndex()]

    def _update_clip(self) -> None:
        if self.clip_check.isChecked():
            a = self._clip_axis()
            pv = next(p for p in self.plane_views if p["axis"] == a)
            self.clip = (a, pv["slider"].value())
        else:
            self.clip = None
        if self.grid is None:
            return
        self._apply_clip()  # a clipping plane and a small cap mesh: no rebuild of the grid's mesh
        self._apply_side_clip()
        self.window.view3d.render()

    def _apply_clip(self) -> None:
        from scenelens.gui.views.layers.voxels import apply_clip, visible_voxels

        sr = self.window.view3d.scene_renderer
        cap = getattr(self, "_cap_actor", None)
        if cap is not None:
            sr.renderer.RemoveViewProp(cap)
            self._cap_actor = None
        acts = sr.actors.get(self.grid.uid) or []
        if self.clip is None:
            for a in acts:
                m = a.GetMapper()
                if m is not None and hasattr(m, "RemoveAllClippingPlanes"):
                    m.RemoveAllClippingPlanes()
            return
        st = self.style()
        if getattr(self, "_clip_key", None) != (id(self.grid), id(st["diff_codes"]), tuple(sorted(self.hidden)),
                                                  st["mask"]):
            self._clip_drawn = visible_voxels(self.grid, {**st, "clip": None})[0]
            self._clip_key = (id(self.grid), id(st["diff_codes"]), tuple(sorted(self.hidden)), st["mask"])
        values = st["diff_codes"] if st["diff_codes"] is not None else self.grid.labels
        origin = np.asarray(self.grid.origin, float) - (sr.origin if sr.origin is not None else 0.0)
        self._cap_actor = apply_clip(acts, self.grid, self._clip_drawn, values, self.clip[0], self.clip[1],
                                     origin, sr.renderer)

    def set_slice(self, axis: int, value: int) -> None:
        next(p for p in self.plane_views if p["axis"] == axis)["slider"].setValue(value)

    # -------------------------------------------------------------------------------- picking/editing
    def plane_voxels(self, axis: int, a: float, b: float, radius: int | None = None) -> tuple[np.ndarray, ...]:
        """Voxel indices under a brush of `radius` voxels centred at plane coordinates (a, b)."""
        g = self.grid
        pv = next(p for p in self.plane_views if p["axis"] == axis)
        ua, ub = pv["shown"]
        r = self.brush.value() if radius is None else radius
        ia, ib = int(np.floor(a)), int(np.floor(b))
        da, db = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
        disk = da ** 2 + db ** 2 <= r * r
        A, B = ia + da[disk], ib + db[disk]
        ok = (A >= 0) & (A < g.shape[ua]) & (B >= 0) & (B < g.shape[ub])
        idx = [None, None, None]
        idx[ua], idx[ub] = A[ok], B[ok]
        idx[axis] = np.full(int(ok.sum()), pv["slider"].value())
        return tuple(np.asarray(i, np.int64) for i in idx)

    def _on_plane_click(self, ev, axis, plot) -> None:
        if self.grid is None or ev.button() != QtCore.Qt.LeftButton:
            return
        p = plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        self.plane_click(axis, p.x(), p.y())

    def plane_click(self, axis: int, a: float, b: float) -> None:
        """A click at plane coordinates: inspect, paint/erase with the brush, or box-fill between two clicks."""
        mode = self.mode_combo.currentText()
        idx = self.plane_voxels(axis, a, b, radius=0)
        if len(idx[0]) == 0:
            return
        if mode == "inspect":
            from scenelens.gui.views.layers.voxels import voxel_info

            v = tuple(int(i[0]) for i in idx)
            self.window.inspector.show(f"{self.grid.name} — voxel", voxel_info(self.grid, v, self.gt, self.codes))
        elif mode in ("paint", "erase"):
            self.paint(self.plane_voxels(axis, a, b), mode == "erase")
        elif mode == "box fill":
            v = np.array([int(i[0]) for i in idx])
            if self.box_corner is None:
                self.box_corner = v
                self.window.log(f"box corner 1 at {tuple(v)}; click the opposite corner")
            else:
                self.box_fill(self.box_corner, v)
                self.box_corner = None

    def current_paint_class(self) -> int:
        c = self.paint_class.currentData()
        return int(c) if c is not None else 0

    def paint(self, index: tuple[np.ndarray, ...], erase: bool = False) -> None:
        g = self.grid
        value = (g.free_label if g.free_label is not None else 0) if erase else self.current_paint_class()
        self.window.push(PaintCommand(g, index, value, self._grid_edited, "erase voxels" if erase else "paint voxels"))

    def box_fill(self, c0, c1, value: int | None = None) -> None:
        lo, hi = np.minimum(c0, c1), np.maximum(c0, c1) + 1
        ii, jj, kk = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij")
        v = self.current_paint_class() if value is None else value
        self.window.push(PaintCommand(self.grid, (ii.ravel(), jj.ravel(), kk.ravel()), v, self._grid_edited, "box fill"))

    def _grid_edited(self) -> None:
        self.window._mark_dirty()  # noqa: SLF001 - edits are annotations (saved with the project)
        self.grid.meta["edited"] = True
        if self.diff_check.isChecked() and self.gt is not None:
            from scenelens.engine.occupancy.metrics import diff_codes

            self.codes = diff_codes(self.grid.labels, self.gt.labels,
                                    17 if self.gt.free_label is None else self.gt.free_label)  # 0 is a label
            self._fill_legend()
        self.redraw()
        if self.metrics is not None and self.gt is not None:
            self.compute_metrics()  # the IoU table follows the edits

    def _on_pick3d(self, info: dict) -> None:
        if self.grid is None or info.get("layer") != self.grid.uid:
            return
        mode = self.mode_combo.currentText()
        if mode in ("paint", "erase") and info.get("voxel") is not None:
            i, j, k = info["voxel"]
            self.paint((np.array([i]), np.array([j]), np.array([k])), mode == "erase")

    # ----------------------------------------------------------------------------------------- metrics
    def compute_metrics(self):
        if self.grid is None or self.gt is None:
            self.window.log("metrics need a prediction grid and a grid to compare with", "warning")
            return None
        from scenelens.engine.occupancy.evaluate import evaluate_grids

        proto = "semantickitti" if (self.gt.label_set == "semantickitti") else "occ3d"
        mask = self.metric_mask.currentText()
        if mask != "none" and f"mask_{mask}" not in self.gt.masks:
            mask = "none"
        pred, gt = self.grid, self.gt
        return self.window.start_job(Job(f"Occupancy metrics ({proto}, mask {mask})",
                                         lambda ctx: evaluate_grids(pred, gt, proto, mask)), on_result=self.show_metrics)

    def show_metrics(self, res: dict) -> None:
        self.metrics = res
        items = list(res["per_class"].items())
        self.table.setRowCount(len(items) + 2)
        rows = items + [("mIoU", res["miou"]), ("geometry IoU", res["iou_geometry"])]
        for r, (name, v) in enumerate(rows):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(name))
            self.table.setItem(r, 1, QtWidgets.QTableWidgetItem("nan" if v is None or not np.isfinite(v) else f"{v:.2f}"))
        self.metric_label.setText(f"mIoU {res['miou']:.2f}   geometry IoU {res['iou_geometry']:.2f}   "
                                  f"({res['protocol']}, mask {res.get('mask')}, {res['n_frames']} frame(s))")
        self.bar_plot.clear()
        ls = get_label_set("semantickitti" if res["protocol"] == "semantickitti" else "occ3d")
        lut = rgb_lut(ls.name)
        ids = [ls.names.index(n) for n, _ in items]
        vals = [0.0 if v is None else v for _, v in items]
        self.bar_plot.addItem(pg.BarGraphItem(x=np.arange(len(vals)), height=vals, width=0.8,
                                              brushes=[pg.mkBrush(*lut[c]) for c in ids]))
        self.bar_plot.getAxis("bottom").setTicks([[(i, str(c)) for i, c in enumerate(ids)]])
        frames = res.get("frames") or []
        self.frame_plot.clear()
        self.frame_plot.setVisible(len(frames) > 1)
        if len(frames) > 1:  # per-frame curves over the sequence; the headline numbers stay the accumulated ones
            x = np.arange(len(frames))
            val = lambda k: np.array([np.nan if f[k] is None else f[k] for f in frames], float)  # noqa: E731
            self.frame_plot.plot(x, val("miou"), pen=pg.mkPen((230, 120, 30), width=2), symbol="o", symbolSize=5,
                                 name="mIoU")
            self.frame_plot.plot(x, val("iou_geometry"), pen=pg.mkPen((60, 140, 220), width=2), name="geometry IoU")

    def _sequence_metrics_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Ground-truth folder")
        if d:
            self.sequence_metrics(d)

    def sequence_metrics(self, gt_folder: str, pred_folder: str | None = None):
        """One confusion matrix over all frames of the open sequence (as the reference evaluations do)."""
        from scenelens.engine.occupancy.evaluate import make_eval_job, match_pairs

        pred_folder = pred_folder or (self.window.scene.path if self.frames else None)
        if not pred_folder:
            self.window.log("open a folder of prediction frames first", "warning")
            return None
        pairs = match_pairs(pred_folder, gt_folder)
        return self.window.start_job(make_eval_job(pairs, "occ3d", self.metric_mask.currentText(), per_frame=True),
                                     on_result=self.show_metrics)

    # ---------------------------------------------------------------------------------------- sequence
    def load_frame(self, i: int):
        if not self.frames or not 0 <= i < len(self.frames):
            return None
        from scenelens.engine.io.occ3d import read_occ_npz

        path = self.frames[i]
        opts = dict(self.window.scene.meta.get("occ_options") or {})
        name = self.grid.name if self.grid is not None else Path(path).name
        cur = self.grid
        # a timeline step is one mesh build off the GUI thread and one render: the frame's faces are computed in
        # the job (diff mode excepted: its codes need the new frame first), the open layer takes the new labels
        st = None if (cur is None or self.diff_check.isChecked()) else {**self.style(), "diff_codes": None,
                                                                        "highlight": None, "compare_to": None}

        def work(ctx):
            from scenelens.gui.views.layers.voxels import prebuild

            g = read_occ_npz(Path(path), **opts)
            ctx.progress(0.6, "building faces")
            pre = prebuild(g, st) if st is not None and g.shape == cur.shape else None
            return g, pre

        def done(res):
            g, pre = res
            if pre is not None and cur is self.grid and cur in self.window.scene.layers:
                cur.labels, cur.masks, cur.scores, cur.source = g.labels, g.masks, g.scores, g.source
                cur.meta["frame_index"] = i
                self.frame_index = i
                self.frame_label.setText(f"{i + 1}/{len(self.frames)}")
                self.window.scene.meta["frame_index"] = i
                self.window.refresh_layer(cur, {**self.style(), "prebuilt": pre})
                self.window.view3d.scene_renderer.styles.get(cur.uid, {}).pop("prebuilt", None)  # one use
                self._apply_clip()
                self._show_pair_as_one()
                self.window.view3d.render()
                self.draw_planes()
                if self.play_btn.isChecked():
                    self.play_timer.start()
                return
            g.name = name
            g.meta["frame_index"] = i
            self.frame_index = i
            self.frame_label.setText(f"{i + 1}/{len(self.frames)}")
            self.window.scene.meta["frame_index"] = i
            self.grid = self.window.add_layer(g)
            self._refresh_combos(select=g)
            if self.play_btn.isChecked():
                self.play_timer.start()

        return self.window.start_job(Job(f"Load frame {i + 1}", work), on_result=done)

    def _toggle_play(self, on: bool) -> None:
        self.play_btn.setText("⏸" if on else "▶")
        if on:
            self.play_timer.start()
        else:
            self.play_timer.stop()

    def _next_frame(self) -> None:
        self.play_timer.stop()  # the next tick is scheduled when the frame has been shown
        if self.frames:
            self.timeline.setValue((self.timeline.value() + 1) % len(self.frames))

    # ----------------------------------------------------------------------------------------- cameras
    def rig(self) -> CameraRig | None:
        rigs = self.window.scene.of_type(CameraRig)
        return rigs[0] if rigs else None

    def project_cameras(self, source: str = "voxels"):
        """Draw occupied voxel centres (or the LiDAR points) on every camera image, coloured by class."""
        rig, g = self.rig(), self.grid
        pcs = self.window.scene.of_type(PointCloud)
        if rig is None or (g is None if source == "voxels" else not pcs):
            self.window.log(f"projection needs a camera rig and {'a voxel grid' if source == 'voxels' else 'a point cloud'}",
                            "warning")
            return None
        from scenelens.engine.occupancy.projection import project_points_by_class, project_voxels

        if source == "points":
            pc = pcs[0]
            if self.window.scene.meta.get("format") == "nuscenes-info":
                from scenelens.engine.io.nuscenes import label_points_from_boxes

                labels = label_points_from_boxes(self.window.scene)
            else:
                labels = pc.attributes.get("label", np.zeros(pc.n, np.uint8))
            self.projection_label_set = pc.label_set or "occ3d"
        else:
            self.projection_label_set = g.label_set

        def work(ctx):
            out = {}
            for n, cam in enumerate(rig.cameras):
                out[cam.name] = (project_voxels(g, cam) if source == "voxels"
                                 else project_points_by_class(pc.points, labels, cam))
                ctx.progress((n + 1) / len(rig.cameras), cam.name)
            return out

        def done(res):
            self.projections = res
            self._draw_projection()

        return self.window.start_job(Job("Project voxels onto cameras", work), on_result=done)

    def _draw_projection(self) -> None:
        v2 = self.window.view2d
        v2.clear_overlays()
        key = v2.current
        if key not in self.projections:
            return
        p = self.projections[key]
        lut = rgb_lut(getattr(self, "projection_label_set", None) or self.grid.label_set)
        cols = lut[p["labels"]]
        # painter's order (far → near) comes from the engine; size shrinks with depth
        size = np.clip(60.0 / np.maximum(p["depth"], 1.0), 2, 14)
        brushes = [pg.mkBrush(*c, 200) for c in cols]
        v2.add_overlay(pg.ScatterPlotItem(p["uv"][:, 0], p["uv"][:, 1], size=size, brush=brushes, pen=None))

    def _on_image_click(self, x: float, y: float) -> None:
        rig, g = self.rig(), self.grid
        key = self.window.view2d.current
        if rig is None or g is None:
            return
        cam = next((c for c in rig.cameras if c.name == key), None)
        if cam is None:
            return
        self.select_pixel(cam.name, x, y)

    def select_pixel(self, cam_name: str, u: float, v: float):
        """Highlight in 3-D the occupied voxels along the camera ray through pixel (u, v)."""
        from scenelens.engine.occupancy.projection import voxels_along_pixel

        cam = next(c for c in self.rig().cameras if c.name == cam_name)
        g = self.grid

        def done(idx):
            self.highlight = idx
            if len(idx):
                from scenelens.gui.views.layers.voxels import voxel_info

                self.window.inspector.show(f"{cam_name} pixel ({u:.0f}, {v:.0f}) — first voxel",
                                           voxel_info(g, tuple(int(x) for x in idx[0]), self.gt, self.codes))
            self.redraw()

        return self.window.start_job(Job("Voxels along pixel ray", lambda ctx: voxels_along_pixel(g, cam, u, v)),
                                     on_result=done)

    # ------------------------------------------------------------------------------------------- tasks
    def _task_inputs(self, drop_classes=()):
        from scenelens.engine.io.nuscenes import label_points_from_boxes
        from scenelens.engine.occupancy.grids import preset
        from scenelens.engine.occupancy.voxelize import Scan

        scene = self.window.scene
        pcs = scene.of_type(PointCloud)
        if not pcs:
            raise ValueError("the scene has no point cloud")
        pc = pcs[0]
        if scene.meta.get("format") == "nuscenes-info":
            from scenelens.engine.io.nuscenes import box_corners_mask

            labels = label_points_from_boxes(scene).astype(np.int64)
            spec = preset("occ3d")
            T = np.asarray(scene.meta.get("lidar2ego", np.eye(4)))
            outside = box_corners_mask((pc.points - T[:3, 3]) @ T[:3, :3], scene.meta.get("boxes") or []) < 0
            if outside.any():  # no lidarseg: points in no box have no class — ignore, never 'others'
                labels[outside] = 255
                self.window.log(f"{int(outside.sum()):,} LiDAR points lie in no annotated box: their voxels are "
                                "255 (ignore)", "warning")
        elif "label" in pc.attributes:
            labels = pc.attributes["label"].astype(np.int64)
            spec = preset("semantickitti" if pc.label_set == "semantickitti" else "occ3d")
        else:
            spec = preset("occ3d")
            labels = np.full(pc.n, 255, np.int64)  # unlabelled points never become a class silently
            self.window.log(f"{pc.name}: {pc.n:,} points have no labels: their voxels are 255 (ignore)", "warning")
        keep = ~np.isin(labels, np.asarray(list(drop_classes), np.int64))
        origin = np.asarray(pc.meta.get("sensor_origin", np.zeros(3)), float)
        return [Scan(pc.points[keep], labels[keep], None, origin, pc.name)], spec

    def run_lidar_task(self, drop_classes=(), name: str = "LiDAR occupancy"):
        from scenelens.engine.tasks.occupancy import make_run_job

        try:
            scans, spec = self._task_inputs(drop_classes)
        except ValueError as e:
            self.window.error("LiDAR → occupancy", str(e))
            return None
        old = next((g for g in self.grids() if g.name == name), None)

        def done(g):
            self.previous = None
            if old is not None:  # what-if: keep the previous result to compare against
                old.name = f"{name} (previous)"
                old.meta["role"] = "gt"
                self.previous = old
            self.grid = self.window.add_layer(g)
            if self.previous is not None and self.previous not in self.window.scene.layers:
                self.window.scene.add(self.previous)
                self.window.browser.set_scene(self.window.scene)
            self._refresh_combos(select=g)
            if self.previous is not None:
                self.diff_check.setChecked(True)

        return self.window.start_job(make_run_job(scans, spec, device=self.window.device, name=name), on_result=done)

    def _sequence_gt_dialog(self, info_file: bool = False, densify: bool = False, ask_class: bool = False) -> None:
        if info_file:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "nuScenes info file", "", "Info (*.pkl)")
        else:
            path = QtWidgets.QFileDialog.getExistingDirectory(
                self.window, "Sequence folder (SurroundOcc pc/ pc_seman/ bbox/ calib/ pose/, or SemanticKITTI)")
        if not path:
            return
        unlabeled = None
        if ask_class:
            unlabeled, ok = QtWidgets.QInputDialog.getInt(
                self.window, "Unlabelled points", "Class id for points without a label\n"
                "(e.g. Occ3D 0 = others, SemanticKITTI 0 = unlabeled; without it they are 255 = ignore):", 0, 0, 254)
            if not ok:
                return
        self.build_from_sequence(path, densify=densify, unlabeled_class=unlabeled)

    def build_from_sequence(self, path: str, keyframe: int = 0, densify: bool = False,
                            unlabeled_class: int | None = None):
        """Occupancy ▸ Build ground truth from a sequence: the engine's builder in a job (progress, cancel);
        the result is added as the ground-truth grid, data warnings go to the log (the builder's hint names the
        CLI flag; here it names the menu entry that does the same)."""
        from scenelens.engine.jobs import Job
        from scenelens.engine.occupancy.sequence import build_ground_truth, detect_sequence
        from scenelens.engine.tasks.occupancy import sequence_spec

        warnings: list[str] = []

        def work(ctx):
            ctx.progress(0.0, "reading the sequence")
            seq = detect_sequence(path)
            if seq is None:
                from scenelens.engine.errors import InputError

                raise InputError(path, "not a sequence (SurroundOcc own-data folder, SemanticKITTI sequence "
                                       "folder or nuScenes info .pkl)")
            return build_ground_truth(seq, sequence_spec(seq), keyframe, densify=densify, ctx=ctx,
                                      device=self.window.device, warn=warnings.append,
                                      unlabeled_class=unlabeled_class)

        def done(g):
            for w in warnings:
                self.window.log(w.replace(CLI_UNLABELLED_HINT, f"to give them a class, use Occupancy ▸ Build ground truth …, {UNLABELLED_ACTION}"),
                                "warning")
            d = g.meta.get("densify")
            if d:  # which densification ran (Poisson needs Open3D), and what it changed
                self.window.log(f"{g.name}: densified by {d['method']}"
                                f"{' (' + d['library'] + ')' if 'library' in d else ' (' + d.get('why', '') + ')'}: "
                                f"{d['voxels_before']:,} → {d['voxels_after']:,} voxels",
                                "info" if d["method"] == "poisson" else "warning")
            self.grid = self.window.add_layer(g)
            self._refresh_combos(select=g)

        return self.window.start_job(Job(f"Ground truth from {Path(path).name}", work), on_result=done)

    def _open_prediction_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Prediction grid", "",
                                                        "Occupancy grids (*.npz *.npy *.label)")
        if path:
            self.open_prediction(path)

    def open_prediction(self, path: str):
        """Add a prediction next to the open ground truth and compare the pair in one view (diff colours)."""
        from scenelens.engine.io import load_layers

        grids = [g for g in load_layers(path, role="prediction") if isinstance(g, VoxelGrid)]
        if not grids:
            self.window.error("Open prediction", f"{path}: holds no voxel grid")
            return None
        g = grids[0]
        g.meta["role"] = "prediction"
        self.grid = self.window.add_layer(g)
        self._refresh_combos(select=self.grid)
        if self.gt is not None:
            self.diff_check.setChecked(True)
        return self.grid

    def _whatif_dialog(self) -> None:
        c, ok = QtWidgets.QInputDialog.getInt(self.window, "What-if", "Drop input points of class id:", 0, 0, 255)
        if ok:
            self.run_lidar_task(drop_classes=(c,))

    def _adapter_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Occupancy adapter", "", "Python (*.py)")
        if path:
            self.run_adapter(path)

    def run_adapter(self, path: str, drop_cameras=()):
        """Run a user's occupancy model on the scene's cameras; its output is shown like a loaded prediction.
        `drop_cameras` removes cameras first (what-if)."""
        from scenelens.engine.adapters import get_adapter
        from scenelens.engine.occupancy.grids import preset
        from scenelens.engine.scene import Scene
        from scenelens.engine.tasks.occupancy import make_run_job

        scene = self.window.scene
        rig = self.rig()
        if drop_cameras and rig is not None:
            rig2 = CameraRig(name=rig.name, cameras=[c for c in rig.cameras if c.name not in drop_cameras], frame=rig.frame)
            scene = Scene(scene.name, [rig2 if lay is rig else lay for lay in scene.layers], dict(scene.meta), scene.path)
        from scenelens.engine.errors import InputError

        try:
            adapter = get_adapter("occupancy", path, self.window.device)
        except InputError as e:  # e.g. not confirmed yet: the window asks, then runs this again
            if not self.window.trust.ask(e, lambda: self.run_adapter(path, drop_cameras)):
                self.window.error("Occupancy model", str(e))
            return None
        spec = preset("occ3d")
        return self.run_job_with_adapter(make_run_job([], spec, adapter=adapter, scenes=[scene],
                                                      name=f"model ({Path(path).stem})"))

    def run_job_with_adapter(self, job):
        return self.window.start_job(job, on_result=lambda g: (setattr(g, "name", job.name), self.window.add_layer(g),
                                                               self._refresh_combos(select=g)))

    # ----------------------------------------------------------------------------------------- exports
    def _job_export(self, name, fn):
        return self.window.start_job(Job(name, lambda ctx: fn()), on_result=lambda r: self.window.log(f"{name}: done"))

    def export_occ3d(self, path):
        from scenelens.engine.io.occ3d import write_occ3d

        g = self.grid
        return self._job_export(f"Export {Path(path).name}", lambda: write_occ3d(path, g))

    def export_surroundocc(self, path):
        from scenelens.engine.io.surroundocc import write_surroundocc

        g = self.grid
        return self._job_export(f"Export {Path(path).name}", lambda: write_surroundocc(path, g))

    def export_semantickitti(self, path):
        from scenelens.engine.io.semantickitti_voxels import write_ssc

        g = self.grid
        return self._job_export(f"Export {Path(path).name}", lambda: write_ssc(path, g))

    def export_ply(self, path):
        from scenelens.engine.occupancy.export import write_surface_ply
        from scenelens.gui.views.layers.voxels import visible_voxels

        g = self.grid
        vis, _ = visible_voxels(g, {**self.style(), "diff_codes": None, "clip": None})
        return self._job_export(f"Export {Path(path).name}", lambda: write_surface_ply(path, g, vis))

    def export_metrics(self, path):
        from scenelens.engine.occupancy.export import write_metrics_csv, write_metrics_json

        if self.metrics is None:
            self.window.log("compute metrics first", "warning")
            return None
        res = self.metrics
        fn = write_metrics_json if str(path).endswith(".json") else write_metrics_csv
        return self._job_export(f"Export {Path(path).name}", lambda: fn(path, res))

    def export_video(self, path, n_frames: int = 72, size=None):
        """Turntable MP4 of the 3-D view (or one frame per sequence frame), with a progress dialog, at the view's
        own size and aspect unless `size` is given. Frames are drawn on the GUI thread (VTK must be); the one
        engine writer publishes the file only when complete, so Cancel leaves the previous video."""
        import time

        v3 = self.window.view3d
        deadline = time.monotonic() + 300
        while v3.building() and time.monotonic() < deadline:  # the open grid's mesh first (built in a job)
            QtWidgets.QApplication.processEvents()
            time.sleep(0.02)
        runner, v3.runner = v3.runner, None  # every frame's mesh built here, before its screenshot
        try:
            return self._write_video(path, n_frames, size)
        finally:
            v3.runner = runner

    def _write_video(self, path, n_frames: int, size):
        import cv2

        from scenelens.engine.io.video import AtomicVideoWriter

        v3 = self.window.view3d
        steps = len(self.frames) if len(self.frames) > 1 else n_frames
        prog = QtWidgets.QProgressDialog("Writing video…", "Cancel", 0, steps, self.window)
        prog.setWindowModality(QtCore.Qt.WindowModal)
        cam = v3.renderer.GetActiveCamera()
        writer = AtomicVideoWriter(path, 12)
        try:
            for i in range(steps):
                if prog.wasCanceled():
                    writer.abort()
                    return None
                if len(self.frames) > 1:
                    from scenelens.engine.io.occ3d import read_occ_npz

                    g = read_occ_npz(Path(self.frames[i]), **(self.window.scene.meta.get("occ_options") or {}))
                    g.name = self.grid.name
                    self.grid = self.window.add_layer(g)
                    self.redraw()
                else:
                    cam.Azimuth(360.0 / steps)
                img = v3.screenshot()
                writer.write(cv2.resize(img, tuple(size)) if size else img)
                prog.setValue(i + 1)
                QtWidgets.QApplication.processEvents()
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        finally:
            prog.close()
        return Path(path)

    # ------------------------------------------------------------------------------------- annotations
    def save_annotations(self, project) -> None:
        for g in self.grids():
            if g.meta.get("edited"):
                project.annotations[f"occupancy:{g.name}"] = g.labels.copy()

    def restore_annotations(self, project) -> None:
        for g in self.grids():
            a = project.annotations.get(f"occupancy:{g.name}")
            if isinstance(a, np.ndarray) and a.shape == g.shape:
                g.labels[...] = a
                g.meta["edited"] = True
        self.redraw()


__all__ = ["OccupancyWorkbench", "DIFF_NAMES"]
