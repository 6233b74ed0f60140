"""Motion retargeting: the driver's motion, re-expressed on the source portrait's face.

Relative motion: the source's landmarks move by the driver's displacement from a
reference frame. The displacement is mapped into the source's frame by the similarity
(scale, in-plane rotation) that takes the driver's reference face onto the source face, so
a small face drives a big one and a tilted driver leaves the avatar upright at rest.
The displacement is split into head pose (a similarity fitted on rigid points) and the
expression residual, so each region gets its own gain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.filters import OneEuroFilter

IdleMotion = Callable[[float], np.ndarray]


@dataclass
class RetargetSettings:
    reference: str = "first"
    """'first' (the first driver frame is neutral) or 'best' (the frame closest to the source)."""
    smoothing: float = 0.3
    """0 = raw tracking … 1 = heavy smoothing (One Euro filter strength)."""
    head_gain: float = 1.0
    eye_gain: float = 1.0
    brow_gain: float = 1.0
    mouth_gain: float = 1.0
    mirror: bool = False
    hold_seconds: float = 0.5
    """After the face is lost, hold the last pose this long…"""
    ease_seconds: float = 0.8
    """…then ease to neutral (or the idle motion) over this long."""
    blend_in_seconds: float = 0.2
    """When the face comes back, blend from the held pose over this long (no jump)."""
    idle: bool = True
    """Run the idle motion while the face is lost."""

    def validate(self) -> RetargetSettings:
        if self.reference not in ("first", "best"):
            raise InputError(f"--reference must be 'first' or 'best', not {self.reference!r}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise InputError(f"--smoothing must be between 0 and 1, not {self.smoothing}")
        for name in ("head_gain", "eye_gain", "brow_gain", "mouth_gain"):
            v = getattr(self, name)
            if not 0.0 <= v <= 3.0:
                raise InputError(f"--{name.replace('_', '-')} must be between 0 and 3, not {v}")
        for name, most in (("hold_seconds", 60.0), ("ease_seconds", 60.0), ("blend_in_seconds", 10.0)):
            if not 0 <= getattr(self, name) <= most:
                raise InputError(f"{name} must be between 0 and {most:g} seconds, not {getattr(self, name)}")
        return self

    def updated(self, **kw: object) -> RetargetSettings:
        known = {f.name for f in fields(self)}
        bad = set(kw) - known
        if bad:
            raise InputError(f"unknown retarget setting(s) {sorted(bad)}; known: {sorted(known)}")
        d = asdict(self)
        d.update(kw)
        return RetargetSettings(**d).validate()  # type: ignore[arg-type]

    def one_euro(self) -> tuple[float, float] | None:
        """(min_cutoff Hz, beta) for the smoothing strength; None when smoothing is off."""
        if self.smoothing <= 0:
            return None
        s = self.smoothing
        return 8.0 * (1 - s) ** 2 + 0.3, 0.02 + 0.2 * (1 - s)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares 2-D similarity (Umeyama): dst ≈ src @ A.T + b. Returns (A 2×2, b)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - ms, dst - md
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    r = u @ d @ vt
    var = (s0**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ d) / max(var, 1e-9))
    a = scale * r
    return a.astype(np.float32), (md - ms @ a.T).astype(np.float32)


def _gain_vector(s: RetargetSettings) -> np.ndarray:
    g = np.ones(L.NUM_LANDMARKS, np.float32)
    g[L.EYES + L.IRISES] = s.eye_gain
    g[L.BROWS] = s.brow_gain
    g[L.MOUTH] = s.mouth_gain
    return g[:, None]


def pose_distance(driver: np.ndarray, source: np.ndarray) -> float:
    """How far a driver face is from the source's pose and expression (inter-ocular units)."""
    a, b = fit_similarity(driver[:, :2], source[:, :2])
    aligned = driver[:, :2] @ a.T + b
    return float(np.sqrt(((aligned - source[:, :2]) ** 2).sum(axis=1).mean()) / L.interocular(source))


def choose_best_reference(drivers: Sequence[np.ndarray | None], source: np.ndarray) -> int:
    """Index of the driver frame closest to the source's pose and expression."""
    best, best_d = 0, np.inf
    for i, lm in enumerate(drivers):
        if lm is None:
            continue
        d = pose_distance(lm, source)
        if d < best_d:
            best, best_d = i, d
    return best


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


