"""The inner lips and lids retarget by their opening: a closed driver closes the portrait.

Synthetic faces: the template face (landmarks.template_landmarks) in pixels, with its mouth
and eyes set to chosen openings pair by pair, so every gap is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.expression import (
    LEFT_EYE_OPENING,
    MOUTH_OPENING,
    RIGHT_EYE_OPENING,
    Opening,
    opening_gaps,
)
from streamfx.retarget import MotionRetargeter, RetargetSettings, map_opening

IO = 100.0  # the synthetic faces' inter-ocular distance, pixels


def face(mouth: float = 0.0, right_eye: float = 0.3, left_eye: float = 0.3, *, scale: float = 1.0,
         shift: tuple[float, float] = (300.0, 250.0)) -> np.ndarray:
    """The template face, ``scale`` × 100 px between the eyes, with each opening's pairs
    set to the given gap (a fraction of the feature's corner distance; bulging in the middle)."""
    lm = L.template_landmarks().copy()
    lm *= IO * scale
    lm[:, :2] += np.array(shift, np.float32)
    for o, gap in ((MOUTH_OPENING, mouth), (RIGHT_EYE_OPENING, right_eye), (LEFT_EYE_OPENING, left_eye)):
        set_opening(lm, o, gap)
    return lm


def set_opening(lm: np.ndarray, o: Opening, gap: float) -> None:
    g = opening_gaps(lm, o)
    n = len(o.upper)
    bulge = np.sin(np.pi * (np.arange(n) + 1) / (n + 1))  # wider in the middle, like a real mouth
    want = gap * g.width * bulge
    mid = (lm[o.upper, :2] + lm[o.lower, :2]) / 2
    lm[o.upper, :2] = mid - (want / 2)[:, None] * g.down
    lm[o.lower, :2] = mid + (want / 2)[:, None] * g.down


def gaps(lm: np.ndarray, o: Opening) -> np.ndarray:
    return opening_gaps(lm, o).gaps


def retargeter(source: np.ndarray, reference: np.ndarray, **kw: object) -> MotionRetargeter:
    kw.setdefault("smoothing", 0.0)
    rt = MotionRetargeter(source, RetargetSettings(**kw))  # type: ignore[arg-type]
    rt.set_reference(reference)
    return rt


def test_a_closed_driver_mouth_closes_a_portrait_showing_teeth() -> None:
    """A smiling portrait open by 0.2 mouth-widths; the driver's neutral mouth is closed, and
    it closes its mouth again after talking: the portrait's lips meet. (Relative motion kept
    the source's own opening: a closed driver mouth never closed the portrait's.)"""
    source = face(mouth=0.2, scale=1.6)
    neutral = face(mouth=0.0)
    rt = retargeter(source, neutral)
    rt.update(face(mouth=0.25), 0.0)  # a word
    out = rt.update(face(mouth=0.0), 0.04)  # closed again
    assert np.abs(gaps(out, MOUTH_OPENING)).max() < 0.01 * opening_gaps(source, MOUTH_OPENING).width
    # …and the lips kept their thickness: the outer lips came along with the inner ones
    for outer, inner in ((0, L.UPPER_LIP_MID), (17, L.LOWER_LIP_MID)):
        before = np.linalg.norm(source[outer, :2] - source[inner, :2])
        after = np.linalg.norm(out[outer, :2] - out[inner, :2])
        assert after == pytest.approx(before, rel=0.05)


def test_a_closed_driver_closes_the_mouth_when_the_reference_was_open() -> None:
    """The reference frame is mid-word and the source's mouth is closed: closing below the
    reference closes the portrait's lips, and they do not cross (relative motion crossed
    them by the reference's opening)."""
    source = face(mouth=0.0)
    rt = retargeter(source, face(mouth=0.3))
    out = rt.update(face(mouth=0.0), 0.0)
    g = gaps(out, MOUTH_OPENING)
    assert g.min() > -1e-3 and g.max() < 0.5


def test_the_reference_opening_maps_to_the_sources_and_wider_opens_wider_with_the_gain() -> None:
    source = face(mouth=0.1, scale=2.0)
    ref = face(mouth=0.15)
    s_gaps = gaps(source, MOUTH_OPENING)
    wide = face(mouth=0.3)
    extra = (gaps(wide, MOUTH_OPENING) - gaps(ref, MOUTH_OPENING)) * 2.0  # driver px → source px
    for gain in (1.0, 2.5):
        rt = retargeter(source, ref, mouth_gain=gain)
        np.testing.assert_allclose(gaps(rt.update(ref, 0.0), MOUTH_OPENING), s_gaps, atol=0.05)
        np.testing.assert_allclose(gaps(rt.update(wide, 0.04), MOUTH_OPENING), s_gaps + gain * extra, atol=0.3)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_the_inner_lips_never_cross_at_mouth_gain_3(smoothing: float) -> None:
    """Talking at mouth gain 3 from a mid-word reference: the lower inner lip never goes above
    the upper one, in the target's own mouth frame, whatever the head does."""
    rng = np.random.default_rng(3)
    source = face(mouth=0.05, scale=1.3)
    rt = retargeter(source, face(mouth=0.25), mouth_gain=3.0, smoothing=smoothing)
    worst = np.inf
    for i in range(120):
        drv = face(mouth=float(rng.uniform(0, 0.35)), shift=(300 + 10 * np.sin(i / 9), 250 + 6 * np.cos(i / 7)))
        out = rt.update(drv, i / 30)
        worst = min(worst, float(gaps(out, MOUTH_OPENING).min()))
    assert worst > -0.05


@pytest.mark.parametrize("lean", [0.8, 1.25])
def test_leaning_back_or_in_keeps_the_openings_in_proportion(lean: float) -> None:
    """The driver's neutral face, only further from or nearer the camera: the portrait's head
    scales with it and its eyes and mouth stay as open *for their size* as the source's. (The
    gaps were compared in driver pixels: leaning back 20 % was a 20 % squint and a closing
    mouth, leaning in wide eyes.)"""
    source = face(mouth=0.1, right_eye=0.35, left_eye=0.35, scale=1.5)
    ref = face(mouth=0.1)
    rt = retargeter(source, ref)
    out = rt.update(face(mouth=0.1, scale=lean), 0.0)
    for o in (MOUTH_OPENING, RIGHT_EYE_OPENING, LEFT_EYE_OPENING):
        ratio = gaps(out, o) / opening_gaps(out, o).width
        np.testing.assert_allclose(ratio, gaps(source, o) / opening_gaps(source, o).width, atol=0.01)


def test_a_blink_closes_the_portraits_eyes_fully() -> None:
    """A portrait whose eyes are open wider than the driver's (scaled): a driver blink closes
    them (relative motion left them open by the difference)."""
    source = face(right_eye=0.45, left_eye=0.45, scale=1.5)
    rt = retargeter(source, face(right_eye=0.3, left_eye=0.3))
    out = rt.update(face(right_eye=0.0, left_eye=0.0), 0.0)
    for o in (RIGHT_EYE_OPENING, LEFT_EYE_OPENING):
        assert np.abs(gaps(out, o)).max() < 0.02 * opening_gaps(source, o).width
    # and the portrait's eyes at rest are its own, however open the driver's are
    np.testing.assert_allclose(gaps(rt.update(face(), 0.04), RIGHT_EYE_OPENING), gaps(source, RIGHT_EYE_OPENING),
                               atol=0.05)


@pytest.mark.parametrize("mirror", [False, True])
def test_a_wink_closes_one_eye(mirror: bool) -> None:
    source = face(right_eye=0.45, left_eye=0.45, scale=1.5)
    rt = retargeter(source, face(), mirror=mirror)
    out = rt.update(face(right_eye=0.0), 0.0)  # the driver's right eye winks
    closed, still = (LEFT_EYE_OPENING, RIGHT_EYE_OPENING) if mirror else (RIGHT_EYE_OPENING, LEFT_EYE_OPENING)
    assert np.abs(gaps(out, closed)).max() < 0.02 * opening_gaps(source, closed).width
    np.testing.assert_allclose(gaps(out, still), gaps(source, still), atol=0.05)


def _shift_irises(lm: np.ndarray, right: float, left: float) -> np.ndarray:
    """The face with each iris moved along its eye (× the eye's width; + towards the subject's left)."""
    lm = lm.copy()
    for iris, (c0, c1), amount in ((L.RIGHT_IRIS, L.RIGHT_EYE_CORNERS, right), (L.LEFT_IRIS, L.LEFT_EYE_CORNERS, left)):
        a, b = lm[c0, :2], lm[c1, :2]
        step = (b - a) if c0 == L.RIGHT_EYE_CORNERS[0] else (a - b)  # subject's right → left
        lm[iris, :2] += amount * step
    return lm


def _iris_moves(out: np.ndarray, source: np.ndarray) -> tuple[float, float]:
    moves = []
    for iris, (c0, c1) in ((L.RIGHT_IRIS, L.RIGHT_EYE_CORNERS), (L.LEFT_IRIS, L.LEFT_EYE_CORNERS)):
        a, b = source[c0, :2], source[c1, :2]
        step = (b - a) if c0 == L.RIGHT_EYE_CORNERS[0] else (a - b)
        moves.append(float((out[iris[0], :2] - source[iris[0], :2]) @ step / (step @ step)))
    return moves[0], moves[1]


def test_the_irises_turn_together_and_do_not_cross() -> None:
    """Where the performer looks moves both irises; the tracker's irises drifting towards the
    nose (raised brows, a squint) no longer makes the portrait cross-eyed."""
    source = face(scale=1.5)
    rt = retargeter(source, face())
    right, left = _iris_moves(rt.update(_shift_irises(face(), 0.1, 0.1), 0.0), source)
    assert right == pytest.approx(0.1, abs=0.01) and left == pytest.approx(0.1, abs=0.01)
    right, left = _iris_moves(rt.update(_shift_irises(face(), 0.1, -0.1), 0.04), source)  # both towards the nose
    assert abs(right) <= 0.03 and abs(left) <= 0.03
    # a closed eye's iris is a guess: the open eye says where the performer looks
    right, left = _iris_moves(rt.update(_shift_irises(face(left_eye=0.0), 0.1, -0.1), 0.08), source)
    assert right > 0.09 and left > 0.04  # both look left, not at each other


def test_map_opening_is_continuous_monotonic_and_never_negative() -> None:
    d = np.linspace(-5, 60, 501)  # driver gaps, source pixels; closed level 1 px
    for r, s in ((0.0, 0.0), (2.0, 0.0), (30.0, 5.0), (3.0, 25.0), (0.0, 25.0)):
        for knee_at_source in (True, False):
            f = map_opening(d, np.full_like(d, r), np.full_like(d, s), 1.0, 2.0, knee_at_source)
            assert f.min() >= 0  # never crossed
            assert np.all(np.diff(f) >= -1e-9)  # more open never maps to less open
            assert np.abs(np.diff(f)).max() < 3.0  # no jump (steps of 0.13 px)
            knee = max(r, s) if knee_at_source else max(r, s / 6)
            if knee >= 2.0:  # closed (at or below the closed level) maps to closed
                assert f[d <= 1.0].max() == pytest.approx(0.0, abs=1e-6)
                assert f[np.argmin(np.abs(d - knee))] == pytest.approx(s, abs=0.3)  # the knee → the source
