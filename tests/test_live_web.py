"""Live web server: WHEP pulled by an aiortc client, JSON offer, control API, auth, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.web.client import pull_whep
from streamfx.web.server import (
    TOKEN_ENV,
    LiveServer,
    ServerSettings,
    is_loopback,
    load_token,
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
        async with http.post(live.url("/offer"), data="{not json", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
        async with http.post(live.url("/offer"), data='{"sdp": "v=0", "type": "offer"}') as r:  # text/plain
            assert r.status == 415
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
            assert r.status == 415  # the bytes decide, not the declared type
        async with http.post(live.url("/api/source"), data=png.tobytes()[:20],
                             headers={"Content-Type": "image/png"}) as r:
            assert r.status == 400  # a PNG, but cut off inside its header
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
    # range errors name the API's key, not the command line's flag
    with pytest.raises(ValueError, match=r"^head_gain must be between") as e:
        validate_settings({"head_gain": 99})
    assert "--" not in str(e.value)
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


# -- safe by default (issue 8): a real Animator driven by the built-in idle script ----------
@contextlib.asynccontextmanager
async def real_server(landmarks: np.ndarray, server: ServerSettings | None = None,
                      rtc: WebRTCSettings | None = None) -> AsyncIterator[Live]:
    """The demo portrait animated by the real Animator from the "idle" motion script, served
    on 127.0.0.1 (no fakes: the script supplies landmarks, so no webcam is needed)."""
    from streamfx.animator import Animator
    from streamfx.drivers import open_driver
    from streamfx.imageio import demo_portrait

    image = demo_portrait()
    anim = Animator(image, source_landmarks=landmarks, source_name="demo portrait", track_drivers=False)
    driver = open_driver("idle", neutral_landmarks=anim.source_landmarks, realtime=True, loop=True)
    pipe = LivePipeline(anim, driver, LiveSettings(width=320, height=180, fps=15), source_image=image)
    hub = WebRTCHub(pipe.hub, 15, rtc or WebRTCSettings(loopback=True), pipe.metrics, size=(320, 180))
    srv = LiveServer(pipe, server or ServerSettings(port=0), hub)
    pipe.start()
    await srv.start()
    try:
        yield Live(pipe, srv)
    finally:
        await srv.stop()
        pipe.stop()


@pytest.fixture
async def real_live(portrait_landmarks: np.ndarray) -> AsyncIterator[Live]:
    async with real_server(portrait_landmarks) as live:
        yield live


async def recvonly_offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


async def test_loopback_server_answers_only_its_own_names(real_live: Live) -> None:
    port = real_live.server.port
    async with aiohttp.ClientSession() as http:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
            async with http.get(real_live.url("/api/stats"), headers={"Host": host}) as r:
                assert r.status == 200, host
        # DNS rebinding: the attacker's name (or another port, or junk) in Host
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", f"x@127.0.0.1:{port}",
                     f"127.0.0.1.nip.io:{port}"):
            for method, path in (("GET", "/"), ("GET", "/api/settings"), ("POST", "/api/pause")):
                async with http.request(method, real_live.url(path), headers={"Host": host}) as r:
                    assert r.status == 421, (host, method, path)
                    assert "--token" in (await r.json())["error"]
    assert real_live.pipe.paused is False


async def test_loopback_server_refuses_cross_site_requests(real_live: Live) -> None:
    port = real_live.server.port
    own = f"http://127.0.0.1:{port}"
    cross = [  # what browsers send for a page on another origin
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": f"http://127.0.0.1:{port + 1}", "Sec-Fetch-Site": "same-site"},  # another local web app
        {"Origin": f"http://localhost:{port}"},  # same port, other name: another origin
        {"Origin": "null"},  # sandboxed frame, file:// page
        {"Sec-Fetch-Site": "same-site"},
    ]
    pc, sdp = await recvonly_offer()
    ok, png = cv2.imencode(".png", np.full((200, 160, 3), 90, np.uint8))
    attempts = [
        ("POST", "/api/pause", {"Content-Type": "text/plain"}, b'{"paused": true}'),
        ("POST", "/api/pause", {"Content-Type": "application/x-www-form-urlencoded"}, b""),
        ("POST", "/api/settings", {"Content-Type": "application/json"}, b'{"head_gain": 3}'),
        ("POST", "/api/calibrate", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b"),
        ("POST", "/api/source", {"Content-Type": "image/png"}, png.tobytes()),
        ("POST", "/offer", {"Content-Type": "application/json"}, json.dumps({"sdp": sdp, "type": "offer"}).encode()),
        ("POST", "/whep", {"Content-Type": "application/sdp"}, sdp.encode()),
        ("OPTIONS", "/whep", {"Access-Control-Request-Method": "POST"}, b""),
    ]
    async with aiohttp.ClientSession() as http:
        for headers in cross:
            for method, path, h, body in attempts:
                async with http.request(method, real_live.url(path), data=body, headers={**h, **headers}) as r:
                    assert r.status == 403, (method, path, headers)
                    assert "cross-site request refused" in (await r.json())["error"]
                    assert not any(k.lower().startswith("access-control-") for k in r.headers), r.headers
        status = real_live.pipe.status()
        assert real_live.pipe.paused is False and status["source_version"] == 0
        assert real_live.server.webrtc is not None and real_live.server.webrtc.viewers == {}
        async with http.get(real_live.url("/api/settings")) as r:
            assert (await r.json())["animator"]["head_gain"] == 1.0
        # the panel's own requests (same origin) work, with or without Fetch Metadata
        for same in ({"Origin": own, "Sec-Fetch-Site": "same-origin"}, {"Origin": own}, {}):
            async with http.post(real_live.url("/api/pause"), json={"paused": True}, headers=same) as r:
                assert r.status == 200 and (await r.json())["paused"] is True
            async with http.post(real_live.url("/api/pause"), json={"paused": False}, headers=same) as r:
                assert r.status == 200
        # JSON routes take JSON only: a text/plain "simple request" is refused even same-origin
        async with http.post(real_live.url("/api/settings"), data=b'{"head_gain": 2}',
                             headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415
        # no page with controls may be framed (clickjacking), under any of its paths; the
        # viewer at / may (it is embedded with ?embed=1)
        for page in ("/panel", "/static/panel.html", "/static/panel.js", "/api/stats"):
            async with http.get(real_live.url(page)) as r:
                assert r.status == 200, page
                assert r.headers["X-Frame-Options"] == "DENY", page
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], page
        async with http.get(real_live.url("/")) as r:
            assert "X-Frame-Options" not in r.headers
    await pc.close()


async def test_token_mode_allows_other_hosts_and_cors_for_whep_players(portrait_landmarks: np.ndarray) -> None:
    async with real_server(portrait_landmarks, ServerSettings(port=0, token="s3cret-token")) as live:
        pc, sdp = await recvonly_offer()
        auth = {"Authorization": "Bearer s3cret-token"}
        async with aiohttp.ClientSession() as http:
            async with http.options(live.url("/whep"), headers={"Origin": "https://player.example"}) as r:
                assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
            async with http.post(live.url("/whep"), data=sdp, headers={"Content-Type": "application/sdp",
                                                                       "Origin": "https://player.example"}) as r:
                assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == "*"
            async with http.post(live.url("/whep"), data=sdp, headers={
                    "Content-Type": "application/sdp", "Origin": "https://player.example",
                    "Host": "streamfx.lan:8080", **auth}) as r:
                assert r.status == 201 and r.headers["Access-Control-Allow-Origin"] == "*"
                assert "Location" in r.headers["Access-Control-Expose-Headers"]
                location = r.headers["Location"]
            async with http.delete(live.url(location), headers=auth) as r:
                assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
            async with http.post(live.url("/whep"), data=sdp, headers={"Content-Type": "text/plain", **auth}) as r:
                assert r.status == 415 and r.headers["Access-Control-Allow-Origin"] == "*"  # errors too
            async with http.get(live.url("/api/stats"), headers={"Host": "192.168.1.20:8080", **auth}) as r:
                assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
        await pc.close()


def test_token_from_file_or_environment(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("file-token-123\n")
    assert load_token(None, f, environ={}) == "file-token-123"
    assert load_token("cli-token-123", None, environ={TOKEN_ENV: "env-token-123"}) == "cli-token-123"
    assert load_token(None, None, environ={TOKEN_ENV: "env-token-123"}) == "env-token-123"
    assert load_token(None, None, environ={}) is None
    f.write_text("short\n")
    for bad in ((None, f, {}), (None, tmp_path / "missing", {}), (None, None, {TOKEN_ENV: "abc"})):
        with pytest.raises(ValueError) as e:
            load_token(bad[0], bad[1], environ=bad[2])
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="cannot read token file"):
        load_token(None, tmp_path / "missing", environ={})
    with pytest.raises(ValueError, match="5 characters"):
        load_token(None, f, environ={})
    # only a token made up here is printed; one from a file/env never is
    assert ServerSettings(host="0.0.0.0").token_generated
    assert not ServerSettings(host="0.0.0.0", token="file-token-123").token_generated
    # --token and --token-file exclude each other; --stun is opt-in and checked
    import argparse

    from streamfx.live.cli import add_live_arguments

    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    args = parser.parse_args(["--token-file", str(f), "--stun", "stun:127.0.0.1:3478"])
    assert args.token_file == str(f) and args.token is None and args.stun == "stun:127.0.0.1:3478"
    assert parser.parse_args([]).stun is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--token", "abcdefgh1", "--token-file", str(f)])
    for bad_url in ("stun.example.org", "turn:relay.example:3478", "http://x"):
        with pytest.raises(ValueError, match="STUN server must look like"):
            WebRTCSettings(stun=bad_url)


class StunRecorder(asyncio.DatagramProtocol):
    """A STUN server on 127.0.0.1 that answers binding requests and remembers them."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        from aioice import stun

        self.requests.append(addr)
        request = stun.parse_message(data)
        response = stun.Message(request.message_method, stun.Class.RESPONSE, request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


async def test_no_stun_server_is_contacted_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc import RTCIceServer
    from aiortc.rtcicetransport import RTCIceGatherer

    from streamfx.live.hub import LatestFrameHub

    loop = asyncio.get_running_loop()
    transport, stun = await loop.create_datagram_endpoint(StunRecorder, local_addr=("127.0.0.1", 0))
    url = f"stun:127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    # aiortc's default is Google's public STUN server, which this sandbox cannot (and must not)
    # reach: point "the default" at our local recorder instead, so any use of it shows.
    monkeypatch.setattr(RTCIceGatherer, "getDefaultIceServers", classmethod(lambda cls: [RTCIceServer(url)]))
    try:
        for settings, contacted in ((WebRTCSettings(loopback=True), False),
                                    (WebRTCSettings(loopback=True, stun=url), True)):
            rtc = WebRTCHub(LatestFrameHub(), 15, settings)
            pc, sdp = await recvonly_offer()
            _, answer = await rtc.answer(sdp)
            assert bool(stun.requests) is contacted, (settings, stun.requests)
            assert ("typ srflx" in answer.sdp) is contacted
            await rtc.close()
            await pc.close()
    finally:
        transport.close()


async def test_viewer_cap_and_encoder_choice_hold_for_concurrent_offers(portrait_landmarks: np.ndarray) -> None:
    rtc = WebRTCSettings(loopback=True, max_viewers=4, encode="auto", per_viewer_limit=2)
    async with real_server(portrait_landmarks, rtc=rtc) as live:
        offers = [await recvonly_offer() for _ in range(10)]
        async with aiohttp.ClientSession() as http:
            async def post(sdp: str) -> int:
                async with http.post(live.url("/whep"), data=sdp, headers={"Content-Type": "application/sdp"}) as r:
                    await r.read()
                    return r.status

            statuses = await asyncio.gather(*(post(sdp) for _, sdp in offers))
        hub = live.server.webrtc
        assert hub is not None
        assert sorted(statuses) == [201] * 4 + [503] * 6, statuses
        assert len(hub.viewers) == 4
        assert sorted(v.shared for v in hub.viewers.values()) == [False, False, True, True]
        for pc, _ in offers:
            await pc.close()


async def test_a_viewer_that_never_connects_is_reaped(portrait_landmarks: np.ndarray) -> None:
    rtc = WebRTCSettings(loopback=True, max_viewers=1, connect_timeout=0.5)
    async with real_server(portrait_landmarks, rtc=rtc) as live:
        hub = live.server.webrtc
        assert hub is not None
        pc, sdp = await recvonly_offer()
        await pc.close()  # the tab closed mid-handshake: nobody will ever answer ICE checks
        async with aiohttp.ClientSession() as http:
            async with http.post(live.url("/whep"), data=sdp, headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 201
            assert len(hub.viewers) == 1
            # left alone, aioice keeps "connecting" for ~40 s; the reaper frees the slot
            for _ in range(50):
                if not hub.viewers:
                    break
                await asyncio.sleep(0.1)
            assert hub.viewers == {}
            result = await pull_whep(live.url("/whep"), frames=5)  # the freed slot is usable
            assert result.frames >= 5


def radiance_header(width: int, height: int) -> bytes:
    """The start of a Radiance .hdr file (OpenCV reads these; the web upload must not)."""
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode() + b"\x02\x02" * 64


async def test_upload_refuses_other_formats_and_bombs_before_decoding(real_live: Live) -> None:
    from tests.test_media_io import png_header_only

    url = real_live.url("/api/source")
    async with aiohttp.ClientSession() as http:
        async def post(data: bytes, ctype: str = "application/octet-stream", multipart: bool = False) -> tuple[int, str]:
            if multipart:
                form = aiohttp.FormData()
                form.add_field("image", io.BytesIO(data), filename="x.bin", content_type=ctype)
                kwargs: dict = {"data": form}
            else:
                kwargs = {"data": data, "headers": {"Content-Type": ctype}}
            async with http.post(url, **kwargs) as r:
                return r.status, (await r.json())["error"]

        status, msg = await post(radiance_header(14200, 14200))
        assert status == 415 and "JPEG, PNG, WebP or BMP" in msg
        status, msg = await post(b"GIF89a" + b"\0" * 64, "image/gif", multipart=True)
        assert status == 415
        status, msg = await post(png_header_only(14000, 14000), "image/png")  # 196 MP declared, 100 bytes sent
        assert status == 413 and "megapixel" in msg
        for multipart in (False, True):  # between the advertised 15 MB and the old 16 MB body limit
            status, msg = await post(b"\xff\xd8\xff" + b"\0" * 15_500_000, "image/jpeg", multipart=multipart)
            assert status == 413 and "15 MB" in msg, (multipart, msg)
    assert real_live.pipe.status()["source_version"] == 0


async def test_one_upload_is_decoded_at_a_time(real_live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    import streamfx.imageio

    real = streamfx.imageio.load_image_bytes
    lock = threading.Lock()
    inside, most = 0, 0

    def counting(*args: object, **kwargs: object) -> np.ndarray:  # the real decoder, counted
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(0.3)  # a big photo's decode, stretched so that overlaps would show
            return real(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(streamfx.imageio, "load_image_bytes", counting)
    gray = png_bytes(np.full((120, 100, 3), 90, np.uint8))  # no face: decoded, then refused
    async with aiohttp.ClientSession() as http:
        async def post() -> int:
            async with http.post(real_live.url("/api/source"), data=gray, headers={"Content-Type": "image/png"}) as r:
                return r.status

        statuses = await asyncio.gather(*(post() for _ in range(4)))
    assert statuses == [422] * 4
    assert most == 1


async def test_no_face_message_fits_a_web_user(real_live: Live) -> None:
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(np.full((200, 160, 3), 90, np.uint8)), filename="wall.png",
                   content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.post(real_live.url("/api/source"), data=form) as r:
            assert r.status == 422
            msg = (await r.json())["error"]
    assert msg == "no face found in 'wall.png' — upload a portrait with a clearly visible face"


async def test_malformed_json_is_400_never_500(real_live: Live) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    bodies = {
        "/api/settings": [deep, b'{"head_gain": 1e400}', b'{"head_gain": -1e400}', b'{"head_gain": NaN}',
                          b'{"head_gain": Infinity}', b'{"head_gain": 1' + b"0" * 400 + b"}",
                          b'{"head_gain": 1' + b"0" * 5000 + b"}", b"\xff\xfe", b'{"head_gain": 1.2'],
        "/api/pause": [deep, b"[true]", b"true", b'"paused"', b"{}", b'{"paused": 1}', b'{"paused": true, "x": 1}'],
        "/offer": [deep, b"[]", b'{"sdp": 5}', b'{"sdp": "v=0", "type": NaN}'],
    }
    async with aiohttp.ClientSession() as http:
        for path, cases in bodies.items():
            for body in cases:
                async with http.post(real_live.url(path), data=body,
                                     headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 400, (path, body[:40], r.status)
                    assert "error" in await r.json()
        async with http.post(real_live.url("/api/settings"), data=b'{"a": "' + b"x" * 300_000 + b'"}',
                             headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
        async with http.get(real_live.url("/api/settings")) as r:
            assert (await r.json())["animator"]["head_gain"] == 1.0
    assert real_live.pipe.paused is False


async def test_upload_names_cannot_forge_log_lines(real_live: Live, caplog: pytest.LogCaptureFixture) -> None:
    from streamfx.imageio import demo_portrait

    forged = "me.png\nstreamfx: portrait switched to admin.png (1x1)"
    with caplog.at_level(logging.INFO, logger="streamfx"):
        async with aiohttp.ClientSession() as http:
            async with http.post(real_live.url("/api/source"), params={"name": forged},
                                 data=png_bytes(demo_portrait()), headers={"Content-Type": "image/png"}) as r:
                body = await r.json()
                assert r.status == 200, body
    assert "\n" not in body["name"]
    switched = [r.getMessage() for r in caplog.records if "portrait switched" in r.getMessage()]
    assert len(switched) == 1 and "\n" not in switched[0], switched


async def test_slow_header_connections_are_closed(portrait_landmarks: np.ndarray) -> None:
    async with real_server(portrait_landmarks, ServerSettings(port=0, header_timeout=0.5)) as live:
        port = live.server.port
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        for _, writer in conns:
            writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())

        async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
            """Send one more header line every 0.2 s (never the blank line); True once the server hangs up."""
            for i in range(25):  # 5 s: ten times the timeout
                try:
                    writer.write(f"X-Slow-{i}: 1\r\n".encode())
                    await writer.drain()
                    if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                        return True
                except asyncio.TimeoutError:
                    continue
                except ConnectionError:
                    return True
            return False

        closed = await asyncio.gather(*(trickle(r, w) for r, w in conns))
        for _, writer in conns:
            writer.close()
        assert all(closed), closed.count(False)
        async with aiohttp.ClientSession() as http:  # and real requests are still served
            async with http.get(live.url("/api/stats")) as r:
                assert r.status == 200


async def test_slow_bodies_get_408(real_live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamfx.web.server

    monkeypatch.setattr(streamfx.web.server, "BODY_TIMEOUT", 0.5)
    port = real_live.server.port
    for path, ctype in (("/api/settings", "application/json"), ("/api/source", "image/png"),
                        ("/api/source", "multipart/form-data; boundary=x")):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
                     "Content-Length: 1000\r\n\r\n{".encode())  # …and the other 999 bytes never come
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.split()[1] == b"408", (path, status)
