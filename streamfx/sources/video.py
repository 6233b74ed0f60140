"""Driver frames from a video file, decoded with PyAV."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from streamfx.errors import InputError, TruncatedInputError, require_file
from streamfx.imageio import VIDEO_SUFFIXES
from streamfx.motion import BUILTINS
from streamfx.sources.base import DriverFrame, FrameSource, register_source

log = logging.getLogger("streamfx")

DEFAULT_FPS = 30.0

#: Fewer decoded frames than this share of the declared count means the file was cut short.
TRUNCATION_RATIO = 0.9

#: Paced playback that falls this far behind the wall clock re-anchors instead of bursting
#: frames out as fast as possible to catch up (a stalled consumer must not cause a flood).
_MAX_LAG_S = 0.5

#: A looping source reads a file up to this size into memory once and loops that copy, so
#: deleting, moving or rewriting the file while live changes nothing on screen. Larger
#: files are re-read from disk on every pass.
LOOP_IN_MEMORY_BYTES = 256 * 1024 * 1024

_VIDEO_HINT = "use .mp4, .avi, .mov or .webm"

# AVColorSpace values that mean BT.601 (or "unspecified", which FFmpeg also treats as 601).
_BT601 = {2, 5, 6}
_RANGE_JPEG = 2


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int | None
    """Declared by the container, or estimated from duration × fps; None if neither is known."""
    duration: float | None
    """Seconds, or None when the container does not say."""


def _to_rgb(frame: Any) -> np.ndarray:
    """RGB uint8 from a decoded frame.

    The common case, limited-range BT.601 yuv420p at even size, goes through OpenCV, ~10×
    faster than swscale (0.3 vs 3 ms at 512²; within ±4 levels). Anything else (BT.709,
    full range, other pixel formats) takes swscale, which honours the frame's colour tags.
    """
    if (
        frame.format.name == "yuv420p"
        and frame.width % 2 == 0
        and frame.height % 2 == 0
        and frame.colorspace in _BT601
        and frame.color_range != _RANGE_JPEG
    ):
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def _not_a_video(shown: str) -> InputError:
    """The one line for a file that does not open as a video: if its name says video, the
    name is not the problem — it is a renamed or damaged file (the image loader says the same)."""
    suffix = Path(shown).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return InputError(f"'{shown}' is not a video that can be decoded: it is named {suffix} but holds no "
                          "playable video (a text file, or a renamed or damaged one?) — use a video that plays "
                          "in a media player")
    return InputError(f"'{shown}' is not a video that can be decoded ({_VIDEO_HINT})")


def _no_video_stream(shown: str, container: Any) -> InputError:
    """The file opened but holds no picture: say what it does hold (audio, subtitles…)."""
    kinds = sorted({s.type for s in container.streams})
    voice = (" — or, for its sound to move the mouth, that sound as a voice file (.m4a, .wav, .mp3)"
             if "audio" in kinds else "")
    return InputError(
        f"'{shown}' has no video stream ({' and '.join(kinds)} only) — use a video file with a picture, "
        f"or a motion script ({', '.join(BUILTINS)} or a .json/.toml file){voice}"
    )


def _read_file(path: str | Path) -> bytes:
    """The whole driver video, as bytes (or InputError, as :func:`_open` would say it)."""
    p = require_file(path, "driver video", _VIDEO_HINT)
    try:
        return p.read_bytes()
    except PermissionError:
        raise InputError(
            f"cannot read driver video '{path}' (permission denied) — check the file's permissions"
        ) from None


def _open(path: str | Path, data: bytes | None = None) -> tuple[Any, Any]:
    """Open ``path`` — or ``data``, its contents read earlier — and return (container, first
    video stream), or raise InputError."""
    shown = str(path)
    if data is None:
        p = require_file(path, "driver video", _VIDEO_HINT)
        size = p.stat().st_size
    else:
        size = len(data)
    if size == 0:
        raise InputError(f"driver video '{shown}' is empty (0 bytes) — re-export or re-download it")
    try:
        container = av.open(str(p) if data is None else io.BytesIO(data), metadata_errors="ignore")
    except PermissionError:
        raise InputError(
            f"cannot read driver video '{shown}' (permission denied) — check the file's permissions"
        ) from None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        # A cut-off mp4/mov whose index (moov atom) was at the end fails here too: say so.
        if data is None:
            with p.open("rb") as fh:
                head = fh.read(12)
        else:
            head = data[:12]
        if head[4:8] == b"ftyp":
            raise TruncatedInputError(
                f"driver video '{shown}' is truncated or corrupt: its index is missing, so no frame "
                "can be decoded — was the recording cut off? Use a complete copy or re-export it"
            ) from None
        raise _not_a_video(shown) from None
    try:
        if not container.streams.video:
            raise _no_video_stream(shown, container) if container.streams else _not_a_video(shown)
        fmt = container.format.name or ""
        # FFmpeg happily opens a .jpg as a one-frame "video"; a still is not a driver.
        if fmt.endswith("_pipe") or fmt in ("image2", "png", "webp"):
            named = Path(shown).suffix.lower()
            what = f"a still image named {named}" if named in VIDEO_SUFFIXES else "a still image"
            raise InputError(
                f"'{shown}' is {what}, not a video — a driver moves: use a video (.mp4, .avi, .mov or .webm) "
                f"or a motion script ({', '.join(BUILTINS)} or a .json/.toml file)"
            )
        stream = container.streams.video[0]
        if stream.codec_context is None or not stream.width or not stream.height:
            raise _not_a_video(shown)
    except BaseException:
        container.close()
        raise
    return container, stream


def _info(container: Any, stream: Any) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate and float(rate) > 0 else DEFAULT_FPS
    duration: float | None = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    frame_count: int | None = int(stream.frames) if stream.frames and stream.frames > 0 else None
    if frame_count is None and duration:
        frame_count = max(1, round(duration * fps))
    return VideoInfo(int(stream.width), int(stream.height), fps, frame_count, duration)


def probe_video(path: str | Path) -> VideoInfo:
    """Size, frame rate, frame count and duration from the container header (nothing decoded)."""
    container, stream = _open(path)
    try:
        return _info(container, stream)
    finally:
        container.close()


@register_source("video")
class VideoFileSource(FrameSource):
    """Yield a video's frames as RGB :class:`DriverFrame`s.

    ``timestamp`` is media time in seconds, starting at 0 and still increasing across loops.
    With ``realtime=True`` frames are released at their media time on the wall clock, for
    live output; otherwise as fast as they decode. ``max_frames`` caps the total yielded.

    A damaged file is decoded as far as it goes; then, once iteration ends, a
    :class:`TruncatedInputError` reports how many frames made it (``truncated`` and
    ``decoded_frames`` say the same). When looping, a damaged file is instead logged once and
    its good part looped, since a live stream should not stop for it.

    A looping source keeps the file's bytes (up to ``in_memory_limit``, default
    :data:`LOOP_IN_MEMORY_BYTES`) and loops that copy: the file may be deleted, moved or
    rewritten while live and the loop goes on unchanged (one log line says it noticed).
    ``in_memory`` says whether that is the case; a larger file is re-read each pass and a
    pass that cannot open it any more raises InputError.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        realtime: bool = False,
        loop: bool = False,
        max_frames: int | None = None,
        in_memory_limit: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._shown = str(path)
        self.realtime = realtime
        self.loop = loop
        self.max_frames = max_frames
        self.live = realtime
        limit = LOOP_IN_MEMORY_BYTES if in_memory_limit is None else in_memory_limit
        self._data: bytes | None = None
        if loop and require_file(path, "driver video", _VIDEO_HINT).stat().st_size <= limit:
            self._data = _read_file(path)
        self._on_disk = _disk_state(self.path)
        self._disk_noted = False
        container, stream = _open(path, self._data)
        self.info = _info(container, stream)
        self.fps = self.info.fps
        self.size = (self.info.width, self.info.height)
        self.frame_count = self.info.frame_count
        if max_frames is not None and (
            self.frame_count is None or loop or max_frames < self.frame_count
        ):
            self.frame_count = max_frames
        self.decoded_frames = 0
        """Frames yielded so far (all passes when looping)."""
        self.truncated = False
        self._pending: Any = container  # reused by the first pass instead of opening twice
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def in_memory(self) -> bool:
        """True when the loop plays a copy held in memory (the file itself no longer matters)."""
        return self._data is not None

    def close(self) -> None:
        """Stop iteration (from any thread) and release the file."""
        self._stop.set()
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()

    def _container(self) -> tuple[Any, Any]:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            return pending, pending.streams.video[0]
        self._note_disk_change()
        return _open(self.path, self._data)

    def _note_disk_change(self) -> None:
        """Say once, truthfully, what a loop does after the file changed on disk."""
        now = _disk_state(self.path)
        if self._disk_noted or now == self._on_disk:
            return
        self._disk_noted = True
        what = "was deleted or moved" if now is None else "changed on disk"
        if self._data is not None:
            log.warning("driver video '%s' %s; still looping the copy read at start "
                        "(restart to use a new file)", self._shown, what)
        elif now is not None:
            log.warning("driver video '%s' %s; looping the new contents", self._shown, what)
        # too large to hold and gone: the reopen raises InputError and says so

    def __iter__(self) -> Iterator[DriverFrame]:
        self.decoded_frames = 0
        self.truncated = False
        if self.max_frames is not None and self.max_frames <= 0:
            return
        frame_dur = 1.0 / self.fps
        offset = 0.0  # media time added per completed loop
        wall0: float | None = None
        last_ts = -frame_dur
        while not self._stop.is_set():
            container, stream = self._container()
            pass_frames = 0
            error: str | None = None
            first_time: float | None = None
            pass_end = offset
            try:
                # Let FFmpeg use frame and slice threads: several times faster for H.264.
                stream.thread_type = "AUTO"
                for item in self._decode(container, stream):
                    if isinstance(item, str):
                        error = item
                        continue
                    if self._stop.is_set():
                        return
                    t = item.time
                    if t is None:
                        ts = offset + pass_frames * frame_dur
                    else:
                        if first_time is None:
                            first_time = t
                        ts = offset + (t - first_time)
                    if ts <= last_ts:  # missing/duplicate pts: keep time strictly increasing
                        ts = last_ts + frame_dur
                    last_ts = ts
                    pass_end = ts + frame_dur
                    if self.realtime:
                        now = time.perf_counter()
                        if wall0 is None or now - (wall0 + ts) > _MAX_LAG_S:
                            wall0 = now - ts
                        delay = wall0 + ts - now
                        if delay > 0 and self._stop.wait(delay):
                            return
                    image = _to_rgb(item)
                    self.decoded_frames += 1
                    pass_frames += 1
                    yield DriverFrame(
                        index=self.decoded_frames - 1,
                        timestamp=ts,
                        captured_at=time.perf_counter(),
                        image=image,
                    )
                    if self.max_frames is not None and self.decoded_frames >= self.max_frames:
                        return
            finally:
                container.close()

            declared = self.info.frame_count
            short = declared is not None and pass_frames < TRUNCATION_RATIO * declared
            if error is not None or short:
                self.truncated = True
                why = error or f"only {pass_frames} of {declared} declared frames decoded"
                if not self.loop or pass_frames == 0:
                    raise TruncatedInputError(
                        f"driver video '{self._shown}' is truncated or corrupt after {pass_frames} frames "
                        f"({why}) — re-export or re-download it; the frames before that were used"
                    )
                if self.decoded_frames == pass_frames:  # first pass: say it once
                    log.warning(
                        "driver video '%s' is truncated or corrupt after %d frames (%s); %s",
                        self._shown,
                        pass_frames,
                        why,
                        # only a copy in memory is sure to decode the same way next time
                        "looping those" if self._data is not None else "looping it as far as it decodes",
                    )
            if not self.loop:
                return
            if pass_frames == 0:  # nothing decodable: looping would spin forever
                return
            offset = pass_end

    def _decode(self, container: Any, stream: Any) -> Iterator[Any]:
        """Decoded frames, plus a string describing the first error if the file is damaged.

        Demuxing and decoding separately lets a bad packet be skipped rather than ending
        the pass, so every frame that can be decoded is.
        """
        error: str | None = None
        try:
            for packet in container.demux(stream):
                # A packet the demuxer could only partly read: the file ends mid-frame. PyAV
                # raises nothing for this; it is how a byte-truncated mp4 shows up.
                if packet.is_corrupt and error is None:
                    error = "file ends mid-frame"
                try:
                    yield from packet.decode()
                except (av.FFmpegError, EOFError) as exc:
                    if error is None:
                        error = f"decode error: {exc}"
        except (av.FFmpegError, EOFError, OSError) as exc:
            if error is None:
                error = f"read error: {exc}"
        if error is not None:
            yield error


def _disk_state(path: Path) -> tuple[int, int, int, int] | None:
    """What identifies the file's current contents (device, inode, size, mtime), or None if gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


__all__ = ["LOOP_IN_MEMORY_BYTES", "VideoFileSource", "VideoInfo", "probe_video"]
