"""Per-frame shape helpers the feature layers share, written against the ops.

A feature (the mouth, an eye) has its own frame: an origin, a unit axis along it and its
width; ``u`` runs 0…1 along the axis, ``v`` down from it in pixels. Its edges are
parabolas ``h · 4u(1−u)`` through the feature's corners.
"""

from __future__ import annotations

from streamfx.generator.ops.base import Ops, Tensor, Window


def axis(ops: Ops, x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Unit axis from point 0 to point 1 and its length (+1e-6: never zero)."""
    dx, dy = ops.sub(x1, x0), ops.sub(y1, y0)
    width = ops.add(ops.sqrt(ops.add(ops.mul(dx, dx), ops.mul(dy, dy))), ops.f(1e-6))
    return ops.div(dx, width), ops.div(dy, width), width


def feature_coords(ops: Ops, win: Window, ax_x: Tensor, ax_y: Tensor, ox: Tensor, oy: Tensor,
                   width: Tensor) -> tuple[Tensor, Tensor]:
    """(u, v) of every pixel of the window in the feature's frame."""
    rx, ry = ops.sub(win.xs, ox), ops.sub(win.ys, oy)
    u = ops.div(ops.add(ops.mul(rx, ax_x), ops.mul(ry, ax_y)), width)
    v = ops.add(ops.mul(rx, ops.neg(ax_y)), ops.mul(ry, ax_x))
    return u, v


def bulge(ops: Ops, u: Tensor) -> Tensor:
    """4u(1−u), clipped to 0…1: the parabola's profile along the feature."""
    return ops.clip01(ops.mul(ops.mul(ops.f(4.0), u), ops.sub(ops.f(1.0), u)))
