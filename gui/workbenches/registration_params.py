"""The Registration panel's "Advanced" section: every pipeline parameter as a control, filled from the chosen
preset and handed to the job as `RegistrationParams.for_preset(preset, **edited)`.

The controls are generated from the engine's own dataclasses (`RegistrationParams`, `SC2Params`, `ScanFilter`)
rather than from a hand-kept list, so a parameter the engine adds shows up here without a GUI change; the groups
and labels below only order and name them. Only what the user edited is passed as an override, so a new voxel
size rescales every length the user has not touched exactly as `--voxel` does on the CLI (the engine's
`for_preset` does the rescaling; this module never computes a parameter itself). Edited values are shown in
bold; "Reset to preset" forgets them.
"""
from __future__ import annotations

from dataclasses import fields

from PySide6 import QtCore, QtWidgets

from scenelens.engine.errors import InputError

# chosen in the panel's main rows, not here
EXCLUDED = {"preset", "estimator", "run_baseline", "icp", "icp_method", "device", "sc2", "scan"}
EXCLUDED_SC2 = {"seed"}  # the pipeline's `seed` overrides it
GROUPS = (
    ("Keypoints and descriptors", ("voxel", "normal_radius", "normal_max_nn", "fpfh_radius", "fpfh_max_nn", "mutual")),
    ("Range, ego box and ground (sensor-frame scans)", ("min_range", "max_range", "ego_box", "ground", "ground_icp",
                                                         "ground_threshold", "ground_max_slope", "sensor_height")),
    ("SC² estimator", ("d_thre", "inlier_threshold", "nms_radius", "ratio", "k1", "k2", "num_iterations",
                       "max_points", "cap", "refine_iterations", "verify_top", "chunk")),
    ("RANSAC baseline", ("ransac_iterations", "ransac_n")),
    ("ICP", ("icp_max_dist", "icp_iterations")),  # + any other icp_* field the engine has (convergence thresholds)
    ("Failure checks", ("min_inliers", "degenerate_translation", "degenerate_ratio")),
    ("Other", ("seed",)),
)
LABELS = {
    "voxel": "voxel size", "normal_radius": "normal radius", "normal_max_nn": "normal neighbours",
    "fpfh_radius": "FPFH radius", "fpfh_max_nn": "FPFH neighbours", "mutual": "mutual matches only",
    "min_range": "min range", "max_range": "max range (0: off)", "ego_box": "ego box", "ground": "ground",
    "ground_icp": "keep ground for ICP", "ground_threshold": "ground threshold", "ground_max_slope": "ground max slope",
    "sensor_height": "sensor height (0: estimate)", "d_thre": "compatibility distance d", "inlier_threshold":
    "inlier threshold τ", "nms_radius": "seed NMS radius", "ratio": "seed ratio", "k1": "consensus k1",
    "k2": "consensus k2", "num_iterations": "power iterations", "max_points": "max correspondences (N cap)",
    "cap": "cap keeps", "refine_iterations": "refine iterations", "verify_top": "verify top hypotheses",
    "chunk": "compatibility chunk", "ransac_iterations": "iterations", "ransac_n": "sample size",
    "icp_max_dist": "max correspondence distance", "icp_iterations": "max iterations",
    "icp_relative_fitness": "converged when Δfitness <", "icp_relative_rmse": "converged when ΔRMSE <",
    "min_inliers": "min predicted inliers", "degenerate_translation": "degenerate below translation",
    "degenerate_ratio": "… with inlier ratio below", "seed": "random seed",
}
LENGTHS = {"voxel", "normal_radius", "fpfh_radius", "min_range", "max_range", "ground_threshold", "sensor_height",
           "d_thre", "inlier_threshold", "nms_radius", "icp_max_dist", "degenerate_translation"}
CHOICES = {"ground": ("keep", "remove"), "cap": ("best", "random")}


def _help() -> dict[str, str]:
    try:
        from scenelens.engine.tasks.registration import _PARAM_FLAGS

        return {f: f"{flag}: {h}" for flag, f, _t, h in _PARAM_FLAGS}
    except Exception:  # the CLI's help strings are only tooltips
        return {}


