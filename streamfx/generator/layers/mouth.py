"""The mouth: lips that part where the target's do, and what shows between them.

A warp cannot open a closed mouth: the inner lips are one seam in the source, and the motion
field (a smooth spline on the outer lips) only stretches the lips and the seam between them,
so the lips' inner edges land far from the target's (tens of pixels on a wide "O") and a
source's teeth are smeared into the opening. This layer therefore redraws the mouth:

* the lips, from the source, between the target's four lip contours (outer upper, inner
  upper, inner lower, outer lower: :mod:`~streamfx.generator.layers.mouth_shape`): each
  lip is mapped onto its own place, column by column, never stretched into the opening,
  and faded back into the warp beyond the outer contour;
* between the target's inner lips, where the opening differs from the source's, a mouth
  interior: a dark throat shaded towards the lips, a tongue, teeth rows (the portrait's own
  teeth colour if it shows teeth, else an off-white in its brightness and tint) that keep
  their size whatever the opening;
* the source's own teeth, where it shows teeth: the upper ones moved with the skull, the
  lower ones with the jaw (sampled at the rigidly moved coordinates, so never stretched),
  only inside the target's opening — the lips cover them as the mouth closes;
* over all that, a moustache's hair, moved with the skull: it hangs over the opening rather
  than being cut by it.

With a driver's image, :class:`~streamfx.generator.layers.driver_mouth.DriverMouthLayer`
then puts the driver's own mouth interior between the lips (after any engine).
"""

from __future__ import annotations

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    LIP_CORNER_FADE,
    LIP_EDGE,
    LIP_INSET,
    LIP_MARGIN,
    MOUSTACHE_LIFT,
    MOUTH_FEATHER,
    MOUTH_FEATHER_MIN,
    MOUTH_FEATHER_SHARE,
    MOUTH_OWN,
    TEETH_LIP_SHADE,
    TEETH_ROW_LOWER,
    TEETH_ROW_UPPER,
    TEETH_SIDE_SHADE,
    THROAT_SHADE,
    TONGUE,
    TOOTH_WIDTH,
)
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.mouth_shape import (
    INNER_LO,
    INNER_UP,
    OUTER,
    OUTER_LO,
    MouthFrame,
    MouthPixels,
    MouthShape,
    draw_teeth,
    mouth_frame,
    mouth_pixels,
    mouth_shape,
    mouth_window,
    source_point,
    teeth_motions,
)
from streamfx.generator.ops.base import Ops, Tensor, Window


class MouthLayer(Layer):
    name = "mouth"
    switch = "mouth_synthesis"
    settings = ("mouth_synthesis",)

    def prepare(self, src: SourceBasics) -> MouthShape:
        return mouth_shape(src)

    def apply(self, ops: Ops, k: MouthShape, frame: Frame) -> None:
        t = frame.target
        m = mouth_frame(ops, t, k.index)
        margin = ops.mul(ops.f(LIP_MARGIN), m.width)
        win = mouth_window(ops, frame.canvas, t, margin)
        px = mouth_pixels(ops, k, m, win)
        # the interior is drawn where the opening differs from the source's …
        feather = ops.maximum(ops.f(MOUTH_FEATHER_MIN), ops.mul(ops.f(MOUTH_FEATHER), m.width))
        differs = ops.clip01(ops.div(ops.sub(ops.abs(ops.sub(m.gap, ops.f(k.gap))), ops.f(MOUTH_OWN[0])),
                                     ops.f(MOUTH_OWN[1])))
        # … the lips (and the source's own opening between them), mapped contour to contour
        sx, sy = source_point(ops, k, px.u, lip_map(ops, px, ops.f(k.width), m.width, differs, ops.mul(ops.f(LIP_INSET[0]), m.width)))
        colour = ops.source_at(win, sx, sy)
        lips = lip_cover(ops, px, m, margin, t)
        inside = interior_cover(ops, px, feather)
        drawn = ops.mul(inside, differs)
        interior = hair_over(ops, k, t, win, drawn_interior(ops, k, px, m, feather, t, win))
        colour = ops.add(ops.mul(colour, ops.sub(ops.f(1.0), drawn)), ops.mul(interior, drawn))
        frame.canvas = ops.composite(frame.canvas, win, colour, ops.maximum(lips, drawn))


def hair_over(ops: Ops, k: MouthShape, t: Tensor, win: Window, colour: Tensor) -> Tensor:
    """``colour`` (what shows between the lips) with the portrait's moustache hanging over it,
    moved with the skull (mouth_shape.moustache_sprite); as it is without one."""
    if k.moustache is None or k.lip_mid is None:
        return colour
    upper, _ = teeth_motions(ops, k, t)
    # lifted by a share of the upper lip's own rise beyond the skull's motion: the hair grows
    # from the lip's skin
    mx, my = ops.point(t, L.UPPER_LIP_MID)
    lx, ly = upper.at(ops, mx, my)
    lift = ops.f(MOUSTACHE_LIFT)
    shift = (ops.mul(lift, ops.sub(ops.f(float(k.lip_mid[0])), lx)), ops.mul(lift, ops.sub(ops.f(float(k.lip_mid[1])), ly)))
    return draw_teeth(ops, k.moustache, upper, win, colour, ops.f(1.0), shift)


