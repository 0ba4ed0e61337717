"""The Registration workbench: align two point clouds with the engine pipeline, see why the alignment
succeeds or fails (stages, correspondences, seeds' consensus, residuals), and correct it by hand.

Everything computed — the pipeline, ICP from a manual pose, residuals after an edit, exports — is an engine
Job started through `window.start_job`; this module only turns results into layers, plots and controls.
Manual edits of the pose (solve from picked pairs, nudges, ICP) are engine Commands on the window's undo
stack and are saved with the project through `annotation_providers`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from scenelens.engine.errors import InputError
from scenelens.engine.jobs import Job
from scenelens.engine.scene import CorrespondenceSet, PointCloud
from scenelens.engine.undo import Command

from ..views.vtk_utils import style_scalar_bar_text
from .base import Workbench
from .registration_explain import AlignmentExplainer
from .registration_gizmo import PoseGizmo
from .registration_params import AdvancedParams

SRC_RGB = (255, 140, 0)
TGT_RGB = (40, 140, 255)
TGT_GREY = (150, 150, 150)
STAGES = ("initial", "coarse", "refined", "manual")
PREFIX = "registration: "
MANUAL_ICP_ITERATIONS = 200  # "ICP from current pose" default cap (the pipeline's 30 stopped hand poses early)
FAILURE_STYLE = ("QLabel { background: #b8860b; color: #111; font-weight: bold; padding: 6px; "
                 "border-radius: 3px; }")


def residual_colours(res: np.ndarray, hi: float) -> np.ndarray:
    """Residual (m) → RGB on matplotlib's "cool" ramp (cyan = 0 → magenta ≥ hi): every colour stays bright on
    the dark background (viridis made the well-aligned points near-black), and none is the source orange,
    the target blue or a correspondence line's green/red/yellow."""
    t = np.clip(np.asarray(res, float) / max(hi, 1e-9), 0, 1)
    return np.stack([255 * t, 255 * (1 - t), np.full_like(t, 255)], 1).astype(np.uint8)


def residual_range(prm) -> float:
    """Top of the residual colour scale: twice the inlier threshold τ (green-to-magenta reads "within τ" at
    the middle), the same for every stage so the colours compare between them."""
    return 2.0 * float(prm.inlier_threshold)


def residual_histogram_range(res: np.ndarray) -> tuple[np.ndarray, float]:
    """(residuals in cm, top of the histogram): the 99th percentile, so a LiDAR pair (residuals of metres) does
    not pile into the last bin and an indoor pair (millimetres) is not squeezed into the first."""
    cm = 100 * np.asarray(res, float)
    cm = cm[np.isfinite(cm)]
    hi = float(np.percentile(cm, 99)) if len(cm) else 1.0
    if not hi > 0:
        hi = float(cm.max()) if len(cm) and cm.max() > 0 else 1.0
    return cm, hi


def marker_radius(points: np.ndarray, voxel: float) -> float:
    """Pick-pair marker size: about one keypoint spacing (the voxel), kept within 0.3–1.5 % of the cloud's
    bounding-box diagonal, so it marks the spot indoors (5 cm voxels) and stays visible on a 100 m scan."""
    if len(points) == 0:
        return float(voxel)
    diag = float(np.linalg.norm(np.ptp(points, 0)))
    return float(np.clip(0.8 * voxel, 0.003 * diag, 0.015 * diag)) if diag > 0 else float(voxel)


class SetPose(Command):
    """Switch the shown pose to a manual transform (and back on undo)."""

    def __init__(self, bench: "RegistrationWorkbench", new_T: np.ndarray, text: str):
        self.bench, self.text = bench, text
        self.old = (bench.stage, None if bench.T_manual is None else bench.T_manual.copy())
        self.new = ("manual", np.asarray(new_T, float).copy())

    def do(self) -> None:
        self.bench._apply_pose_state(*self.new)

    def undo(self) -> None:
        self.bench._apply_pose_state(*self.old)


class EditPairs(Command):
    """Add (or remove) one manually picked source↔target pair."""

    def __init__(self, bench: "RegistrationWorkbench", pairs_after: list, text: str):
        self.bench, self.text = bench, text
        self.old = list(bench.manual_pairs)
        self.new = list(pairs_after)

    def do(self) -> None:
        self.bench.manual_pairs = list(self.new)
        self.bench._draw_manual_pairs()

    def undo(self) -> None:
        self.bench.manual_pairs = list(self.old)
        self.bench._draw_manual_pairs()


