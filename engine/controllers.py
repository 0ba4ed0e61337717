"""Engine-side job factories for each workbench: given a Session and plain options, build the Job the GUI
runs and turn its result into layers. The Qt panels, the CLI and the `scenelens` Python API all call these,
so one code path decides which layers a task reads and what it produces (no GUI copy to drift).

`build(task, session, **options) -> Plan`; `Plan.job` is an engine Job, `Plan.to_layers(result)` returns the
new layers (each with its provenance). Options name layers by name or uid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .jobs import Job
from .scene import CorrespondenceSet, ImageLayer, Layer, PointCloud

_BUILDERS: dict[str, Callable[..., "Plan"]] = {}


@dataclass
class Plan:
    job: Job
    to_layers: Callable[[Any], list[Layer]]
    task: str
    params: dict


def controller(task: str):
    def deco(fn):
        _BUILDERS[task] = fn
        return fn

    return deco


def available() -> list[str]:
    return sorted(_BUILDERS)


def build(task: str, session, **options) -> Plan:
    fn = _BUILDERS.get(task)
    if fn is None:
        raise InputError(None, f"unknown task {task!r} for a session (available: {', '.join(available())})")
    plan = fn(session, **options)
    inner = plan.to_layers

    def with_provenance(result) -> list[Layer]:
        layers = inner(result)
        for lay in layers:
            lay.provenance = {"kind": "job", "task": task, "job": plan.job.name,
                              "params": {k: v for k, v in plan.params.items() if isinstance(v, (str, int, float, bool))
                                         or v is None}}
        return layers

    plan.to_layers = with_provenance
    return plan


def _layer(session, key, cls, what: str):
    if isinstance(key, Layer):
        return key
    if key is None:
        found = session.scene.of_type(cls)
        if not found:
            raise InputError(session.scene.path, f"the scene has no {what}")
        return found[0]
    lay = session.scene.get(str(key))
    if not isinstance(lay, cls):
        raise InputError(session.scene.path, f"no {what} named {key!r} (have: "
                                             f"{', '.join(x.name for x in session.scene.of_type(cls)) or 'none'})")
    return lay


@controller("preprocess")
def _preprocess(session, cloud=None, voxel: float = 0.2, k: int = 30, **_):
    from .tasks.preprocess import make_job

    pc = _layer(session, cloud, PointCloud, "point cloud")
    return Plan(make_job(pc, float(voxel), int(k), device=session.device), lambda out: [out], "preprocess",
                {"cloud": pc.name, "voxel": voxel, "k": k})


@controller("occupancy")
def _occupancy(session, grid: str = "occ3d", drop_classes=(), name: str = "LiDAR occupancy", **_):
    from .occupancy.grids import preset
    from .tasks.occupancy import make_run_job, scan_from_scene

    pcs = session.scene.of_type(PointCloud)
    if not pcs:
        raise InputError(session.scene.path, "the scene has no point cloud to voxelise")
    pc = pcs[0]
    label_set = grid
    if "label" in pc.attributes and pc.label_set and session.scene.meta.get("format") != "nuscenes-info":
        label_set = pc.label_set
    spec = preset(label_set)
    scan = scan_from_scene(session.scene, label_set, pc.name, drop_classes=drop_classes)
    return Plan(make_run_job([scan], spec, device=session.device, name=name), lambda g: [g], "occupancy",
                {"grid": label_set, "name": name})


@controller("registration")
def _registration(session, source=None, target=None, preset: str = "3dmatch", gt=None, **params):
    from .registration.pipeline import RegistrationParams, make_job

    clouds = session.scene.of_type(PointCloud)
    src = _layer(session, source, PointCloud, "source point cloud") if source is not None else \
        (clouds[0] if clouds else None)
    tgt = _layer(session, target, PointCloud, "target point cloud") if target is not None else \
        next((c for c in clouds if c is not src), None)
    if src is None or tgt is None or src is tgt:
        raise InputError(session.scene.path, "registration needs two different point clouds (source and target)")
    prm = RegistrationParams.for_preset(preset, device=session.device, **params)

    def to_layers(res) -> list[Layer]:
        T = np.asarray(res.T_refined, float)
        corr = CorrespondenceSet(name=f"correspondences {src.name} → {tgt.name}", source="job:registration",
                                 source_layer=src.uid, target_layer=tgt.uid, pairs=np.asarray(res.corr, np.int64),
                                 inlier=np.asarray(res.inlier, bool), scores=np.asarray(res.feat_dist, float),
                                 gt_inlier=res.gt_inlier)
        corr.meta.update({"transform": T, "keypoints_source": res.src_down, "keypoints_target": res.tgt_down})
        aligned = PointCloud(name=f"{src.name} (aligned)", source="job:registration", points=src.points,
                             label_set=src.label_set, frame=tgt.frame)
        aligned.transform = T
        return [aligned, corr]

    return Plan(make_job(src, tgt, prm, gt=gt, name=f"Register {src.name} → {tgt.name}"), to_layers, "registration",
                {"source": src.name, "target": tgt.name, "preset": preset, **params})


@controller("pose")
def _pose(session, image=None, model: str | None = "mediapipe", every: int = 1, **_):
    from .pose.run import make_job
    from .tasks.pose import load_pose_model

    lay = _layer(session, image, ImageLayer, "image or video")
    if not lay.path:
        raise InputError(session.scene.path, f"image layer {lay.name!r} has no file to run on")
    adapter = load_pose_model(model, session.device)
    return Plan(make_job(lay.path, adapter, int(every)), lambda run: list(run.skeletons()), "pose",
                {"image": lay.name, "model": model, "every": every})


@controller("attribution")
def _attribution(session, image=None, method: str = "ig", target=None, model: str | None = None, steps: int = 64,
                 **_):
    from .attribution.pipeline import AttributionOptions, make_job
    from .scene import AttributionMap

    lay = _layer(session, image, ImageLayer, "image")
    if lay.image is None:
        raise InputError(session.scene.path, f"image layer {lay.name!r} holds no pixels (a video?)")

    def to_layers(res) -> list[Layer]:
        am = AttributionMap(name=f"{res.method} → {res.target_name}", source="job:attribution",
                            scores=np.asarray(res.map, np.float32), target=res.target_name, method=res.method,
                            on_layer=lay.uid)
        am.meta["metrics"] = {k: v for k, v in res.metrics.items() if isinstance(v, (int, float, str))}
        return [am]

    opts = AttributionOptions(steps=int(steps))
    return Plan(make_job(lay.image, method, target, model, opts, session.device), to_layers, "attribution",
                {"image": lay.name, "method": method, "target": target, "model": model, "steps": steps})
