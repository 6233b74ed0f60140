"""Per-source NumPy: where a portrait's iris really is, near the face mesh's guess.

The face mesh places an iris well on photos, less so on a cartoon, an anime drawing or a
painting, whose eyes are bigger than any face it learnt from: its iris circle can be a third
too small and off centre. The iris layer moves exactly the disc it is given, so each source
eye is looked at once, in a canonical crop of it (the eye :data:`CANON` pixels wide), for
the iris's left and right edges (the lids hide its top and bottom) — where the image
brightens going out into the sclera — as iris-recognition's boundary search does (J. Daugman,
"How iris recognition works", IEEE TCSVT 14(1), 2004). The mesh's circle is kept where the
image shows no clear edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamfx.generator.constants import IRIS_SEARCH

CANON = 64.0
"""The canonical crop's eye width, pixels: the same search at any resolution."""


@dataclass(frozen=True)
class EyeCrop:
    """A grey canonical view of one eye: pixel (i, j) is ``origin + (j·k − pad)·axis + (i·k − pad)·down``."""

    grey: np.ndarray  # float32, smoothed
    k: float  # source pixels per crop pixel
    pad: float  # crop pixels left of and above the eye's origin

    def at(self, along: np.ndarray, down: np.ndarray) -> np.ndarray:
        """Bilinear grey values at eye-frame points (source pixels along / down from the origin)."""
        x = (along / self.k + self.pad).astype(np.float32)
        y = (down / self.k + self.pad).astype(np.float32)
        return cv2.remap(self.grey, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def eye_crop(image: np.ndarray, origin: np.ndarray, axis: np.ndarray, width: float) -> EyeCrop:
    """The eye's canonical crop: CANON pixels per eye width, a width of margin all round."""
    k = width / CANON
    pad = CANON
    down = np.array([-axis[1], axis[0]])
    # crop pixel (j, i) → source origin + (j − pad)·k·axis + (i − pad)·k·down
    m = np.array([[axis[0] * k, down[0] * k, origin[0] - pad * k * (axis[0] + down[0])],
                  [axis[1] * k, down[1] * k, origin[1] - pad * k * (axis[1] + down[1])]], np.float64)
    size = int(3 * CANON)
    grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    crop = cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return EyeCrop(cv2.GaussianBlur(crop, (0, 0), 0.8), k, pad)


def lid_curve(coeffs: tuple[float, float, float], u: np.ndarray) -> np.ndarray:
    """A lid curve's height at u (0…1 along the eye): 4u(1−u)·(a + b·s + c·s²), s = u − ½."""
    s = u - 0.5
    return 4 * u * (1 - u) * (coeffs[0] + s * (coeffs[1] + s * coeffs[2]))


def fit_iris(crop: EyeCrop, centre: np.ndarray, r: float, width: float,
             lids: tuple[tuple[float, float, float], tuple[float, float, float]]) -> tuple[np.ndarray, float]:
    """The iris circle (centre along/down in the eye frame, radius; source pixels) near the mesh's.

    Along a few rows through the mesh's centre, the iris's left and right edges are where the
    image brightens most going outwards into the sclera — the outermost such edge on each side,
    as the pupil's edge and the limbus' dark ring lie inside it. Their middle is the centre
    along the eye, half their distance the radius (medians over the rows). The mesh's circle is
    kept where a side shows no clear edge. Only the eye's opening counts, between the mesh's
    lid curves ``lids`` (beyond them lie lashes and skin, with edges of their own)."""
    rows, spread, (r_lo, r_hi), (r_shrink, r_grow), strength, agree = IRIS_SEARCH
    step = width / CANON
    a = np.arange(0.0, width + 1e-6, step)
    top, bottom = lid_curve(lids[0], a / width), lid_curve(lids[1], a / width)
    found = []
    for d in centre[1] + np.linspace(-spread, spread, rows) * width:
        prof = crop.at(a[None, :], np.full((1, len(a)), d))[0]
        grad = np.gradient(prof)  # along +a
        lo, hi = max(r_lo * width, r_shrink * r), min(r_hi * width, r_grow * r)
        edges = []
        for side in (-1.0, 1.0):
            dist = (a - centre[0]) * side  # outwards from the mesh's centre
            out = grad * side  # brightening outwards
            ok = (dist >= lo) & (dist <= hi) & (d > top) & (d < bottom)
            if not ok.any() or out[ok].max() < strength:
                break
            strong = ok & (out >= 0.6 * out[ok].max())
            edges.append(a[np.nonzero(strong)[0].max() if side > 0 else np.nonzero(strong)[0].min()])
        if len(edges) == 2:
            found.append(((edges[0] + edges[1]) / 2, (edges[1] - edges[0]) / 2))
    if len(found) < (rows + 1) // 2:
        return centre.astype(np.float32), r
    ca, rr = np.median(np.array(found), axis=0)
    if abs(ca - centre[0]) > agree * width:
        return centre.astype(np.float32), r
    return np.array([ca, centre[1]], np.float32), float(rr)

