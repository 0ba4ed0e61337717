"""Attribution ▸ Explain point-cloud model…: per-point IG or gradient×input of a user's torch point model
(TorchScript or torch.save'd module) on the current point-cloud layer, painted as an AttributionMap.

The attribution runs in `engine.attribution.pointcloud` as a job; the map is added to the scene with the
cloud's points in its meta, so the 3D attribution builder (and the headless renderer) can draw it, and a
picked point shows its score in the inspector (the builder's pick). Nothing is computed here.
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from scenelens.engine.errors import InputError
from scenelens.engine.scene import PointCloud

from .base import Workbench


class PointCloudAttributionWorkbench(Workbench):
    title = "Point-cloud attribution"
    workspace = "Attribution"

    def __init__(self, window):
        super().__init__(window)
        self.handle = None
        self.last_map = None

    def install(self, window) -> None:
        self.window = window
        window.menu("Attribution").addAction("Explain point-cloud model…", self._dialog)

    # ------------------------------------------------------------------------------------------ choosing
    def current_cloud(self) -> PointCloud | None:
        """The point cloud selected in the scene browser, else the only/first one in the scene."""
        sel = self.window.browser.selected_uid() if hasattr(self.window, "browser") else None
        lay = self.window.scene.get(sel) if sel else None
        if isinstance(lay, PointCloud):
            return lay
        clouds = self.window.scene.of_type(PointCloud)
        return clouds[0] if clouds else None

    def _dialog(self) -> None:
        layer = self.current_cloud()
        if layer is None:
            self.window.error("Explain point-cloud model", "Open or select a point-cloud layer first.")
            return
        dlg = QtWidgets.QDialog(self.window)
        dlg.setWindowTitle(f"Explain point-cloud model on “{layer.name}”")
        form = QtWidgets.QFormLayout(dlg)
        path = QtWidgets.QLineEdit()
        browse = QtWidgets.QPushButton("…")
        browse.clicked.connect(lambda: path.setText(QtWidgets.QFileDialog.getOpenFileName(
            dlg, "Point-cloud model (TorchScript or torch.save'd module)", "", "Torch models (*.pt *.pth *.ts);;All (*)")[0]
            or path.text()))
        row = QtWidgets.QHBoxLayout()
        row.addWidget(path, 1)
        row.addWidget(browse)
        form.addRow("Model file", row)
        target = QtWidgets.QLineEdit("0")
        target.setToolTip("class id for a per-cloud model; 'point, class' for a segmentation model")
        form.addRow("Target", target)
        method = QtWidgets.QComboBox()
        method.addItems(["ig", "gradxinput"])
        form.addRow("Method", method)
        baseline = QtWidgets.QComboBox()
        baseline.addItems(["centroid", "zeros", "features"])
        form.addRow("Baseline", baseline)
        steps = QtWidgets.QSpinBox()
        steps.setRange(4, 1024)
        steps.setValue(64)
        form.addRow("IG steps", steps)
        chans = QtWidgets.QLineEdit(",".join(k for k in ("intensity",) if k in layer.attributes))
        chans.setToolTip("per-point attributes appended to xyz as input channels, comma-separated")
        form.addRow("Extra channels", chans)
        layout = QtWidgets.QComboBox()
        layout.addItems(["NC", "CN"])
        layout.setToolTip("NC: model takes 1×N×C; CN: 1×C×N (PointNet style)")
        form.addRow("Input layout", layout)
        bb = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        bb.accepted.connect(dlg.accept)
        bb.rejected.connect(dlg.reject)
        form.addRow(bb)
        if dlg.exec() != QtWidgets.QDialog.Accepted:
            return
        try:
            from scenelens.engine.attribution.pointcloud import parse_target

            tgt = parse_target(target.text())
        except InputError as e:
            self.window.error("Explain point-cloud model", str(e))
            return
        self.explain(layer, path.text(), tgt, method=method.currentText(), baseline=baseline.currentText(),
                     steps=steps.value(), channels=tuple(c.strip() for c in chans.text().split(",") if c.strip()),
                     layout=layout.currentText())

    # ------------------------------------------------------------------------------------------ running
    def explain(self, layer: PointCloud, model_path: str, target, **kw):
        from scenelens.engine.attribution.pointcloud import make_point_model_job

        if not model_path:
            self.window.error("Explain point-cloud model", "Choose a model file.")
            return None
        kw.setdefault("device", getattr(self.window, "device", "cpu"))
        self.handle = self.window.start_job(make_point_model_job(layer, model_path, target, **kw),
                                            on_result=lambda am: self.show(am, layer))
        return self.handle

    def show(self, am, layer: PointCloud) -> None:
        am.meta["points"] = layer.points  # geometry for the builder and the headless renderer
        am.name = f"attribution: {Path(str(am.source).split(':', 1)[-1]).stem} → {am.target} on {layer.name}"
        self.last_map = am
        self.window.add_layer(am)
        self.window.refresh_layer(am, {"on_layer": layer, "point_size": 6.0, "threshold": 0.02})
        m = am.meta
        self.window.log(f"{am.method} on {layer.name}: F(x) = {m['f_input']:.4f}, F(baseline) = {m['f_baseline']:.4f}, "
                        f"completeness gap {100 * m['relative_error']:.2f} %" if am.method.startswith("ig")
                        else f"{am.method} on {layer.name}: F(x) = {m['f_input']:.4f}")
