"""The irises: the source's iris moved rigidly to where the target looks.

The motion field no longer drags the iris (and the sclera around it) with the gaze
(streamfx.generator.layers.eyes). Instead the source's iris — a disc from its five iris
landmarks — is sampled with ``ops.source_at`` and drawn at the target's iris centre; where
it was, the white of the eye (measured from the source's visible sclera) fills in; the part
of the iris the source's lids hid takes the iris's colour. Everything is clipped to the
target's lids, so an iris is never drawn on skin; the eyelid layer before this one draws
the lids themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import IRIS_GONE, IRIS_REACH, SCLERA_BESIDE
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.eyelids import closed, iris_disc
from streamfx.generator.layers.eyes import (
    EyeFrame,
    EyeShape,
    between,
    eye_coords,
    eye_frame,
    eye_window,
    lid_shadow,
    source_eyes,
    source_lids,
    source_opening,
    source_xy,
    target_lids,
)
from streamfx.generator.layers.shapes import bulge, height
from streamfx.generator.ops.base import Ops, Tensor, Window


@dataclass(frozen=True)
class IrisConsts:
    eyes: tuple[EyeShape, ...]  # the subject's right eye, then left


class IrisLayer(Layer):
    name = "irises"
    switch = "gaze"
    settings = ("gaze",)

    def prepare(self, src: SourceBasics) -> IrisConsts:
        return IrisConsts(source_eyes(src.image, src.landmarks))

    def apply(self, ops: Ops, k: IrisConsts, frame: Frame) -> None:
        for eye in k.eyes:
            self._eye(ops, eye, frame)

    @staticmethod
    def _eye(ops: Ops, eye: EyeShape, frame: Frame) -> None:
        e = eye_frame(ops, frame.target, eye)
        win = eye_window(ops, frame.canvas, e)
        u, v = eye_coords(ops, win, e)
        du, dv = gaze_shift(ops, eye, e, frame.target)
        b = bulge(ops, u)
        top_s, bottom_s = source_lids(ops, eye, u, b)
        top, bottom = target_lids(ops, eye, e, u, b, (top_s, bottom_s))
        # inside the target's lids, kept off their soft edges and shut where they meet
        f = eye.feather
        half = ops.f(0.5 * f)
        shown = ops.mul(between(ops, v, ops.add(top, half), ops.sub(bottom, half), f),
                        ops.sub(ops.f(1.0), closed(ops, eye, top, bottom)))
        cx, cy = ops.f(float(eye.iris[0])), ops.f(float(eye.iris[1]))
        # painted over a little beyond its rim (the dark limbus) once it has moved by a feather
        moved = ops.clip01(ops.div(ops.sqrt(ops.add(ops.mul(du, du), ops.mul(dv, dv))), ops.f(f)))
        was = iris_disc(ops, eye, u, v, cx, cy, ops.add(ops.f(1.0), ops.mul(ops.f(IRIS_GONE - 1.0), moved)))
        now = iris_disc(ops, eye, u, v, ops.add(cx, du), ops.add(cy, dv))
        # the white of the eye where the iris was and no longer is
        gone = ops.div(ops.clip01(ops.sub(was, now)), ops.maximum(ops.sub(ops.f(1.0), now), ops.f(1e-3)))
        frame.canvas = ops.composite(frame.canvas, win, sclera(ops, eye, win, u, v, top), ops.mul(shown, gone))
        # the iris where it is now: the source's, moved; its colour where the source's lids hid it
        iu = ops.sub(u, ops.div(du, ops.f(eye.width)))
        iv = ops.sub(v, dv)
        x, y = source_xy(ops, eye, iu, iv)
        # (once anything moved, the source's lid edges count as hidden: they'd show as a line)
        change = ops.maximum(ops.add(ops.abs(du), ops.abs(dv)),
                             ops.maximum(ops.sub(top_s, top), ops.sub(bottom, bottom_s)))
        inset = ops.mul(ops.clip01(ops.div(change, ops.f(f))), ops.f(f))
        hidden = ops.div(ops.clip01(ops.sub(shown, source_opening(ops, eye, iu, iv, inset))),
                         ops.maximum(shown, ops.f(1e-3)))
        iris = ops.source_at(win, x, y)
        # what the lids hid: the iris mirrored top to bottom about its centre (an iris is
        # nearly round-symmetric), or its colour where the lids hid that too
        mirror_v = ops.sub(ops.f(2.0 * float(eye.iris[1])), iv)
        mx, my = source_xy(ops, eye, iu, mirror_v)
        flat = ops.mul(ops.rgb(eye.iris_rgb), lid_shadow(ops, eye, v, top))
        fill = ops.add(flat, ops.mul(ops.sub(ops.source_at(win, mx, my), flat), source_opening(ops, eye, iu, mirror_v)))
        colour = ops.add(iris, ops.mul(ops.sub(fill, iris), hidden))
        frame.canvas = ops.composite(frame.canvas, win, colour, ops.mul(shown, now))


def sclera(ops: Ops, eye: EyeShape, win: Window, u: Tensor, v: Tensor, top: Tensor) -> Tensor:
    """The white of the eye over the window: at each height, the source's own sclera from
    beside its iris (left and right, blended across), or its measured colour where the
    source's lids hid that, shaded by the upper lid."""
    flat = ops.mul(ops.rgb(eye.sclera_rgb), lid_shadow(ops, eye, v, top))
    cx, r = float(eye.iris[0]), eye.iris_r
    sides = []
    for at in (cx - SCLERA_BESIDE * r, cx + SCLERA_BESIDE * r):
        su = ops.f(at / eye.width)
        x, y = source_xy(ops, eye, su, v)
        seen = source_opening(ops, eye, su, v)
        sides.append(ops.add(flat, ops.mul(ops.sub(ops.source_at(win, x, y), flat), seen)))
    across = ops.clip01(ops.div(ops.sub(ops.mul(u, ops.f(eye.width)), ops.f(cx - r)), ops.f(2.0 * r)))
    return ops.add(sides[0], ops.mul(ops.sub(sides[1], sides[0]), across))


def gaze_shift(ops: Ops, eye: EyeShape, e: EyeFrame, t: Tensor) -> tuple[Tensor, Tensor]:
    """How far the target's iris sits from the source's, along and down its eye (source pixels,
    at most IRIS_REACH of the eye's width)."""
    ix, iy = ops.point(t, eye.iris_idx)
    along = ops.mul(ops.add(ops.mul(ops.sub(ix, e.ox), e.ax_x), ops.mul(ops.sub(iy, e.oy), e.ax_y)), e.scale)
    down = ops.mul(height(ops, ix, iy, e.ox, e.oy, e.ax_x, e.ax_y), e.scale)
    reach_u, reach_v = IRIS_REACH[0] * eye.width, IRIS_REACH[1] * eye.width
    du = ops.clip(ops.sub(along, ops.f(float(eye.iris_mark[0]))), -reach_u, reach_u)
    dv = ops.clip(ops.sub(down, ops.f(float(eye.iris_mark[1]))), -reach_v, reach_v)
    return du, dv
