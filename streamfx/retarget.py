"""Motion retargeting: the driver's motion, re-expressed on the source portrait's face.

**Relative motion.** The source's landmarks move by the driver's displacement from a
reference frame. The displacement is mapped into the source's frame by the similarity
(scale ``s``, in-plane rotation) that takes the driver's reference face onto the source face,
so a small face drives a big one and a tilted driver leaves the avatar upright at rest.
The displacement is split into head pose (a similarity fitted on rigid points) and the
expression residual, so each region gets its own gain.

**Turns, in the portrait's own depths.** A turn (yaw, pitch) moves each point beyond that
similarity by its depth. Left in the residual, the driver's parallax would land on the
portrait's points as an expression — the driver's depths, not the portrait's, and scaled by
the regions' gains — which bent a three-quarter portrait's face. So the turn's angles
are read from the rigid landmarks' depth changes (:func:`turn_angles`), the driver's own
turn comes out of the residual, and the portrait's landmarks turn by those angles about its
own depths (:func:`turn_motion`, with the head gain). What stays is the expression, and it is
foreshortened as the portrait's surface faces the camera against the driver's
(:func:`surface_cosines`): a smile's far corner on a three-quarter face spreads less.

**Openings.** Relative motion alone cannot close a mouth the source shows open (a smile
with teeth): a closed driver mouth only takes the source back to its own opening. Nor can
it keep lips from crossing when the reference frame is more open than the driver gets. So
the inner lips and each eye's lids are then re-spaced pair by pair (upper point, the lower
point facing it; :mod:`streamfx.expression`), in the target's own mouth or eye frame. With
``d`` the driver's gap and ``r`` the reference's (driver pixels, times ``s``), ``S`` the
source's, ``c`` the driver's closed level (``Opening.closed`` × its corner distance × ``s``)
and ``g`` the region's gain, the target gap is::

    k = max(r, S) for the mouth, k = max(r, S / 6) for the eyes
    c' = min(c, k / 2)
    f(d) = S · clip((d − c') / (k − c'), 0, 1)     for d < k   (closing: down to 0)
    f(d) = S + g · (d − k)                          for d ≥ k   (opening: relative, with gain)

So the reference's opening maps to the source's, a driver closed to its closed level
closes the portrait's mouth or eye whatever the source's or the reference's opening, wider
than the reference opens wider with the gain, and ``f ≥ 0``: the lips and lids never
cross.

For the mouth the knee is at least the source's opening: a closed mouth is closed on every
face, so a reference less open than the source (a closed-mouth driver on a smiling portrait
showing teeth) makes the mapping absolute below the source's opening (``f(d) ≈ d``): the
portrait closes when the driver closes, and shows its own opening when the driver opens as
wide. While the live reference is still provisional (``auto`` before a calibration), its
mouth counts as no more open than the source's (or the closed level): a stream that starts
mid-word still closes and opens the portrait's mouth. For the eyes the knee is the
reference's: how open an eye rests differs from face to face, so the reference's lids
always map to the source's (unless the reference is caught mid-blink, less than a sixth as
open as the source: the lids would then jump open on the slightest motion).

The mouth's change from the relative target is split evenly between the upper and lower
inner lip (the mouth's centre stays where the head and jaw put it). Where it closes the
mouth further than relative motion did (the source's own opening), the outer lips follow
their side's inner lip (interpolated along the mouth), so the lips keep their thickness and
the warp, which is driven by the outer lips, closes the mouth as far as it can; where it
only keeps the inner lips from crossing, the outer lips stay where relative motion put
them, which is where the driver's lips went (unless the reference is provisional: its open
mouth is not the driver's rest, so the outer lips follow either way). For the eyes the
upper lid takes the whole change, as in a blink. Each eye is mapped from the driver's same
eye (its other eye under ``mirror``): a wink stays a wink.

**The reference.** ``auto`` (the default): offline, ``render`` picks the most neutral
frame of the whole driver (:func:`streamfx.expression.choose_neutral_reference`); live,
the first face is the reference until a more neutral one comes
(:class:`streamfx.expression.RunningNeutral`, with hysteresis), eased in over
:data:`ADAPT_EASE_SECONDS`; :meth:`MotionRetargeter.calibrate` or
:meth:`MotionRetargeter.set_reference` fix it. ``first``: the first face. ``best``: the
frame closest to the source's pose and expression (chosen offline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.expression import (
    LEFT_EYE_OPENING,
    MOUTH_OPENING,
    OPENING_SLICES,
    OPENINGS,
    PAIR_LOWER,
    PAIR_UPPER,
    RIGHT_EYE_OPENING,
    RunningNeutral,
    pair_gaps,
)
from streamfx.filters import OneEuroFilter

IdleMotion = Callable[[float], np.ndarray]

REFERENCES = ("auto", "first", "best")
#: live ``auto``: a more neutral reference is eased in over this long (no visible jump)
ADAPT_EASE_SECONDS = 0.6
#: a face lost mid-blink: its held pose's lids open to the portrait's rest over this long (a
#: blink reopens in about a tenth of a second; held for the hold time it read as a wink)
REOPEN_SECONDS = 0.15


@dataclass
class RetargetSettings:
    reference: str = "auto"
    """'auto' (the most neutral driver frame: chosen from the whole driver offline, adapted
    live until calibrated), 'first' (the first driver frame is neutral) or 'best' (the frame
    closest to the source's pose and expression, offline)."""
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
        if self.reference not in REFERENCES:
            raise InputError(f"--reference must be one of {', '.join(REFERENCES)}, not {self.reference!r}")
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


_RIGID = np.array(L.RIGID)
#: the largest turn read from a driver's depths (sin of it: 64°); past it the mesh's depths say little
TURN_SINE = 0.9


def turn_angles(reference: np.ndarray, driver: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in radians of ``driver`` against ``reference`` (478×3, pixels): read from
    the rigid landmarks' depth changes (mediapipe's z grows away from the camera, so a turn
    changes it by −x·sin(yaw) + y·sin(pitch)), fitted with a shift and a scale in depth
    (leaning in)."""
    r = reference[_RIGID].astype(np.float64)
    rel = r - r.mean(axis=0)
    design = np.stack([-rel[:, 0], rel[:, 1], np.ones(len(r)), rel[:, 2]], axis=1)
    dz = driver[_RIGID, 2].astype(np.float64) - r[:, 2]
    sines = np.clip(np.linalg.lstsq(design, dz, rcond=None)[0][:2], -TURN_SINE, TURN_SINE)
    return float(np.arcsin(sines[0])), float(np.arcsin(sines[1]))


def turn_motion(lm: np.ndarray, yaw: float, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """What a turn does to a face (478×3, pixels; turned about its rigid landmarks' centre,
    yaw then pitch, projected orthographically) beyond the 2D similarity a fit on its rigid
    landmarks reads from it: each point's motion less that similarity's (N×2), and its depth
    change (N), pixels."""
    p = lm.astype(np.float64)
    x, y, z = (p - p[_RIGID].mean(axis=0)).T
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    x1, z1 = x * cy + z * sy, -x * sy + z * cy
    y2, z2 = y * cp - z1 * sp, y * sp + z1 * cp
    moved = np.stack([x1 - x, y2 - y], axis=1)
    a, b = fit_similarity(p[_RIGID, :2], p[_RIGID, :2] + moved[_RIGID])
    residual = moved - (p[:, :2] @ a.T.astype(np.float64) + b - p[:, :2])
    return residual, z2 - z


#: the bounds of an expression's foreshortening (MotionRetargeter: the portrait's surface
#: cosine over the driver's), so a noisy depth at a face's edge never stops or flings a point
FORESHORTEN_RANGE = (0.3, 1.6)
_MESH = np.arange(468)  # the face mesh without the irises


def surface_cosines(lm: np.ndarray) -> np.ndarray:
    """N×2: how squarely a face's surface faces the camera at each landmark (N×3, pixels),
    across the face and down it (its own axes): the cosines of the slopes of a quadratic
    surface fitted to the mesh's depths — the face's turn and its roundness (the cheeks
    curving away), not the relief of a nose or of lips that open. 1 where the surface faces
    the camera; smaller towards the silhouette, and over the far side of a turned face."""
    p = lm.astype(np.float64)
    ax = L.eye_axis(lm).astype(np.float64)
    io = max(L.interocular(lm), 1e-6)
    centre = p[_MESH, :2].mean(axis=0)
    u, v = (p[:, :2] - centre) @ ax / io, (p[:, :2] - centre) @ np.array([-ax[1], ax[0]]) / io
    terms = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    c = np.linalg.lstsq(terms[_MESH], p[_MESH, 2] / io, rcond=None)[0]
    slopes = np.stack([c[1] + 2 * c[3] * u + c[4] * v, c[2] + c[4] * u + 2 * c[5] * v], axis=1)
    return 1.0 / np.sqrt(1.0 + slopes * slopes)


#: the eyes' knee is at least the source's opening over this: a reference caught mid-blink
#: would otherwise make the lids jump open on the slightest driver motion
EYE_KNEE_SHARE = 6.0


def map_opening(d: np.ndarray, r: np.ndarray, s: np.ndarray, closed: np.ndarray | float,
                gain: np.ndarray | float, knee_at_source: np.ndarray | bool = True) -> np.ndarray:
    """Target gaps from driver gaps ``d``, reference gaps ``r``, source gaps ``s`` and the
    driver's closed level, all in source pixels (the module's docstring gives the mapping).
    ``knee_at_source``: the knee is max(r, s) (the mouth), else max(r, s / 6) (the eyes)."""
    s = np.maximum(s, 0.0)
    k = np.maximum(np.maximum(r, 0.0), np.where(knee_at_source, s, s / EYE_KNEE_SHARE))
    c = np.minimum(closed, 0.5 * k)
    closing = s * np.clip((d - c) / np.maximum(k - c, 1e-6), 0.0, 1.0)
    return np.where(d >= k, s + gain * (d - k), closing)


#: per pair (mouth, right eye, left eye; expression.pair_gaps): the share of a gap change
#: the upper side takes (the mouth's lips share it; an eye's upper lid takes it all)
_UPPER_SHARE = np.concatenate([np.full(len(o.upper), 0.5 if o is MOUTH_OPENING else 1.0) for o in OPENINGS])
_IS_MOUTH = np.concatenate([np.full(len(o.upper), o is MOUTH_OPENING) for o in OPENINGS])
_CLOSED = np.concatenate([np.full(len(o.upper), o.closed) for o in OPENINGS])
_MOUTH = OPENING_SLICES[MOUTH_OPENING.name]
#: the outer lips, each side with its corners: they follow their side's inner lip
_OUTER_UPPER = np.array(L.LIPS_OUTER[:11])
_OUTER_LOWER = np.array(L.OUTER_LOWER)


def fit_openings(target: np.ndarray, driver: np.ndarray, reference: np.ndarray, source: np.ndarray,
                 scale: float, settings: RetargetSettings, provisional: bool = False,
                 head_scale: float = 1.0) -> np.ndarray:
    """Re-space the target's inner lips and lids by :func:`map_opening` (in place; returned).

    ``driver``/``reference`` are driver faces (driver pixels; ``scale`` takes them to source
    pixels), ``source`` the portrait's landmarks, ``target`` the relative-motion target.
    ``provisional``: the reference is only the most neutral face seen so far (live ``auto``
    before calibration), so its mouth is not trusted to be more open than the portrait's.
    ``head_scale``: the driver's head's size over the reference's (its rigid points'
    similarity). Openings are compared at the reference's size and drawn at the target head's:
    a performer leaning back 6 % is not a 6 % squint and a closing mouth, leaning in is not
    wide eyes.
    """
    if settings.mirror:  # the target's right eye follows the driver's left, and so on
        pairs = mirror_pairs()
        driver, reference = driver[pairs], reference[pairs]
    d, r, t, src = (pair_gaps(lm) for lm in (driver, reference, target, source))
    head_scale = max(head_scale, 1e-3)
    # the target head is scaled by the head gain's share of the driver's change
    target_scale = max(1.0 + settings.head_gain * (head_scale - 1.0), 1e-3)
    at_rest = scale / head_scale  # driver pixels → source pixels at the reference's head size
    closed = _CLOSED * d.width * at_rest
    ref = r.gaps * scale
    if provisional:
        # a stream that starts mid-word: until a closed mouth comes, a closed mouth is what
        # closes (eyes at rest differ from face to face; closed lips do not)
        ref = np.where(_IS_MOUTH, np.minimum(ref, np.maximum(src.gaps, closed)), ref)
    gain = np.where(_IS_MOUTH, settings.mouth_gain, settings.eye_gain)
    gaps = map_opening(d.gaps * at_rest, ref, src.gaps, closed, gain, knee_at_source=_IS_MOUTH)
    change = target_scale * gaps - t.gaps
    target[PAIR_UPPER, :2] -= (_UPPER_SHARE * change)[:, None] * t.down
    target[PAIR_LOWER, :2] += ((1.0 - _UPPER_SHARE) * change)[:, None] * t.down
    # only a closing change moves the outer lips: a relative target whose inner lips would
    # cross already has the outer lips where the driver's went. A provisional reference's
    # open mouth is not the driver's rest: there the outer lips follow either way
    m = _MOUTH
    follow = change[m] if provisional else np.minimum(change[m], 0.0)
    _follow_outer_lips(target, t.origin[m][0], t.axis[m][0], float(t.width[m][0]), t.down[m][0], follow)
    return target


def keep_eye_events(smoothed: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The smoothed target (478×3, in place; returned) with the raw target's blinks and
    glances: its lids as far apart as the raw target's (each upper lid point moved along its
    pair's down axis), and each iris where the raw one sits from its eye's corners.

    A blink closes an eye for 2–4 frames at 30 fps and a glance (a saccade) jumps in one or two;
    the One Euro filter's speed estimate (1 Hz) is too slow to open up for either, so a smoothed
    blink stopped a third open and a quick glance showed half of its way or less. Lids and irises
    jitter by a few hundredths of the eye's width, their blinks and glances move by most of it:
    those pass through raw, the eyes' places stay smoothed."""
    s, r = pair_gaps(smoothed), pair_gaps(raw)
    change = np.where(_IS_MOUTH, 0.0, r.gaps - s.gaps)
    smoothed[PAIR_UPPER, :2] -= change[:, None] * s.down
    for iris, corners in ((L.RIGHT_IRIS, L.RIGHT_EYE_CORNERS), (L.LEFT_IRIS, L.LEFT_EYE_CORNERS)):
        c = list(corners)
        smoothed[iris, :2] = raw[iris, :2] - raw[c, :2].mean(axis=0) + smoothed[c, :2].mean(axis=0)
    return smoothed


