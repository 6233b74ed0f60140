"""Expression detail: the driver's creases, carried over as a ratio image.

A warp moves the portrait's skin but cannot make the creases an expression brings —
forehead lines on raised brows, nasolabial folds on a smile, crow's feet. Those are in the
driver's image: how much darker or lighter a point of skin is now than in the driver's
neutral frame (Liu, Shan & Zhang, "Expressive expression mapping with ratio images",
SIGGRAPH 2001; Averbuch-Elor et al., "Bringing Portraits to Life", 2017).

Both driver frames are warped by their landmarks to one canonical face (the template face
of :mod:`streamfx.landmarks` at :data:`DETAIL_PX_PER_IO`), so the same point of skin is
compared; there only a band of scales is kept (finer is noise, coarser is lighting and head
turns), and only on skin: the eyes, the mouth and the face's border move as geometry and
are left out, as is any change too large to be a crease (a feature the landmarks did not
follow). Per frame the log-luminance difference, current − reference, scaled by the
``detail`` setting and by the portrait's fine texture relative to the driver's (a flat
cartoon takes softer creases than a photo), is mapped through the *target* landmarks to the output's
face and multiplies its luminance (its colour kept), clamped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    DETAIL_BAND,
    DETAIL_BOUNDS,
    DETAIL_BROW_MARGIN,
    DETAIL_CORING,
    DETAIL_EYE_MARGIN,
    DETAIL_FACE_INSET,
    DETAIL_GAIN,
    DETAIL_INVERT_ITERATIONS,
    DETAIL_LOG_OFFSET,
    DETAIL_MIN_CONTRAST,
    DETAIL_MIN_FACE,
    DETAIL_MOUTH_MARGIN,
    DETAIL_NOSE_BELOW,
    DETAIL_NOSTRIL_MARGIN,
    DETAIL_PX_PER_IO,
    DETAIL_SPLINE_CELLS,
    DETAIL_SPLINE_SMOOTHING,
    DETAIL_STRONG,
    DETAIL_STRONG_REACH,
    DETAIL_TEXTURE_BAND,
    LUMA_RGB,
)
from streamfx.generator.layers.base import AppearanceLayer, Frame
from streamfx.generator.ops.base import Ops
from streamfx.generator.spline import resize_grid, tps_matrix
from streamfx.imageio import shrink_by

F32 = np.float32
LUMA = np.array(LUMA_RGB, F32)
#: the landmarks the canonical warps run through: the motion field's, but not the irises
#: (they move with the gaze, not with the skin)
WARP_POINTS = sorted(set(L.CONTROL) - set(L.IRISES))
EYE_OUTLINES = (L.RIGHT_EYE_UPPER + L.RIGHT_EYE_LOWER[::-1], L.LEFT_EYE_UPPER + L.LEFT_EYE_LOWER[::-1])
#: a brow's outline: its lower edge (the first five points), then its upper edge back
BROW_OUTLINES = (L.RIGHT_BROW[:5] + L.RIGHT_BROW[5:][::-1], L.LEFT_BROW[:5] + L.LEFT_BROW[5:][::-1])


@dataclass(frozen=True)
class CanonicalFace:
    """The frame creases are compared in: the template face at a fixed scale, and its masks."""

    idx: np.ndarray
    """K landmark indices (:data:`WARP_POINTS`)."""
    points: np.ndarray
    """K×2 where they lie on the canonical patch, pixels."""
    size: tuple[int, int]
    """The patch's width and height, pixels."""
    nodes: tuple[int, int]
    """gh, gw: the coarse nodes the canonical→image warp is evaluated on, then resized."""
    to_image: np.ndarray
    """(gh·gw)×K float32: a face's K landmarks (image pixels) → where the nodes lie in its image."""
    support: np.ndarray
    """h×w float32, 1 on skin (0 on eyes, mouth, beyond the oval): what the band-pass averages."""
    skin: np.ndarray
    """h×w float32 in 0…1: where creases are kept, fading towards eyes, mouth and border."""
    px_per_io: float
    reach: np.ndarray
    """The structuring element that grows a strong feature by :data:`DETAIL_STRONG_REACH`."""


