"""Live web server: WHEP pulled by an aiortc client, JSON offer, control API, auth, metrics."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import cv2
import numpy as np
import pytest

from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.web.client import pull_whep
from streamfx.web.server import (
    LiveServer,
    ServerSettings,
    is_loopback,
    parse_hostport,
    validate_settings,
)
from streamfx.web.webrtc import WebRTCHub, WebRTCSettings
from tests.test_live_pipeline import FakeAnimator, SyntheticDriver, portrait


class Live:
    def __init__(self, pipe: LivePipeline, server: LiveServer) -> None:
        self.pipe, self.server = pipe, server

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


@pytest.fixture
async def live():
    pipe = LivePipeline(FakeAnimator(portrait(256)), SyntheticDriver(), LiveSettings(width=640, height=360, fps=30))
    rtc = WebRTCHub(pipe.hub, 30, WebRTCSettings(loopback=True, encode="per-viewer"), pipe.metrics,
                   size=(640, 360))
    server = LiveServer(pipe, ServerSettings(port=0), rtc)
    pipe.start()
    await server.start()
    try:
        yield Live(pipe, server)
    finally:
        await server.stop()
        pipe.stop()


async def test_whep_pull_receives_frames_and_bad_sdp_is_400(live: Live) -> None:
    result = await pull_whep(live.url("/whep"), frames=100)
    assert result.frames >= 100
    assert result.sizes == {(640, 360)}
    assert result.location is not None and "/whep/" in result.location
    async with aiohttp.ClientSession() as http:
        # the DELETE above ended the session
        assert live.server.webrtc is not None and live.server.webrtc.viewers == {}
        for bad in ("v=0\r\nthis is not sdp\r\n", "", "m=video garbage"):
            async with http.post(live.url("/whep"), data=bad, headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 400, bad
        async with http.post(live.url("/whep"), data="x", headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415
        async with http.delete(live.url("/whep/nope")) as r:
            assert r.status == 404
        async with http.post(live.url("/offer"), data="{not json") as r:
            assert r.status == 400
        async with http.get(live.url("/api/stats")) as r:
            assert r.status == 200
    # and the server still streams after the bad requests
    again = await pull_whep(live.url("/whep"), frames=10)
    assert again.frames >= 10


async def test_whep_session_delete_is_204(live: Live) -> None:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(live.url("/whep"), data=pc.localDescription.sdp,
                             headers={"Content-Type": "application/sdp"}) as r:
            assert r.status == 201
            assert r.headers["Content-Type"].startswith("application/sdp")
            loc = r.headers["Location"]
            assert (await r.text()).startswith("v=0")
        assert live.server.webrtc is not None and len(live.server.webrtc.viewers) == 1
        async with http.delete(live.url(loc)) as r:
            assert r.status == 204
        assert live.server.webrtc.viewers == {}
    await pc.close()


async def test_control_api_applies_settings_live(live: Live) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(live.url("/api/settings")) as r:
            s = await r.json()
            assert s["animator"]["head_gain"] == 1.0 and s["paused"] is False
        async with http.post(live.url("/api/settings"), json={"head_gain": 2.5, "mirror": True}) as r:
            assert r.status == 200
            assert (await r.json())["animator"]["head_gain"] == 2.5
        for bad in ({"head_gain": 99}, {"nope": 1}, {"mirror": "yes"}, [], {"smoothing": True}):
            async with http.post(live.url("/api/settings"), json=bad) as r:
                assert r.status == 400, bad
                assert "error" in await r.json()
        async with http.post(live.url("/api/calibrate")) as r:
            assert r.status == 200
        assert live.pipe.animator.calibrated == 1  # type: ignore[attr-defined]
        async with http.post(live.url("/api/pause"), json={"paused": True}) as r:
            assert (await r.json())["paused"] is True
        async with http.post(live.url("/api/pause")) as r:  # toggle
            assert (await r.json())["paused"] is False

        ok, png = cv2.imencode(".png", np.full((200, 160, 3), 90, np.uint8))
        form = aiohttp.FormData()
        form.add_field("image", io.BytesIO(png.tobytes()), filename="new.png", content_type="image/png")
        async with http.post(live.url("/api/source"), data=form) as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["size"] == [160, 200] and body["source_version"] == 1
        async with http.post(live.url("/api/source"), data=b"not an image",
                             headers={"Content-Type": "image/png"}) as r:
            assert r.status == 400
        async with http.post(live.url("/api/source"), data=b"GIF89a", headers={"Content-Type": "text/html"}) as r:
            assert r.status == 415
        big = b"\0" * 16_500_000
        async with http.post(live.url("/api/source"), data=big, headers={"Content-Type": "image/png"}) as r:
            assert r.status == 413

        async with http.get(live.url("/metrics")) as r:
            text = await r.text()
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            assert "streamfx_output_fps" in text and "streamfx_capture_fps" in text
        async with http.get(live.url("/api/stats")) as r:
            stats = await r.json()
            assert stats["output_fps"] > 10 and stats["status"]["source_version"] == 1
        for page in ("/", "/panel", "/static/live.js", "/static/panel.js", "/static/style.css"):
            async with http.get(live.url(page)) as r:
                assert r.status == 200, page


async def test_token_is_required_off_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert ServerSettings(host="127.0.0.1").token is None
    auto = ServerSettings(host="0.0.0.0", port=0)
    assert auto.token and len(auto.token) >= 16
    pipe = LivePipeline(FakeAnimator(portrait()), SyntheticDriver(), LiveSettings(width=320, height=180))
    server = LiveServer(pipe, ServerSettings(host="0.0.0.0", port=0, token="s3cret-token"), None)
    pipe.start()
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/api/stats", "/metrics", "/api/settings"):
                async with http.get(base + path) as r:
                    assert r.status == 401, path
            async with http.get(base + "/api/stats", headers={"Authorization": "Bearer wrong-token"}) as r:
                assert r.status == 401
            async with http.get(base + "/api/stats", headers={"Authorization": "Bearer s3cret-token"}) as r:
                assert r.status == 200
            async with http.get(base + "/metrics?token=s3cret-token") as r:
                assert r.status == 200
            async with http.get(base + "/") as r:  # static page: no secrets, no token
                assert r.status == 200
            async with http.post(base + "/whep?token=s3cret-token", data="v=0",
                                 headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 404  # started without WebRTC
        assert "token=s3cret-token" in server.url("/panel")
    finally:
        await server.stop()
        pipe.stop()


def test_argument_parsing_helpers() -> None:
    assert parse_hostport("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_hostport(":9000") == ("127.0.0.1", 9000)
    assert parse_hostport("[::1]:81") == ("::1", 81)
    with pytest.raises(ValueError):
        parse_hostport("host:port")
    assert validate_settings({"eye_gain": 1}) == {"eye_gain": 1.0}
    with pytest.raises(ValueError):
        WebRTCSettings(codec="av1")


async def test_h264_and_bitrate_cap(live: Live) -> None:
    from streamfx.web.webrtc import _CappedEncoder

    rtc = live.server.webrtc
    assert rtc is not None
    rtc.settings.codec = "h264"
    rtc.settings.bitrate = 400_000
    caps: list[int] = []

    def on_frame(frame: object) -> None:
        for v in rtc.viewers.values():
            enc = getattr(v.track.sender, "_RTCRtpSender__encoder", None) if v.track else None
            if isinstance(enc, _CappedEncoder):
                enc.target_bitrate = 5_000_000  # what a generous REMB would ask for
                caps.append(enc.target_bitrate)

    result = await pull_whep(live.url("/whep"), frames=30, on_frame=on_frame)
    assert result.frames >= 30 and result.sizes == {(640, 360)}
    assert caps and max(caps) <= 400_000
    # the H.264 choice shows up in the negotiated answer
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(live.url("/offer"), json={"sdp": pc.localDescription.sdp, "type": "offer"}) as r:
            answer = (await r.json())["sdp"]
    await pc.close()
    mline = next(line for line in answer.splitlines() if line.startswith("m=video"))
    first_pt = mline.split()[3]
    assert f"a=rtpmap:{first_pt} H264/90000" in answer
    await asyncio.sleep(0)


async def test_shared_encoder_fans_out_one_encode(live: Live) -> None:
    from streamfx.web.webrtc import WebRTCHub, WebRTCSettings

    rtc = WebRTCHub(live.pipe.hub, 30, WebRTCSettings(encode="shared", loopback=True), live.pipe.metrics,
                    size=(640, 360))
    old, live.server.webrtc = live.server.webrtc, rtc
    try:
        results = await asyncio.gather(*(pull_whep(live.url("/whep"), frames=45) for _ in range(3)))
        assert all(r.frames >= 45 and r.sizes == {(640, 360)} for r in results)
        assert min(r.fps(0.5) for r in results) >= 20, [r.fps(0.5) for r in results]
        assert rtc.shared is not None
        # three viewers, but roughly one encode per frame (not three)
        total = sum(r.frames for r in results)
        assert rtc.shared.frames < 0.6 * total, (rtc.shared.frames, total)
        assert rtc.shared.keyframes >= 1
    finally:
        await rtc.close()
        live.server.webrtc = old


async def test_auto_mode_shares_the_encoder_beyond_the_first_viewers(live: Live) -> None:
    from streamfx.web.webrtc import WebRTCHub, WebRTCSettings

    rtc = WebRTCHub(live.pipe.hub, 30, WebRTCSettings(encode="auto", per_viewer_limit=1, loopback=True),
                    live.pipe.metrics, size=(640, 360))
    old, live.server.webrtc = live.server.webrtc, rtc
    try:
        first = asyncio.ensure_future(pull_whep(live.url("/whep"), frames=60))
        await asyncio.sleep(1.0)
        second = asyncio.ensure_future(pull_whep(live.url("/whep"), frames=30))
        await asyncio.sleep(0.5)
        kinds = sorted(v.shared for v in rtc.viewers.values())
        results = await asyncio.gather(first, second)
        assert kinds == [False, True]  # one with its own encoder, the next one shared
        assert all(r.frames >= 30 for r in results)
        assert rtc.shared is not None and rtc.shared.frames >= 20
    finally:
        await rtc.close()
        live.server.webrtc = old
