"""Track gating: driver poses the tracker cannot really have seen count as a lost face.

A face mesh keeps answering when the face is half out of the frame (it extrapolates the
hidden half) and, now and then, snaps to a different pose for one frame. Either pose,
retargeted, tears the portrait — and the retargeter would then *hold* the torn pose. So a
tracked face is accepted only when

* it lies inside the frame: none of the rigid points of eyes, nose and brow line outside
  the image (:data:`IN_VIEW`), no more than :attr:`GateSettings.max_oval_outside` of the face-oval points beyond
  its left or right edge (a face sliding out sideways: the mesh makes up the hidden cheek), and
  no more than :attr:`GateSettings.max_oval_cut` beyond its top or bottom (a performer
  leaning into a close webcam crops forehead and chin, while everything that moves, eyes,
  brows and lips, stays in view and is tracked for real);
* its head pose is reachable from the last accepted one: the similarity between their rigid
  points moves less than :attr:`GateSettings.max_speed` inter-ocular distances per second,
  turns less than :attr:`~GateSettings.max_turn_speed` degrees per second and scales less
  than :attr:`~GateSettings.max_zoom_speed` (log-scale per second). A jump that persists for
  :attr:`~GateSettings.confirm_frames` consistent frames is real (a cut in an edited video)
  and is accepted.

Rejected frames are reported as lost, so the retargeter's loss handling applies: hold the
last good pose, ease to neutral, blend back when the face returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from streamfx import landmarks as L
from streamfx.retarget import fit_similarity


@dataclass(frozen=True)
class GateSettings:
    max_oval_outside: float = 0.15
    """Share of face-oval points that may lie beyond the frame's left or right edge."""
    max_oval_cut: float = 0.6
    """Share of face-oval points that may lie beyond its top or bottom edge."""
    max_speed: float = 30.0
    """Inter-ocular distances per second the head may move: one per frame at 30 fps (a fast
    real slide is ~4 per second, a jerky 25 fps clip reaches half a distance in one frame)."""
    max_turn_speed: float = 540.0
    """Degrees per second of in-plane rotation."""
    max_zoom_speed: float = 3.0
    """|log(scale)| per second (3.0: ×1.1 in one frame at 30 fps)."""
    min_interval: float = 1 / 30
    """Speeds are measured over at least this long (timestamps of camera frames jitter)."""
    confirm_frames: int = 3
    """Consecutive mutually consistent frames that make a jump real."""


#: the rigid points that must be in view: all but the forehead's (10 and 151), which a
#: performer leaning into a close webcam crops first
IN_VIEW = [i for i in L.RIGID if i not in (10, 151)]


def inside_frame(lm: np.ndarray, width: int, height: int, settings: GateSettings = GateSettings()) -> bool:
    """Whether a tracked face (478×3 pixels) lies inside a width × height frame (see module doc)."""
    rigid = lm[IN_VIEW, :2]
    if ((rigid[:, 0] < 0) | (rigid[:, 0] >= width) | (rigid[:, 1] < 0) | (rigid[:, 1] >= height)).any():
        return False
    oval = lm[L.FACE_OVAL, :2]
    beside = (oval[:, 0] < 0) | (oval[:, 0] >= width)
    cut = ~beside & ((oval[:, 1] < 0) | (oval[:, 1] >= height))
    return float(beside.mean()) <= settings.max_oval_outside and float(cut.mean()) <= settings.max_oval_cut


def _motion(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(shift in a's inter-ocular units, |roll| degrees, |log scale|) from face a to face b."""
    m, t = fit_similarity(a[L.RIGID, :2], b[L.RIGID, :2])
    scale = math.sqrt(abs(float(np.linalg.det(m))))
    roll = math.degrees(math.atan2(float(m[1, 0]), float(m[0, 0])))
    centre = a[L.RIGID, :2].mean(axis=0)
    shift = float(np.linalg.norm(centre @ m.T + t - centre)) / max(L.interocular(a), 1e-6)
    return shift, abs(roll), abs(math.log(max(scale, 1e-6)))


class TrackGate:
    """Accepts or rejects each tracked driver face (call :meth:`check` once per frame)."""

    def __init__(self, settings: GateSettings | None = None):
        self.settings = settings or GateSettings()
        self._last: np.ndarray | None = None
        self._last_t = 0.0
        self._pending: list[tuple[np.ndarray, float]] = []
        self.rejected = 0

    def reset(self) -> None:
        """Forget the last pose (a new driver, a calibration): the next face is accepted as is."""
        self._last = None
        self._pending.clear()

    def _reachable(self, a: np.ndarray, ta: float, b: np.ndarray, tb: float) -> bool:
        s = self.settings
        dt = max(tb - ta, s.min_interval)
        shift, roll, zoom = _motion(a, b)
        return shift <= s.max_speed * dt and roll <= s.max_turn_speed * dt and zoom <= s.max_zoom_speed * dt

    def check(self, lm: np.ndarray | None, width: int, height: int, t: float) -> np.ndarray | None:
        """``lm`` if it is a pose the tracker can have seen at time ``t`` (seconds), else None."""
        if lm is None:
            return None  # a lost face keeps the last pose to compare the next one with
        if not inside_frame(lm, width, height, self.settings):
            self.rejected += 1
            self._pending.clear()
            return None
        if self._last is None or self._reachable(self._last, self._last_t, lm, t):
            self._accept(lm, t)
            return lm
        # a jump: real only if the next frames agree with it
        if self._pending and not self._reachable(*self._pending[-1], lm, t):
            self._pending.clear()
        self._pending.append((lm, t))
        if len(self._pending) >= self.settings.confirm_frames:
            self._accept(lm, t)
            return lm
        self.rejected += 1
        return None

    def _accept(self, lm: np.ndarray, t: float) -> None:
        self._last, self._last_t = lm, t
        self._pending.clear()
