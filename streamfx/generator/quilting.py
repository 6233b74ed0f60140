"""Textured background behind the head: exemplar-based filling by image quilting.

The plate's smooth fill (:func:`streamfx.generator.head.background_plate`: Telea's inpainting,
blurred, with the wall's grain) is right for a plain wall, a studio backdrop or a gradient, but
where the head moves off foliage, a waterfall, a curtain or a landscape it shows as a flat,
blurred slab. There the background is continued with the background's own texture instead:

* :func:`texture` — how textured a picture is around each pixel: the local RMS of its
  band-pass at the scales the quilting copies (``QUILT_BAND`` × the inter-ocular distance).
  Film grain and a soft shadow stay low. The plate quilts only where the background beside the
  hole is textured nearly all round (:func:`streamfx.generator.head.textured`): on a plain
  wall, a studio backdrop or a gradient, copied patches' slightly different brightness shows
  as blotches, and the smooth fill, which continues the wall's gradient, is the right one.
* :func:`quilt` — onion-peel block quilting (Efros & Freeman, "Image quilting for texture
  synthesis and transfer", SIGGRAPH 2001; the fill order of Criminisi, Pérez & Toyama, IEEE
  TIP 2004) at a low resolution (the eyes ``QUILT_SCALE`` px apart): the hole's cells, nearest
  the known background first, each take the block of nearby background whose sum of squared
  differences over the pixels already there is within ``QUILT_TOLERANCE`` of the best (one
  drawn at random, seeded: the plate is the same every time); a neighbour's offset continued
  (one piece copied without a seam: shift-map's smoothness, He & Sun, "Statistics of patch
  offsets for image completion", ECCV 2012) wins unless it matches ``QUILT_COHERENCE`` × worse;
  each block joins the ones before along least-error paths through the overlap. The blocks'
  offsets then copy *full-resolution* pixels, so the texture is as sharp as the background's.

Sources are the background only (outside the hole), within ``QUILT_REACH`` of the block, and
never the most detailed tenth of it (text, a logo, a frame's edge: copied, they read as a
duplicate, not as background).
"""

from __future__ import annotations

import cv2
import numpy as np

from streamfx.generator.constants import (
    QUILT_BAND,
    QUILT_COHERENCE,
    QUILT_OVERLAP,
    QUILT_REACH,
    QUILT_SALIENT,
    QUILT_SCALE,
    QUILT_SPREAD,
    QUILT_STEP,
    QUILT_TOLERANCE,
)


def texture(image: np.ndarray, io: float) -> np.ndarray:
    """H×W float32: how textured ``image`` (H×W×3) is around each pixel, grey levels — the local
    RMS (over ``QUILT_SPREAD`` × ``io``) of its band-pass between Gaussian blurs of
    ``QUILT_BAND`` × ``io``: the scales the quilting copies (film grain lies below the band, a
    soft shadow or a lit gradient above it)."""
    g = cv2.cvtColor(np.ascontiguousarray(image[..., :3]).astype(np.float32), cv2.COLOR_RGB2GRAY)
    band = cv2.GaussianBlur(g, (0, 0), QUILT_BAND[0] * io) - cv2.GaussianBlur(g, (0, 0), QUILT_BAND[1] * io)
    return np.sqrt(np.maximum(cv2.GaussianBlur(band * band, (0, 0), QUILT_SPREAD * io), 0.0))


def _cut_rows(err: np.ndarray) -> list[int]:
    """For a band (rows × cols, row 0 outermost) of squared differences between a block and
    what is there, the first row the block takes in each column: the path of least summed
    difference that moves at most one row per column (dynamic programming, Efros & Freeman).
    A few rows by a dozen columns: plain Python is faster here than NumPy's per-call cost."""
    e = err.T.tolist()  # per column, its rows
    r = len(e[0])
    cost = list(e[0])
    back: list[list[int]] = []
    for col in e[1:]:
        step = []
        new = []
        for i in range(r):
            k = i
            if i > 0 and cost[i - 1] < cost[k]:
                k = i - 1
            if i + 1 < r and cost[i + 1] < cost[k]:
                k = i + 1
            step.append(k)
            new.append(cost[k] + col[i])
        back.append(step)
        cost = new
    row = min(range(r), key=cost.__getitem__)
    out = [row]
    for step in reversed(back):
        row = step[row]
        out.append(row)
    return out[::-1]