def reopen_eyes(pose: np.ndarray, source: np.ndarray, k: float) -> np.ndarray:
    """``pose`` (478×3) with each eye's lids opened ``k`` (0…1) of the way to the source's
    rest opening, relative to each eye's width (a copy). Only lids closer than the source's
    open; the rest of the face, and wider lids, are kept.

    A pose held while the face is lost keeps its expression, but not a blink caught in it:
    a transient frozen for the hold time reads as a deliberate wink."""
    out = pose.copy()
    if k <= 0.0:
        return out
    p, s = pair_gaps(pose), pair_gaps(source)
    rest = s.gaps / np.maximum(s.width, 1e-6) * p.width
    change = np.where(_IS_MOUTH, 0.0, np.maximum(rest - p.gaps, 0.0)) * min(k, 1.0)
    out[PAIR_UPPER, :2] -= change[:, None] * p.down
    return out


def _follow_outer_lips(target: np.ndarray, origin: np.ndarray, axis: np.ndarray, width: float,
                       down: np.ndarray, change: np.ndarray) -> None:
    """Move the outer lips with their inner lip: each side by half the gap change at its place
    along the mouth (none at the corners)."""
    at = ((target[MOUTH_OPENING.upper, :2] - origin) @ axis) / max(width, 1e-6)
    order = np.argsort(at)
    xs = np.concatenate([[0.0], np.clip(at[order], 0.0, 1.0), [1.0]])
    ys = np.concatenate([[0.0], change[order], [0.0]])
    for idx, sign in ((_OUTER_UPPER, -0.5), (_OUTER_LOWER, 0.5)):
        u = ((target[idx, :2] - origin) @ axis) / max(width, 1e-6)
        target[idx, :2] += (sign * np.interp(u, xs, ys))[:, None] * down


