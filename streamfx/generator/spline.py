"""Thin-plate splines through landmarks, as linear maps (NumPy).

A thin-plate spline that takes points ``p`` (K×2) to values ``v`` (K×2) is linear in ``v``:
``f(x) = M(x; p) @ v``. With ``p`` fixed (a canonical face) ``M`` is a constant and a face's
warp from it costs one matmul per frame (:func:`tps_matrix`). Points are normalised by their
centroid and RMS spread, so ``smoothing`` means the same at any scale.
"""

from __future__ import annotations

import functools

import numpy as np


def _normalise(p: np.ndarray) -> tuple[np.ndarray, float]:
    c = p.mean(axis=0)
    s = float(np.sqrt(((p - c) ** 2).sum(axis=1).mean())) + 1e-9
    return c, s


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """U(|a_i − b_j|) = r² log r for every pair (as :func:`~streamfx.generator.geometry.tps_kernel`)."""
    r2 = (a[:, 0, None] - b[:, 0]) ** 2 + (a[:, 1, None] - b[:, 1]) ** 2
    return 0.5 * r2 * np.log(np.maximum(r2, 1e-300))  # 0 · log(tiny) = 0 at r = 0


def _system(pn: np.ndarray, smoothing: float) -> np.ndarray:
    k = len(pn)
    system = np.zeros((k + 3, k + 3))
    system[:k, :k] = _kernel(pn, pn) + smoothing * np.eye(k)
    system[:k, k] = system[k, :k] = 1.0
    system[:k, k + 1:] = pn
    system[k + 1:, :k] = pn.T
    return system


def _basis(xn: np.ndarray, pn: np.ndarray) -> np.ndarray:
    return np.concatenate([_kernel(xn, pn), np.ones((len(xn), 1)), xn], axis=1)


def tps_matrix(points: np.ndarray, at: np.ndarray, smoothing: float) -> np.ndarray:
    """N×K float64 ``M``: the spline through ``points`` (K×2) with values ``v`` is ``M @ v`` at
    ``at`` (N×2, same coordinates as ``points``)."""
    c, s = _normalise(points.astype(np.float64))
    pn = (points - c) / s
    inverse = np.linalg.inv(_system(pn, smoothing))[:, :len(pn)]
    return _basis((at - c) / s, pn) @ inverse


def resize_grid(x0: float, y0: float, w: int, h: int, gw: int, gh: int) -> np.ndarray:
    """gh×gw×2 points where ``cv2.resize`` (INTER_LINEAR, half-pixel centres) puts the samples
    of a gh×gw map it stretches over the w×h pixels from (x0, y0): a smooth function evaluated
    there and resized is the function, interpolated, at every pixel."""
    gx = x0 + (np.arange(gw) + 0.5) * (w / gw) - 0.5
    gy = y0 + (np.arange(gh) + 0.5) * (h / gh) - 0.5
    return np.stack(np.meshgrid(gx, gy), axis=-1)


@functools.lru_cache(maxsize=8)
def affine_fit(w: int, h: int, gw: int, gh: int) -> np.ndarray:
    """3×(gh·gw) float64: values at the nodes of :func:`resize_grid` over a w×h texture →
    the least-squares affine map ``[u v 1] @ m`` through them (m = this @ values)."""
    uv1 = np.concatenate([resize_grid(0.0, 0.0, w, h, gw, gh).reshape(-1, 2), np.ones((gw * gh, 1))], axis=1)
    return np.linalg.pinv(uv1)
