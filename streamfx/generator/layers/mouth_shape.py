"""The mouth's shape, written once against the ops, and the source's teeth.

Both mouth layers (the compiled :mod:`~streamfx.generator.layers.mouth` and the driver's
interior, :mod:`~streamfx.generator.layers.driver_mouth`) draw in the mouth's own frame:
origin at the inner lip corner 78, unit axis towards the other inner corner (308), ``width``
their distance; a pixel has ``u`` (0…1 between the inner corners) and ``v`` (pixels below
the axis).

The lips are four contours — outer upper, inner upper, inner lower, outer lower — each a
polyline through its landmarks (the outer corners close the inner lips' ends). Per frame
they are tabulated over u (:data:`~streamfx.generator.constants.MOUTH_TABLE`: piecewise
linear between the landmarks, flat beyond the ends) with a few small ops on ``B×52×bins``
values, so a pixel reads its four contour heights with two gathers. Parabolas through three
points, as before, made a lens of every opening: an "O" drew its hole over the lips.

Rigid motion: the upper teeth ride with the skull (the head similarity fitted on the rigid
landmarks, as the motion field's), the lower teeth with the jaw (the head's rotation and
scale, moved by the chin's own displacement). The source's teeth are cut out once per source
(:func:`teeth_sprites`) and sampled at the rigidly moved coordinates (``ops.sample``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    JAW,
    LIP_FALLBACK_RGB,
    MOUSTACHE,
    MOUTH_TABLE,
    SKIN_RING,
    TEETH_COLOURFUL,
    TEETH_EXTEND,
    TEETH_FALLBACK_RGB,
    TEETH_MATTE,
    TEETH_TINT,
    TEETH_WHITEN,
)
from streamfx.generator.geometry import similarity_rows
from streamfx.generator.layers.shapes import axis, feature_coords
from streamfx.generator.ops.base import Ops, Tensor, Window

CONTOURS = (
    [61, 61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 291],  # outer upper
    [61, 78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 291],  # inner upper
    [61, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 291],  # inner lower
    [61, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 291],  # outer lower
)
"""Landmarks of each contour, from the subject's right outer corner to the left (13 nodes
each: the outer contours repeat their corners, which the tabulation handles)."""
OUTER, INNER_UP, INNER_LO, OUTER_LO = range(4)
NODES = len(CONTOURS[0])
BIG = 1e6


@dataclass(frozen=True)
class Sprite:
    """Part of the source portrait with a matte: RGBA uint8 and where its pixel (0, 0) sits."""

    rgba: np.ndarray
    x0: float
    y0: float


@dataclass(frozen=True)
class ContourIndex:
    """The constant arrays the contour tabulation works with (the same for every face)."""

    nodes: np.ndarray  # 52 landmark indices, the contours' nodes
    bins: np.ndarray  # 1×1×NB the table's u
    first: np.ndarray  # 1×52×1: BIG on each contour's first node, −BIG elsewhere
    last: np.ndarray
    prev: np.ndarray  # 52: each node's neighbours along its contour
    next: np.ndarray
    lips_idx: np.ndarray  # the outer lips: the window's extent

    @classmethod
    def build(cls) -> ContourIndex:
        nodes = np.asarray([i for c in CONTOURS for i in c], np.int64)
        first = np.full((1, len(nodes), 1), -BIG, np.float32)
        last = first.copy()
        prev, nxt = np.arange(len(nodes)), np.arange(len(nodes))
        for c in range(len(CONTOURS)):
            s, e = c * NODES, (c + 1) * NODES
            first[0, s], last[0, e - 1] = BIG, BIG
            prev[s + 1:e], nxt[s:e - 1] = np.arange(s, e - 1), np.arange(s + 1, e)
        lo, hi, nb = MOUTH_TABLE
        return cls(nodes=nodes, bins=np.linspace(lo, hi, nb, dtype=np.float32).reshape(1, 1, nb), first=first,
                   last=last, prev=prev.astype(np.int64), next=nxt.astype(np.int64),
                   lips_idx=np.asarray(L.LIPS_OUTER, np.int64))


INDEX = ContourIndex.build()


@dataclass(frozen=True)
class MouthShape:
    """Per source: what the mouth layers need of the portrait's mouth."""

    index: ContourIndex
    table: np.ndarray  # NB×4 the source's contours over the table's u
    origin: np.ndarray  # the source mouth frame: inner corner 78, unit axis, width
    axis: np.ndarray
    width: float
    gap: float  # the source's inner lips' widest gap, × width
    rigid_idx: np.ndarray  # head similarity (as the motion field's), on normalised coordinates
    rigid_source: np.ndarray  # R×2 normalised
    rigid_inverse: np.ndarray  # 4×2R
    jaw_idx: np.ndarray
    jaw_source: np.ndarray  # J×2 normalised
    centre: np.ndarray  # normalisation: (p − centre) / scale
    scale: float
    lip_rgb: np.ndarray
    teeth_rgb: np.ndarray  # the source's teeth colour, or an off-white matched to the portrait
    upper_teeth: Sprite | None  # the source's visible teeth, or None
    lower_teeth: Sprite | None
    moustache: Sprite | None = None  # hair over the upper lip, which hangs over an opening (moustache_sprite)
    lip_mid: np.ndarray | None = None  # 2: the upper inner lip's middle (landmark 13), source pixels


