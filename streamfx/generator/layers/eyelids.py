"""The eyelids: where the target lid sits lower than the source's, the eye is covered.

A warp alone cannot close an eye: it would have to fold the eye region onto a line.
Instead the part of the eye's source-sized opening above the target lid is covered with
the source's own eyelid skin, with the lash line drawn along the new lid edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    LASH_AT,
    LASH_CLOSING,
    LASH_FALLBACK_RGB,
    LASH_MIN_BULGE,
    LASH_WIDTH,
    LID_BOX,
    LID_FALLBACK_RGB,
    LID_FEATHER,
    LID_OPEN_FEATHER,
    LID_SAMPLES,
    LID_SHADOW,
    LID_SKIN_AT,
)
from streamfx.generator.geometry import feature_frame
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.shapes import axis, bulge, feature_coords, height
from streamfx.generator.ops.base import Ops

# (corners, upper-lid middle, lower-lid middle), the subject's right eye then left
EYES = ((L.RIGHT_EYE_CORNERS, L.RIGHT_UPPER_LID, L.RIGHT_LOWER_LID),
        (L.LEFT_EYE_CORNERS, L.LEFT_UPPER_LID, L.LEFT_LOWER_LID))


@dataclass(frozen=True)
class EyelidConsts:
    lid_rgb: np.ndarray  # 2×3: upper-eyelid skin colour, right eye then left
    lash_rgb: np.ndarray  # 2×3: lash-line colour
    eye_open: np.ndarray  # 2: source upper-lid height over eye width


def lid_colours(image: np.ndarray, lm: np.ndarray) -> EyelidConsts:
    """The source's lid skin and lash colours, sampled along each upper lid, and its opening."""
    lids, lashes, opens = [], [], []
    h, w = image.shape[:2]
    for corners, up, _low in EYES:
        o, ax, down, width = feature_frame(lm, corners)
        h_up = float((lm[up, :2] - o) @ down)
        opens.append(-h_up / width)
        skin: list[np.ndarray] = []
        lash: list[np.ndarray] = []
        for u in np.linspace(*LID_SAMPLES):
            base = o + ax * u * width + down * h_up * 4 * u * (1 - u)
            for k, bucket in ((LID_SKIN_AT[0], skin), (LID_SKIN_AT[1], skin), (LASH_AT[0], lash), (LASH_AT[1], lash)):
                x, y = (base + down * k * width).round().astype(int)
                if 0 <= x < w and 0 <= y < h:
                    bucket.append(image[y, x, :3].astype(np.float32))
        lids.append(np.median(skin, axis=0) if skin else np.array(LID_FALLBACK_RGB))
        lashes.append(np.min(lash, axis=0) if lash else np.array(LASH_FALLBACK_RGB))
    return EyelidConsts(np.array(lids, np.float32), np.array(lashes, np.float32), np.array(opens, np.float32))


