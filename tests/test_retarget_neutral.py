"""A neutral reference by default: drivers that start mid-word still drive the mouth.

Offline (render) the most neutral frame of the whole driver is the reference; live, the
most neutral face seen so far, eased in, until the performer calibrates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.expression import MOUTH_OPENING, choose_neutral_reference, opening_gaps
from streamfx.retarget import ADAPT_EASE_SECONDS, MotionRetargeter, RetargetSettings
from tests.conftest import MEDIA, case
from tests.picture import assert_follows_driver, read_video
from tests.test_retarget_openings import face

MID_WORD = 0.667  # seconds into driver_short.mp4: the performer is mid-word there


def turned(lm: np.ndarray, px: float) -> np.ndarray:
    """The face turned a little: points shift sideways by their depth (the nose most)."""
    out = lm.copy()
    z = out[:, 2] - out[:, 2].mean()
    out[:, 0] += px * z / np.abs(z).max()
    return out


# ---- offline: the most neutral frame of a whole driver ------------------------------------
def test_the_most_neutral_frame_is_chosen_not_the_first() -> None:
    """Frame 0 is mid-word. Among the closed mouths, one blinks, one has the head turned and
    one raises the brows; the neutral one (closed, eyes open as usual, head as usual) wins."""
    talk = [face(mouth=m) for m in (0.3, 0.25, 0.35, 0.2, 0.3, 0.28, 0.22, 0.33)]
    blink = face(mouth=0.0, right_eye=0.02, left_eye=0.02)
    turned_head = turned(face(mouth=0.0), 25.0)
    brows = face(mouth=0.0)
    brows[L.BROWS, 1] -= 12
    neutral = face(mouth=0.0)
    frames: list[np.ndarray | None] = [*talk[:3], blink, None, *talk[3:5], turned_head, brows, neutral, *talk[5:]]
    assert choose_neutral_reference(frames) == next(i for i, f in enumerate(frames) if f is neutral)
    assert choose_neutral_reference([None, None]) is None
    assert RetargetSettings().reference == "auto"  # and it is what a render does by default


@pytest.fixture(scope="module")
def mid_word_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """driver_short.mp4 cut to start mid-word (as ``ffmpeg -ss 0.667`` does), with PyAV."""
    import av

    src = case("driver_short.mp4")
    out = tmp_path_factory.mktemp("cut") / "driver_mid_word.mp4"
    with av.open(str(src)) as inp, av.open(str(out), "w") as c:
        vin = inp.streams.video[0]
        s = c.add_stream("libx264", rate=vin.average_rate)
        s.width, s.height, s.pix_fmt = vin.width, vin.height, "yuv420p"
        s.options = {"crf": "12"}
        for frame in inp.decode(vin):
            if frame.time is not None and frame.time >= MID_WORD:
                img = frame.to_ndarray(format="rgb24")
                c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return out


def test_a_driver_cut_mid_word_gets_a_closed_mouth_reference(mid_word_driver: Path) -> None:
    """Tracked as render tracks it, the cut driver's first frame is open; the chosen one is
    closed (mediapipe reads ≈ 0.02 there, 0.18 on frame 0)."""
    from streamfx.alignment import AlignSettings
    from streamfx.tracking import FaceTracker

    with FaceTracker(static=False, align=AlignSettings()) as tracker:
        faces = [tracker.track(img) for img in read_video(mid_word_driver)]
    assert faces[0] is not None and L.mouth_openness(faces[0]) > 0.1  # the case is what it says
    i = choose_neutral_reference(faces)
    assert i is not None
    chosen = faces[i]
    assert chosen is not None
    assert L.mouth_openness(chosen) < 0.04
    assert abs(L.eye_openness(chosen) - np.median([L.eye_openness(f) for f in faces if f is not None])) < 0.05


def test_render_follows_a_driver_cut_mid_word(tmp_path: Path, mid_word_driver: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Cross-reenactment, default options: a real portrait's mouth follows the driver's, as
    mediapipe reads both. Measured 0.75 here (0.75–0.86 over sizes and encodes of the cut);
    the old default, the first frame as reference: −0.46. It is 0.87–0.91 until the driver
    closes its mouth in the last frames: lp_s1's lips are parted, the target's inner lips
    meet (test_retarget_openings), but a warp driven by the outer lips cannot close the
    portrait's own gap. The issue's 0.8 needs the generator to close it (issue 11, item 1)."""
    from streamfx.render import RenderJob, render

    portrait = MEDIA / "source" / "lp_s1.jpg"
    if not portrait.exists():
        pytest.skip(f"evaluation media {portrait} is absent (it lives in ../shared/media, outside the project)")
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.INFO, logger="streamfx"):
        render(RenderJob(str(portrait), str(mid_word_driver), str(out), max_size=512, progress=False))
    chosen = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reference: driver frame")]
    assert len(chosen) == 1 and "most neutral" in chosen[0]
    assert int(chosen[0].split()[3]) >= 60  # the mouth closes only at the end of this cut
    assert_follows_driver(read_video(out), read_video(mid_word_driver), min_corr=0.7)


