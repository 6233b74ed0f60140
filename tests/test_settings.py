"""AnimatorSettings: one object, validated one way; engine options reach render and live;
live changes take one path; the layers switch independently."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamfx.errors import InputError
from streamfx.settings import AnimatorSettings


def _spy_engines(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the settings every engine is created with (the real engines still run)."""
    import engines

    seen: list[Any] = []
    real = engines.create_engine

    def spy(name: str = "auto", settings: Any = None, **kw: Any) -> Any:
        seen.append((name, settings))
        return real(name, settings, **kw)

    monkeypatch.setattr(engines, "create_engine", spy)
    return seen


def test_engine_options_reach_render(portrait_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamfx.cli import main

    seen = _spy_engines(monkeypatch)
    script = tmp_path / "short.json"
    script.write_text(json.dumps({"duration": 0.2, "tracks": {"mouth_open": [[0, 0], [0.2, 0.6]]}}))
    out = tmp_path / "out.mp4"
    assert main(["render", str(portrait_file), str(script), "-o", str(out), "-q", "--engine", "onnxruntime",
                 "--threads", "1", "--no-eyelids"]) == 0
    assert out.stat().st_size > 0
    (name, options), = seen
    assert name == "onnxruntime" and options.threads == 1
    assert options.generator.eyelids is False and options.generator.mouth_synthesis is True


def test_engine_options_reach_live(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamfx.live.cli import add_live_arguments, build_pipeline
    from streamfx.live.pipeline import LiveSettings

    seen = _spy_engines(monkeypatch)
    p = argparse.ArgumentParser()
    add_live_arguments(p)
    args = p.parse_args(["--driver", "idle", "--no-vcam", "--engine", "onnxruntime", "--threads", "1", "--no-mouth"])
    pipe = build_pipeline(args, LiveSettings(width=320, height=180))
    try:
        (name, options), = seen
        assert name == "onnxruntime" and options.threads == 1
        engine = pipe.animator.engine  # type: ignore[attr-defined]
        assert engine.active.settings.threads == 1
        # the engine reads the animator's generator settings: the same object
        assert engine.active.settings.generator is pipe.animator.settings.generator  # type: ignore[attr-defined]
        assert pipe.animator.settings.generator.mouth_synthesis is False  # type: ignore[attr-defined]
        assert pipe.animator.settings.generator.eyelids is True  # type: ignore[attr-defined]
    finally:
        pipe.animator.close()


def test_settings_are_validated_one_way(portrait_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streamfx.cli import main

    with pytest.raises(InputError, match="engine threads must be 0") as lib:
        AnimatorSettings.of(threads=-1)
    assert main(["render", str(portrait_file), "idle", "-o", "x.mp4", "--threads", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"streamfx: error: {lib.value}"  # the CLI says exactly what the library says
    with pytest.raises(InputError, match="unknown engine"):
        AnimatorSettings(engine="vulkan").validate()


def test_live_changes_take_one_path(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    from streamfx.animator import Animator
    from streamfx.web.server import validate_settings

    assert {"eyelids", "gaze", "mouth_synthesis", "sharpen", "color_match", "head_gain"} <= set(AnimatorSettings.live_types())
    with pytest.raises(ValueError, match="sharpen must be between 0 and 2"):
        validate_settings({"sharpen": 5})  # the panel's check …
    anim = Animator(portrait, source_landmarks=portrait_landmarks, track_drivers=False)
    try:
        with pytest.raises(InputError, match="between 0 and 2"):
            anim.update_settings(sharpen=5, head_gain=2.0)  # … is the animator's: all or nothing
        assert anim.settings.retarget.head_gain == 1.0 and anim.settings.generator.sharpen == 0.0
        with pytest.raises(InputError, match="unknown setting"):
            anim.update_settings(grid_step=3.0)  # shapes the prepared source: not live
        anim.update_settings(eyelids=False, head_gain=2.0)
        assert anim.settings_dict()["eyelids"] is False and anim.settings_dict()["head_gain"] == 2.0
        assert anim.retargeter.settings.head_gain == 2.0
        assert anim.engine.settings.generator.eyelids is False  # the engine sees it at once
    finally:
        anim.close()


def test_no_mouth_switches_off_the_mouth_only(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    from streamfx import landmarks as L
    from streamfx.generator import GeneratorSettings, WarpGenerator
    from streamfx.motion import FaceRig, MotionScript

    rig = FaceRig(portrait_landmarks)
    p = MotionScript.builtin("idle").params(0.0)
    p.update(blink_left=1.0, blink_right=1.0, mouth_open=0.8, gaze_x=0.0, yaw=0, pitch=0, roll=0, ty=0)
    target = rig.pose(p)
    frames = {}
    for name, gs in (("all", GeneratorSettings()), ("no mouth", GeneratorSettings(mouth_synthesis=False)),
                     ("no eyelids", GeneratorSettings(eyelids=False))):
        g = WarpGenerator(gs)
        g.prepare(portrait, portrait_landmarks)
        frames[name] = g.render(target).astype(float)
    mx, my = ((target[L.UPPER_LIP_MID, :2] + target[L.LOWER_LIP_MID, :2]) / 2).astype(int)
    ex, ey = portrait_landmarks[L.RIGHT_IRIS[0], :2].astype(int)
    mouth, eye = (slice(my - 2, my + 3), slice(mx - 3, mx + 4)), (slice(ey - 2, ey + 3), slice(ex - 2, ex + 3))
    assert frames["no mouth"][mouth].mean() > frames["all"][mouth].mean() + 10  # no dark cavity
    assert np.array_equal(frames["no mouth"][eye], frames["all"][eye])  # the lids still close
    assert frames["no eyelids"][eye].mean() < frames["all"][eye].mean() - 10  # the pupil shows
    assert np.array_equal(frames["no eyelids"][mouth], frames["all"][mouth])
