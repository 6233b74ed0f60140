"""The mouth interior: where the lips part wider than the source's, a cavity is drawn.

The target's inner lips bound the opening: two parabolas through the inner corners and the
mid upper / mid lower lip points, in the mouth's own frame. Coverage grows with how much
wider the target opens than the source did, so a source that already shows its mouth
interior keeps its own pixels. The cavity is a dark shade of the lips; the teeth the source
shows (if any) stay their size, hanging from the upper lip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    CAVITY_SHADE,
    LIP_FALLBACK_RGB,
    LOWER_TEETH,
    MOUTH_FEATHER,
    MOUTH_FEATHER_MIN,
    MOUTH_OPEN_FROM,
    MOUTH_OPEN_RAMP,
    TEETH_BAND,
    TEETH_BRIGHT,
    TEETH_CENTRE,
    TEETH_SHOWN_GAP,
)
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.shapes import axis, bulge, feature_coords, height
from streamfx.generator.ops.base import Ops


@dataclass(frozen=True)
class MouthConsts:
    lips_idx: np.ndarray  # the outer lips: the window the layer is drawn in
    mouth_gap: float  # source inner-lip gap / mouth width
    lip_rgb: np.ndarray  # mean lip colour: the cavity is a dark shade of it
    teeth_rgb: np.ndarray | None  # colour of the teeth the source shows, or None


def teeth_colour(image: np.ndarray, lm: np.ndarray, gap: float) -> np.ndarray | None:
    """Teeth colour if the source shows teeth between its lips, else None."""
    bright_share, max_saturation, min_share, min_pixels = TEETH_BRIGHT
    if gap < TEETH_SHOWN_GAP:
        return None
    poly = lm[L.LIPS_INNER, :2].astype(np.int32)
    m = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(m, [poly], 1)
    px = image[m > 0][:, :3].astype(np.float32)
    if len(px) < min_pixels:
        return None
    hsv = cv2.cvtColor(px[None].astype(np.uint8), cv2.COLOR_RGB2HSV)[0].astype(np.float32)
    bright = (hsv[:, 2] > bright_share * hsv[:, 2].max()) & (hsv[:, 1] < max_saturation)
    if bright.mean() < min_share:
        return None
    return np.median(px[bright], axis=0).astype(np.float32)


def lip_colour(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    m = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(m, [lm[L.LIPS_OUTER, :2].astype(np.int32)], 1)
    cv2.fillPoly(m, [lm[L.LIPS_INNER, :2].astype(np.int32)], 0)
    px = image[m > 0][:, :3]
    if len(px) < 10:
        return np.array(LIP_FALLBACK_RGB, np.float32)
    return px.reshape(-1, 3).astype(np.float32).mean(axis=0)


class MouthLayer(Layer):
    name = "mouth"
    switch = "mouth_synthesis"
    settings = ("mouth_synthesis",)

    def prepare(self, src: SourceBasics) -> MouthConsts:
        lm, rgb = src.landmarks, src.image[..., :3]
        width = float(np.linalg.norm(lm[L.INNER_CORNERS[0], :2] - lm[L.INNER_CORNERS[1], :2]))
        gap = float(np.linalg.norm(lm[L.UPPER_LIP_MID, :2] - lm[L.LOWER_LIP_MID, :2])) / max(width, 1e-6)
        return MouthConsts(lips_idx=np.asarray(L.LIPS_OUTER, np.int64), mouth_gap=gap,
                           lip_rgb=lip_colour(rgb, lm), teeth_rgb=teeth_colour(rgb, lm, gap))

    def apply(self, ops: Ops, k: MouthConsts, frame: Frame) -> None:
        t = frame.target
        clx, cly = ops.point(t, L.INNER_CORNERS[0])
        crx, cry = ops.point(t, L.INNER_CORNERS[1])
        tx, ty = ops.point(t, L.UPPER_LIP_MID)
        bx, by = ops.point(t, L.LOWER_LIP_MID)
        ax_x, ax_y, width = axis(ops, clx, cly, crx, cry)
        h_up = height(ops, tx, ty, clx, cly, ax_x, ax_y)
        h_lo = height(ops, bx, by, clx, cly, ax_x, ax_y)
        # drawn inside the outer lips' box (floor / ceil, end exclusive)
        lips = ops.gather(t, ops.const(k.lips_idx), axis=1)
        lo, hi = ops.reduce_min(lips, (1,)), ops.reduce_max(lips, (1,))
        win = ops.window(frame.canvas, (
            ops.floor(ops.slice(lo, 0, 1)), ops.floor(ops.slice(lo, 1, 2)),
            ops.add(ops.ceil(ops.slice(hi, 0, 1)), ops.f(1.0)), ops.add(ops.ceil(ops.slice(hi, 1, 2)), ops.f(1.0))))
        u, v = feature_coords(ops, win, ax_x, ax_y, clx, cly, width)
        b = bulge(ops, u)
        v_up, v_lo = ops.mul(h_up, b), ops.mul(h_lo, b)
        feather = ops.maximum(ops.f(MOUTH_FEATHER_MIN), ops.mul(ops.f(MOUTH_FEATHER), width))
        inside = ops.mul(ops.clip01(ops.div(ops.sub(v, v_up), feather)), ops.clip01(ops.div(ops.sub(v_lo, v), feather)))
        gap = ops.div(ops.sub(h_lo, h_up), width)
        opening = ops.clip01(ops.div(ops.sub(ops.sub(gap, ops.f(k.mouth_gap)), ops.f(MOUTH_OPEN_FROM)),
                                     ops.f(MOUTH_OPEN_RAMP)))
        cover = ops.mul(inside, opening)
        # shading: darker in the middle of the cavity, a little lighter near the lips
        depth = ops.clip01(ops.div(ops.sub(v, v_up), ops.maximum(ops.sub(v_lo, v_up), ops.f(1e-3))))
        d = ops.abs(ops.sub(ops.mul(ops.f(2.0), depth), ops.f(1.0)))
        shade = ops.add(ops.f(CAVITY_SHADE[0]), ops.mul(ops.f(CAVITY_SHADE[1]), ops.mul(d, d)))
        colour = ops.mul(ops.rgb(k.lip_rgb), shade)
        if k.teeth_rgb is not None:
            # the teeth the source showed stay their size, hanging from the upper lip
            shown, least, most = TEETH_BAND
            band = ops.minimum(ops.maximum(ops.mul(ops.f(shown * k.mouth_gap), width), ops.mul(ops.f(least), width)),
                               ops.mul(ops.f(most), ops.sub(h_lo, h_up)))
            centre = ops.clip01(ops.sub(ops.f(1.0), ops.div(ops.abs(ops.sub(ops.mul(ops.f(2.0), u), ops.f(1.0))),
                                                             ops.f(TEETH_CENTRE))))
            upper = ops.mul(ops.clip01(ops.div(ops.sub(ops.add(v_up, band), v), feather)), centre)
            lower = ops.mul(ops.clip01(ops.div(ops.sub(v, ops.sub(v_lo, ops.mul(ops.f(LOWER_TEETH), band))), feather)),
                            centre)
            teeth = ops.clip01(ops.add(upper, lower))
            colour = ops.add(ops.mul(colour, ops.sub(ops.f(1.0), teeth)), ops.mul(ops.rgb(k.teeth_rgb), teeth))
        frame.canvas = ops.composite(frame.canvas, win, colour, cover)
