"""A voice as the driver: a sound file or a microphone moves the mouth, idle motion the rest.

Offline (render) a file is analysed at each frame's exact time, with the mapping's lead.
Live, sound comes from an :class:`~streamfx.capture.AudioCapture` — a microphone, or a file
played at real time standing in for one — and each frame reads the newest 40 ms (live has
no future to lead with). Frames carry landmarks (a :class:`~streamfx.motion.FaceRig` posed
by the idle motion plus the voice's mouth channels), so nothing is tracked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from streamfx.audio import read_mono
from streamfx.capture import AudioCapture
from streamfx.motion import CHANNELS, FaceRig, Params, idle_params
from streamfx.sources.base import DriverFrame, FrameSource, register_source
from streamfx.voice import WINDOW_S, VoiceMouth, VoiceSettings, mouth_track

#: Analysis rate for offline files: plenty for levels and formants up to 4 kHz.
_ANALYSIS_RATE = 16_000


def _pose_params(t: float, mouth: dict[str, float]) -> Params:
    p: Params = dict.fromkeys(CHANNELS, 0.0)
    p.update(idle_params(t))
    p.update(mouth)
    return p


@register_source("voice-file")
class VoiceFileSource(FrameSource):
    """A sound file (.wav, .mp3, .m4a, a video's sound track…) driving the mouth, offline:
    ``fps`` frames a second for the length of the sound."""

    def __init__(self, path: str | Path, neutral_landmarks: np.ndarray, *, fps: float | None = None,
                 settings: VoiceSettings | None = None) -> None:
        self.path = Path(path)
        self.samples = read_mono(path, rate=_ANALYSIS_RATE, what="audio driver")
        self.fps = fps or 30.0
        self.rig = FaceRig(neutral_landmarks)
        self.settings = settings or VoiceSettings()
        self.frames = max(1, round(len(self.samples) / _ANALYSIS_RATE * self.fps))
        self.frame_count = self.frames

    def __iter__(self) -> Iterator[DriverFrame]:
        times = np.arange(self.frames) / self.fps
        for i, (t, mouth) in enumerate(zip(times, mouth_track(self.samples, _ANALYSIS_RATE, times,
                                                               self.settings), strict=True)):
            yield DriverFrame(index=i, timestamp=float(t), captured_at=time.perf_counter(),
                              landmarks=self.rig.pose(_pose_params(float(t), mouth)))


@register_source("voice")
class VoiceSource(FrameSource):
    """A live voice (:class:`AudioCapture`) driving the mouth at ``fps``, paced by the wall clock."""

    live = True

    def __init__(self, capture: AudioCapture, neutral_landmarks: np.ndarray, *, fps: float | None = None,
                 settings: VoiceSettings | None = None) -> None:
        self.capture = capture
        self.fps = fps or 30.0
        self.rig = FaceRig(neutral_landmarks)
        self.voice = VoiceMouth(capture.rate, settings)
        self.voice.settings.lead = 0.0  # live: the newest sound is all there is
        self.frame_count = None
        self._closed = False

    @property
    def settings(self) -> VoiceSettings:
        return self.voice.settings

    @property
    def voice_settings(self) -> VoiceSettings:
        """What the panel changes live (LivePipeline.update_voice)."""
        return self.voice.settings

    def __iter__(self) -> Iterator[DriverFrame]:
        self.capture.start()
        start = time.perf_counter()
        n_window = round(WINDOW_S * self.capture.rate)
        i = 0
        while not self._closed:
            t = i / self.fps
            delay = start + t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5:  # fell behind (a stall): skip ahead rather than burst
                i = int((time.perf_counter() - start) * self.fps)
                t = i / self.fps
            mouth = self.voice.update(self.capture.latest(n_window), 1 / self.fps)
            yield DriverFrame(index=i, timestamp=t, captured_at=time.perf_counter(),
                              landmarks=self.rig.pose(_pose_params(t, mouth)))
            i += 1

    def close(self) -> None:
        self._closed = True
        self.capture.close()


@register_source("camera+voice")
class CameraVoiceSource(FrameSource):
    """``--driver webcam+mic``: the camera's frames, each carrying the voice's mouth channels
    (``frame.extra``, keys ``voice_*``) for the Animator to use while the camera loses the face
    (:func:`streamfx.voice.mouth_overlay`)."""

    live = True

    def __init__(self, camera: FrameSource, capture: AudioCapture, neutral_landmarks: np.ndarray, *,
                 settings: VoiceSettings | None = None) -> None:
        self.camera = camera
        self.capture = capture  # the live sound for viewers too (live.cli.attach_audio)
        self.voice = VoiceMouth(capture.rate, settings)
        self.voice.settings.lead = 0.0
        self.fps = getattr(camera, "fps", None) or 30.0
        self.frame_count = None

    @property
    def voice_settings(self) -> VoiceSettings:
        return self.voice.settings

    def __iter__(self) -> Iterator[DriverFrame]:
        self.capture.start()
        n_window = round(WINDOW_S * self.capture.rate)
        last: float | None = None
        for frame in self.camera:
            dt = 1 / self.fps if last is None else max(1e-3, frame.timestamp - last)
            last = frame.timestamp
            mouth = self.voice.update(self.capture.latest(n_window), dt)
            frame.extra.update({f"voice_{k}": v for k, v in mouth.items()})
            yield frame

    def close(self) -> None:
        self.camera.close()
        self.capture.close()


__all__ = ["CameraVoiceSource", "VoiceFileSource", "VoiceSource"]