def _outside(poly: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Distance (pixels) of every patch pixel from a filled polygon (0 inside it)."""
    m = np.full((size[1], size[0]), 255, np.uint8)
    cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 0)
    return cv2.distanceTransform(m, cv2.DIST_L2, 5)


def _ramp(d: np.ndarray, start: float, width: float) -> np.ndarray:
    return np.clip((d - start) / width, 0.0, 1.0).astype(F32)


@functools.cache
def canonical_face() -> CanonicalFace:
    """The canonical face (built once per process)."""
    s = DETAIL_PX_PER_IO
    bx0, by0, bx1, by1 = DETAIL_BOUNDS
    w, h = round((bx1 - bx0) * s), round((by1 - by0) * s)
    tpl = L.template_landmarks()[:, :2].astype(np.float64)
    canon = (tpl - [bx0, by0]) * s - 0.5  # template (io, eyes on y = 0) → patch pixels
    idx = np.asarray(WARP_POINTS, np.int64)
    gh = gw = DETAIL_SPLINE_CELLS
    nodes = resize_grid(0.0, 0.0, w, h, gw, gh).reshape(-1, 2)
    to_image = tps_matrix(canon[idx], nodes, DETAIL_SPLINE_SMOOTHING).astype(F32)
    # inside the oval: the distance from its outside
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [np.round(canon[L.FACE_OVAL]).astype(np.int32)], 255)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    support = depth > 0
    skin = _ramp(depth, DETAIL_FACE_INSET[0] * s, DETAIL_FACE_INSET[1] * s)
    # what moves as geometry, not as skin, and how far around it to leave out
    nose = canon[L.NOSE]
    nostrils = cv2.convexHull(nose[nose[:, 1] > canon[L.NOSE_TIP, 1] - DETAIL_NOSE_BELOW * s].astype(np.float32))
    features = [(canon[e], DETAIL_EYE_MARGIN) for e in EYE_OUTLINES]
    features += [(canon[b], DETAIL_BROW_MARGIN) for b in BROW_OUTLINES]
    features += [(canon[L.LIPS_OUTER], DETAIL_MOUTH_MARGIN), (nostrils[:, 0], DETAIL_NOSTRIL_MARGIN)]
    for poly, (margin, fade) in features:
        away = _outside(poly, (w, h))
        support &= away > margin * s
        skin *= _ramp(away, margin * s, fade * s)
    reach = 2 * round(DETAIL_STRONG_REACH * s / 2) + 1  # odd, pixels
    return CanonicalFace(idx=idx, points=canon[idx].astype(F32), size=(w, h), nodes=(gh, gw), to_image=to_image,
                         support=support.astype(F32), skin=skin, px_per_io=s,
                         reach=cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))


def canonical_luminance(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """h×w float32: log(luminance + offset) of a face warped by its landmarks to the canonical
    face, or None when the face is too small or outside the image."""
    face = canonical_face()
    io = L.interocular(landmarks)
    if not io >= DETAIL_MIN_FACE:
        return None
    w, h = face.size
    gh, gw = face.nodes
    nodes = face.to_image @ landmarks[face.idx, :2].astype(F32)  # where the nodes lie in the image
    ih, iw = image.shape[:2]
    x0, y0 = np.clip(np.floor(nodes.min(axis=0)).astype(int) - 2, 0, [iw, ih])
    x1, y1 = np.clip(np.ceil(nodes.max(axis=0)).astype(int) + 3, 0, [iw, ih])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = image[y0:y1, x0:x1, :3]
    # shrink towards the canonical scale first by a whole factor (the remap does the rest,
    # under 2:1, with little aliasing)
    factor = int(io // face.px_per_io)
    if factor >= 2 and min(crop.shape[:2]) >= 2 * factor:
        crop = shrink_by(crop, factor)
    else:
        factor = 1
    local = (nodes - [x0, y0] + 0.5) / F32(factor) - 0.5
    mapping = cv2.resize(local.astype(F32).reshape(gh, gw, 2), (w, h), interpolation=cv2.INTER_LINEAR)
    patch = cv2.remap(crop, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.log(patch.astype(F32) @ LUMA + F32(DETAIL_LOG_OFFSET))


@functools.lru_cache(maxsize=8)
def _blurred_support(sigma: float) -> np.ndarray:
    """The canonical face's support blurred by σ (io): a normalised blur's denominator."""
    face = canonical_face()
    return cv2.GaussianBlur(face.support, (0, 0), sigma * face.px_per_io) + F32(1e-6)


def _band(lum: np.ndarray, fine: float, coarse: float) -> np.ndarray:
    """A difference of two blurs (σ in io) of the skin alone: normalised by the blurred support,
    so eyes and mouth do not bleed into it; 0 off the support."""
    face = canonical_face()
    masked = lum * face.support
    blur = [cv2.GaussianBlur(masked, (0, 0), sigma * face.px_per_io) / _blurred_support(sigma)
            for sigma in (fine, coarse)]
    return ((blur[0] - blur[1]) * face.support).astype(F32)


def crease_band(lum: np.ndarray) -> np.ndarray:
    """The crease band (:data:`DETAIL_BAND`) of a canonical log-luminance patch, on the skin."""
    return _band(lum, *DETAIL_BAND)


def texture(lum: np.ndarray) -> float:
    """How much fine texture a canonical face has: the RMS of its :data:`DETAIL_TEXTURE_BAND`
    over the skin (a photo's pores and grain, a painting's strokes; a flat cartoon has little)."""
    skin = canonical_face().skin
    band = _band(lum, *DETAIL_TEXTURE_BAND)
    return float(np.sqrt((skin * band**2).sum() / max(float(skin.sum()), 1e-6)))


@dataclass(frozen=True)
class DriverDetail:
    """What the layer takes from one driver frame."""

    band: np.ndarray
    """h×w float16: its crease band on the canonical face."""
    luminance: np.ndarray | None = None
    """h×w float32: its canonical log-luminance, kept to measure :attr:`texture` if it is asked."""
    fixed_texture: float | None = None

    @functools.cached_property
    def texture(self) -> float:
        """Its fine texture (:func:`texture`): how strong its creases are relative to the
        portrait's. Only a reference frame's is read, so it is measured on first use, not for
        every frame where the driver is tracked."""
        if self.fixed_texture is not None:
            return self.fixed_texture
        return float("nan") if self.luminance is None else texture(self.luminance)


@dataclass(frozen=True)
class DetailConsts:
    texture: float
    """The portrait's fine texture (:func:`texture`; NaN: not measurable)."""


class DetailLayer(AppearanceLayer):
    """The driver's expression detail as relative shading over the finished frame."""

    name = "detail"
    switch = "detail"
    settings = ("detail",)

    def prepare(self, src: SourceBasics) -> DetailConsts:
        lum = canonical_luminance(src.image[..., :3], src.landmarks)
        return DetailConsts(texture=float("nan") if lum is None else texture(lum))

    def extract(self, image: np.ndarray, landmarks: np.ndarray) -> DriverDetail | None:
        """The driver frame's crease band on the canonical face and its texture, or None."""
        lum = canonical_luminance(image, landmarks)
        return None if lum is None else DriverDetail(crease_band(lum).astype(np.float16), lum)

    def apply(self, ops: Ops, k: DetailConsts, frame: Frame) -> None:
        look, settings = frame.appearance, frame.settings
        if look is None or look.reference is None or settings is None or look.weight <= 0.0:
            return
        current, reference = look.current.get(self.name), look.reference.get(self.name)
        if current is None or reference is None:
            return
        strength = settings.detail * self.scale(k.texture, reference.texture) * min(look.weight, 1.0)
        gain = self.gain(current.band, reference.band, strength)
        face = canonical_face()
        # drawn over the target's face oval, mapped to the canonical face through its landmarks
        oval = ops.gather(frame.target, ops.const(np.asarray(L.FACE_OVAL, np.int64)), axis=1)
        lo, hi = ops.reduce_min(oval, (1,)), ops.reduce_max(oval, (1,))
        win = ops.window(frame.canvas, (
            ops.floor(ops.slice(lo, 0, 1)), ops.floor(ops.slice(lo, 1, 2)),
            ops.add(ops.ceil(ops.slice(hi, 0, 1)), ops.f(1.0)), ops.add(ops.ceil(ops.slice(hi, 1, 2)), ops.f(1.0))))
        # the canonical face's warp onto the target (as onto the driver), then its inverse
        forward = ops.matmul(ops.const(face.to_image), ops.gather(frame.target, ops.const(face.idx), axis=1))
        x, y = ops.inverse_at(win, forward, face.size, DETAIL_SPLINE_CELLS, DETAIL_INVERT_ITERATIONS)
        change = ops.texture_at(win, gain, x, y)  # gain − 1: 0 off the face
        frame.canvas = ops.shade(frame.canvas, win, ops.add(ops.f(1.0), change))

    @staticmethod
    def scale(portrait: float, driver: float) -> float:
        """How strongly the portrait takes the driver's creases: its texture over the driver's
        (neutral frame's), at most 1 (a photo driving a flat cartoon gives it softer creases)."""
        if not (portrait >= 0.0 and driver > 0.0):
            return 1.0
        return float(np.clip(portrait / driver, DETAIL_MIN_CONTRAST, 1.0))

    @staticmethod
    def gain(current: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
        """h×w float32 luminance factor − 1 on the canonical face: the crease band's change,
        cored (small changes are noise), scaled, faded out off the skin and around strong
        features (what the landmarks did not align), clamped."""
        face = canonical_face()
        d = current.astype(F32) - reference.astype(F32)
        size = np.abs(d)
        lo, hi = DETAIL_STRONG
        crease = cv2.erode(np.clip((F32(hi) - size) / F32(hi - lo), F32(0.0), F32(1.0)), face.reach)
        d = np.sign(d) * np.maximum(size - F32(DETAIL_CORING), F32(0.0))
        change = np.expm1(d * F32(strength) * face.skin * crease)
        return np.clip(change, F32(DETAIL_GAIN[0] - 1.0), F32(DETAIL_GAIN[1] - 1.0)).astype(F32)
