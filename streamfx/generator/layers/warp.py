"""The warp: forward motion field → backward map → the portrait's region of interest, warped.

1. The forward field is inverted on the coarse grid by fixed-point iteration in *offset*
   form, y ← −d(p + y) with y = x − p (bilinear sampling by gathers), so float32 keeps the
   precision and zero motion is exactly the identity.
2. The coarse backward offsets are resized to the region (``cv2.resize`` INTER_LINEAR) and
   added to each pixel's coordinates: offsets, not positions, are upsampled, so the
   region's edges, where the mask is zero, stay exactly put.
3. The portrait is remapped (``cv2.remap`` INTER_LINEAR, BORDER_REPLICATE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import INVERT_ITERATIONS
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.ops.base import Ops, Tensor


@dataclass(frozen=True)
class WarpConsts:
    grid_u: np.ndarray  # 1×G×1 column index of each coarse grid point
    grid_v: np.ndarray  # 1×G×1 row index
    sx: float  # grid spacing, source pixels
    sy: float
    gh: int
    gw: int


class WarpLayer(Layer):
    name = "warp"
    kind = "warp"
    stage = "invert"

    def prepare(self, src: SourceBasics) -> WarpConsts:
        gh, gw = src.grid_shape
        grid = src.grid.astype(np.float32)
        jj, ii = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        return WarpConsts(
            grid_u=jj.reshape(1, -1, 1), grid_v=ii.reshape(1, -1, 1),
            sx=float(np.float32((grid[0, -1, 0] - grid[0, 0, 0]) / (gw - 1))),
            sy=float(np.float32((grid[-1, 0, 1] - grid[0, 0, 1]) / (gh - 1))),
            gh=gh, gw=gw)

    def apply(self, ops: Ops, k: WarpConsts, frame: Frame) -> None:
        coarse = invert(ops, k, frame.displacement)
        ops.set_stage("resize")
        mapping = ops.upsample(coarse)
        ops.set_stage("remap")
        frame.region = ops.remap(mapping)


def invert(ops: Ops, k: WarpConsts, disp: Tensor) -> Tensor:
    """Backward offsets ``B×gh×gw×2`` of a forward field ``B×G×2``: output grid point p samples
    the source at p + offset."""
    gh, gw = k.gh, k.gw
    boff = ops.batch_offsets(gh * gw)  # B×1×1
    flat = ops.reshape(disp, (-1, 2))  # (B·G)×2
    gx, gy = ops.const(k.grid_u, "grid_u"), ops.const(k.grid_v, "grid_v")
    offset = ops.neg(disp)
    for _ in range(INVERT_ITERATIONS):
        u = ops.clip(ops.add(gx, ops.div(ops.slice(offset, 0, 1), ops.f(k.sx))), 0.0, gw - 1)
        v = ops.clip(ops.add(gy, ops.div(ops.slice(offset, 1, 2), ops.f(k.sy))), 0.0, gh - 1)
        u0 = ops.minimum(ops.floor(u), ops.f(gw - 2))
        v0 = ops.minimum(ops.floor(v), ops.f(gh - 2))
        fu, fv = ops.sub(u, u0), ops.sub(v, v0)
        base = ops.add(ops.to_int(ops.add(ops.mul(v0, ops.f(gw)), u0)), boff)
        base = ops.squeeze(base, 2)  # B×G

        def tap(delta: int, base: Tensor = base) -> Tensor:
            return ops.gather(flat, ops.add(base, ops.i(delta)), axis=0)

        f00, f01, f10, f11 = tap(0), tap(1), tap(gw), tap(gw + 1)
        one_u, one_v = ops.sub(ops.f(1.0), fu), ops.sub(ops.f(1.0), fv)
        top = ops.add(ops.mul(f00, one_u), ops.mul(f01, fu))
        bottom = ops.add(ops.mul(f10, one_u), ops.mul(f11, fu))
        offset = ops.neg(ops.add(ops.mul(top, one_v), ops.mul(bottom, fv)))
    return ops.reshape(offset, (0, gh, gw, 2))
