"""The irises: the source's iris moved rigidly to where the target looks.

The motion field no longer drags the iris (and the sclera around it) with the gaze
(streamfx.generator.layers.eyes). Instead the source's iris — a disc from its five iris
landmarks — is sampled with ``ops.source_at`` and drawn at the target's iris centre; where
it was, the white of the eye fills in — the source's own sclera carried across from beside the
iris (``eyes.sclera_plate``), its measured colour where there is none to see; the part
of the iris the source's lids hid takes the iris's colour. Everything is clipped to the
target's lids, so an iris is never drawn on skin; the eyelid layer before this one draws
the lids themselves.
"""

from __future__ import annotations

from streamfx.generator.constants import IRIS_CORNER, IRIS_GONE, IRIS_REACH
from streamfx.generator.layers.base import Frame
from streamfx.generator.layers.eyes import (
    EyeFrame,
    EyeLayer,
    EyeShape,
    EyeView,
    between,
    eye_white,
    iris_disc,
    source_xy,
)
from streamfx.generator.ops.base import Ops, Tensor


class IrisLayer(EyeLayer):
    name = "irises"
    switch = "gaze"
    settings = ("gaze",)

    def draw_eye(self, ops: Ops, eye: EyeShape, view: EyeView, frame: Frame) -> None:
        win, u, v, top, bottom = view.win, view.u, view.v, view.top, view.bottom
        du, dv = gaze_shift(ops, eye, view.e, frame.target)
        f = eye.feather
        # inside the target's lids, kept off their soft edges (squared) and shut where they meet
        shown = ops.mul(ops.mul(view.opening, view.opening), ops.sub(ops.f(1.0), view.closed))
        cx, cy = ops.f(float(eye.iris[0])), ops.f(float(eye.iris[1]))
        # where the iris was: painted over a little beyond its rim (the dark limbus) once it
        # has moved by a feather
        moved = ops.clip01(ops.mul(ops.add(ops.abs(du), ops.abs(dv)), ops.f(1.0 / f)))
        was = iris_disc(ops, eye, u, v, cx, cy, ops.add(ops.f(1.0), ops.mul(ops.f(IRIS_GONE - 1.0), moved)))
        now = iris_disc(ops, eye, u, v, ops.add(cx, du), ops.add(cy, dv))
        # the white of the eye where the iris was and no longer is
        gone = ops.div(ops.clip01(ops.sub(was, now)), ops.maximum(ops.sub(ops.f(1.0), now), ops.f(1e-3)))
        # the iris where it is now: the source's, moved; where the source's lids hid it, a disc
        # of the iris's colour (shaded by the lid). Where a lid opened wider, the source's lid
        # edge counts as hidden: it would show as a line across the iris. (The source's lids are
        # taken at this pixel's place along the eye, not the moved one's: an iris sits where
        # they are nearly flat.)
        iu = ops.sub(u, ops.mul(du, ops.f(1.0 / eye.width)))
        iv = ops.sub(v, dv)
        wider = ops.clip01(ops.mul(ops.maximum(ops.sub(view.top_s, top), ops.sub(bottom, view.bottom_s)), ops.f(1.0 / f)))
        inset = ops.mul(wider, ops.f(f))
        seen = between(ops, iv, ops.add(view.top_s, inset), ops.sub(view.bottom_s, inset), f)
        hidden = ops.div(ops.clip01(ops.sub(shown, seen)), ops.maximum(shown, ops.f(1e-3)))
        x, y = source_xy(ops, eye, iu, iv)
        iris = ops.source_at(win, x, y)
        iris = ops.add(iris, ops.mul(ops.sub(ops.mul(ops.rgb(eye.iris_rgb), view.shade), iris), hidden))
        # one composite for both: the iris over the white where it was
        white = ops.mul(gone, ops.sub(ops.f(1.0), now))
        cover = ops.add(now, white)
        sclera = eye_white(ops, eye, view)  # the white behind the iris
        colour = ops.add(iris, ops.mul(ops.sub(sclera, iris), ops.div(white, ops.maximum(cover, ops.f(1e-3)))))
        frame.canvas = ops.composite(frame.canvas, win, colour, ops.mul(shown, cover))


def gaze_shift(ops: Ops, eye: EyeShape, e: EyeFrame, t: Tensor) -> tuple[Tensor, Tensor]:
    """How far the target's iris sits from the source's, along and down its eye (source pixels,
    at most IRIS_REACH of the eye's width, and along it never past IRIS_CORNER × its radius
    from a corner: an iris does not leave the eye, and past the lid curves' meeting point it
    would be cut by a straight edge — seen on a three-quarter face's far eye, whose iris
    already sits near a corner)."""
    ix, iy = ops.point(t, eye.iris_idx)
    u, down = e.uv(ops, ix, iy)  # against the eye's corners, in the frame it is drawn in
    along = ops.mul(u, ops.f(eye.width))
    reach_u, reach_v = IRIS_REACH[0] * eye.width, IRIS_REACH[1] * eye.width
    keep = IRIS_CORNER * eye.iris_r
    back = min(reach_u, max(0.0, float(eye.iris[0]) - keep))
    ahead = min(reach_u, max(0.0, eye.width - float(eye.iris[0]) - keep))
    du = ops.clip(ops.sub(along, ops.f(float(eye.iris_mark[0]))), -back, ahead)
    dv = ops.clip(ops.sub(down, ops.f(float(eye.iris_mark[1]))), -reach_v, reach_v)
    return du, dv