def _cut_mask(err: np.ndarray, have: np.ndarray, over: int) -> np.ndarray:
    """B×B bool: where a new block's pixels are taken — all but, on each side where something
    is already there, the part beyond the least-error path through that side's overlap."""
    size = err.shape[0]
    take = np.ones((size, size), bool)
    idx = np.arange(size)[:, None]
    for transpose in (False, True):
        for flip in (False, True):
            e, h = (err.T, have.T) if transpose else (err, have)
            if flip:
                e, h = e[::-1], h[::-1]
            band = h[:over + 1]
            if not band.any():
                continue
            m = idx >= np.asarray(_cut_rows(np.where(band, e[:over + 1], 0.0)))[None, :]
            if flip:
                m = m[::-1]
            take &= m.T if transpose else m
    return take


def quilt(image: np.ndarray, hole: np.ndarray, target: np.ndarray, io: float, *,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """The background quilted into ``target`` (H×W bool, within ``hole``: the pixels to fill;
    ``hole`` H×W bool: everything that is not background) of ``image`` (H×W×C uint8, C ≥ 3;
    colour only). Returns (H×W×3 float32 image with the fill, H×W bool where it was filled),
    or None when the background offers no block to copy (a portrait that is all person)."""
    h, w = hole.shape
    s = min(1.0, QUILT_SCALE / max(io, 1e-6))
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    step, over = QUILT_STEP, QUILT_OVERLAP
    size = step + 2 * over
    if sw < size or sh < size:
        return None
    colour = np.ascontiguousarray(image[..., :3])
    lo = cv2.resize(colour, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    hole_lo = cv2.resize(hole.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0
    todo = (cv2.resize(target.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0) & hole_lo
    known = ~hole_lo
    # a block's top-left corner is a source where the whole block is background …
    source = cv2.erode(known.astype(np.uint8), np.ones((size, size), np.uint8), anchor=(0, 0),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)[: sh - size + 1, : sw - size + 1] > 0
    reach = int(round(QUILT_REACH * QUILT_SCALE))
    near = cv2.dilate(hole_lo.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8))
    pool = source & (near[: sh - size + 1, : sw - size + 1] > 0)
    if pool.sum() < 4:
        return None
    # … and not among the most detailed tenth near the hole (text, a logo, a frame's edge)
    detail = lo - cv2.GaussianBlur(lo, (0, 0), 1.5)
    energy = cv2.boxFilter((detail * detail).sum(axis=2), -1, (size, size), anchor=(0, 0),
                           borderType=cv2.BORDER_REPLICATE)[: sh - size + 1, : sw - size + 1]
    # (a block one pixel off a detailed one is out too: copied at full resolution, its edge may
    # take a sliver of what made that one detailed)
    source &= cv2.dilate(energy, np.ones((3, 3), np.uint8)) <= np.quantile(energy[pool], QUILT_SALIENT)
    lo2 = lo * lo
    have = known.copy()
    label = np.full((sh, sw), -1, np.int32)
    depth = cv2.distanceTransform(hole_lo.astype(np.uint8), cv2.DIST_L2, 3)
    cells = []
    for y in range(0, sh, step):
        for x in range(0, sw, step):
            t = todo[y:y + step, x:x + step]
            if t.any():
                cells.append((float(depth[y:y + step, x:x + step][t].min()), y, x))
    cells.sort()  # onion peel: the cells nearest the known background first
    rng = np.random.default_rng(seed)
    offsets: list[tuple[int, int]] = []
    offset_at: dict[tuple[int, int], tuple[int, int]] = {}
    for _, y, x in cells:
        y0, x0 = min(max(y - over, 0), sh - size), min(max(x - over, 0), sw - size)
        here = lo[y0:y0 + size, x0:x0 + size]
        there = have[y0:y0 + size, x0:x0 + size]
        ya, yb = max(0, y0 - reach), min(source.shape[0], y0 + reach + 1)
        xa, xb = max(0, x0 - reach), min(source.shape[1], x0 + reach + 1)
        allowed = source[ya:yb, xa:xb]
        if not allowed.any():
            continue
        mask = there.astype(np.float32)
        if mask.sum() < 4:  # nothing to match yet: any nearby background
            k = np.argwhere(allowed)[rng.integers(int(allowed.sum()))]
            sy, sx = ya + int(k[0]), xa + int(k[1])
        else:
            # Σ m·(I − T)² = Σ m·I² − 2 Σ m·I·T + Σ m·T²: two plain correlations are faster than
            # OpenCV's masked difference (the sources' I² never changes: they are background)
            m3 = cv2.merge([mask] * 3)
            ssd = (cv2.matchTemplate(lo2[ya:yb + size - 1, xa:xb + size - 1], m3, cv2.TM_CCORR)
                   - 2.0 * cv2.matchTemplate(lo[ya:yb + size - 1, xa:xb + size - 1], here * m3, cv2.TM_CCORR)
                   + float((here * here * m3).sum()))
            ssd = np.where(allowed & np.isfinite(ssd), ssd, np.inf)
            best = float(ssd.min())
            if not np.isfinite(best):
                continue
            slack = 1e-3 * float(mask.sum())  # (a perfect match's float noise)
            cand = np.argwhere(ssd <= best + abs(best) * (QUILT_TOLERANCE - 1.0) + slack)
            k = cand[rng.integers(len(cand))]
            sy, sx = ya + int(k[0]), xa + int(k[1])
            follow: tuple[float, int, int] | None = None
            for ny, nx in ((y - step, x), (y + step, x), (y, x - step), (y, x + step)):
                off = offset_at.get((ny, nx))
                if off is None:
                    continue
                cy, cx = y0 + off[0], x0 + off[1]
                if 0 <= cy < source.shape[0] and 0 <= cx < source.shape[1] and source[cy, cx]:
                    e = float((((lo[cy:cy + size, cx:cx + size] - here) ** 2).sum(axis=2) * mask).sum())
                    if follow is None or e < follow[0]:
                        follow = (e, cy, cx)
            if follow is not None and follow[0] <= best * QUILT_COHERENCE + slack:
                sy, sx = follow[1], follow[2]
        block = lo[sy:sy + size, sx:sx + size]
        take = (_cut_mask(((block - here) ** 2).sum(axis=2), there, over) | ~there) & hole_lo[y0:y0 + size, x0:x0 + size]
        here[take] = block[take]
        there |= take
        label[y0:y0 + size, x0:x0 + size][take] = len(offsets)
        offsets.append((sy - y0, sx - x0))
        offset_at[(y, x)] = offsets[-1]
    if not offsets:
        return None
    # full resolution: each pixel copies from its block's offset (the label map, upsampled) …
    shift = np.asarray(offsets, np.float32) / s
    lab = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
    done = lab >= 0
    yy, xx = np.nonzero(done)
    d = shift[lab[done]]
    out = colour.astype(np.float32)
    out[yy, xx] = colour[np.clip(np.round(yy + d[:, 0]).astype(np.int64), 0, h - 1),
                         np.clip(np.round(xx + d[:, 1]).astype(np.int64), 0, w - 1)]
    # … and the seams between blocks are softened over about one low-resolution pixel
    seam = np.zeros((sh, sw), np.float32)
    seam[:, 1:] = np.maximum(seam[:, 1:], label[:, 1:] != label[:, :-1])
    seam[1:, :] = np.maximum(seam[1:, :], label[1:, :] != label[:-1, :])
    soft = 0.5 / s
    k = np.clip(2.0 * cv2.GaussianBlur(cv2.resize(seam, (w, h), interpolation=cv2.INTER_LINEAR), (0, 0), soft), 0, 1)
    out += k[..., None] * (cv2.GaussianBlur(out, (0, 0), soft) - out)
    return out, done
