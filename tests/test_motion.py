"""Motion scripts: built-ins, keyframe files, and the face rig."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.motion import BUILTINS, CHANNELS, FaceRig, MotionScript, resolve_script
from streamfx.sources.script import ScriptSource


def test_every_builtin_starts_neutral_and_moves(portrait_landmarks: np.ndarray) -> None:
    rig = FaceRig(portrait_landmarks)
    for name in BUILTINS:
        s = MotionScript.builtin(name)
        start = rig.pose(s.params(0.0))
        np.testing.assert_allclose(start, portrait_landmarks, atol=0.05 * L.interocular(portrait_landmarks))
        spread = max(np.abs(rig.pose(s.params(t)) - start).max() for t in np.linspace(0, s.duration, 40))
        assert spread > 1.0, name


def test_idle_blinks_and_talk_opens_the_mouth(portrait_landmarks: np.ndarray) -> None:
    rig = FaceRig(portrait_landmarks)
    idle, talk = MotionScript.builtin("idle"), MotionScript.builtin("talk")
    eyes = [L.eye_openness(rig.pose(idle.params(t))) for t in np.arange(0, 10, 1 / 30)]
    assert min(eyes) < 0.4 * max(eyes)  # at least one real blink
    mouth = [L.mouth_openness(rig.pose(talk.params(t))) for t in np.arange(0, 8, 1 / 30)]
    assert max(mouth) > min(mouth) + 0.2  # the astronaut smiles with parted lips already


def test_rig_head_pose_turns_the_face(portrait_landmarks: np.ndarray) -> None:
    rig = FaceRig(portrait_landmarks)
    p = dict.fromkeys(CHANNELS, 0.0)
    p["roll"] = 10.0
    rolled = rig.pose(p)
    v0 = portrait_landmarks[263, :2] - portrait_landmarks[33, :2]
    v1 = rolled[263, :2] - rolled[33, :2]
    angle = np.degrees(np.arctan2(v1[1], v1[0]) - np.arctan2(v0[1], v0[0]))
    assert 8 < angle < 12
    p = dict.fromkeys(CHANNELS, 0.0)
    p["yaw"] = 20.0
    yawed = rig.pose(p)
    assert abs(yawed[L.NOSE_TIP, 0] - portrait_landmarks[L.NOSE_TIP, 0]) > 3


def test_keyframe_file_json_and_toml(tmp_path: Path, portrait_landmarks: np.ndarray) -> None:
    j = tmp_path / "wave.json"
    j.write_text(json.dumps({"fps": 25, "base": "idle", "tracks": {"mouth_open": [[0, 0], [1, 0.8], [2, 0]], "yaw": [[0, 0], [2, 15]]}}))
    s = MotionScript.load(j)
    assert s.fps == 25 and s.duration == 2 and s.frame_count == 50
    assert s.params(1.0)["mouth_open"] == pytest.approx(0.8)
    t = tmp_path / "nod.toml"
    t.write_text('fps = 30\nduration = 3.0\n[tracks]\npitch = [[0, 0], [1.5, 10], [3, 0]]\n')
    s2 = MotionScript.load(t)
    assert s2.params(1.5)["pitch"] == pytest.approx(10)
    frames = list(ScriptSource(str(t), portrait_landmarks))
    assert len(frames) == 90 and frames[0].landmarks is not None and frames[0].image is None


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid"),
    (json.dumps({"tracks": {"wiggle": [[0, 1]]}}), "unknown channel"),
    (json.dumps({"tracks": {"yaw": [[1, 0], [0, 1]]}}), "time order"),
    (json.dumps({"tracks": {}}), "no duration"),
    (json.dumps({"base": "dance", "duration": 2}), "unknown base"),
])
def test_bad_scripts_are_one_line_errors(tmp_path: Path, content: str, needle: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        MotionScript.load(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_resolve_script_names_builtins_on_a_typo() -> None:
    with pytest.raises(InputError) as e:
        resolve_script("idel")
    assert "idle" in str(e.value)
