"""The head layer: what moves as one piece, and the background plate behind it.

One smooth field that fades from "moves with the head" to "background stays still" stretches
whatever lies in the fade — hair, neck, background. Instead the portrait is two layers, built
here once per source (NumPy, in ``prepare_source``):

* the **matte** — the head layer's coverage (0–1): the parts of the person matte joined to
  the face (:func:`attached`), grown a little past hair's fringe and lightly blurred, the
  loose strands beyond it (:mod:`streamfx.generator.strands`), and an
  ellipse around the face oval that is always in (statues and paintings the person matte may
  miss); without a person matte, the head ellipse. The body is in it too, but the head's
  motion (:func:`~streamfx.generator.geometry.head_weight`) fades out down the neck, so the
  body stays still and the neck bridges head and body;
* the **plate** — the portrait with the background behind the moving head (wherever its
  matte is above 0) filled in by OpenCV's inpainting (``cv2.inpaint``, Telea) at a reduced
  resolution, from the background's colours alone (not hair, not the body), and smoothed
  inside so the inpainting's fronts leave no seam, with the background's own grain added
  (:func:`matched_grain`): it reads as out-of-focus background, not a pasted smooth patch.
  Where the background beside the head is textured nearly all round (foliage, water, a crowd),
  a smooth fill reads as a slab: there the background's own texture is quilted in instead
  (:func:`textured`, :mod:`streamfx.generator.quilting`);
* the **layer** — the portrait premultiplied against the plate (:func:`premultiply`: the
  feather un-mixed from the filled background), then its transparency (255 − coverage), with
  ``colour + round(t · plate / 255) == portrait`` exactly. Per frame the warp samples it at
  the backward map (``ops.remap_layer``) and puts it over the unwarped plate
  (``ops.over_plate``) in whole numbers, so an identity map gives back the portrait to the
  bit, on every backend, and a moved head carries its soft edge along, leaving no ghost.

(Filling only the matte's opaque core and keeping the portrait under its feather is exact at
rest too, but a moved head then leaves its feather behind: a dark ghost of the hair's outline.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.constants import (
    EDGE_CONTACT,
    EDGE_MARGIN,
    FACE_LAYER_SHAPE,
    GRAIN_COARSEST,
    GRAIN_FLAT,
    GRAIN_RING,
    GRAIN_SCALE,
    GRAIN_WINDOW,
    LAYER_EDGE,
    LAYER_FRINGE,
    LAYER_GROW,
    MATTE_EDGE,
    NECK_LONGEST,
    PLATE_RADIUS,
    PLATE_REACH,
    PLATE_SCALE,
    PLATE_SMOOTH,
    QUILT_PLAIN,
    QUILT_RING,
    QUILT_RING_SHARE,
)
from streamfx.generator.geometry import falloff_mask, head_weight, smoothstep
from streamfx.generator.imaging import disc
from streamfx.generator.quilting import quilt, texture
from streamfx.generator.strands import strand_matte


@dataclass(frozen=True)
class HeadLayer:
    """The head layer of one portrait (see the module docstring)."""

    layer: np.ndarray
    """H×W×(C+1) uint8: the portrait premultiplied against the plate, then the transparency."""
    plate: np.ndarray
    """H×W×C uint8: the portrait with the background behind the moving head filled in."""
    moving: np.ndarray
    """H×W bool: where the head layer has something (coverage > 0) that the head's motion moves
    (the plate is filled there)."""


@dataclass(frozen=True)
class EdgeContact:
    """Where the head layer reaches each edge of the picture — left, top, right, bottom: a bool
    per row (left, right) or column (top, bottom) along it (``EDGE_CONTACT``)."""

    held: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """Long stretches: what lies past the frame is more of the head (hair cut by it, the body)."""
    grazing: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """Short stretches: a crown or a curl just touching the frame."""


def edge_contact(cover: np.ndarray, io: float) -> EdgeContact:
    """Where the head layer's coverage (H×W uint8) reaches the picture's edges, held or grazing
    (``EDGE_CONTACT``; ``io``: the inter-ocular distance, pixels)."""
    band_io, least, longest, _ = EDGE_CONTACT
    band = max(2, int(round(band_io * io)))
    solid = cover > least * 255.0
    edges = (solid[:, :band].any(axis=1), solid[:band].any(axis=0),
             solid[:, -band:].any(axis=1), solid[-band:].any(axis=0))
    held, grazing = [], []
    for touching in edges:
        # runs of contact: their starts and ends where the padded profile steps
        steps = np.flatnonzero(np.diff(np.pad(touching.astype(np.int8), 1)))
        long_run = np.zeros(len(touching), bool)
        for start, end in zip(steps[0::2], steps[1::2], strict=True):
            long_run[start:end] = end - start >= longest * io
        held.append(long_run)
        grazing.append(touching & ~long_run)
    return EdgeContact(held=(held[0], held[1], held[2], held[3]), grazing=(grazing[0], grazing[1], grazing[2], grazing[3]))


def spread_along(touching: np.ndarray, reach: float) -> np.ndarray:
    """A profile along an edge (float64, as long as ``touching``, a bool per pixel along it): 1
    where ``touching``, falling smoothly to 0 at ``reach`` pixels from the nearest such pixel."""
    if not touching.any():
        return np.zeros(len(touching))
    idx = np.arange(len(touching), dtype=np.float64)
    before = idx - np.maximum.accumulate(np.where(touching, idx, -np.inf))
    after = np.minimum.accumulate(np.where(touching, idx, np.inf)[::-1])[::-1] - idx
    return 1.0 - smoothstep(0.0, max(reach, 1.0), np.minimum(before, after))


def grazing_release(contact: EdgeContact, cover: np.ndarray, io: float) -> np.ndarray | None:
    """H×W float32, the share of the head layer's coverage and of the plate's fill kept near an
    edge the layer grazes (None: it grazes none): 0 on the picture's outermost pixels there; over
    ``EDGE_CONTACT``'s fade from the edge (and along it) the matte's soft margin fades out too,
    while what its coverage calls hair stays whole (``EDGE_MARGIN``).

    The warp samples the layer past the picture's edge as its outermost pixels repeated
    (``BORDER_REPLICATE``, in every engine): left in the layer, a crown just touching the frame
    drew its hair up in streaks as the head moved down; out of it (and the plate the portrait
    there, so the picture at rest is unchanged) what comes in past the edge is clear. And the
    matte's soft margin of background around the crown, carried down with the head, showed as a
    pale block cut square by the frame: near the edge it stays with the plate, which is the
    portrait's own background there."""
    if not any(g.any() for g in contact.grazing):
        return None
    h, w = cover.shape
    fade = max(EDGE_CONTACT[3] * io, 1.0)
    ys, xs = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    near = np.zeros((h, w), np.float32)  # 1 on a grazed edge, 0 from the fade on
    rim = np.zeros((h, w), bool)
    left, top, right, bottom = contact.grazing
    # each edge: its contact profile (as a column for the sides, a row for top and bottom), the
    # distance from it, and its outermost pixels
    for touching, distance, outer in ((left[:, None], xs, (slice(None), 0)), (top[None, :], ys, (0, slice(None))),
                                      (right[:, None], w - 1 - xs, (slice(None), w - 1)),
                                      (bottom[None, :], h - 1 - ys, (h - 1, slice(None)))):
        if not touching.any():
            continue
        along = spread_along(touching.ravel(), fade).astype(np.float32).reshape(touching.shape)
        near = np.maximum(near, along * (1.0 - smoothstep(0.0, fade, distance)).astype(np.float32))
        rim[outer] |= touching.ravel()
    hair = smoothstep(EDGE_MARGIN[0] * 255.0, EDGE_MARGIN[1] * 255.0, cover.astype(np.float32)).astype(np.float32)
    release = 1.0 - near * (1.0 - hair)
    release[rim] = 0.0
    return release