# ---- per frame, against the ops ------------------------------------------------------------------
@dataclass
class MouthFrame:
    """Per-frame scalars of the target mouth and its contour table."""

    ox: Tensor
    oy: Tensor
    ax_x: Tensor
    ax_y: Tensor
    width: Tensor
    table: Tensor  # (B·NB)×4
    gap: Tensor  # the inner lips' widest gap, × width


def mouth_frame(ops: Ops, t: Tensor, k: ContourIndex = INDEX) -> MouthFrame:
    """The mouth frame and contours of landmarks ``t`` (``B×478×2``)."""
    ox, oy = ops.point(t, L.INNER_CORNERS[0])
    ex, ey = ops.point(t, L.INNER_CORNERS[1])
    ax_x, ax_y, width = axis(ops, ox, oy, ex, ey)
    return MouthFrame(ox, oy, ax_x, ax_y, width, *contour_table(ops, k, t, ox, oy, ax_x, ax_y, width))


def contour_table(ops: Ops, k: ContourIndex, t: Tensor, ox: Tensor, oy: Tensor, ax_x: Tensor, ax_y: Tensor,
                  width: Tensor) -> tuple[Tensor, Tensor]:
    """The four contours' heights over the table's u, ``(B·NB)×4``, and the inner lips' widest gap
    (× width).

    Piecewise-linear interpolation as a weighted sum: node n's weight at u is its tent,
    min((u − uₙ₋₁)/(uₙ − uₙ₋₁), (uₙ₊₁ − u)/(uₙ₊₁ − uₙ)) clipped to 0…1 (1 beyond the ends),
    normalised (a contour whose nodes fold back in u still gets an average, not a spike)."""
    nb = k.bins.shape[-1]
    pts = ops.gather(t, ops.const(k.nodes), axis=1)  # B×52×2
    rx, ry = ops.sub(ops.slice(pts, 0, 1), ox), ops.sub(ops.slice(pts, 1, 2), oy)
    u = ops.div(ops.add(ops.mul(rx, ax_x), ops.mul(ry, ax_y)), width)  # B×52×1
    v = ops.add(ops.mul(rx, ops.neg(ax_y)), ops.mul(ry, ax_x))
    u_prev = ops.gather(u, ops.const(k.prev), axis=1)
    u_next = ops.gather(u, ops.const(k.next), axis=1)
    bins = ops.const(k.bins, "mouth_bins")
    eps = ops.f(1e-4)
    left = ops.div(ops.sub(bins, u_prev), ops.maximum(ops.sub(u, u_prev), eps))  # B×52×NB
    right = ops.div(ops.sub(u_next, bins), ops.maximum(ops.sub(u_next, u), eps))
    left = ops.maximum(left, ops.const(k.first, "mouth_first"))
    right = ops.maximum(right, ops.const(k.last, "mouth_last"))
    w = ops.clip01(ops.minimum(left, right))
    shape = (0, len(CONTOURS), NODES, nb)
    wv = ops.reduce_sum(ops.reshape(ops.mul(w, v), shape), (2,))  # B×4×1×NB
    ws = ops.reduce_sum(ops.reshape(w, shape), (2,))
    table = ops.reshape(ops.div(wv, ops.maximum(ws, eps)), (0, len(CONTOURS), nb))
    table = ops.transpose(table, (0, 2, 1))  # B×NB×4
    # the widest the inner lips part, anywhere along the mouth (a lopsided smile opens at a side)
    opening = ops.sub(ops.slice(table, INNER_LO, INNER_LO + 1, axis=2), ops.slice(table, INNER_UP, INNER_UP + 1, axis=2))
    gap = ops.div(ops.per_frame(ops.reduce_max(opening, (1,))), width)  # B×1×1
    return ops.reshape(table, (-1, len(CONTOURS))), gap


