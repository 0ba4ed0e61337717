"""A minimal reader for TFLite flatbuffers, built on the `flatbuffers` runtime only.

The MediaPipe pose model ships as a .tflite file. To rebuild it as a differentiable torch graph we need
its tensors, constant buffers and operators with their options — a small, fixed part of the TFLite
schema. Reading those fields directly (vtable slots from tensorflow/lite/schema/schema.fbs) avoids a
dependency on TensorFlow, onnx converters or the `tflite` package; `flatbuffers` already comes with
mediapipe. Only what the pose models use is decoded; anything else raises a clear error upstream.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# BuiltinOperator codes (schema.fbs) for the operators we decode by name.
BUILTIN_OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
               5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D",
               18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX",
               34: "PAD", 124: "DENSIFY"}
# TensorType → numpy dtype
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


class _Table:
    """Field access on one flatbuffer table by slot index (field i lives at vtable offset 4 + 2i)."""

    def __init__(self, buf: bytes, pos: int):
        import flatbuffers

        self.t = flatbuffers.table.Table(buf, pos)
        self.buf = buf

    def _off(self, slot: int) -> int:
        return self.t.Offset(4 + 2 * slot)

    def scalar(self, slot: int, flags, default=0):
        o = self._off(slot)
        return self.t.Get(flags, o + self.t.Pos) if o else default

    def string(self, slot: int) -> str:
        o = self._off(slot)
        return self.t.String(o + self.t.Pos).decode("utf-8") if o else ""

    def vector_len(self, slot: int) -> int:
        o = self._off(slot)
        return self.t.VectorLen(o) if o else 0

    def vector_numpy(self, slot: int, dtype) -> np.ndarray:
        o = self._off(slot)
        if not o:
            return np.zeros(0, dtype)
        start = self.t.Vector(o)
        n = self.t.VectorLen(o)
        return np.frombuffer(self.buf, dtype=np.dtype(dtype).newbyteorder("<"), count=n, offset=start).astype(dtype)

    def table_at(self, slot: int, i: int) -> "_Table":
        o = self._off(slot)
        pos = self.t.Vector(o) + 4 * i
        return _Table(self.buf, self.t.Indirect(pos))

    def union(self, slot: int) -> "_Table | None":
        o = self._off(slot)
        if not o:
            return None
        return _Table(self.buf, self.t.Indirect(o + self.t.Pos))


@dataclass
class TFTensor:
    name: str
    shape: list[int]
    dtype: type
    data: np.ndarray | None  # constant data (reshaped), None for activations


@dataclass
class TFOperator:
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class TFLiteGraph:
    tensors: list[TFTensor]
    operators: list[TFOperator]
    inputs: list[int]
    outputs: list[int]
    description: str = ""

    def op_counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for o in self.operators:
            c[o.op] = c.get(o.op, 0) + 1
        return c


def _options(op: str, t: _Table | None) -> dict:
    import flatbuffers.number_types as N

    if t is None:
        return {}
    i32, i8, b = N.Int32Flags, N.Int8Flags, N.BoolFlags
    if op == "CONV_2D":
        return {"padding": t.scalar(0, i8), "stride_w": t.scalar(1, i32), "stride_h": t.scalar(2, i32),
                "activation": t.scalar(3, i8), "dilation_w": t.scalar(4, i32, 1), "dilation_h": t.scalar(5, i32, 1)}
    if op == "DEPTHWISE_CONV_2D":
        return {"padding": t.scalar(0, i8), "stride_w": t.scalar(1, i32), "stride_h": t.scalar(2, i32),
                "depth_multiplier": t.scalar(3, i32), "activation": t.scalar(4, i8),
                "dilation_w": t.scalar(5, i32, 1), "dilation_h": t.scalar(6, i32, 1)}
    if op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        return {"padding": t.scalar(0, i8), "stride_w": t.scalar(1, i32), "stride_h": t.scalar(2, i32),
                "filter_w": t.scalar(3, i32), "filter_h": t.scalar(4, i32), "activation": t.scalar(5, i8)}
    if op in ("ADD", "MUL"):
        return {"activation": t.scalar(0, i8)}
    if op == "RESIZE_BILINEAR":
        return {"align_corners": bool(t.scalar(2, b)), "half_pixel_centers": bool(t.scalar(3, b))}
    if op == "RESHAPE":
        return {"new_shape": t.vector_numpy(0, np.int32).tolist()}
    if op == "CONCATENATION":
        return {"axis": t.scalar(0, i32), "activation": t.scalar(1, i8)}
    if op == "DEPTH_TO_SPACE":
        return {"block_size": t.scalar(0, i32)}
    return {}


def _densify(values: np.ndarray, shape: list[int], sp: _Table, name: str) -> np.ndarray:
    """Dense array of a sparse constant (SparsityParameters: traversal_order 0, block_map 1, dim_metadata 2).

    Supports what TFLite's converter writes for pruned conv weights: dimensions in storage order, no block
    map, every dimension DENSE except trailing SPARSE_CSR ones (DimensionMetadata: format 0, dense_size 1,
    array_segments_type 2, array_segments 3, array_indices_type 4, array_indices 5; index vectors are
    Int32Vector / Uint16Vector / Uint8Vector tables holding `values` in slot 0).
    """
    import flatbuffers.number_types as N

    order = sp.vector_numpy(0, np.int32).tolist()
    if sp.vector_len(1) or order != list(range(len(shape))):
        raise ValueError(f"tensor {name!r}: block-sparse or reordered sparse constants are not supported")
    index_dtype = {1: np.int32, 2: np.uint16, 3: np.uint8}

    def index_vector(dm: _Table, type_slot: int, slot: int) -> np.ndarray:
        kind = dm.scalar(type_slot, N.Uint8Flags)
        vec = dm.union(slot)
        if kind not in index_dtype or vec is None:
            raise ValueError(f"tensor {name!r}: sparse index vector type {kind} is not supported")
        return vec.vector_numpy(0, index_dtype[kind]).astype(np.int64)

    # positions: flat index over the dims processed so far, for each stored value (or each dense row)
    pos = np.zeros(1, np.int64)
    for d in range(sp.vector_len(2)):
        dm = sp.table_at(2, d)
        size = shape[d]
        if dm.scalar(0, N.Int8Flags) == 0:  # DENSE
            pos = (pos[:, None] * size + np.arange(size)[None, :]).reshape(-1)
        else:  # SPARSE_CSR: segments over the parent positions, column indices per stored value
            seg = index_vector(dm, 2, 3)
            idx = index_vector(dm, 4, 5)
            if len(seg) != len(pos) + 1 or seg[-1] != len(idx):
                raise ValueError(f"tensor {name!r}: sparse segments do not match its shape")
            parent = np.repeat(pos, np.diff(seg))
            pos = parent * size + idx
    if len(pos) != len(values):
        raise ValueError(f"tensor {name!r}: {len(values)} stored values for {len(pos)} sparse positions")
    dense = np.zeros(int(np.prod(shape)), values.dtype)
    dense[pos] = values
    return dense


def read_tflite(data: bytes) -> TFLiteGraph:
    """Parse a .tflite model's first subgraph: tensors (with constants), operators and their options."""
    import flatbuffers
    import flatbuffers.number_types as N

    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (missing TFL3 identifier)")
    root = _Table(data, flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0))
    # Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4
    codes = []
    for i in range(root.vector_len(1)):
        oc = root.table_at(1, i)  # OperatorCode: deprecated_builtin_code 0 (int8), builtin_code 3 (int32)
        codes.append(max(oc.scalar(0, N.Int8Flags), oc.scalar(3, N.Int32Flags)))
    buffers = []
    for i in range(root.vector_len(4)):
        bt = root.table_at(4, i)  # Buffer: data 0 ([ubyte])
        buffers.append(bt.vector_numpy(0, np.uint8))
    if root.vector_len(2) < 1:
        raise ValueError("model has no subgraph")
    sg = root.table_at(2, 0)  # SubGraph: tensors 0, inputs 1, outputs 2, operators 3
    tensors = []
    for i in range(sg.vector_len(0)):
        tt = sg.table_at(0, i)  # Tensor: shape 0, type 1, buffer 2, name 3
        shape = tt.vector_numpy(0, np.int32).tolist()
        ttype = tt.scalar(1, N.Int8Flags)
        dtype = TENSOR_TYPES.get(ttype)
        bidx = tt.scalar(2, N.Uint32Flags)
        raw = buffers[bidx] if bidx < len(buffers) else np.zeros(0, np.uint8)
        arr = None
        if raw.size:
            if dtype is None:
                raise ValueError(f"tensor {tt.string(3)!r} has unsupported type {ttype}")
            arr = np.frombuffer(raw.tobytes(), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
            sparsity = tt.union(6)  # Tensor.sparsity: stored compressed, densified here (the DENSIFY op's job)
            if sparsity is not None:
                arr = _densify(arr, shape, sparsity, tt.string(3))
            arr = arr.reshape(shape) if shape else arr
        tensors.append(TFTensor(tt.string(3), shape, dtype, arr))
    ops = []
    for i in range(sg.vector_len(3)):
        ot = sg.table_at(3, i)  # Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, options 4
        code = codes[ot.scalar(0, N.Uint32Flags)]
        name = BUILTIN_OPS.get(code, f"BUILTIN_{code}")
        ops.append(TFOperator(name, ot.vector_numpy(1, np.int32).tolist(), ot.vector_numpy(2, np.int32).tolist(),
                              _options(name, ot.union(4))))
    return TFLiteGraph(tensors, ops, sg.vector_numpy(1, np.int32).tolist(), sg.vector_numpy(2, np.int32).tolist(),
                       root.string(3))
