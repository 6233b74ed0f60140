"""Render to a video file: .mp4 (H.264), .webm (VP9), .mov (ProRes 4444) or .gif (global
palette), all through PyAV, or to a PNG sequence. With ``alpha`` the transparent formats keep
the frames' alpha: WebM as VP9 with alpha (yuva420p), MOV as ProRes 4444 (yuva444p10le),
GIF with a transparent palette entry, PNGs as RGBA.

Frames keep their times: a frame written with a ``timestamp`` (seconds from the first) is
shown at that time, so a variable-rate driver comes out with its own timing; without one,
frame *n* is shown at n / fps. Either way the file has exactly as many frames as were
written. MP4, WebM and MOV can carry sound as well (AAC, Opus, AAC), with or without alpha:
:meth:`VideoFileSink.write_audio`.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import cv2
import numpy as np

from streamfx.errors import OutputError
from streamfx.sinks.base import FrameSink, register_sink

log = logging.getLogger("streamfx")

SUPPORTED_EXTENSIONS = (".mp4", ".webm", ".mov", ".gif")
#: Outputs that can carry alpha (and a PNG sequence: a folder or a ``%05d.png`` pattern).
ALPHA_EXTENSIONS = (".webm", ".mov", ".gif")
_ALPHA_HINT = "write .webm, .mov, .gif or a PNG sequence (frames/%05d.png), or choose an opaque --background"

# ProRes profiles of prores_ks: 3 = 422 HQ, 4 = 4444 (the one with alpha)
_PRORES_4444 = "4"

#: x264 beyond its veryfast preset: a diamond motion search and one sub-pixel refinement. On
#: the generator's 512² frames (lp_s42 × lp_d12, crf 20) a third less encoding CPU (5.2 → 3.5 ms
#: a frame, a quarter of a render's CPU before) for files 6 % larger, 0.16 dB lower PSNR.
X264_PARAMS = "me=dia:subme=1"

# Fragmented MP4: the moov box goes first (empty) and every keyframe starts a self-contained
# fragment, so a render killed by a crash or Ctrl-C still leaves a file that plays up to the
# last complete fragment instead of an unplayable file with no index. delay_moov writes
# that moov with the first fragment, once the streams' start is known, so it can hold edit
# lists: the picture starts at 0 despite x264's B-frame delay (without them every frame
# showed 2 frames late, 80 ms behind its sound at 25 fps), and the AAC encoder's priming
# samples are hidden.
_MP4_MOVFLAGS = "frag_keyframe+empty_moov+delay_moov+default_base_moof"

# Also cut a fragment every 0.25 s between keyframes: with x264's ~13 frames of lookahead
# in flight, a killed render then loses well under a second instead of up to a whole GOP.
_MP4_FRAG_US = 250_000

_VP9_CRF_OFFSET = 12

# Fine clocks for frames at their own times: 90 kHz (MPEG's) holds every common rate's
# frame times exactly (25, 30, 24, 30000/1001); Matroska counts milliseconds anyway; a GIF's
# delays are whole centiseconds (on a clock of whole frames at a variable-rate driver's
# average rate, its 30 fps stretches played 40–50 ms a frame: 10 % long, 0.29 s off)
_VIDEO_CLOCK = {".mp4": Fraction(1, 90_000), ".webm": Fraction(1, 1000), ".mov": Fraction(1, 90_000),
                ".gif": Fraction(1, 100)}

# MOV (ProRes, for editors) takes AAC like MP4: every editor that opens ProRes reads it.
AUDIO_CODECS = {".mp4": "aac", ".webm": "libopus", ".mov": "aac"}
"""The sound each container carries; GIF and PNG sequences have none."""

# Ordered (bayer) dithering: unlike error diffusion it does not ripple through static areas
# from frame to frame, so the background of an animated portrait stays still, the file
# compresses better, and paletteuse runs ~4× faster than with sierra2_4a.
_GIF_DITHER = {"dither": "bayer", "bayer_scale": "3", "diff_mode": "rectangle"}


def fps_fraction(fps: float) -> Fraction:
    """An exact rational for a frame rate: 25 → 25, 29.97 → 2997/100, 30000/1001 stays NTSC."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001)


