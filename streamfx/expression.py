"""Expression measures from landmarks: the face's openings, and how neutral a face is.

**Openings.** The mouth's inner lips and each eye's lids are measured per landmark pair
(an upper point and the lower point facing it), in the feature's own frame: the axis
through the feature's two corners, and "down" perpendicular to it, pointing to the chin.
A pair's gap is ``(lower − upper) · down`` in pixels: positive when open, ≈ 0 when closed
(the tracker's closed mouth or lid reads within a few hundredths of the corner distance),
negative when the lips cross. The frame turns with the face, so a tilted head reads the
gaps an upright one would.

**Neutrality.** A driver frame taken as the reference ("neutral") should have its mouth
closed, its eyes open as they usually are, its brows at rest and its head in its usual
pose. :func:`face_measures` reads eight numbers from a face, all in inter-ocular units
(roll in radians):

========================  =============================================================
``mouth_gap``             mean inner-lip gap over the 9 pairs
``right_eye_gap``         mean lid gap of the subject's right eye (7 pairs)
``left_eye_gap``          the same, left eye
``brow_height``           mean height of both brows above their eye's corners
``mouth_width``           outer mouth corner to corner (a smile widens it)
``yaw``, ``pitch``        the nose tip's offset from the eyes' midpoint, along the eyes
                          and down the face
``roll``                  the eye axis's angle
========================  =============================================================

:func:`neutrality_costs` scores faces against a *clip* (the frames they are chosen from):
each measure's distance from its resting value, weighted (:data:`NEUTRAL_WEIGHTS`), and
summed — lower is more neutral (an eye's distance counts as a share of its typical opening,
the others in inter-ocular units). The resting values (:func:`resting_values`) are robust
statistics of the clip: the mouth's is *closed* (the clip's 5th percentile of
``mouth_gap``; a gap at or below it costs nothing), each eye's is its typical *open* value
(the median over the frames where that eye is at least half as open as its 90th
percentile, so blinks, winks and squints do not pull it down), the mouth width's is the
median over the closed-mouth frames (within 0.02 of the closed gap: a talking mouth's
width is not a resting one), and the others' are the clip's medians. So among the clip's
most closed mouths, the one with typically open eyes (not mid-blink, not wide), resting
brows and the usual head pose wins. Offline (``render``) the clip is the whole driver
(:func:`choose_neutral_reference`); live it is the frames seen so far
(:class:`RunningNeutral`) — the same function either way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamfx import landmarks as L


@dataclass(frozen=True, eq=False)
class Opening:
    """A feature that opens and closes: corners, and its upper/lower points pair by pair."""

    name: str
    corners: tuple[int, int]
    upper: np.ndarray
    """Landmark indices of the upper side's points, corner to corner (corners excluded)."""
    lower: np.ndarray
    """The lower side's, each facing the upper point at the same place."""
    closed: float
    """The tracker's gap for this feature closed, in units of its corner distance: a driver
    gap at or below it counts as closed (mediapipe reads closed lips at 0–0.02, and closed lids
    at 0–0.05: a closing lid's mesh stops short of the lower lid on some faces)."""


MOUTH_OPENING = Opening("mouth", L.INNER_CORNERS, np.array(L.INNER_UPPER[1:-1]), np.array(L.INNER_LOWER[1:-1]),
                        0.015)
RIGHT_EYE_OPENING = Opening("right eye", L.RIGHT_EYE_CORNERS, np.array(L.RIGHT_EYE_UPPER[1:-1]),
                            np.array(L.RIGHT_EYE_LOWER[1:-1]), 0.05)
LEFT_EYE_OPENING = Opening("left eye", L.LEFT_EYE_CORNERS, np.array(L.LEFT_EYE_UPPER[1:-1]),
                           np.array(L.LEFT_EYE_LOWER[1:-1]), 0.05)
OPENINGS = (MOUTH_OPENING, RIGHT_EYE_OPENING, LEFT_EYE_OPENING)


#: right eye's corners, left eye's corners, chin, forehead: what the face's own frame needs
_FRAME_POINTS = np.array([*L.RIGHT_EYE_CORNERS, *L.LEFT_EYE_CORNERS, L.CHIN_TIP, L.FOREHEAD])


def face_down(lm: np.ndarray) -> np.ndarray:
    """Unit vector down the face (perpendicular to the eye axis, towards the chin)."""
    p = lm[_FRAME_POINTS, :2].astype(np.float64)
    ax = p[2] + p[3] - p[0] - p[1]  # right eye's centre → left eye's centre, ×2
    down = np.array([-ax[1], ax[0]]) / max(float(np.hypot(ax[0], ax[1])), 1e-9)
    # towards the chin whatever the order of the eyes (a mirrored mesh has them swapped)
    return down if down @ (p[4] - p[5]) >= 0 else -down


