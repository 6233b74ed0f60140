"""The irises: the source's iris moved rigidly to where the target looks.

The motion field no longer drags the iris (and the sclera around it) with the gaze
(streamfx.generator.layers.eyes). Instead the source's iris — a disc from its five iris
landmarks — is sampled with ``ops.source_at`` and drawn at the target's iris centre; where
it was, the white of the eye fills in — the source's own sclera carried across from beside the
iris (``eyes.sclera_plate``), its measured colour where there is none to see; the part of the
iris the source's lids hid takes the iris's own texture, mirrored across its centre row or
its rings from that row (``hidden_iris``). Everything is clipped to the target's lids, so an
iris is never drawn on skin; the eyelid layer before this one draws the lids themselves.
"""

from __future__ import annotations

from streamfx.generator.constants import (
    IRIS_CORNER,
    IRIS_GONE,
    IRIS_HIDDEN_TEXTURE,
    IRIS_REACH,
    IRIS_SIDES,
)
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
from streamfx.generator.ops.base import Ops, Tensor, Window


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
        # the iris where it is now: the source's, moved; where the source's lids hid it, its own
        # texture from what they left in view (hidden_iris). Where a lid opened wider, the
        # source's lid edge counts as hidden: it would show as a line across the iris. (The
        # source's lids are taken at this pixel's place along the eye, not the moved one's: an
        # iris sits where they are nearly flat.)
        iu = ops.sub(u, ops.mul(du, ops.f(1.0 / eye.width)))
        iv = ops.sub(v, dv)
        wider = ops.clip01(ops.mul(ops.maximum(ops.sub(view.top_s, top), ops.sub(bottom, view.bottom_s)), ops.f(1.0 / f)))
        inset = ops.mul(wider, ops.f(f))
        lids = ops.add(view.top_s, inset), ops.sub(view.bottom_s, inset)
        seen = between(ops, iv, *lids, f)
        hidden = ops.div(ops.clip01(ops.sub(shown, seen)), ops.maximum(shown, ops.f(1e-3)))
        x, y = source_xy(ops, eye, iu, iv)
        iris = ops.source_at(win, x, y)
        iris = ops.add(iris, ops.mul(ops.sub(hidden_iris(ops, eye, view, win, iu, iv, x, y, lids), iris), hidden))
        # one composite for both: the iris over the white where it was
        white = ops.mul(gone, ops.sub(ops.f(1.0), now))
        cover = ops.add(now, white)
        sclera = eye_white(ops, eye, view)  # the white behind the iris
        colour = ops.add(iris, ops.mul(ops.sub(sclera, iris), ops.div(white, ops.maximum(cover, ops.f(1e-3)))))
        frame.canvas = ops.composite(frame.canvas, win, colour, ops.mul(shown, cover))


def hidden_iris(ops: Ops, eye: EyeShape, view: EyeView, win: Window, iu: Tensor, iv: Tensor,
                x: Tensor, y: Tensor, lids: tuple[Tensor, Tensor]) -> Tensor:
    """The iris where the source's lids hid it, at (iu, iv) of the source's eye frame (the
    source pixel (x, y)), in the lid's shadow; ``lids``: the source's lid edges (upper, lower)
    the iris counts as seen between. An iris is rings around its pupil — its dark
    rim, its lighter stroma — and much the same above and below its centre: so the iris's own
    texture across its centre row where the other lid left that in view, else the same radius
    on its centre row (in view in any open eye). A flat disc of its measured colour read as a
    dark coin painted on the eye once a lid opened wider (lp_s1: the upper lids hide a third
    of the iris). An iris is not the same in *tone* above and below its centre, though — lit
    from above, shaded by the lid, a drawn iris's gradient — so that texture shows at
    IRIS_HIDDEN_TEXTURE of its contrast about the measured colour: at full contrast an anime
    iris's light lower ring came back as a light arc under its dark top, and a cartoon's as
    a second rim below its own (a new user's sheets, lp_d12 f14, lp_d3 f285)."""
    (ax, ay), (down_x, down_y) = eye.axis, eye.down
    cx, cy = float(eye.iris[0]), float(eye.iris[1])
    dx, dy = ops.sub(ops.mul(iu, ops.f(eye.width)), ops.f(cx)), ops.sub(iv, ops.f(cy))
    # mirrored across the centre row: 2·dy back up the eye's down axis
    twice = ops.add(dy, dy)
    mirrored = ops.source_at(win, ops.sub(x, ops.mul(twice, ops.f(float(down_x)))),
                             ops.sub(y, ops.mul(twice, ops.f(float(down_y)))))
    across = between(ops, ops.sub(ops.f(2.0 * cy), iv), *lids, eye.feather)
    # the same radius ρ along the centre row, out on dx's side; both sides mixed near the
    # vertical through the centre (a cartoon's iris, lit from one side, showed a seam there)
    rho = ops.sqrt(ops.add(ops.mul(dx, dx), ops.mul(dy, dy)))
    centre = eye.origin + cx * eye.axis + cy * eye.down
    out_x, out_y = ops.mul(rho, ops.f(float(ax))), ops.mul(rho, ops.f(float(ay)))
    left = ops.source_at(win, ops.sub(ops.f(float(centre[0])), out_x), ops.sub(ops.f(float(centre[1])), out_y))
    right = ops.source_at(win, ops.add(ops.f(float(centre[0])), out_x), ops.add(ops.f(float(centre[1])), out_y))
    towards_right = ops.clip01(ops.add(ops.f(0.5), ops.mul(dx, ops.f(1.0 / (IRIS_SIDES * eye.iris_r)))))
    ring = ops.add(left, ops.mul(ops.sub(right, left), towards_right))
    texture = ops.add(ring, ops.mul(ops.sub(mirrored, ring), across))
    flat = ops.rgb(eye.iris_rgb)
    return ops.mul(ops.add(flat, ops.mul(ops.sub(texture, flat), ops.f(IRIS_HIDDEN_TEXTURE))), view.shade)


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
