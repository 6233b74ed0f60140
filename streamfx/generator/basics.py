"""The per-source basics every layer shares: image, landmarks, region of interest, grid."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SourceBasics:
    """What every layer may read of a prepared source portrait (layers add their own constants)."""

    image: np.ndarray
    """H×W×C uint8 (RGB, or RGBA: the alpha is warped too)."""
    landmarks: np.ndarray
    """478×3 float32, source pixels."""
    roi: tuple[int, int, int, int]
    """x0, y0, x1, y1 of the region that can change; the rest of the output is the source."""
    grid: np.ndarray
    """gh×gw×2 coarse grid points (x, y), where cv2.resize puts its samples over the region."""
    max_shift: float
    """Displacement clamp, pixels."""
    layer: np.ndarray
    """H×W×(C+1) uint8: the head layer — the portrait premultiplied against ``plate``, then its
    transparency (255 − coverage); see :mod:`streamfx.generator.head`."""
    plate: np.ndarray
    """H×W×C uint8: the portrait with the background behind the moving head filled in (the
    portrait itself wherever the head layer is not opaque)."""
    consts: dict[str, Any] = field(default_factory=dict)
    """Each layer's per-source constants, by layer name (``Layer.prepare``'s results)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Per-source measurements more than one layer prepares from, by key, made once by the
    first that asks (the eyes: :func:`streamfx.generator.layers.eyes.eyes_of`)."""

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.grid.shape[0], self.grid.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    @functools.cached_property
    def pixels(self) -> np.ndarray:
        """rh×rw×2 float32: the (x, y) of every pixel in the region of interest."""
        x0, y0, x1, y1 = self.roi
        return np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1)), axis=-1).astype(np.float32)
