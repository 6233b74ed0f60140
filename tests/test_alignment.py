"""KeyframeAligner: driver landmarks pulled onto the image by optical flow from a keyframe."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.alignment import AlignSettings, KeyframeAligner
from streamfx.errors import InputError
from tests.conftest import media


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _shifted(rgb: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(rgb, m, (rgb.shape[1], rgb.shape[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("zoom", [1, 2])  # 2: an HD camera's view of the same face
def test_biased_noisy_guesses_are_pulled_onto_the_moved_texture(portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                                               zoom: int) -> None:
    aligner = KeyframeAligner()
    image = cv2.resize(portrait, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC) if zoom > 1 else portrait
    key = portrait_landmarks * np.float32(zoom)
    assert aligner.align(_grey(image), key) is key  # the first frame is the keyframe, as tracked
    shift = np.array([2.6, -1.7], np.float32) * zoom
    moved = _shifted(image, *shift)
    truth = key.copy()
    truth[:, :2] += shift
    rng = np.random.default_rng(0)
    guess = truth.copy()
    # what the mesh does: a common bias (3 px, as on a smirk) plus per-point jitter
    guess[:, :2] += (np.array([3.0, 1.0], np.float32) + rng.normal(0, 1.0, (len(key), 2)).astype(np.float32)) * zoom
    out = aligner.align(_grey(moved), guess)
    err_in = np.linalg.norm(guess[L.ALIGNED, :2] - truth[L.ALIGNED, :2], axis=1)
    err_out = np.linalg.norm(out[L.ALIGNED, :2] - truth[L.ALIGNED, :2], axis=1)
    # a match's weight falls with its patch error, so a little of the mesh's bias remains
    assert np.median(err_out) < 0.6 * zoom, np.median(err_out)
    assert np.median(err_out) < np.median(err_in) / 5
    assert aligner.matched > 0.8
    # irises are not matched, but move with their eye's correction: the bias is removed
    iris_in = np.linalg.norm(guess[L.IRISES, :2] - truth[L.IRISES, :2], axis=1).mean()
    iris_out = np.linalg.norm(out[L.IRISES, :2] - truth[L.IRISES, :2], axis=1).mean()
    assert iris_out < 0.6 * iris_in
    # z and the points the generator never reads are left as tracked
    others = np.setdiff1d(np.arange(L.NUM_LANDMARKS), np.concatenate([L.ALIGNED, L.IRISES]))
    np.testing.assert_array_equal(out[others], guess[others])
    np.testing.assert_array_equal(out[:, 2], guess[:, 2])


def test_a_frame_that_does_not_match_keeps_the_mesh_and_eventually_rekeys(portrait: np.ndarray,
                                                                          portrait_landmarks: np.ndarray) -> None:
    aligner = KeyframeAligner(AlignSettings(rekey_frames=3))
    aligner.align(_grey(portrait), portrait_landmarks)
    flat = np.full(portrait.shape[:2], 128, np.uint8)  # nothing to match: no texture at all
    guess = portrait_landmarks + np.float32(1.5)
    for _ in range(2):
        out = aligner.align(flat, guess)
        np.testing.assert_allclose(out, guess, atol=1e-4)
        assert aligner.matched == 0.0 and aligner.has_keyframe
    aligner.align(flat, guess)
    assert not aligner.has_keyframe  # three failures in a row: the next frame is the new keyframe


def test_reset_and_a_new_frame_size_take_a_new_keyframe(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    aligner = KeyframeAligner()
    aligner.align(_grey(portrait), portrait_landmarks)
    aligner.reset()
    guess = portrait_landmarks + np.float32(2.0)
    assert aligner.align(_grey(portrait), guess) is guess
    half = cv2.resize(portrait, None, fx=0.5, fy=0.5)
    small = portrait_landmarks * np.float32(0.5)
    assert aligner.align(_grey(half), small) is small


@pytest.mark.parametrize("bad", [dict(window=4), dict(window=30), dict(levels=9), dict(max_error=0),
                                 dict(rekey_frames=0), dict(eye_distance=8)])
def test_settings_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(InputError):
        AlignSettings(**bad).validate()  # type: ignore[arg-type]


def test_animator_calibration_and_mirror_toggle_rekey(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    from streamfx.animator import Animator
    from streamfx.sources.base import DriverFrame

    anim = Animator(portrait, source_landmarks=portrait_landmarks)
    tracker = anim._tracker
    assert tracker is not None and tracker.aligner is not None
    anim.step(DriverFrame(0, 0.0, 0.0, image=portrait))
    assert tracker.aligner.has_keyframe
    anim.calibrate()
    assert not tracker.aligner.has_keyframe
    anim.step(DriverFrame(1, 0.1, 0.1, image=portrait))
    assert tracker.aligner.has_keyframe
    anim.update_settings(mirror=True)
    assert not tracker.aligner.has_keyframe
    anim.close()
    plain = Animator(portrait, source_landmarks=portrait_landmarks, align=False)
    assert plain._tracker is not None and plain._tracker.aligner is None
    plain.close()


def test_on_a_still_real_head_alignment_removes_the_mesh_jitter() -> None:
    """lp_d19 (a near-static head): the aligned rigid points jitter less and stay on the mesh."""
    import av

    from streamfx.tracking import FaceTracker

    path = media("driving", "lp_d19.mp4")
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(90), c.decode(video=0), strict=False)]
    plain, aligned = FaceTracker(), FaceTracker(align=AlignSettings())
    try:
        raw = np.stack([plain.track(f) for f in frames])  # type: ignore[misc]
        ali = np.stack([aligned.track(f) for f in frames])  # type: ignore[misc]
    finally:
        plain.close()
        aligned.close()
    io = L.interocular(raw[0])

    def jitter(lm: np.ndarray) -> float:  # frame-to-frame acceleration of the rigid points
        p = lm[:, L.RIGID, :2]
        return float(np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=2).mean() / io)

    assert jitter(ali) < 0.7 * jitter(raw), (jitter(ali), jitter(raw))
    # aligned points follow the image, not a drift of their own: close to the mesh on average
    gap = np.linalg.norm(ali[:, L.ALIGNED, :2] - raw[:, L.ALIGNED, :2], axis=2).mean() / io
    assert gap < 0.05, gap