def lip_map(ops: Ops, px: MouthPixels, source_width: Tensor, width: Tensor, differs: Tensor, inset: Tensor) -> Tensor:
    """The source v for each target pixel: piecewise linear through the four contours (each lip
    onto the source's lip), a plain shift beyond them.

    Between the inner lips: the source's own opening, as long as the opening is the source's
    (``differs`` 0); else the lips' own inner edge, upper half and lower half (hidden under the
    drawn interior but at its soft edge, which then blends lip into interior, not into the
    dark seam of a closed source mouth)."""
    ou, iu, il, ol = px.target
    ous, ius, ils, ols = px.source
    zero, eps = ops.f(0.0), ops.f(1e-3)
    scale = ops.div(source_width, width)
    v = px.v
    inset = ops.minimum(ops.mul(inset, differs), ops.mul(ops.maximum(ops.sub(il, iu), zero), ops.f(LIP_INSET[1])))
    iu, il = ops.add(iu, inset), ops.sub(il, inset)

    def ratio(a: Tensor, b: Tensor, a_s: Tensor, b_s: Tensor) -> Tensor:
        return ops.div(ops.sub(b_s, a_s), ops.maximum(ops.sub(b, a), eps))

    # where the opening differs, the lips end a little inside the source's (whose inner edge
    # may hold a sliver of its teeth or the seam's shadow)
    inward = ops.mul(ops.f(LIP_EDGE), differs)
    ius_in = ops.sub(ius, ops.mul(inward, ops.sub(ius, ous)))
    ils_in = ops.add(ils, ops.mul(inward, ops.sub(ols, ils)))
    upper = ops.add(ous, ops.add(ops.mul(ops.minimum(ops.sub(v, ou), zero), scale),
                                 ops.mul(ops.maximum(ops.sub(v, ou), zero), ratio(ou, iu, ous, ius_in))))
    lower = ops.sub(ols, ops.sub(ops.mul(ops.maximum(ops.sub(ol, v), zero), ratio(il, ol, ils_in, ols)),
                                 ops.mul(ops.maximum(ops.sub(v, ol), zero), scale)))
    own = ops.add(ius, ops.mul(ops.sub(v, iu), ratio(iu, il, ius, ils)))
    edge = ops.where(ops.lt(ops.add(v, v), ops.add(iu, il)), ius_in, ils_in)
    between = ops.add(own, ops.mul(ops.sub(edge, own), differs))
    return ops.where(ops.lt(v, iu), upper, ops.where(ops.gt(v, il), lower, between))


def lip_cover(ops: Ops, px: MouthPixels, m: MouthFrame, margin: Tensor, t: Tensor) -> Tensor:
    """1 between the outer contours, fading to 0 over the margin beyond them and towards the
    outer corners (where the warp, which moves the outer lips well, takes over)."""
    above = ops.clip01(ops.div(ops.add(ops.sub(px.v, px.target[OUTER]), margin), margin))
    below = ops.clip01(ops.div(ops.sub(ops.add(px.target[OUTER_LO], margin), px.v), margin))
    # towards the outer corners (where an "O"'s lips run upright, which columns of u cannot
    # follow) the warp takes over
    (lx, ly), (rx, ry) = ops.point(t, L.MOUTH_CORNERS[0]), ops.point(t, L.MOUTH_CORNERS[1])
    left, right = (ops.div(ops.add(ops.mul(ops.sub(x, m.ox), m.ax_x), ops.mul(ops.sub(y, m.oy), m.ax_y)), m.width)
                   for x, y in ((lx, ly), (rx, ry)))
    fade = ops.maximum(ops.mul(ops.f(LIP_CORNER_FADE), ops.sub(right, left)), ops.f(1e-3))
    corner = ops.mul(ops.clip01(ops.div(ops.sub(px.u, left), fade)), ops.clip01(ops.div(ops.sub(right, px.u), fade)))
    return ops.mul(ops.mul(above, below), corner)


def interior_cover(ops: Ops, px: MouthPixels, feather: Tensor, narrows: bool = False) -> Tensor:
    """1 inside the target's inner lips, a soft edge *inside* them, 0 on and outside them.

    The edge is ``feather`` pixels wide; with ``narrows``, at most MOUTH_FEATHER_SHARE of the
    opening where that is less (down to MOUTH_FEATHER_MIN), so a narrow opening is covered
    across its middle: what the driver's interior needs (its dark gap read grey, mixed with
    what lies under it). The drawn interior keeps the full edge: a narrow opening half
    covered by its teeth rows reads as lips just parting, fully covered as a band of teeth."""
    top, bottom = px.target[INNER_UP], px.target[INNER_LO]
    edge = feather
    if narrows:
        narrow = ops.mul(ops.sub(bottom, top), ops.f(MOUTH_FEATHER_SHARE))
        edge = ops.maximum(ops.minimum(feather, narrow), ops.f(MOUTH_FEATHER_MIN))
    return ops.mul(ops.clip01(ops.div(ops.sub(px.v, top), edge)),
                   ops.clip01(ops.div(ops.sub(bottom, px.v), edge)))


