"""Loose hair strands beyond the person matte, found once per portrait (NumPy/OpenCV).

A segmenter's matte (mediapipe's selfie segmentation) stops where hair is dense; flyaway
strands and curls beyond it stayed in the background plate, so a moving head left them
hanging in the air, with a hard edge where the filled-in background began. Here they join the
head layer's matte, with a coverage read from their contrast, and the plate is filled behind
them like the rest of the head.

The method is a morphological line detector: a black-hat (closing − image; a top-hat for light
hair on a dark background) as wide as ``STRAND_WIDTH`` responds to lines thinner than that and
not to the hair mass's edge. Responses count as strands with hysteresis over the background's
own noise (``STRAND_NOISE``, ``STRAND_SHARE``), only within ``STRAND_REACH`` of the matte, only
where they join the hair (pieces closer than ``STRAND_GAP`` linked) and are thin (``STRAND_THIN``:
a picture frame's edge the hair cuts off is thicker), only where they end before the search
band does (a background line runs on), and only where the background beyond is plain
(``STRAND_BUSY``): strands cannot be told from foliage or text, and there they stay behind as
before. Alpha is the response over the hair–background contrast: a pixel that is a share α of
hair over background differs from the background by α times that contrast (alpha matting's
compositing equation, Porter & Duff 1984).
"""

from __future__ import annotations

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.constants import (
    STRAND_BUSY,
    STRAND_CONTRAST,
    STRAND_GAP,
    STRAND_LENGTH,
    STRAND_NOISE,
    STRAND_REACH,
    STRAND_SHARE,
    STRAND_THIN,
    STRAND_THIN_SHARE,
    STRAND_WIDTH,
)
from streamfx.generator.imaging import disc, odd, robust_sigma


def strand_matte(image: np.ndarray, lm: np.ndarray, person: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Coverage (H×W uint8, 0–255) of the hair's loose strands outside ``cover`` (H×W uint8,
    the head layer's matte from the person matte), 0 everywhere else.

    ``image`` is the portrait (H×W×C uint8, RGB first), ``lm`` its landmarks (pixels),
    ``person`` its person matte (H×W uint8). All zeros where hair and background are too alike
    (``STRAND_CONTRAST``) or the background beyond the head is busy."""
    h, w = cover.shape
    out = np.zeros((h, w), np.uint8)
    io = L.interocular(lm)
    inside = cover > 0
    if inside.all() or not inside.any():
        return out
    dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 3)
    reach = STRAND_REACH * io
    band = ~inside & (dist <= reach)
    beyond = (dist > reach) & (dist <= 2.0 * reach)
    # the hair: the confident matte's outer rim, where the person matte is sure
    core = (cover > 127).astype(np.uint8)
    rim = (core > 0) & (cv2.distanceTransform(core, cv2.DIST_L2, 3) < 2.0 * STRAND_GAP * io) & (person > 127)
    if not band.any() or not rim.any():
        return out
    gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    hair, background = float(np.median(gray[rim])), float(np.median(gray[band]))
    contrast = abs(background - hair)
    if contrast < STRAND_CONTRAST:
        return out
    op = cv2.MORPH_BLACKHAT if hair < background else cv2.MORPH_TOPHAT
    response = cv2.morphologyEx(gray, op, disc(odd(STRAND_WIDTH * io, 2))).astype(np.float32)
    around = response[band]
    sigma = float(robust_sigma(around)) + 0.5
    weak = response > max(STRAND_NOISE[0] * sigma, STRAND_SHARE[0] * contrast)
    strong = response > max(STRAND_NOISE[1] * sigma, STRAND_SHARE[1] * contrast)
    # lines, not specks: grain's darkest pixels pass the thresholds too, one or two at a time,
    # where a strand's pieces (broken by less than STRAND_GAP) add up to a line
    weak &= band | beyond
    gap = disc(odd(STRAND_GAP * io))
    n, labels = cv2.connectedComponents(cv2.dilate(weak.astype(np.uint8), gap), connectivity=8)
    size = np.bincount(labels[weak], minlength=n)
    long = size >= max(STRAND_LENGTH * io, 3.0)
    long[0] = False
    weak &= long[labels]
    # plain background: within an inter-ocular window, little of the ring beyond responds
    win = odd(io)
    ring = cv2.boxFilter(beyond.astype(np.float32), -1, (win, win), normalize=False)
    busy = cv2.boxFilter((weak & beyond).astype(np.float32), -1, (win, win), normalize=False)
    plain = (ring > 0.05 * win * win) & (busy <= STRAND_BUSY * ring)
    found = weak & band & plain
    if not found.any():
        return out
    # one strand: its pieces linked across small gaps; it joins the hair, has a strong pixel,
    # and ends before the band's outer edge
    linked = cv2.dilate(found.astype(np.uint8), gap)
    n, labels = cv2.connectedComponents(linked, connectivity=8)
    edge = inside & (cv2.dilate(band.astype(np.uint8), disc(3)) > 0)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[edge])] = True
    has_strong = np.zeros(n, bool)
    has_strong[np.unique(labels[strong & found])] = True
    runs_on = np.zeros(n, bool)
    runs_on[np.unique(labels[band & (dist > reach - 1.5)])] = True
    # thin: most of its response is still there through a filter STRAND_THIN wide (at least
    # 3 px: lines at most 2 px wide); the edge of a picture frame cut off by the hair is not
    thin = cv2.morphologyEx(gray, op, disc(odd(STRAND_THIN * io))).astype(np.float32)
    share = np.bincount(labels[found], thin[found], n) / np.maximum(np.bincount(labels[found], response[found], n), 1e-6)
    keep &= has_strong & ~runs_on & (share >= STRAND_THIN_SHARE)
    keep[0] = False
    strands = keep[labels] & found
    if not strands.any():
        return out
    near = (cv2.dilate(strands.astype(np.uint8), disc(3)) > 0) & band
    out[near] = np.round(np.clip(response[near] / contrast, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out