def pixel_points(h: int, w: int, step: int = 1) -> np.ndarray:
    """(x, y) of every ``step``-th pixel, row by row, float32 (N×2)."""
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def coverage(lm: np.ndarray, shape: tuple[int, int], person: np.ndarray | None,
             pts: np.ndarray | None = None, image: np.ndarray | None = None) -> np.ndarray:
    """The head layer's matte (H×W uint8): the person matte's parts joined to the face, grown
    by ``LAYER_GROW`` and blurred by ``LAYER_EDGE``, and an ellipse around the face oval
    (``FACE_LAYER_SHAPE``); without a person matte, the head ellipse (``HEAD_MASK_SHAPE``).
    Given the portrait (``image``, H×W×C uint8), the hair's loose strands beyond the person
    matte too (:func:`~streamfx.generator.strands.strand_matte`)."""
    h, w = shape
    pts = pixel_points(h, w) if pts is None else pts  # every pixel, row by row
    if person is None:
        cover = falloff_mask(lm, pts).reshape(h, w)
    else:
        face = falloff_mask(lm, pts, *FACE_LAYER_SHAPE).reshape(h, w)
        own = attached(person, face > 0.5, MATTE_EDGE * L.interocular(lm))
        grow = 2 * int(round(LAYER_GROW * L.interocular(lm))) + 1
        if grow > 1:
            own = cv2.dilate(own, disc(grow))
        soft = cv2.GaussianBlur(own.astype(np.float32) / 255.0, (0, 0), max(LAYER_EDGE * L.interocular(lm), 0.5))
        cover = np.maximum(soft, face)
    matte = np.round(np.clip(cover, 0.0, 1.0) * 255.0).astype(np.uint8)
    if image is not None and person is not None:
        matte = np.maximum(matte, strand_matte(image, lm, person, matte))
    return matte


