"""Colour filters on the finished frame (NumPy/OpenCV on the CPU, after any engine)."""

from __future__ import annotations

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    COLOUR_GAIN,
    COLOUR_MIN_SAMPLES,
    COLOUR_SAMPLE_STEP,
    SHARPEN_SIGMA,
)
from streamfx.generator.layers.base import FrameFilter
from streamfx.generator.settings import GeneratorSettings


class ColourMatch(FrameFilter):
    """Match the face box's per-channel mean and contrast to the source's (lighting drift)."""

    name = "color_match"
    settings = ("color_match",)

    def enabled(self, settings: GeneratorSettings) -> bool:
        return settings.color_match

    def prepare(self, src: SourceBasics) -> tuple[np.ndarray, np.ndarray]:
        h, w = src.image.shape[:2]
        x0, y0, x1, y1 = L.face_box(src.landmarks, w, h)
        face = src.image[y0:y1, x0:x1, :3].reshape(-1, 3).astype(np.float32)
        return face.mean(axis=0), face.std(axis=0) + 1e-3

    def apply(self, out: np.ndarray, target: np.ndarray, src: SourceBasics, consts: tuple[np.ndarray, np.ndarray],
              settings: GeneratorSettings) -> None:
        h, w = out.shape[:2]
        x0, y0, x1, y1 = L.face_box(target, w, h)
        face = out[y0:y1, x0:x1, :3]
        sample = face[::COLOUR_SAMPLE_STEP, ::COLOUR_SAMPLE_STEP].reshape(-1, 3).astype(np.float32)
        if len(sample) < COLOUR_MIN_SAMPLES:
            return
        mean, std = consts
        gain = np.clip(std / (sample.std(axis=0) + 1e-3), *COLOUR_GAIN)
        shift = mean - sample.mean(axis=0) * gain
        out[y0:y1, x0:x1, :3] = np.clip(face * gain + shift, 0, 255).astype(np.uint8)


class Sharpen(FrameFilter):
    """Unsharp mask over the region of interest."""

    name = "sharpen"
    settings = ("sharpen",)

    def enabled(self, settings: GeneratorSettings) -> bool:
        return settings.sharpen > 0

    def apply(self, out: np.ndarray, target: np.ndarray, src: SourceBasics, consts: None,
              settings: GeneratorSettings) -> None:
        x0, y0, x1, y1 = src.roi
        region = out[y0:y1, x0:x1, :3]
        blur = cv2.GaussianBlur(region, (0, 0), SHARPEN_SIGMA)
        out[y0:y1, x0:x1, :3] = cv2.addWeighted(region, 1 + settings.sharpen, blur, -settings.sharpen, 0)