class RegistrationWorkbench(Workbench):
    title = "Registration"
    workspace = "Registration"

    def __init__(self, window):
        super().__init__(window)
        self.result = None
        self.gt: np.ndarray | None = None
        self.stage = "initial"
        self.T_manual: np.ndarray | None = None
        self.manual_residual: np.ndarray | None = None
        self.manual_metrics: dict | None = None
        self.manual_pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending: tuple[str, np.ndarray] | None = None  # ("source"|"target", xyz in its own frame)
        self._colour_bar = None
        self.icp_history: list[dict] = []
        self.src_layer = self.tgt_layer = self.corr_layer = self.pairs_layer = None
        self.seed_pos = 0
        self.handle = None
        self._anim = QtCore.QTimer()
        self._anim.setInterval(30)
        self._anim.timeout.connect(self._anim_step)
        self._anim_t = 0.0
        self.explainer = AlignmentExplainer(self)  # "Explain alignment": cell-ablation attribution
        self.gizmo = PoseGizmo(self)  # in-view rotate/translate of the source

    # ------------------------------------------------------------------------------------------ install
    def install(self, window) -> None:
        self.window = window
        m = window.menu("&Registration")
        m.addAction("Open source and target…", self._open_pair_dialog)
        m.addAction("Load ground truth (4×4)…", self._gt_dialog)
        m.addAction("Run registration", self.run)
        m.addAction("Explain alignment", self.explainer.run)
        m.addSeparator()
        m.addAction("Export transform (txt/json/npy)…", lambda: self._export_dialog("transform"))
        m.addAction("Export 3DMatch .log block…", lambda: self._export_dialog("log"))
        m.addAction("Export merged cloud (PLY)…", lambda: self._export_dialog("merged"))
        m.addAction("Export correspondences (NPZ)…", lambda: self._export_dialog("corr"))
        self.dock = window.add_dock(self._build_panel(), "Registration", "right")
        self.plots_dock = window.add_dock(self._build_plots(), "Registration plots", "bottom")
        window.connect_pick(self, self._on_pick)
        window.connect_pick(self, self.explainer.on_pick)
        if hasattr(window, "layer_added"):
            window.layer_added.connect(lambda _l: self._refresh_choices())
        window.annotation_providers.append(self)

    def _build_panel(self) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(w)
        self.src_combo, self.tgt_combo = QtWidgets.QComboBox(), QtWidgets.QComboBox()
        form.addRow("Source", self.src_combo)
        form.addRow("Target", self.tgt_combo)
        self.preset_combo = QtWidgets.QComboBox()
        from scenelens.engine.registration.pipeline import PRESET_HELP, PRESETS

        self.preset_combo.addItems(list(PRESETS))
        for i, name in enumerate(PRESETS):
            self.preset_combo.setItemData(i, PRESET_HELP.get(name, ""), QtCore.Qt.ToolTipRole)
        form.addRow("Preset", self.preset_combo)
        self.advanced = AdvancedParams(w)
        self.preset_combo.currentTextChanged.connect(self.advanced.set_preset)
        self.est_combo = QtWidgets.QComboBox()
        self.est_combo.addItems(["sc2", "ransac"])
        form.addRow("Estimator", self.est_combo)
        self.baseline_box = QtWidgets.QCheckBox("also run the other estimator")
        form.addRow("", self.baseline_box)
        self.icp_combo = QtWidgets.QComboBox()
        self.icp_combo.addItems(["preset's", "point_to_point", "point_to_plane", "off"])
        form.addRow("ICP", self.icp_combo)
        self.run_btn = QtWidgets.QPushButton("Run registration")
        self.run_btn.clicked.connect(self.run)
        form.addRow(self.run_btn)
        # a failed result (too few inliers, degenerate) is flagged where the user looks, above the metrics
        self.failure_banner = QtWidgets.QLabel()
        self.failure_banner.setObjectName("registration_failure")
        self.failure_banner.setStyleSheet(FAILURE_STYLE)
        self.failure_banner.setWordWrap(True)
        self.failure_banner.hide()
        form.addRow(self.failure_banner)
        self.metrics_label = QtWidgets.QLabel("No result yet.")
        self.metrics_label.setTextFormat(QtCore.Qt.RichText)
        self.metrics_label.setWordWrap(True)
        form.addRow(self.metrics_label)

        self.stage_combo = QtWidgets.QComboBox()
        self.stage_combo.addItems(list(STAGES))
        self.stage_combo.currentTextChanged.connect(self.set_stage)
        anim = QtWidgets.QPushButton("Animate")
        anim.clicked.connect(self.animate)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.stage_combo, 1)
        row.addWidget(anim)
        form.addRow("Alignment", row)
        self.residual_box = QtWidgets.QCheckBox("colour source by residual")
        self.residual_box.setToolTip("cyan: on the target → magenta: 2τ or more away (colour bar in the view); "
                                     "the target turns grey meanwhile")
        self.residual_box.toggled.connect(lambda _v: self._draw())
        form.addRow("", self.residual_box)

        self.corr_box = QtWidgets.QCheckBox("show correspondences")
        self.corr_box.setChecked(True)
        self.corr_box.toggled.connect(lambda _v: self._draw_corr())
        form.addRow("", self.corr_box)
        self.outliers_box = QtWidgets.QCheckBox("include outliers")
        self.outliers_box.setChecked(True)
        self.outliers_box.toggled.connect(lambda _v: self._draw_corr())
        form.addRow("", self.outliers_box)
        self.colour_combo = QtWidgets.QComboBox()
        self.colour_combo.addItems(["inlier", "truth"])
        self.colour_combo.currentTextChanged.connect(lambda _t: self._draw_corr())
        form.addRow("Lines by", self.colour_combo)
        self.seed_spin = QtWidgets.QSpinBox()
        self.seed_spin.setRange(0, 0)
        self.seed_spin.valueChanged.connect(self._on_seed)
        form.addRow("Seed (rank)", self.seed_spin)
        self.compat_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.compat_slider.setRange(0, 100)
        self.compat_slider.valueChanged.connect(lambda _v: self._draw_corr())
        form.addRow("Min compatibility", self.compat_slider)

        box = QtWidgets.QGroupBox("Manual alignment")
        g = QtWidgets.QGridLayout(box)
        self.pick_btn = QtWidgets.QPushButton("Pick pairs")
        self.pick_btn.setCheckable(True)
        self.pick_btn.setToolTip("Click a point of one cloud, then its match on the other: one pair per two "
                                 "clicks (Edit ▸ Undo removes the last pair)")
        self.pick_btn.toggled.connect(self._on_pick_mode)
        g.addWidget(self.pick_btn, 0, 0)
        self.solve_btn = QtWidgets.QPushButton("Align from pairs")
        self.solve_btn.setToolTip("Rigid pose from the picked pairs (at least three)")
        self.solve_btn.clicked.connect(self.solve_from_pairs)
        g.addWidget(self.solve_btn, 0, 1)
        clear = QtWidgets.QPushButton("Clear pairs")
        clear.clicked.connect(self.clear_pairs)
        g.addWidget(clear, 0, 2)
        self.pairs_label = QtWidgets.QLabel("0 pairs")
        self.pairs_label.setWordWrap(True)
        g.addWidget(self.pairs_label, 6, 0, 1, 3)
        self.rot_step = QtWidgets.QDoubleSpinBox()
        self.rot_step.setRange(0.1, 90)
        self.rot_step.setValue(5.0)
        self.rot_step.setSuffix("°")
        self.trans_step = QtWidgets.QDoubleSpinBox()
        self.trans_step.setRange(0.1, 500)
        self.trans_step.setValue(5.0)
        self.trans_step.setSuffix(" cm")
        g.addWidget(self.rot_step, 1, 0)
        g.addWidget(self.trans_step, 1, 1)
        for r, kind in enumerate(("rotate", "translate"), start=2):
            for c, axis in enumerate("xyz"):
                hb = QtWidgets.QHBoxLayout()
                hb.setSpacing(2)
                for sign in (-1, 1):
                    b = QtWidgets.QToolButton()  # compact: the panel fits its dock without a horizontal scroll
                    b.setText(f"{'R' if kind == 'rotate' else 'T'}{axis}{'+' if sign > 0 else '−'}")
                    b.setToolTip(f"{kind} the source {'+' if sign > 0 else '−'}{axis} by the step")
                    b.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
                    b.clicked.connect(lambda _c=False, k=kind, a=axis, s=sign: self.nudge(k, a, s))
                    hb.addWidget(b)
                g.addLayout(hb, r, c)
        self.gizmo_box = QtWidgets.QCheckBox("Move source in the view (gizmo)")
        self.gizmo_box.setToolTip("Drag a face of the box to translate the source, the box to rotate it; "
                                  "each release is one undoable pose edit")
        self.gizmo_box.toggled.connect(lambda on: self.gizmo_box.setChecked(False)
                                       if not self.gizmo.set_enabled(on) and on else None)
        g.addWidget(self.gizmo_box, 5, 0, 1, 3)
        icp_btn = QtWidgets.QPushButton("ICP from current pose")
        icp_btn.clicked.connect(self.icp_from_current)
        g.addWidget(icp_btn, 4, 0)
        self.icp_iter_spin = QtWidgets.QSpinBox()
        self.icp_iter_spin.setRange(1, 100000)
        self.icp_iter_spin.setValue(MANUAL_ICP_ITERATIONS)
        self.icp_iter_spin.setPrefix("max ")
        self.icp_iter_spin.setSuffix(" it.")
        self.icp_iter_spin.setToolTip("ICP from the current pose stops at convergence or after this many iterations "
                                      "(convergence thresholds, distance: Advanced ▸ ICP)")
        g.addWidget(self.icp_iter_spin, 4, 1, 1, 2)
        self.icp_status = QtWidgets.QLabel("")
        self.icp_status.setWordWrap(True)
        g.addWidget(self.icp_status, 7, 0, 1, 3)
        form.addRow(box)

        form.addRow(self.advanced.build())
        form.addRow(self.explainer.build())
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(w)
        return scroll

    def _build_plots(self) -> QtWidgets.QWidget:
        self.plots = pg.GraphicsLayoutWidget()
        self.icp_plot = self.plots.addPlot(title="ICP RMSE per iteration")
        self.icp_plot.setLabel("bottom", "iteration")
        self.icp_plot.setLabel("left", "RMSE (cm)")
        self.res_plot = self.plots.addPlot(title="Residuals (source keypoint → nearest target)")
        self.res_plot.setLabel("bottom", "distance (cm)")
        self.seed_plot = self.plots.addPlot(title="Seed consensus (inlier count per hypothesis)")
        self.seed_plot.setLabel("bottom", "inliers")
        self.plots.setMinimumHeight(180)
        return self.plots

    # ------------------------------------------------------------------------------------------ scene
    def on_scene_changed(self, scene) -> None:
        self.result = None
        self.src_layer = self.tgt_layer = self.corr_layer = self.pairs_layer = None
        self.manual_pairs, self.T_manual, self.stage = [], None, "initial"
        self._pending = None
        self.failure_banner.hide()
        self.metrics_label.setText("No result yet.")
        self.icp_status.setText("")
        self._remove_colour_bar()
        self.explainer.clear()
        self.gizmo_box.setChecked(False)
        self._refresh_choices()

    def _clouds(self) -> list[PointCloud]:
        return [lay for lay in self.window.scene.of_type(PointCloud) if not lay.name.startswith(PREFIX)]

    def _refresh_choices(self) -> None:
        clouds = self._clouds()
        for combo, default in ((self.src_combo, 0), (self.tgt_combo, 1)):
            cur = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for lay in clouds:
                combo.addItem(lay.name, lay.uid)
            i = combo.findData(cur) if cur is not None else -1
            # with one cloud there is no pair: leave the target empty rather than register a cloud to itself
            combo.setCurrentIndex(i if i >= 0 else (default if default < combo.count() else -1))
            combo.setPlaceholderText("open a second point cloud (Registration ▸ Open pair…)" if default else "")
            combo.blockSignals(False)

    def set_pair(self, source: PointCloud, target: PointCloud) -> None:
        self._refresh_choices()
        self.src_combo.setCurrentIndex(self.src_combo.findData(source.uid))
        self.tgt_combo.setCurrentIndex(self.tgt_combo.findData(target.uid))

    # ------------------------------------------------------------------------------------------ running
    def params(self):
        from scenelens.engine.registration.pipeline import RegistrationParams

        icp = self.icp_combo.currentText()
        kind = {} if icp in ("off", "preset's") else {"icp_method": icp}
        # the Advanced section's edits on top of the preset (an edited voxel rescales the untouched lengths)
        prm = self.advanced.params(
            self.preset_combo.currentText(), estimator=self.est_combo.currentText(),
            run_baseline=self.baseline_box.isChecked(), icp=icp != "off", device=self.window.device, **kind)
        assert isinstance(prm, RegistrationParams)
        return prm

    def run(self):
        from scenelens.engine.registration.pipeline import make_job

        scene = self.window.scene
        src, tgt = scene.get(self.src_combo.currentData() or ""), scene.get(self.tgt_combo.currentData() or "")
        if src is None or tgt is None or src is tgt:
            self.window.error("Registration", "Choose two different point clouds as source and target.")
            return None
        try:
            prm = self.params()
            prm.scan.check()  # a bad ego box / range is one line now, not a failed job later
        except InputError as e:
            self.window.error("Registration parameters", str(e))
            return None
        self.handle = self.window.start_job(make_job(src, tgt, prm, gt=self.gt,
                                                     name=f"Register {src.name} → {tgt.name}"),
                                            on_result=self.show_result, on_partial=self._on_partial)
        return self.handle

    def _on_partial(self, partial) -> None:
        if isinstance(partial, dict) and partial.get("stage") == "coarse":
            self.window.log(f"coarse pose ready:\n{np.array2string(partial['transform'], precision=3)}")

    def show_result(self, res) -> None:
        self.result = res
        self.explainer.clear()
        self.icp_history = res.icp_history
        self.T_manual, self.manual_residual, self.manual_metrics = None, None, None
        k = len(res.top_seeds)
        self.seed_spin.blockSignals(True)
        self.seed_spin.setRange(0, max(0, k - 1))
        self.seed_spin.setValue(0)
        self.seed_spin.blockSignals(False)
        self.seed_pos = 0
        self.stage = "refined"
        self.stage_combo.blockSignals(True)
        self.stage_combo.setCurrentText("refined")
        self.stage_combo.blockSignals(False)
        times = ", ".join(f"{n} {t:.2f}s" for n, t in res.stage_times.items())
        self.window.log(f"registration: {len(res.corr):,} correspondences, {int(res.inlier.sum()):,} inliers; {times}")
        self._show_failure(getattr(res, "failure", None))
        self._draw(reset_camera=True)
        self._update_plots()
        self.gizmo.sync()

    def _show_failure(self, reason: str | None) -> None:
        """Too few inliers / degenerate geometry: a banner above the metrics plus a notification (the pose is
        still drawn, to see why, but is not to be trusted or exported as a result)."""
        if not reason:
            self.failure_banner.hide()
            return
        self.failure_banner.setText(f"⚠ Registration failed: {reason}. The pose shown is not trustworthy: try "
                                    "another preset, the Advanced parameters, or align by hand.")
        # a wrapped label in a form layout gets its one-line height: size it for the width it will have
        width = self.metrics_label.width() if self.metrics_label.width() > 100 else 360
        self.failure_banner.setMinimumHeight(self.failure_banner.heightForWidth(width) + 4)
        self.failure_banner.show()
        self.window.log(f"registration failed: {reason}", "warning")

    # ------------------------------------------------------------------------------------------ poses
    def current_T(self) -> np.ndarray:
        if self.result is None:
            return np.eye(4) if self.T_manual is None else self.T_manual
        if self.stage == "manual" and self.T_manual is not None:
            return self.T_manual
        return self.result.stage_transform(self.stage if self.stage != "manual" else "refined")

    def set_stage(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(stage)
        if stage == "manual" and self.T_manual is None:
            self.T_manual = self.current_T().copy()
        self.stage = stage
        if self.stage_combo.currentText() != stage:
            self.stage_combo.blockSignals(True)
            self.stage_combo.setCurrentText(stage)
            self.stage_combo.blockSignals(False)
        self._draw()
        self._update_plots()
        self.gizmo.sync()

    def _apply_pose_state(self, stage: str, T: np.ndarray | None) -> None:
        self.T_manual = None if T is None else np.asarray(T, float).copy()
        self.manual_residual = None
        self.manual_metrics = None
        self.set_stage(stage)
        if stage == "manual" and self.result is not None:
            self._evaluate_manual()

    def set_manual_pose(self, T: np.ndarray, text: str = "set pose") -> None:
        self.window.push(SetPose(self, T, text))

    def nudge(self, kind: str, axis: str, sign: int) -> None:
        """Rotate about the source's centroid (in its current pose) or translate, by the panel's step."""
        from scenelens.engine.registration.kabsch import rotation_matrix

        T = self.current_T()
        ax = np.eye(3)["xyz".index(axis)]
        D = np.eye(4)
        if kind == "rotate":
            c = self._source_points() @ T[:3, :3].T + T[:3, 3]
            centre = c.mean(0) if len(c) else np.zeros(3)
            R = rotation_matrix(ax, np.deg2rad(sign * self.rot_step.value()))
            D[:3, :3] = R
            D[:3, 3] = centre - R @ centre
        else:
            D[:3, 3] = ax * sign * self.trans_step.value() / 100.0
        self.set_manual_pose(D @ T, f"nudge {kind} {axis}{'+' if sign > 0 else '-'}")

    def solve_from_pairs(self) -> np.ndarray | None:
        from scenelens.engine.registration.kabsch import kabsch_np

        if len(self.manual_pairs) < 3:
            self.window.error("Manual alignment", f"Pick at least three source↔target pairs ({len(self.manual_pairs)} so far).")
            return None
        P = np.array([p for p, _ in self.manual_pairs])
        Q = np.array([q for _, q in self.manual_pairs])
        T = kabsch_np(P, Q)  # 3×3 SVD on a handful of pairs: drawing-scale work
        self.set_manual_pose(T, f"solve pose from {len(P)} pairs")
        return T

    def icp_from_current(self):
        from scenelens.engine.registration.pipeline import refine

        if self.result is None:
            self.window.error("ICP", "Run the registration first (ICP works on its keypoints).")
            return None
        try:
            prm = self.params().with_(icp_iterations=int(self.icp_iter_spin.value()))
        except InputError as e:
            self.window.error("ICP", str(e))
            return None
        res, T0, gt = self.result, self.current_T().copy(), self.gt
        job = Job("ICP from current pose", lambda ctx: refine(res.src_down, res.tgt_down, T0, prm,
                                                              tgt_normals=res.tgt_normals, gt=gt, ctx=ctx))

        def done(rr) -> None:
            self.icp_history = rr.icp_history
            self._show_icp_status(rr.icp_history, prm.icp_iterations)
            self.set_manual_pose(rr.T_refined, "ICP from manual pose")
            self._update_plots()

        self.handle = self.window.start_job(job, on_result=done)
        return self.handle

    def _show_icp_status(self, hist: list[dict], cap: int) -> None:
        """How the ICP run ended: converged, or stopped at the iteration cap while the RMSE still fell."""
        if not hist:
            self.icp_status.setText("")
            return
        n = int(hist[-1]["iteration"])
        r0, r1 = 100 * hist[0]["rmse"], 100 * hist[-1]["rmse"]
        last = 100 * (hist[-2]["rmse"] - hist[-1]["rmse"]) if len(hist) > 1 else 0.0
        text = f"ICP: {n} iterations, RMSE {r0:.2f} → {r1:.2f} cm"
        if n >= cap and last > 1e-4:
            self.icp_status.setStyleSheet("color: #ff6060;")
            self.icp_status.setText(f"{text} — stopped at the {cap}-iteration cap while still improving "
                                    f"({last:.3f} cm in the last iteration): raise max iterations")
        else:
            self.icp_status.setStyleSheet("")
            self.icp_status.setText(f"{text} — converged")

    def _evaluate_manual(self) -> None:
        from scenelens.engine.registration.pipeline import evaluate_pose

        res, T, gt = self.result, self.T_manual.copy(), self.gt
        preset = res.params.preset

        def done(out) -> None:
            if self.T_manual is not None and np.allclose(out["transform"], self.T_manual):
                self.manual_residual = out["cloud_residual"]
                self.manual_metrics = out.get("metrics")
                self._draw()
                self._update_plots()

        self.handle = self.window.start_job(
            Job("Evaluate manual pose", lambda ctx: evaluate_pose(res.src_down, res.tgt_down, T, gt, preset, ctx)),
            on_result=done)

    # ------------------------------------------------------------------------------------------ animation
    def animate(self) -> None:
        if self.result is None:
            return
        self._anim_t = 0.0
        self._anim.start()

    def _anim_step(self) -> None:
        from scenelens.engine.registration.pipeline import interpolate

        r = self.result
        self._anim_t += 0.04
        t = self._anim_t
        if t >= 2.0:
            self._anim.stop()
            self.set_stage("refined")
            return
        T = interpolate(r.T_init, r.T_coarse, t) if t < 1 else interpolate(r.T_coarse, r.T_refined, t - 1)
        self._draw(T_override=T)

    # ------------------------------------------------------------------------------------------ drawing
    def _source_points(self) -> np.ndarray:
        return self.result.src_down if self.result is not None else np.zeros((0, 3))

    def stage_residual(self) -> np.ndarray | None:
        if self.result is None:
            return None
        if self.stage == "manual":
            return self.manual_residual
        return self.result.cloud_residual[self.stage]

    def _draw(self, T_override: np.ndarray | None = None, reset_camera: bool = False) -> None:
        r = self.result
        if r is None:
            return
        T = self.current_T() if T_override is None else T_override
        pts = r.src_down @ T[:3, :3].T + T[:3, 3]
        attrs: dict[str, np.ndarray] = {}
        res = self.stage_residual() if T_override is None else None
        style = {"point_size": 3.0}
        if self.residual_box.isChecked() and res is not None:
            hi = residual_range(r.params)
            attrs["rgb"] = residual_colours(res, hi)
            attrs["residual"] = np.asarray(res, np.float32)  # shown when a point is picked
            style["color_by"] = "rgb"
            self._show_colour_bar(hi)
        else:
            self._remove_colour_bar()
            attrs["rgb"] = np.tile(np.array(SRC_RGB, np.uint8), (len(pts), 1))
            style["color_by"] = "rgb"
        ex_src = self.explainer.colours("source", len(pts))
        if ex_src is not None and T_override is None:
            attrs, style["color_by"], style["point_size"] = {"rgb": ex_src}, "rgb", 4.5
            self._remove_colour_bar()
        tgt_rgb = self.explainer.colours("target", len(r.tgt_down))
        if tgt_rgb is None:  # grey under residual colours: the cool ramp's blues would read as target points
            rgb = TGT_GREY if style["color_by"] == "rgb" and "residual" in attrs else TGT_RGB
            tgt_rgb = np.tile(np.array(rgb, np.uint8), (len(r.tgt_down), 1))
        if self.src_layer is None:
            self.src_layer = PointCloud(name=PREFIX + "source", source="job:registration", points=pts, attributes=attrs)
            self.tgt_layer = PointCloud(name=PREFIX + "target", source="job:registration", points=r.tgt_down,
                                        attributes={"rgb": tgt_rgb})
            self.window.add_layer(self.tgt_layer)
            self.window.add_layer(self.src_layer)
        else:
            self.src_layer.points = np.ascontiguousarray(pts)
            self.src_layer.attributes = attrs
            self.tgt_layer.points = np.ascontiguousarray(r.tgt_down)
            self.tgt_layer.attributes = {"rgb": tgt_rgb}
        self.window.refresh_layer(self.tgt_layer, {"color_by": "rgb", "point_size": 4.5 if self.explainer.active("target") else 3.0})
        self.window.refresh_layer(self.src_layer, style)
        self._draw_corr(T, render=False)
        self._draw_manual_pairs(T, render=False)
        if reset_camera:
            self.window.view3d.reset_camera(render=False)
        self.window.view3d.render()
        self._update_metrics()

    def _show_colour_bar(self, hi: float) -> None:
        """A colour bar for the residual colouring, in the 3D view's right edge (cm, light text)."""
        import vtk

        if self._colour_bar is None:
            lut = vtk.vtkLookupTable()
            lut.SetNumberOfTableValues(64)
            for k, c in enumerate(residual_colours(np.linspace(0, 1, 64), 1.0)):
                lut.SetTableValue(k, *(c / 255.0), 1.0)
            lut.Build()
            bar = vtk.vtkScalarBarActor()
            bar.SetLookupTable(lut)
            bar.SetTitle("residual (cm)")
            bar.SetNumberOfLabels(5)
            bar.SetLabelFormat("%.3g")
            bar.SetPosition(0.86, 0.12)
            bar.SetWidth(0.12)
            bar.SetHeight(0.76)
            bar.SetBarRatio(0.3)
            bar.SetTextPositionToPrecedeScalarBar()
            bar.DrawBackgroundOn()  # labels stay legible over the points behind them
            bar.GetBackgroundProperty().SetColor(0.06, 0.07, 0.09)
            bar.GetBackgroundProperty().SetOpacity(0.85)
            style_scalar_bar_text(bar)
            self._colour_bar = bar
        self._colour_bar.GetLookupTable().SetTableRange(0.0, 100.0 * hi)
        ren = self.window.view3d.renderer
        if not ren.HasViewProp(self._colour_bar):
            ren.AddViewProp(self._colour_bar)

    def _remove_colour_bar(self) -> None:
        if self._colour_bar is not None:
            self.window.view3d.renderer.RemoveViewProp(self._colour_bar)

    def corr_scores(self) -> np.ndarray | None:
        r = self.result
        if r is None or len(r.top_seeds) == 0:
            return None
        return r.top_seed_compat[min(self.seed_pos, len(r.top_seeds) - 1)]

    def _on_seed(self, pos: int) -> None:
        self.seed_pos = int(pos)
        self._draw_corr()

    def _draw_corr(self, T: np.ndarray | None = None, render: bool = True) -> None:
        r = self.result
        if r is None:
            return
        T = self.current_T() if T is None else T
        scores = self.corr_scores()
        if self.corr_layer is None:
            self.corr_layer = CorrespondenceSet(name=PREFIX + "correspondences", source="job:registration")
        c = self.corr_layer
        c.source_layer = self.src_layer.uid if self.src_layer else ""
        c.target_layer = self.tgt_layer.uid if self.tgt_layer else ""
        c.pairs, c.inlier, c.gt_inlier, c.scores = r.corr, r.inlier, r.gt_inlier, scores
        seed_idx = int(r.seeds[r.top_seeds[self.seed_pos]]) if len(r.top_seeds) else -1
        c.meta.update(src_xyz=r.P, tgt_xyz=r.Q, source_transform=T, feat_dist=r.feat_dist, residual=r.residual,
                      confidence=r.confidence, seed_compat=scores, seed_index=seed_idx)
        c.visible = self.corr_box.isChecked()
        if self.window.scene.get(c.uid) is None:
            self.window.add_layer(c)
        style = {"color_by": self.colour_combo.currentText(), "show_outliers": self.outliers_box.isChecked(),
                 "min_score": self.compat_slider.value() / 100.0 if scores is not None else None,
                 "max_lines": 2500, "pickable": not self.pick_btn.isChecked()}  # clicks reach the clouds
        self.window.refresh_layer(c, style)  # the renderer applies c.visible to the rebuilt actors

    def _draw_manual_pairs(self, T: np.ndarray | None = None, render: bool = True) -> None:
        """Picked pairs: a marker on each cloud and a line between them; a pending first pick is a marker on
        its cloud alone. Markers are sized to the scene and never take a click from the clouds."""
        self._update_pairs_label()
        if not self.manual_pairs and self._pending is None and self.pairs_layer is None:
            return
        T = self.current_T() if T is None else T
        P = np.array([p for p, _ in self.manual_pairs]).reshape(-1, 3)
        Q = np.array([q for _, q in self.manual_pairs]).reshape(-1, 3)
        if self.pairs_layer is None:
            self.pairs_layer = CorrespondenceSet(name=PREFIX + "picked pairs", source="manual")
            self.pairs_layer.meta["manual"] = True
        pl = self.pairs_layer
        pl.pairs = np.c_[np.arange(len(P)), np.arange(len(P))].astype(np.int64)
        pending = {"source": None, "target": None}
        if self._pending is not None:
            pending[self._pending[0]] = self._pending[1]
        pl.meta.update(src_xyz=P, tgt_xyz=Q, source_transform=T, pending_src=pending["source"],
                       pending_tgt=pending["target"])
        r = self.result
        pts = r.tgt_down if r is not None else Q
        voxel = float(r.params.voxel) if r is not None else 0.05
        if self.window.scene.get(pl.uid) is None:
            self.window.add_layer(pl)
        self.window.refresh_layer(pl, {"line_width": 3.0, "markers": True,
                                       "marker_radius": marker_radius(pts, voxel), "pickable": False})
        if render:
            self.window.view3d.render()

    def _update_pairs_label(self) -> None:
        n = len(self.manual_pairs)
        text = f"{n} pair{'s' if n != 1 else ''}"
        if self._pending is not None:
            other = "target" if self._pending[0] == "source" else "source"
            text += f" · {self._pending[0]} point picked: now click its match on the {other}"
        elif self.pick_btn.isChecked():
            text += " · click a point on the source (orange) or target (blue)"
        if 0 < n < 3:
            text += f" · {3 - n} more to align"
        self.pairs_label.setText(text)

    def _update_metrics(self) -> None:
        r = self.result
        if r is None:
            return
        rows = []
        for name in ("coarse", "refined", "baseline"):
            m = r.metrics.get(name)
            if m:
                rows.append(f"<tr><td>{name}</td><td>{m['rotation_error_deg']:.2f}°</td>"
                            f"<td>{m['translation_error_cm']:.1f} cm</td><td>{'✔' if m['success'] else '✘'}</td>"
                            f"<td>{(m.get('inlier_precision') or 0):.2f}/{(m.get('inlier_recall') or 0):.2f}/"
                            f"{(m.get('inlier_f1') or 0):.2f}</td></tr>")
        if self.manual_metrics:
            m = self.manual_metrics
            rows.append(f"<tr><td>manual</td><td>{m['rotation_error_deg']:.2f}°</td>"
                        f"<td>{m['translation_error_cm']:.1f} cm</td><td>{'✔' if m['success'] else '✘'}</td><td></td></tr>")
        head = (f"<b>{self.stage}</b> · {len(r.corr):,} correspondences, {int(r.inlier.sum()):,} predicted inliers"
                f" · {r.seconds:.2f} s")
        if getattr(r, "failure", None):
            head = "<b style='color:#ffb020'>FAILED</b> · " + head
        if "coarse" in r.metrics:
            head += f" · input inlier ratio {r.metrics['coarse']['inlier_ratio']:.3f}"
        table = ("<table><tr><th></th><th>RE</th><th>TE</th><th>ok</th><th>IP/IR/F1</th></tr>" + "".join(rows)
                 + "</table>") if rows else "<i>no ground truth loaded</i>"
        self.metrics_label.setText(head + "<br>" + table)

    def _update_plots(self) -> None:
        r = self.result
        for p in (self.icp_plot, self.res_plot, self.seed_plot):
            p.clear()
        if r is None:
            return
        if self.icp_history:
            it = [h["iteration"] for h in self.icp_history]
            rm = [100 * h["rmse"] for h in self.icp_history]
            self.icp_plot.plot(it, rm, pen=pg.mkPen((255, 200, 0), width=2), symbol="o", symbolSize=5)
        res = self.stage_residual()
        if res is not None and len(res):
            cm, hi = residual_histogram_range(res)
            y, x = np.histogram(np.minimum(cm, hi), bins=50, range=(0, hi))
            self.res_plot.plot(x, y, stepMode="center", fillLevel=0, brush=(255, 140, 0, 150), pen=pg.mkPen(SRC_RGB))
            tau = 100 * float(r.params.inlier_threshold)
            if tau < hi:
                self.res_plot.addItem(pg.InfiniteLine(tau, angle=90, pen=pg.mkPen((0, 220, 255), width=2),
                                                      label="τ", labelOpts={"position": 0.9, "color": (0, 220, 255)}))
            self.res_plot.setXRange(0, hi, padding=0.02)
            self.res_plot.setTitle(f"Residuals to nearest target, 0–{hi:.3g} cm (99th pct.)")
        if len(r.seed_fitness):
            f = r.seed_fitness
            y, x = np.histogram(f, bins=min(50, max(5, int(f.max() - f.min() + 1))))
            self.seed_plot.plot(x, y, stepMode="center", fillLevel=0, brush=(40, 220, 80, 150), pen=pg.mkPen((40, 220, 80)))
            self.seed_plot.addItem(pg.InfiniteLine(float(f[r.best_seed]), angle=90, pen=pg.mkPen((255, 60, 60), width=2)))

    # ------------------------------------------------------------------------------------------ picking
    def _on_pick_mode(self, on: bool) -> None:
        if not on:
            self._pending = None
        if self.result is not None:
            self._draw_corr()  # correspondence lines stop taking clicks while picking
            self._draw_manual_pairs()
        else:
            self._update_pairs_label()

    def _on_pick(self, info: dict) -> None:
        if not self.pick_btn.isChecked() or self.result is None:
            return
        uid = info.get("layer")
        pid = info.get("index", info.get("point_id", -1))
        if pid is None or not np.isscalar(pid) or int(pid) < 0:
            return
        if self.src_layer is not None and uid == self.src_layer.uid:
            self.window.view3d.marker.SetVisibility(False)  # the pair markers show the pick
            self.pick_source(int(pid))
        elif self.tgt_layer is not None and uid == self.tgt_layer.uid:
            self.window.view3d.marker.SetVisibility(False)
            self.pick_target(int(pid))

    def pick_source(self, i: int) -> None:
        """Source keypoint i (kept in the raw source frame, independent of the pose shown)."""
        self._pick("source", self.result.src_down[i].copy())

    def pick_target(self, j: int) -> None:
        self._pick("target", self.result.tgt_down[j].copy())

    def _pick(self, side: str, xyz: np.ndarray) -> None:
        """Either cloud first; the second click on the other cloud makes the pair (one undoable edit). A second
        click on the same cloud moves the pending pick."""
        if self._pending is None or self._pending[0] == side:
            self._pending = (side, xyz)
            self.window.log(f"picked a {side} point; now pick its match on the "
                            f"{'target' if side == 'source' else 'source'}")
            self._draw_manual_pairs()
            return
        other = self._pending[1]
        self._pending = None
        p, q = (xyz, other) if side == "source" else (other, xyz)
        self.window.push(EditPairs(self, list(self.manual_pairs) + [(p, q)], "pick point pair"))

    def clear_pairs(self) -> None:
        self._pending = None
        if self.manual_pairs:
            self.window.push(EditPairs(self, [], "clear picked pairs"))
        else:
            self._draw_manual_pairs()

    # ------------------------------------------------------------------------------------------ files
    def load_gt(self, path: str, pair: tuple[int, int] | None = None) -> np.ndarray | None:
        """A 4×4 transform file, or a 3DMatch gt.log: then the (source, target) fragment pair is taken from
        `pair`, else from the clouds' file names (cloud_bin_12.ply → 12), else the user picks it."""
        from scenelens.engine.io.registration_formats import GroundTruthFile

        try:
            g = GroundTruthFile(path)  # txt/json/npy 4×4, gt.log, KITTI poses: the CLI's reader
            if g.needs_pair:
                pairs = g.pairs()
                pair = pair or self._fragments_of_pair(pairs) or self._ask_pair(pairs)
                if pair is None:
                    return None
                self.gt = g.get(*pair)
                self.window.log(f"ground truth {pair[0]} → {pair[1]} from {path} ({g.describe()})")
                return self.gt
            self.gt = g.get()
        except InputError as e:
            self.window.error("Ground truth", str(e))
            return None
        self.window.log(f"ground truth loaded from {path}; re-run to score")
        return self.gt

    def _fragments_of_pair(self, pairs) -> tuple[int, int] | None:
        import re

        scene = self.window.scene
        ids = []
        for combo in (self.src_combo, self.tgt_combo):
            lay = scene.get(combo.currentData() or "")
            m = re.search(r"(\d+)(?!.*\d)", Path(str(lay.source or lay.name)).stem) if lay is not None else None
            ids.append(int(m.group(1)) if m else None)
        if None in ids:
            return None
        a, b = ids
        return (a, b) if (a, b) in pairs or (b, a) in pairs else None

    def _ask_pair(self, pairs) -> tuple[int, int] | None:
        items = [f"{a} → {b}" for a, b in pairs]  # (source, target)
        item, ok = QtWidgets.QInputDialog.getItem(self.window, "Ground truth", "Source → target:", items, 0, True)
        if not ok:
            return None
        try:
            a, b = (int(v) for v in item.split("→"))
        except ValueError:
            self.window.error("Ground truth", f"expected 'SOURCE → TARGET', got {item!r}")
            return None
        return a, b

    def _gt_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Ground-truth transform (source → target)")
        if path:
            self.load_gt(path)

    def open_pair(self, source_path: str, target_path: str, gt_path: str | None = None):
        from scenelens.engine.io import load_layers

        def work(ctx):
            out = []
            for k, p in enumerate((source_path, target_path)):
                ctx.progress(0.5 * k, f"reading {Path(p).name}")
                clouds = [lay for lay in load_layers(p) if isinstance(lay, PointCloud)]
                if not clouds:
                    raise InputError(p, "contains no point cloud")
                out.append(clouds[0])
            return out

        def done(clouds) -> None:
            from scenelens.engine.scene import Scene

            src, tgt = clouds
            src.name, tgt.name = f"source: {src.name}", f"target: {tgt.name}"
            # a scene of its own, remembered by its two files: autosave and projects can come back to it
            scene = Scene(name=f"{Path(source_path).name} → {Path(target_path).name}", layers=[src, tgt])
            scene.meta["format"] = "registration pair"
            self.window.set_scene(scene, workspace="Registration")
            self.window.session.pair_paths = [str(Path(source_path).resolve()), str(Path(target_path).resolve())]
            self.set_pair(src, tgt)
            if gt_path:
                self.load_gt(gt_path)

        self.handle = self.window.start_job(Job("Open registration pair", work), on_result=done)
        return self.handle

    def _open_pair_dialog(self) -> None:
        s, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Source point cloud")
        if not s:
            return
        t, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Target point cloud")
        if t:
            self.open_pair(s, t)

    def export(self, kind: str, path: str, fragments: tuple[int, int, int] = (1, 0, 2)):
        """kind: transform | log | merged | corr. Runs as a job; files are written atomically by the engine."""
        from scenelens.engine.registration import export as ex

        r, T = self.result, self.current_T().copy()
        if r is None:
            self.window.error("Export", "Nothing to export: run the registration first.")
            return None
        summary = r.summary()
        summary["exported_stage"] = self.stage
        if self.stage == "manual" and self.manual_metrics:
            summary["manual_metrics"] = self.manual_metrics
        scene = self.window.scene
        src_layer = scene.get(self.src_combo.currentData() or "")
        tgt_layer = scene.get(self.tgt_combo.currentData() or "")
        src_pts = src_layer.points if src_layer is not None else r.src_down
        tgt_pts = tgt_layer.points if tgt_layer is not None else r.tgt_down

        def work(ctx):
            ctx.progress(0.1, f"writing {Path(path).name}")
            if kind == "transform":
                ex.export_transform(path, T, summary)
            elif kind == "log":
                ex.export_log_line(path, T, *fragments)
            elif kind == "merged":
                ex.export_merged_cloud(path, src_pts, tgt_pts, T)
            elif kind == "corr":
                ex.export_correspondences(path, r, T)
            else:
                raise ValueError(kind)
            ctx.progress(1.0, "written")
            return path

        self.handle = self.window.start_job(Job(f"Export {kind}", work),
                                            on_result=lambda p: self.window.log(f"wrote {p}"))
        return self.handle

    def _export_dialog(self, kind: str) -> None:
        filters = {"transform": "Transform (*.txt *.json *.npy)", "log": "3DMatch log (*.log)",
                   "merged": "PLY (*.ply)", "corr": "NumPy archive (*.npz)"}
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Export", "", filters[kind])
        if not path:
            return
        frags = (1, 0, 2)
        if kind == "log":
            text, ok = QtWidgets.QInputDialog.getText(self.window, "3DMatch .log block",
                                                      "source fragment, target fragment, number of fragments",
                                                      text="1 0 2")
            if not ok:
                return
            try:
                frags = tuple(int(v) for v in text.split())
                assert len(frags) == 3
            except (ValueError, AssertionError):
                self.window.error("Export", "Enter three integers: source target n_fragments")
                return
        self.export(kind, path, frags)

    # ------------------------------------------------------------------------------------------ projects
    def save_annotations(self, project) -> None:
        if self.T_manual is not None:
            project.annotations["registration.manual_transform"] = np.asarray(self.T_manual, float)
        if self.manual_pairs:
            project.annotations["registration.manual_pairs"] = np.array(
                [np.r_[p, q] for p, q in self.manual_pairs], float)

    def restore_annotations(self, project) -> None:
        T = project.annotations.get("registration.manual_transform")
        pairs = project.annotations.get("registration.manual_pairs")
        if T is not None:
            self.T_manual = np.asarray(T, float)
        if pairs is not None:
            arr = np.asarray(pairs, float).reshape(-1, 6)
            self.manual_pairs = [(a[:3], a[3:]) for a in arr]
