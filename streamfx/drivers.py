"""Choose a driver source from what the user typed: a camera, a video file or a script."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from streamfx.errors import InputError
from streamfx.motion import BUILTINS
from streamfx.sources.base import FrameSource

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
SCRIPT_EXTENSIONS = (".json", ".toml")


def driver_kind(spec: str) -> str:
    """'camera', 'video' or 'script' for a --driver value (without opening it)."""
    if spec == "webcam" or spec.isdigit() or re.fullmatch(r"/dev/video\d+", spec):
        return "camera"
    if spec in BUILTINS or spec.lower().endswith(SCRIPT_EXTENSIONS):
        return "script"
    return "video"


def open_driver(spec: str, *, neutral_landmarks: np.ndarray, realtime: bool = False,
                loop: bool = False, fps: float | None = None) -> FrameSource:
    kind = driver_kind(spec)
    if kind == "camera":
        from streamfx.sources.camera import CameraSource

        device: int | str = 0 if spec == "webcam" else (int(spec) if spec.isdigit() else spec)
        return CameraSource(device)
    if kind == "script":
        from streamfx.sources.script import ScriptSource

        return ScriptSource(spec, neutral_landmarks, fps=fps, loop=loop, realtime=realtime)
    from streamfx.sources.video import VideoFileSource

    return VideoFileSource(_existing(spec), realtime=realtime, loop=loop)


def check_driver(spec: str) -> None:
    """Raise the InputError :func:`open_driver` would for an unusable video driver, reading
    only its header (cheap: callers check before seconds of model loading)."""
    if driver_kind(spec) == "video":
        from streamfx.sources.video import probe_video

        probe_video(_existing(spec))


def _existing(spec: str) -> Path:
    path = Path(spec)
    if not path.exists():
        raise InputError(
            f"driver '{spec}' does not exist — give a video file, a camera (webcam, 0, /dev/video0) "
            f"or a motion script ({', '.join(BUILTINS)} or a .json/.toml file)"
        )
    return path