class MotionRetargeter:
    """Turns driver landmarks into target landmarks for the source portrait.

    Call :meth:`update` once per driver frame with its landmarks (or None when the face is
    lost) and its timestamp in seconds.
    """

    def __init__(self, source_landmarks: np.ndarray, settings: RetargetSettings | None = None,
                 idle: IdleMotion | None = None):
        self.source = source_landmarks.astype(np.float32)
        self.idle = idle
        self._reference: np.ndarray | None = None
        self._to_source = np.eye(2, dtype=np.float32)
        self._calibrate_next = False
        self._filter: OneEuroFilter | None = None
        self._last: np.ndarray = self.source.copy()
        self._last_seen: float | None = None
        self._lost_pose: np.ndarray | None = None
        self._returned_at: float | None = None
        self._return_from: np.ndarray | None = None
        self.settings = (settings or RetargetSettings()).validate()
        self._configure()

    # ---- configuration -----------------------------------------------------------------
    def _configure(self) -> None:
        self._gains = _gain_vector(self.settings)
        oe = self.settings.one_euro()
        self._filter = OneEuroFilter(*oe) if oe else None

    def update_settings(self, **kw: object) -> None:
        self.settings = self.settings.updated(**kw)
        self._configure()

    def set_source(self, source_landmarks: np.ndarray) -> None:
        self.source = source_landmarks.astype(np.float32)
        if self._reference is not None:
            self.set_reference(self._reference)
        self._last = self.source.copy()
        if self._filter:
            self._filter.reset()

    def set_reference(self, driver_landmarks: np.ndarray) -> None:
        """Take this driver face as neutral: it maps onto the source face at rest."""
        self._reference = driver_landmarks.astype(np.float32).copy()
        a, _ = fit_similarity(self._reference[L.RIGID, :2], self.source[L.RIGID, :2])
        self._to_source = a
        if self._filter:
            self._filter.reset()

    def calibrate(self) -> None:
        """Neutral = the next driver frame with a face (the live pipeline's button)."""
        self._calibrate_next = True

    @property
    def reference(self) -> np.ndarray | None:
        return self._reference

    # ---- the per-frame mapping -----------------------------------------------------------
    def retarget(self, driver: np.ndarray) -> np.ndarray:
        """Target landmarks for one driver face (no smoothing, no loss handling)."""
        ref = self._reference
        if ref is None:
            self.set_reference(driver)
            ref = driver
        s = self.settings
        a, b = fit_similarity(ref[L.RIGID, :2], driver[L.RIGID, :2])
        rigid = ref[:, :2] @ a.T + b
        head = rigid - ref[:, :2]
        expression = driver[:, :2] - rigid
        delta = s.head_gain * head + self._gains * expression
        if s.mirror:
            delta = _mirror_delta(delta, ref)
        delta_src = delta @ self._to_source.T
        scale = float(np.sqrt(abs(np.linalg.det(self._to_source))))
        out = self.source.copy()
        out[:, :2] += delta_src
        out[:, 2] += (driver[:, 2] - ref[:, 2]) * scale
        return out

    def update(self, driver: np.ndarray | None, t: float) -> np.ndarray:
        s = self.settings
        if driver is not None:
            if self._calibrate_next or self._reference is None:
                self.set_reference(driver)
                self._calibrate_next = False
            target = self.retarget(driver)
            if self._filter:
                target = self._filter(target, t)
            if self._lost_pose is not None:
                # the face is back: blend from what we showed while it was gone
                self._returned_at, self._return_from = t, self._last.copy()
                self._lost_pose = None
            if self._returned_at is not None and self._return_from is not None:
                k = _ease((t - self._returned_at) / max(s.blend_in_seconds, 1e-6))
                target = self._return_from + k * (target - self._return_from)
                if k >= 1:
                    self._returned_at = self._return_from = None
            self._last_seen = t
            self._last = target
            return target
        # the face is lost (or there has never been one)
        if self._lost_pose is None:
            self._lost_pose = self._last.copy()
            if self._last_seen is None:
                self._last_seen = t - s.hold_seconds
        lost_for = t - (self._last_seen if self._last_seen is not None else t)
        k = _ease((lost_for - s.hold_seconds) / max(s.ease_seconds, 1e-6))
        rest = self.idle(t) if (s.idle and self.idle is not None) else self.source
        target = self._lost_pose + k * (rest - self._lost_pose)
        if self._filter:
            self._filter.reset()
        self._returned_at = None
        self._last = target
        return target


_PAIRS: np.ndarray | None = None


def mirror_pairs() -> np.ndarray:
    """For each landmark, its left/right counterpart (from the symmetric template face)."""
    global _PAIRS
    if _PAIRS is None:
        tpl = L.template_landmarks()[:, :2]
        refl = tpl * np.array([-1, 1], np.float32)
        d = ((refl[:, None, :] - tpl[None, :, :]) ** 2).sum(-1)
        _PAIRS = d.argmin(axis=1)
    return _PAIRS


def _mirror_delta(delta: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Mirror a displacement field: swap left/right and flip x in the face's own frame."""
    ax = L.eye_axis(ref)
    rot = np.array([[ax[0], ax[1]], [-ax[1], ax[0]]], np.float32)  # world → face frame
    local = delta[mirror_pairs()] @ rot.T
    local[:, 0] *= -1
    return local @ rot
