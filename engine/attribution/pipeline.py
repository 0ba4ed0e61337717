"""One entry point per attribution run, shared by the CLI task and the GUI workbench.

`run_attribution` turns (image, method, target, model) into an `AttributionResult` with the map at the
image's full resolution, metrics (completeness, AUCs, indices) and curves; `make_job` wraps it as an
engine Job so the GUI runs exactly the code the CLI runs. Maps are computed at the model's input size
and resized back, so the faithfulness curves measure the map the model actually produced.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext

METHODS = ("ig", "gradcam", "occlusion", "poseig")


@dataclass
class AttributionOptions:
    steps: int = 64                 # IG path steps (PoseIG: fold) — the first round when `tol` is set
    tol: float | None = 0.01        # completeness tolerance |Σ IG − ΔF| / |ΔF|: steps double until met (None: fixed)
    max_steps: int | None = None    # cap on the doubling (None: 1024 for IG, 8 × fold for PoseIG)
    baseline: str = "black"         # black | blurred | path of a user image
    batch_size: int = 16
    ig_method: str = "gausslegendre"
    layer: str | None = None        # Grad-CAM layer
    window: int = 32                # occlusion
    stride: int = 16
    faithfulness: bool = True
    curve_step: int | None = None   # pixels per deletion/insertion step (None: one row)
    substrate: str = "rise"         # what deleted pixels become: rise (zero / blur) | blur | mean | zero
    random_cell: int | None = None  # granularity-matched random floor: cell size (None: the method's own grid)
    metrics: tuple = ()             # Quantus-style extras: correlation, aopc, sanity (faithmetrics.py)
    fc_subset: int = 224            # faithfulness correlation: pixels per random subset (Quantus default)
    fc_runs: int = 100              # … and the number of subsets
    aopc_patch: int = 8             # region perturbation: patch size (Quantus default)
    aopc_regions: int = 100         # … and the number of regions removed
    sanity_checkpoints: int = 6     # model randomisation: cascade depths at which the map is recomputed
    joints: list[str] | None = None  # PoseIG joints (None: all COCO-17)
    gt: str | None = None           # COCO keypoint JSON for PoseIG ground truth
    person: int = 0                 # which annotated person in the image
    seed: int = 0


@dataclass
class AttributionResult:
    image: np.ndarray               # H×W×3 uint8 (full resolution)
    map: np.ndarray                 # H×W float32 (full resolution), signed where the method is signed
    method: str
    target: Any
    target_name: str
    model: str
    signed: bool
    metrics: dict = field(default_factory=dict)
    topk: list = field(default_factory=list)
    curves: dict = field(default_factory=dict)      # name -> Curve
    joint_maps: dict = field(default_factory=dict)  # joint name -> H×W map (PoseIG)
    indices: dict = field(default_factory=dict)     # {"FI": {joint: v}, "LI": ..., "DI": ...}
    extra: dict = field(default_factory=dict)
    source: str = ""

    def metrics_json(self) -> dict:
        m = {"method": self.method, "model": self.model, "target": self.target, "target_name": self.target_name,
             "image": self.source, "map_shape": list(self.map.shape)}
        m.update(self.metrics)
        if self.topk:
            m["topk"] = self.topk
        if self.indices:
            m.update(self.indices)
        if self.curves:
            m["curves"] = {k: c.to_dict() for k, c in self.curves.items()}
        return m


def ig_warning(r) -> str | None:
    """The line a user must see when IG stopped at its step cap above the tolerance (None when fine)."""
    if r.converged or r.tolerance is None:
        return None
    from .ig import format_gap

    return (f"completeness gap {format_gap(r.relative_error)} is above the {100 * r.tolerance:.2f} % tolerance at "
            f"the step cap ({r.steps} steps): the map does not sum to the output change; raise --max-steps")


def measure_faithfulness(score, x, m: np.ndarray, opts: AttributionOptions, ctx: JobContext, lo: float, hi: float,
                         step: int | None, cell: int | None = None, lowres: np.ndarray | None = None,
                         sanity=None) -> tuple[dict, dict]:
    """RISE curves (with the chosen substrate and both random floors) plus the requested Quantus-style
    metrics, on the map at model resolution. `sanity` = (module, explain(module) -> map) enables the
    model-randomisation check. Returns (metrics, curves)."""
    from . import faithfulness as fa
    from . import faithmetrics as fm

    cancel = ctx.cancel_event
    extra = [k for k in opts.metrics if k in fm.METRICS]
    unknown = [k for k in opts.metrics if k not in fm.METRICS]
    if unknown:
        raise InputError(None, f"unknown faithfulness metric(s) {', '.join(unknown)} (use {', '.join(fm.METRICS)})")
    if opts.substrate not in fa.SUBSTRATES:
        raise InputError(None, f"unknown substrate {opts.substrate!r} (use {', '.join(fa.SUBSTRATES)})")
    parts = 1 + len(extra) * 0.5
    span = (hi - lo) / parts
    sal = np.asarray(m, np.float64)
    metrics: dict = {}
    rc = opts.random_cell if opts.random_cell is not None else cell
    f = fa.deletion_insertion(score, x, sal, step, opts.batch_size, True, opts.seed, ctx.sub(lo, lo + span), cancel,
                              substrate=opts.substrate, cell=rc, lowres=lowres if opts.random_cell is None else None)
    metrics.update(f.metrics())
    curves = f.curves()
    at = lo + span
    sub = "zero" if opts.substrate == "rise" else opts.substrate
    if "correlation" in extra:
        with ctx.stage("faithfulness correlation"):
            r = fm.faithfulness_correlation(score, x, sal, opts.fc_subset, opts.fc_runs, sub, "pixel", opts.seed,
                                            opts.batch_size, ctx.sub(at, at + span / 2), cancel)
        metrics.update(faithfulness_correlation=r.correlation, fc_subset=r.subset_size, fc_runs=len(r.deltas))
        at += span / 2
    if "aopc" in extra:
        with ctx.stage("region perturbation"):
            rcs = {}
            for i, order in enumerate(("morf", "lerf", "random")):
                rcs[order] = fm.region_perturbation(score, x, sal, opts.aopc_patch, order, opts.aopc_regions, sub,
                                                    opts.seed, opts.batch_size,
                                                    ctx.sub(at + i * span / 6, at + (i + 1) * span / 6), cancel)
        metrics.update(aopc_morf=rcs["morf"].aopc, aopc_lerf=rcs["lerf"].aopc, aopc_random=rcs["random"].aopc,
                       aopc_gap=rcs["morf"].aopc - rcs["lerf"].aopc, aopc_patch=opts.aopc_patch,
                       region_perturbation={k: c.to_dict() for k, c in rcs.items()})
        at += span / 2
    if "sanity" in extra:
        if sanity is None:
            raise InputError(None, "sanity (model randomisation) needs a classifier method (ig, gradcam, occlusion)")
        module, explain = sanity
        with ctx.stage("model randomisation"):
            n = len(fm.randomisable_layers(module))
            if n == 0:
                raise InputError(None, "sanity check: the model has no layer with reset_parameters() to randomise "
                                       "(a TorchScript file cannot be re-initialised; give the module or an adapter)")
            r = fm.model_randomisation(module, explain, sal, "top_down", 42,
                                       fm.log_checkpoints(n, opts.sanity_checkpoints), True, ctx.sub(at, hi), cancel)
        metrics.update(sanity_last=r.last, sanity=r.to_dict())
        if np.isfinite(r.last) and r.last > 0.5:
            metrics.setdefault("warnings", []).append(
                f"sanity check: the map still correlates {r.last:.2f} (Spearman) with the map of a model whose "
                f"{n} layers are all re-initialised — it shows the input more than the model")
    return metrics, curves


def _full_res(m: np.ndarray, img: np.ndarray) -> np.ndarray:
    from .common import resize

    if m.shape == img.shape[:2]:
        return m.astype(np.float32)
    return resize(m.astype(np.float32), (img.shape[1], img.shape[0])).astype(np.float32)


def classifier_map(module, x, t: int, method: str, opts: AttributionOptions, default_layer: str | None = None,
                   work=None, cancel=None) -> tuple[np.ndarray, dict, bool, dict]:
    """One classifier map at model resolution: (map, metrics, signed, extra) — extra holds the map's own
    granularity for the faithfulness floors ("cell", or Grad-CAM's low-resolution grid "lowres")."""
    import torch

    from .common import no_progress, reduce_channels

    work = work or no_progress
    metrics: dict = {}
    if method == "ig":
        from .ig import integrated_gradients

        base = opts.baseline
        if base not in ("black", "blurred"):
            from .common import load_image
            base = load_image(base)
        r = integrated_gradients(module, x, t, base, opts.steps, opts.ig_method, opts.batch_size,
                                 progress=work, cancel=cancel, tol=opts.tol, max_steps=opts.max_steps)
        m = reduce_channels(r.attributions, "sum")
        metrics.update(convergence_delta=r.convergence_delta, output_difference=r.output_difference,
                       f_input=r.f_input, f_baseline=r.f_baseline, relative_error=r.relative_error,
                       steps=r.steps, baseline=r.baseline, integration=r.method, tolerance=r.tolerance,
                       converged=r.converged, steps_tried=r.tried)
        warn = ig_warning(r)
        if warn:
            metrics.setdefault("warnings", []).append(warn)
        return m, metrics, True, {"cell": 1}
    if method == "gradcam":
        from .gradcam import grad_cam

        work(0.0, "Grad-CAM")
        try:
            r = grad_cam(module, x, t, opts.layer or default_layer)
        except ValueError as e:  # no such layer / no conv layer: the user's choice, not a crash
            raise InputError(None, f"--layer: {e}") from None
        metrics.update(layer=r.layer, logit=r.score)
        work(1.0, "Grad-CAM done")
        return r.cam, metrics, False, {"lowres": r.cam_lowres}
    if method == "occlusion":
        from .occlusion import occlusion

        def score(b):
            return torch.softmax(module(b), 1)[:, t]
        r = occlusion(score, x, opts.window, opts.stride, "blur", opts.batch_size, work, cancel)
        metrics.update(window=r.window, stride=r.stride, evaluations=r.n_evaluations)
        return r.attributions, metrics, True, {"cell": r.stride}
    raise InputError(None, f"method {method!r} is not for classifiers (use ig, gradcam or occlusion)")


def run_classifier_method(img: np.ndarray, method: str, target=None, model: str | None = None,
                          opts: AttributionOptions | None = None, device: str = "cpu",
                          ctx: JobContext | None = None, source: str = "") -> AttributionResult:
    import torch

    from . import faithfulness as fa
    from .classifier import load_classifier
    from .common import reduce_channels

    opts = opts or AttributionOptions()
    ctx = ctx or JobContext()
    cancel = ctx.cancel_event
    with ctx.stage("load model"):
        ctx.progress(0.0, "loading model")
        clf = load_classifier(model, device)
    x = clf.prepare(img)
    topk = clf.topk(x, 5)
    t = clf.class_index(target, topk[0]["index"])
    metrics: dict = {"target_score": float(clf.probabilities(x)[0, t])}
    work = ctx.sub(0.02, 0.6 if opts.faithfulness else 0.98)
    t0 = time.perf_counter()
    with ctx.stage(method):
        m, mm, signed, extra = classifier_map(clf.module, x, t, method, opts, clf.gradcam_layer, work, cancel)
    metrics.update(mm)
    metrics["seconds_method"] = time.perf_counter() - t0
    curves = {}
    if opts.faithfulness:
        with ctx.stage("faithfulness"):
            def score(b):
                return torch.softmax(clf.module(b), 1)[:, t]
            fixed = AttributionOptions(**{**opts.__dict__, "tol": None, "steps": min(int(metrics.get("steps") or 32), 64)})

            def explain(module):  # the same method on a randomised copy (IG at fixed steps: no doubling)
                return classifier_map(module, x, t, method, fixed, clf.gradcam_layer)[0]
            # rank by positive evidence: for signed maps, negative pixels argue against the class
            fm_metrics, curves = measure_faithfulness(score, x, m, opts, ctx, 0.6, 0.98, opts.curve_step,
                                                      extra.get("cell"), extra.get("lowres"), (clf.module, explain))
            warns = fm_metrics.pop("warnings", [])
            metrics.update(fm_metrics)
            if warns:
                metrics.setdefault("warnings", []).extend(warns)
    ctx.progress(1.0, "done")
    return AttributionResult(img, _full_res(m, img), method, t, clf.class_name(t), clf.name, signed, metrics,
                             topk, curves, source=source, extra={"model_input": x[0].permute(1, 2, 0).cpu().numpy(),
                                                                 "map_model_res": np.asarray(m, np.float32)})


def run_attribution(image, method: str, target=None, model: str | None = None,
                    opts: AttributionOptions | None = None, device: str = "cpu",
                    ctx: JobContext | None = None) -> AttributionResult:
    """`image` is a path or an H×W×3 uint8 array. PoseIG goes to the pose model; others to a classifier."""
    from .common import load_image

    if method not in METHODS:
        raise InputError(None, f"unknown method {method!r} (use {'|'.join(METHODS)})")
    source = ""
    if not isinstance(image, np.ndarray):
        source = str(image)
        image = load_image(image)
    if method == "poseig" or (model or "").startswith("mediapipe"):
        from .posepipeline import run_pose_method

        return run_pose_method(image, method, target, model, opts or AttributionOptions(), device, ctx, source)
    return run_classifier_method(image, method, target, model, opts, device, ctx, source)


def make_job(image, method: str, target=None, model: str | None = None, opts: AttributionOptions | None = None,
             device: str = "cpu") -> Job:
    name = f"Attribution {method}" + (f" → {target}" if target not in (None, "") else "")
    return Job(name, lambda ctx: run_attribution(image, method, target, model, opts, device, ctx))


def export_result(res: AttributionResult, out_dir, alpha: float = 0.5, cmap: str = "jet") -> dict:
    """Write map.npy, overlay.png, metrics.json (+ per-joint maps, curves CSV, indices CSV) atomically."""
    import json
    from pathlib import Path

    from ..atomic import save_npy, write_text
    from .common import colorbar, display_scale, overlay, save_png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    save_npy(out / "map.npy", res.map.astype(np.float32))
    files["map"] = str(out / "map.npy")
    save_png(out / "overlay.png", overlay(res.image, res.map, alpha, cmap, signed=res.signed))
    files["overlay"] = str(out / "overlay.png")
    save_png(out / "colorbar.png", colorbar(cmap, res.signed, display_scale(res.map)))
    files["colorbar"] = str(out / "colorbar.png")
    if res.joint_maps:
        names = list(res.joint_maps)
        save_npy(out / "joint_maps.npy", np.stack([res.joint_maps[n] for n in names]).astype(np.float32))
        write_text(out / "joint_names.json", json.dumps(names))
        files["joint_maps"] = str(out / "joint_maps.npy")
    if res.curves:
        rows = ["curve,step,fraction,score"]
        for k, c in res.curves.items():
            for i, (fr, s) in enumerate(zip(c.fractions, c.scores)):
                rows.append(f"{k},{i},{fr:.6f},{s:.8g}")
        write_text(out / "curves.csv", "\n".join(rows) + "\n")
        files["curves"] = str(out / "curves.csv")
    if res.indices:
        joints = list(next(iter(res.indices.values())).keys())
        rows = ["joint," + ",".join(res.indices)]
        for j in joints:
            rows.append(j + "," + ",".join(f"{res.indices[k].get(j, float('nan')):.6g}" for k in res.indices))
        write_text(out / "indices.csv", "\n".join(rows) + "\n")
        files["indices"] = str(out / "indices.csv")
    mj = res.metrics_json()
    mj["display"] = {"signed": bool(res.signed), "scale": display_scale(res.map), "outlier_perc": 2.0,
                     "cmap": cmap, "note": "colours saturate at ±scale (captum's cumulative-sum clipping)"}
    write_text(out / "metrics.json", json.dumps(_jsonable(mj), indent=1))
    files["metrics"] = str(out / "metrics.json")
    return files


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        v = float(o)
        return v if np.isfinite(v) else None
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    return o


def export_all(res: AttributionResult, out_dir, alpha: float = 0.5, cmap: str = "jet") -> dict:
    """`export_result` plus the one-page HTML report (report.html)."""
    from pathlib import Path

    from .report import write_report

    files = export_result(res, out_dir, alpha, cmap)
    write_report(res, Path(out_dir) / "report.html", alpha, cmap)
    files["report"] = str(Path(out_dir) / "report.html")
    return files