@dataclass
class MouthPixels:
    """Per-pixel values over a window: the mouth coordinates and the contours there."""

    u: Tensor
    v: Tensor
    target: list[Tensor]  # the four contour heights of the target (pixels)
    source: list[Tensor]  # the source's, at the same u (source pixels)


def mouth_pixels(ops: Ops, k: MouthShape | None, m: MouthFrame, win: Window) -> MouthPixels:
    """u, v and the contours over the window (the source's too, with ``k``)."""
    u, v = feature_coords(ops, win, m.ax_x, m.ax_y, m.ox, m.oy, m.width)
    lo, hi, nb = MOUTH_TABLE
    f = ops.clip(ops.mul(ops.sub(u, ops.f(lo)), ops.f((nb - 1) / (hi - lo))), 0.0, nb - 1.0)
    i0 = ops.minimum(ops.floor(f), ops.f(nb - 2.0))
    frac = ops.reshape(ops.sub(f, i0), (0, 0, 0, 1))
    idx = ops.to_int(i0)
    target = _lookup(ops, m.table, ops.add(idx, ops.batch_offsets(nb)), frac)
    source = [] if k is None else _lookup(ops, ops.const(k.table, "mouth_source_table"), idx, frac)
    return MouthPixels(u, v, target, source)


def _lookup(ops: Ops, table: Tensor, idx: Tensor, frac: Tensor) -> list[Tensor]:
    r0 = ops.gather(table, idx, axis=0)
    r1 = ops.gather(table, ops.add(idx, ops.i(1)), axis=0)
    vals = ops.add(r0, ops.mul(ops.sub(r1, r0), frac))
    return [ops.squeeze(ops.slice(vals, c, c + 1, axis=-1), -1) for c in range(len(CONTOURS))]


def mouth_window(ops: Ops, canvas: Tensor, t: Tensor, grow: Tensor) -> Window:
    """The outer lips' box grown by ``grow`` pixels (floor / ceil, end exclusive)."""
    lips = ops.gather(t, ops.const(INDEX.lips_idx), axis=1)
    lo, hi = ops.reduce_min(lips, (1,)), ops.reduce_max(lips, (1,))
    return ops.window(canvas, (
        ops.floor(ops.sub(ops.slice(lo, 0, 1), grow)), ops.floor(ops.sub(ops.slice(lo, 1, 2), grow)),
        ops.add(ops.ceil(ops.add(ops.slice(hi, 0, 1), grow)), ops.f(1.0)),
        ops.add(ops.ceil(ops.add(ops.slice(hi, 1, 2), grow)), ops.f(1.0))))


