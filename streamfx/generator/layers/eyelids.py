"""The eyelids: the source's own lids slid to the target's lid edges, and the eye they uncover.

The motion field keeps the eye region rigid (streamfx.generator.layers.eyes); this layer
moves the lids over it. Each lid is the source's own skin above (below) its edge, moved with
``ops.source_at``: the band at the edge — the lashes — slides unstretched to the new edge,
and the skin between it and an anchor a little above (below) the lid stretches or
compresses, as a real lid unfolds from its crease. So a closing eye keeps its lash line and
crease, and its skin is the portrait's own, never a flat colour. The upper lid never passes
the lower one: a blink closes the eye at the lower lid. Where the target's lids open wider
than the source's, the eye they uncover is drawn: sclera, and the iris's top that the
source's lid hid.
"""

from __future__ import annotations

from streamfx.generator.constants import (
    LASH_OVERHANG,
    LASH_THIN,
    LID_CREASE,
    LID_EDGE_MARGIN,
    LID_FADE,
    LID_UNFOLD,
    LOWER_LID_BAND,
    UPPER_LID_BAND,
)
from streamfx.generator.layers.base import Frame
from streamfx.generator.layers.eyes import (
    EyeLayer,
    EyeShape,
    EyeView,
    between,
    eye_white,
    source_xy,
)
from streamfx.generator.ops.base import Ops, Tensor, Window


