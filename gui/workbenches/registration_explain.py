"""The "Explain alignment" action of the Registration workbench: which cells of the source (or target) cloud carry the
current alignment, painted onto that cloud in diverging colours.

The work is `engine.attribution.registration_explain` run as a job on the workbench's current pair, its
parameters and its current pose (the reference whose support is measured). This module owns only the
controls, the colouring (the same diverging map and scaling as the 3D attribution layer builder, centred on
zero even when no score is negative, so "no effect" is always the same neutral colour) and the inspector text
for a picked keypoint. It is a helper object, not a workbench of its own: it lives inside the Registration
panel and the workbench asks it for colours when drawing.
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from scenelens.engine.attribution.registration_explain import ExplainParams, make_job


class AlignmentExplainer:
    def __init__(self, bench):
        self.bench = bench
        self.explanation = None
        self.attribution_map = None  # AttributionMap of the last run (per keypoint of the explained side)
        self.scores: np.ndarray | None = None  # per displayed keypoint of the explained side
        self.support: np.ndarray | None = None
        self.handle = None

    # ------------------------------------------------------------------------------------------ controls
    def build(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Explain alignment (cell ablation)")
        form = QtWidgets.QFormLayout(box)
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItems(["fast", "full"])
        self.mode_combo.setToolTip("fast: drop the cell's correspondences, re-run SC² only (~0.1–1 s per cell)\n"
                                   "full: remove the cell's keypoints, recompute FPFH + matching + SC² (~3× slower)")
        form.addRow("Fidelity", self.mode_combo)
        self.side_combo = QtWidgets.QComboBox()
        self.side_combo.addItems(["source", "target"])
        form.addRow("Ablate", self.side_combo)
        self.cell_spin = QtWidgets.QDoubleSpinBox()
        self.cell_spin.setRange(0.0, 50.0)
        self.cell_spin.setDecimals(2)
        self.cell_spin.setSingleStep(0.05)
        self.cell_spin.setSpecialValueText("auto (3 × FPFH radius)")
        self.cell_spin.setSuffix(" m")
        form.addRow("Cell size", self.cell_spin)
        self.offsets_box = QtWidgets.QCheckBox("+ half-cell shifted grid")
        self.offsets_box.setToolTip("also ablate a grid shifted by half a cell: smoother maps, twice the time")
        form.addRow("", self.offsets_box)
        self.explain_btn = QtWidgets.QPushButton("Explain alignment")
        self.explain_btn.clicked.connect(self.run)
        form.addRow(self.explain_btn)
        self.show_box = QtWidgets.QCheckBox("paint attribution")
        self.show_box.setToolTip("colour the clouds by the explanation (off: normal colours)")
        self.show_box.setEnabled(False)
        self.show_box.toggled.connect(lambda _v: self.bench._draw())
        form.addRow("", self.show_box)
        self.label = QtWidgets.QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(QtCore.Qt.RichText)
        form.addRow(self.label)
        return box

    def explain_params(self) -> ExplainParams:
        return ExplainParams(mode=self.mode_combo.currentText(), side=self.side_combo.currentText(),
                             cell_size=self.cell_spin.value() or None, offsets=2 if self.offsets_box.isChecked() else 1)

    # ------------------------------------------------------------------------------------------ running
    def run(self):
        b, w = self.bench, self.bench.window
        if b.result is None:
            w.error("Explain alignment", "Run the registration first: the explanation measures the current alignment.")
            return None
        scene = w.scene
        src, tgt = scene.get(b.src_combo.currentData() or ""), scene.get(b.tgt_combo.currentData() or "")
        if src is None or tgt is None:
            w.error("Explain alignment", "The source or target cloud is no longer in the scene.")
            return None
        ex = self.explain_params()
        job = make_job(src, tgt, b.params(), reference=b.current_T().copy(), explain=ex, gt=b.gt,
                       name=f"Explain alignment ({ex.side}, {ex.mode})")
        self.handle = w.start_job(job, on_result=self.show)
        return self.handle

    def show(self, expl) -> None:
        b = self.bench
        r = b.result
        side = expl.params.side
        shown = None if r is None else (r.src_down if side == "source" else r.tgt_down)
        self.explanation = expl
        if shown is not None and len(shown) == len(expl.keypoints) and np.allclose(shown, expl.keypoints, atol=1e-6):
            self.scores, self.support = expl.point_score, expl.point_support
        else:  # keypoints differ (e.g. another run since): look the cells up by position
            self.scores = expl.scores_at(shown if shown is not None else expl.keypoints)
            self.support = None
        layer = b.src_layer if side == "source" else b.tgt_layer
        self.attribution_map = expl.attribution_map(on_layer=layer.uid if layer is not None else "")
        s = expl.summary()
        top = s["top_cells"][0] if s["top_cells"] else None
        self.label.setText(
            f"{s['n_cells']} cells of {s['cell_size']:.2f} m, {expl.params.mode}: {s['seconds']:.1f} s "
            f"({s['seconds_per_cell']:.2f} s/cell); support of the reference pose: {s['consensus_full']} inliers"
            + (f"<br>top cell at {np.round(top['centre'], 2).tolist()}: {100 * top['score']:.0f} % of the support"
               f" lost, pose moves {top['re_deg']:.2f}° / {top['te_cm']:.1f} cm" if top else ""))
        b.window.log(f"alignment explanation: {s['n_cells']} cells, {s['seconds']:.1f} s; stages "
                     + ", ".join(f"{k} {v:.2f}s" for k, v in s["stage_seconds"].items()))
        self.show_box.setEnabled(True)
        if self.show_box.isChecked():
            b._draw()
        else:
            self.show_box.setChecked(True)  # redraws

    def clear(self) -> None:
        """A new registration result invalidates the explanation."""
        self.explanation = self.attribution_map = self.scores = self.support = None
        if hasattr(self, "show_box"):
            self.show_box.blockSignals(True)
            self.show_box.setChecked(False)
            self.show_box.blockSignals(False)
            self.show_box.setEnabled(False)
            self.label.setText("")

    # ------------------------------------------------------------------------------------------ drawing
    def active(self, side: str) -> bool:
        return (self.explanation is not None and self.scores is not None and self.show_box.isChecked()
                and self.explanation.params.side == side)

    def colours(self, side: str, n: int) -> np.ndarray | None:
        """N×3 uint8 diverging colours (red = the alignment needs this part, blue = it misleads it), or None
        when the explanation is not shown on this side."""
        from ..views.layers.attribution import CMAP_SIGNED, lut_colors, score_colors

        if not self.active(side) or len(self.scores) != n:
            return None
        idx, _scale = score_colors(self.scores, signed=True)
        return (lut_colors(True, CMAP_SIGNED)[idx] * 255).astype(np.uint8)

    # ------------------------------------------------------------------------------------------ picking
    def on_pick(self, info: dict) -> None:
        b = self.bench
        if self.explanation is None or not self.show_box.isChecked():
            return
        side = self.explanation.params.side
        layer = b.src_layer if side == "source" else b.tgt_layer
        pid = info.get("point_id", -1)
        if layer is None or info.get("layer") != layer.uid or pid is None or pid < 0:
            return
        b.window.inspector.show(f"alignment explanation — {side} keypoint {int(pid)}", self.pick_info(int(pid)))

    def pick_info(self, i: int) -> dict:
        e = self.explanation
        info = {"score (support lost with its cell)": f"{float(self.scores[i]):+.3f}"}
        if self.support is not None:
            info["own support (inlier weight × SC² confidence)"] = f"{float(self.support[i]):.3f}"
        if self.support is not None:
            info.update(e.cell_info(i))
        info["method"] = self.attribution_map.method if self.attribution_map is not None else ""
        return info