def attached(person: np.ndarray, face: np.ndarray, reach: float) -> np.ndarray:
    """The person matte (H×W uint8) without what does not belong to ``face`` (H×W bool): the
    parts (> 127) that touch it, with their soft edge out to ``reach`` pixels, and nothing else.

    A segmenter also marks things beside the head (a bottle on a shelf, a second person), and
    half-believes stretches of background (values that never reach 128: a waterfall's spray,
    grass beside a second portrait); they are not this head and must neither move with it nor
    be filled in behind it."""
    count, labels = cv2.connectedComponents((person > 127).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[face])] = True
    keep[0] = False
    k = 2 * int(round(reach)) + 1
    near = cv2.dilate(keep[labels].astype(np.uint8), disc(k)) > 0
    return np.where(near, person, 0).astype(person.dtype)


def background_plate(image: np.ndarray, hole: np.ndarray, fill: np.ndarray, io: float) -> np.ndarray:
    """The portrait with background inpainted over ``hole`` (H×W bool: everything the inpainting
    must not take colours from), in the share ``fill`` (H×W float 0–1 or bool, 0 outside the
    hole) — ``cv2.inpaint`` (Telea) at the resolution where the eyes are ``PLATE_SCALE`` pixels
    apart, smoothed inside by ``PLATE_SMOOTH``, upsampled. Colour and alpha are filled apart
    (cv2.inpaint takes 1 or 3 channels)."""
    h, w = hole.shape
    plate = image.copy()
    if not fill.any():
        return plate
    share = fill.astype(np.float32)[..., None]
    s = min(1.0, PLATE_SCALE / max(io, 1e-6))
    sw, sh = max(int(round(w * s)), 1), max(int(round(h * s)), 1)
    mask = (cv2.resize(hole.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8) * 255
    for c0, c1 in ((0, 3), (3, image.shape[2])):
        if c1 <= c0:
            continue
        small = cv2.resize(np.ascontiguousarray(image[..., c0:c1]), (sw, sh), interpolation=cv2.INTER_AREA)
        filled = cv2.inpaint(small, mask, PLATE_RADIUS, cv2.INPAINT_TELEA)
        # Telea's fronts from either side meet in a seam (a wall lit from one side): smoothed
        # over inside, the fill reads as out-of-focus background, and it keeps Telea's own
        # values at the hole's edge, which continue the background there without a step
        sigma = PLATE_SMOOTH * s * io
        smooth = cv2.GaussianBlur(filled, (0, 0), sigma).astype(np.float32)
        k = np.clip(cv2.distanceTransform(mask, cv2.DIST_L2, 3) / (2.0 * sigma), 0.0, 1.0)
        k = k.reshape(sh, sw, *([1] if filled.ndim == 3 else []))
        filled = np.round(filled + k * (smooth - filled)).astype(image.dtype)
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, c1 - c0)
        if c0 == 0:
            filled = textured(image, hole, fill, io,
                              filled + matched_grain(image[..., :3], hole, io))
            filled = np.clip(np.round(filled), 0, 255).astype(image.dtype)
        mixed = image[..., c0:c1] + share * (filled.astype(np.float32) - image[..., c0:c1])
        plate[..., c0:c1] = np.round(mixed).astype(image.dtype)
    return plate