class EyelidLayer(EyeLayer):
    name = "eyelids"
    switch = "eyelids"
    settings = ("eyelids",)

    def draw_eye(self, ops: Ops, eye: EyeShape, view: EyeView, frame: Frame) -> None:
        win, u, v, top, bottom = view.win, view.u, view.v, view.top, view.bottom
        # the warped eye (the source's, between its own lids) in the shadow of lids lowered to a
        # slit (eyes.slit_shade): what of it shows between them, or through their soft edges
        # where they meet, is dark, not a white sliver (what the eye layers draw there is
        # shaded by view.shade, which includes it)
        eye_seen = ops.mul(between(ops, v, view.top_s, view.bottom_s, eye.feather), view.sides)
        frame.canvas = ops.shade(frame.canvas, win, ops.add(ops.f(1.0), ops.mul(ops.sub(view.slit, ops.f(1.0)), eye_seen)))
        # the eye the lids uncover where they open wider than the source's: its own white
        # carried on past the old lid line (the iris layer draws the iris over it)
        shown = ops.mul(view.opening, uncovered(ops, eye, v, (view.top_s, view.bottom_s), (top, bottom)))
        frame.canvas = ops.composite(frame.canvas, win, eye_white(ops, eye, view), shown)
        # the white the mesh's outline leaves out (a cartoon's bigger eye, eyes.white_beyond) is
        # covered with lid skin as the eye shuts, by how far its lids closed at the middle:
        # where it stays, and where a lid's band carries it
        beyond = eye.beyond.shape[0] > 1
        if beyond:
            gap = ops.sub(view.e.lower[0], view.e.upper[0])
            shut = ops.clip01(ops.sub(ops.f(1.0), ops.mul(gap, ops.f(1.0 / max(eye.lower[0] - eye.upper[0], 1e-3)))))
            skin, white = white_beyond_at(ops, eye, win, *source_xy(ops, eye, u, v))
            frame.canvas = ops.composite(frame.canvas, win, skin, ops.mul(white, shut))
        # the lids, the lower one first: where they meet, the upper one's soft edge overlaps it
        half = ops.f(0.5)
        edge = ops.add(half, ops.mul(half, view.closed))
        k, fade = ops.f(1.0 / eye.feather), ops.f(1.0 / (LID_FADE * eye.width))
        # a closed eye's upper lashes hang over the lower lid, once the lid came down (at the
        # corners the lids always meet)
        descent = ops.sub(view.e.upper[0], ops.f(eye.upper[0]))  # the upper lid's, at its middle
        came_down = ops.clip01(ops.mul(descent, k))
        overhang = ops.add(top, ops.mul(ops.mul(view.closed, came_down), ops.f(LASH_OVERHANG * eye.width)))
        middle = lowered(ops, descent, eye.width)  # its lashes turn down all along it by this
        for edge_s, edge_t, out, reach, band in ((view.bottom_s, bottom, 1.0, view.low_reach, LOWER_LID_BAND),
                                                 (view.top_s, overhang, -1.0, view.up_reach, UPPER_LID_BAND)):
            o = ops.f(out)
            # outward from the eye: past the target's edge, and not yet at the band's far end
            w, ws, wt = ops.mul(v, o), ops.mul(edge_s, o), ops.mul(edge_t, o)
            # a closing upper lid's crease: the skin just past the band's far end is drawn too,
            # where it is, without its fine dark lines (eyes.bare_skin), by how far the lid came
            # down — the crease a lid unfolds from flattens as it closes, and left in place it
            # outlined the closed lid as a dark arc on its top
            crease = None
            if out < 0 and eye.rim >= 0.0:
                crease = ops.mul(lowered(ops, ops.sub(ws, wt), eye.width), ops.f(LID_CREASE * eye.width))
            within = ops.sub(ops.add(ws, reach if crease is None else ops.add(reach, crease)), w)
            cover = ops.mul(ops.mul(ops.clip01(ops.add(ops.mul(ops.sub(w, wt), k), edge)), ops.clip01(ops.mul(within, fade))),
                            view.sides)
            # behind glasses whose rim ends the upper band, the lid unfolds right up to the rim
            rim_cut = view.up_cut if out < 0 and eye.rim < 0.0 else None
            src_w, unfolded, stretched = slide(ops, w, ws, wt, reach, band[1] * eye.width, eye.width, unfolds=out < 0,
                                               rim_cut=rim_cut, feather=eye.feather, crease=crease,
                                               turned=None if out > 0 else middle)
            x, y = source_xy(ops, eye, u, ops.mul(src_w, o))
            colour = ops.source_at(win, x, y)
            if stretched is not None:  # the stretched skin past the lashes, without them (eyes.bare_skin):
                # a lash's tip stretched down a closed lid is a streak
                bare, _ = ops.sample(win, eye.bare_skin, ops.sub(x, ops.f(eye.lid_skin_at[0])),
                                     ops.sub(y, ops.f(eye.lid_skin_at[1])))
                colour = ops.add(colour, ops.mul(ops.sub(bare, colour), stretched))
            if unfolded is not None:  # a closing upper lid unfolds from its crease into the light:
                # lit skin with the source's own fine detail (eyes.lid_skin), not its stretched
                # shadow; its detail moved with the lid edge, not stretched (stretched pores and
                # cracks read as streaks)
                lx, ly = source_xy(ops, eye, u, ops.mul(ops.add(w, ops.sub(ws, wt)), o))
                lit, _ = ops.sample(win, eye.lid_skin, ops.sub(lx, ops.f(eye.lid_skin_at[0])),
                                    ops.sub(ly, ops.f(eye.lid_skin_at[1])))
                if eye.rim < 0.0:  # behind glasses: detail from past the rim that ends the band is
                    # the rim's and the crease's above it, not lid skin (its lines rippled a closed lid)
                    past = ops.clip01(ops.mul(ops.sub(ops.sub(w, wt), reach), ops.f(1.0 / eye.feather)))
                    keep = ops.sub(ops.f(1.0), ops.mul(past, view.up_cut))
                    plain = ops.rgb(eye.lit_rgb)
                    lit = ops.add(plain, ops.mul(ops.sub(lit, plain), keep))
                colour = ops.add(colour, ops.mul(ops.sub(lit, colour), unfolded))
            if beyond:
                skin, white = white_beyond_at(ops, eye, win, x, y)
                colour = ops.add(colour, ops.mul(ops.sub(skin, colour), ops.mul(white, shut)))
            frame.canvas = ops.composite(frame.canvas, win, colour, cover)



