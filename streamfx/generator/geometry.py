"""Per-source geometry in NumPy: the head's frame, falloff masks, TPS and similarity rows.

Everything here runs once per source portrait (in ``prepare``), never per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamfx import landmarks as L
from streamfx.generator.constants import (
    HAIR_CHIN,
    HEAD_MASK_SHAPE,
    HEAD_REACH,
)


def similarity_rows(p: np.ndarray) -> np.ndarray:
    """Rows mapping similarity parameters (a−1, b, tx, ty) to interleaved (dx, dy) at points p.

    dx = (a−1)·x − b·y + tx, dy = b·x + (a−1)·y + ty: linear in the parameters, so the
    least-squares fit is one precomputed pseudo-inverse and a matmul per frame.
    """
    n = len(p)
    rows = np.zeros((2 * n, 4))
    rows[0::2, 0], rows[0::2, 1], rows[0::2, 2] = p[:, 0], -p[:, 1], 1
    rows[1::2, 0], rows[1::2, 1], rows[1::2, 3] = p[:, 1], p[:, 0], 1
    return rows


def bounded_motion(source: np.ndarray, target: np.ndarray, limit: float) -> np.ndarray:
    """Target landmarks (N×3, or B×N×3) moved back towards ``source`` (N×3) so that none is more
    than ``limit`` pixels from its source point (x, y; z is kept).

    The head's slide goes first — the mean displacement of the rigid landmarks is taken off as
    far as needed, which keeps the expression whole; only if that is not enough is the rest
    scaled down as one. The motion field is clamped point by point as well (the warp cannot
    reach further than the region of interest was grown), but a clamped field no longer matches
    the landmarks the eyes and lips are drawn at: without this, a driver moving farther than
    the bound drew a second pair of eyes beside the warped ones.
    """
    t = np.array(target, dtype=np.float32, copy=True)
    frames = t.reshape(-1, *t.shape[-2:])
    for f in frames:
        d = f[:, :2] - source[:, :2]
        if np.sqrt((d * d).sum(-1)).max() <= limit:
            continue
        slide = d[L.RIGID].mean(axis=0)

        def reach(k: float, d: np.ndarray = d, slide: np.ndarray = slide) -> float:
            e = d - k * slide
            return float(np.sqrt((e * e).sum(-1)).max())

        lo, hi = 0.0, 1.0  # the least of the slide to take off (the reach falls as more goes)
        if reach(hi) > limit:
            lo = hi
        else:
            for _ in range(20):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if reach(mid) > limit else (lo, mid)
            lo = hi
        e = d - lo * slide
        e *= min(1.0, limit / max(reach(lo), 1e-6))
        f[:, :2] = source[:, :2] + e
    return t


def tps_kernel(r2: np.ndarray) -> np.ndarray:
    """The thin-plate spline's radial basis U(r) = r² log r, of squared distances."""
    return np.where(r2 > 0, 0.5 * r2 * np.log(np.maximum(r2, 1e-12)), 0.0)


def smoothstep(e0: float | np.ndarray, e1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class HeadFrame:
    """The face's own frame: centre of the oval, eye axis, down axis and the oval's extent."""

    centre: np.ndarray
    ax: np.ndarray
    down: np.ndarray
    half_w: float
    up_h: float
    down_h: float

    @classmethod
    def of(cls, lm: np.ndarray) -> HeadFrame:
        io = L.interocular(lm)
        ax = L.eye_axis(lm)
        down = np.array([-ax[1], ax[0]], np.float32)
        oval = lm[L.FACE_OVAL, :2]
        centre = oval.mean(axis=0)
        ou, ov = (oval - centre) @ ax, (oval - centre) @ down
        return cls(centre, ax, down, max(float(np.abs(ou).max()), io),
                   max(float(-ov.min()), io), max(float(ov.max()), io))

    def coords(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) of points: along the eyes and down the face, from the oval's centre."""
        rel = pts - self.centre
        return rel @ self.ax, rel @ self.down


def falloff_mask(lm: np.ndarray, pts: np.ndarray, sx: float = HEAD_MASK_SHAPE[0], s_up: float = HEAD_MASK_SHAPE[1],
                 s_down: float = HEAD_MASK_SHAPE[2], falloff: float = HEAD_MASK_SHAPE[3], below: float = 0.0) -> np.ndarray:
    """Motion weight at points: 1 over the head, 0 over background and body.

    An ellipse in the face's own frame, taller above the eyes (hair) than below the chin
    (neck), with a smooth falloff so nothing tears where moving meets still. ``below`` widens
    the falloff (in the ellipse's radius) by up to that much straight below the face, less
    towards its sides, and not at all beside and above it.
    """
    f = HeadFrame.of(lm)
    u, v = f.coords(pts)
    # sx, s_up, s_down: how far past the face oval the motion stays full strength
    vv = np.where(v < 0, v / (f.up_h * s_up), v / (f.down_h * s_down))
    r = np.sqrt((u / (f.half_w * sx)) ** 2 + vv**2)
    width: float | np.ndarray = falloff
    if below > 0:
        width = falloff + below * np.clip(vv / np.maximum(r, 1e-6), 0.0, 1.0) ** 2
    return (1.0 - smoothstep(1.0, 1.0 + width, r)).astype(np.float32)


def head_weight(lm: np.ndarray, pts: np.ndarray, neck: float = 0.0) -> np.ndarray:
    """How much of the head's motion points follow: 1 over the head and everything near it above
    the chin (face, hair, ears and the background around them), fading out down the neck
    (the head ellipse of :func:`falloff_mask`) to exactly 0 over the body and shoulders.

    The head layer moves as one piece where this is 1; only where its matte has something does
    that show — the background comes from the plate, unmoved (:mod:`streamfx.generator.head`).
    Beside and above the face it reaches as far as big hair (``HEAD_REACH``), but only above
    the chin (``HAIR_CHIN``): the shoulders stay put.

    ``neck`` (× the inter-ocular distance; 0: the resting fade) is how long the fade below the
    chin is at least — straight below the face, and for hair beside the neck — so that a chin
    moved that far towards the body over 1.5 (``NECK_FOLD_FREE``) compresses the neck without
    folding it. With ``neck`` 0 this is the head ellipse's own falloff exactly.
    """
    f = HeadFrame.of(lm)
    u, v = f.coords(pts)
    length = neck * L.interocular(lm)
    chin_end = max(HAIR_CHIN[1] * f.down_h, HAIR_CHIN[0] * f.down_h + length)
    above_chin = 1.0 - smoothstep(HAIR_CHIN[0] * f.down_h, chin_end, v)
    r = np.sqrt((u / f.half_w) ** 2 + (np.minimum(v, 0.0) / f.up_h) ** 2)
    near = 1.0 - smoothstep(*HEAD_REACH, r)
    s_down, fall = HEAD_MASK_SHAPE[2:]
    head = falloff_mask(lm, pts, below=max(length / (f.down_h * s_down) - fall, 0.0))
    return np.maximum(head, above_chin * near).astype(np.float32)


def feature_frame(lm: np.ndarray, corners: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin, along-axis, down-axis and width of a feature (an eye: corner to corner)."""
    a, b = lm[corners[0], :2], lm[corners[1], :2]
    if a[0] > b[0]:
        a, b = b, a
    axis = b - a
    width = float(np.sqrt((axis**2).sum())) + 1e-6
    ax = axis / width
    return a, ax, np.array([-ax[1], ax[0]], np.float32), width