@dataclass(frozen=True)
class OpeningGaps:
    """One opening measured on one face (pixels of that face)."""

    gaps: np.ndarray
    """(n,) gap of each pair along ``down``: > 0 open, < 0 crossed."""
    down: np.ndarray
    """(2,) the feature's own down axis (unit)."""
    axis: np.ndarray
    """(2,) the feature's own axis, from ``corners[0]`` to ``corners[1]`` (unit)."""
    origin: np.ndarray
    """(2,) ``corners[0]``."""
    width: float
    """Corner-to-corner distance."""


def opening_gaps(lm: np.ndarray, o: Opening, face_down_axis: np.ndarray | None = None) -> OpeningGaps:
    """The gaps of an opening's landmark pairs, in its own frame (see the module's docstring).

    ``face_down_axis``: :func:`face_down` of ``lm``, when the caller has it already.
    """
    c0 = lm[o.corners[0], :2].astype(np.float64)
    c1 = lm[o.corners[1], :2].astype(np.float64)
    width = float(np.hypot(*(c1 - c0)))
    ax = (c1 - c0) / max(width, 1e-6)
    down = np.array([-ax[1], ax[0]])
    if down @ (face_down(lm) if face_down_axis is None else face_down_axis) < 0:
        down = -down
    gaps = (lm[o.lower, :2] - lm[o.upper, :2]) @ down
    return OpeningGaps(gaps=gaps, down=down, axis=ax, origin=c0, width=width)


#: every opening's pairs in one array (mouth, right eye, left eye), for per-frame work
PAIR_UPPER = np.concatenate([o.upper for o in OPENINGS])
PAIR_LOWER = np.concatenate([o.lower for o in OPENINGS])
PAIR_CORNERS = np.array([o.corners for o in OPENINGS for _ in o.upper])  # (n, 2)
#: where each opening's pairs lie in the arrays of :func:`pair_gaps`
OPENING_SLICES = {o.name: slice(a, a + len(o.upper))
                  for o, a in zip(OPENINGS, np.cumsum([0] + [len(o.upper) for o in OPENINGS]), strict=False)}


@dataclass(frozen=True)
class PairGaps:
    """Every opening measured on one face at once, pair by pair (see :data:`OPENING_SLICES`)."""

    gaps: np.ndarray
    """(n,) each pair's gap along its opening's ``down``."""
    down: np.ndarray
    """(n, 2) the down axis of each pair's opening."""
    axis: np.ndarray
    """(n, 2) each pair's opening's axis, from its first corner to its second."""
    origin: np.ndarray
    """(n, 2) each pair's opening's first corner."""
    width: np.ndarray
    """(n,) each pair's opening's corner-to-corner distance."""


def pair_gaps(lm: np.ndarray, face_down_axis: np.ndarray | None = None) -> PairGaps:
    """:func:`opening_gaps` of every opening at once (mouth, right eye, left eye), each pair
    in its own opening's frame: one pass for the per-frame work."""
    c = lm[PAIR_CORNERS, :2].astype(np.float64)  # (n, 2 corners, xy)
    v = c[:, 1] - c[:, 0]
    width = np.hypot(v[:, 0], v[:, 1])
    ax = v / np.maximum(width, 1e-6)[:, None]
    down = np.stack([-ax[:, 1], ax[:, 0]], axis=1)
    fd = face_down(lm) if face_down_axis is None else face_down_axis
    down *= np.where(down @ fd < 0, -1.0, 1.0)[:, None]
    gaps = ((lm[PAIR_LOWER, :2] - lm[PAIR_UPPER, :2]) * down).sum(axis=1)
    return PairGaps(gaps=gaps, down=down, axis=ax, origin=c[:, 0], width=width)


# ---- neutrality ----------------------------------------------------------------------------
MEASURES = ("mouth_gap", "right_eye_gap", "left_eye_gap", "brow_height", "mouth_width", "yaw", "pitch", "roll")

#: cost per unit of each measure's distance from rest: per inter-ocular distance, per radian
#: for roll, and per typical opening for the eyes (so a blink costs 0.3 an eye, an eye 15 %
#: wider than usual 0.045). The mouth counts double: a mid-word reference is what breaks
#: mouth motion.
NEUTRAL_WEIGHTS = np.array([2.0, 0.3, 0.3, 1.0, 0.5, 0.5, 0.5, 0.5])
#: the smallest typical eye opening the eyes' deviations are divided by (inter-ocular units)
EYE_FLOOR = 0.02
#: the mouth's rest: this percentile of the clip's mouth gaps (robust to one glitched frame)
CLOSED_PERCENTILE = 5.0
#: frames within this mouth gap of the closed rest count as closed (inter-ocular units)
CLOSED_MARGIN = 0.02
#: an eye counts as open at this share of its 90th-percentile gap or more
EYE_OPEN_SHARE = 0.5


_RIGHT_BROW, _LEFT_BROW = np.array(L.RIGHT_BROW), np.array(L.LEFT_BROW)