@register_sink("file")
class VideoFileSink(FrameSink):
    """Encode frames into ``path``; the codec follows the extension.

    * ``.mp4``: libx264 yuv420p, preset veryfast with a diamond motion search and one
      sub-pixel refinement (:data:`X264_PARAMS`), ``crf`` (0–51) or ``bitrate``; fragmented
      with a one-second GOP so an interrupted render loses at most about a second.
    * ``.webm``: libvpx-vp9 in realtime mode; ``crf`` is on x264's scale and mapped to VP9's
      (+12, so the default 20 becomes VP9 32), or ``bitrate``.
    * ``.gif``: one global palette built from all frames (palettegen stats_mode=diff, then
      paletteuse with ordered bayer dithering limited to the changed rectangle, so static
      backgrounds do not shimmer). Frames are spooled to a temporary file until ``close()``.
      GIF delays are whole centiseconds: each frame is placed at its time rounded to one, so
      at rates that do not divide 100 (e.g. 30 fps) delays alternate (3, 4, 3 cs) and the
      total duration stays exact, at a constant rate or a variable one.

    4:2:0 video needs even dimensions: an odd width or height is padded by one replicated
    pixel column/row (never cropped, so no content is lost), and the file is 1 px larger.
    * ``.mov``: ProRes 4444 (prores_ks), 10-bit 4:4:4 — with alpha when ``alpha``.

    RGBA frames are accepted; without ``alpha`` the alpha is dropped (the caller composites
    first), with it the formats above keep it and ``.mp4`` is refused.

    With ``audio_rate`` (MP4, WebM, MOV) the file also gets a sound track, fed in order with
    :meth:`write_audio` from the picture's time 0; at :meth:`close` it is padded with
    silence to the end of the last frame. Alpha and sound go together (a transparent WebM
    with Opus, a ProRes 4444 MOV with AAC); GIF carries neither sound nor a PNG sequence.
    """

    name = "file"

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float,
        crf: int = 20,
        bitrate: int | None = None,
        alpha: bool = False,
        audio_rate: int | None = None,
        audio_channels: int = 2,
    ) -> None:
        self.path = Path(path)
        self.alpha = bool(alpha)
        self.fps = float(fps)
        self.crf = int(crf)
        self.bitrate = bitrate
        self.frames_written = 0
        self.width: int | None = None
        self.height: int | None = None
        self.kind = self.path.suffix.lower()
        check_output_path(self.path)
        if self.alpha and self.kind not in ALPHA_EXTENSIONS:
            raise OutputError(f"'{self.path}' cannot carry transparency (H.264 has no alpha) — {_ALPHA_HINT}")
        fps_fraction(self.fps)  # validate early
        if audio_rate and self.kind not in AUDIO_CODECS:
            raise OutputError(f"'{self.path}' cannot carry sound ({self.kind} has none) — use .mp4, .webm or .mov")
        self.audio_rate = audio_rate
        self.audio_channels = audio_channels
        self._check_writable()
        self._audio: Any = None
        self._audio_samples = 0  # samples handed to the audio encoder so far
        self._last_pts = -1
        self._video_end = 0.0  # seconds: the last frame's time + one frame
        self._gif_pts: list[int] = []
        self._container: Any = None
        self._stream: Any = None
        self._pad = (0, 0)  # extra (bottom, right) pixels to reach even dimensions
        self._closed = False
        # GIF state
        self._spool: IO[bytes] | None = None
        self._stats_graph: Any = None
        self._stats_src: Any = None
        self._stats_sink: Any = None

    # ------------------------------------------------------------------ validation
    def _check_writable(self) -> None:
        p = self.path
        if p.is_dir():
            raise OutputError(
                f"output path '{p}' is a directory — give a file name such as '{p / ('out' + self.kind)}'"
            )
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create folder '{p.parent}' for output '{p}' ({exc.strerror or exc}) — choose a writable output path"
            ) from None
        # Opening for append is the only reliable check (os.access lies for root and on
        # read-only mounts); remove the file again if we created it.
        existed = p.exists()
        try:
            with open(p, "ab"):
                pass
        except OSError as exc:
            raise OutputError(
                f"cannot write output '{p}' ({exc.strerror or exc}) — choose a writable output path"
            ) from None
        if not existed:
            try:
                p.unlink()
            except OSError:
                pass

    # ------------------------------------------------------------------ FrameSink
    def open(self, width: int, height: int, fps: float | None = None) -> None:
        """Create the file and encoder for ``width``×``height`` frames (``fps`` overrides the constructor's)."""
        if self._container is not None:
            raise RuntimeError(f"VideoFileSink for '{self.path}' is already open")
        if self._closed:
            raise RuntimeError(f"VideoFileSink for '{self.path}' is closed")
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        if fps:
            self.fps = float(fps)
        rate = fps_fraction(self.fps)
        self.width, self.height = int(width), int(height)
        try:
            if self.kind == ".mp4":
                self._open_mp4(rate)
            elif self.kind == ".webm":
                self._open_webm(rate)
            elif self.kind == ".mov":
                self._open_mov(rate)
            else:
                self._open_gif(rate)
        except (OSError, av.FFmpegError) as exc:
            self._abort()
            raise OutputError(
                f"cannot open '{self.path}' for writing ({exc}) — choose a writable output path"
            ) from None

    @property
    def file_size(self) -> tuple[int, int]:
        """(width, height) of the pictures in the file: the frames' size, an odd side padded
        by one pixel for 4:2:0 video. Valid once open."""
        assert self.width is not None and self.height is not None
        return self.width + self._pad[1], self.height + self._pad[0]

    def _open_video(
        self,
        fmt: str,
        codec: str,
        rate: Fraction,
        container_opts: dict[str, str],
        codec_opts: dict[str, str],
        pix_fmt: str = "yuv420p",
    ) -> None:
        assert self.width is not None and self.height is not None
        self._pad = (self.height % 2, self.width % 2)
        self._container = av.open(str(self.path), mode="w", format=fmt, options=container_opts)
        stream = self._container.add_stream(codec, rate=rate, options=codec_opts)
        stream.width = self.width + self._pad[1]
        stream.height = self.height + self._pad[0]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = _VIDEO_CLOCK[self.kind]
        # One keyframe a second: seekable output and, for fragmented mp4, at most ~1 s lost on a crash.
        stream.codec_context.gop_size = max(1, round(float(rate)))
        if self.bitrate:
            stream.codec_context.bit_rate = int(self.bitrate)
        # One thread per core, measured fastest on 2 cores (x264's own "auto" starts 1.5× as
        # many and loses to contention); the renderer shares these cores, so cap it.
        stream.codec_context.thread_count = min(os.cpu_count() or 1, 8)
        self._stream = stream
        if self.audio_rate:
            audio = self._container.add_stream(AUDIO_CODECS[self.kind], rate=self.audio_rate)
            audio.layout = "mono" if self.audio_channels == 1 else "stereo"
            self._audio = audio

    def _start(self) -> None:
        # Open the encoder and write the header now, so a bad option or an unwritable file
        # fails in open() rather than on the first frame.
        self._container.start_encoding()

    def _open_mp4(self, rate: Fraction) -> None:
        opts = {"preset": "veryfast", "x264-params": X264_PARAMS}
        if not self.bitrate:
            opts["crf"] = str(self.crf)
        container_opts = {
            "movflags": _MP4_MOVFLAGS,
            "frag_duration": str(_MP4_FRAG_US),
            # Hand each finished fragment to the OS at once instead of holding it in
            # FFmpeg's 32 KB I/O buffer, where a crash would lose it.
            "flush_packets": "1",
        }
        self._open_video("mp4", "libx264", rate, container_opts, opts)
        # PyAV defaults to slice threads, which x264 runs as sliced-threads: slower and
        # bigger files than frame threads, whose extra latency doesn't matter for a file.
        self._stream.codec_context.thread_type = "FRAME"
        self._start()

    def _open_webm(self, rate: Fraction) -> None:
        opts = {
            "deadline": "realtime",
            "cpu-used": "8",
            "row-mt": "1",
            "lag-in-frames": "0",
        }
        if not self.bitrate:
            # crf is given on x264's scale; VP9's 0–63 scale looks alike about 12 higher
            # (x264 20 ≈ VP9 32), and VP9 at 20 is ~2× bigger and slower for no visible gain.
            opts.update({"crf": str(max(0, min(63, self.crf + _VP9_CRF_OFFSET))), "b": "0"})
        if self.alpha:
            # libvpx codes the alpha plane as a second VP9 stream, stored by the WebM muxer
            # as each block's BlockAdditional (what browsers, OBS and ffmpeg's libvpx decoder read)
            opts["auto-alt-ref"] = "0"
        self._open_video("webm", "libvpx-vp9", rate, {}, opts, "yuva420p" if self.alpha else "yuv420p")
        self._start()

    def _open_mov(self, rate: Fraction) -> None:
        opts = {"profile": _PRORES_4444, "vendor": "apl0"}
        if self.alpha:
            opts["alpha_bits"] = "16"
        self._open_video("mov", "prores_ks", rate, {}, opts, "yuva444p10le" if self.alpha else "yuv444p10le")
        self._start()

    def _open_gif(self, rate: Fraction) -> None:
        assert self.width is not None and self.height is not None
        # Open the file now so path problems surface here rather than at close().
        self._container = av.open(str(self.path), mode="w", format="gif")
        stream = self._container.add_stream("gif", rate=rate)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "pal8"
        stream.codec_context.time_base = _VIDEO_CLOCK[".gif"]  # frames at their times, in the delays' unit
        self._stream = stream
        # Pass 1 (while writing): palettegen accumulates colour statistics without holding
        # frames; the frames themselves go to a temp file so long GIFs don't fill RAM.
        g = av.filter.Graph()
        src = g.add_buffer(
            width=(self.width + 1) // 2,
            height=(self.height + 1) // 2,
            format=av.VideoFormat(self._gif_format),
            time_base=1 / rate,
        )
        # with alpha one palette entry is kept for "transparent" (paletteuse maps every
        # pixel under alpha_threshold to it)
        gen = g.add("palettegen", stats_mode="diff", reserve_transparent="1" if self.alpha else "0")
        sink = g.add("buffersink")
        g.link_nodes(src, gen, sink)
        g.configure()
        self._stats_graph, self._stats_src, self._stats_sink = g, src, sink
        self._spool = tempfile.TemporaryFile(prefix="streamfx-gif-")

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        """Append one RGB/RGBA uint8 frame, shown at ``timestamp`` seconds (default: the next
        frame at the constant rate). Times must increase; one that does not is moved to just
        after the previous frame."""
        if self._closed:
            raise RuntimeError(f"VideoFileSink for '{self.path}' is closed")
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise ValueError(
                f"expected an H×W×3 or H×W×4 uint8 frame, got {frame.shape} {frame.dtype}"
            )
        if self._container is None:
            self.open(frame.shape[1], frame.shape[0], self.fps)
        if (frame.shape[1], frame.shape[0]) != (self.width, self.height):
            raise ValueError(
                f"frame is {frame.shape[1]}×{frame.shape[0]} but '{self.path}' was opened at {self.width}×{self.height}"
            )
        pts = self._pts(timestamp)
        try:
            if self.kind == ".gif":
                self._gif_pts.append(pts)
                self._write_gif(frame)
            else:
                self._write_video(frame, pts)
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(
                f"writing '{self.path}' failed after {self.frames_written} frames ({exc}) — check free disk space"
            ) from None
        self.frames_written += 1

    @property
    def _gif_format(self) -> str:
        return "rgba" if self.alpha else "rgb24"

    def _pts(self, timestamp: float | None) -> int:
        """The frame's presentation time in the stream's clock (and the end of the picture)."""
        rate = float(fps_fraction(self.fps))
        t = self.frames_written / rate if timestamp is None else max(0.0, float(timestamp))
        tick = _VIDEO_CLOCK[self.kind]
        pts = max(round(t / tick), self._last_pts + 1)
        self._last_pts = pts
        self._video_end = max(self._video_end, float(pts * tick) + 1 / rate)
        return pts

    def write_audio(self, samples: np.ndarray) -> None:
        """Append sound: float32 (channels × n) at ``audio_rate``, continuing where the last
        call ended (the first sample is at the picture's time 0)."""
        if self._audio is None:
            raise RuntimeError(f"'{self.path}' has no open sound track (open it with audio_rate)")
        x = np.ascontiguousarray(samples, dtype=np.float32).reshape(self.audio_channels, -1)
        if not x.shape[1]:
            return
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout=self._audio.layout.name)
        af.rate = self._audio.codec_context.sample_rate
        af.pts = self._audio_samples
        self._audio_samples += x.shape[1]
        try:
            self._container.mux(self._audio.encode(af))
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(f"writing the sound of '{self.path}' failed ({exc}) — check free disk space") from None

    @property
    def duration(self) -> float:
        """Seconds of picture written so far: the last frame's time plus one frame."""
        return self._video_end

    @property
    def audio_seconds(self) -> float:
        """Sound written so far, in seconds."""
        return self._audio_samples / self.audio_rate if self.audio_rate else 0.0

    def _finish_audio(self) -> None:
        """Pad the sound with silence to the end of the picture, then flush its encoder."""
        assert self.audio_rate is not None
        missing = round(self._video_end * self.audio_rate) - round(self.audio_seconds * self.audio_rate)
        if missing > 0:
            self.write_audio(np.zeros((self.audio_channels, missing), np.float32))
        self._container.mux(self._audio.encode(None))

    def _write_video(self, frame: np.ndarray, pts: int) -> None:
        if self.alpha or self.kind == ".mov":
            self._write_rgba(frame, pts)
            return
        rgb = frame[..., :3] if frame.shape[2] == 4 else frame
        if self._pad != (0, 0):
            rgb = cv2.copyMakeBorder(rgb, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        # OpenCV's I420 conversion (BT.601 limited range, like swscale's default) is SIMD and
        # several times faster than reformatting an rgb24 frame through swscale.
        yuv = np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420), np.uint8)
        vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        vf.pts = pts
        self._container.mux(self._stream.encode(vf))

    def _write_rgba(self, frame: np.ndarray, pts: int) -> None:
        """ProRes and VP9-with-alpha: swscale converts RGBA to the codec's 4:4:4/4:2:0 with alpha."""
        rgba = as_rgba(frame) if self.alpha else frame[..., :3]
        if self._pad != (0, 0):
            rgba = cv2.copyMakeBorder(rgba, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba" if self.alpha else "rgb24")
        vf.pts = pts
        self._container.mux(self._stream.encode(vf))

    def _write_gif(self, frame: np.ndarray) -> None:
        assert self._spool is not None
        rgb = np.ascontiguousarray(as_rgba(frame) if self.alpha else frame[..., :3])
        self._spool.write(rgb.data)
        # Colour statistics from every other pixel in each direction: the palette comes out
        # the same for practical purposes and palettegen, the slowest step, does 4× less work.
        small = np.ascontiguousarray(rgb[::2, ::2])
        sv = av.VideoFrame.from_ndarray(small, format=self._gif_format)
        sv.pts = self.frames_written
        self._stats_src.push(sv)
        try:  # buffersrc only queues; pulling makes palettegen consume the frame now
            self._stats_sink.pull()
        except (BlockingIOError, EOFError):
            pass

    def close(self) -> None:
        """Flush the encoder and write the trailer. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            return
        try:
            if self.kind == ".gif":
                self._finish_gif()
            else:
                self._container.mux(self._stream.encode(None))
                if self._audio is not None:
                    self._finish_audio()
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(
                f"finishing '{self.path}' failed ({exc}) — check free disk space"
            ) from None
        finally:
            self._abort()

    def _abort(self) -> None:
        """Release the container (writing the trailer) and GIF temporaries; never raises."""
        container, self._container = self._container, None
        self._closed = True
        if container is not None:
            try:
                container.close()
            except Exception as exc:  # noqa: BLE001 - cleanup must not mask the original error
                log.warning("closing '%s' failed: %s", self.path, exc)
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._stats_graph = self._stats_src = self._stats_sink = None

    def _finish_gif(self) -> None:
        assert self._spool is not None and self.width is not None and self.height is not None
        if self.frames_written == 0:
            return
        self._stats_src.push(None)
        palette = self._stats_sink.pull()
        # Pass 2: map every spooled frame onto the one palette.
        g = av.filter.Graph()
        clock = _VIDEO_CLOCK[".gif"]
        src = g.add_buffer(
            width=self.width, height=self.height, format=av.VideoFormat(self._gif_format), time_base=clock
        )
        pal_src = g.add_buffer(
            width=palette.width, height=palette.height, format=palette.format, time_base=clock
        )
        use = g.add("paletteuse", **_GIF_DITHER)
        sink = g.add("buffersink")
        src.link_to(use, 0, 0)
        pal_src.link_to(use, 0, 1)
        use.link_to(sink)
        g.configure()
        palette.pts = 0
        pal_src.push(palette)
        pal_src.push(None)

        channels = 4 if self.alpha else 3
        nbytes = self.width * self.height * channels
        self._spool.seek(0)
        for i in range(self.frames_written):
            buf = self._spool.read(nbytes)
            if len(buf) != nbytes:
                raise OSError(f"GIF spool file ended after {i} of {self.frames_written} frames")
            rgb = np.frombuffer(buf, dtype=np.uint8).reshape(self.height, self.width, channels)
            vf = av.VideoFrame.from_ndarray(rgb, format=self._gif_format)
            vf.pts = self._gif_pts[i]
            src.push(vf)
            self._drain_gif(sink)
        src.push(None)
        self._drain_gif(sink)
        self._container.mux(self._stream.encode(None))

    def _drain_gif(self, sink: Any) -> None:
        while True:
            try:
                out = sink.pull()
            except (BlockingIOError, EOFError):
                return
            out.time_base = self._stream.codec_context.time_base
            self._container.mux(self._stream.encode(out))


def as_rgba(frame: np.ndarray) -> np.ndarray:
    """An H×W×4 frame (an RGB one becomes opaque)."""
    if frame.shape[2] == 4:
        return frame
    return np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])


def check_output_path(path: str | Path) -> None:
    """Raises OutputError (one line) for an output path that no file sink writes — a video
    file's extension, an image sequence's pattern — without touching the file system, so that
    a command can say so before it opens (or says anything about) its inputs."""
    if is_image_sequence(path):
        pattern = sequence_pattern(path)
        if not pattern.lower().endswith(".png"):
            raise OutputError(f"an image sequence is written as PNGs: '{path}' must end in .png (e.g. frames/%05d.png)")
        try:
            pattern % 1
        except (TypeError, ValueError):
            raise OutputError(f"'{path}' is not a frame-number pattern — use one %d, e.g. frames/%05d.png") from None
        return
    suffix = Path(path).suffix
    if suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise OutputError(f"unsupported output extension '{suffix or '(none)'}' for '{path}' — use .mp4, .webm, .mov, "
                          ".gif or a PNG sequence (frames/%05d.png)")


def sequence_pattern(path: str | Path) -> str:
    """The frame-file pattern of an image-sequence output: a ``%d`` pattern as it is, a folder
    as ``folder/%06d.png``."""
    text = str(path)
    return text if "%" in Path(text).name else str(Path(text) / "%06d.png")


def refuse_overwriting_others(pattern: str) -> None:
    """Raises OutputError (one line) when the folder of a PNG-sequence ``pattern`` already holds
    its first frame's file *and* files that are not frames of such a sequence — someone's own
    pictures (``holiday/000001.png`` beside ``keep.txt``), which the sequence would overwrite.
    A folder holding only an earlier sequence is written over, as a video file is: that is a
    render run again."""
    folder = Path(pattern).parent
    first = Path(pattern % 1)
    if not first.exists() or not folder.is_dir():
        return
    frame = re.compile(re.sub(r"%0?\d*d", r"\\d+", re.escape(Path(pattern).name).replace(r"\%", "%")))
    others = sorted(p.name for p in folder.iterdir() if not frame.fullmatch(p.name))
    if others:
        raise OutputError(f"'{folder}' already holds {first.name} and other files ({others[0]}"
                          f"{', …' if len(others) > 1 else ''}): the PNG sequence would overwrite them — "
                          "write it to a new or empty folder")


def is_image_sequence(path: str | Path) -> bool:
    """True for a PNG-sequence output: an existing folder, a path ending in '/', or a ``%d`` pattern."""
    text = str(path)
    return "%" in Path(text).name or text.endswith(("/", os.sep)) or Path(text).is_dir()


@register_sink("png-sequence")
class ImageSequenceSink(FrameSink):
    """One PNG per frame (RGBA with ``alpha``): ``folder/`` (→ folder/000001.png…) or a
    pattern such as ``frames/%05d.png``. Numbered from 1, as ffmpeg's image2 muxer does."""

    name = "png-sequence"

    def __init__(self, path: str | Path, *, fps: float, alpha: bool = False, **_: object) -> None:
        self.pattern = sequence_pattern(path)
        check_output_path(self.pattern)
        refuse_overwriting_others(self.pattern)
        self.path = Path(self.pattern).parent
        self.fps = float(fps)
        self.alpha = bool(alpha)
        self.frames_written = 0
        self.width: int | None = None
        self.height: int | None = None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder '{self.path}' ({exc.strerror or exc}) — choose a writable output path") from None

    def open(self, width: int, height: int, fps: float | None = None) -> None:
        self.width, self.height = int(width), int(height)
        if fps:
            self.fps = float(fps)

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        from streamfx.imageio import save_image

        if self.width is None:
            self.open(frame.shape[1], frame.shape[0])
        save_image(self.pattern % (self.frames_written + 1), as_rgba(frame) if self.alpha else frame[..., :3])
        self.frames_written += 1

    def close(self) -> None:
        pass


def open_file_sink(path: str | Path, *, fps: float, alpha: bool = False,
                   **kw: Any) -> VideoFileSink | ImageSequenceSink:
    """The sink for an output path: a PNG sequence or a video file (see the classes)."""
    if is_image_sequence(path):
        return ImageSequenceSink(path, fps=fps, alpha=alpha)
    return VideoFileSink(path, fps=fps, alpha=alpha, **kw)


__all__ = ["ALPHA_EXTENSIONS", "AUDIO_CODECS", "SUPPORTED_EXTENSIONS", "ImageSequenceSink", "VideoFileSink", "as_rgba",
           "check_output_path", "fps_fraction", "is_image_sequence", "open_file_sink"]