# ---- live: adapt until calibrated ------------------------------------------------------------
def talking(mouth: float) -> np.ndarray:
    """A face whose jaw drops with its mouth: the lower lip and the chin come down too."""
    lm = face(mouth=mouth)
    lm[L.OUTER_LOWER[1:-1] + L.CHIN, 1] += 30 * mouth
    return lm


def talk_then_rest(rt: MotionRetargeter, start: float = 0.0) -> list[np.ndarray]:
    """Feed a stream that starts mid-word, closes its mouth, then talks on. Returns, after each
    frame, the target the reference then gives one fixed mid-word face (the probe): it moves
    only as the reference does."""
    probe = talking(0.3)
    t = start
    seen = []
    for m in (0.3, 0.28, 0.32, 0.3, 0.0, 0.0, 0.0) + (0.3, 0.25) * int(ADAPT_EASE_SECONDS * 30):
        rt.update(talking(m), t)
        seen.append(rt.retarget(probe))
        t += 1 / 30
    return seen


def test_live_reference_adapts_to_a_neutral_face_and_eases_it_in() -> None:
    source = face(mouth=0.0, scale=1.5)
    rt = MotionRetargeter(source, RetargetSettings(smoothing=0))
    probes = talk_then_rest(rt)
    ref = rt.reference
    assert ref is not None
    # the reference is now the closed mouth, not the mid-word first face
    assert opening_gaps(ref, MOUTH_OPENING).gaps.max() < 0.5
    change = np.abs(probes[-1] - probes[0]).max()
    steps = [np.abs(b - a).max() for a, b in zip(probes, probes[1:], strict=False)]
    assert change > 5.0  # the new reference moves the face…
    assert max(steps) < 0.15 * change  # …over many frames: no visible jump
    assert steps[-1] < 1e-3  # and it has settled
    # mid-word now opens the portrait's mouth (the mid-word reference held it closed)
    assert opening_gaps(probes[-1], MOUTH_OPENING).gaps.max() > 0.2 * opening_gaps(source, MOUTH_OPENING).width


def test_live_reference_is_fixed_after_calibrate() -> None:
    source = face(mouth=0.0, scale=1.5)
    rt = MotionRetargeter(source, RetargetSettings(smoothing=0))
    rt.update(face(mouth=0.3), 0.0)
    rt.calibrate()
    calibrated = face(mouth=0.25)
    rt.update(calibrated, 0.04)
    np.testing.assert_allclose(rt.reference, calibrated)
    talk_then_rest(rt, 0.08)  # a more neutral face comes: calibrated is calibrated
    np.testing.assert_allclose(rt.reference, calibrated)


def test_live_reference_does_not_flicker_between_near_equals() -> None:
    """A still, closed face with tracker jitter (±0.3 px): once it is the reference, the
    jitter does not keep replacing it (each jittered copy is as neutral as the last)."""
    rng = np.random.default_rng(5)
    source = face(mouth=0.0, scale=1.5)
    rt = MotionRetargeter(source, RetargetSettings(smoothing=0))
    rt.update(face(mouth=0.3), 0.0)
    refs = []
    for i in range(120):
        still = face(mouth=0.02)
        still[:, :2] += rng.uniform(-0.3, 0.3, (len(still), 2)).astype(np.float32)
        rt.update(still, (i + 1) / 30)
        refs.append(rt.reference.copy())  # type: ignore[union-attr]
    settled = refs[int(ADAPT_EASE_SECONDS * 30) + 5:]
    assert all(np.array_equal(settled[0], r) for r in settled)


def test_first_keeps_the_first_face() -> None:
    source = face(mouth=0.0, scale=1.5)
    rt = MotionRetargeter(source, RetargetSettings(smoothing=0, reference="first"))
    first = face(mouth=0.3)
    rt.update(first, 0.0)
    talk_then_rest(rt, 0.04)
    np.testing.assert_allclose(rt.reference, first)


def test_a_motion_scripts_reference_is_its_rest_pose(tmp_path: Path, portrait_file: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A script poses the portrait's own face, so its neutral is known: no frame is chosen
    (a script that never rests, say a held smile, has no neutral frame to find)."""
    from streamfx.render import RenderJob, render

    with caplog.at_level(logging.DEBUG, logger="streamfx"):
        render(RenderJob(str(portrait_file), "nod", str(tmp_path / "nod.mp4"), max_size=256, progress=False))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reference:")]
    assert said == ["reference: the motion script's rest pose"]
