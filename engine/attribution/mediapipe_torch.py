"""MediaPipe's pose landmark model, rebuilt as a differentiable torch module from its bundled .tflite.

Why: PoseIG needs ∂(joint likelihood)/∂(input pixels) through a real pose estimator, and the only pose
weights that install offline are the TFLite files inside the mediapipe wheel — the TFLite interpreter
gives no gradients. The graph is small (nine operator kinds: CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD,
RESIZE_BILINEAR, MAX_POOL_2D, RESHAPE, LOGISTIC, DEQUANTIZE of float16 weights), so each operator maps to
one torch call; the float16 weights are dequantised exactly to float32. Activations run NCHW; TFLite's
NHWC conventions are handled where they matter (weight layout, SAME padding with the extra pixel at the
end, RESHAPE flattening order, PAD axes). `reference_outputs` runs the original model through
mediapipe's own InferenceCalculator so tests can verify the rebuild output by output.
Input: N×3×256×256 RGB in [0, 1] (a person crop). Outputs (see `OUTPUTS`): 39 landmarks × (x, y, z,
visibility, presence) in crop pixels, person presence, segmentation logits, 64×64 heatmaps (39), world
landmarks. The first 33 landmarks are BlazePose's.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .tflite_reader import TFLiteGraph, read_tflite

OUTPUTS = {"Identity": "landmarks", "Identity_1": "presence", "Identity_2": "segmentation",
           "Identity_3": "heatmaps", "Identity_4": "world_landmarks"}

# BlazePose 33 landmark names; COCO-17 joints are a subset (index into these).
BLAZEPOSE_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index"]
COCO17_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle"]
COCO17_TO_BLAZEPOSE = [BLAZEPOSE_NAMES.index(n) for n in COCO17_NAMES]


ASSETS = Path(__file__).resolve().parents[2] / "assets" / "pose"


def bundled_model_path(name: str = "pose_landmark_full.tflite") -> Path:
    """Path of a MediaPipe .tflite: the copy shipped in assets/pose/ (Apache-2.0, see its NOTICE), else the
    one inside an installed mediapipe package (found without importing mediapipe)."""
    import importlib.util

    if (ASSETS / name).is_file():
        return ASSETS / name
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the mediapipe package is not installed")
    sub = "pose_detection" if name.startswith("pose_detection") else "pose_landmark"
    p = Path(list(spec.submodule_search_locations)[0]) / "modules" / sub / name
    if not p.is_file():
        raise FileNotFoundError(f"{p} is missing from the mediapipe package")
    return p


def _same_pad(h: int, w: int, kh: int, kw: int, sh: int, sw: int, dh: int = 1, dw: int = 1) -> tuple:
    """TensorFlow SAME padding (left, right, top, bottom): the odd extra pixel goes at the end."""
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh, ow = -(-h // sh), -(-w // sw)
    ph = max((oh - 1) * sh + ekh - h, 0)
    pw = max((ow - 1) * sw + ekw - w, 0)
    return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)


_OUT_OF_PLACE = [0]  # > 0 inside `out_of_place_activations()`


@contextlib.contextmanager
def out_of_place_activations():
    """Inside: the modules' fused activations run out of place (while TorchScript traces a graph for the
    oneDNN Graph fuser, detector_torch._frozen). An in-place ReLU/ReLU6 leaves its value in the traced
    graph without a profiled type (no strides); the fuser then hands such values on in plain NCHW layout
    and, on the landmark graph, crashes (segfault, torch 2.13) where one of them meets a RESIZE + ADD in
    the heatmap branch. Traced out of place, the whole landmark graph fuses. Outside, activations stay in
    place (an allocation less per layer: the plain trace is ~5 % faster so)."""
    _OUT_OF_PLACE[0] += 1
    try:
        yield
    finally:
        _OUT_OF_PLACE[0] -= 1


def _activation(code: int):
    import torch.nn.functional as F

    # in place: every fused activation acts on a fresh operator output that nothing else holds (conv, add,
    # pool, concat), and autograd supports in-place relu/relu6 there; saves an allocation per layer
    # (out of place inside `out_of_place_activations`)
    if code == 0:
        return None
    if code == 1:
        return lambda y: F.relu(y, inplace=not _OUT_OF_PLACE[0])
    if code == 3:
        return lambda y: F.relu6(y, inplace=not _OUT_OF_PLACE[0])
    raise NotImplementedError(f"fused activation {code} is not supported")


def build_module(graph: TFLiteGraph, output_names: dict[str, str] | None = None, keep: list[str] | None = None):
    """A torch `nn.Module` executing `graph` (constants as buffers, so `.to(device)` moves them).

    `output_names` renames graph outputs (default: the landmark model's `OUTPUTS`). Besides the landmark
    model's operators this runs the person detector's DENSIFY (constants are densified by the reader),
    DEPTH_TO_SPACE, CONCATENATION and RESHAPE to any rank (batch kept as the first axis). `keep` (output
    names after renaming) drops every operator the other outputs alone need (e.g. the landmark model's
    segmentation head when only landmarks and heatmaps are wanted)."""
    names_map = OUTPUTS if output_names is None else output_names
    import torch
    import torch.nn.functional as F
    from torch import nn

    class TFLiteModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.plan = []
            const_alias: dict[int, int] = {}  # DEQUANTIZE output → constant tensor index
            consts = {i: t.data for i, t in enumerate(graph.tensors) if t.data is not None}

            def const(i):
                i = const_alias.get(i, i)
                return consts.get(i)

            nchw = set(graph.inputs)  # tensor ids held as N×C×H×W activations
            for k, op in enumerate(graph.operators):
                ins, out = op.inputs, op.outputs[0]
                o = op.options
                if op.op in ("DEQUANTIZE", "DENSIFY"):
                    if const(ins[0]) is None:
                        raise NotImplementedError(f"{op.op} of an activation")
                    const_alias[out] = const_alias.get(ins[0], ins[0])
                    continue
                if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                    w = np.asarray(const(ins[1]), np.float32)
                    b = const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
                    if op.op == "CONV_2D":
                        wt, groups = w.transpose(0, 3, 1, 2), 1  # OHWI → OIHW
                    else:
                        wt = w.transpose(3, 0, 1, 2)  # 1×kh×kw×(C·m) → (C·m)×1×kh×kw
                        groups = -1  # = input channels, known at run time
                        if o.get("depth_multiplier", 1) not in (0, 1):
                            raise NotImplementedError("depth multiplier > 1")
                    self.register_buffer(f"w{k}", torch.from_numpy(np.ascontiguousarray(wt)))
                    if b is not None:
                        self.register_buffer(f"b{k}", torch.from_numpy(np.asarray(b, np.float32).copy()))
                    self.plan.append(("conv", k, ins[0], out, dict(
                        groups=groups, stride=(o["stride_h"], o["stride_w"]), dil=(o["dilation_h"], o["dilation_w"]),
                        same=o["padding"] == 0, act=_activation(o["activation"]), bias=b is not None)))
                    nchw.add(out)
                elif op.op == "ADD":
                    operands = []
                    for i in ins[:2]:
                        c = const(i)
                        if c is None:
                            operands.append(("t", i))
                        else:
                            c = np.asarray(c, np.float32)
                            if c.ndim == 4:
                                c = c.transpose(0, 3, 1, 2)
                            elif c.ndim == 1:
                                c = c.reshape(1, -1, 1, 1)
                            self.register_buffer(f"a{k}_{i}", torch.from_numpy(np.ascontiguousarray(c)))
                            operands.append(("c", f"a{k}_{i}"))
                    self.plan.append(("add", k, operands, out, _activation(o["activation"])))
                    nchw.add(out)
                elif op.op == "PAD":
                    p = np.asarray(const(ins[1])).reshape(-1, 2).tolist()
                    if len(p) != 4 or p[0] != [0, 0]:
                        raise NotImplementedError("PAD on the batch axis or of a non-4-D tensor")
                    self.plan.append(("pad", k, ins[0], out, (p[2][0], p[2][1], p[1][0], p[1][1], p[3][0], p[3][1])))
                    nchw.add(out)
                elif op.op == "MAX_POOL_2D":
                    self.plan.append(("maxpool", k, ins[0], out, dict(
                        k=(o["filter_h"], o["filter_w"]), s=(o["stride_h"], o["stride_w"]), same=o["padding"] == 0,
                        act=_activation(o["activation"]))))
                    nchw.add(out)
                elif op.op == "RESIZE_BILINEAR":
                    if o["align_corners"] or not o["half_pixel_centers"]:
                        raise NotImplementedError("RESIZE_BILINEAR is only supported with half-pixel centres")
                    size = [int(v) for v in np.asarray(const(ins[1])).tolist()]
                    self.plan.append(("resize", k, ins[0], out, size))
                    nchw.add(out)
                elif op.op == "RESHAPE":
                    shape = graph.tensors[out].shape
                    self.plan.append(("reshape", k, ins[0], out, (ins[0] in nchw, tuple(shape[1:]))))
                elif op.op == "DEPTH_TO_SPACE":
                    self.plan.append(("d2s", k, ins[0], out, int(o["block_size"])))
                    nchw.add(out)
                elif op.op == "CONCATENATION":
                    if any(const(i) is not None for i in ins):
                        raise NotImplementedError("CONCATENATION with a constant")
                    is4 = [i in nchw for i in ins]
                    if any(is4) and not all(is4):
                        raise NotImplementedError("CONCATENATION of mixed layouts")
                    axis = o["axis"] % len(graph.tensors[out].shape)
                    if all(is4):
                        axis = (0, 2, 3, 1)[axis]  # NHWC axis → NCHW axis
                        nchw.add(out)
                    self.plan.append(("concat", k, list(ins), out, (axis, _activation(o["activation"]))))
                elif op.op == "LOGISTIC":
                    self.plan.append(("sigmoid", k, ins[0], out, None))
                    if ins[0] in nchw:
                        nchw.add(out)
                else:
                    raise NotImplementedError(f"TFLite operator {op.op} is not supported")
            self.input_id = graph.inputs[0]
            self.output_ids = list(graph.outputs)
            self.output_names = [names_map.get(graph.tensors[i].name, graph.tensors[i].name) for i in graph.outputs]
            if keep is not None:
                unknown = set(keep) - set(self.output_names)
                if unknown:
                    raise KeyError(f"no output(s) {sorted(unknown)} (outputs: {self.output_names})")
                pairs = [(n, i) for n, i in zip(self.output_names, self.output_ids) if n in keep]
                self.output_names, self.output_ids = [n for n, _ in pairs], [i for _, i in pairs]
                need = set(self.output_ids)
                kept = []
                for step in reversed(self.plan):
                    kind, _k, a, out, _p = step
                    if out not in need:
                        continue
                    kept.append(step)
                    if kind == "add":
                        need |= {t for tk, t in a if tk == "t"}
                    elif kind == "concat":
                        need |= set(a)
                    else:
                        need.add(a)
                self.plan = kept[::-1]
            self._fold_pads()
            # liveness, for inference without autograd: tensors are freed after their last use, and an ADD
            # writes into an operand that dies there when that operand owns its storage (never a view)
            self.last_use: dict[int, int] = {}
            viewed: set[int] = set()
            fresh: set[int] = set()
            for idx, (kind, _k, a, out, _p) in enumerate(self.plan):
                ins = [t for tk, t in a if tk == "t"] if kind == "add" else list(a) if kind == "concat" else [a]
                for t in ins:
                    self.last_use[t] = idx
                if kind in ("reshape", "d2s"):
                    viewed.update(ins)
                else:
                    fresh.add(out)
            self.inplace_ok = fresh - viewed - set(self.output_ids) - {self.input_id}
            self.dead_after: dict[int, list[int]] = {}
            for t, idx in self.last_use.items():
                if t not in self.output_ids:
                    self.dead_after.setdefault(idx, []).append(t)
            # which operand each ADD may write into (decided once from the graph's static shapes, batch
            # aside, instead of a broadcast check per call): 0, 1 or None
            self.add_into: dict[int, int | None] = {}
            for idx, (kind, _k, a, _out, _p) in enumerate(self.plan):
                if kind == "add":
                    self.add_into[idx] = self._inplace_operand(a, idx)

        def _fold_pads(self):
            """A PAD that zero-pads height and width symmetrically and feeds only VALID convolutions (how
            TFLite writes a stride-2 convolution with centred padding) becomes those convolutions' own
            padding: the same sums, without filling and copying a padded tensor."""
            consumers: dict[int, list[int]] = {}
            for idx, (kind, _k, a, _out, _p) in enumerate(self.plan):
                ins = [t for tk, t in a if tk == "t"] if kind == "add" else list(a) if kind == "concat" else [a]
                for t in ins:
                    consumers.setdefault(t, []).append(idx)
            drop = set()
            for idx, (kind, _k, a, out, p) in enumerate(self.plan):
                if kind != "pad" or out in self.output_ids:
                    continue
                left, right, top, bottom, c0, c1 = p
                users = consumers.get(out, [])
                if (left != right or top != bottom or c0 or c1 or not users
                        or any(self.plan[u][0] != "conv" or self.plan[u][4]["same"] or self.plan[u][2] != out
                               for u in users)):
                    continue
                for u in users:
                    ukind, uk, _ua, uout, up = self.plan[u]
                    self.plan[u] = (ukind, uk, a, uout, {**up, "valid_pad": (top, left)})
                drop.add(idx)
            self.plan = [st for i, st in enumerate(self.plan) if i not in drop]

        def _static_shape(self, operand):
            kind, ref = operand
            if kind == "c":
                return tuple(getattr(self, ref).shape[1:])
            shape = graph.tensors[ref].shape
            return tuple(shape[3:4]) + tuple(shape[1:3]) if len(shape) == 4 else tuple(shape[1:])  # NHWC → CHW

        def _inplace_operand(self, a, idx):
            """The operand of ADD step `idx` that may take the sum in place: an activation that owns its
            storage, dies at this step, differs from the other operand and already has the sum's shape."""
            for j in (0, 1):
                (k1, t1), (k2, t2) = a[j], a[1 - j]
                if k1 != "t" or t1 not in self.inplace_ok or self.last_use.get(t1) != idx or (k2 == "t" and t1 == t2):
                    continue
                s1, s2 = self._static_shape(a[j]), self._static_shape(a[1 - j])
                try:
                    if tuple(torch.broadcast_shapes(s1, s2)) == s1:
                        return j
                except RuntimeError:
                    continue
            return None

        def forward(self, x):
            """x: N×3×H×W in [0, 1] → dict of outputs (4-D outputs stay N×C×H×W)."""
            v = {self.input_id: x}
            lean = not torch.is_grad_enabled()
            for idx, (kind, k, a, out, p) in enumerate(self.plan):
                if kind == "conv":
                    t = v[a]
                    wt = getattr(self, f"w{k}")
                    pad = p.get("valid_pad", (0, 0))
                    if p["same"]:
                        l, r, tp, bt = _same_pad(t.shape[2], t.shape[3], wt.shape[2], wt.shape[3], *p["stride"], *p["dil"])
                        if l == r and tp == bt:  # symmetric: the convolution pads itself (no copy)
                            pad = (tp, l)
                        else:
                            t = F.pad(t, (l, r, tp, bt))
                    y = F.conv2d(t, wt, getattr(self, f"b{k}") if p["bias"] else None, p["stride"], pad, p["dil"],
                                 t.shape[1] if p["groups"] == -1 else 1)
                    v[out] = p["act"](y) if p["act"] else y
                elif kind == "add":
                    (ka, va), (kb, vb) = a
                    x0 = v[va] if ka == "t" else getattr(self, va)
                    x1 = v[vb] if kb == "t" else getattr(self, vb)
                    j = self.add_into[idx] if lean else None
                    y = x0 + x1 if j is None else (x0.add_(x1) if j == 0 else x1.add_(x0))
                    v[out] = p(y) if p else y
                elif kind == "pad":
                    v[out] = F.pad(v[a], p)
                elif kind == "maxpool":
                    t = v[a]
                    if p["same"]:
                        t = F.pad(t, _same_pad(t.shape[2], t.shape[3], *p["k"], *p["s"]), value=float("-inf"))
                    y = F.max_pool2d(t, p["k"], p["s"])
                    v[out] = p["act"](y) if p["act"] else y
                elif kind == "resize":
                    v[out] = F.interpolate(v[a], size=p, mode="bilinear", align_corners=False)
                elif kind == "reshape":
                    t = v[a]
                    v[out] = (t.permute(0, 2, 3, 1) if p[0] else t).reshape(t.shape[0], *p[1])  # NHWC element order
                elif kind == "d2s":  # TensorFlow DEPTH_TO_SPACE (DCR): channel = (i·b + j)·C + c
                    t = v[a]
                    n, c, h, w = t.shape
                    v[out] = t.reshape(n, p, p, c // (p * p), h, w).permute(0, 3, 4, 1, 5, 2).reshape(
                        n, c // (p * p), h * p, w * p)
                elif kind == "concat":
                    y = torch.cat([v[i] for i in a], dim=p[0])
                    v[out] = p[1](y) if p[1] else y
                elif kind == "sigmoid":
                    v[out] = torch.sigmoid(v[a])
                if lean:
                    for t in self.dead_after.get(idx, ()):
                        v.pop(t, None)
            return {n: v[i] for n, i in zip(self.output_names, self.output_ids)}

    return TFLiteModule()


_MODULES: dict[tuple[str, str], object] = {}


def load_pose_landmark_model(path: str | os.PathLike | None = None, device: str = "cpu"):
    """The MediaPipe pose landmark model as an eval-mode torch module (cached per path and device)."""
    p = Path(path) if path else bundled_model_path()
    key = (str(p), device)
    if key not in _MODULES:
        graph = read_tflite(p.read_bytes())
        m = build_module(graph).eval().to(device)
        _MODULES[key] = m
    return _MODULES[key]


def reference_outputs(images_uint8: np.ndarray, path: str | os.PathLike | None = None,
                      float_range: tuple[float, float] = (0.0, 1.0)) -> list[dict]:
    """Run the original .tflite through mediapipe's own InferenceCalculator (TFLite + XNNPACK).

    images_uint8: N×256×256×3 RGB. Returns per image a dict with the same keys as the torch module, in
    the TFLite layout flattened to 1-D (NHWC order). Needs the mediapipe package; used by tests and by the
    verification in the note, never on the attribution path.
    """
    import mediapipe as mp
    from google.protobuf import text_format
    from mediapipe.framework import calculator_pb2
    from mediapipe.python import packet_creator, packet_getter

    p = Path(path) if path else bundled_model_path()
    graph = read_tflite(p.read_bytes())
    names = [OUTPUTS.get(graph.tensors[i].name, graph.tensors[i].name) for i in graph.outputs]
    n_out = len(names)
    h, w = graph.tensors[graph.inputs[0]].shape[1:3]
    cfg = f"""
input_stream: "image"
node {{ calculator: "ImageToTensorCalculator" input_stream: "IMAGE:image" output_stream: "TENSORS:in"
  options {{ [mediapipe.ImageToTensorCalculatorOptions.ext] {{ output_tensor_width: {w} output_tensor_height: {h}
    keep_aspect_ratio: false output_tensor_float_range {{ min: {float_range[0]} max: {float_range[1]} }} }} }} }}
node {{ calculator: "InferenceCalculator" input_stream: "TENSORS:in" output_stream: "TENSORS:out"
  options {{ [mediapipe.InferenceCalculatorOptions.ext] {{ model_path: "{p}" delegate {{ xnnpack {{}} }} }} }} }}
node {{ calculator: "SplitTensorVectorCalculator" input_stream: "out"
  {' '.join(f'output_stream: "t{i}"' for i in range(n_out))}
  options {{ [mediapipe.SplitVectorCalculatorOptions.ext] {{
    {' '.join(f'ranges: {{ begin: {i} end: {i + 1} }}' for i in range(n_out))} }} }} }}
"""
    for i in range(n_out):
        cfg += f'node {{ calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:t{i}" output_stream: "FLOATS:f{i}" }}\n'
        cfg += f'output_stream: "f{i}"\n'
    config = text_format.Parse(cfg, calculator_pb2.CalculatorGraphConfig())
    g = mp.CalculatorGraph(graph_config=config)
    results: list[dict] = [dict() for _ in range(len(images_uint8))]

    def observer(i):
        def cb(_name, packet):
            results[packet.timestamp.value][names[i]] = np.array(packet_getter.get_float_list(packet), np.float32)
        return cb

    for i in range(n_out):
        g.observe_output_stream(f"f{i}", observer(i))
    g.start_run()
    for t, img in enumerate(images_uint8):
        img = np.ascontiguousarray(img, dtype=np.uint8)
        if img.shape != (h, w, 3):
            raise ValueError(f"reference input must be {h}×{w}×3 uint8")
        g.add_packet_to_input_stream("image", packet_creator.create_image_frame(
            image_format=mp.ImageFormat.SRGB, data=img).at(t))
    g.close()
    return results