#: the share of the two irises' *difference* in motion (vergence) the portrait keeps; their
#: common motion (where the performer looks) it keeps whole
VERGENCE_KEEP = 0.25
#: per eye (the subject's right, then left): corners from the subject's right to left, and iris
_GAZE_EYES = ((L.RIGHT_EYE_CORNERS[0], L.RIGHT_EYE_CORNERS[1], L.RIGHT_IRIS),
              (L.LEFT_EYE_CORNERS[1], L.LEFT_EYE_CORNERS[0], L.LEFT_IRIS))


def conjugate_gaze(target: np.ndarray, source: np.ndarray, keep: float = VERGENCE_KEEP) -> np.ndarray:
    """Move the target's irises together (in place; returned).

    Eyes turn together: where a performer looks moves both irises alike, while at a screen's
    distance their difference (vergence) hardly changes — what the tracker reports of it is
    mostly each eye's own iris noise, and raised brows or a squint shift the mesh's irises
    towards the nose. Drawn on a portrait it looked cross-eyed. Each iris's motion from the
    source's (in its eye's frame, per eye width) is split into the two eyes' mean, weighted
    by how open each eye is (a closed eye's iris is a guess), and the rest, of which ``keep``
    stays."""
    changes, frames, weights = [], [], []
    for c0, c1, iris in _GAZE_EYES:
        per_face = []
        for lm in (target, source):
            a, b = lm[c0, :2].astype(np.float64), lm[c1, :2].astype(np.float64)
            w = max(float(np.hypot(*(b - a))), 1e-6)
            ax = (b - a) / w
            basis = np.stack([ax, [-ax[1], ax[0]]])  # along the eye (right to left), and across
            per_face.append(((lm[iris[0], :2] - a) @ basis.T / w, basis, w))
        (t_off, basis, w), (s_off, _, _) = per_face
        changes.append(t_off - s_off)
        frames.append((basis, w))
    gaps = pair_gaps(target)
    for o in (RIGHT_EYE_OPENING, LEFT_EYE_OPENING):
        sl = OPENING_SLICES[o.name]
        weights.append(float(np.clip(gaps.gaps[sl].max() / max(float(gaps.width[sl][0]), 1e-6), 0.0, None)) + 1e-3)
    common = (weights[0] * changes[0] + weights[1] * changes[1]) / (weights[0] + weights[1])
    for (_, _, iris), change, (basis, w) in zip(_GAZE_EYES, changes, frames, strict=True):
        wanted = common + keep * (change - common)
        target[iris, :2] += ((wanted - change) * w) @ basis
    return target


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


