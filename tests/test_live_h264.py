"""H.264 level: derived from size and rate, written into the SPS and advertised in the SDP.

The SPS is read back from real libx264 output: from each encoder directly, and from what an
aiortc client actually received over RTP from the live server (1080p, both encode modes: the
real Animator driven by the real talk script), whose decoded frames must be the animated
portrait (tests/picture.py).
"""

from __future__ import annotations

import fractions
import re

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import h264 as aiortc_h264
from aiortc.codecs.h264 import h264_depayload

from streamfx.web.client import pull_whep
from streamfx.web.h264 import LeveledH264Encoder, h264_level, profile_level_id, sdp_parameters
from streamfx.web.server import LiveServer, ServerSettings
from streamfx.web.shared_encoder import SharedEncoder
from streamfx.web.webrtc import WebRTCHub, WebRTCSettings
from tests.picture import PortraitCheck
from tests.test_live_pipeline import WAIT, real_pipeline

SPS_NAL = 7


def sps_levels(annexb: bytes) -> list[int]:
    """level_idc of every SPS in an Annex-B byte stream.

    An SPS NAL is: header byte (type 7), profile_idc, the constraint-flag byte, level_idc.
    """
    levels = []
    for m in re.finditer(b"\x00\x00\x01", annexb):
        nal = annexb[m.end():m.end() + 4]
        if len(nal) == 4 and nal[0] & 0x1F == SPS_NAL:
            levels.append(nal[3])
    return levels


def frame_1080p(pts: int = 0) -> av.VideoFrame:
    yuv = np.random.default_rng(pts).integers(0, 255, (1080 * 3 // 2, 1920), np.uint8)
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    frame.pts, frame.time_base = pts, fractions.Fraction(1, 90_000)
    return frame


def test_level_table() -> None:
    assert h264_level(1280, 720, 30) == 31
    assert h264_level(1920, 1080, 30) == 40
    assert h264_level(1920, 1080, 60) == 42
    assert h264_level(640, 360, 30) == 30
    assert h264_level(3840, 2160, 30) == 51
    # 720p fits 3.1 on size and rate, but 30 Mbit/s is over 3.1's (and 4.0's) MaxBR
    assert h264_level(1280, 720, 30, bitrate=30_000_000) == 41
    # MaxFS alone is not enough: a 1-macroblock-high strip wider than √(8·MaxFS) needs more
    assert h264_level(16 * 120, 16, 30) > h264_level(16 * 60, 32, 30)
    assert profile_level_id(40) == "42e028"
    assert sdp_parameters({"profile-level-id": "42001f", "packetization-mode": "1"}, 40) == {
        "profile-level-id": "420028", "packetization-mode": "1"}
    with pytest.raises(ValueError):
        h264_level(0, 1080, 30)


def test_both_encoders_declare_the_level_of_a_1080p_stream() -> None:
    level = h264_level(1920, 1080, 30)
    per_viewer = LeveledH264Encoder(level)
    payloads, _ = per_viewer.encode(frame_1080p(), True)
    assert sps_levels(b"".join(h264_depayload(p) for p in payloads)) == [40]
    # aiortc rebuilds its context on a bitrate change (REMB): the level must survive that
    per_viewer.target_bitrate = aiortc_h264.MAX_BITRATE
    payloads, _ = per_viewer.encode(frame_1080p(3000), True)
    assert sps_levels(b"".join(h264_depayload(p) for p in payloads)) == [40]

    shared = SharedEncoder("h264", None, 30)
    packet = shared.encode(frame_1080p())
    assert packet is not None and sps_levels(bytes(packet)) == [40]


def test_aiortcs_own_encoder_would_say_3_1() -> None:
    # the reason for LeveledH264Encoder: if aiortc ever takes a level, this test says so
    payloads, _ = aiortc_h264.H264Encoder().encode(frame_1080p(), True)
    assert sps_levels(b"".join(h264_depayload(p) for p in payloads)) == [31]


@pytest.mark.parametrize("encode", ["per-viewer", "shared"])
async def test_1080p_answer_and_received_stream_declare_level_4(encode: str, monkeypatch, portrait: np.ndarray,
                                                               portrait_landmarks: np.ndarray) -> None:
    # Spy on the receiving client's decoder: it gets exactly what came over RTP.
    received: list[bytes] = []
    original = aiortc_h264.H264Decoder.decode

    def recording(self, encoded_frame):  # type: ignore[no-untyped-def]
        received.append(bytes(encoded_frame.data))
        return original(self, encoded_frame)

    monkeypatch.setattr(aiortc_h264.H264Decoder, "decode", recording)

    pipe = real_pipeline(portrait, portrait_landmarks, width=1920, height=1080, fps=30)
    rtc = WebRTCHub(pipe.hub, 30, WebRTCSettings(codec="h264", loopback=True, encode=encode), pipe.metrics,
                    size=(1920, 1080))
    server = LiveServer(pipe, ServerSettings(port=0), rtc)
    pipe.start()
    await server.start()
    try:
        # the SDP answer advertises 4.0 for the H.264 it sends
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        viewer, answer = await rtc.answer(pc.localDescription.sdp)
        await pc.close()
        await rtc.close_viewer(viewer.id)
        fmtp = [line for line in answer.sdp.splitlines() if "profile-level-id=" in line]
        assert fmtp and all("profile-level-id=42e028" in line or "profile-level-id=420028" in line
                            for line in fmtp), fmtp
        assert re.search(r"a=rtpmap:(\d+) H264/90000", answer.sdp)

        result = await pull_whep(f"http://127.0.0.1:{server.port}/whep", frames=16, seconds=WAIT, keep=6,
                                 keep_every=2, keep_from=4)
        assert result.frames >= 16 and result.sizes == {(1920, 1080)}
    finally:
        await server.stop()
        pipe.stop()
    levels = sps_levels(b"".join(received))
    assert levels and set(levels) == {40}, levels
    PortraitCheck(portrait, portrait_landmarks, out_size=(1920, 1080)).assert_animated(result.images)
