"""The generator's layer stack as one ONNX graph: the ONNX backend of the generator's ops.

:class:`OnnxOps` implements :class:`~streamfx.generator.ops.base.Ops` by adding nodes to
a graph; :func:`build_graph` runs the source's layer stack on it once, so the graph is the
per-frame generator with everything that depends only on the source portrait baked in as
initialisers. The only per-frame input is the target landmarks.

Inputs
    ``target``  float32 ``[B, 478, 3]`` — target landmarks in source-image pixels (x, y, z;
    z is ignored). ``B`` is dynamic: B poses of the same portrait rendered at once.

Outputs
    ``frame``   uint8 ``[B, H, W, C]`` — the animated portrait, same size and channels (RGB or
    RGBA) as the prepared source image.

Node names carry their stage (``motion``, ``invert``, ``resize``, ``remap``, ``layers``,
``assemble``): TensorRT lets only ``layers/`` run in FP16. The graph uses opset 17
operators that ONNX Runtime and TensorRT 10 both implement (MatMul, Gather, Slice,
elementwise maths, Reduce*, Where, Concat, Expand, Cast) — no GridSample, no Resize, no
float64. The frame filters (colour match, sharpen) are not part of it: engines apply them
on the CPU after the graph (see :mod:`engines.base`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streamfx.generator import GeneratorSettings, SourceTensors
from streamfx.generator.ops import StaticShapeOps, Tensor

OPSET = 17
INPUT_NAME = "target"
OUTPUT_NAME = "frame"


class GraphBuilder:
    """A minimal ONNX graph builder: unique names, initialisers, nodes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0
        self.stage = "motion"  # node names carry their stage: TensorRT pins precision by it
        self._consts: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray | np.generic | float | int | list[int], hint: str = "c",
              dtype: type | None = None) -> str:
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        key = (arr.dtype.str, arr.tobytes(), arr.shape)
        if arr.size <= 16 and key in self._consts:  # share small constants
            return self._consts[key]
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        if arr.size <= 16:
            self._consts[key] = name
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{self.stage}/{out}", **attrs))
        return out

    def ints(self, values: Sequence[int]) -> str:
        return self.const(list(values), dtype=np.int64)