class MotionRetargeter:
    """Turns driver landmarks into target landmarks for the source portrait.

    Call :meth:`update` once per driver frame with its landmarks (or None when the face is
    lost) and its timestamp in seconds. With ``reference="auto"`` the reference adapts to the
    most neutral face seen (eased in) until :meth:`calibrate` or :meth:`set_reference` fixes it.
    """

    def __init__(self, source_landmarks: np.ndarray, settings: RetargetSettings | None = None,
                 idle: IdleMotion | None = None):
        self.source = source_landmarks.astype(np.float32)
        self._source_cos = surface_cosines(self.source)
        self._reference_cos = self._source_cos
        self.idle = idle
        self._reference: np.ndarray | None = None
        self.reference_face: np.ndarray | None = None
        """The driver face the reference is, or is easing towards (a new object whenever it
        changes): the frame whose appearance is the driver's neutral look."""
        self._to_source = np.eye(2, dtype=np.float32)
        self._calibrate_next = False
        self._fixed = False  # the reference no longer adapts (calibrated, or set from outside)
        self._neutral = RunningNeutral()
        self._ease_from: np.ndarray | None = None  # live auto: easing the reference from …
        self._ease_to: np.ndarray | None = None  # … to a more neutral face …
        self._ease_at = 0.0  # … since this time
        self._filter: OneEuroFilter | None = None
        self._last: np.ndarray = self.source.copy()
        self._last_seen: float | None = None
        self._lost_pose: np.ndarray | None = None
        self._returned_at: float | None = None
        self._return_from: np.ndarray | None = None
        self._return_presence = 0.0
        self.presence = 1.0
        """How much of the driver's face the last :meth:`update` showed, 0…1: 1 while it is
        tracked and while a lost face's pose is held, falling to 0 as that pose eases to rest,
        rising back to 1 as a returning face is blended in (the driver's look follows it)."""
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
        self._source_cos = surface_cosines(self.source)
        if self._reference is not None:
            self._use_reference(self._reference)  # the same driver face, onto the new source
        self._last = self.source.copy()
        if self._filter:
            self._filter.reset()

    def set_reference(self, driver_landmarks: np.ndarray) -> None:
        """Take this driver face as neutral: it maps onto the source face at rest. The
        reference is then fixed (``auto`` stops adapting)."""
        self._use_reference(driver_landmarks)
        self.reference_face = self._reference
        self._fixed = True
        self._ease_from = self._ease_to = None
        if self._filter:
            self._filter.reset()

    def _use_reference(self, driver_landmarks: np.ndarray) -> None:
        self._reference = driver_landmarks.astype(np.float32).copy()
        a, _ = fit_similarity(self._reference[L.RIGID, :2], self.source[L.RIGID, :2])
        self._to_source = a
        self._reference_cos = surface_cosines(self._reference)

    def _adapt(self, driver: np.ndarray, t: float) -> None:
        """Live ``auto``: ease towards the most neutral face so far (no jump, no flicker)."""
        if self._neutral.offer(driver):
            if self._reference is None:
                self._use_reference(driver)
                self.reference_face = self._reference
                return
            self._ease_from, self._ease_to, self._ease_at = self._reference.copy(), driver.astype(np.float32), t
            self.reference_face = self._ease_to
        if self._ease_from is not None and self._ease_to is not None:
            self._ease_at = min(self._ease_at, t)  # a looping source's clock restarts
            k = _ease((t - self._ease_at) / ADAPT_EASE_SECONDS)
            self._use_reference(self._ease_from + k * (self._ease_to - self._ease_from))
            if k >= 1:
                self._ease_from = self._ease_to = None

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
            self._use_reference(driver)
            self.reference_face = self._reference
            ref = driver
        s = self.settings
        a, b = fit_similarity(ref[L.RIGID, :2], driver[L.RIGID, :2])
        rigid = ref[:, :2] @ a.T + b
        head = rigid - ref[:, :2]
        # A turn (yaw, pitch) moves each point by its depth beyond the 2D similarity: in the
        # driver's face, that parallax would land on the portrait's points as an expression,
        # by the driver's depths and the regions' gains (a three-quarter portrait's face oval
        # came out 0.08–0.15 inter-ocular distances off its own turned shape at 15–25°). So
        # the turn's angles carry over, and the portrait turns about its own depths (head
        # motion: the head gain's).
        yaw, pitch = turn_angles(ref, driver)
        size = float(np.sqrt(abs(np.linalg.det(a))))  # the driver's head's size against the reference's
        turned, turned_depth = turn_motion(ref * np.float32(size), yaw, pitch)
        expression = self._gains * (driver[:, :2] - rigid - turned)
        head = s.head_gain * head
        depth = driver[:, 2] - ref[:, 2] - turned_depth
        ref_cos = self._reference_cos
        if s.mirror:
            head, expression = _mirror_delta(head, ref), _mirror_delta(expression, ref)
            depth = depth[mirror_pairs()]  # a mirrored turn: each point takes its twin's depth change
            ref_cos = ref_cos[mirror_pairs()]
            yaw = -yaw
        expression = expression @ self._to_source.T
        # An expression's motion runs along the face's surface: seen where the portrait's surface
        # faces the camera less squarely than the driver's did (a three-quarter portrait's far
        # cheek), it shows shorter, and longer where more (its near cheek): a frontal smile
        # spreads a three-quarter face's far mouth corner less than its near one.
        ax = L.eye_axis(self.source)
        down = np.array([-ax[1], ax[0]], np.float32)
        ratio = np.clip(self._source_cos / ref_cos, *FORESHORTEN_RANGE).astype(np.float32)
        expression = ((expression @ ax) * ratio[:, 0])[:, None] * ax + ((expression @ down) * ratio[:, 1])[:, None] * down
        scale = float(np.sqrt(abs(np.linalg.det(self._to_source))))
        own, own_depth = turn_motion(self.source, yaw, pitch)
        out = self.source.copy()
        out[:, :2] += head @ self._to_source.T + expression + s.head_gain * own
        out[:, 2] += depth * scale + s.head_gain * own_depth
        provisional = s.reference == "auto" and not self._fixed
        head_scale = float(np.sqrt(abs(np.linalg.det(a))))
        fit_openings(out, driver, ref, self.source, scale, s, provisional, head_scale)
        return conjugate_gaze(out, self.source)

    def update(self, driver: np.ndarray | None, t: float) -> np.ndarray:
        s = self.settings
        if driver is not None:
            if self._calibrate_next:
                self.set_reference(driver)
                self._calibrate_next = False
            elif s.reference == "auto" and not self._fixed:
                self._adapt(driver, t)
            elif self._reference is None:
                self.set_reference(driver)
            target = self.retarget(driver)
            if self._filter:
                # (a copy: the filter keeps its own state in what it returns)
                target = keep_eye_events(self._filter(target, t).copy(), target)
            if self._lost_pose is not None:
                # the face is back: blend from what we showed while it was gone
                self._returned_at, self._return_from = t, self._last.copy()
                self._return_presence = self.presence
                self._lost_pose = None
            self.presence = 1.0
            if self._returned_at is not None and self._return_from is not None:
                k = _ease((t - self._returned_at) / max(s.blend_in_seconds, 1e-6))
                target = self._return_from + k * (target - self._return_from)
                # the look comes back with the pose, from where it had faded to
                self.presence = self._return_presence + k * (1.0 - self._return_presence)
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
        held = reopen_eyes(self._lost_pose, self.source, _ease(lost_for / REOPEN_SECONDS))
        target = held + k * (rest - held)
        self.presence = 1.0 - k
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