def face_measures(lm: np.ndarray) -> np.ndarray:
    """The eight :data:`MEASURES` of one face, in inter-ocular units (roll in radians)."""
    p = lm[_FRAME_POINTS, :2].astype(np.float64)
    er, el = (p[0] + p[1]) / 2, (p[2] + p[3]) / 2
    io = max(float(np.hypot(*(el - er))), 1e-6)
    ax = (el - er) / io
    down = face_down(lm)
    brow = 0.5 * (((er - lm[_RIGHT_BROW, :2]) @ down).mean() + ((el - lm[_LEFT_BROW, :2]) @ down).mean())
    nose = lm[L.NOSE_TIP, :2] - (er + el) / 2
    corners = lm[L.MOUTH_CORNERS[0], :2] - lm[L.MOUTH_CORNERS[1], :2]
    return np.array([
        opening_gaps(lm, MOUTH_OPENING, down).gaps.mean() / io,
        opening_gaps(lm, RIGHT_EYE_OPENING, down).gaps.mean() / io,
        opening_gaps(lm, LEFT_EYE_OPENING, down).gaps.mean() / io,
        brow / io,
        float(np.hypot(*corners)) / io,
        float(nose @ ax) / io,
        float(nose @ down) / io,
        float(np.arctan2(ax[1], ax[0])),
    ])


def resting_values(clip: np.ndarray) -> np.ndarray:
    """The eight measures' resting values over a clip ((m, 8) :func:`face_measures`)."""
    clip = np.atleast_2d(clip)
    rest = np.median(clip, axis=0)
    rest[0] = np.percentile(clip[:, 0], CLOSED_PERCENTILE)
    for j in (1, 2):  # eyes: typical when open
        e = clip[:, j]
        rest[j] = np.median(e[e >= EYE_OPEN_SHARE * np.percentile(e, 90)])
    closed = clip[:, 0] <= rest[0] + CLOSED_MARGIN
    rest[4] = np.median(clip[closed, 4])
    return rest


def neutrality_costs(measures: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """How far from neutral each face is (lower is more neutral), judged against a clip.

    ``measures``: (n, 8) :func:`face_measures` of the faces to score; ``clip``: (m, 8) those of
    the frames that set the resting values (the faces themselves, or the frames seen so far).
    """
    return rest_costs(measures, resting_values(clip))


def rest_costs(measures: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """:func:`neutrality_costs` from the clip's :func:`resting_values`, already computed."""
    measures = np.atleast_2d(measures)
    dev = np.abs(measures - rest)
    dev[:, 0] = np.maximum(measures[:, 0] - rest[0], 0.0)  # more closed than the rest costs nothing
    # an eye's deviation counts as a share of its typical opening: a reference 15 % wider than
    # usual makes the portrait squint 15 % whenever the driver's eyes are as usual
    dev[:, 1:3] /= np.maximum(rest[1:3], EYE_FLOOR)
    dev[:, 7] = np.abs((measures[:, 7] - rest[7] + np.pi) % (2 * np.pi) - np.pi)  # angles wrap
    return np.asarray(dev @ NEUTRAL_WEIGHTS)


def choose_neutral_reference(drivers: Sequence[np.ndarray | None]) -> int | None:
    """Index of the most neutral face of a whole driver (None when no frame has a face)."""
    found = [i for i, lm in enumerate(drivers) if lm is not None]
    if not found:
        return None
    m = np.stack([face_measures(drivers[i]) for i in found])  # type: ignore[arg-type]
    return found[int(np.argmin(neutrality_costs(m, m)))]  # the first of equals


#: a newer face replaces the neutral one only when it is this much more neutral (cost units)
NEUTRAL_HYSTERESIS = 0.03
#: frames the live resting values are taken over (≈ 20 s at 30 fps)
NEUTRAL_WINDOW = 600
#: live, the resting values are brought up to date every this many faces (they drift slowly)
REST_EVERY = 10


class RunningNeutral:
    """The most neutral face of a stream so far (live: there is no look-ahead).

    :meth:`offer` each face; it says when a face becomes the new neutral one. The resting
    values come from the last :data:`NEUTRAL_WINDOW` faces, and a face must beat the current
    neutral one by :data:`NEUTRAL_HYSTERESIS`, so the choice does not flicker between
    near-equals.
    """

    def __init__(self, window: int = NEUTRAL_WINDOW, hysteresis: float = NEUTRAL_HYSTERESIS):
        self._history: deque[np.ndarray] = deque(maxlen=window)
        self._hysteresis = hysteresis
        self._best: np.ndarray | None = None
        self._rest: np.ndarray | None = None
        self._rest_age = 0

    def offer(self, lm: np.ndarray) -> bool:
        """Add a face; True when it is now the most neutral one."""
        m = face_measures(lm)
        self._history.append(m)
        if self._best is None:
            self._best = m
            return True
        self._rest_age += 1
        if self._rest is None or self._rest_age >= REST_EVERY or len(self._history) < 2 * REST_EVERY:
            self._rest, self._rest_age = resting_values(np.asarray(self._history)), 0
        best, new = rest_costs(np.stack([self._best, m]), self._rest)
        if new < best - self._hysteresis:
            self._best = m
            return True
        return False

    def reset(self) -> None:
        self._history.clear()
        self._best = self._rest = None