def textured(image: np.ndarray, hole: np.ndarray, fill: np.ndarray, io: float, smooth: np.ndarray) -> np.ndarray:
    """``smooth`` (the smooth fill with grain, H×W×3 float32), or, where the background beside
    the hole is textured nearly all round (foliage, water, a crowd, a bookshelf), the
    background's own texture quilted in (:mod:`streamfx.generator.quilting`)."""
    near = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (near > 0) & (near <= QUILT_RING * io)
    if not ring.any() or np.quantile(texture(image, io)[ring], QUILT_RING_SHARE) < QUILT_PLAIN:
        return smooth  # a plain wall, a backdrop, a gradient: the smooth fill is the right one
    quilted = quilt(image, hole, np.asarray(fill) > 0, io)
    if quilted is None:
        return smooth
    colour, done = quilted
    return np.where(done[..., None], colour, smooth)


def matched_grain(image: np.ndarray, hole: np.ndarray, io: float) -> np.ndarray:
    """Noise (H×W×3 float32) with the colour statistics of the background's own detail around
    ``hole`` (H×W bool), octave by octave, seeded, so the plate is the same every time.

    The detail is split into octaves, the levels of a Laplacian pyramid (the finest holds what
    a blur of about ``GRAIN_SCALE`` px takes away, each next one an octave coarser, up to
    ``GRAIN_COARSEST`` × the inter-ocular distance). In each, the 3×3 colour covariance is
    measured over the background within ``GRAIN_RING`` × that distance of the hole, where the
    octave's local energy (over windows ``GRAIN_WINDOW`` pixels of its level wide) is at most
    its ``GRAIN_FLAT`` quantile: the flattest patches, so what is synthesised is what the
    background has everywhere — a plain wall's film grain, not the edge of a window frame
    beside it (noise estimation from flat patches: Liu, Tanaka & Okutomi, IEEE TIP 2013).
    White noise, band-passed the same way and coloured by each covariance's Cholesky factor,
    matches those second-order statistics (one pass of Heeger & Bergen, "Pyramid-based texture
    analysis/synthesis", SIGGRAPH 1995: no histogram matching, no orientation — a painting's
    strokes come out as a mottle in their colours, not as strokes).

    A smooth fill beside grainy background reads as a pasted patch, its edge a seam, wherever
    the head moves off it; beside a painting's brushwork (its strokes vary in colour more than
    in brightness) as a smooth blob. With the matched detail it reads as the same background."""
    h, w = hole.shape
    k = 2 * int(round(GRAIN_RING * io)) + 1
    ring = (cv2.dilate(hole.astype(np.uint8), disc(k)) > 0) & ~hole
    out = np.zeros((h, w, 3), np.float32)
    if ring.sum() < GRAIN_WINDOW ** 2:
        return out
    # octaves as a Laplacian pyramid (Burt & Adelson 1983): level n holds the detail between
    # blurs of about 2ⁿ and 2ⁿ⁺¹ pixels, and it is fast
    levels = 1
    while GRAIN_SCALE * 2.0 ** levels <= GRAIN_COARSEST * io:
        levels += 1
    # only around the hole and its ring, and as far beyond as the coarsest level's filters reach
    pad = 4 * 2 ** levels + k
    ys, xs = np.nonzero(hole | ring)
    y0, x0 = max(int(ys.min()) - pad, 0), max(int(xs.min()) - pad, 0)
    y1, x1 = min(int(ys.max()) + pad + 1, h), min(int(xs.max()) + pad + 1, w)
    img = image[y0:y1, x0:x1, :3].astype(np.float32)
    near = ring[y0:y1, x0:x1].astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(img.shape).astype(np.float32)

    def laplacian(x: np.ndarray) -> list[np.ndarray]:
        bands, g = [], x
        for _ in range(levels):
            down = cv2.pyrDown(g)
            bands.append(g - cv2.pyrUp(down, dstsize=(g.shape[1], g.shape[0])))
            g = down
        return bands

    coloured = []
    for detail, band in zip(laplacian(img), laplacian(noise), strict=True):
        at = cv2.resize(near, (detail.shape[1], detail.shape[0]), interpolation=cv2.INTER_AREA) > 0.5
        if at.sum() < GRAIN_WINDOW ** 2:  # too few of the ring's pixels at this level
            coloured.append(np.zeros_like(band))
            continue
        energy = cv2.blur((detail * detail).sum(axis=2), (GRAIN_WINDOW, GRAIN_WINDOW))[at]
        d = detail[at][energy <= np.quantile(energy, GRAIN_FLAT)]
        cov = (d.T @ d / max(len(d), 1)).astype(np.float64)
        unit = float(np.sqrt(max(float((band * band).mean()), 1e-12)))
        factor = np.linalg.cholesky(cov + 1e-6 * np.eye(3)).astype(np.float32)
        coloured.append((band / unit) @ factor.T)
    total = coloured[-1]
    for band in coloured[-2::-1]:
        total = band + cv2.pyrUp(total, dstsize=(band.shape[1], band.shape[0]))
    out[y0:y1, x0:x1] = total
    return out


