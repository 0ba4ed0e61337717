"""3D attribution: pick a voxel (or a LiDAR point) in the 3D view, explain the voxel model's class there.

The flow: pick → "Explain voxel" → a background job (engine.attribution.voxel_explain, the same code as
`main.py run attribution SCENE --voxel i,j,k`) → (i) the per-voxel input attribution is added as an
AttributionMap layer and painted in the 3D view by gui/views/layers/attribution.py, (ii) the "Voxel on
cameras" dock shows the image attribution of the voxel on every camera of the rig (cameras that do not
see the voxel say so), (iii) the inspector shows the predicted class and its probability.
This module only turns results into widgets; it lives beside the image workbench (attribution.py) so
that one stays untouched.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from scenelens.engine.attribution.voxel_explain import VoxelExplainOptions, make_predict_job, make_voxel_job
from scenelens.engine.attribution.voxel_export import export_voxel_explanation
from scenelens.engine.scene import AttributionMap, CameraRig, PointCloud, VoxelGrid

from .base import Workbench


class CameraGrid(QtWidgets.QWidget):
    """Every camera of the rig with the voxel's attribution blended over it. Cameras that see the voxel get
    the big tiles on the left (that is where the answer is); the others are thumbnails on the right, dimmed,
    and one colour bar (shared scale) under the grid says what the colours mean."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground((20, 22, 28))
        lay.addWidget(self.graphics, 1)
        self.colorbar = QtWidgets.QLabel()
        self.colorbar.setObjectName("voxel_colorbar")
        self.colorbar.setAlignment(QtCore.Qt.AlignCenter)
        self.colorbar.setMinimumHeight(46)
        lay.addWidget(self.colorbar)
        # no large minimum: it would raise the whole window's (≤ 720 px tall); a result enlarges the dock instead
        self.setMinimumHeight(150)
        self.tiles: dict[str, dict] = {}
        self.scale = 0.0

    def clear(self) -> None:
        self.graphics.clear()
        self.tiles.clear()

    def _tile(self, name, rgb, visible, uv, row, col, rowspan=1, colspan=1, big=False):
        title = name if visible else f"{name}: voxel not visible"
        label = self.graphics.addLabel(title, row=row, col=col, colspan=colspan, size="10pt" if big else "8pt",
                                       color="#e0e0e0" if visible else "#ff9a6a")
        label.setMaximumHeight(20)
        vb = self.graphics.addViewBox(row=row + 1, col=col, rowspan=rowspan, colspan=colspan, lockAspect=True,
                                      invertY=True, enableMouse=False)
        item = pg.ImageItem(rgb)
        item.setLevels([0, 255])
        vb.addItem(item)
        if uv is not None:
            ring = pg.ScatterPlotItem([uv[0]], [uv[1]], size=26 if big else 14, symbol="o",
                                      pen=pg.mkPen((255, 255, 80), width=2), brush=None)
            vb.addItem(ring)
        h, w = rgb.shape[:2]
        vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)
        self.tiles[name] = {"view": vb, "image": item, "label": label, "rgb": rgb, "big": big}

    def show(self, names, images: dict, maps: dict, visible: dict, uv: dict, signed: bool = True,
             alpha: float = 0.85, columns: int = 2) -> None:
        from PySide6 import QtGui

        from scenelens.engine.attribution.voxel_export import heat_colorbar, heat_overlay, shared_heat_scale

        self.clear()
        self.scale = shared_heat_scale(maps, visible)
        seen = [n for n in names if visible[n]]
        unseen = [n for n in names if not visible[n]]
        rows_small = max(1, -(-len(unseen) // columns))
        big_rows = max(1, len(seen))
        # the small grid spans as many layout rows as the big tiles: both use 2 rows (label + view) per tile
        span = max(2 * rows_small, 2 * big_rows)
        for i, name in enumerate(seen):
            rgb = heat_overlay(images[name], maps[name], alpha, signed, visible=True, scale=self.scale)
            r0 = i * span // big_rows
            r1 = (i + 1) * span // big_rows
            self._tile(name, rgb, True, uv.get(name), r0, 0, rowspan=max(1, r1 - r0 - 1), big=True)
        c0 = 1 if seen else 0
        for i, name in enumerate(unseen):
            rgb = heat_overlay(images[name], maps[name], alpha, signed, visible=False)
            r0 = (i // columns) * span // rows_small
            r1 = (i // columns + 1) * span // rows_small
            self._tile(name, rgb, False, None, r0, c0 + i % columns, rowspan=max(1, r1 - r0 - 1))
        gl = self.graphics.ci.layout
        if seen:
            gl.setColumnStretchFactor(0, 3 * columns)  # the seeing camera(s) take ~3/4 of the width
        for c in range(c0, c0 + columns):
            gl.setColumnStretchFactor(c, 2 if seen else 1)
        bar = np.ascontiguousarray(heat_colorbar(self.scale, signed, 420, 46))
        q = QtGui.QImage(bar.data, bar.shape[1], bar.shape[0], 3 * bar.shape[1], QtGui.QImage.Format_RGB888).copy()
        self.colorbar.setPixmap(QtGui.QPixmap.fromImage(q))
        self.colorbar.setToolTip("one scale for every camera: colours saturate at ± the 99.5th percentile of the "
                                 "smoothed |attribution| of the cameras that see the voxel")

    def grab_image(self) -> np.ndarray:
        from PySide6 import QtGui

        img = self.graphics.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB888)
        w, h = img.width(), img.height()
        arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
        return arr[:, : 3 * w].reshape(h, w, 3).copy()


class Attribution3DWorkbench(Workbench):
    title = "Attribution 3D"
    workspace = "Attribution"

    def install(self, window) -> None:
        self.window = window
        self.voxel: tuple[int, int, int] | None = None
        self.result = None
        self.prediction: VoxelGrid | None = None
        self.handle = None
        self._build_panel(window)
        self.camera_grid = CameraGrid()
        self.camera_dock = window.add_dock(self.camera_grid, "Voxel on cameras", "bottom")
        m = window.menu("Attribution")
        m.addSeparator()
        m.addAction("3D: predict voxels (CamVox)", self.predict)
        m.addAction("3D: explain picked voxel", self.explain)
        m.addAction("3D: export voxel explanation…", self._export_dialog)
        window.connect_pick(self, self._on_pick)

    # ----------------------------------------------------------------------------------------- widgets
    def _build_panel(self, window) -> None:
        w = QtWidgets.QWidget()
        f = QtWidgets.QFormLayout(w)
        self.voxel_label = QtWidgets.QLabel("pick a voxel or LiDAR point in the 3D view")
        self.voxel_label.setWordWrap(True)
        self.model = QtWidgets.QLineEdit()
        self.model.setPlaceholderText("built-in CamVox (or a voxel model .pt / TorchScript)")
        self.target = QtWidgets.QComboBox()
        self.target.setEditable(True)
        self.target.addItems(["", "background", "barrier", "car", "pedestrian", "traffic_cone", "truck"])
        self.target.setToolTip("class to explain; empty = the predicted class")
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(2, 512)
        self.steps.setValue(64)
        self.baseline = QtWidgets.QComboBox()
        self.baseline.addItems(["black", "blurred"])
        self.occ_method = QtWidgets.QComboBox()
        self.occ_method.addItems(["ig", "gxi"])
        self.absolute = QtWidgets.QCheckBox("absolute |score| (else signed)")
        self.threshold = QtWidgets.QDoubleSpinBox()
        self.threshold.setRange(0.0, 0.9)
        self.threshold.setSingleStep(0.01)
        self.threshold.setValue(0.05)
        self.predict_btn = QtWidgets.QPushButton("Predict voxels")
        self.predict_btn.clicked.connect(self.predict)
        self.explain_btn = QtWidgets.QPushButton("Explain voxel")
        self.explain_btn.clicked.connect(lambda: self.explain())
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        row = QtWidgets.QHBoxLayout()
        for b in (self.predict_btn, self.explain_btn, self.cancel_btn):
            row.addWidget(b)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        f.addRow(self.voxel_label)
        for label, wid in (("model", self.model), ("target", self.target), ("IG steps (images)", self.steps),
                           ("image baseline", self.baseline), ("voxel method", self.occ_method),
                           ("hide |s| <", self.threshold)):
            f.addRow(label, wid)
        f.addRow(self.absolute)
        f.addRow(row)
        f.addRow(self.summary)
        self.absolute.toggled.connect(lambda *_: self.redraw())
        self.threshold.valueChanged.connect(lambda *_: self.redraw())
        self.panel = w
        self.dock = window.add_dock(w, "Attribution 3D", "right")

    # ----------------------------------------------------------------------------------------- picking
    def reference_grid(self) -> VoxelGrid:
        """The grid voxel indices refer to: the scene's first voxel grid, else the Occ3D geometry CamVox uses."""
        grids = [g for g in self.window.scene.of_type(VoxelGrid)]
        if grids:
            return grids[0]
        from scenelens.engine.attribution.camvox import occ3d_spec

        return occ3d_spec().empty("Occ3D geometry")

    def _on_pick(self, info: dict) -> None:
        lay = self.window.scene.get(info.get("layer", ""))
        if not isinstance(lay, (VoxelGrid, PointCloud, AttributionMap)):
            return
        if info.get("voxel") is not None:
            ijk = tuple(info["voxel"])
        else:  # a LiDAR point: the voxel that holds it
            ijk = self.reference_grid().index_of(np.asarray(info["position"], float).reshape(3))
        self.set_voxel(ijk)

    def set_voxel(self, ijk) -> None:
        g = self.reference_grid()
        ijk = tuple(int(v) for v in np.asarray(ijk).reshape(3))
        inside = all(0 <= a < s for a, s in zip(ijk, g.shape))
        self.voxel = ijk if inside else None
        if not inside:
            self.voxel_label.setText(f"voxel {ijk} is outside the grid {g.shape}")
            return
        c = g.centers(np.array([ijk]))[0]
        txt = f"voxel {ijk[0]}, {ijk[1]}, {ijk[2]}  (centre {c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f} m)"
        if self.prediction is not None and self.prediction.shape == g.shape:
            k = int(self.prediction.meta["model_class"][ijk])
            if k >= 0:
                txt += f"\npredicted {self.prediction.meta['classes'][k]} ({float(self.prediction.scores[ijk]):.2f})"
        self.voxel_label.setText(txt)

    # ----------------------------------------------------------------------------------------- running
    def options(self) -> VoxelExplainOptions:
        return VoxelExplainOptions(image_steps=self.steps.value(), baseline=self.baseline.currentText(),
                                   occ_method=self.occ_method.currentText(),
                                   target=self.target.currentText().strip() or None)

    def predict(self):
        if not self.window.scene.of_type(CameraRig):
            self.window.log("Attribution 3D: the scene needs a camera rig and LiDAR points or a voxel grid", "warning")
            return None
        grid = next(iter(self.window.scene.of_type(VoxelGrid)), None)
        self.handle = self.window.start_job(make_predict_job(self.window.scene, self.window.device, grid),
                                            on_result=self._show_prediction)
        return self.handle

    def _show_prediction(self, g: VoxelGrid) -> None:
        self.prediction = g
        self.window.add_layer(g)
        if self.voxel is not None:
            self.set_voxel(self.voxel)

    def explain(self, voxel=None):
        if voxel is not None:
            self.set_voxel(voxel)
        if self.voxel is None:
            self.window.log("Attribution 3D: pick a voxel or a LiDAR point first", "warning")
            return None
        grid = next(iter(self.window.scene.of_type(VoxelGrid)), None)
        job = make_voxel_job(self.window.scene, self.voxel, self.options(), self.model.text().strip() or None,
                             self.window.device, grid)
        self.handle = self.window.start_job(job, on_result=self.show_result)
        return self.handle

    def cancel(self) -> None:
        if self.handle is not None and hasattr(self.handle, "cancel"):
            self.handle.cancel()

    # ----------------------------------------------------------------------------------------- showing
    def style(self) -> dict:
        return {"absolute": self.absolute.isChecked(), "threshold": self.threshold.value()}

    def show_result(self, res) -> None:
        self.result = res
        if res.grid_is_new:  # occupancy voxelised from the point cloud: the map's on_layer, kept hidden
            self.window.add_layer(res.grid)
            self.window.set_layer_visible(res.grid.uid, False)
        elif self.window.scene.get(res.grid.uid) is not None:
            # the attribution voxels sit on the grid's own voxels: hide the grid so they are not covered
            self.window.set_layer_visible(res.grid.uid, False)
        for lay in res.layers:
            if lay.scores.ndim == 3:
                self.voxel_layer = self.window.add_layer(lay)
        for lay in res.layers[1:]:
            self.window.scene.replace(lay)  # per-camera maps: in the scene (exports, browser), drawn below
        self.window.browser.set_scene(self.window.scene)
        self.redraw()
        m = res.metrics
        info = {"voxel (i, j, k)": ", ".join(map(str, res.voxel)), "predicted": res.predicted_name,
                "P(predicted)": round(res.probabilities.get(res.predicted_name, float("nan")), 4),
                "explained class": res.target_name, "logit": round(m.get("logit", float("nan")), 4),
                "model": res.model}
        for part in ("image", "occupancy"):
            mm = m.get(part) or {}
            if "relative_error" in mm:
                info[f"{part} IG |Σ − Δf| / |Δf|"] = round(mm["relative_error"], 4)
                info[f"{part} Δf"] = round(mm["output_difference"], 4)
        if "image" in m:
            info["cameras seeing the voxel"] = ", ".join(m["image"].get("cameras_seeing", [])) or "none"
        info["seconds"] = round(m.get("seconds", 0.0), 2)
        self.window.inspector.show(f"Voxel {res.voxel}: {res.predicted_name} "
                                   f"{res.probabilities.get(res.predicted_name, 0):.2f}", info)
        self.summary.setText(f"{res.predicted_name} ({res.probabilities.get(res.predicted_name, 0):.2f}); "
                             f"explained: {res.target_name}")

    def redraw(self) -> None:
        res = self.result
        if res is None:
            return
        lay = getattr(self, "voxel_layer", None)
        if lay is not None and self.window.scene.get(lay.uid) is lay:
            self.window.refresh_layer(lay, self.style())
            self.window.view3d.render()
        if res.camera_names:
            self.camera_grid.show(res.camera_names, res.images, res.camera_maps, res.camera_visible, res.camera_uv,
                                  signed=not self.absolute.isChecked())
            self.camera_dock.show()
            self.camera_dock.raise_()
            self._enlarge_cameras()

    def _enlarge_cameras(self) -> None:
        """Give the camera grid ~45 % of the window height (the seeing camera is the answer, not a thumbnail)."""
        win, dock = self.window, self.camera_dock
        if dock.isFloating() or not hasattr(win, "resizeDocks"):
            return
        win.resizeDocks([dock], [max(340, int(win.height() * 0.45))], QtCore.Qt.Vertical)

    def export(self, out_dir: str) -> dict | None:
        if self.result is None:
            return None
        return export_voxel_explanation(self.result, out_dir, signed=not self.absolute.isChecked())

    def _export_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Export voxel explanation to folder")
        if d:
            files = self.export(d)
            self.window.log(f"Attribution 3D: wrote {len(files or {})} entries to {d}")