def white_beyond_at(ops: Ops, eye: EyeShape, win: Window, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(lid skin, 0…1 how much it is the white outside the mesh's outline) at source pixels
    (``eyes.white_beyond``)."""
    return ops.sample(win, eye.beyond, ops.sub(x, ops.f(eye.beyond_at[0])), ops.sub(y, ops.f(eye.beyond_at[1])))


def uncovered(ops: Ops, eye: EyeShape, v: Tensor, source: tuple[Tensor, Tensor], target: tuple[Tensor, Tensor]) -> Tensor:
    """0…1: where a lid opened wider than the source's, between the new edge and just past the
    old one (its soft edge would otherwise show as a second lid line); 0 where nothing opened."""
    k, half = ops.f(1.0 / eye.feather), ops.f(0.5)
    up = ops.clip01(ops.mul(ops.sub(source[0], target[0]), k))
    low = ops.clip01(ops.mul(ops.sub(target[1], source[1]), k))
    past_up = ops.clip01(ops.add(ops.add(ops.mul(ops.sub(source[0], v), k), half), up))
    past_low = ops.clip01(ops.add(ops.add(ops.mul(ops.sub(v, source[1]), k), half), low))
    return ops.maximum(ops.mul(up, past_up), ops.mul(low, past_low))


def lowered(ops: Ops, shift: Tensor, width: float) -> Tensor:
    """0…1: how far a lid came down over the eye, by its edge's ``shift`` (pixels, > 0 over the
    eye): fully once LASH_THIN[1] × the eye's ``width``."""
    return ops.clip01(ops.mul(shift, ops.f(1.0 / (LASH_THIN[1] * width))))


def slide(ops: Ops, w: Tensor, ws: Tensor, wt: Tensor, reach: Tensor, lash: float, width: float,
          unfolds: bool, rim_cut: Tensor | None = None, feather: float = 1.0, crease: Tensor | None = None,
          turned: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Where in the source a lid pixel comes from, as distances outward from the eye: ``w`` the
    pixel's, ``ws`` the source's lid edge, ``wt`` the target's. The lash band at the edge (``lash``
    pixels) slides with it — thinning as the lid comes down, as lashes seen from the front do
    when they turn down — and the skin beyond it, up to an anchor ``reach`` pixels past the
    source's edge (eyes.lid_reach), stretches to fill the rest. With ``unfolds``, also how far
    each pixel takes the lit skin's colour (LID_UNFOLD × how much of it is newly unfolded lid),
    and how far it takes the source's skin without its lashes (eyes.bare_skin): past the lash
    band, by how far the lid came down (none where it did not move, so an open eye keeps its
    lashes' tips).
    ``rim_cut`` (0…1 per pixel: an eyewear rim ends the band there, eyes.lid_reach): there the
    few pixels between the lashes and the rim would be stretched over the whole closing eye,
    rows into vertical streaks, so the lit skin takes all of it up to a ``feather`` from the rim
    (which hides the lid's top as the real rim does).
    ``crease`` (pixels per pixel): the lid is also drawn this far past the anchor, each pixel
    from where it is, taking the skin without lashes there fully at the anchor and not at all at
    that far end.
    ``turned`` (0…1): how far the lid came down at its middle, when larger than here: lashes turn
    down all along a closing lid, so near the corners, where the edge hardly moves, the band
    thins as much as at the middle (at its full width it stood at the corners as a dark hook)."""
    anchor = ops.add(ws, reach)
    shift = ops.sub(ws, wt)  # > 0: the lid came further over the eye
    # once the lid moves over the eye, its band is taken from a little outside the mesh's lid
    # line, which often lies on the eye itself: else a sliver of iris would come along
    ws = ops.add(ws, ops.minimum(ops.maximum(shift, ops.f(0.0)), ops.f(LID_EDGE_MARGIN * width)))
    thin = lowered(ops, shift, width)
    if turned is not None:
        thin = ops.maximum(thin, turned)
    lash_t = ops.sub(ops.f(lash), ops.mul(thin, ops.f(LASH_THIN[0] * lash)))
    below = ops.sub(w, wt)
    # [wt, wt + lash_t] → [ws, ws + lash]; [wt + lash_t, anchor] → [ws + lash, anchor]
    rigid = ops.add(ws, ops.mul(below, ops.div(ops.f(lash), lash_t)))
    to_anchor = ops.sub(anchor, w)
    stretched = ops.sub(anchor, ops.div(ops.mul(to_anchor, ops.sub(ops.sub(anchor, ws), ops.f(lash))),
                                        ops.sub(ops.sub(anchor, wt), lash_t)))
    in_lash = ops.lt(below, lash_t)
    src_w = ops.where(in_lash, rigid, stretched)
    if crease is not None:  # past the anchor, each pixel is where it is
        src_w = ops.where(ops.lt(anchor, w), w, src_w)
    if not unfolds:
        return src_w, None, None
    # from none at the lashes' end, over another lash band's width (a step there drew the lash
    # line's top as a hard, pixel-stepped edge against the lit skin), to most near the lashes
    # and none at the anchor
    past_lash = ops.clip01(ops.div(ops.sub(below, lash_t), lash_t))
    share = ops.clip01(ops.div(ops.mul(to_anchor, ops.f(LID_UNFOLD)), reach))
    if rim_cut is not None:
        share = ops.add(share, ops.mul(ops.sub(ops.clip01(ops.mul(to_anchor, ops.f(1.0 / feather))), share), rim_cut))
    unfolded = ops.mul(past_lash, share)
    bare = ops.mul(past_lash, thin)
    if crease is not None:
        bare = ops.mul(bare, ops.clip01(ops.div(ops.add(to_anchor, crease), ops.maximum(crease, ops.f(1e-3)))))
    return src_w, ops.mul(unfolded, thin), bare
