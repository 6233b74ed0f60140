"""Landmark alignment: pull a driver's tracked landmarks onto its image by optical flow.

mediapipe's mesh is a regression from a face crop, so its points jitter by a pixel or two
from frame to frame, and during some expressions whole regions drift: on a smirk the nose
and chin of a still head can report 5–10 px of motion. Animating those errors moves portrait
pixels that the performer never moved.

:class:`KeyframeAligner` measures where the texture around each point of a keyframe (the
first driver frame, or the frame after a calibration) really went, with pyramidal
Lucas–Kanade started at mediapipe's guess. Measuring from one keyframe, not from the previous
frame, means no drift; no temporal filter means no lag. Where the patch changed too much to
match (a blink, an open mouth, a head turned far from the keyframe, a different light) or the
match lands far from mediapipe's guess, mediapipe's point is kept, with a smooth hand-over
between the two. Irises are not matched (the eye's texture would hide their motion): they
keep mediapipe's gaze and move with their eye's correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.errors import InputError

_ALIGNED = np.array(L.ALIGNED)  # an index array, so the per-frame gathers don't convert a list
_IRIS_RINGS = (
    (np.array(L.RIGHT_IRIS), np.array(L.RIGHT_EYE_UPPER + L.RIGHT_EYE_LOWER)),
    (np.array(L.LEFT_IRIS), np.array(L.LEFT_EYE_UPPER + L.LEFT_EYE_LOWER)),
)


# Lucas–Kanade stops after 5 iterations or a 0.05 px step: started at mediapipe's guess it
# converges in a few (more change nothing measurable in scripts/eval.py)
_LK_STOP = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 5, 0.05)


@dataclass
class AlignSettings:
    eye_distance: float = 80.0
    """Matching runs on a copy of the frame scaled so the eyes are at most this many pixels
    apart: the same cost and the same window, in face units, at any camera resolution."""
    window: int = 27
    """Lucas–Kanade window side, pixels of that scaled copy (odd)."""
    levels: int = 0
    """Pyramid levels above full resolution (each halves the image). mediapipe's guess is
    within a few pixels of the answer, well inside one window, so none are needed: a level
    would double the cost for no measurable gain."""
    max_error: float = 20.0
    """Mean absolute grey-level difference of a matched patch above which the match is not used."""
    max_distance: float = 1.0
    """Matches this far from mediapipe's point (× the inter-ocular distance) are not used."""
    rekey_frames: int = 90
    """Take a new keyframe after this many frames in a row where most points failed to match."""

    def validate(self) -> AlignSettings:
        if self.window < 5 or self.window % 2 == 0:
            raise InputError(f"alignment window must be an odd number of pixels ≥ 5, not {self.window}")
        if not 0 <= self.levels <= 5:
            raise InputError(f"alignment pyramid levels must be 0–5, not {self.levels}")
        if self.eye_distance < 16:
            raise InputError(f"alignment eye distance must be at least 16 px, not {self.eye_distance}")
        if self.max_error <= 0 or self.max_distance <= 0 or self.rekey_frames < 1:
            raise InputError("alignment thresholds must be positive")
        return self


class KeyframeAligner:
    """Aligns each frame's landmarks to the image, measured from a keyframe."""

    def __init__(self, settings: AlignSettings | None = None):
        self.settings = (settings or AlignSettings()).validate()
        self._key_image: np.ndarray | None = None
        self._key_points: np.ndarray | None = None
        self._key_shape: tuple[int, ...] = ()
        self._scale = 1.0
        self._failing = 0
        self.matched = 0.0
        """Share of the points the last frame took from the match (0 on a keyframe)."""

    def _scaled(self, gray: np.ndarray) -> np.ndarray:
        if self._scale >= 1.0:
            return gray
        size = (round(gray.shape[1] * self._scale), round(gray.shape[0] * self._scale))
        # bilinear is six times cheaper than area averaging and aliases little down to ½
        interpolation = cv2.INTER_LINEAR if self._scale >= 0.5 else cv2.INTER_AREA
        return cv2.resize(gray, size, interpolation=interpolation)

    def reset(self) -> None:
        """The next frame becomes the keyframe (a calibration, a new driver, a mirror toggle)."""
        self._key_image = self._key_points = None
        self._failing = 0

    @property
    def has_keyframe(self) -> bool:
        return self._key_image is not None

    def align(self, gray: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Landmarks (478×3, pixels) of ``gray`` (H×W uint8) with the matched points aligned."""
        s = self.settings
        if self._key_image is None or self._key_shape != gray.shape:
            self._scale = min(1.0, s.eye_distance / L.interocular(landmarks))
            self._key_shape = gray.shape
            self._key_image = self._scaled(gray)
            self._key_points = np.ascontiguousarray(landmarks[_ALIGNED, :2] * self._scale,
                                                    dtype=np.float32).reshape(-1, 1, 2)
            self._failing = 0
            self.matched = 0.0
            return landmarks
        assert self._key_points is not None
        k = np.float32(self._scale)
        guess = landmarks[_ALIGNED, :2].astype(np.float32)
        found, status, error = cv2.calcOpticalFlowPyrLK(
            self._key_image, self._scaled(gray), self._key_points, (guess * k).reshape(-1, 1, 2),
            winSize=(s.window, s.window), maxLevel=s.levels, flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
            criteria=_LK_STOP)
        found = found.reshape(-1, 2) / k
        ok = (status.ravel() == 1) & np.isfinite(found).all(axis=1) & np.isfinite(error.ravel())
        # a point LK lost may come back as garbage or NaN: it must not reach the blend
        found = np.where(ok[:, None], found, guess)
        error = np.where(ok, error.ravel(), np.inf)
        distance = np.sqrt(((found - guess) ** 2).sum(axis=1)) / L.interocular(landmarks)
        # confidence falls linearly to zero at each threshold, so points hand over smoothly
        weight = (ok
                  * np.clip(1.0 - error / s.max_error, 0.0, 1.0)
                  * np.clip(1.0 - distance / s.max_distance, 0.0, 1.0))[:, None]
        out = landmarks.copy()
        out[_ALIGNED, :2] = guess + weight * (found - guess)
        for iris, ring in _IRIS_RINGS:
            out[iris, :2] += (out[ring, :2] - landmarks[ring, :2]).mean(axis=0)
        self.matched = float((weight > 0.5).mean())
        self._failing = self._failing + 1 if self.matched < 0.25 else 0
        if self._failing >= s.rekey_frames:
            self.reset()  # the keyframe no longer resembles the face: start from this one
        return out
