"""Choose a driver source from what the user typed: a camera, a video file, a script, a
sound file or a microphone (a voice moves the mouth)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np

from streamfx.errors import InputError
from streamfx.motion import BUILTINS
from streamfx.sources.base import FrameSource
from streamfx.voice import VoiceSettings

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
SCRIPT_EXTENSIONS = (".json", ".toml")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac")


def driver_kind(spec: str) -> str:
    """'camera', 'video', 'script', 'audio' (a sound file), 'mic' or 'camera+voice'
    (``webcam+mic``; a video file may stand in for the camera and a sound file for the
    microphone) for a --driver value (without opening it)."""
    if spec == "mic" or spec.startswith("mic:"):
        return "mic"
    if "+" in spec and not Path(spec).exists():
        camera, _, sound = spec.rpartition("+")
        if driver_kind(camera) in ("camera", "video") and driver_kind(sound) in ("mic", "audio"):
            return "camera+voice"
    if spec.lower().endswith(AUDIO_EXTENSIONS):
        return "audio"
    if spec == "webcam" or spec.isdigit() or re.fullmatch(r"/dev/video\d+", spec):
        return "camera"
    if spec in BUILTINS or spec.lower().endswith(SCRIPT_EXTENSIONS):
        return "script"
    return "video"


def open_driver(spec: str, *, neutral_landmarks: np.ndarray, realtime: bool = False,
                loop: bool = False, fps: float | None = None,
                voice: VoiceSettings | None = None) -> FrameSource:
    kind = driver_kind(spec)
    if kind == "camera+voice":
        if not realtime:
            raise InputError(f"--driver {spec} works live only (a camera and a microphone)")
        from streamfx.capture import open_capture
        from streamfx.sources.voice import CameraVoiceSource

        camera, _, sound = spec.rpartition("+")
        picture = open_driver(camera, neutral_landmarks=neutral_landmarks, realtime=True, loop=loop, fps=fps)
        capture = open_capture(sound if driver_kind(sound) == "mic" else str(_existing(sound)))
        capture.start()
        return CameraVoiceSource(picture, capture, neutral_landmarks, settings=voice)
    if kind in ("audio", "mic"):
        if not realtime:
            if kind == "mic":
                raise InputError("--driver mic works live only — record the voice to a file and "
                                 "render with --driver voice.wav")
            from streamfx.sources.voice import VoiceFileSource

            return VoiceFileSource(_existing(spec), neutral_landmarks, fps=fps, settings=voice)
        from streamfx.capture import open_capture
        from streamfx.sources.voice import VoiceSource

        capture = open_capture(spec if kind == "mic" else str(_existing(spec)))
        capture.start()  # a busy microphone says so now, not from the capture thread
        return VoiceSource(capture, neutral_landmarks, fps=fps, settings=voice)
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
    kind = driver_kind(spec)
    if kind == "camera+voice":
        camera, _, sound = spec.rpartition("+")
        check_driver(camera)
        check_driver(sound)
    elif kind == "video":
        from streamfx.sources.video import probe_video

        probe_video(_existing(spec))
    elif kind == "audio":
        from streamfx.audio import require_audio

        require_audio(_existing(spec), "audio driver")


def _existing(spec: str) -> Path:
    path = Path(spec)
    if not path.exists():
        # a mistyped name of a built-in (tlak): say which one was meant
        close = difflib.get_close_matches(spec.lower(), [*BUILTINS, "webcam", "mic"], n=1, cutoff=0.6)
        if close and not path.suffix and len(path.parts) == 1:
            raise InputError(f"driver '{spec}' does not exist — did you mean '{close[0]}'?")
        raise InputError(
            f"driver '{spec}' does not exist — give a video file, a camera (webcam, 0, /dev/video0), "
            f"a sound file (.wav, .mp3, .m4a), mic or a motion script ({', '.join(BUILTINS)} or a .json/.toml file)"
        )
    return path
