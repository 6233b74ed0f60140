"""The person matte of a portrait (mediapipe selfie segmentation, bundled model)."""

from __future__ import annotations

import cv2
import numpy as np

from streamfx.tracking import mp


def source_matte(image: np.ndarray) -> np.ndarray:
    """The matte a portrait is prepared with: its own alpha channel if it has one."""
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., 3]
    return person_matte(image[..., :3])


def person_matte(rgb: np.ndarray) -> np.ndarray:
    """Alpha (H×W uint8, 255 = person) for a still portrait; computed once per source."""
    h, w = rgb.shape[:2]
    s = min(1.0, 1024 / max(h, w))
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        m = seg.process(np.ascontiguousarray(small)).segmentation_mask
    if m is None:
        return np.full((h, w), 255, np.uint8)
    m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    # a soft but not mushy edge: stretch the probability around 0.5
    return np.clip((m - 0.25) * 2.0 * 255, 0, 255).astype(np.uint8)
