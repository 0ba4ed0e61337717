"""The Attribution workbench: run IG / Grad-CAM / occlusion / PoseIG on an image and look at the answer.

All computation is the engine pipeline (`engine.attribution.pipeline`) run through `window.start_job`,
the same code as `main.py run attribution`; this module only turns results into pictures, tables and
plots. Re-colouring (colour map, opacity, signed/absolute, layout, which joint) never re-runs the model.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from scenelens.engine.attribution.common import colorbar, colorize, display_scale, load_image, overlay
from scenelens.engine.attribution.ig import format_gap
from scenelens.engine.attribution.pipeline import AttributionOptions, export_all, make_job
from scenelens.engine.scene import ImageLayer

from .base import Workbench

CMAPS = ("jet", "inferno", "viridis", "magma", "turbo", "gray")
LAYOUTS = ("overlay", "side by side", "joint grid")


class AttributionWorkbench(Workbench):
    title = "Attribution"
    workspace = "Attribution"

    def install(self, window) -> None:
        self.image: np.ndarray | None = None
        self.image_source = ""
        self.result = None
        self.handle = None
        self.shown_joint: str | None = None
        self.curve_step: int | None = None  # pixels per deletion/insertion step (None: RISE, one row)
        self._build_controls(window)
        self._build_plots(window)
        m = window.menu("Attribution")
        m.addAction("Open image…", self._open_image)
        m.addAction("Run", self.run)
        m.addAction("Export…", self._export_dialog)
        window.connect_click(self, self._on_click)

    # ----------------------------------------------------------------------------------------- widgets
    def _build_controls(self, window) -> None:
        w = QtWidgets.QWidget()
        f = QtWidgets.QFormLayout(w)
        self.method = QtWidgets.QComboBox()
        self.method.addItems(["gradcam", "ig", "occlusion", "poseig"])
        self.model = QtWidgets.QLineEdit()
        self.model.setPlaceholderText("built-in (efficientnet-lite0 / mediapipe-pose)")
        self.target = QtWidgets.QComboBox()
        self.target.setEditable(True)
        self.target.setToolTip("class (index or name) or joint; empty = top class / all joints")
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(1, 1024)
        self.steps.setValue(32)
        self.tol = QtWidgets.QDoubleSpinBox()
        self.tol.setRange(0.0, 50.0)
        self.tol.setDecimals(2)
        self.tol.setSingleStep(0.5)
        self.tol.setValue(1.0)
        self.tol.setSuffix(" %")
        self.tol.setToolTip("completeness tolerance |Σ IG − ΔF| / |ΔF|: the steps double until it is met "
                            "(0 = exactly 'steps')")
        self.max_steps = QtWidgets.QSpinBox()
        self.max_steps.setRange(2, 8192)
        self.max_steps.setValue(1024)
        self.max_steps.setToolTip("cap on the doubling; a warning says when it is reached above the tolerance")
        self.baseline = QtWidgets.QComboBox()
        self.baseline.addItems(["black", "blurred"])
        self.baseline.setEditable(True)
        self.gt = QtWidgets.QLineEdit()
        self.gt.setPlaceholderText("COCO keypoint JSON (PoseIG ground truth)")
        self.faith = QtWidgets.QCheckBox("deletion / insertion curves")
        self.faith.setChecked(True)
        self.substrate = QtWidgets.QComboBox()
        self.substrate.addItems(["rise", "blur", "mean", "zero"])
        self.substrate.setToolTip("what deleted pixels become: rise = zeros for deletion, the blurred image for "
                                  "insertion (RISE); blur / mean / zero = that one substrate for everything")
        self.m_corr = QtWidgets.QCheckBox("correlation")
        self.m_corr.setToolTip("faithfulness correlation (Bhatt et al.): Σ map over random pixel subsets vs the "
                               "score drop when they are removed")
        self.m_aopc = QtWidgets.QCheckBox("AOPC")
        self.m_aopc.setToolTip("region perturbation (Samek et al.): 8×8 regions removed most / least relevant first")
        self.m_sanity = QtWidgets.QCheckBox("sanity")
        self.m_sanity.setToolTip("model-parameter randomisation (Adebayo et al.): re-initialise layers from the top "
                                 "and recompute the map; the rank correlation should fall")
        metric_row = QtWidgets.QHBoxLayout()
        for cb in (self.m_corr, self.m_aopc, self.m_sanity):
            metric_row.addWidget(cb)
        self.faith_label = QtWidgets.QLabel("")
        self.faith_label.setWordWrap(True)
        self.faith_label.setObjectName("attribution_faithfulness")
        self.cmap = QtWidgets.QComboBox()
        self.cmap.addItems(CMAPS)
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.signed = QtWidgets.QCheckBox("signed (red for, blue against; else |·|)")
        self.signed.setChecked(True)
        self.gap_label = QtWidgets.QLabel("")
        self.gap_label.setWordWrap(True)
        self.gap_label.setObjectName("attribution_gap")
        self.colorbar_label = QtWidgets.QLabel()
        self.colorbar_label.setObjectName("attribution_colorbar")
        self.colorbar_label.setMinimumHeight(46)
        self.layout = QtWidgets.QComboBox()
        self.layout.addItems(LAYOUTS)
        self.run_btn = QtWidgets.QPushButton("Run")
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        btns = QtWidgets.QHBoxLayout()
        btns.addWidget(self.run_btn)
        btns.addWidget(self.cancel_btn)
        self.topk = QtWidgets.QListWidget()
        self.topk.setMaximumHeight(110)
        self.topk.itemActivated.connect(self._pick_class)
        self.topk.itemClicked.connect(self._pick_class)
        for label, wid in (("method", self.method), ("model", self.model), ("target", self.target),
                           ("steps / fold", self.steps), ("tolerance", self.tol), ("max steps", self.max_steps),
                           ("IG baseline", self.baseline), ("PoseIG GT", self.gt)):
            f.addRow(label, wid)
        f.addRow(self.faith)
        f.addRow("substrate", self.substrate)
        f.addRow("metrics", metric_row)
        f.addRow(btns)
        f.addRow(self.gap_label)
        f.addRow(self.faith_label)
        for label, wid in (("colour map", self.cmap), ("opacity", self.opacity), ("layout", self.layout)):
            f.addRow(label, wid)
        f.addRow(self.signed)
        f.addRow("colour scale", self.colorbar_label)
        f.addRow("top classes", self.topk)
        for wid in (self.cmap, self.layout):
            wid.currentIndexChanged.connect(self.redraw)
        self.opacity.valueChanged.connect(self.redraw)
        self.signed.toggled.connect(self.redraw)
        self.controls = w
        window.add_dock(w, "Attribution", "right")

    def _build_plots(self, window) -> None:
        w = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(w)
        self.plots = pg.GraphicsLayoutWidget()
        self.curve_plot = self.plots.addPlot(title="deletion / insertion")
        self.curve_plot.addLegend(offset=(-5, 5), labelTextSize="7pt", verSpacing=-6)
        self.curve_plot.setLabel("bottom", "fraction of pixels")
        self.region_plot = self.plots.addPlot(title="region perturbation (AOPC)")
        self.region_plot.addLegend(offset=(-5, 5), labelTextSize="7pt", verSpacing=-6)
        self.region_plot.setLabel("bottom", "regions removed")
        self.region_plot.setLabel("left", "score drop")
        self.sanity_plot = self.plots.addPlot(title="sanity: map vs randomised model")
        self.sanity_plot.setLabel("bottom", "layers re-initialised (from the top)")
        self.sanity_plot.setLabel("left", "Spearman ρ")
        self.bar_plot = self.plots.addPlot(title="indices")
        lay.addWidget(self.plots, 2)
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["joint", "FI", "LI", "DI"])
        self.table.cellClicked.connect(self._pick_joint_row)
        lay.addWidget(self.table, 1)
        self.plot_widget = w
        window.add_dock(w, "Attribution plots", "bottom")

    # ----------------------------------------------------------------------------------------- input
    def on_scene_changed(self, scene) -> None:
        for lay in scene.layers:
            if isinstance(lay, ImageLayer) and lay.image is not None:
                self.set_image(np.asarray(lay.image), lay.path or lay.source)
                return

    def set_image(self, rgb: np.ndarray, source: str = "") -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, 2)
        self.image = np.ascontiguousarray(rgb[:, :, :3]).astype(np.uint8)
        self.image_source = source or ""
        self.result = None
        # shown under its own key, but only brought to the front where attribution is what the user is doing
        self.window.view2d.show_image(self.image, "attribution",
                                      select=getattr(self.window, "workspace", "Attribution") == "Attribution")
        self._enlarge_view()

    def _enlarge_view(self) -> None:
        """When the image view is still a dock (an image set without a scene photo), give it most of the
        window: the overlay is the answer, not a thumbnail above the form."""
        win = self.window
        dock = getattr(win, "dock_2d", None)
        if (dock is None or dock.isHidden() or dock.isFloating() or dock.widget() is not win.view2d
                or getattr(win, "workspace", "Attribution") != "Attribution"):
            return
        win.resizeDocks([dock], [int(win.width() * 0.5)], QtCore.Qt.Horizontal)
        win.resizeDocks([dock], [int(win.height() * 0.55)], QtCore.Qt.Vertical)

    def _open_image(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Image to explain", "",
                                                        "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff)")
        if path:
            try:
                if hasattr(self.window, "open_path"):  # into the scene: a photo then fills the centre
                    self.window.open_path(path)
                else:
                    self.set_image(load_image(path), path)
            except Exception as e:
                self.window.error("Cannot open image", str(e))

    # ----------------------------------------------------------------------------------------- running
    def options(self) -> AttributionOptions:
        return AttributionOptions(steps=self.steps.value(), baseline=self.baseline.currentText() or "black",
                                  tol=self.tol.value() / 100.0 or None, max_steps=self.max_steps.value(),
                                  faithfulness=self.faith.isChecked(), gt=self.gt.text() or None,
                                  substrate=self.substrate.currentText(),
                                  metrics=tuple(k for k, cb in (("correlation", self.m_corr), ("aopc", self.m_aopc),
                                                                ("sanity", self.m_sanity)) if cb.isChecked()),
                                  curve_step=self.curve_step or (256 * 16 if self.method.currentText() == "poseig" else None))

    def run(self, method: str | None = None, target=None):
        if self.image is None:
            self.window.log("Attribution: open an image first", "warning")
            return None
        if method:
            self.method.setCurrentText(method)
        if target is not None:
            self.target.setCurrentText(str(target))
        tgt = self.target.currentText().strip() or None
        image = self.image_source if (self.method.currentText() == "poseig" and self.gt.text()) else self.image
        job = make_job(image, self.method.currentText(), tgt, self.model.text().strip() or None, self.options(),
                       getattr(self.window, "device", "cpu"))
        self.handle = self.window.start_job(job, on_result=self.show_result)
        return self.handle

    def cancel(self) -> None:
        if self.handle is not None and hasattr(self.handle, "cancel"):
            self.handle.cancel()

    # ----------------------------------------------------------------------------------------- showing
    def show_result(self, res) -> None:
        self.result = res
        self.shown_joint = None
        self.topk.clear()
        for t in res.topk:
            it = QtWidgets.QListWidgetItem(f"{t['score']:.3f}  {t['name']}  (#{t['index']})")
            it.setData(QtCore.Qt.UserRole, t["index"])
            self.topk.addItem(it)
        if res.joint_maps:
            names = list(res.joint_maps)
            cur = self.target.currentText()
            self.target.clear()
            self.target.addItems([""] + names)
            self.target.setCurrentText(cur)
        self._fill_indices(res)
        self._fill_curves(res)
        self._fill_faithfulness(res)
        self.signed.setChecked(bool(res.signed))
        self._show_gap(res)
        self.redraw()
        self._enlarge_view()
        self.window.inspector.show(f"Attribution: {res.method} → {res.target_name}",
                                   {k: (round(v, 5) if isinstance(v, float) else v) for k, v in res.metrics.items()
                                    if isinstance(v, (int, float, str))})

    def _show_gap(self, res) -> None:
        """The reached completeness gap under the Run button (red when the cap stopped it above the tolerance)."""
        m = res.metrics
        if "relative_error" not in m:
            self.gap_label.setText("")
            return
        tol = m.get("tolerance")
        text = (f"completeness gap {format_gap(m['relative_error'])} at {m.get('steps')} steps"
                + (f" (tolerance {100 * tol:.2f} %)" if tol else " (fixed steps)"))
        bad = m.get("converged") is False
        self.gap_label.setText(text + ("\n⚠ above the tolerance: " + "; ".join(m.get("warnings", [])) if bad else ""))
        self.gap_label.setStyleSheet("color: #c00; font-weight: bold" if bad else "")
        for w in m.get("warnings", []):
            self.window.log(f"Attribution: {w}", "warning")

    def current_map(self) -> np.ndarray | None:
        r = self.result
        if r is None:
            return None
        if self.shown_joint and self.shown_joint in r.joint_maps:
            return r.joint_maps[self.shown_joint]
        return r.map

    def composed_image(self) -> np.ndarray | None:
        """The picture for the current layout (pure presentation of an existing map)."""
        r = self.result
        if r is None:
            return None
        cmap = self.cmap.currentText()
        alpha = self.opacity.value() / 100.0
        signed = self.signed.isChecked() and r.signed
        m = self.current_map()
        lay = self.layout.currentText()
        self._show_colorbar(cmap, signed, m if not (lay == "joint grid" and r.joint_maps) else
                            np.stack(list(r.joint_maps.values())))
        if lay == "joint grid" and r.joint_maps:
            tiles = [overlay(r.image, jm, alpha, cmap, signed) for jm in r.joint_maps.values()]
            cols = int(np.ceil(np.sqrt(len(tiles))))
            rows = int(np.ceil(len(tiles) / cols))
            h, w = tiles[0].shape[:2]
            grid = np.full((rows * h, cols * w, 3), 255, np.uint8)
            for i, t in enumerate(tiles):
                grid[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = t
            return grid
        ov = overlay(r.image, m, alpha, cmap, signed)
        if lay == "side by side":
            return np.concatenate([r.image, colorize(m, cmap, signed), ov], axis=1)
        return ov

    def _show_colorbar(self, cmap: str, signed: bool, m: np.ndarray) -> None:
        from PySide6 import QtGui

        bar = np.ascontiguousarray(colorbar(cmap, signed, display_scale(m), 300, 46))
        q = QtGui.QImage(bar.data, bar.shape[1], bar.shape[0], 3 * bar.shape[1], QtGui.QImage.Format_RGB888).copy()
        self.colorbar_label.setPixmap(QtGui.QPixmap.fromImage(q))
        self.colorbar_values = (signed, display_scale(m))

    def redraw(self, *_):
        img = self.composed_image()
        if img is not None:
            self.window.view2d.show_image(img, "attribution")

    def _fill_indices(self, res) -> None:
        self.bar_plot.clear()
        self.table.setRowCount(0)
        # the index plot and joint table are PoseIG's: without indices they give their room to the curves
        shown = self.bar_plot in self.plots.ci.items
        if bool(res.indices) != shown:
            if res.indices:
                self.plots.addItem(self.bar_plot)
            else:
                self.plots.removeItem(self.bar_plot)
        self.table.setVisible(bool(res.indices))
        if not res.indices:
            return
        joints = [j for j in next(iter(res.indices.values())) if j != "mean"] + ["mean"]
        self.table.setRowCount(len(joints))
        for r, j in enumerate(joints):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(j))
            for c, k in enumerate(("FI", "LI", "DI"), 1):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(f"{res.indices[k].get(j, 0):.3f}"))
        xs = np.arange(len(joints) - 1)
        for off, k, col in ((-0.25, "FI", "#1f77b4"), (0.0, "LI", "#2ca02c"), (0.25, "DI", "#d62728")):
            vals = np.array([res.indices[k][j] for j in joints[:-1]], float)
            if k == "DI":
                vals = vals / 10.0  # DI is 0..100; shown /10 to share the axis
            self.bar_plot.addItem(pg.BarGraphItem(x=xs + off, height=vals, width=0.25, brush=col, name=k))
        self.bar_plot.getAxis("bottom").setTicks([[(i, j[:8]) for i, j in enumerate(joints[:-1])]])

    def _fill_curves(self, res) -> None:
        self.curve_plot.clear()
        colors = {"deletion": "#d62728", "insertion": "#1f77b4", "deletion_random": "#ff9896",
                  "insertion_random": "#aec7e8", "deletion_random_cells": "#ff7f0e", "insertion_random_cells": "#17becf"}
        for k, c in res.curves.items():
            if c is None:
                continue
            style = QtCore.Qt.DotLine if k.endswith("_cells") else QtCore.Qt.DashLine if "random" in k else QtCore.Qt.SolidLine
            pen = pg.mkPen(colors.get(k, "w"), width=2, style=style)
            label = k.replace("deletion", "del.").replace("insertion", "ins.").replace("_random_cells", " random cells")
            label = label.replace("_random", " random px")
            self.curve_plot.plot(c.fractions, c.scores, pen=pen, name=f"{label} {c.auc:.3f}")

    def _fill_faithfulness(self, res) -> None:
        """Region-perturbation curves, the sanity curve and a one-line summary of the scalar metrics."""
        m = res.metrics
        self.region_plot.clear()
        self.sanity_plot.clear()
        cols = {"morf": "#d62728", "lerf": "#1f77b4", "random": "#7f7f7f"}
        for order, c in (m.get("region_perturbation") or {}).items():
            d = np.asarray(c["drops"], float)
            self.region_plot.plot(np.arange(1, len(d) + 1), d, pen=pg.mkPen(cols.get(order, "w"), width=2),
                                  name=f"{order.upper()} AOPC {c['aopc']:.3f}")
        san = m.get("sanity") or {}
        if san.get("similarity"):
            depth = san.get("depth", {})
            xs = [depth.get(k, i + 1) for i, k in enumerate(san["similarity"])]
            ys = list(san["similarity"].values())
            self.sanity_plot.plot([0] + xs, [1.0] + ys, pen=pg.mkPen("#9467bd", width=2), symbol="o",
                                  symbolBrush="#9467bd", symbolSize=6)
            self.sanity_plot.setYRange(-0.2, 1.05)
        parts = []
        if "substrate" in m:
            parts.append(f"substrate {m['substrate']}")
        for k, label in (("deletion_auc", "deletion AUC"), ("deletion_auc_random", "pixel floor"),
                         ("deletion_auc_random_cells", f"cell floor ({m.get('random_cell', '?')} px)"),
                         ("insertion_auc", "insertion AUC"), ("insertion_auc_random_cells", "cell floor"),
                         ("faithfulness_correlation", "faithfulness corr."), ("aopc_morf", "AOPC MoRF"),
                         ("aopc_lerf", "LeRF"), ("sanity_last", "sanity ρ (all layers random)")):
            v = m.get(k)
            if isinstance(v, (int, float)):
                parts.append(f"{label} {v:.3f}")
        self.faith_label.setText(" · ".join(parts))
        bad = isinstance(m.get("sanity_last"), float) and m["sanity_last"] > 0.5
        self.faith_label.setStyleSheet("color: #c00" if bad else "")

    # ----------------------------------------------------------------------------------------- picking
    def _on_click(self, x: float, y: float) -> None:
        r = self.result
        m = self.current_map()
        if r is None or m is None or self.window.view2d.current != "attribution":
            return
        h, w = m.shape
        tile_w = r.image.shape[1]
        xi = int(x) % tile_w if self.layout.currentText() == "side by side" else int(x)
        yi = int(y)
        if not (0 <= xi < w and 0 <= yi < h):
            return
        info = {"pixel": (xi, yi), "value": float(m[yi, xi]), "target": str(self.shown_joint or r.target_name),
                "method": r.method, "map max": float(np.abs(m).max())}
        self.last_pick = info
        self.window.inspector.show("Attribution pixel", info)

    def _pick_class(self, item) -> None:
        idx = item.data(QtCore.Qt.UserRole)
        if self.result is not None and idx != self.result.target:
            self.run(self.result.method if self.result.method != "poseig" else None, idx)

    def _pick_joint_row(self, row: int, _col: int) -> None:
        it = self.table.item(row, 0)
        self.select_joint(None if it is None or it.text() == "mean" else it.text())

    def select_joint(self, joint: str | None) -> None:
        self.shown_joint = joint
        if self.layout.currentText() == "joint grid":
            self.layout.setCurrentText("overlay")
        self.redraw()

    # ----------------------------------------------------------------------------------------- export
    def export(self, out_dir: str) -> dict:
        if self.result is None:
            raise RuntimeError("nothing to export: run an attribution first")
        files = export_all(self.result, out_dir, self.opacity.value() / 100.0, self.cmap.currentText())
        self.window.log(f"attribution exported to {out_dir}")
        return files

    def _export_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Export attribution to folder")
        if d:
            try:
                self.export(d)
            except Exception as e:
                self.window.error("Export failed", str(e))
