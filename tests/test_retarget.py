"""MotionRetargeter: relative motion, normalisation, gains, smoothing, loss handling."""

from __future__ import annotations

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.expression import (
    MOUTH_OPENING,
    OPENING_SLICES,
    PAIR_LOWER,
    PAIR_UPPER,
    RIGHT_EYE_OPENING,
    pair_gaps,
)
from streamfx.filters import OneEuroFilter
from streamfx.retarget import (
    MotionRetargeter,
    RetargetSettings,
    choose_best_reference,
    fit_similarity,
)


def _similar(lm: np.ndarray, scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    out = lm.copy()
    c = lm[:, :2].mean(axis=0)
    out[:, :2] = (lm[:, :2] - c) @ r.T + c + np.array(shift, np.float32)
    out[:, 2] *= scale
    return out


def test_reference_frame_maps_to_source_exactly(portrait_landmarks: np.ndarray) -> None:
    driver = _similar(portrait_landmarks, 0.4, 20, (-50, 30))  # small, tilted, elsewhere
    rt = MotionRetargeter(portrait_landmarks, RetargetSettings(smoothing=0))
    out = rt.update(driver, 0.0)
    np.testing.assert_allclose(out, portrait_landmarks, atol=1e-3)


def test_small_tilted_driver_motion_is_normalised(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    ref = _similar(src, 0.5, 90, (0, 0))  # the driver is half size and rotated 90°
    moved = ref.copy()
    # the driver opens its mouth along *its own* down axis, which is image -x after a +90° turn
    moved[L.LOWER_LIP_MID, :2] += np.array([-6.0, 0.0])
    rt = MotionRetargeter(src, RetargetSettings(smoothing=0))
    rt.update(ref, 0.0)
    out = rt.update(moved, 0.033)
    d = out[L.LOWER_LIP_MID, :2] - src[L.LOWER_LIP_MID, :2]
    # in the upright source: straight down, twice as far (the source face is twice as big)
    np.testing.assert_allclose(d, [0.0, 12.0], atol=0.5)


def test_gains_scale_regions_independently(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    moved = src.copy()
    moved[L.MOUTH, 1] += 4.0
    moved[L.BROWS, 1] -= 3.0
    rt = MotionRetargeter(src, RetargetSettings(smoothing=0, mouth_gain=2.0, brow_gain=0.0))
    rt.update(src, 0)
    out = rt.update(moved, 0.04)
    mouth = (out[L.MOUTH, 1] - src[L.MOUTH, 1]).mean()
    brows = np.abs(out[L.BROWS, 1] - src[L.BROWS, 1]).mean()
    assert mouth > 6.0 and brows < 0.6


def test_head_gain_zero_keeps_the_head_still(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    rt = MotionRetargeter(src, RetargetSettings(smoothing=0, head_gain=0.0))
    rt.update(src, 0)
    out = rt.update(_similar(src, 1.0, 8, (15, -5)), 0.04)
    assert np.abs(out[L.RIGID, :2] - src[L.RIGID, :2]).max() < 0.5


def test_mirror_swaps_sides(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    wink = src.copy()
    wink[L.RIGHT_EYE_UPPER[1:-1], 1] += 5.0  # the subject's right eye closes
    rt = MotionRetargeter(src, RetargetSettings(smoothing=0, mirror=True))
    rt.update(src, 0)
    out = rt.update(wink, 0.04)
    right = np.abs(out[L.RIGHT_EYE_UPPER[1:-1], 1] - src[L.RIGHT_EYE_UPPER[1:-1], 1]).mean()
    left = (out[L.LEFT_EYE_UPPER[1:-1], 1] - src[L.LEFT_EYE_UPPER[1:-1], 1]).mean()
    assert left > 3.5 and right < 1.0


def test_mirror_mirrors_a_turns_depths_too(portrait_landmarks: np.ndarray) -> None:
    """The generator reads a turn from the depths (the head's outline moves less than the face):
    mirrored, the 2D motion turns the other way, so the depth changes must swap sides with it."""
    src = portrait_landmarks
    turned = src.copy()
    x = src[:, 0] - src[L.RIGID, 0].mean()
    turned[:, 2] -= 0.2 * x  # a yaw: one side comes nearer, the other goes back
    turned[:, 0] += 0.2 * (src[:, 2] - src[L.RIGID, 2].mean() - 40.0)
    outs = {}
    for mirror in (False, True):
        rt = MotionRetargeter(src, RetargetSettings(smoothing=0, mirror=mirror))
        rt.update(src, 0)
        outs[mirror] = rt.update(turned, 0.04)
    plain, mirrored = (np.polyfit(x[L.RIGID], outs[m][L.RIGID, 2] - src[L.RIGID, 2], 1)[0] for m in (False, True))
    assert plain < -0.15 and mirrored > 0.15, (plain, mirrored)


def test_a_three_quarter_portrait_turns_by_its_own_depths(portrait_landmarks: np.ndarray) -> None:
    """A frontal driver turning its head: a three-quarter portrait turns the same angle about
    its own depths, not by the driver's points' 2D parallax (landed on the portrait's points as
    an expression, that bent its far cheek in at the eyes and out at the mouth: the face
    oval's shape was off by 0.08–0.15 inter-ocular distances at 15–25°)."""
    from tests.test_head_layer import _turned

    io = L.interocular(portrait_landmarks)
    oval = np.array(L.FACE_OVAL)

    def shape_error(a: np.ndarray, b: np.ndarray) -> float:  # after the best 2D similarity
        m, t = fit_similarity(a[oval, :2], b[oval, :2])
        return float(np.sqrt((((a[oval, :2] @ m.T + t) - b[oval, :2]) ** 2).sum(axis=1).mean()) / io)

    for own in (0.0, 30.0):  # a frontal portrait, and a three-quarter one
        source = _turned(portrait_landmarks, own, 1.2) if own else portrait_landmarks
        rt = MotionRetargeter(source, RetargetSettings(smoothing=0))
        rt.set_reference(portrait_landmarks)
        for yaw in (-15.0, 15.0, 25.0):
            out = rt.retarget(_turned(portrait_landmarks, yaw, 1.2))
            assert shape_error(_turned(source, yaw, 1.2), out) < 0.015, (own, yaw)


def test_a_smile_spreads_less_on_the_far_side_of_a_three_quarter_portrait(portrait_landmarks: np.ndarray) -> None:
    """An expression's motion runs along the face's surface: a frontal driver's smile spreads
    both mouth corners alike; on a three-quarter portrait the far corner, whose surface faces
    the camera less squarely, shows the spread shorter and the near one longer (before, both
    spread alike)."""
    from tests.test_head_layer import _turned

    io = L.interocular(portrait_landmarks)
    ref = portrait_landmarks
    smile = ref.copy()
    ax = L.eye_axis(ref)
    right, left = L.MOUTH_CORNERS  # the subject's right corner is on the image's left
    smile[right, :2] -= 0.1 * io * ax
    smile[left, :2] += 0.1 * io * ax
    spreads = {}
    for own in (0.0, 30.0):  # a frontal portrait, and a three-quarter one (its right side away)
        source = _turned(ref, own, 1.2) if own else ref
        rt = MotionRetargeter(source, RetargetSettings(smoothing=0))
        rt.set_reference(ref)
        moved = rt.retarget(smile)[:, :2] - source[:, :2]
        sax = L.eye_axis(source)
        spreads[own] = (-float(moved[right] @ sax), float(moved[left] @ sax))  # outwards, each
    (r0, l0), (r30, l30) = spreads[0.0], spreads[30.0]
    assert r0 == pytest.approx(l0, rel=0.15) and r0 > 0.05 * io
    assert r30 < 0.8 * l30, spreads  # the far (right) corner spreads less than the near one


def test_best_reference_picks_the_frame_closest_to_the_source(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    frames = []
    for k in range(5):
        f = _similar(src, 0.7, 5 * k, (3 * k, 0))
        f[L.MOUTH, 1] += abs(k - 3) * 3.0  # frame 3 has the source's expression
        frames.append(f)
    assert choose_best_reference([None, *frames], src) == 4


def test_face_loss_holds_then_eases_to_neutral_and_blends_back(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    s = RetargetSettings(smoothing=0, hold_seconds=0.5, ease_seconds=0.5, blend_in_seconds=0.2, idle=False)
    rt = MotionRetargeter(src, s)
    rt.update(src, 0.0)
    moved = src.copy()
    moved[:, 0] += 10
    posed = rt.update(moved, 0.1)
    np.testing.assert_allclose(rt.update(None, 0.3), posed, atol=1e-4)  # held
    mid = rt.update(None, 0.85)  # halfway through the ease
    assert 0 < (mid[:, 0] - src[:, 0]).mean() < 10
    np.testing.assert_allclose(rt.update(None, 1.2), src, atol=1e-4)  # neutral
    back = rt.update(moved, 1.25)  # face returns: no jump
    assert (back[:, 0] - src[:, 0]).mean() < 5
    np.testing.assert_allclose(rt.update(moved, 1.5), moved, atol=1e-3)


def test_presence_follows_the_hold_the_ease_and_the_blend_back(portrait_landmarks: np.ndarray) -> None:
    """The driver's look goes with its face (the Animator weights it by ``presence``): whole
    while tracked and held, fading out as the pose eases away, back as the face blends in."""
    src = portrait_landmarks
    s = RetargetSettings(smoothing=0, hold_seconds=0.5, ease_seconds=0.5, blend_in_seconds=0.2, idle=False)
    rt = MotionRetargeter(src, s)
    rt.update(src, 0.0)
    assert rt.presence == 1.0
    rt.update(None, 0.3)
    assert rt.presence == 1.0  # held, with the pose
    rt.update(None, 0.75)
    assert rt.presence == pytest.approx(0.5)  # halfway through the ease
    rt.update(None, 1.2)
    assert rt.presence == 0.0  # at rest: none of the driver's look
    rt.update(src, 1.25)
    assert rt.presence == 0.0  # the face is back: from where it had faded, no jump …
    rt.update(src, 1.35)
    assert rt.presence == pytest.approx(0.5)  # … halfway through the blend-in …
    rt.update(src, 1.5)
    assert rt.presence == 1.0  # … and whole
    # lost and back within the hold: the look never faded, so it stays whole
    rt.update(None, 1.6)
    rt.update(src, 1.7)
    assert rt.presence == 1.0


def test_calibrate_takes_the_next_frame_as_neutral(portrait_landmarks: np.ndarray) -> None:
    src = portrait_landmarks
    rt = MotionRetargeter(src, RetargetSettings(smoothing=0))
    rt.update(src, 0)
    moved = _similar(src, 1.0, 0, (12, 0))
    assert np.abs(rt.update(moved, 0.04) - src).max() > 5
    rt.calibrate()
    np.testing.assert_allclose(rt.update(moved, 0.08), src, atol=1e-3)


def test_one_euro_filter_reduces_jitter_but_follows_motion() -> None:
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    still = [f(np.array([100.0]) + rng.normal(0, 1, 1), i / 30)[0] for i in range(60)]
    assert np.std(still[20:]) < 0.5
    ramp = [f(np.array([100.0 + 5 * i]), (60 + i) / 30)[0] for i in range(30)]
    assert abs(ramp[-1] - (100 + 5 * 29)) < 10


def test_settings_are_validated_at_the_edge() -> None:
    with pytest.raises(InputError):
        RetargetSettings(smoothing=2).validate()
    with pytest.raises(InputError):
        RetargetSettings(reference="middle").validate()
    with pytest.raises(InputError):
        RetargetSettings().updated(bogus=1)


def test_fit_similarity_recovers_a_known_transform(portrait_landmarks: np.ndarray) -> None:
    moved = _similar(portrait_landmarks, 1.3, 15, (4, -7))
    a, b = fit_similarity(portrait_landmarks[:, :2], moved[:, :2])
    np.testing.assert_allclose(portrait_landmarks[:, :2] @ a.T + b, moved[:, :2], atol=1e-2)


def test_face_loss_runs_the_idle_motion_after_the_delay(portrait_landmarks: np.ndarray) -> None:
    from streamfx.motion import FaceRig, MotionScript

    src = portrait_landmarks
    rig, idle = FaceRig(src), MotionScript.builtin("idle")
    s = RetargetSettings(smoothing=0, hold_seconds=0.5, ease_seconds=0.5, idle=True)
    rt = MotionRetargeter(src, s, idle=lambda t: rig.pose(idle.params(t)))
    rt.update(src, 0.0)
    np.testing.assert_allclose(rt.update(None, 0.3), src, atol=1e-4)  # still holding
    later = [rt.update(None, t) for t in np.arange(2.0, 8.0, 0.1)]
    np.testing.assert_allclose(later[0], rig.pose(idle.params(2.0)), atol=1e-3)
    assert max(np.abs(a - later[0]).max() for a in later) > 1.0  # it moves: blinks, sway


def test_a_blink_closes_the_eyes_through_the_default_smoothing(portrait_landmarks: np.ndarray) -> None:
    # A new user's blinks (2–4 frames closed at 30 fps) stopped a third open: the One Euro
    # filter's speed estimate is too slow to open up for them. The lids' gap now passes raw;
    # the eye's place and everything else stay smoothed.
    src = portrait_landmarks.copy()
    rt = MotionRetargeter(src, RetargetSettings())
    assert rt.settings.smoothing > 0  # the default smooths
    gaps = pair_gaps(src)
    eyes = np.ones(len(gaps.gaps), bool)
    eyes[OPENING_SLICES[MOUTH_OPENING.name]] = False
    blink = src.copy()
    blink[PAIR_UPPER[eyes], :2] = blink[PAIR_LOWER[eyes], :2]  # the upper lids onto the lower
    blink[:, :2] += 3.0  # and the whole face jumps 3 px in the blink frame
    t = 0.0
    for _ in range(10):
        rt.update(src, t)
        t += 1 / 30
    closed = rt.update(blink, t)
    ratio = pair_gaps(closed).gaps[eyes] / gaps.gaps[eyes]
    assert ratio.max() < 0.05, ratio  # closed (it was 0.28 smoothed)
    # the rest is still smoothed: the face's jump comes through in part only
    shift = float((closed[L.RIGID, 0] - src[L.RIGID, 0]).mean())
    assert 0.3 < shift < 2.9, shift
    opened = rt.update(src, t + 1 / 30)
    assert np.all(pair_gaps(opened).gaps[eyes] / gaps.gaps[eyes] > 0.9)  # and opens again at once


def test_a_face_lost_mid_blink_holds_its_pose_with_the_eyes_reopened(portrait_landmarks: np.ndarray) -> None:
    # A new user saw a half-wink held for a second after the face left the frame mid-blink:
    # the held pose froze a transient. The held pose keeps the head and the mouth; its lids
    # open to the portrait's rest within a blink's time.
    src = portrait_landmarks.copy()
    s = RetargetSettings(smoothing=0, hold_seconds=0.5, ease_seconds=0.5, idle=False)
    rt = MotionRetargeter(src, s)
    gaps = pair_gaps(src)
    eyes = np.ones(len(gaps.gaps), bool)
    eyes[OPENING_SLICES[MOUTH_OPENING.name]] = False
    mouth = ~eyes
    rt.update(src, 0.0)
    pose = src.copy()
    pose[:, 0] += 10.0  # the head moved
    pose[MOUTH_OPENING.lower, 1] += 6.0  # the mouth opened
    right = OPENING_SLICES[RIGHT_EYE_OPENING.name]
    half = pose.copy()
    half[PAIR_UPPER[right], :2] += 0.6 * (half[PAIR_LOWER[right], :2] - half[PAIR_UPPER[right], :2])  # a half-wink
    posed = rt.update(half, 0.1)
    assert np.all(pair_gaps(posed).gaps[right] < 0.5 * gaps.gaps[right])
    first = rt.update(None, 0.1 + 1 / 30)  # just lost: the lids have begun to open, no jump
    assert np.all(pair_gaps(first).gaps[right] < 0.8 * gaps.gaps[right])
    held = rt.update(None, 0.4)  # still within the hold
    ratio = pair_gaps(held).gaps[eyes] / gaps.gaps[eyes]
    assert np.all(np.abs(ratio - 1.0) < 0.02), ratio  # both eyes open as the portrait's
    np.testing.assert_allclose(pair_gaps(held).gaps[mouth], pair_gaps(posed).gaps[mouth], atol=1e-3)  # mouth held
    not_lids = np.setdiff1d(np.arange(len(src)), PAIR_UPPER[eyes])
    np.testing.assert_allclose(held[not_lids], posed[not_lids], atol=1e-4)  # the head and the rest held


def test_a_glance_comes_through_the_default_smoothing(portrait_landmarks: np.ndarray) -> None:
    # A new user saw quick glances (one or two frames) come through at half their way or less:
    # the irises now sit where the raw ones do from their eye's corners.
    src = portrait_landmarks.copy()
    rt = MotionRetargeter(src, RetargetSettings())
    iod = float(np.linalg.norm(src[L.RIGHT_EYE_CORNERS[0], :2] - src[L.LEFT_EYE_CORNERS[0], :2]))
    glance = src.copy()
    glance[L.IRISES, 0] += 0.08 * iod  # both irises to one side
    t = 0.0
    for _ in range(10):
        rt.update(src, t)
        t += 1 / 30
    out = rt.update(glance, t)
    moved = (out[L.IRISES, 0] - src[L.IRISES, 0]).mean() / (0.08 * iod)
    assert moved > 0.95, moved  # all of it (it was under half smoothed)
    back = rt.update(src, t + 1 / 30)
    assert abs((back[L.IRISES, 0] - src[L.IRISES, 0]).mean()) < 0.05 * 0.08 * iod


def test_a_closed_lid_the_mesh_reads_a_little_open_closes_the_portraits(portrait_landmarks: np.ndarray) -> None:
    # mediapipe's closed lids read 0–0.05 of the eye's width on some faces (lp_d3: 0.025–0.048);
    # with 0.02 as "closed" a cartoon's big eyes kept a slit of iris through every blink.
    src = portrait_landmarks.copy()
    rt = MotionRetargeter(src, RetargetSettings(smoothing=0))
    rt.update(src, 0.0)
    gaps = pair_gaps(src)
    eyes = np.ones(len(gaps.gaps), bool)
    eyes[OPENING_SLICES[MOUTH_OPENING.name]] = False
    nearly = src.copy()
    # the upper lids down to 0.04 eye widths above the lower ones
    nearly[PAIR_UPPER[eyes], :2] = nearly[PAIR_LOWER[eyes], :2] - (0.04 * gaps.width[eyes])[:, None] * gaps.down[eyes]
    out = rt.update(nearly, 1 / 30)
    assert np.all(pair_gaps(out).gaps[eyes] < 0.01 * gaps.width[eyes])