def drawn_interior(ops: Ops, k: MouthShape, px: MouthPixels, m: MouthFrame, feather: Tensor, t: Tensor,
                   win: Window) -> Tensor:
    """A mouth interior drawn from the portrait's own colours: throat, tongue, teeth rows, and
    the source's own teeth on top where it shows them.

    Throat and tongue are shades of the lip colour and the rows shades of the teeth colour, so
    the layers are mixed as per-pixel weights and the two colours applied once."""
    one = ops.f(1.0)
    top, bottom = px.target[INNER_UP], px.target[INNER_LO]
    opening = ops.maximum(ops.sub(bottom, top), ops.f(1e-3))
    s = ops.clip01(ops.div(ops.sub(px.v, top), opening))  # 0 at the upper lip, 1 at the lower
    side = ops.abs(ops.sub(ops.mul(ops.f(2.0), px.u), one))  # 0 mid-mouth, 1 at the corners
    edge = ops.abs(ops.sub(ops.mul(ops.f(2.0), s), one))
    # the throat: dark, lighter towards the lips (light from outside)
    lip_w = ops.add(ops.f(THROAT_SHADE[0]), ops.mul(ops.f(THROAT_SHADE[1]), ops.mul(edge, edge)))
    # the tongue: an arc over the lower lip, lit on top, rounder at the sides
    centre = ops.clip01(ops.sub(one, ops.mul(side, side)))
    share, most, shade, lit = TONGUE
    height = ops.mul(ops.minimum(ops.mul(ops.f(share), opening), ops.mul(ops.f(most), m.width)), centre)
    into = ops.sub(px.v, ops.sub(bottom, height))
    tongue = ops.clip01(ops.div(into, ops.mul(feather, ops.f(2.0))))
    depth = ops.clip01(ops.div(into, ops.maximum(height, ops.f(1e-3))))
    tongue_w = ops.mul(ops.mul(ops.f(shade), ops.add(one, ops.mul(ops.f(lit), ops.sub(one, depth)))),
                       ops.sub(one, ops.mul(ops.f(0.3), side)))
    lip_w = ops.add(lip_w, ops.mul(ops.sub(tongue_w, lip_w), tongue))
    # teeth rows, their size set by the mouth's width, not the opening (never stretched)
    tooth = ops.div(ops.abs(ops.sub(px.u, ops.f(0.5))), ops.f(TOOTH_WIDTH[0]))
    gap = ops.abs(ops.sub(tooth, ops.round(tooth)))  # 0 on the line between two teeth
    row = ops.mul(ops.sub(one, ops.mul(ops.f(TOOTH_WIDTH[2]), ops.clip01(ops.sub(one, ops.div(gap, ops.f(TOOTH_WIDTH[1])))))),
                  ops.sub(one, ops.mul(ops.f(TEETH_SIDE_SHADE), ops.mul(side, side))))
    reach = ops.clip01(ops.mul(ops.f(1.5), centre))
    teeth_w, teeth_a = ops.f(0.0), ops.f(0.0)
    for (size, most_share, *dark), depth_in in ((TEETH_ROW_LOWER, ops.sub(bottom, px.v)),
                                                (TEETH_ROW_UPPER, ops.sub(px.v, top))):  # lower first: upper over it
        h = ops.mul(ops.minimum(ops.mul(ops.f(size), m.width), ops.mul(ops.f(most_share), opening)), reach)
        a = ops.clip01(ops.div(ops.sub(h, depth_in), feather))
        lit_w = ops.add(ops.f(1.0 - TEETH_LIP_SHADE),
                        ops.mul(ops.f(TEETH_LIP_SHADE), ops.clip01(ops.div(depth_in, ops.maximum(h, ops.f(1e-3))))))
        w = ops.mul(ops.mul(row, lit_w), ops.f(dark[0] if dark else 1.0))
        teeth_w = ops.add(ops.mul(teeth_w, ops.sub(one, a)), ops.mul(w, a))
        teeth_a = ops.add(ops.mul(teeth_a, ops.sub(one, a)), a)
    colour = ops.add(ops.mul(ops.rgb(k.lip_rgb), ops.mul(lip_w, ops.sub(one, teeth_a))),
                     ops.mul(ops.rgb(k.teeth_rgb), teeth_w))
    # the source's own teeth, moved rigidly with the skull and the jaw
    if k.upper_teeth is not None or k.lower_teeth is not None:
        upper, lower = teeth_motions(ops, k, t)
        for sprite, motion in ((k.lower_teeth, lower), (k.upper_teeth, upper)):
            if sprite is not None:
                colour = draw_teeth(ops, sprite, motion, win, colour, one)
    return colour


