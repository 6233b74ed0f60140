"""Where the warp puts fixed source points: overlays drawn in the warp's own frame.

An overlay layer draws a feature over the warped region (the eyelids over the eye the warp
carried). It must draw where the warp put that feature, not where the target landmarks say
it should be: the two differ wherever the field does not pass exactly through its control
points (its smoothing, a corner that is no control point) or bends between them — above an
eye, the field follows the brow and the forehead, not the eye's corners (raised brows stretch
it, a turn shears it). Drawn in a frame fitted to the corners alone, a lid band's far end
sampled the portrait a few pixels away from what the warped image shows there, and its edge
showed as a seam (a closed eye on a turned head: a disc with a hard rim).

The forward field on the coarse grid says where each source point goes: ``p + d(p)``, d
bilinear in the cell p lies in, as the warp's inversion reads it (layers/warp.invert). For
points fixed per source, the four taps and their weights are constants; per frame it is one
gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamfx.generator.basics import SourceBasics
from streamfx.generator.ops.base import Ops, Tensor


@dataclass(frozen=True)
class FieldPoints:
    """n fixed source points and the coarse-grid taps their motion is read from."""

    taps: np.ndarray  # (n·4,) int64: each point's cell corners on the flattened grid
    weights: np.ndarray  # 1×(n·4)×1 float32: their bilinear weights
    at: np.ndarray  # 1×n×2 float32: the points, source pixels

    @classmethod
    def of(cls, src: SourceBasics, points: np.ndarray) -> FieldPoints:
        """``points`` (n×2 source pixels) on ``src``'s grid; outside it, its nearest edge's motion."""
        grid = src.grid.astype(np.float64)
        gh, gw = src.grid_shape
        sx = (grid[0, -1, 0] - grid[0, 0, 0]) / (gw - 1)
        sy = (grid[-1, 0, 1] - grid[0, 0, 1]) / (gh - 1)
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        u = np.clip((pts[:, 0] - grid[0, 0, 0]) / sx, 0.0, gw - 1)
        v = np.clip((pts[:, 1] - grid[0, 0, 1]) / sy, 0.0, gh - 1)
        u0, v0 = np.minimum(np.floor(u), gw - 2), np.minimum(np.floor(v), gh - 2)
        fu, fv = u - u0, v - v0
        base = (v0 * gw + u0).astype(np.int64)
        taps = np.stack([base, base + 1, base + gw, base + gw + 1], axis=1)
        weights = np.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], axis=1)
        return cls(taps=taps.reshape(-1), weights=weights.reshape(1, -1, 1).astype(np.float32),
                   at=pts.reshape(1, -1, 2).astype(np.float32))

    @property
    def count(self) -> int:
        return self.at.shape[1]


def moved_points(ops: Ops, points: FieldPoints, displacement: Tensor) -> Tensor:
    """``B×n×2``: where the forward field ``displacement`` (``B×G×2``) moves the points, target
    pixels."""
    n = points.count
    taps = ops.gather(displacement, ops.const(points.taps, "place_taps"), axis=1)  # B×4n×2
    weighted = ops.mul(taps, ops.const(points.weights, "place_w"))
    d = ops.reshape(ops.reduce_sum(ops.reshape(weighted, (0, n, 4, 2)), (2,)), (0, n, 2))
    return ops.add(d, ops.const(points.at, "place_at"))
