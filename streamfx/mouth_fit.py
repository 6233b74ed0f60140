"""Seat a portrait's closed mouth on the line where its lips meet.

mediapipe's mesh places the mouth from the whole face's shape, and under a moustache it can
put the lips on the hair: on a bearded portrait the inner-lip line lay on the moustache's
lower edge, 0.28 of the mouth's width above where the lips really meet, and the mouth then
opened in the moustache while the real lips stayed shut below it.

Where a portrait's lips are closed, they meet on a dark line (the seam: the shadow between
them), darker than the lip above and the lip below it. :func:`seat_mouth` reads the image's
brightness across the mouth's middle half: if mediapipe's inner-lip line lies on an edge
(clearly brighter than one side: a moustache's lower edge) with no dark line within a pixel
or two, and a clear dark line runs close by, the lips' landmarks are moved onto it. Any
other mouth keeps mediapipe's landmarks exactly: one whose line lies on a dark line, or on
a flat stretch (a faint painted mouth), and an open one.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamfx import landmarks as L

SEAM_SEARCH = (-0.15, 0.35)
"""Where the seam is looked for: from this far above to this far below mediapipe's inner-lip
line, × the mouth's inner width (the inner corners' distance)."""
SEAM_SCALE = 0.08
"""A seam is darker than the brightness this far (× the width) above *and* below it."""
SEAM_DEPTH = 12.0
"""… by at least this many grey levels (0–255) to be taken."""
SEAM_ON = 0.06
"""mediapipe's line counts as on the seam when a dark line half ``SEAM_DEPTH`` deep lies this
close (× the width); it is moved only when it lies on an edge instead (brighter than one side
by ``SEAM_DEPTH``)."""
CLOSED_GAP = 0.03
"""Only a mouth whose inner-lip gap is below this × the inter-ocular distance is seated
(an open mouth's inner lips lie on its opening's edges, not on a seam)."""
_SAMPLES = 24  # columns across the middle half of the mouth
_STEP = 0.5  # px between the profile's rows


def _mouth_axes(lm: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """The mouth's frame: origin (inner corner 78), width (to the other inner corner), the
    unit axis along it and the one down the face."""
    a, b = lm[L.INNER_CORNERS[0], :2].astype(np.float64), lm[L.INNER_CORNERS[1], :2].astype(np.float64)
    width = float(np.linalg.norm(b - a))
    ax = (b - a) / max(width, 1e-6)
    return a, width, ax, np.array([-ax[1], ax[0]])


def seam_profile(rgb: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, depth): offsets down from the inner-lip line (× the mouth's width) and how
    much darker the image is there than ``SEAM_SCALE`` above and below (grey levels; < 0
    where it is brighter than either side), averaged over the mouth's middle half."""
    a, width, ax, down = _mouth_axes(lm)
    if width < 4.0:
        return np.zeros(1), np.zeros(1)
    us = np.linspace(0.25, 0.75, _SAMPLES)

    def height(idx: list[int]) -> np.ndarray:
        p = lm[idx, :2] - a
        u, v = p @ ax / width, p @ down
        order = np.argsort(u)
        return np.interp(us, u[order], v[order])

    line = 0.5 * (height(L.INNER_UPPER) + height(L.INNER_LOWER))
    lo, hi = SEAM_SEARCH
    reach = SEAM_SCALE * width
    offsets = np.arange(lo * width - reach, hi * width + reach + _STEP, _STEP)
    v = line[None, :] + offsets[:, None]
    x = a[0] + us[None, :] * width * ax[0] + v * down[0]
    y = a[1] + us[None, :] * width * ax[1] + v * down[1]
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    profile = cv2.remap(grey, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE).mean(axis=1)
    d = max(1, int(round(reach / _STEP)))
    depth = np.minimum(profile[:-2 * d], profile[2 * d:]) - profile[d:-d]
    return offsets[d:-d] / width, depth


def seat_mouth(rgb: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, float]:
    """``lm`` (478×3 pixels) with a closed mouth's lips moved onto their seam, and the shift
    (× the mouth's width, + down the face); ``lm`` itself and 0.0 where nothing moves."""
    if L.lip_gap(lm) >= CLOSED_GAP:
        return lm, 0.0
    offsets, depth = seam_profile(rgb, lm)
    if len(depth) < 3:
        return lm, 0.0
    near = np.abs(offsets) <= SEAM_ON
    if depth[near].max() >= 0.5 * SEAM_DEPTH or depth[np.argmin(np.abs(offsets))] > -SEAM_DEPTH:
        return lm, 0.0  # the lips meet on mediapipe's line, or it lies on no clear edge either
    # the nearest clear dark line: a local maximum of the depth, deep enough
    peaks = np.flatnonzero((depth[1:-1] >= depth[:-2]) & (depth[1:-1] > depth[2:]) & (depth[1:-1] >= SEAM_DEPTH)) + 1
    if len(peaks) == 0:
        return lm, 0.0
    k = peaks[np.argmin(np.abs(offsets[peaks]))]
    _, width, _, down = _mouth_axes(lm)
    out = lm.copy()
    lips = sorted(set(L.MOUTH))
    out[lips, :2] += (offsets[k] * width * down).astype(np.float32)
    return out, float(offsets[k])