def param_fields() -> list[tuple[str, str]]:
    """(flat name, owner) of every parameter shown: owner is 'top', 'sc2' or 'scan'."""
    from scenelens.engine.registration.pipeline import RegistrationParams
    from scenelens.engine.registration.sc2pcr import SC2Params
    from scenelens.engine.registration.scan_filter import ScanFilter

    out = [(f.name, "top") for f in fields(RegistrationParams) if f.name not in EXCLUDED]
    out += [(f.name, "sc2") for f in fields(SC2Params) if f.name not in EXCLUDED_SC2]
    out += [(f.name, "scan") for f in fields(ScanFilter)]
    seen, uniq = set(), []
    for name, owner in out:  # flat names route top → sc2 → scan in the engine; show each once
        if name not in seen:
            seen.add(name)
            uniq.append((name, owner))
    return uniq


def value_of(prm, name: str, owner: str):
    return getattr(prm if owner == "top" else getattr(prm, owner), name)


class AdvancedParams(QtCore.QObject):
    """Builds the collapsible section; `params(preset, **fixed)` gives the RegistrationParams to run with."""

    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.preset = "3dmatch"
        self.edited: dict[str, object] = {}
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        self.labels: dict[str, QtWidgets.QLabel] = {}
        self.owner: dict[str, str] = {}
        self._syncing = False

    # ---------------------------------------------------------------------------------------------- build
    def build(self) -> QtWidgets.QWidget:
        from scenelens.engine.registration.pipeline import RegistrationParams

        self.box = QtWidgets.QGroupBox("Advanced: every pipeline parameter")
        self.box.setCheckable(True)
        self.box.setChecked(False)
        self.box.setObjectName("registration_advanced")
        outer = QtWidgets.QVBoxLayout(self.box)
        self.body = QtWidgets.QWidget()
        outer.addWidget(self.body)
        self.box.toggled.connect(self.body.setVisible)
        self.body.setVisible(False)
        lay = QtWidgets.QVBoxLayout(self.body)
        lay.setContentsMargins(0, 0, 0, 0)
        note = QtWidgets.QLabel("Defaults from the preset; a new voxel size rescales every length you have not "
                                "edited (edited values are bold). Lengths in metres.")
        note.setWordWrap(True)
        lay.addWidget(note)
        prm = RegistrationParams.for_preset(self.preset)
        helps = _help()
        all_fields = param_fields()
        self.owner = dict(all_fields)
        placed = {n for _t, names in GROUPS for n in names}
        extra = {"ICP": [n for n, _o in all_fields if n.startswith("icp_") and n not in placed],
                 "Other": [n for n, _o in all_fields if not n.startswith("icp_") and n not in placed]}
        for title, names in GROUPS:
            names = [n for n in names if n in self.owner] + extra.get(title, [])
            if not names:
                continue
            g = QtWidgets.QGroupBox(title)
            form = QtWidgets.QFormLayout(g)
            form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
            for name in names:
                w = self._widget(name, value_of(prm, name, self.owner[name]))
                tip = helps.get(name, name)
                w.setToolTip(tip)
                label = QtWidgets.QLabel(LABELS.get(name, name.replace("_", " ")))
                label.setToolTip(tip)
                self.widgets[name], self.labels[name] = w, label
                form.addRow(label, w)
            lay.addWidget(g)
        reset = QtWidgets.QPushButton("Reset to preset")
        reset.clicked.connect(self.reset)
        lay.addWidget(reset)
        return self.box

    def _widget(self, name: str, value) -> QtWidgets.QWidget:
        if name in CHOICES:
            w = QtWidgets.QComboBox()
            w.addItems(list(CHOICES[name]) + ([str(value)] if str(value) not in CHOICES[name] else []))
            w.setCurrentText(str(value))
            w.currentTextChanged.connect(lambda _v, n=name: self._on_edit(n))
        elif isinstance(value, bool):
            w = QtWidgets.QCheckBox()
            w.setChecked(bool(value))
            w.toggled.connect(lambda _v, n=name: self._on_edit(n))
        elif isinstance(value, int):
            w = QtWidgets.QSpinBox()
            w.setRange(0, 10_000_000)
            w.setValue(int(value))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda _v, n=name: self._on_edit(n))
        elif isinstance(value, float) and 0 < value < 1e-3:  # tolerances (ICP convergence): 1e-6 must survive
            w = _ScientificSpinBox()
            w.setValue(float(value))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda _v, n=name: self._on_edit(n))
        elif isinstance(value, float):
            w = QtWidgets.QDoubleSpinBox()
            w.setDecimals(4 if name in LENGTHS or value < 1 else 2)
            w.setRange(0.0, 1e6)
            w.setSingleStep(0.01 if name in LENGTHS else 0.05)
            if name in LENGTHS:
                w.setSuffix(" m")
            w.setValue(float(value))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda _v, n=name: self._on_edit(n))
        else:  # ego box: six numbers or empty (off)
            w = QtWidgets.QLineEdit("" if value is None else " ".join(f"{v:g}" for v in value))
            w.setPlaceholderText("off — xmin xmax ymin ymax zmin zmax (m)")
            w.editingFinished.connect(lambda n=name: self._on_edit(n))
        return w

    # ---------------------------------------------------------------------------------------------- values
    def _read(self, name: str):
        w = self.widgets[name]
        if isinstance(w, QtWidgets.QComboBox):
            return w.currentText()
        if isinstance(w, QtWidgets.QCheckBox):
            return w.isChecked()
        if isinstance(w, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
            return w.value()
        text = w.text().replace(",", " ").split()
        if not text:
            return None
        try:
            vals = tuple(float(v) for v in text)
        except ValueError:
            raise InputError(None, f"ego box: expected six numbers (xmin xmax ymin ymax zmin zmax), got {w.text()!r}")
        if len(vals) != 6:
            raise InputError(None, f"ego box: expected six numbers (xmin xmax ymin ymax zmin zmax), got {len(vals)}")
        return vals

    def _write(self, name: str, value) -> None:
        w = self.widgets[name]
        w.blockSignals(True)
        try:
            if isinstance(w, QtWidgets.QComboBox):
                if w.findText(str(value)) < 0:  # a choice a preset uses that this list does not know yet
                    w.addItem(str(value))
                w.setCurrentText(str(value))
            elif isinstance(w, QtWidgets.QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QtWidgets.QSpinBox):
                w.setValue(int(value))
            elif isinstance(w, QtWidgets.QDoubleSpinBox):
                w.setValue(float(value))
            else:
                w.setText("" if value is None else " ".join(f"{v:g}" for v in value))
        finally:
            w.blockSignals(False)

    def _on_edit(self, name: str) -> None:
        if self._syncing:
            return
        try:
            self.edited[name] = self._read(name)
        except InputError:
            self.edited[name] = self.widgets[name].text()  # kept as typed; reported when the job starts
        self.sync()
        self.changed.emit()

    def set_value(self, name: str, value) -> None:
        """Edit one parameter as the user would (the widget changes and the value counts as edited)."""
        self._write(name, value)
        self._on_edit(name)

    def set_preset(self, preset: str) -> None:
        self.preset = preset
        self.sync()

    def reset(self) -> None:
        self.edited.clear()
        self.sync()
        self.changed.emit()

    def overrides(self) -> dict:
        """The edited values (what the job gets on top of the preset); raises InputError on a bad entry."""
        out = {}
        for name, v in self.edited.items():
            out[name] = self._read(name) if isinstance(v, str) and name == "ego_box" else v
        return out

    def params(self, preset: str | None = None, **fixed):
        from scenelens.engine.registration.pipeline import RegistrationParams

        return RegistrationParams.for_preset(preset or self.preset, **{**self.overrides(), **fixed})

    def sync(self) -> None:
        """Show the preset's values (rescaled by an edited voxel) in every control the user has not edited."""
        try:
            prm = self.params()
        except InputError:
            return
        self._syncing = True
        try:
            for name, w in self.widgets.items():
                if name not in self.edited:
                    self._write(name, value_of(prm, name, self.owner[name]))
                f = self.labels[name].font()
                f.setBold(name in self.edited)
                self.labels[name].setFont(f)
        finally:
            self._syncing = False


class _ScientificSpinBox(QtWidgets.QDoubleSpinBox):
    """A spin box for small tolerances: shown and typed as 1e-06, stepping by factors of ten (a fixed
    number of decimals would round 1e-6 to zero and silently turn convergence tests off)."""

    def __init__(self):
        super().__init__()
        self.setDecimals(15)
        self.setRange(0.0, 1.0)

    def textFromValue(self, v: float) -> str:
        return f"{v:g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        from PySide6.QtGui import QValidator
        t = text.strip()
        try:
            float(t)
            return QValidator.Acceptable, text, pos
        except ValueError:
            ok = t == "" or all(c in "0123456789.eE-+" for c in t)
            return (QValidator.Intermediate if ok else QValidator.Invalid), text, pos

    def stepBy(self, steps: int) -> None:
        v = self.value() or 1e-6
        self.setValue(min(1.0, v * (10.0 ** steps)))
