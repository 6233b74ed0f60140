"""Encode once, send to every viewer: the fan-out mode for many viewers on a small CPU.

aiortc normally encodes separately for each viewer (each gets its own congestion control).
With N viewers that is N encodes of the same picture, which is what limits fan-out on a
2-core machine. In *shared* mode the animation track is encoded once per frame and every
viewer's RTP sender just packetizes the same compressed packet (aiortc senders accept
``av.Packet`` from a track and call the codec's ``pack`` instead of ``encode``).

The trade-offs, which is why ``--webrtc-encode auto`` (the default) gives the first two
viewers their own encoder and only later ones the shared one (``shared`` shares for all):
* one bitrate for everyone (``--bitrate``, default 1.5 Mbit/s); receiver estimates (REMB)
  are not applied;
* a keyframe requested by one viewer (joining, or PLI after loss) goes to all of them;
* every viewer must accept the chosen codec (no fallback to the other one).
"""

from __future__ import annotations

import asyncio
import fractions
import multiprocessing
import threading
from typing import cast

import av
from aiortc import MediaStreamTrack
from aiortc.codecs.vpx import number_of_threads
from aiortc.mediastreams import MediaStreamError

from streamfx.web.h264 import h264_level, x264_level

DEFAULT_SHARED_BITRATE = 1_500_000


class SharedEncoder:
    """One libvpx (VP8) or libx264 (H.264) encoder with keyframe-on-request."""

    def __init__(self, codec: str = "vp8", bitrate: int | None = None, fps: float = 30.0) -> None:
        if codec not in ("vp8", "h264"):
            raise ValueError(f"codec must be vp8 or h264, not {codec!r}")
        self.codec_name = codec
        self.bitrate = bitrate or DEFAULT_SHARED_BITRATE
        self.fps = fps
        self._ctx: av.VideoCodecContext | None = None
        self._keyframe = threading.Event()
        self._keyframe.set()
        self.frames = 0
        self.keyframes = 0

    def request_keyframe(self) -> None:
        self._keyframe.set()

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        if self.codec_name == "vp8":
            ctx = av.CodecContext.create("libvpx", "w")
            # Same real-time settings aiortc uses for its own VP8 encoder.
            ctx.options = {
                "bufsize": str(self.bitrate), "cpu-used": "-6", "deadline": "realtime",
                "lag-in-frames": "0", "minrate": str(self.bitrate), "maxrate": str(self.bitrate),
                "noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0",
                "static-thresh": "1", "undershoot-pct": "100",
            }
            ctx.qmin, ctx.qmax = 2, 56
        else:
            ctx = av.CodecContext.create("libx264", "w")
            # the level the SPS declares must cover the size and rate (1080p30 needs 4.0)
            level = h264_level(width, height, self.fps, self.bitrate)
            ctx.options = {"level": x264_level(level), "tune": "zerolatency", "preset": "veryfast"}
            ctx.profile = "Baseline"
        ctx.width, ctx.height = width, height
        # Few threads, like aiortc: libvpx's worker threads stall for ~100 ms at a time when
        # they have to wake up on a busy small machine (measured: p95 136 ms with 2 threads
        # vs 8 ms with 1 at 640×480 on 2 cores), which is far worse than encoding serially.
        ctx.thread_count = number_of_threads(width * height, multiprocessing.cpu_count())
        ctx.pix_fmt = "yuv420p"
        ctx.bit_rate = self.bitrate
        ctx.framerate = fractions.Fraction(round(self.fps), 1)
        ctx.time_base = fractions.Fraction(1, 90_000)
        ctx.gop_size = int(self.fps * 10)  # keyframes on request; this is only a safety net
        return ctx

    def encode(self, frame: av.VideoFrame) -> av.Packet | None:
        """Encode one frame; returns one packet (None only if the encoder held it back)."""
        if self._ctx is None or (self._ctx.width, self._ctx.height) != (frame.width, frame.height):
            self._ctx = self._open(frame.width, frame.height)
            self._keyframe.set()
        if self._keyframe.is_set():
            self._keyframe.clear()
            # The frame object is shared with the per-viewer encoders (MediaRelay hands one
            # object to all): mark a private copy, never the original.
            copy = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
            copy.pts, copy.time_base = frame.pts, frame.time_base
            frame = copy
            frame.pict_type = av.video.frame.PictureType.I
            self.keyframes += 1
        packets = self._ctx.encode(frame)
        self.frames += 1
        if not packets:
            return None
        data = b"".join(bytes(p) for p in packets)
        packet = av.Packet(data)
        packet.pts = frame.pts
        packet.time_base = frame.time_base or fractions.Fraction(1, 90_000)
        return packet


class EncodedTrack(MediaStreamTrack):
    """Wraps the animation track: yields encoded ``av.Packet`` s instead of frames."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, encoder: SharedEncoder) -> None:
        super().__init__()
        self.source = source
        self.encoder = encoder
        self.viewers = 0
        """Viewers fed by this track; with none, frames are read (keeping the relay drained)
        but not encoded."""

    async def recv(self) -> av.Packet:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = cast(av.VideoFrame, await self.source.recv())
            if self.viewers == 0:
                self.encoder.request_keyframe()  # whoever comes next starts on a keyframe
                continue
            # off the event loop: a 720p VP8 encode takes several milliseconds
            packet = await loop.run_in_executor(None, self.encoder.encode, frame)
            if packet is not None:
                return packet

    def stop(self) -> None:
        super().stop()
        self.source.stop()
