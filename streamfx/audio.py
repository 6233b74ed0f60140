"""Sound from files: a file's audio decoded and resampled with PyAV, read in order.

Render muxes it next to the picture (:class:`AudioFeed`), and audio drivers analyse it
(:func:`read_mono`). Times are seconds; samples are float32 in −1…1, planar
(channels × samples).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from streamfx.errors import InputError, require_file

#: The rate everything is resampled to: Opus only takes 48 kHz, and AAC is happy with it.
AUDIO_RATE = 48_000

_AUDIO_HINT = "a .wav, .mp3, .m4a, .ogg, .flac or a video with sound"


class NoAudioStreamError(InputError):
    """A file that should carry sound has no audio stream."""


def _open(path: str | Path, what: str) -> Any:
    p = require_file(path, what, _AUDIO_HINT)
    try:
        return av.open(str(p), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        raise InputError(f"{what} '{path}' is not a sound file that can be decoded (a text file, or a renamed "
                         f"or damaged one?) — use {_AUDIO_HINT}") from None


def has_audio(path: str | Path) -> bool:
    """True when ``path`` opens and holds an audio stream (header only; False if it does not open)."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False
    with container:
        return bool(container.streams.audio)


def _first_video_time(container: Any) -> float:
    """When the first picture is shown (seconds, container time): where a driver's time 0 is."""
    if not container.streams.video:
        return 0.0
    v = container.streams.video[0]
    if v.start_time is not None and v.time_base:
        return float(v.start_time * v.time_base)
    return 0.0


def iter_audio(path: str | Path, *, rate: int = AUDIO_RATE, channels: int = 2,
               what: str = "audio file", align_to_video: bool = True) -> Iterator[np.ndarray]:
    """The audio of ``path`` as float32 chunks (channels × n), resampled to ``rate``.

    With ``align_to_video`` (a driver video's own sound), sample 0 is at the time of the
    file's first picture: audio before it is dropped, and silence is put in front when the
    sound starts later, so it plays in sync with the driver's frames (whose time 0 is their
    first frame). Otherwise sample 0 is the start of the sound. Raises
    :class:`NoAudioStreamError` for a file without sound.
    """
    container = _open(path, what)
    try:
        if not container.streams.audio:
            raise NoAudioStreamError(
                f"{what} '{path}' has no audio stream — use {_AUDIO_HINT}")
        stream = container.streams.audio[0]
        layout = "mono" if channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        zero = _first_video_time(container) if align_to_video else None
        skip: int | None = None  # samples still to drop (> 0) once the start is known
        for frame in _decode(container, stream):
            if skip is None:
                t0 = frame.time if frame.time is not None else 0.0
                start = zero if zero is not None else t0
                skip = round((start - t0) * rate)
                if skip < 0:  # the sound starts after the first picture
                    yield np.zeros((channels, -skip), np.float32)
                    skip = 0
            for out in resampler.resample(frame):
                chunk, skip = _trimmed(out, skip)
                if chunk.shape[1]:
                    yield chunk
        for out in resampler.resample(None):  # what the resampler still holds
            chunk, skip = _trimmed(out, skip or 0)
            if chunk.shape[1]:
                yield chunk
    finally:
        container.close()


def _trimmed(out: Any, skip: int) -> tuple[np.ndarray, int]:
    """A resampled frame as channels × samples float32, less the first ``skip`` samples still
    to drop; and how many are left to drop after it."""
    chunk = out.to_ndarray().astype(np.float32, copy=False)
    cut = min(skip, chunk.shape[1])
    return chunk[:, cut:], skip - cut


def require_audio(path: str | Path, what: str = "audio file") -> None:
    """Raise the one-line InputError (:class:`NoAudioStreamError` for a file without sound)
    that reading ``path``'s sound would, now, opening the file only."""
    container = _open(path, what)
    with container:
        if not container.streams.audio:
            raise NoAudioStreamError(f"{what} '{path}' has no audio stream — use {_AUDIO_HINT}")


def _decode(container: Any, stream: Any) -> Iterator[Any]:
    """Decoded audio frames; a damaged tail ends the sound instead of the render."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except (av.FFmpegError, EOFError):
                continue
    except (av.FFmpegError, EOFError, OSError):
        return


def read_mono(path: str | Path, *, rate: int = 16_000, what: str = "audio driver",
              align_to_video: bool = False) -> np.ndarray:
    """The whole sound of ``path`` as one mono float32 array at ``rate`` (for analysis)."""
    chunks = [c[0] for c in iter_audio(path, rate=rate, channels=1, what=what,
                                       align_to_video=align_to_video)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


class AudioFeed:
    """Reads a file's sound in order, by the sample: ``take(n)`` gives exactly ``n``
    samples, silence once the sound has ended (so a soundtrack is padded to the picture)."""

    def __init__(self, path: str | Path, *, rate: int = AUDIO_RATE, channels: int = 2,
                 what: str = "audio file", align_to_video: bool = True) -> None:
        self.rate = rate
        self.channels = channels
        self._chunks = iter_audio(path, rate=rate, channels=channels, what=what,
                                  align_to_video=align_to_video)
        self._buf = np.zeros((channels, 0), np.float32)
        self.position = 0
        """Samples handed out so far."""
        self.ended = False

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` samples (channels × n float32)."""
        while self._buf.shape[1] < n and not self.ended:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
            else:
                self._buf = np.concatenate([self._buf, chunk], axis=1)
        out, self._buf = self._buf[:, :n], self._buf[:, n:]
        if out.shape[1] < n:
            out = np.concatenate([out, np.zeros((self.channels, n - out.shape[1]), np.float32)], axis=1)
        self.position += n
        return out

    def take_until(self, seconds: float) -> np.ndarray:
        """The samples from where the last call ended up to ``seconds`` (maybe none)."""
        return self.take(max(0, round(seconds * self.rate) - self.position))

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


__all__ = ["AUDIO_RATE", "AudioFeed", "NoAudioStreamError", "has_audio", "iter_audio", "read_mono",
           "require_audio"]
