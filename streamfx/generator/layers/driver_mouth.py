"""The driver's own mouth interior, between the portrait's lips (an appearance layer).

What a warp cannot make — the inside of an opening mouth: teeth, tongue, shading — the
driving video has (Averbuch-Elor et al., "Bringing Portraits to Life", 2017). Per driver
frame, :meth:`DriverMouthLayer.extract` samples the driver's inner mouth into a small
canonical patch: columns ``u`` from one inner lip corner to the other, rows ``s`` from the
upper inner lip (0) to the lower (1), a margin beyond each, and measures the colours the
tone match needs (the driver's lips and the skin around them) and its fine detail.

:meth:`~DriverMouthLayer.apply` maps every pixel between the *target's* inner lips to its
(u, s) and samples the patch there, after matching it to the portrait: each channel scaled
by the portrait's light over the driver's (brightness from the skin around the mouth, half
the colour cast from the lips), its saturation scaled as the lips' is (at most to the driver's), and its fine detail scaled to
the portrait's (a cartoon's flat shading smooths it, a painting's brushwork keeps or raises it). The soft edge lies inside the
target's inner lips, so nothing is drawn outside them at any mouth gain. The source's own
teeth, where it shows them, go on top, moved rigidly (as in the compiled mouth layer). A
closed driver mouth draws nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    DRIVER_DETAIL,
    DRIVER_OPEN,
    DRIVER_PATCH,
    DRIVER_SATURATION,
    DRIVER_TONE_GAIN,
    LOOK_WIDTH,
    LUMA_RGB,
    MOUTH_FEATHER,
    MOUTH_FEATHER_MIN,
    MOUTH_TABLE,
    SKIN_RING,
    TEETH_COLOURFUL,
    TEETH_MATTE,
    TEETH_MIN_PIXELS,
)
from streamfx.generator.layers.base import AppearanceLayer, Frame
from streamfx.generator.layers.mouth import hair_over, interior_cover
from streamfx.generator.layers.mouth_shape import (
    CONTOURS,
    INNER_LO,
    INNER_UP,
    MouthShape,
    draw_teeth,
    lip_colour,
    mouth_frame,
    mouth_pixels,
    mouth_shape,
    mouth_window,
    teeth_motions,
)
from streamfx.generator.ops.base import Ops
from streamfx.generator.ops.numpy_ops import NumpyOps
from streamfx.imageio import shrink_by


@dataclass(frozen=True)
class MouthLook:
    """What one face's image says about its mouth's colours (the driver's, per frame, and the
    portrait's, once): lips, the skin around them, the lips' saturation, fine detail."""

    lip_rgb: np.ndarray
    skin_rgb: np.ndarray
    saturation: float
    detail: float


@dataclass(frozen=True)
class DriverMouth:
    """One driver frame's mouth interior (a few kilobytes)."""

    patch: np.ndarray  # rows × cols × 4 uint8: the inner mouth in (s, u); alpha: where it shows teeth
    look: MouthLook
    open: float  # 0 closed … 1 open enough to show


@dataclass(frozen=True)
class DriverMouthConsts:
    shape: MouthShape
    look: MouthLook


class DriverMouthLayer(AppearanceLayer):
    name = "driver_mouth"
    switch = "driver_mouth"
    settings = ("driver_mouth",)

    def prepare(self, src: SourceBasics) -> DriverMouthConsts:
        shape = mouth_shape(src)
        return DriverMouthConsts(shape, mouth_look(src.image[..., :3], src.landmarks, shape.width))

    def extract(self, image: np.ndarray, landmarks: np.ndarray) -> DriverMouth | None:
        lm = landmarks.astype(np.float32)
        ops = NumpyOps(cast(SourceBasics, None))  # the tabulation needs no portrait
        m = mouth_frame(ops, ops.landmarks(lm))
        width = float(m.width)
        if width < 4:
            return None
        gap = float(np.asarray(m.gap).ravel()[0])
        opened = float(np.clip((gap - DRIVER_OPEN[0]) / (DRIVER_OPEN[1] - DRIVER_OPEN[0]), 0.0, 1.0))
        table = np.asarray(m.table, np.float32).reshape(-1, len(CONTOURS))
        rows, cols, margin = DRIVER_PATCH
        lo, hi, nb = MOUTH_TABLE
        u = np.linspace(0.0, 1.0, cols, dtype=np.float32)
        up = np.interp(u, np.linspace(lo, hi, nb), table[:, INNER_UP])
        low = np.interp(u, np.linspace(lo, hi, nb), table[:, INNER_LO])
        s = np.linspace(-margin, 1.0 + margin, rows, dtype=np.float32)[:, None]
        v = up[None] + s * (low - up)[None]
        ax = np.array([float(m.ax_x), float(m.ax_y)], np.float32)
        x = (float(m.ox) + u[None] * width * ax[0] - v * ax[1]).astype(np.float32)
        y = (float(m.oy) + u[None] * width * ax[1] + v * ax[0]).astype(np.float32)
        rgb = image[..., :3]
        # the patch samples the opening about one pixel per patch pixel across; blur first
        # where the driver's mouth is larger, so it is not aliased
        step = max(width / cols, float(np.abs(low - up).max()) / rows)
        if step > 1.5:
            x0, y0 = int(max(np.floor(x.min()) - 8, 0)), int(max(np.floor(y.min()) - 8, 0))
            x1, y1 = int(min(np.ceil(x.max()) + 8, rgb.shape[1])), int(min(np.ceil(y.max()) + 8, rgb.shape[0]))
            if x1 - x0 < 2 or y1 - y0 < 2:
                return None
            crop = cv2.GaussianBlur(rgb[y0:y1, x0:x1], (0, 0), 0.4 * step)
            patch = cv2.remap(crop, x - x0, y - y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            patch = cv2.remap(rgb, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        look = mouth_look(rgb, lm, width)
        teeth = driver_teeth(patch, look)
        return DriverMouth(np.ascontiguousarray(np.dstack([patch, np.rint(teeth * 255).astype(np.uint8)])), look, opened)

    def apply(self, ops: Ops, k: DriverMouthConsts, frame: Frame) -> None:
        if frame.appearance is None:
            return
        data = frame.appearance.current.get(self.name)
        shown = frame.appearance.weight
        if not isinstance(data, DriverMouth) or data.open <= 0.0 or shown <= 0.0:
            return  # no driver image this frame, its mouth is closed, or its look faded out
        t = frame.target
        m = mouth_frame(ops, t, k.shape.index)
        feather = ops.maximum(ops.f(MOUTH_FEATHER_MIN), ops.mul(ops.f(MOUTH_FEATHER), m.width))
        win = mouth_window(ops, frame.canvas, t, feather)
        px = mouth_pixels(ops, None, m, win)
        top, bottom = px.target[INNER_UP], px.target[INNER_LO]
        rows, cols, margin = DRIVER_PATCH
        s = ops.div(ops.sub(px.v, top), ops.maximum(ops.sub(bottom, top), ops.f(1e-3)))
        py = ops.mul(ops.add(s, ops.f(margin)), ops.f((rows - 1) / (1.0 + 2.0 * margin)))
        pxx = ops.mul(px.u, ops.f(cols - 1.0))
        colour, teeth_seen = ops.sample(win, matched_patch(data, k.look, k.shape.teeth_rgb), pxx, py)
        shape = k.shape
        if shape.upper_teeth is not None or shape.lower_teeth is not None:
            # the portrait's own teeth, where the driver shows teeth (its lips or tongue hide them
            # elsewhere)
            upper, lower = teeth_motions(ops, shape, t)
            for sprite, motion in ((shape.lower_teeth, lower), (shape.upper_teeth, upper)):
                if sprite is not None:
                    colour = draw_teeth(ops, sprite, motion, win, colour, teeth_seen)
        colour = hair_over(ops, shape, t, win, colour)  # a moustache hangs over the driver's interior too
        cover = ops.mul(interior_cover(ops, px, feather, narrows=True), ops.f(data.open * min(shown, 1.0)))
        frame.canvas = ops.composite(frame.canvas, win, colour, cover)


def mouth_look(image: np.ndarray, lm: np.ndarray, width: float) -> MouthLook:
    """The colours of a face's lips and the skin around them, the lips' saturation, fine detail
    (mean |image − blur| over lips and skin, per unit brightness; the blur's σ scales with the
    mouth, so a face's detail reads the same at any size). Works in a crop around the mouth,
    shrunk first by a whole factor where the mouth is at least twice :data:`LOOK_WIDTH` pixels wide
    (the statistics are the same, at a fraction of the cost)."""
    h, w = image.shape[:2]
    near, far = (r * width for r in SKIN_RING)
    outer = lm[L.LIPS_OUTER, :2]
    x0, y0 = np.maximum(np.floor(outer.min(axis=0) - far - 1), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(outer.max(axis=0) + far + 2), [w, h]).astype(int)
    area = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    local: np.ndarray = (lm[:, :2] - np.array([x0, y0], np.float32)).astype(np.float32)
    if area.shape[0] < 4 or area.shape[1] < 4:
        return MouthLook(lip_colour(area, local), np.full(3, 160.0, np.float32), 0.3, 0.02)
    factor = int(width // LOOK_WIDTH)
    if factor >= 2 and min(area.shape[:2]) >= 4 * factor:
        area = shrink_by(area, factor)
        local = (local + 0.5) / factor - 0.5
        width, near, far = width / factor, near / factor, far / factor
    lip = lip_colour(area, local)
    lips = np.full(area.shape[:2], 255, np.uint8)
    cv2.fillPoly(lips, [local[L.LIPS_OUTER].round().astype(np.int32)], 0)
    dist = cv2.distanceTransform(lips, cv2.DIST_L2, 3)  # from the lips, 0 on them
    opening = np.zeros(area.shape[:2], np.uint8)  # not the mouth's inside: lips and skin only
    cv2.fillPoly(opening, [local[L.LIPS_INNER].round().astype(np.int32)], 1)
    dist, opening = dist[::2, ::2], opening[::2, ::2]  # statistics on every other pixel: plenty, and cheap
    ring, near_mouth = (dist > near) & (dist <= far), (dist <= far) & (opening == 0)
    skin_px = area[::2, ::2][ring].astype(np.float32)
    skin = skin_px.mean(axis=0) if len(skin_px) >= 10 else np.full(3, 160.0, np.float32)
    # saturation on the lips themselves, like the cast (a pale face's lips are as red as any)
    on_lips = (dist == 0) & (opening == 0)
    hsv_sat = cv2.cvtColor(area, cv2.COLOR_RGB2HSV)[::2, ::2, 1]
    sat = float(hsv_sat[on_lips if int(on_lips.sum()) >= 10 else near_mouth].mean() / 255.0)
    grey = cv2.cvtColor(area, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = DRIVER_DETAIL[2] * max(width / DRIVER_PATCH[1], 0.5)
    high = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), sigma))[::2, ::2]
    detail = float(high[near_mouth].mean() / max(float(grey[::2, ::2][near_mouth].mean()), 1.0))
    return MouthLook(lip.astype(np.float32), skin.astype(np.float32), sat, detail)


def driver_teeth(patch: np.ndarray, look: MouthLook) -> np.ndarray:
    """Where the driver's patch shows teeth (bright, and paler than its lips, as the portrait's
    teeth are found), softened by a patch pixel: 0…1."""
    rows = patch.shape[0]
    margin = DRIVER_PATCH[2]
    inside = slice(int(round(rows * margin / (1 + 2 * margin))), int(round(rows * (1 + margin) / (1 + 2 * margin))))
    hsv = cv2.cvtColor(np.ascontiguousarray(patch[..., :3]), cv2.COLOR_RGB2HSV).astype(np.float32)
    val, sat = hsv[..., 2], hsv[..., 1] / 255.0
    value_share, sat_share, sat_bounds, _, _ = TEETH_MATTE
    brightest = max(float(np.percentile(val[inside], 98)), 1.0)
    bright = np.clip((val - value_share * brightest) / (0.1 * brightest + 1.0), 0.0, 1.0)
    lip_sat = float(cv2.cvtColor(look.lip_rgb.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV)[0, 0, 1]) / 255.0
    pale = np.clip((float(np.clip(sat_share * lip_sat, *sat_bounds)) - sat) / 0.08, 0.0, 1.0)
    teeth = cv2.dilate((bright * pale).astype(np.float32), np.ones((3, 3), np.uint8))
    return np.asarray(cv2.GaussianBlur(teeth, (0, 0), 1.0), np.float32)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """A colour over its luma (Rec. 601): its cast, 1 1 1 for grey (3-vector, float32)."""
    rgb = np.maximum(np.asarray(rgb, np.float32), 1.0)
    return np.asarray(rgb / float(rgb @ np.asarray(LUMA_RGB, np.float32)), np.float32)


def matched_patch(data: DriverMouth, portrait: MouthLook, teeth_rgb: np.ndarray | None = None) -> np.ndarray:
    """The driver's patch in the portrait's tones, saturation and detail (NumPy, on the small
    patch; the appearance layer runs on the reference ops). ``teeth_rgb``: the portrait's teeth
    colour (its own, or an off-white in its tint), which the driver's teeth take."""
    rgb = data.patch[..., :3].astype(np.float32)
    teeth = (data.patch[..., 3:4].astype(np.float32) / 255.0)
    d, p = data.look, portrait
    # each channel scaled by the portrait's light over the driver's, and dark stays dark: the
    # brightness from the skin around the mouth (a large, even area), the colour cast from the
    # lips. The inside of a mouth is the lips' kind of tissue, red with blood whatever the
    # skin's pigment: a pale portrait's skin over a tanned driver's would tint it lilac, and a
    # painting's or statue's lips carry its palette all the same. Half of the lips' cast (in
    # ratio): the rest is their own pigment, or lipstick, which the tongue does not wear (in
    # full, a red-lipped photo's tongue came out coral, the colour of its lips). (The driver's
    # lips' cast holds within 5 % as its mouth opens; their brightness does not: not used.)
    luma = np.asarray(LUMA_RGB, np.float32)
    light = float(p.skin_rgb @ luma) / max(float(d.skin_rgb @ luma), 1.0)
    cast = np.sqrt(chroma(p.lip_rgb) / chroma(d.lip_rgb))
    gain = np.clip(light * cast, *DRIVER_TONE_GAIN)
    # but skin colour is mostly pigment, not light: white teeth scaled by a pale driver's skin
    # over a ruddy portrait's turned pink. The teeth take the portrait's teeth colour instead
    # (their own over the driver's teeth colour), or only the skin's change of brightness
    seen = teeth[..., 0] > 0.5
    if teeth_rgb is not None and int(seen.sum()) >= TEETH_MIN_PIXELS:
        teeth_gain = np.clip(teeth_rgb / np.maximum(rgb[seen].mean(axis=0), 1.0), *DRIVER_TONE_GAIN)
    else:
        teeth_gain = np.full(3, float(gain @ np.asarray(LUMA_RGB, np.float32)), np.float32)
    rgb = rgb * (gain * (1.0 - teeth) + teeth_gain * teeth)
    # saturation (not on the teeth: it would only bring back a tint), then fine detail, as the
    # portrait has them
    grey = rgb.mean(axis=2, keepdims=True)
    sat = float(np.clip(p.saturation / max(d.saturation, 1e-3), *DRIVER_SATURATION))
    teeth_sat = min(p.saturation / TEETH_COLOURFUL, 1.0)  # their own tint, in a picture with colour
    rgb = grey + (rgb - grey) * (sat * (1.0 - teeth) + teeth_sat * teeth)
    blur = cv2.GaussianBlur(rgb, (0, 0), DRIVER_DETAIL[2])
    keep = float(np.clip(p.detail / max(d.detail, 1e-4), DRIVER_DETAIL[0], DRIVER_DETAIL[1]))
    rgb = blur + (rgb - blur) * keep
    out = np.empty_like(data.patch)
    out[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = data.patch[..., 3]
    return out