def source_point(ops: Ops, k: MouthShape, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """The source pixel at mouth coordinates (u, v) of the source's own mouth frame."""
    along = ops.mul(u, ops.f(k.width))
    x = ops.add(ops.add(ops.f(float(k.origin[0])), ops.mul(along, ops.f(float(k.axis[0])))),
                ops.mul(v, ops.f(-float(k.axis[1]))))
    y = ops.add(ops.add(ops.f(float(k.origin[1])), ops.mul(along, ops.f(float(k.axis[1])))),
                ops.mul(v, ops.f(float(k.axis[0]))))
    return x, y


@dataclass
class Rigid:
    """Target pixel → source pixel of a rigid motion: xs = cx + a·(x − x0) + b·(y − y0),
    ys = cy − b·(x − x0) + a·(y − y0) (the inverse of a similarity), per-frame scalars."""

    a: Tensor
    b: Tensor
    x0: Tensor
    y0: Tensor
    cx: float
    cy: float

    def at(self, ops: Ops, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        dx, dy = ops.sub(xs, self.x0), ops.sub(ys, self.y0)
        return (ops.add(ops.f(self.cx), ops.add(ops.mul(self.a, dx), ops.mul(self.b, dy))),
                ops.add(ops.f(self.cy), ops.sub(ops.mul(self.a, dy), ops.mul(self.b, dx))))


def teeth_motions(ops: Ops, k: MouthShape, t: Tensor) -> tuple[Rigid, Rigid]:
    """(upper, lower): the skull's motion and the jaw's, as target → source pixel maps.

    The head similarity is the least-squares fit on the rigid landmarks (normalised about the
    source's centre); the jaw adds the chin's mean displacement beyond it."""
    s = ops.f(k.scale)
    cx, cy = float(k.centre[0]), float(k.centre[1])
    centre = ops.const(k.centre.reshape(1, 1, 2), "mouth_centre")
    n_rigid = len(k.rigid_idx)
    rig = ops.div(ops.sub(ops.gather(t, ops.const(k.rigid_idx), axis=1), centre), s)
    d = ops.reshape(ops.sub(rig, ops.const(k.rigid_source, "mouth_rigid")), (0, 2 * n_rigid, 1))
    p = ops.matmul(ops.const(k.rigid_inverse, "mouth_rigid_inverse"), d)  # B×4×1
    a1, b1 = ops.add(ops.per_frame(ops.slice(p, 0, 1, axis=1)), ops.f(1.0)), ops.per_frame(ops.slice(p, 1, 2, axis=1))
    tx, ty = ops.per_frame(ops.slice(p, 2, 3, axis=1)), ops.per_frame(ops.slice(p, 3, 4, axis=1))
    det = ops.add(ops.mul(a1, a1), ops.mul(b1, b1))
    a, b = ops.div(a1, det), ops.div(b1, det)
    x0, y0 = ops.add(ops.f(cx), ops.mul(tx, s)), ops.add(ops.f(cy), ops.mul(ty, s))
    upper = Rigid(a, b, x0, y0, cx, cy)
    # the chin's displacement beyond the head's (normalised): mean of target − head(source)
    jaw = ops.div(ops.sub(ops.gather(t, ops.const(k.jaw_idx), axis=1), centre), s)  # B×J×2
    js = ops.const(k.jaw_source[None], "mouth_jaw")  # 1×J×2
    jx, jy = ops.slice(js, 0, 1), ops.slice(js, 1, 2)
    hx = ops.add(ops.sub(ops.mul(a1, jx), ops.mul(b1, jy)), tx)
    hy = ops.add(ops.add(ops.mul(b1, jx), ops.mul(a1, jy)), ty)
    n_jaw = ops.f(1.0 / len(k.jaw_idx))
    rx = ops.mul(ops.per_frame(ops.reduce_sum(ops.sub(ops.slice(jaw, 0, 1), hx), (1,))), n_jaw)  # B×1×1
    ry = ops.mul(ops.per_frame(ops.reduce_sum(ops.sub(ops.slice(jaw, 1, 2), hy), (1,))), n_jaw)
    lower = Rigid(a, b, ops.add(x0, ops.mul(rx, s)), ops.add(y0, ops.mul(ry, s)), cx, cy)
    return upper, lower


def draw_teeth(ops: Ops, sprite: Sprite, motion: Rigid, win: Window, colour: Tensor, cover: Tensor,
               shift: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """``colour`` with the sprite's teeth (or hair), moved rigidly, over it where ``cover`` lets
    them show; ``shift``: source pixels the sprite is sampled further off by (it moves the other way)."""
    sx, sy = motion.at(ops, win.xs, win.ys)
    if shift is not None:
        sx, sy = ops.add(sx, shift[0]), ops.add(sy, shift[1])
    rgb, alpha = ops.sample(win, sprite.rgba, ops.sub(sx, ops.f(sprite.x0)), ops.sub(sy, ops.f(sprite.y0)))
    a = ops.mul(alpha, cover)
    return ops.add(ops.mul(colour, ops.sub(ops.f(1.0), a)), ops.mul(rgb, a))


# ---- per source, NumPy ----------------------------------------------------------------------------
def mouth_shape(src: SourceBasics) -> MouthShape:
    """Everything per source the mouth layers share (prepared once per portrait)."""
    from streamfx.generator.ops.numpy_ops import NumpyOps

    lm = src.landmarks
    image = src.image[..., :3]
    nb = MOUTH_TABLE[2]
    # the source's own frame and table, by the very code the frames use (NumPy ops)
    ops = NumpyOps(src)
    m = mouth_frame(ops, ops.landmarks(lm))
    table = np.asarray(m.table, np.float32).reshape(nb, len(CONTOURS))
    origin = np.array([float(m.ox), float(m.oy)], np.float32)
    ax = np.array([float(m.ax_x), float(m.ax_y)], np.float32)
    width = float(m.width)
    io = L.interocular(lm)
    centre = lm[L.RIGID, :2].mean(axis=0).astype(np.float32)
    rigid_n = ((lm[L.RIGID, :2] - centre) / io).astype(np.float32)
    jaw_n = ((lm[JAW, :2] - centre) / io).astype(np.float32)
    lip = lip_colour(image, lm)
    upper, lower, seen = teeth_sprites(image, table, origin, ax, width)
    return MouthShape(
        index=INDEX, table=table, origin=origin, axis=ax, width=width, gap=float(np.asarray(m.gap).ravel()[0]),
        rigid_idx=np.asarray(L.RIGID, np.int64), rigid_source=rigid_n,
        rigid_inverse=np.linalg.pinv(similarity_rows(rigid_n.astype(np.float64))).astype(np.float32),
        jaw_idx=np.asarray(JAW, np.int64), jaw_source=jaw_n, centre=centre, scale=io, lip_rgb=lip,
        teeth_rgb=np.clip(seen if seen is not None else drawn_teeth_colour(image, lm), 0, 255).astype(np.float32),
        upper_teeth=upper, lower_teeth=lower, moustache=moustache_sprite(image, table, origin, ax, width),
        lip_mid=lm[L.UPPER_LIP_MID, :2].astype(np.float32))


def lip_colour(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Mean colour between the outer and inner lip contours (measured in their box)."""
    h, w = image.shape[:2]
    outer = lm[L.LIPS_OUTER, :2]
    x0, y0 = np.maximum(np.floor(outer.min(axis=0)), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(outer.max(axis=0)) + 1, [w, h]).astype(int)
    if x1 <= x0 or y1 <= y0:
        return np.array(LIP_FALLBACK_RGB, np.float32)
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [(outer - [x0, y0]).round().astype(np.int32)], 1)
    cv2.fillPoly(m, [(lm[L.LIPS_INNER, :2] - [x0, y0]).round().astype(np.int32)], 0)
    px = image[y0:y1, x0:x1][m > 0][:, :3]
    if len(px) < 10:
        return np.array(LIP_FALLBACK_RGB, np.float32)
    return px.reshape(-1, 3).astype(np.float32).mean(axis=0)


def drawn_teeth_colour(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """An off-white for drawn teeth, in the portrait's brightness and tint (a black-and-white
    photo gets grey teeth, a varnished painting yellowish ones)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = L.face_box(lm, w, h, pad=0.0)
    face = image[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    mean = face.mean(axis=0) if len(face) else np.full(3, 128.0, np.float32)
    light = float(np.percentile(face.mean(axis=1), 90)) if len(face) else 160.0
    share, gain = TEETH_TINT
    tint = (1 - share) + share * mean / max(float(mean.mean()), 1.0)
    white = np.array(TEETH_FALLBACK_RGB, np.float32)
    if len(face):  # the off-white's own cream only in a picture with colour
        sat = float(cv2.cvtColor(image[y0:y1, x0:x1, :3], cv2.COLOR_RGB2HSV)[..., 1].mean()) / 255.0
        white = white.mean() + (white - white.mean()) * min(sat / TEETH_COLOURFUL, 1.0)
    scale = min(1.0, gain * light / float(white.mean()))
    return np.clip(white * tint * scale, 0, 255).astype(np.float32)


def teeth_sprites(image: np.ndarray, table: np.ndarray, origin: np.ndarray, ax: np.ndarray,
                  width: float) -> tuple[Sprite | None, Sprite | None, np.ndarray | None]:
    """The source's visible upper and lower teeth as sprites (matte: bright, unsaturated pixels
    between the inner lips, split at the opening's middle), and their colour — or Nones when the
    source shows no teeth.

    Each sprite continues its teeth :data:`TEETH_EXTEND` past the lip edge that hid them (the
    edge row repeated), so that a wider opening shows more tooth, not a hole."""
    lo, hi, nb = MOUTH_TABLE
    value_share, sat_share, sat_bounds, min_share, min_px = TEETH_MATTE
    extend = TEETH_EXTEND * width
    h, w = image.shape[:2]
    down = np.array([-ax[1], ax[0]], np.float32)
    # the source's opening, in a box around it (with room for the extension)
    us = np.linspace(lo, hi, nb)
    corners = [origin + ax * width * uu + down * table[i, c] for i, uu in enumerate(us) for c in (1, 2)
               if 0.0 <= uu <= 1.0]
    pts = np.array(corners)
    bx0, by0 = np.floor(pts.min(axis=0) - extend - 3).astype(int)
    bx1, by1 = np.ceil(pts.max(axis=0) + extend + 3).astype(int)
    bx0, by0, bx1, by1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
    if bx1 - bx0 < 4 or by1 - by0 < 4:
        return None, None, None
    crop = image[by0:by1, bx0:bx1].astype(np.float32)
    yy, xx = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
    rx, ry = xx - origin[0], yy - origin[1]
    u = (rx * ax[0] + ry * ax[1]) / width
    v = rx * down[0] + ry * down[1]
    up = np.interp(u, us, table[:, 1])
    low = np.interp(u, us, table[:, 2])
    inside = np.clip(np.minimum(v - up, low - v), 0.0, 1.0) * ((u > 0) & (u < 1))
    if (inside > 0.5).sum() < min_px:
        return None, None, None
    hsv = cv2.cvtColor(crop.astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    val, sat = hsv[..., 2], hsv[..., 1] / 255.0
    brightest = float(np.percentile(val[inside > 0.5], 98))
    bright = np.clip((val - value_share * brightest) / (0.1 * brightest + 1.0), 0.0, 1.0)
    outer = np.interp(u, us, table[:, 0]), np.interp(u, us, table[:, 3])
    on_lips = ((v > outer[0]) & (v < up)) | ((v > low) & (v < outer[1]))
    lip_sat = float(np.median(sat[on_lips])) if on_lips.sum() >= min_px else 0.5
    max_sat = float(np.clip(sat_share * lip_sat, *sat_bounds))
    pale = np.clip((max_sat - sat) / 0.08, 0.0, 1.0)
    matte = bright * pale * inside
    if (matte > 0.5).sum() < max(min_px, min_share * (inside > 0.5).sum()):
        return None, None, None
    teeth = crop[matte > 0.5]
    colour = np.median(teeth, axis=0).astype(np.float32)
    colour = colour + TEETH_WHITEN * (colour.mean() - colour)  # seen through the lips' colour
    # as bright as the brighter half of them (the rest is in the lips' shadow)
    colour *= float(np.percentile(teeth.mean(axis=1), 75)) / max(float(colour.mean()), 1.0)
    mid = 0.5 * (up + low)
    sprites: list[Sprite | None] = []
    for part, sign in ((v <= mid, -1.0), (v > mid, 1.0)):
        a = matte * part
        if (a > 0.5).sum() < min_px:
            sprites.append(None)
            continue
        rgba = np.dstack([crop, a * 255.0])
        rgba = _extend(rgba, sign * down, extend)
        sprites.append(Sprite(np.ascontiguousarray(np.clip(np.rint(rgba), 0, 255).astype(np.uint8)),
                              float(bx0), float(by0)))
    return sprites[0], sprites[1], colour


def moustache_sprite(image: np.ndarray, table: np.ndarray, origin: np.ndarray, ax: np.ndarray,
                     width: float) -> Sprite | None:
    """The hair over the source's upper lip, as a sprite (matte: hair), or None without a moustache.

    Under a moustache the mesh's upper lip lies in the hair and its inner lip at the hair's
    lower edge. As the mouth opened, the upper inner lip rose into the hair and the interior
    was drawn there: a smooth hole punched in the moustache. Hair hangs over an opening instead:
    the mouth layers draw this sprite, moved with the skull as the upper teeth are, over what
    they draw between the lips. A moustache is told from lips by brightness (MOUSTACHE), over
    the mouth's middle: the band between the upper lip's outer and inner contours far darker
    than both the lower lip and the skin below the mouth (lipstick darkens both lips alike),
    and the skin just above the lip dark too (an upper lip in the shadow of top light, a
    drawing's darker upper lip, has lit skin above it). Per source, once."""
    dark, above_dark, above, full, none, reach = MOUSTACHE
    lo, hi, nb = MOUTH_TABLE
    h, w = image.shape[:2]
    down = np.array([-ax[1], ax[0]], np.float32)
    us = np.linspace(lo, hi, nb)
    top = float(table[:, OUTER].min()) - reach * width
    corners = np.array([origin + ax * width * uu + down * vv for uu in (lo, hi)
                        for vv in (top, float(table[:, OUTER_LO].max()) + SKIN_RING[1] * width)])
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)) - 2, 0).astype(int)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)) + 3, [w, h]).astype(int)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    crop = image[y0:y1, x0:x1, :3].astype(np.float32)
    luma = crop @ np.array([0.299, 0.587, 0.114], np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rx, ry = xx - origin[0], yy - origin[1]
    u = (rx * ax[0] + ry * ax[1]) / width
    v = rx * down[0] + ry * down[1]
    outer, inner_up, inner_lo, outer_lo = (np.interp(u, us, table[:, c]) for c in range(4))
    middle = (u > 0.2) & (u < 0.8)
    upper_lip = middle & (v > outer) & (v < inner_up)
    lower_lip = middle & (v > inner_lo) & (v < outer_lo)
    chin = middle & (v > outer_lo + SKIN_RING[0] * width) & (v < outer_lo + SKIN_RING[1] * width)
    philtrum = middle & (v < outer - above[0] * width) & (v > outer - above[1] * width)
    if min(int(upper_lip.sum()), int(lower_lip.sum()), int(chin.sum()), int(philtrum.sum())) < 10:
        return None
    hair, lip, skin, over = (float(np.median(luma[m])) for m in (upper_lip, lower_lip, chin, philtrum))
    if hair >= dark * min(lip, skin) or over >= above_dark * skin:
        return None
    # hair by brightness, above the inner lip, fully over the sprite's reach
    share = (luma - hair) / max(lip - hair, 1.0)
    matte = np.clip((none - share) / (none - full), 0.0, 1.0) * (v < inner_up + 1.0) * (v > top) * (u > lo) * (u < hi)
    matte = cv2.GaussianBlur(matte.astype(np.float32), (0, 0), 0.7)
    rgba = np.dstack([crop, matte * 255.0])
    return Sprite(np.ascontiguousarray(np.clip(np.rint(rgba), 0, 255).astype(np.uint8)), float(x0), float(y0))


def _extend(rgba: np.ndarray, direction: np.ndarray, length: float) -> np.ndarray:
    """The teeth continued ``length`` pixels along ``direction`` (away from the opening, under
    the lip): each step is the sprite shifted one pixel, behind what is already there."""
    out = rgba.copy()
    h, w = rgba.shape[:2]
    steps = int(np.ceil(length))
    for k in range(1, steps + 1):
        m = np.eye(2, 3, dtype=np.float32)  # a shift by k pixels
        m[:, 2] = direction * k
        moved = cv2.warpAffine(rgba, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        a, b = out[..., 3:4] / 255.0, moved[..., 3:4] / 255.0
        keep = a + b * (1 - a)
        out[..., :3] = np.where(keep > 0, (out[..., :3] * a + moved[..., :3] * b * (1 - a)) / np.maximum(keep, 1e-6),
                                out[..., :3])
        out[..., 3:4] = keep * 255.0
    return out
