"""``streamfx live --record out.mp4``: the live output and its sound, written safely.

The file is a :class:`~streamfx.sinks.file.VideoFileSink` (fragmented MP4 or WebM), so a
killed process still leaves a playable file up to the last fragment (a quarter second). A
transparent live background stays transparent in a WebM (VP9 alpha) and is flattened over
black in an MP4, as for every other output without alpha.
Picture and sound share one clock: each frame is placed at the time its driver frame was
captured (the pipeline hands this sink ``captured_at``), each block of sound at the time it
was heard, both counted from the first frame — so they play back in sync whatever the
animation's latency.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from streamfx.capture import AudioCapture
from streamfx.sinks.base import FrameSink, register_sink
from streamfx.sinks.file import VideoFileSink

log = logging.getLogger("streamfx")

RECORD_EXTENSIONS = (".mp4", ".webm")
"""What --record writes: containers that carry sound and stay playable after a kill (MOV does not)."""


@register_sink("record")
class LiveRecorder(FrameSink):
    """Records frames (at their capture times) and, with ``capture``, its sound."""

    name = "record"
    capture_time = True
    """Ask the live pipeline for each frame's capture time instead of its production time."""

    def __init__(self, path: str | Path, *, fps: float, capture: AudioCapture | None = None,
                 alpha: bool = False) -> None:
        self.file = VideoFileSink(path, fps=fps, audio_rate=capture.rate if capture else None,
                                  audio_channels=1, alpha=alpha)
        # with alpha (a .webm of a transparent canvas) the pipeline hands over the RGBA
        # frames; otherwise its one flattened copy
        self.accepts_alpha = self.file.alpha
        self.capture = capture
        self._lock = threading.Lock()  # frames (sink thread) and sound (capture thread) share the muxer
        self._t0: float | None = None
        self._last: float | None = None
        self._unlisten = capture.listen(self._on_sound) if capture else None
        self._closed = False

    def open(self, width: int, height: int, fps: float | None = None) -> None:
        with self._lock:
            self.file.open(width, height, fps)

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        """``timestamp``: the ``time.perf_counter()`` the picture's driver frame was captured."""
        with self._lock:
            if self._closed:
                return
            if timestamp is None or timestamp == self._last:
                return  # a repeat of the same moment adds nothing to a recording
            if self._t0 is None:
                self._t0 = timestamp
            self._last = timestamp
            self.file.write(frame, timestamp - self._t0)

    def _on_sound(self, block: np.ndarray, t: float) -> None:
        with self._lock:
            if self._closed or self._t0 is None or self.file.audio_rate is None:
                return
            rate = self.file.audio_rate
            # the block's samples end at t; keep those from the first frame on, in order
            start = t - len(block) / rate - self._t0
            have = self.file.audio_seconds
            if start + len(block) / rate <= have:
                return
            if start > have + 0.1:  # a gap (the device dropped sound): fill it with silence
                self.file.write_audio(np.zeros((1, round((start - have) * rate)), np.float32))
                have = self.file.audio_seconds
            skip = max(0, round((have - start) * rate))
            self.file.write_audio(block[None, skip:])

    def close(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.file.close()
        log.info("recorded %d frames to '%s'", self.file.frames_written, self.file.path)


__all__ = ["RECORD_EXTENSIONS", "LiveRecorder"]
