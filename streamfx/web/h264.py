"""H.264 level for the live stream's size and frame rate (ITU-T H.264 Annex A, Table A-1).

aiortc's own H.264 encoder and its SDP both say level 3.1 whatever is sent, and level 3.1
allows at most 3600 macroblocks a frame (1280×720). A 1920×1080 stream labelled 3.1 breaks
the promise its SPS makes: a decoder that sizes its buffers from the level (hardware ones,
some players) may refuse or corrupt it. So the level is derived here from what is actually
encoded, written into the SPS by both encoders (the per-viewer one and the shared one) and
advertised as ``profile-level-id`` in the SDP answer.
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Iterator
from typing import Any

import av
from aiortc.codecs import h264 as aiortc_h264
from aiortc.codecs.h264 import H264Encoder

#: Table A-1: (level_idc, MaxMBPS macroblocks/s, MaxFS macroblocks/frame, MaxBR kbit/s
#: for the Baseline/Main profiles). Level 1b is left out: it needs a different signalling
#: and 1.1 covers it. Ordered by level, so the first row that fits is the smallest.
LEVELS: tuple[tuple[int, int, int, int], ...] = (
    (10, 1_485, 99, 64),
    (11, 3_000, 396, 192),
    (12, 6_000, 396, 384),
    (13, 11_880, 396, 768),
    (20, 11_880, 396, 2_000),
    (21, 19_800, 792, 4_000),
    (22, 20_250, 1_620, 4_000),
    (30, 40_500, 1_620, 10_000),
    (31, 108_000, 3_600, 14_000),
    (32, 216_000, 5_120, 20_000),
    (40, 245_760, 8_192, 20_000),
    (41, 245_760, 8_192, 50_000),
    (42, 522_240, 8_704, 50_000),
    (50, 589_824, 22_080, 135_000),
    (51, 983_040, 36_864, 240_000),
    (52, 2_073_600, 36_864, 240_000),
)

#: Constrained Baseline (profile_idc 66, constraint_set0+1): what browsers decode everywhere
#: and what aiortc encodes (x264 "Baseline" sets both flags).
CONSTRAINED_BASELINE = "42e0"


def h264_level(width: int, height: int, fps: float, bitrate: int | None = None) -> int:
    """The smallest ``level_idc`` (e.g. 31 for level 3.1) whose limits fit the stream.

    ``width``/``height`` in pixels, ``fps`` frames per second, ``bitrate`` in bit/s (None:
    not considered). Checks MaxFS (macroblocks per frame), the frame's aspect limit
    (neither side over √(8·MaxFS) macroblocks, A.3.1 f), MaxMBPS (macroblocks per second)
    and MaxBR. Beyond every level (larger than 4K-ish at high rates) the highest, 52.
    """
    if width <= 0 or height <= 0 or fps <= 0:
        raise ValueError(f"need a positive size and frame rate, not {width}x{height} @ {fps}")
    mbs_w, mbs_h = math.ceil(width / 16), math.ceil(height / 16)
    frame_mbs = mbs_w * mbs_h
    for level_idc, max_mbps, max_fs, max_br in LEVELS:
        if (
            frame_mbs <= max_fs
            and max(mbs_w, mbs_h) <= math.sqrt(8 * max_fs)
            and frame_mbs * fps <= max_mbps
            and (bitrate is None or bitrate <= max_br * 1000)
        ):
            return level_idc
    return LEVELS[-1][0]


def profile_level_id(level_idc: int, profile: str = CONSTRAINED_BASELINE) -> str:
    """The SDP ``profile-level-id`` (RFC 6184): profile_idc, constraint flags, level_idc in hex."""
    return f"{profile}{level_idc:02x}"


def x264_level(level_idc: int) -> str:
    """libx264's ``level`` option for ``level_idc`` (it takes "40" as well as "4.0")."""
    return str(level_idc)


def sdp_parameters(parameters: dict[str, Any], level_idc: int) -> dict[str, Any]:
    """``parameters`` (an H.264 fmtp) with the level of ``profile-level-id`` set to ``level_idc``.

    The profile part stays as negotiated (aiortc matches codecs by profile, not level).
    """
    out = dict(parameters)
    current = str(out.get("profile-level-id", "42e01f"))
    out["profile-level-id"] = profile_level_id(level_idc, current[:4].lower())
    return out


class LeveledH264Encoder(H264Encoder):
    """aiortc's H.264 encoder, but its SPS declares ``level_idc`` instead of a fixed 3.1.

    aiortc builds its libx264 context inside ``_encode_frame`` with ``level`` hard-coded and
    offers no parameter for it, so this subclass creates the context itself — with aiortc's
    own settings, only the level differs — whenever aiortc would (first frame, a new size,
    or a bitrate change over 10 %); aiortc then finds it ready and keeps using it.
    """

    def __init__(self, level_idc: int) -> None:
        super().__init__()
        self.level_idc = level_idc

    def _encode_frame(self, frame: av.VideoFrame, force_keyframe: bool) -> Iterator[bytes]:
        codec = self.codec
        rate = (codec.bit_rate or 0) if codec is not None else 0
        if codec is None or (
            frame.width != codec.width
            or frame.height != codec.height
            or not rate
            or abs(self.target_bitrate - rate) / rate > 0.1
        ):
            self.buffer_data = b""
            self.buffer_pts = None
            self.codec = self._new_codec(frame.width, frame.height)
        return super()._encode_frame(frame, force_keyframe)

    def _new_codec(self, width: int, height: int) -> av.VideoCodecContext:
        # Mirrors aiortc.codecs.h264.H264Encoder._encode_frame (aiortc 1.x) except "level".
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = width, height
        ctx.bit_rate = self.target_bitrate
        ctx.pix_fmt = "yuv420p"
        ctx.framerate = fractions.Fraction(aiortc_h264.MAX_FRAME_RATE, 1)
        ctx.time_base = fractions.Fraction(1, aiortc_h264.MAX_FRAME_RATE)
        ctx.options = {"level": x264_level(self.level_idc), "tune": "zerolatency"}
        ctx.profile = "Baseline"
        return ctx


__all__ = ["LEVELS", "LeveledH264Encoder", "h264_level", "profile_level_id", "sdp_parameters", "x264_level"]
