"""The warp: forward motion field → backward map → the portrait's region of interest, warped.

1. The forward field is inverted on the coarse grid by Newton's method in *offset* form,
   solving y + d(p + y) = 0 for y = x − p (d and the cell's Jacobian from each cell's bilinear
   coefficients, gathered: :func:`invert`), so float32 keeps the precision and zero motion is exactly the
   identity. Only the grid points the motion layer can move are solved for (a point the field
   leaves still keeps the offset 0 exactly: its residual is 0 from the start), and the rest get
   0 by the same gather the motion layer spreads its rows with (a third of the grid on a
   head-and-shoulders portrait).
2. The coarse backward offsets are resized to the region (``cv2.resize`` INTER_LINEAR) and
   added to each pixel's coordinates: offsets, not positions, are upsampled, so the
   region's edges, where the mask is zero, stay exactly put.
3. The head layer (the portrait premultiplied, and its transparency) is remapped
   (``cv2.remap`` INTER_LINEAR, BORDER_REPLICATE) and put over the unwarped background plate
   (:mod:`streamfx.generator.head`): the background never bends, and where the map is the
   identity the result is the portrait exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    INVERT_ITERATIONS,
    NEWTON_MAX_STEP,
    NEWTON_MIN_DET,
    NEWTON_REACH,
    NORM_EPSILON,
)
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.motion import MotionConsts
from streamfx.generator.ops.base import Ops, Tensor


@dataclass(frozen=True)
class WarpConsts:
    grid_u: np.ndarray  # 1×G×1 column index of each coarse grid point
    grid_v: np.ndarray  # 1×G×1 row index
    sx: float  # grid spacing, source pixels
    sy: float
    gh: int
    gw: int
    max_shift: float  # the field's clamp: no inverse offset is longer
    rows: np.ndarray | None  # M: the grid points the field may move (None: all of them)
    spread: np.ndarray  # G: each grid point's row among the M (0 for a still one)
    still: np.ndarray  # 1×G×1 float32: 0 where a grid point never moves, else 1


class WarpLayer(Layer):
    name = "warp"
    kind = "warp"
    stage = "invert"

    def prepare(self, src: SourceBasics) -> WarpConsts:
        gh, gw = src.grid_shape
        grid = src.grid.astype(np.float32)
        jj, ii = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        # the motion layer (the only field layer, prepared before the warp) says which grid
        # points its field can move at all; without it, every point is solved for
        motion = src.consts.get("motion")
        if isinstance(motion, MotionConsts):
            rows, spread, still = motion.rows, motion.moving, motion.still
        else:
            rows, spread, still = None, np.arange(gh * gw, dtype=np.int64), np.ones((1, gh * gw, 1), np.float32)
        pick = slice(None) if rows is None else rows
        return WarpConsts(
            grid_u=np.ascontiguousarray(jj.reshape(1, -1, 1)[:, pick]),
            grid_v=np.ascontiguousarray(ii.reshape(1, -1, 1)[:, pick]),
            rows=rows, spread=spread, still=still,
            sx=float(np.float32((grid[0, -1, 0] - grid[0, 0, 0]) / (gw - 1))),
            sy=float(np.float32((grid[-1, 0, 1] - grid[0, 0, 1]) / (gh - 1))),
            gh=gh, gw=gw, max_shift=src.max_shift)

    def apply(self, ops: Ops, k: WarpConsts, frame: Frame) -> None:
        coarse = invert(ops, k, frame.displacement)
        ops.set_stage("resize")
        mapping = ops.upsample(coarse)
        ops.set_stage("remap")
        # the head layer moved by the map over the still background plate
        frame.region = ops.over_plate(ops.remap_layer(mapping))


def invert(ops: Ops, k: WarpConsts, disp: Tensor) -> Tensor:
    """Backward offsets ``B×gh×gw×2`` of a forward field ``B×G×2``: output grid point p samples
    the source at p + offset, where offset + d(p + offset) = 0.

    Newton's method from offset = −d(p), with d and its Jacobian J bilinear in the cell that
    p + offset falls in (the cell's four bilinear coefficients per component, worked out once
    per frame and gathered at each step; in grid cells, where Newton's step and det(I + J) are
    what they are in pixels): offset ← offset − (I + J)⁻¹ (offset + d). The
    plain fixed point (offset ← −d(p + offset)) converges only where the field stretches less
    than twofold; an opening mouth stretches the lips more, and that iteration oscillated
    between the lips' old and new places — a ghost of the upper lip above the mouth. Where a
    cell folds (det(I + J) ≤ :data:`NEWTON_MIN_DET`) the fixed-point step is taken; a step
    moves at most :data:`NEWTON_REACH` × the residual, within :data:`NEWTON_MAX_STEP` cells
    (near a fold the linearisation overshoots),
    and no offset is longer than the field's own clamp."""
    gh, gw = k.gh, k.gw
    cw = gw - 1  # cells along a row
    boff = ops.batch_offsets((gh - 1) * cw)  # B×1×1
    one = ops.f(1.0)
    # in grid cells throughout (Newton's step is the same in any linear units; det(I + J) too):
    # each component of d per cell as its bilinear coefficients, d = c + cu·fu + cv·fv + cuv·fu·fv,
    # flat (B·cells): a step gathers four per component, not four corners to combine
    tables = []
    for comp, size in ((0, k.sx), (1, k.sy)):
        d = ops.mul(ops.reshape(ops.slice(disp, comp, comp + 1), (0, gh, gw)), ops.f(1.0 / size))  # B×gh×gw
        top, bottom = ops.slice(d, 0, gh - 1, axis=1), ops.slice(d, 1, gh, axis=1)
        d00, d01 = ops.slice(top, 0, cw, axis=2), ops.slice(top, 1, gw, axis=2)
        d10, d11 = ops.slice(bottom, 0, cw, axis=2), ops.slice(bottom, 1, gw, axis=2)
        cu, cv = ops.sub(d01, d00), ops.sub(d10, d00)
        cuv = ops.sub(ops.sub(d11, d10), cu)
        tables.append(tuple(ops.reshape(c, (-1,)) for c in (d00, cu, cv, cuv)))
    gx, gy = ops.const(k.grid_u, "grid_u"), ops.const(k.grid_v, "grid_v")
    # solved at the M points that can move; the field is sampled anywhere on the grid
    moves = disp if k.rows is None else ops.gather(disp, ops.const(k.rows, "warp_rows"), axis=1)
    ox = ops.mul(ops.slice(moves, 0, 1), ops.f(-1.0 / k.sx))  # B×M×1 each, cells
    oy = ops.mul(ops.slice(moves, 1, 2), ops.f(-1.0 / k.sy))
    for _ in range(INVERT_ITERATIONS):
        u = ops.clip(ops.add(gx, ox), 0.0, gw - 1)
        v = ops.clip(ops.add(gy, oy), 0.0, gh - 1)
        u0 = ops.minimum(ops.floor(u), ops.f(gw - 2))
        v0 = ops.minimum(ops.floor(v), ops.f(gh - 2))
        fu, fv = ops.sub(u, u0), ops.sub(v, v0)
        cell = ops.squeeze(ops.add(ops.to_int(ops.add(ops.mul(v0, ops.f(cw)), u0)), boff), 2)  # B×M

        def bilinear(table: tuple[Tensor, ...], cell: Tensor = cell, fu: Tensor = fu, fv: Tensor = fv
                     ) -> tuple[Tensor, Tensor, Tensor]:
            """One component of d at p + offset, and its derivatives along u and v there."""
            c, cu, cv, cuv = (ops.reshape(ops.gather(t, cell, axis=0), (0, -1, 1)) for t in table)
            along_v = ops.add(cv, ops.mul(cuv, fu))
            return ops.add(ops.add(c, ops.mul(cu, fu)), ops.mul(along_v, fv)), ops.add(cu, ops.mul(cuv, fv)), along_v

        vx, dx_du, dx_dv = bilinear(tables[0])  # d(p + offset)'s x, and its derivatives
        vy, dy_du, dy_dv = bilinear(tables[1])
        # I + J = [[a, b], [c, e]]
        a, b, c, e = ops.add(one, dx_du), dx_dv, dy_du, ops.add(one, dy_dv)
        det = ops.sub(ops.mul(a, e), ops.mul(b, c))
        good = ops.gt(det, ops.f(NEWTON_MIN_DET))
        rx, ry = ops.add(ox, vx), ops.add(oy, vy)  # the residual
        inv = ops.div(one, ops.where(good, det, one))
        step_x = ops.mul(ops.sub(ops.mul(e, rx), ops.mul(b, ry)), inv)
        step_y = ops.mul(ops.sub(ops.mul(a, ry), ops.mul(c, rx)), inv)
        # a step as long as the residual (and a little more) up to NEWTON_MAX_STEP[1] cells: far from
        # the solution (a head's whole move) it goes all the way; where (I + J) is nearly singular
        # a step far longer than the residual is the linearisation overshooting to a fold's other
        # side (a double nostril, a torn cheek): at most NEWTON_MAX_STEP[0] cells there
        residual = ops.sqrt(ops.add(ops.mul(rx, rx), ops.mul(ry, ry)))
        most = ops.minimum(ops.maximum(ops.mul(residual, ops.f(NEWTON_REACH)), ops.f(NEWTON_MAX_STEP[0])),
                           ops.f(NEWTON_MAX_STEP[1]))
        step_x, step_y = _shorten(ops, step_x, step_y, most)
        ox = ops.where(good, ops.sub(ox, step_x), ops.neg(vx))
        oy = ops.where(good, ops.sub(oy, step_y), ops.neg(vy))
    # back in pixels, clamped once, at the end: an iterate past the clamp only samples the field
    # at the grid's clipped edge, and the result is what must stay within it
    ox, oy = _shorten(ops, ops.mul(ox, ops.f(k.sx)), ops.mul(oy, ops.f(k.sy)), ops.f(k.max_shift))
    unit_x, unit_y = np.eye(2, dtype=np.float32).reshape(2, 1, 1, 2)  # (x, y) back into one B×M×2
    offset = ops.add(ops.mul(ox, ops.const(unit_x)), ops.mul(oy, ops.const(unit_y)))
    if k.rows is not None:  # back onto the whole grid (B×G×2), 0 where nothing moves
        offset = ops.mul(ops.gather(offset, ops.const(k.spread, "warp_spread"), axis=1), ops.const(k.still, "warp_still"))
    return ops.reshape(offset, (0, gh, gw, 2))


def _shorten(ops: Ops, x: Tensor, y: Tensor, most: Tensor) -> tuple[Tensor, Tensor]:
    """Vectors (x, y) scaled down to at most ``most`` long."""
    norm = ops.sqrt(ops.add(ops.mul(x, x), ops.mul(y, y)))
    scale = ops.minimum(ops.f(1.0), ops.div(most, ops.maximum(norm, ops.f(NORM_EPSILON))))
    return ops.mul(x, scale), ops.mul(y, scale)
