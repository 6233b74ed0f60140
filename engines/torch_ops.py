"""The torch backend of the generator's ops: the layer stack's maths on tensors.

Shapes are static (windows are masks over the region of interest), so a forward pass can
be captured once as a CUDA graph and replayed. Constants are moved to the device once and
kept: per-source arrays by their memory, small ones by value — so a forward pass after the
first copies nothing to the device, which capturing a CUDA graph requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streamfx.generator import SourceTensors
from streamfx.generator.ops import OperatorMaths, StaticShapeOps, Tensor


def import_torch() -> Any:
    """torch, imported on first use (the core install does not need it)."""
    import torch

    return torch


class TorchOps(OperatorMaths, StaticShapeOps):
    def __init__(self, src: SourceTensors, device: Any):
        super().__init__(src)
        self.t = import_torch()
        self.device = device
        self._cache: dict[tuple[Any, ...], tuple[np.ndarray, Any]] = {}
        self._image: Any = None
        self._b = 1

    # ---- numbers and constants ---------------------------------------------------------------
    def f(self, x: float) -> Tensor:
        return self.const(np.array(x, np.float32))

    def i(self, x: int) -> Tensor:
        return int(x)

    def const(self, a: np.ndarray, hint: str = "c") -> Tensor:
        a = np.asarray(a)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        if a.size <= 16:  # small: by value (they are made afresh each pass)
            key: tuple[Any, ...] = (a.dtype.str, a.shape, a.tobytes())
        else:  # per-source arrays: by memory, kept alive below so it is never reused
            key = (a.dtype.str, a.shape, a.strides, a.__array_interface__["data"][0])
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = (a, self.t.as_tensor(np.ascontiguousarray(a), device=self.device))
        return hit[1]

    # ---- elementwise ---------------------------------------------------------------------------
    def minimum(self, a: Tensor, b: Tensor) -> Tensor:
        return self.t.minimum(a, b)

    def maximum(self, a: Tensor, b: Tensor) -> Tensor:
        return self.t.maximum(a, b)

    def abs(self, x: Tensor) -> Tensor:
        return self.t.abs(x)

    def sqrt(self, x: Tensor) -> Tensor:
        return self.t.sqrt(x)

    def floor(self, x: Tensor) -> Tensor:
        return self.t.floor(x)

    def ceil(self, x: Tensor) -> Tensor:
        return self.t.ceil(x)

    def round(self, x: Tensor) -> Tensor:
        return self.t.round(x)  # half to even

    def trunc(self, x: Tensor) -> Tensor:
        return self.t.trunc(x)

    def clip(self, x: Tensor, lo: float, hi: float) -> Tensor:
        return self.t.clamp(x, float(np.float32(lo)), float(np.float32(hi)))

    def clip_int(self, x: Tensor, lo: int, hi: int) -> Tensor:
        return self.t.clamp(x, lo, hi)

    def gt(self, a: Tensor, b: Tensor) -> Tensor:
        return a > b

    def lt(self, a: Tensor, b: Tensor) -> Tensor:
        return a < b

    def ge(self, a: Tensor, b: Tensor) -> Tensor:
        return a >= b

    def logical_and(self, a: Tensor, b: Tensor) -> Tensor:
        return a & b

    def where(self, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return self.t.where(cond, a, b)

    def to_float(self, x: Tensor) -> Tensor:
        return x.float()

    def to_int(self, x: Tensor) -> Tensor:
        return x.long()

    # ---- gathers, reductions, layout -------------------------------------------------------
    def gather(self, x: Tensor, idx: Tensor, axis: int) -> Tensor:
        axis %= x.dim()
        return x[(slice(None),) * axis + (idx,)]

    def reduce_sum(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return x.sum(dim=tuple(axes), keepdim=True)

    def reduce_min(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return x.amin(dim=tuple(axes), keepdim=True)

    def reduce_max(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return x.amax(dim=tuple(axes), keepdim=True)

    def slice(self, x: Tensor, start: int, end: int, axis: int = -1) -> Tensor:
        axis %= x.dim()
        return x.narrow(axis, start, min(end, x.shape[axis]) - start)

    def reshape(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        return x.reshape([x.shape[k] if s == 0 else s for k, s in enumerate(shape)])

    def transpose(self, x: Tensor, perm: Sequence[int]) -> Tensor:
        return x.permute(*perm)

    def squeeze(self, x: Tensor, axis: int) -> Tensor:
        return x.squeeze(axis)

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        return self.t.matmul(a, b)

    # ---- the frame -------------------------------------------------------------------------
    def landmarks(self, target: Tensor) -> Tensor:
        self._b = int(target.shape[0])
        return target[..., :2]

    def point(self, target: Tensor, index: int) -> tuple[Tensor, Tensor]:
        p = target[:, index]
        return p[:, 0].reshape(-1, 1, 1), p[:, 1].reshape(-1, 1, 1)

    def batch_offsets(self, n: int) -> Tensor:
        return (self.t.arange(self._b, device=self.device) * n).reshape(-1, 1, 1)

    def end_overlays(self, canvas: Tensor, region: Tensor) -> Tensor:
        return self.t.cat([canvas, region[3:]], dim=0) if self.src.image.shape[2] == 4 else canvas

    def assemble(self, region: Tensor) -> Tensor:
        x0, y0, x1, y1 = self.src.roi
        if self._image is None:
            self._image = self.t.as_tensor(self.src.image, device=self.device)
        out = self._image.unsqueeze(0).repeat(region.shape[1], 1, 1, 1)
        out[:, y0:y1, x0:x1] = region.to(self.t.uint8).permute(1, 2, 3, 0)
        return out