class OnnxOps(StaticShapeOps):
    """Each operation adds nodes to ``g``; values are the names of graph values."""

    def __init__(self, src: SourceTensors, g: GraphBuilder):
        super().__init__(src)
        self.g = g
        self._batch: str | None = None

    def set_stage(self, name: str) -> None:
        self.g.stage = name

    # ---- numbers and constants ---------------------------------------------------------------
    def f(self, x: float) -> Tensor:
        return self.g.const(np.float32(x))

    def i(self, x: int) -> Tensor:
        return self.g.const(np.int64(x))

    def const(self, a: np.ndarray, hint: str = "c") -> Tensor:
        return self.g.const(a, hint)

    # ---- elementwise ---------------------------------------------------------------------------
    def add(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Add", a, b)

    def sub(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Sub", a, b)

    def mul(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Mul", a, b)

    def div(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Div", a, b)

    def minimum(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Min", a, b)

    def maximum(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Max", a, b)

    def neg(self, x: Tensor) -> Tensor:
        return self.g.op("Neg", x)

    def abs(self, x: Tensor) -> Tensor:
        return self.g.op("Abs", x)

    def sqrt(self, x: Tensor) -> Tensor:
        return self.g.op("Sqrt", x)

    def floor(self, x: Tensor) -> Tensor:
        return self.g.op("Floor", x)

    def ceil(self, x: Tensor) -> Tensor:
        return self.g.op("Ceil", x)

    def round(self, x: Tensor) -> Tensor:
        return self.g.op("Round", x)

    def trunc(self, x: Tensor) -> Tensor:  # no Trunc in ONNX: a cast to int32 and back
        return self.to_float(self.g.op("Cast", x, to=TensorProto.INT32))

    def clip(self, x: Tensor, lo: float, hi: float) -> Tensor:
        return self.g.op("Clip", x, self.f(lo), self.f(hi))

    def clip_int(self, x: Tensor, lo: int, hi: int) -> Tensor:
        return self.g.op("Clip", x, self.i(lo), self.i(hi))

    def gt(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Greater", a, b)

    def lt(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Less", a, b)

    def ge(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("GreaterOrEqual", a, b)

    def logical_and(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("And", a, b)

    def where(self, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("Where", cond, a, b)

    def to_float(self, x: Tensor) -> Tensor:
        return self.g.op("Cast", x, to=TensorProto.FLOAT)

    def to_int(self, x: Tensor) -> Tensor:
        return self.g.op("Cast", x, to=TensorProto.INT64)

    # ---- gathers, reductions, layout -------------------------------------------------------
    def gather(self, x: Tensor, idx: Tensor, axis: int) -> Tensor:
        return self.g.op("Gather", x, idx, axis=axis)

    def reduce_sum(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return self.g.op("ReduceSum", x, self.g.ints(axes), keepdims=1)

    def reduce_min(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return self.g.op("ReduceMin", x, axes=list(axes), keepdims=1)

    def reduce_max(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return self.g.op("ReduceMax", x, axes=list(axes), keepdims=1)

    def slice(self, x: Tensor, start: int, end: int, axis: int = -1) -> Tensor:
        return self.g.op("Slice", x, self.g.ints([start]), self.g.ints([end]), self.g.ints([axis]))

    def reshape(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        return self.g.op("Reshape", x, self.g.ints(shape))

    def transpose(self, x: Tensor, perm: Sequence[int]) -> Tensor:
        return self.g.op("Transpose", x, perm=list(perm))

    def squeeze(self, x: Tensor, axis: int) -> Tensor:
        return self.g.op("Squeeze", x, self.g.ints([axis]))

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        return self.g.op("MatMul", a, b)

    # ---- the frame -------------------------------------------------------------------------
    def landmarks(self, target: Tensor) -> Tensor:
        tgt2 = self.slice(target, 0, 2)  # B×478×2
        self._batch = self.gather(self.g.op("Shape", target), self.g.ints([0]), axis=0)  # [B]
        return tgt2

    def batch_offsets(self, n: int) -> Tensor:
        assert self._batch is not None, "landmarks() first"
        b = self.g.op("Squeeze", self._batch, self.g.ints([0]))
        boff = self.mul(self.g.op("Range", self.i(0), b, self.i(1)), self.i(n))
        return self.reshape(boff, (-1, 1, 1))

    def end_overlays(self, canvas: Tensor, region: Tensor) -> Tensor:
        if self.src.image.shape[2] == 4:  # the warped alpha, untouched by the overlays
            return self.g.op("Concat", canvas, self.slice(region, 3, 4, axis=0), axis=0)
        return canvas

    def assemble(self, region: Tensor) -> Tensor:
        assert self._batch is not None, "landmarks() first"
        batch = self._batch
        g, src = self.g, self.src
        h, w, c = src.image.shape
        x0, y0, x1, y1 = src.roi
        region = self.transpose(self.g.op("Cast", region, to=TensorProto.UINT8), (1, 2, 3, 0))  # B×rh×rw×C

        def still(part: np.ndarray, hint: str) -> str:
            ph, pw = part.shape[:2]
            shp = g.op("Concat", batch, g.ints([ph, pw, c]), axis=0)
            return g.op("Expand", g.const(np.ascontiguousarray(part)[None], hint), shp)

        img = src.image
        row = [region]
        if x0 > 0:
            row.insert(0, still(img[y0:y1, :x0], "still_left"))
        if x1 < w:
            row.append(still(img[y0:y1, x1:], "still_right"))
        middle = g.op("Concat", *row, axis=2) if len(row) > 1 else region
        col = [middle]
        if y0 > 0:
            col.insert(0, still(img[:y0], "still_top"))
        if y1 < h:
            col.append(still(img[y1:], "still_bottom"))
        return g.op("Concat", *col, axis=1) if len(col) > 1 else middle


def build_graph(src: SourceTensors, settings: GeneratorSettings | None = None, *,
                name: str = "streamfx_generator") -> onnx.ModelProto:
    """The per-frame generator for ``src`` (its stack's layers enabled by ``settings``) as an
    ONNX model (see the module docstring)."""
    g = GraphBuilder()
    ops = OnnxOps(src, g)
    out = src.stack.run(ops, src, settings or GeneratorSettings(), INPUT_NAME)
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME]))
    h, w, c = src.image.shape
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["B", 478, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.UINT8, ["B", h, w, c])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="streamfx", doc_string=__doc__ or "")
    model.ir_version = 8  # readable by ONNX Runtime ≥ 1.14 and TensorRT 10
    return model


def graph_hash(model: onnx.ModelProto) -> str:
    """A short content hash of a graph (engine caches are keyed by it)."""
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()[:16]