class EyelidLayer(Layer):
    name = "eyelids"
    switch = "eyelids"
    settings = ("eyelids",)

    def prepare(self, src: SourceBasics) -> EyelidConsts:
        return lid_colours(src.image[..., :3], src.landmarks)

    def apply(self, ops: Ops, k: EyelidConsts, frame: Frame) -> None:
        for eye in range(len(EYES)):
            self._eye(ops, k, frame, eye)

    @staticmethod
    def _eye(ops: Ops, k: EyelidConsts, frame: Frame, eye: int) -> None:
        t = frame.target
        corners, up, low = EYES[eye]
        ax_, ay_ = ops.point(t, corners[0])
        bx_, by_ = ops.point(t, corners[1])
        swap = ops.gt(ax_, bx_)  # the eye's frame runs left to right
        ox, oy = ops.where(swap, bx_, ax_), ops.where(swap, by_, ay_)
        ex, ey = ops.where(swap, ax_, bx_), ops.where(swap, ay_, by_)
        ax_x, ax_y, width = axis(ops, ox, oy, ex, ey)
        upx, upy = ops.point(t, up)
        lox, loy = ops.point(t, low)
        h_up = height(ops, upx, upy, ox, oy, ax_x, ax_y)
        h_lo = height(ops, lox, loy, ox, oy, ax_x, ax_y)
        # drawn in a square around the corners' centre: ± (0.6 · width + 2), truncated
        cx = ops.mul(ops.add(ax_, bx_), ops.f(0.5))
        cy = ops.mul(ops.add(ay_, by_), ops.f(0.5))
        r = ops.add(ops.mul(ops.f(LID_BOX[0]), width), ops.f(LID_BOX[1]))
        win = ops.window(frame.canvas, (
            ops.trunc(ops.sub(cx, r)), ops.trunc(ops.sub(cy, r)),
            ops.add(ops.trunc(ops.add(cx, r)), ops.f(1.0)), ops.add(ops.trunc(ops.add(cy, r)), ops.f(1.0))))
        u, v = feature_coords(ops, win, ax_x, ax_y, ox, oy, width)
        b = bulge(ops, u)
        v_lid = ops.mul(h_up, b)
        k_open = ops.mul(ops.f(-float(k.eye_open[eye])), width)
        v_open = ops.mul(k_open, b)  # where the source's lid edge would be
        feather = ops.maximum(ops.f(LID_FEATHER[1]), ops.mul(ops.f(LID_FEATHER[0]), width))
        below_open = ops.clip01(ops.div(ops.sub(v, v_open), ops.mul(ops.f(LID_OPEN_FEATHER), feather)))
        above_lid = ops.clip01(ops.div(ops.sub(v_lid, v), feather))
        above_lower = ops.clip01(ops.div(ops.sub(ops.add(ops.mul(h_lo, b), feather), v), feather))
        on_lid = ops.to_float(ops.gt(b, ops.f(0.0)))
        cover = ops.mul(ops.mul(ops.mul(below_open, above_lid), above_lower), on_lid)
        lash_w = ops.maximum(ops.f(LASH_WIDTH[1]), ops.mul(ops.f(LASH_WIDTH[0]), width))
        lash = ops.clip01(ops.sub(ops.f(1.0), ops.div(ops.abs(ops.sub(v, v_lid)), lash_w)))
        lash = ops.mul(lash, ops.to_float(ops.gt(b, ops.f(LASH_MIN_BULGE))))
        # how far the lid has come down, from the lid curves' extremes over the window: both
        # are a per-eye factor times the bulge, and rounding is monotonic, so they follow
        # from the bulge's extremes
        b_max, b_min = ops.window_max(win, b, 0.0), ops.window_min(win, b, 4.0)
        neg_open = ops.lt(k_open, ops.f(0.0))
        vo_max = ops.mul(k_open, ops.where(neg_open, b_min, b_max))
        vo_min = ops.mul(k_open, ops.where(neg_open, b_max, b_min))
        vl_max = ops.mul(h_up, ops.where(ops.lt(h_up, ops.f(0.0)), b_min, b_max))
        ratio = ops.div(ops.sub(vo_max, vl_max), ops.add(ops.mul(ops.neg(vo_min), ops.f(LASH_CLOSING)), ops.f(1e-6)))
        closing = ops.where(ops.lt(vo_min, ops.f(0.0)), ops.clip01(ratio), ops.f(0.0))
        lash = ops.mul(lash, closing)
        # the lid darkens a little towards its edge, as a real lid's crease shadow does
        depth = ops.clip01(ops.div(ops.sub(v, v_open), ops.maximum(ops.sub(v_lid, v_open), ops.f(1e-3))))
        lid = ops.mul(ops.rgb(k.lid_rgb[eye]), ops.sub(ops.f(1.0), ops.mul(ops.f(LID_SHADOW), depth)))
        colour = ops.add(ops.mul(lid, ops.sub(ops.f(1.0), lash)), ops.mul(ops.rgb(k.lash_rgb[eye]), lash))
        frame.canvas = ops.composite(frame.canvas, win, colour, ops.maximum(cover, lash))