def head_layer(image: np.ndarray, lm: np.ndarray, person: np.ndarray | None) -> HeadLayer:
    """The head layer and its plate for one portrait (H×W×C uint8, C = 3 or 4)."""
    h, w = image.shape[:2]
    io = L.interocular(lm)
    pts = pixel_points(h, w)
    cover = coverage(lm, (h, w), person, pts, image)
    # (with the neck's longest fade: what a large move lets follow is behind the plate too)
    moves = head_weight(lm, pts, NECK_LONGEST).reshape(h, w) > 0
    # the fringe: hair's blur fades into the background over some pixels beyond any matte; left
    # in the plate, it traced the old outline on the wall wherever the head moved off it. The
    # plate there fades from the fill to the portrait, and the layer takes the rest at the least
    # coverage (premultiply raises it as far as the colours prove: the fringe's darkness)
    fringe = LAYER_FRINGE * io
    beyond = cv2.distanceTransform((cover == 0).astype(np.uint8), cv2.DIST_L2, 3)
    ramp = np.clip(1.0 - beyond / max(fringe, 1.0), 0.0, 1.0) * moves
    cover[(ramp > 0) & (cover == 0)] = 1
    moving = (cover > 0) & moves
    # the fill takes its colours from the background beyond the matte's feather: not from hair,
    # and not from the body either (behind a neck is the wall, not the sweater below it)
    grow = 2 * int(round(PLATE_REACH * io)) + 1
    hole = cv2.dilate((cover > 0).astype(np.uint8), disc(grow)) > 0
    # where the layer only grazes the picture's edge, its margin stays with the plate
    release = grazing_release(edge_contact(cover, io), cover, io)
    if release is not None:
        ramp = ramp * release
        cover = np.round(cover * release).astype(np.uint8)
    plate = background_plate(image, hole, ramp, io)
    return HeadLayer(layer=premultiply(image, cover, plate), plate=plate, moving=moving)


def premultiply(image: np.ndarray, cover: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """The layer (H×W×(C+1) uint8): the portrait premultiplied against the plate, with the
    transparency t = 255 − coverage as a last channel, such that ``colour + round(t · plate /
    255) == image`` exactly — the matte's feather un-mixed from the filled background, so a
    moved head carries its soft edge and leaves no ghost of it behind.

    The premultiplied colour cannot be negative: where the plate is brighter than the portrait
    allows, the coverage is raised until it fits (the colours prove that much of the pixel is
    person); what rounding still leaves over (a level at most) comes off the plate, which is
    changed in place for that."""
    c = image.shape[2]
    clear = np.subtract(np.uint8(255), cover)
    # where the plate is the portrait the share always fits: OpenCV's rounded product is
    # exactly round(t · p / 255) (255 is odd: never a tie), as the per-frame composite rounds
    share = cv2.multiply(plate, cv2.merge([clear] * c), scale=1.0 / 255.0)
    colour = cv2.subtract(image, share)
    where = np.nonzero((plate != image).any(axis=2) & (clear > 0))
    src = image[where].astype(np.int32)  # N×C
    pl = plate[where].astype(np.int32)
    m = cover[where].astype(np.int32)
    # (255 − m) · plate / 255 < src + ½ on every channel, so that the rounded share fits
    need = 255 - (255 * (2 * src + 1)) // np.maximum(2 * pl, 1)
    m = np.maximum(m, np.clip(need.max(axis=1), 0, 255))
    inv = (255 - m)[:, None]
    most = np.where(inv > 0, (255 * src + 127) // np.maximum(inv, 1), 255)
    pl = np.minimum(pl, np.minimum(most, 255))
    colour[where] = (src - (inv * pl + 127) // 255).astype(np.uint8)
    clear[where] = inv[:, 0].astype(np.uint8)
    plate[where] = pl.astype(np.uint8)
    return np.ascontiguousarray(np.dstack([colour, clear]))
