"""An eye's own frame, shared by the eyelid and iris layers: the source's eye and the target's.

The motion field carries the eye region rigidly with the eye's corners (their lids and irises
are no control points of it, streamfx.landmarks.CONTROL), so glasses and the skin around an
eye don't bend; the layers draw what moves over the eyeball instead. Each eye has a frame:
its origin at the left corner, a unit axis to the right one, its width; ``u`` runs 0…1
along the axis, ``v`` down from it, in source pixels (:func:`source_xy`). On a target frame
the layers draw where the warp put the eye (:func:`eye_place`: the motion field at the
corners and above and below them, layers/placement), not where the target's landmarks say:
near the eye the two agree, but above it the field follows the brow (raised brows stretch it,
a turn shears it), and a lid band's far end must meet the warped skin beside it. The target's
lids are measured in that same frame, so they are drawn where the driver's are. A lid edge is
``4u(1−u) · (a + b·s + c·s²)``, s = u − ½: zero at the corners, its peak free to lean and
flatten as real lids do; (a, b, c) are least-squares fits to the lid's contour points, on the
source once and on each target frame alike.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    EYE_BOX,
    EYE_FEATHER,
    EYE_PLACE,
    EYE_SAMPLE_INSET,
    EYE_SIDE_FADE,
    EYEWEAR_RIM,
    IRIS_EDGE,
    IRIS_FALLBACK_RGB,
    IRIS_GONE,
    IRIS_SAMPLE_RING,
    LASH_CLOSE,
    LID_DETAIL,
    LID_DETAIL_LINES,
    LID_DETAIL_SPREAD,
    LID_MEET,
    LID_REACH,
    LID_SHADOW,
    LID_SKIN_ABOVE,
    LID_SKIN_BELOW,
    LID_SKIN_OWN,
    LID_TONE,
    LID_WIDEN,
    LOWER_LID_BAND,
    SCLERA_BESIDE,
    SCLERA_DARKEST,
    SCLERA_FALLBACK_RGB,
    SCLERA_MAX_SATURATION,
    SCLERA_SAMPLE,
    SCLERA_SHADOWED,
    SCLERA_SPREAD,
    SCLERA_TRUST,
    SLIT_SHADOW,
    UPPER_LID_BAND,
    WHITE_BEYOND,
)
from streamfx.generator.eye_fit import eye_crop, fit_iris
from streamfx.generator.geometry import feature_frame
from streamfx.generator.imaging import robust_sigma
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.placement import FieldPoints, moved_points
from streamfx.generator.layers.shapes import axis, bulge
from streamfx.generator.ops.base import Ops, Tensor, Window

# (corners, upper lid contour, lower lid contour, iris), the subject's right eye then left
EYE_POINTS = ((L.RIGHT_EYE_CORNERS, L.RIGHT_EYE_UPPER[1:-1], L.RIGHT_EYE_LOWER[1:-1], L.RIGHT_IRIS),
              (L.LEFT_EYE_CORNERS, L.LEFT_EYE_UPPER[1:-1], L.LEFT_EYE_LOWER[1:-1], L.LEFT_IRIS))


UPPER_ROW = 0
"""The row of :func:`lid_reach`'s sprite with the upper band's reach (the lower's follows it)."""
RIM_ROW = 2
"""The row of :func:`lid_reach`'s sprite that says where an eyewear rim ends the upper band."""


@dataclass(frozen=True)
class EyeShape:
    """One eye of the source portrait, in its own frame (source pixels)."""

    corners: tuple[int, int]
    upper_idx: np.ndarray  # the upper lid's contour points (no corners)
    upper_w: np.ndarray  # 3×n: their heights → the lid curve's least-squares coefficients
    lower_idx: np.ndarray
    lower_w: np.ndarray
    iris_idx: int  # the iris centre's landmark
    origin: np.ndarray  # 2: the left corner
    axis: np.ndarray  # 2: unit, to the right corner
    width: float
    upper: tuple[float, float, float]  # the upper lid curve's coefficients, pixels (up is negative)
    lower: tuple[float, float, float]
    iris: np.ndarray  # 2: the iris centre, along (px from the origin) and down
    iris_r: float  # its radius, pixels
    iris_mark: np.ndarray  # 2: the mesh's iris centre (the target's iris landmark moves from it)
    feather: float  # lid edge softness, pixels
    sclera_rgb: np.ndarray  # 3: the white of the eye
    iris_rgb: np.ndarray  # 3: the iris (for what the source's lids hid of it)
    lid_skin: np.ndarray  # h×w×4 uint8: a closing lid's unfolding skin, lit, with the source's detail (lid_skin)
    lit_rgb: np.ndarray  # 3: that lit skin's colour (lit_skin), without the detail
    lid_skin_at: tuple[float, float]  # its top-left corner, source pixels
    bare_skin: np.ndarray  # h×w×4 uint8: the source over lid_skin's box, its lashes closed out (bare_skin)
    beyond: np.ndarray  # h×w×4 uint8: the white outside the mesh's outline, and the skin that covers it (white_beyond)
    beyond_at: tuple[float, float]  # its top-left corner, source pixels
    white: np.ndarray  # h×w×4 uint8: the white of the eye behind the iris and under the lids (sclera_plate)
    white_at: tuple[float, float]  # its top-left corner, source pixels
    reach: np.ndarray  # 3×n×4 uint8: how far each lid's band reaches along the eye, where a rim ends it (lid_reach)
    rim: float = 0.0  # where an eyewear rim over the eye ends above it (v at the middle, pixels; lid_reach); 0: none

    @property
    def full_reach(self) -> bool:
        """Both lid bands reach their full length along the whole eye, and no rim ends one."""
        return bool((self.reach[:RIM_ROW, :, 3] == 255).all() and not self.reach[RIM_ROW, :, 3].any())

    @property
    def down(self) -> np.ndarray:
        return np.array([-self.axis[1], self.axis[0]], np.float32)


def lid_weights(lm: np.ndarray, idx: list[int], origin: np.ndarray, ax: np.ndarray, width: float) -> np.ndarray:
    """3×n weights that fit a lid curve to contour points by least squares: (a, b, c) = W · heights.

    The points' places along the eye are the source's; a target's lid points stay close to
    them, so the same weights fit the target's curve with one small matrix product."""
    u = ((lm[idx, :2] - origin) @ ax) / width
    s = u - 0.5
    bulge = np.clip(4 * u * (1 - u), 0.0, 1.0)
    design = np.stack([bulge, bulge * s, bulge * s * s], axis=1)
    return np.linalg.pinv(design, rcond=1e-4).astype(np.float32)


def eye_inside(shape: tuple[int, ...], outline: np.ndarray, width: float) -> np.ndarray:
    """H×W bool: inside an eye's outline (N×2 pixels), EYE_SAMPLE_INSET in from it — where the
    eye's own colours are sampled, clear of the lid line."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(outline).astype(np.int32)], 1)
    inset = max(EYE_SAMPLE_INSET[1], EYE_SAMPLE_INSET[0] * width)
    k = 2 * int(round(inset)) + 1
    return cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0


LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def saturation(px: np.ndarray) -> np.ndarray:
    """(max − min) / max of RGB pixels (…×3 float), 0…1: a dark pixel's is high, its channels
    differing by more than they measure."""
    top = px.max(axis=-1)
    return (top - px.min(axis=-1)) / np.maximum(top, 1.0)


def looks_white(px: np.ndarray, sclera: np.ndarray) -> np.ndarray:
    """…×3 float RGB → bool: the white of an eye whose sclera is ``sclera`` — bright
    (SCLERA_DARKEST × its luma) and unsaturated (SCLERA_MAX_SATURATION): not a lash, not skin."""
    return (px @ LUMA > SCLERA_DARKEST * float(sclera @ LUMA)) & (saturation(px) < SCLERA_MAX_SATURATION)


def eye_colours(image: np.ndarray, outline: np.ndarray, centre: np.ndarray, r: float,
                width: float) -> tuple[np.ndarray, np.ndarray]:
    """(sclera, iris) colours of one source eye from the pixels inside its outline (N×2 pixels)."""
    ys, xs = np.nonzero(eye_inside(image.shape, outline, width))
    px = image[ys, xs, :3].astype(np.float32)
    d = np.sqrt((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / max(r, 1e-6)
    ring = px[(d > IRIS_SAMPLE_RING[0]) & (d < IRIS_SAMPLE_RING[1])]
    beside, (lo, hi), least = SCLERA_SAMPLE
    iris = ring.mean(axis=0) if len(ring) >= least else np.array(IRIS_FALLBACK_RGB, np.float32)
    white = px[d > beside]
    if len(white) < least:
        white = px  # no white to see (a statue, a squint): the eye's own brightest colour
    if len(white) < least:
        return np.array(SCLERA_FALLBACK_RGB, np.float32), iris.astype(np.float32)
    # the white is unsaturated: not the lid skin or the caruncle a generous outline takes in,
    # nor the lashes and eyeliner (dark pixels' saturation is high: their channels differ by
    # more than they measure) that crowd a small, dark-lined eye's few white pixels out
    pale = saturation(white) < SCLERA_MAX_SATURATION
    if np.count_nonzero(pale) >= least:
        white = white[pale]
    luma = white @ LUMA
    q0, q1 = np.quantile(luma, [lo, hi])
    sclera = np.median(white[(luma >= q0) & (luma <= q1)], axis=0)
    return sclera.astype(np.float32), iris.astype(np.float32)


def exposed_sclera(sclera: np.ndarray, iris: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """The white of an eye (RGB) as it shows where a lid opens wider or the iris moves off it.

    A narrow or dark-lined eye shows only its corners' white, in the lids' shadow, and what is
    measured there (``sclera``) is as dark as the skin beside the eye (``lit``) and as
    saturated: the white a glance sideways uncovers was then painted skin-coloured (lp_d14;
    there, uncovered, it was 1.08 × the skin's brightness at half its saturation). Where the
    eye has a drawn iris (darker than ``SCLERA_SHADOWED[0]`` × the skin: a photo's, a painting's,
    a cartoon's) and the white measured is darker than the skin and more saturated than
    ``SCLERA_SHADOWED[1]`` × it, the white is raised to ``SCLERA_SHADOWED[2]`` × the skin's
    brightness, its tint (the measured hue) cut to that share of the skin's saturation. A white
    measured brighter than the skin, or less saturated, is the eye's own and stays (a yellowed
    painting's), as does a statue's eye with no iris drawn."""
    dark_iris, tint, over = SCLERA_SHADOWED
    luma, skin = float(sclera @ LUMA), float(lit @ LUMA)
    if float(iris @ LUMA) > dark_iris * skin or luma >= skin:
        return sclera
    sat, skin_sat = float(saturation(sclera)), float(saturation(lit))
    if sat <= tint * skin_sat:
        return sclera
    # target + k·(sclera − luma): saturation (max − min)/max = want, solved for k
    target, want = over * skin, tint * skin_sat
    hue = sclera - luma
    spread = float(hue.max() - hue.min())
    k = want * target / max(spread - want * float(hue.max()), 1e-6)
    return np.clip(target + k * hue, 0.0, 255.0).astype(np.float32)


def sclera_plate(image: np.ndarray, outline: np.ndarray, centre: np.ndarray, r: float, width: float,
                 sclera: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The white of the eye all around it: what shows where an iris moved away (behind the
    iris) and where a lid opened wider than the source's (under the lids).

    The visible sclera (beyond SCLERA_BESIDE × the iris radius from its centre, inside the
    eye's outline, not a lash) is kept as it is; everywhere else — the iris disc, the lids and
    the skin just past them — takes the sclera's local mean, weighted by Gaussians of
    SCLERA_SPREAD × the radius, coarse to fine (normalized convolution, Knutsson & Westin
    1993): the eye's own shading — darker under the upper lid and towards the corners, a
    painting's tone — carries on, with no seam against the white that was there, instead of
    one flat colour. Alpha says how much sclera was near (SCLERA_TRUST); where there was
    little (a squint, a statue's carved eye) the layers fall back on the measured colour.
    The plate covers the eye's outline, the iris disc, and as far past the lids as a lid
    opens (LID_WIDEN of its band). Returns the RGBA sprite and its top-left corner in source
    pixels. Per source, once.
    """
    h, w = image.shape[:2]
    reach = IRIS_GONE * r + 2.0
    widen = LID_WIDEN * max(UPPER_LID_BAND[0] - UPPER_LID_BAND[1], LOWER_LID_BAND[0] - LOWER_LID_BAND[1]) * width
    lo = np.minimum(outline.min(axis=0), centre - reach) - (2.0, widen + 2.0)
    hi = np.maximum(outline.max(axis=0), centre + reach) + (2.0, widen + 2.0)
    x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    sprite = np.zeros((max(1, y1 - y0), max(1, x1 - x0), 4), np.uint8)
    if x1 <= x0 or y1 <= y0:
        return sprite, (float(x0), float(y0))
    crop = image[y0:y1, x0:x1, :3].astype(np.float32)
    inside = eye_inside(image.shape, outline, width)[y0:y1, x0:x1]
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.hypot(xs - centre[0], ys - centre[1])
    # not a lash, not the skin a generous outline takes in
    usable = inside & (d > SCLERA_BESIDE * r) & looks_white(crop, sclera)
    # coarse to fine: each finer scale takes over where it has sclera enough — smooth (no
    # row or lash streaks) far from the sclera, the eye's own shading near it
    fill = crop
    coarse = None
    for spread in SCLERA_SPREAD:
        weight = cv2.GaussianBlur(usable.astype(np.float32), (0, 0), spread * r)
        mean = cv2.GaussianBlur(crop * usable[..., None], (0, 0), spread * r) / np.maximum(weight, 1e-6)[..., None]
        if coarse is None:
            fill, coarse = mean, weight
        else:
            fill = fill + (mean - fill) * np.clip(weight / SCLERA_TRUST[1], 0.0, 1.0)[..., None]
    assert coarse is not None
    out = np.where(usable[..., None], crop, fill)
    trust = np.clip(coarse / SCLERA_TRUST[0], 0.0, 1.0)
    sprite[..., :3] = np.clip(np.round(out), 0, 255).astype(np.uint8)
    sprite[..., 3] = np.round(255 * trust).astype(np.uint8)
    return sprite, (float(x0), float(y0))


def skin_median(image: np.ndarray, origin: np.ndarray, ax: np.ndarray, width: float,
                edge_coeffs: tuple[float, float, float], reach: tuple[float, float]) -> np.ndarray:
    """The median colour of the skin beside a lid: from a lid curve, ``reach`` (near, far) × the
    eye's width away from it (positive: down, negative: up), over the middle half of the eye."""
    down = np.array([-ax[1], ax[0]])
    u = np.linspace(0.25, 0.75, 9)
    s = u - 0.5
    edge = 4 * u * (1 - u) * (edge_coeffs[0] + s * (edge_coeffs[1] + s * edge_coeffs[2]))
    v = edge[:, None] + np.linspace(*reach, 5)[None, :] * width
    pts = np.round(origin + (u * width)[:, None, None] * ax + v[..., None] * down).astype(int)
    ok = (pts[..., 0] >= 0) & (pts[..., 0] < image.shape[1]) & (pts[..., 1] >= 0) & (pts[..., 1] < image.shape[0])
    px = image[pts[ok][:, 1], pts[ok][:, 0], :3].astype(np.float32)
    return np.median(px, axis=0).astype(np.float32) if len(px) else np.array(SCLERA_FALLBACK_RGB, np.float32)


def lit_skin(image: np.ndarray, origin: np.ndarray, ax: np.ndarray, width: float,
             upper: tuple[float, float, float], lower: tuple[float, float, float]) -> np.ndarray:
    """The skin a closing lid comes to look like, RGB: the median just below the eye
    (LID_SKIN_BELOW), on the brow bone above the crease (LID_SKIN_ABOVE) or on the lid's own
    skin past its lashes (LID_SKIN_OWN), whichever is brightest: a deep-set eye's crease is in
    shadow, a painting's or a tired eye's bags may be; a lid lit from the front is paler than
    both (a dark lid — eyeshadow, lashes, a crease's shade — is never taken)."""
    return max((skin_median(image, origin, ax, width, lower, LID_SKIN_BELOW),
                skin_median(image, origin, ax, width, upper, (-LID_SKIN_ABOVE[1], -LID_SKIN_ABOVE[0])),
                skin_median(image, origin, ax, width, upper, (-LID_SKIN_OWN[1], -LID_SKIN_OWN[0]))),
               key=lambda rgb: float(rgb @ LUMA))


def skin_detail(crop: np.ndarray, width: float) -> np.ndarray:
    """The fine detail of an image crop (float RGB): the crop minus its Gaussian blur of
    LID_DETAIL[0] × the eye's width, each channel clipped to ±LID_DETAIL[1] levels and to
    LID_DETAIL_SPREAD × its robust spread (1.4826 × the median absolute deviation): a skin's
    texture — pores, a painting's cracks — is what most of the crop holds and keeps its
    strength; a line through it — the lid's crease, a cartoon's drawn lid rim — is an outlier,
    and stacked down a closing lid it showed as bands (lp_s7).

    A line within that range — the lashes and the crease of a soft photo, the iris's rim —
    still drew itself, moved down with the lid, as arcs across a closed lid (lp_s42). So the
    detail is also weighted by 1 − the coherence of its own structure tensor,
    ((λ₁ − λ₂) / (λ₁ + λ₂))² (Bigün & Granlund 1987; Weickert 1999, "Coherence-enhancing
    diffusion filtering"), gradients at LID_DETAIL_LINES[0] × the eye's width integrated over
    LID_DETAIL_LINES[1] × it: ~1 along a line, low over isotropic texture (pores, grain). Taken
    on the bounded detail, not the image, so the eye's outline or a crease's shadow does not
    flatten the texture beside it."""
    detail = crop - cv2.GaussianBlur(crop, (0, 0), max(LID_DETAIL[0] * width, 0.5))
    spread = robust_sigma(detail, axis=(0, 1))
    bound = np.minimum(LID_DETAIL[1], np.maximum(LID_DETAIL_SPREAD * spread, 1.0))
    detail = np.clip(detail, -bound, bound)
    return detail * (1.0 - coherence(detail @ LUMA, width))[..., None]


def coherence(gray: np.ndarray, width: float) -> np.ndarray:
    """H×W, 0…1: how line-like the image is around each pixel (:func:`skin_detail`)."""
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), max(LID_DETAIL_LINES[0] * width, 0.5))
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    spread = max(LID_DETAIL_LINES[1] * width, 1.0)
    jxx, jyy, jxy = (cv2.GaussianBlur(a, (0, 0), spread) for a in (gx * gx, gy * gy, gx * gy))
    trace = jxx + jyy
    return np.square(np.sqrt(np.square(jxx - jyy) + 4.0 * np.square(jxy)) / np.maximum(trace, 1e-6))


def lid_skin(image: np.ndarray, origin: np.ndarray, ax: np.ndarray, width: float,
             upper: tuple[float, float, float], lower: tuple[float, float, float],
             lit: np.ndarray, reach: np.ndarray | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """What a closing upper lid's unfolding skin looks like, over the band it is taken from: the
    lit skin's colour (``lit``, :func:`lit_skin`) plus the source's own fine detail there
    (:func:`skin_detail`).

    A lid unfolding from its crease comes into the light; the stretched band above the lashes
    is the crease's shadow — on a deep-set eye or a dark eyeliner's wing, near black — so it is
    replaced by lit skin, not multiplied: only the shading goes, the pores (a painting's cracks)
    stay, and a dark wing cannot be stretched into a blot. Returns the RGBA sprite (alpha 255)
    and its top-left corner in source pixels. Per source, once."""
    h, w = image.shape[:2]
    down = np.array([-ax[1], ax[0]])
    past = EYE_SIDE_FADE[0] + EYE_SIDE_FADE[1]
    top = min(float(np.min(curve_points(origin, ax, width, upper) @ down - origin @ down)), 0.0)
    corners = [origin + u * width * ax + v * down for u in (-past, 1.0 + past)
               for v in (top - (UPPER_LID_BAND[0] + LID_WIDEN) * width, max(lower[0], 0.0) + 2.0)]
    pad = 3.0 * LID_DETAIL[0] * width + 2.0
    lo, hi = np.min(corners, axis=0) - pad, np.max(corners, axis=0) + pad
    x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((1, 1, 4), np.uint8), (float(x0), float(y0))
    crop = image[y0:y1, x0:x1, :3].astype(np.float32)
    detail = skin_detail(crop, width)
    tone = lid_tone(crop, (x0, y0), origin, ax, width, upper, lit, reach)
    sprite = np.full((y1 - y0, x1 - x0, 4), 255, np.uint8)
    sprite[..., :3] = np.clip(np.round(tone + detail), 0, 255).astype(np.uint8)
    return sprite, (float(x0), float(y0))


def bare_skin(image: np.ndarray, at: tuple[float, float], size: tuple[int, int], width: float) -> np.ndarray:
    """The source over a box (``at``: its top-left corner, source pixels; ``size``: h, w) with
    its dark lines thinner than LASH_CLOSE × the eye's width closed out: a grey-scale
    morphological closing (dilation, then erosion; Serra 1982, "Image Analysis and Mathematical
    Morphology") with a disc that wide, each channel. Lashes and a drawn crease go; the skin's
    tone and broad shading (a crease's shadow, eyeshadow) stay. A closing lid's stretched skin
    comes from it: stretched down a closed lid, a lash drew a streak. An RGBA sprite (alpha 255).
    Per source, once."""
    x0, y0 = int(at[0]), int(at[1])
    crop = image[y0:y0 + size[0], x0:x0 + size[1], :3]
    sprite = np.full((*size, 4), 255, np.uint8)
    if crop.shape[:2] != tuple(size) or min(size) < 2:
        sprite[: crop.shape[0], : crop.shape[1], :3] = crop
        return sprite
    k = line_filter_size(width)
    sprite[..., :3] = cv2.morphologyEx(np.ascontiguousarray(crop), cv2.MORPH_CLOSE,
                                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return sprite


def line_filter_size(width: float) -> int:
    """The odd size, pixels, of the filters that take a lid's thin lines out: LASH_CLOSE × the
    eye's width (:func:`bare_skin`, :func:`without_lines`)."""
    return 2 * max(int(round(LASH_CLOSE * width / 2.0)), 1) + 1


def without_lines(crop: np.ndarray, width: float) -> np.ndarray:
    """An image crop (H×W×3, float32) with its lines thinner than half of LASH_CLOSE × the eye's
    width taken out by a median filter that wide: unlike a closing (:func:`bare_skin`), which
    takes the upper envelope of a grainy skin's texture (the demo's closed lids came out paler
    than its cheeks), a median keeps the skin's own level."""
    return cv2.medianBlur(np.clip(np.rint(crop), 0, 255).astype(np.uint8), line_filter_size(width)).astype(np.float32)


def reach_columns(cols: int) -> tuple[float, float]:
    """How :func:`lid_reach`'s ``cols`` columns lie along the eye: column = (u + past) × scale,
    from a side fade's length past one corner (u = −past) to past the other; (past, scale)."""
    past = EYE_SIDE_FADE[0] + EYE_SIDE_FADE[1]
    return past, (cols - 1) / (1.0 + 2.0 * past)


def lid_tone(crop: np.ndarray, at: tuple[int, int], origin: np.ndarray, ax: np.ndarray, width: float,
             upper: tuple[float, float, float], lit: np.ndarray, reach: np.ndarray | None) -> np.ndarray:
    """The colour a closing lid's unfolding skin takes, per pixel of the crop (h×w×3): the skin's
    tone (a Gaussian blur of LID_TONE[0] × the eye's width) at the far end of the upper band in
    the pixel's own column along the eye (``reach``: :func:`lid_reach`'s sprite; None: the full
    band) — where the closed lid meets the warped skin above and beside it, so it takes that
    skin's shade: the darker side of a face turned from the light, a painting's glaze. The skin's,
    not its thin lines' (:func:`without_lines`): a crease at the band's far end gave the whole
    closed lid its grey (the demo portrait). Where that tone is much darker than ``lit``
    (:func:`lit_skin`) — a brow or hair the band reaches, a deep socket's shadow — it gives way
    to ``lit``, wholly from LID_TONE[1] of its luma."""
    h, w = crop.shape[:2]
    blurred = cv2.GaussianBlur(without_lines(crop, width), (0, 0), max(LID_TONE[0] * width, 0.5))
    down = np.array([-ax[1], ax[0]])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rel = np.stack([xx + at[0] - origin[0], yy + at[1] - origin[1]], axis=-1)
    u = np.clip(rel @ ax / width, -0.5, 1.5)
    band = np.full_like(u, UPPER_LID_BAND[0] * width)
    if reach is not None:  # the band's reach, column by column, as band_reach reads it
        cols = reach.shape[1]
        past, scale = reach_columns(cols)
        x = np.clip((u + past) * scale, 0, cols - 1)
        band = np.interp(x, np.arange(cols), reach[UPPER_ROW][:, -1].astype(np.float64) / 255.0) * UPPER_LID_BAND[0] * width
    b, s_ = np.clip(4 * u * (1 - u), 0.0, 1.0), u - 0.5
    end = b * (upper[0] + s_ * (upper[1] + s_ * upper[2])) - band  # v of the band's far end
    pts = origin + (u * width)[..., None] * ax + end[..., None] * down - np.array(at, np.float64)
    tone = cv2.remap(blurred, pts[..., 0].astype(np.float32), pts[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    luma, want = tone @ LUMA, float(lit @ LUMA)
    keep = np.clip((luma - LID_TONE[1] * want) / max(LID_TONE[2] * want, 1.0), 0.0, 1.0)[..., None]
    return lit + (tone - lit) * keep


def white_beyond(image: np.ndarray, outline: np.ndarray, width: float, sclera: np.ndarray,
                 lit: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The white of the eye the mesh's outline leaves out, and the lid skin that covers it when
    the eye shuts: an RGBA sprite (RGB the lit skin with the source's detail, alpha where the
    white is) and its top-left corner, source pixels.

    A cartoon's or an anime drawing's eye is bigger than the face mesh's: its lids meet along
    the mesh's lid lines and leave a crescent of white below them and a wedge at the corners.
    The white outside the outline — as bright and unsaturated as the sclera (SCLERA_DARKEST,
    SCLERA_MAX_SATURATION), within WHITE_BEYOND[0] × the eye's width of it, and joined to the
    white inside it — is covered as the eye closes. If it spreads over more than
    WHITE_BEYOND[1] × the eye's own area, or runs on to where the search stops (more than
    WHITE_BEYOND[2] of it on that edge) instead of ending at a drawn rim, it is pale skin, not
    an eye's white: nothing is kept.
    Per source, once."""
    h, w = image.shape[:2]
    reach = WHITE_BEYOND[0] * width
    lo, hi = outline.min(axis=0) - reach - 2.0, outline.max(axis=0) + reach + 2.0
    x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    empty = np.zeros((1, 1, 4), np.uint8)
    if x1 <= x0 or y1 <= y0:
        return empty, (float(x0), float(y0))
    crop = image[y0:y1, x0:x1, :3].astype(np.float32)
    pts = np.round(outline - (x0, y0)).astype(np.int32)
    eye = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(eye, [pts], 1)
    k = 2 * int(round(reach)) + 1
    near = cv2.dilate(eye, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    white = near & looks_white(crop, sclera)
    n, labels = cv2.connectedComponents(white.astype(np.uint8), connectivity=4)
    seeds = np.unique(labels[white & (eye > 0)])
    joined = np.isin(labels, seeds[seeds > 0]) & (eye == 0)
    # an eye's white ends at its drawn rim; pale skin runs on until the search's edge cuts it
    edge = near & ~(cv2.erode(near.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    if (not joined.any() or joined.sum() > WHITE_BEYOND[1] * max(int(eye.sum()), 1)
            or (joined & edge).sum() > WHITE_BEYOND[2] * joined.sum()):
        return empty, (float(x0), float(y0))
    alpha = cv2.GaussianBlur(cv2.dilate(joined.astype(np.float32), np.ones((3, 3), np.uint8)), (0, 0), 0.7)
    sprite = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    sprite[..., :3] = np.clip(np.round(lit + skin_detail(crop, width)), 0, 255).astype(np.uint8)
    sprite[..., 3] = np.clip(np.round(255 * alpha), 0, 255).astype(np.uint8)
    return sprite, (float(x0), float(y0))


def lid_reach(image: np.ndarray, origin: np.ndarray, ax: np.ndarray, width: float,
              upper: tuple[float, float, float], lower: tuple[float, float, float],
              lit: np.ndarray) -> tuple[np.ndarray, float]:
    """How far each lid's band (UPPER_LID_BAND, LOWER_LID_BAND) reaches from its edge, column by
    column along the eye: a 3×n×4 sprite (n = LID_REACH[0] columns from EYE_SIDE_FADE's far end
    past one corner to the other's) whose alpha is the band's reach as a share of its full
    reach, the upper band's in row 0, the lower's in row 1, and in row 2 where an eyewear rim
    ends the upper band (255; 0 elsewhere): beyond it is no lid skin to take detail from
    (alpha: the one per-pixel map every engine's ``sample`` gives alike).

    A closing lid stretches the skin between its lashes and the band's far end over the eye, so
    whatever lies in the band comes down with it. That must be lid skin: the band ends, LID_REACH
    pixels short, where an eyewear rim crosses it (the frame of a pair of glasses was pulled
    down with the lid: eyewear stays rigid) or the image ends. A rim is told from a lid's own
    dark lines (lashes, a crease's shadow, eyeliner) by EYEWEAR_RIM: near black, thin, with
    skin beyond, and across the whole eye. Columns take the nearest of their neighbours' ends,
    so the band's end runs smoothly. Also returns where a rim across the upper band ends above
    the eye (its top edge's v over the eye's middle, pixels, negative; 0: no rim): the eye is
    behind glasses, which the motion field keeps rigid. Per source, once."""
    cols, margin, least = LID_REACH
    dark, bright, thick, span = EYEWEAR_RIM
    past, _ = reach_columns(cols)
    u = np.linspace(-past, 1.0 + past, cols)
    middle = (u >= 0.15) & (u <= 0.85)
    b, s = np.clip(4 * u * (1 - u), 0.0, 1.0), u - 0.5
    down = np.array([-ax[1], ax[0]])
    h, w = image.shape[:2]
    luma = image[..., :3].astype(np.float32) @ LUMA
    skin = float(lit @ LUMA)
    sprite = np.zeros((3, cols, 4), np.uint8)
    rim_top = 0.0
    for row, (coeffs, band, sign) in enumerate(((upper, UPPER_LID_BAND, -1.0), (lower, LOWER_LID_BAND, 1.0))):
        reach, lash = band[0] * width, band[1] * width
        steps = np.arange(0.0, reach + thick * width + 1.0, 1.0)  # outward from the edge, pixels
        edge = b * (coeffs[0] + s * (coeffs[1] + s * coeffs[2]))
        v = edge[:, None] + sign * steps[None, :]  # columns × steps
        pts = origin + (u * width)[:, None, None] * ax + v[..., None] * down
        xi, yi = np.round(pts[..., 0]).astype(int), np.round(pts[..., 1]).astype(int)
        inside = (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
        xi, yi = np.clip(xi, 0, w - 1), np.clip(yi, 0, h - 1)
        off = ~inside
        lum = np.where(inside, luma[yi, xi], 0.0)
        within = (steps[None, :] <= reach) & (steps[None, :] >= lash)
        black = (lum < dark * skin) & within
        # a rim: the first near-black run in reach is thin, and skin lies beyond it
        first = np.where(black.any(axis=1), np.argmax(black, axis=1), len(steps))
        after = np.arange(len(steps))[None, :] >= first[:, None]
        ends = np.where((after & (lum >= dark * skin)).any(axis=1),
                        np.argmax(after & (lum >= dark * skin), axis=1), len(steps))
        beyond = (np.arange(len(steps))[None, :] >= ends[:, None]) & (lum > bright * skin)
        rim = (first < len(steps)) & ((steps[np.minimum(ends, len(steps) - 1)] - steps[np.minimum(first, len(steps) - 1)])
                                      <= thick * width) & beyond.any(axis=1)
        off &= steps[None, :] <= reach
        eyewear = bool(rim[middle].mean() >= span)
        stop = off | black if eyewear else off  # eyewear: every column's band ends at its rim
        at = np.where(stop.any(axis=1), steps[np.argmax(stop, axis=1)] - margin, reach)
        at = np.clip(at, lash + least * width, reach)
        at = np.minimum(at, np.minimum(np.r_[at[1:], at[-1]], np.r_[at[0], at[:-1]]))
        sprite[row, :, 3] = np.round(255 * at / reach).astype(np.uint8)
        if eyewear and row == 0:  # the rim's top edge over the eye's middle, and where it ends the band
            top_end = steps[np.minimum(ends, len(steps) - 1)]
            rim_top = float(np.median((edge - top_end)[middle & rim]))
            cut = black.any(axis=1)
            sprite[RIM_ROW, :, 3] = 255 * (cut | np.r_[cut[1:], cut[-1]] | np.r_[cut[0], cut[:-1]])
    return sprite, rim_top


def curve_points(origin: np.ndarray, ax: np.ndarray, width: float, coeffs: tuple[float, float, float],
                 n: int = 24) -> np.ndarray:
    """n source points along a lid curve, corner to corner."""
    u = np.linspace(0.0, 1.0, n)
    s = u - 0.5
    h = 4 * u * (1 - u) * (coeffs[0] + s * (coeffs[1] + s * coeffs[2]))
    return origin + np.outer(u * width, ax) + np.outer(h, [-ax[1], ax[0]])


def source_eyes(image: np.ndarray, lm: np.ndarray) -> tuple[EyeShape, ...]:
    """Both eyes of a source portrait (image H×W×C uint8, landmarks 478×3 pixels): the mesh's
    lid curves, and its iris refined on the image (streamfx.generator.eye_fit)."""
    eyes = []
    for corners, upper, lower, iris in EYE_POINTS:
        o, ax, down, width = feature_frame(lm, corners)
        up_w, lo_w = lid_weights(lm, upper, o, ax, width), lid_weights(lm, lower, o, ax, width)
        up3 = up_w @ ((lm[upper, :2] - o) @ down)
        lo3 = lo_w @ ((lm[lower, :2] - o) @ down)
        rel = lm[iris[0], :2] - o
        mark = np.array([rel @ ax, rel @ down], np.float32)
        r_mark = float(np.linalg.norm(lm[iris[1:], :2] - lm[iris[0], :2], axis=1).mean())
        crop = eye_crop(image, o, ax, width)
        centre, r = fit_iris(crop, mark, r_mark, width, (tuple(up3), tuple(lo3)))
        h_up = (float(up3[0]), float(up3[1]), float(up3[2]))
        h_lo = (float(lo3[0]), float(lo3[1]), float(lo3[2]))
        outline = np.concatenate([curve_points(o, ax, width, h_up), curve_points(o, ax, width, h_lo)[::-1]])
        at = o + centre[0] * ax + centre[1] * down
        sclera, iris_rgb = eye_colours(image, outline, at, r, width)
        white, white_at = sclera_plate(image, outline, at, r, width, sclera)
        lit = lit_skin(image, o, ax, width, h_up, h_lo)
        # what opens up shows the white as a lit eye's is, not a narrow eye's shadowed corners
        shown = exposed_sclera(sclera, iris_rgb, lit)
        white[..., :3] = np.clip(np.round(white[..., :3] * (shown / np.maximum(sclera, 1.0))), 0, 255).astype(np.uint8)
        reach, rim = lid_reach(image, o, ax, width, h_up, h_lo, lit)
        skin, skin_at = lid_skin(image, o, ax, width, h_up, h_lo, lit, reach)
        bare = bare_skin(image, skin_at, (skin.shape[0], skin.shape[1]), width)
        beyond, beyond_at = white_beyond(image, outline, width, sclera, lit)
        eyes.append(EyeShape(
            corners=corners, upper_idx=np.asarray(upper, np.int64), upper_w=up_w,
            lower_idx=np.asarray(lower, np.int64), lower_w=lo_w, iris_idx=iris[0],
            origin=o.astype(np.float32), axis=ax.astype(np.float32), width=width, upper=h_up, lower=h_lo,
            iris=centre, iris_r=r, iris_mark=mark,
            feather=max(EYE_FEATHER[1], EYE_FEATHER[0] * width), sclera_rgb=shown, iris_rgb=iris_rgb,
            lid_skin=skin, lid_skin_at=skin_at, bare_skin=bare, lit_rgb=lit.astype(np.float32), beyond=beyond, beyond_at=beyond_at, white=white, white_at=white_at,
            reach=reach, rim=rim))
    return tuple(eyes)


def eyes_of(src: SourceBasics) -> tuple[EyeShape, ...]:
    """The source's eyes (:func:`source_eyes`), measured once for every layer that prepares from
    them: the eye layers draw with them, the motion field keeps glasses rigid by them."""
    eyes: tuple[EyeShape, ...] | None = src.shared.get("eyes")
    if eyes is None:
        eyes = src.shared["eyes"] = source_eyes(src.image, src.landmarks)
    return eyes


@dataclass(frozen=True)
class EyeConsts:
    eyes: tuple[EyeShape, ...]  # the subject's right eye, then left
    places: tuple[FieldPoints, ...]  # each one's eye_place_points on the motion grid


class EyeLayer(Layer):
    """An overlay drawn eye by eye (the lids, the irises): the source's eyes measured once,
    then :meth:`draw_eye` per eye and frame."""

    def prepare(self, src: SourceBasics) -> EyeConsts:
        eyes = eyes_of(src)
        return EyeConsts(eyes, tuple(FieldPoints.of(src, eye_place_points(eye)) for eye in eyes))

    def apply(self, ops: Ops, k: EyeConsts, frame: Frame) -> None:
        for n, eye in enumerate(k.eyes):
            self.draw_eye(ops, eye, eye_view(ops, frame, eye, n, k.places[n]), frame)

    @abstractmethod
    def draw_eye(self, ops: Ops, eye: EyeShape, view: EyeView, frame: Frame) -> None:
        """One eye of one frame, as ``view`` has it, through ``ops``, onto ``frame.canvas``."""


@dataclass
class EyePlace:
    """Where the warp put one eye of the source (per-frame scalars, target pixels): an affine
    frame through its warped corners, its ``v`` axis fitted above and below them apart
    (EYE_PLACE; layers/placement). ``u`` runs 0…1 corner to corner, ``v`` down in source pixels."""

    ox: Tensor  # the warped left corner
    oy: Tensor
    ax: Tensor  # from it to the warped right corner (u = 1)
    ay: Tensor
    up: tuple[Tensor, Tensor]  # target pixels per source pixel of v, above the corners' axis
    down: tuple[Tensor, Tensor]  # … and below it
    cx: Tensor  # the corners' centre
    cy: Tensor
    width: Tensor  # corner to corner
    inverse: tuple[Tensor, ...] | None = None  # place_uv's per-frame coefficients, once asked for


@dataclass
class Onto:
    """The similarity taking the target's eye corners onto the warped ones (per-frame scalars):
    the driver's lids and iris, as they sit against its eye's corners, put on the portrait's eye
    where the warp put it."""

    tx: Tensor  # the target's left corner
    ty: Tensor
    r1: Tensor  # scale × (cos, sin) of the turn from the target's axis to the warped one
    r2: Tensor
    px: Tensor  # the warped left corner
    py: Tensor

    def __call__(self, ops: Ops, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        dx, dy = ops.sub(x, self.tx), ops.sub(y, self.ty)
        return (ops.add(self.px, ops.sub(ops.mul(self.r1, dx), ops.mul(self.r2, dy))),
                ops.add(self.py, ops.add(ops.mul(self.r2, dx), ops.mul(self.r1, dy))))


@dataclass
class EyeFrame:
    """One eye of the target frame: where it is drawn, and the target's lids there."""

    place: EyePlace
    upper: tuple[Tensor, Tensor, Tensor]  # the target's lid curves in that frame, source pixels
    lower: tuple[Tensor, Tensor, Tensor]
    onto: Onto | None = None  # target points onto the warped eye (None: the frame is the target's own)

    def uv(self, ops: Ops, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(u, v) in this frame of a target landmark, placed against the eye's corners."""
        return target_uv(ops, self.place, self.onto, x, y)


def target_uv(ops: Ops, place: EyePlace, onto: Onto | None, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(u, v) in ``place`` of target landmarks (x, y), moved ``onto`` the warped eye first."""
    if onto is not None:
        x, y = onto(ops, x, y)
    return place_uv(ops, place, x, y)


def place_uv(ops: Ops, p: EyePlace, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(u, v) of target points (x, y) in an eye's frame: the affine half on the point's side of
    the corners' axis. (Per-frame coefficients first, once per frame and eye: over a window, x
    is a row and y a column, and only the sums are per pixel.)"""
    if p.inverse is None:
        coeffs: list[Tensor] = []
        for dx, dy in (p.up, p.down):
            inv = ops.div(ops.f(1.0), ops.sub(ops.mul(p.ax, dy), ops.mul(p.ay, dx)))  # > 0: eye_place keeps it so
            coeffs += [ops.mul(dy, inv), ops.neg(ops.mul(dx, inv)), inv]
        p.inverse = tuple(coeffs)
    ux_up, uy_up, v_up, ux_down, uy_down, v_down = p.inverse
    rx, ry = ops.sub(x, p.ox), ops.sub(y, p.oy)
    across = ops.sub(ops.mul(p.ax, ry), ops.mul(p.ay, rx))  # > 0 below the axis
    below = ops.gt(across, ops.f(0.0))
    u = ops.where(below, ops.add(ops.mul(rx, ux_down), ops.mul(ry, uy_down)),
                  ops.add(ops.mul(rx, ux_up), ops.mul(ry, uy_up)))
    return u, ops.mul(across, ops.where(below, v_down, v_up))


def lid_curve_of(ops: Ops, t: Tensor, idx: np.ndarray, weights: np.ndarray, place: EyePlace,
                 onto: Onto | None) -> tuple[Tensor, Tensor, Tensor]:
    """The lid curve's coefficients fitted to the target's contour points, source pixels."""
    pts = ops.gather(t, ops.const(idx), axis=1)  # B×n×2
    _, h = target_uv(ops, place, onto, ops.slice(pts, 0, 1), ops.slice(pts, 1, 2))  # B×n×1
    return tuple(ops.per_frame(ops.reduce_sum(ops.mul(h, ops.const(w.reshape(1, -1, 1), "lid_w")), (1,)))  # type: ignore[return-value]
                 for w in weights)  # B×1×1 each


def eye_frame(ops: Ops, t: Tensor, eye: EyeShape, placed: Tensor | None = None) -> EyeFrame:
    """Eye ``eye`` of target frame ``t``: drawn where the warp put it, ``placed`` (``B×4×2``, its
    :func:`eye_place_points` moved by the motion field), or without it by the similarity through
    the target's corners. The target's lid curves are measured in that frame as they sit against
    its eye's corners (:class:`Onto`): the lids close and open as the driver's, on the portrait's
    eye, and a lid band's far end meets the warped skin next to it."""
    own = corner_place(ops, t, eye)
    place, onto = own, None
    if placed is not None:
        # the driver's lids as they sit against its eye's corners, on the warped eye: where the
        # warp follows the target (most of a face) the same pixels; behind glasses (which the
        # field keeps rigid) or where its smoothing leaves a corner a pixel or two off, the lids
        # stay on the portrait's eye
        place = eye_place(ops, eye, placed)
        n2 = ops.add(ops.mul(own.ax, own.ax), ops.mul(own.ay, own.ay))
        r1 = ops.div(ops.add(ops.mul(place.ax, own.ax), ops.mul(place.ay, own.ay)), n2)
        r2 = ops.div(ops.sub(ops.mul(place.ay, own.ax), ops.mul(place.ax, own.ay)), n2)
        onto = Onto(own.ox, own.oy, r1, r2, place.ox, place.oy)
    upper = lid_curve_of(ops, t, eye.upper_idx, eye.upper_w, place, onto)
    lower = lid_curve_of(ops, t, eye.lower_idx, eye.lower_w, place, onto)
    upper, lower = meet(ops, eye, upper, lower)
    return EyeFrame(place, upper, lower, onto)


def corner_place(ops: Ops, t: Tensor, eye: EyeShape) -> EyePlace:
    """The target's own frame of ``eye``: the similarity through its corners (what the driver's
    eye did, whatever the warp did)."""
    ax_, ay_ = ops.point(t, eye.corners[0])
    bx_, by_ = ops.point(t, eye.corners[1])
    swap = ops.gt(ax_, bx_)  # the eye's frame runs left to right, as the source's does
    ox, oy = ops.where(swap, bx_, ax_), ops.where(swap, by_, ay_)
    ex, ey = ops.where(swap, ax_, bx_), ops.where(swap, ay_, by_)
    ax_x, ax_y, width = axis(ops, ox, oy, ex, ey)
    inv = ops.div(width, ops.f(eye.width))  # target pixels per source pixel
    perp = (ops.neg(ops.mul(ax_y, inv)), ops.mul(ax_x, inv))
    return EyePlace(ox, oy, ops.sub(ex, ox), ops.sub(ey, oy), perp, perp,
                    ops.mul(ops.add(ox, ex), ops.f(0.5)), ops.mul(ops.add(oy, ey), ops.f(0.5)), width)


def eye_place_points(eye: EyeShape) -> np.ndarray:
    """4×2 source pixels the warp's frame of the eye is fitted at: its corners, and above and
    below their centre (EYE_PLACE × its width, past where the lid bands end)."""
    o, ax, w = eye.origin.astype(np.float64), eye.axis.astype(np.float64), float(eye.width)
    down = np.array([-ax[1], ax[0]])
    mid = o + 0.5 * w * ax
    return np.stack([o, o + w * ax, mid - EYE_PLACE[0] * w * down, mid + EYE_PLACE[1] * w * down]).astype(np.float32)


def eye_place(ops: Ops, eye: EyeShape, placed: Tensor) -> EyePlace:
    """The affine frame through the warped points of :func:`eye_place_points` (``B×4×2``). A
    ``v`` axis that the field squashed below EYE_PLACE[2] of the corners' scale across their axis
    (a fold) is kept at that."""
    o, e = ops.slice(placed, 0, 1, axis=1), ops.slice(placed, 1, 2, axis=1)  # B×1×2
    a = ops.sub(e, o)
    c = ops.mul(ops.add(o, e), ops.f(0.5))
    # target pixels per source pixel of v, above (row 0) and below (row 1) the axis: B×2×2
    per = np.array(((-1.0 / (EYE_PLACE[0] * eye.width),), (1.0 / (EYE_PLACE[1] * eye.width),)), np.float32)
    d = ops.mul(ops.sub(ops.slice(placed, 2, 4, axis=1), c), ops.const(per.reshape(1, 2, 1), "place_per"))
    perp = ops.matmul(a, ops.const(np.array(((0.0, 1.0), (-1.0, 0.0)), np.float32), "place_perp"))  # (−a_y, a_x)
    width = ops.add(ops.sqrt(ops.reduce_sum(ops.mul(a, a), (2,))), ops.f(1e-6))  # B×1×1
    across = ops.div(ops.reduce_sum(ops.mul(d, perp), (2,)), width)  # B×2×1
    least = ops.mul(width, ops.f(EYE_PLACE[2] / eye.width))
    d = ops.add(d, ops.mul(ops.div(ops.maximum(ops.sub(least, across), ops.f(0.0)), width), perp))

    def xy(t: Tensor, row: int) -> tuple[Tensor, Tensor]:
        r = ops.slice(t, row, row + 1, axis=1)
        return ops.per_frame(ops.slice(r, 0, 1)), ops.per_frame(ops.slice(r, 1, 2))

    (ox, oy), (ax, ay), (cx, cy) = xy(o, 0), xy(a, 0), xy(c, 0)
    return EyePlace(ox, oy, ax, ay, xy(d, 0), xy(d, 1), cx, cy, ops.per_frame(width))


def widest_gap(ops: Ops, upper: tuple[Tensor, Tensor, Tensor], lower: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """How far apart two lid curves (their coefficients) are: the widest of their gaps at a
    quarter, half and three quarters along the eye, source pixels (negative where they cross)."""
    d = [ops.sub(b, a) for a, b in zip(upper, lower, strict=True)]
    gap = None
    for s in (-0.25, 0.0, 0.25):
        at = ops.mul(ops.f(1.0 - 4.0 * s * s), ops.add(d[0], ops.mul(ops.f(s), ops.add(d[1], ops.mul(ops.f(s), d[2])))))
        gap = at if gap is None else ops.maximum(gap, at)
    assert gap is not None
    return gap


def meet(ops: Ops, eye: EyeShape, upper: tuple[Tensor, Tensor, Tensor], lower: tuple[Tensor, Tensor, Tensor]
         ) -> tuple[tuple[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]:
    """Lid curves that (nearly) meet, drawn as one: both pulled towards one closing line as the
    gap between them (the widest of three places along the eye) falls below LID_MEET × its
    width, wholly from half that (under a lid edge's feather: it reads as shut anyway).

    A closed eye's mesh lids cross each other and ripple; drawn as they were, the lid met the
    lower one here and stopped short of it there, and a blink showed a wavy line with slivers
    of eye. They close along one line instead: at their mean height, in the shape of the
    source's lower lid — one clean lash line."""
    gap = widest_gap(ops, upper, lower)
    k = ops.clip01(ops.sub(ops.f(2.0), ops.mul(gap, ops.f(2.0 / (LID_MEET * eye.width)))))
    # the line they close along: halfway between them at the middle, shaped as the portrait's
    # own lower lid, on which a closed lid's lashes rest (the driver's closed lids lean and
    # ripple as its mesh lets them)
    mid = (ops.mul(ops.add(upper[0], lower[0]), ops.f(0.5)), ops.f(eye.lower[1]), ops.f(eye.lower[2]))
    up = tuple(ops.add(a, ops.mul(ops.sub(m, a), k)) for a, m in zip(upper, mid, strict=True))
    low = tuple(ops.add(b, ops.mul(ops.sub(m, b), k)) for b, m in zip(lower, mid, strict=True))
    return (up[0], up[1], up[2]), (low[0], low[1], low[2])


def eye_window(ops: Ops, canvas: Tensor, e: EyeFrame) -> Window:
    """A box around where the eye is drawn (EYE_BOX × its width, plus pixels), whole pixels."""
    side, up, down, pad = EYE_BOX
    p = e.place
    def reach(k: float) -> Tensor:
        return ops.add(ops.mul(ops.f(k), p.width), ops.f(pad))
    return ops.window(canvas, (
        ops.trunc(ops.sub(p.cx, reach(side))), ops.trunc(ops.sub(p.cy, reach(up))),
        ops.add(ops.trunc(ops.add(p.cx, reach(side))), ops.f(1.0)),
        ops.add(ops.trunc(ops.add(p.cy, reach(down))), ops.f(1.0))))


def eye_coords(ops: Ops, win: Window, e: EyeFrame) -> tuple[Tensor, Tensor]:
    """(u, v) of every pixel of the window in the eye's frame: u along the eye (0…1), v down, in
    source pixels."""
    return place_uv(ops, e.place, win.xs, win.ys)


def source_xy(ops: Ops, eye: EyeShape, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """The source pixel at (u, v) of the source's eye frame."""
    (ax, ay), (dx, dy), w = eye.axis, eye.down, eye.width
    x = ops.add(ops.add(ops.f(float(eye.origin[0])), ops.mul(u, ops.f(float(ax) * w))), ops.mul(v, ops.f(float(dx))))
    y = ops.add(ops.add(ops.f(float(eye.origin[1])), ops.mul(u, ops.f(float(ay) * w))), ops.mul(v, ops.f(float(dy))))
    return x, y


def between(ops: Ops, v: Tensor, top: Tensor, bottom: Tensor, feather: float) -> Tensor:
    """0…1: how far v lies between two lid edges (soft over ``feather`` pixels)."""
    half, k = ops.f(0.5), ops.f(1.0 / feather)
    return ops.mul(ops.clip01(ops.add(ops.mul(ops.sub(v, top), k), half)),
                   ops.clip01(ops.add(ops.mul(ops.sub(bottom, v), k), half)))


def lid_curve(ops: Ops, coeffs: tuple[Tensor, Tensor, Tensor], s: Tensor, b: Tensor) -> Tensor:
    """A lid edge's height over the window, from its coefficients, s = u − ½ and the bulge b."""
    return ops.mul(b, ops.add(coeffs[0], ops.mul(s, ops.add(coeffs[1], ops.mul(s, coeffs[2])))))


def source_lids(ops: Ops, eye: EyeShape, s: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The source's upper and lower lid edges at s = u − ½ (bulge b)."""
    return (lid_curve(ops, tuple(ops.f(c) for c in eye.upper), s, b),  # type: ignore[arg-type]
            lid_curve(ops, tuple(ops.f(c) for c in eye.lower), s, b))  # type: ignore[arg-type]


def source_opening(ops: Ops, eye: EyeShape, u: Tensor, v: Tensor, inset: Tensor | None = None) -> Tensor:
    """0…1: whether the source showed its eye (not lid) at (u, v) of its eye frame; ``inset``
    (pixels) moves both lid edges inwards."""
    top, bottom = source_lids(ops, eye, ops.sub(u, ops.f(0.5)), bulge(ops, u))
    if inset is not None:
        top, bottom = ops.add(top, inset), ops.sub(bottom, inset)
    return between(ops, v, top, bottom, eye.feather)


def eye_white(ops: Ops, eye: EyeShape, view: EyeView) -> Tensor:
    """The white of the eye over the view's window: the source's own, carried across the iris
    and past the lids (:func:`sclera_plate`), else its measured colour in the lid's shadow.
    Worked out once per eye and frame, for both eye layers."""
    if view.white is None:
        flat = ops.mul(ops.rgb(eye.sclera_rgb), view.shade)
        x, y = source_xy(ops, eye, view.u, view.v)
        plate, trust = ops.sample(view.win, eye.white, ops.sub(x, ops.f(eye.white_at[0])),
                                  ops.sub(y, ops.f(eye.white_at[1])))
        view.white = ops.add(flat, ops.mul(ops.sub(plate, flat), trust))
    return view.white


def lid_shadow(ops: Ops, eye: EyeShape, v: Tensor, top: Tensor) -> Tensor:
    """A colour factor for what is drawn inside the eye: darker just below the upper lid."""
    most, reach = LID_SHADOW
    near = ops.clip01(ops.sub(ops.f(1.0), ops.mul(ops.sub(v, top), ops.f(1.0 / (reach * eye.width)))))
    return ops.sub(ops.f(1.0), ops.mul(ops.f(most), near))


def slit_shade(ops: Ops, eye: EyeShape, e: EyeFrame) -> Tensor:
    """A colour factor for everything between the lids: how much less light reaches between the
    target's lids (``e``) than between the source's.

    Light reaches into an eye open g wide (its lids' widest gap, :func:`widest_gap`) as
    g⁴ / (g⁴ + g₀⁴), g₀ = SLIT_SHADOW × the eye's width (the lashes' length): nearly all of it
    while the lids are twice that apart or more (a half-open eye is lit as the source's), half
    at g₀, little once their lashes overlap the slit. The source's eye is lit as its own gap
    lets it be, so the factor is the target's over the source's, at most 1 — a lid that opened
    wider draws nothing brighter — and none until the gap narrowed by a lid edge's feather (at
    rest the eye stays exactly as it was), all of it from two. One factor for the whole eye:
    the light comes in through the opening (taken per column, the corners, narrow in any eye,
    came out grey smudges on a cartoon's flat white). A lid lowered to a slit (a driver looking
    down, a sleepy eye) then shows the eye in its shadow, where the warped eye showed a white
    sliver of the source's sclera."""
    g0 = ops.f((SLIT_SHADOW * eye.width) ** 4)

    def lit(g: Tensor) -> Tensor:
        g2 = ops.mul(g, g)
        g4 = ops.mul(g2, g2)
        return ops.div(g4, ops.add(g4, g0))
    target = ops.maximum(widest_gap(ops, e.upper, e.lower), ops.f(0.0))
    source = ops.maximum(widest_gap(ops, (ops.f(eye.upper[0]), ops.f(eye.upper[1]), ops.f(eye.upper[2])),
                                    (ops.f(eye.lower[0]), ops.f(eye.lower[1]), ops.f(eye.lower[2]))), ops.f(1e-3))
    ratio = ops.clip01(ops.div(lit(target), lit(source)))
    narrowed = ops.clip01(ops.sub(ops.mul(ops.sub(source, target), ops.f(1.0 / eye.feather)), ops.f(1.0)))
    return ops.sub(ops.f(1.0), ops.mul(ops.sub(ops.f(1.0), ratio), narrowed))


def iris_disc(ops: Ops, eye: EyeShape, u: Tensor, v: Tensor, cx: Tensor, cy: Tensor,
              grow: Tensor | None = None) -> Tensor:
    """0…1: inside the source's iris disc (its radius × ``grow``) centred at (cx, cy) of the eye
    frame, with a soft edge."""
    dx = ops.sub(ops.mul(u, ops.f(eye.width)), cx)
    dy = ops.sub(v, cy)
    # (r² − d²) / 2r ≈ r − d near the rim: the soft edge without a square root
    r = ops.f(eye.iris_r) if grow is None else ops.mul(ops.f(eye.iris_r), grow)
    edge = max(IRIS_EDGE[1], IRIS_EDGE[0] * eye.width)
    inside = ops.sub(ops.mul(r, r), ops.add(ops.mul(dx, dx), ops.mul(dy, dy)))
    return ops.clip01(ops.add(ops.mul(inside, ops.div(ops.f(0.5 / edge), r)), ops.f(0.5)))


@dataclass
class EyeView:
    """One eye of one frame as both eye layers draw it: its window, each pixel's place in the
    eye's frame, and the source's and the target's lid edges there."""

    e: EyeFrame
    win: Window
    u: Tensor  # along the eye, 0…1
    v: Tensor  # down, source pixels
    top_s: Tensor  # the source's lid edges
    bottom_s: Tensor
    top: Tensor  # the target's: the upper never below the lower, neither opened past LID_WIDEN
    bottom: Tensor
    closed: Tensor  # 0…1: the lids less than a feather apart
    sides: Tensor  # 1 over the eye, fading out beyond its corners
    opening: Tensor  # 0…1: between the target's lids
    shade: Tensor  # what is drawn inside the eye darkens just below the upper lid (lid_shadow)
    up_reach: Tensor  # how far the upper lid's band reaches from its edge, source pixels (lid_reach)
    low_reach: Tensor  # the lower lid's
    up_cut: Tensor  # 0…1: where an eyewear rim ends the upper lid's band (lid_reach)
    slit: Tensor  # what shows between the lids darkens as they close to a slit (slit_shade; per frame)
    white: Tensor | None = None  # the white of the eye over the window (eye_white), once asked for


def eye_view(ops: Ops, frame: Frame, eye: EyeShape, n: int, places: FieldPoints) -> EyeView:
    """Eye ``n`` (0: the subject's right) of this frame, worked out by the first eye layer that
    asks, shared with the rest; drawn where the motion field put it (``places``)."""
    views = frame.shared.setdefault("eyes", {})
    if n not in views:
        placed = None if frame.displacement is None else moved_points(ops, places, frame.displacement)
        e = eye_frame(ops, frame.target, eye, placed)
        win = eye_window(ops, frame.canvas, e)
        u, v = eye_coords(ops, win, e)
        s, b = ops.sub(u, ops.f(0.5)), bulge(ops, u)
        top_s, bottom_s = source_lids(ops, eye, s, b)
        up_reach, low_reach, up_cut = band_reach(ops, eye, win, u)
        up_lash, low_lash = ops.f(UPPER_LID_BAND[1] * eye.width), ops.f(LOWER_LID_BAND[1] * eye.width)
        widen = ops.f(LID_WIDEN)
        highest = ops.sub(top_s, ops.mul(b, ops.mul(widen, ops.sub(up_reach, up_lash))))
        lowest = ops.add(bottom_s, ops.mul(b, ops.mul(widen, ops.sub(low_reach, low_lash))))
        bottom = ops.minimum(lid_curve(ops, e.lower, s, b), lowest)
        top = ops.minimum(ops.maximum(lid_curve(ops, e.upper, s, b), highest), bottom)
        closed = ops.clip01(ops.sub(ops.f(1.0), ops.mul(ops.sub(bottom, top), ops.f(1.0 / eye.feather))))
        slit = slit_shade(ops, eye, e)
        views[n] = EyeView(e, win, u, v, top_s, bottom_s, top, bottom, closed, side_fade(ops, u),
                           between(ops, v, top, bottom, eye.feather), ops.mul(lid_shadow(ops, eye, v, top), slit),
                           up_reach, low_reach, up_cut, slit)
    view: EyeView = views[n]
    return view


def band_reach(ops: Ops, eye: EyeShape, win: Window, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """How far the upper and the lower lid's bands reach from their edges over the window,
    source pixels, and 0…1 where an eyewear rim ends the upper one (:func:`lid_reach`'s
    columns, interpolated along the eye)."""
    if eye.full_reach:  # most eyes: nothing ends a band, so no per-pixel lookup on the hot path
        return ops.f(UPPER_LID_BAND[0] * eye.width), ops.f(LOWER_LID_BAND[0] * eye.width), ops.f(0.0)
    cols = eye.reach.shape[1]
    past, scale = reach_columns(cols)
    x = ops.mul(ops.add(u, ops.f(past)), ops.f(scale))
    zero = ops.mul(u, ops.f(0.0))
    up, low, cut = (ops.sample(win, eye.reach, x, ops.add(zero, ops.f(float(row))))[1] for row in range(3))
    return ops.mul(up, ops.f(UPPER_LID_BAND[0] * eye.width)), ops.mul(low, ops.f(LOWER_LID_BAND[0] * eye.width)), cut


def side_fade(ops: Ops, u: Tensor) -> Tensor:
    """1 over the eye, fading to 0 a little beyond its corners."""
    past, ramp = EYE_SIDE_FADE
    return ops.clip01(ops.mul(ops.sub(ops.f(0.5 + past), ops.abs(ops.sub(u, ops.f(0.5)))), ops.f(1.0 / ramp)))
