"""Small image helpers shared by the per-source preparation (NumPy/OpenCV): an odd-sized disc
for morphology, and a robust estimate of spread."""

from __future__ import annotations

import cv2
import numpy as np


def odd(length: float, least: int = 1) -> int:
    """The odd size nearest ``length`` pixels (2·round(length / 2) + 1), at least 2·least + 1."""
    return 2 * max(int(round(length / 2.0)), least) + 1


def disc(diameter: int) -> np.ndarray:
    """An elliptical structuring element ``diameter`` pixels wide (cv2.MORPH_ELLIPSE)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))


def robust_sigma(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """The standard deviation a normal sample with ``x``'s median absolute deviation has
    (1.4826 × MAD; Hampel 1974): outliers — a line through a texture, a strand on a wall — do
    not inflate it. Over ``axis`` (all of ``x`` if None)."""
    centre = np.median(x, axis=axis, keepdims=True)
    return 1.4826 * np.median(np.abs(x - centre), axis=axis)
