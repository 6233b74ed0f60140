"""``--driver webcam+mic``: the camera drives the face; while it loses the face, the voice
drives the mouth. No webcam or microphone exists here: a video file (lp_d10.mp4) stands in
for the camera and a sound file (the voice of driver_with_audio.mp4) for the microphone,
through the same sources ``webcam+mic`` opens (drivers.open_driver). The retargeted
landmarks the engine is given are recorded (a spy around the real engine's render)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.animator import Animator
from streamfx.drivers import driver_kind, open_driver
from tests.test_voice import speech_files

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "media" / "driving" / "lp_d10.mp4"
CASES = ROOT.parent / "shared" / "cases"

pytestmark = pytest.mark.skipif(not VIDEO.exists() or not (CASES / "driver_with_audio.mp4").exists(),
                                reason="needs ../shared/media and ../shared/cases")


def test_camera_drives_the_face_and_the_voice_takes_the_mouth_when_the_face_is_lost(
        tmp_path: Path, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    voice = speech_files(tmp_path)[0]
    spec = f"{VIDEO}+{voice}"
    assert driver_kind(spec) == "camera+voice" and driver_kind("webcam+mic") == "camera+voice"
    anim = Animator(portrait, source_landmarks=portrait_landmarks, source_name="demo portrait")
    anim.update_settings(idle=False)  # lost face: the last pose is held, so only the voice moves the mouth
    targets: list[np.ndarray] = []
    render = anim.engine.render
    anim.engine.render = lambda target, *a: (targets.append(np.array(target)), render(target, *a))[1]  # type: ignore[method-assign]
    source = open_driver(spec, neutral_landmarks=anim.source_landmarks, realtime=True, loop=True)
    found, voiced, mouths, noses = [], [], [], []
    try:
        for i, frame in enumerate(itertools.islice(iter(source), 150)):
            hidden = 60 <= i < 120
            if hidden:
                frame.image = np.zeros_like(frame.image)  # the camera sees no face for 2 s
            anim.step(frame)
            found.append(anim.face_found)
            voiced.append(frame.extra["voice_mouth_open"])
            mouths.append(L.mouth_openness(targets[-1]))
            noses.append(targets[-1][1, 0])
    finally:
        source.close()
    found_a, voiced_a, mouths_a, noses_a = map(np.array, (found, voiced, mouths, noses))
    assert found_a[10:60].all() and not found_a[65:120].any()
    lost = slice(66, 120)  # after the 100 ms hand-over
    r = np.corrcoef(voiced_a[lost], mouths_a[lost])[0, 1]
    print(f"\nface lost: mouth vs voice r={r:.2f}; voice range {np.ptp(voiced_a[lost]):.2f}, "
          f"mouth range {np.ptp(mouths_a[lost]):.3f}; head x range while seen {np.ptp(noses_a[10:60]):.1f} px")
    # the held pose (easing to rest, idle off) moves the mouth a little; the voice the rest
    assert np.ptp(voiced_a[lost]) > 0.2 and r > 0.7
    assert np.ptp(noses_a[10:60]) > 3  # the camera moves the head while it sees the face
