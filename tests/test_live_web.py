"""Live web server: WHEP and JSON offers pulled by an aiortc client, control API, auth, metrics.

Every server here runs the real parts: the real Animator on the demo portrait, driven by the
real ``talk`` motion script, composited to a small 320×180 (quick on 2 cores). Every viewer
test decodes what it received and checks, with tests/picture.py, that it is the animated
portrait: not blank, this portrait, the face moving and the background still.
"""

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

from streamfx.live.pipeline import LivePipeline
from streamfx.web.client import pull_offer, pull_whep
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
from tests.picture import PortraitCheck
from tests.test_live_pipeline import WAIT, mirrored, real_pipeline

SIZE = (320, 180)
FPS = 30
CHECKED: dict = {"frames": 40, "seconds": WAIT, "keep": 12, "keep_every": 3, "keep_from": 4}
"""How viewers here pull: 40 frames (waiting up to WAIT s for them), 12 kept 0.1 s apart for the
picture check, after the first few (the encoder is still sharpening a new stream's first frames)."""


class Live:
    def __init__(self, pipe: LivePipeline, server: LiveServer, portrait: np.ndarray, landmarks: np.ndarray) -> None:
        self.pipe, self.server = pipe, server
        self.check = PortraitCheck(portrait, landmarks, out_size=SIZE)
        """What the viewers must see: the demo portrait, animated, fitted into SIZE."""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    @property
    def rtc(self) -> WebRTCHub:
        assert self.server.webrtc is not None
        return self.server.webrtc


@contextlib.asynccontextmanager
async def real_server(portrait: np.ndarray, landmarks: np.ndarray, server: ServerSettings | None = None,
                      rtc: WebRTCSettings | None = None, size: tuple[int, int] = SIZE) -> AsyncIterator[Live]:
    """The demo portrait animated by the real Animator from the "talk" motion script, served
    on 127.0.0.1 (no fakes: the script supplies landmarks, so no webcam is needed)."""
    pipe = real_pipeline(portrait, landmarks, width=size[0], height=size[1], fps=FPS)
    hub = WebRTCHub(pipe.hub, FPS, rtc or WebRTCSettings(loopback=True), pipe.metrics, size=size)
    srv = LiveServer(pipe, server or ServerSettings(port=0), hub)
    pipe.start()
    await srv.start()
    try:
        yield Live(pipe, srv, portrait, landmarks)
    finally:
        await srv.stop()
        pipe.stop()


@pytest.fixture
async def live(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> AsyncIterator[Live]:
    async with real_server(portrait, portrait_landmarks) as server:
        yield server


async def swap_rtc(live: Live, settings: WebRTCSettings) -> WebRTCHub:
    """Serve viewers from a new WebRTCHub with ``settings`` (the old one is closed)."""
    old = live.rtc
    live.server.webrtc = WebRTCHub(live.pipe.hub, FPS, settings, live.pipe.metrics, size=SIZE)
    await old.close()
    return live.server.webrtc


async def test_whep_pull_receives_the_animated_portrait_and_bad_sdp_is_400(live: Live) -> None:
    result = await pull_whep(live.url("/whep"), **CHECKED)
    assert result.frames >= 40
    assert result.sizes == {SIZE}
    live.check.assert_animated(result.images)
    assert result.location is not None and "/whep/" in result.location
    async with aiohttp.ClientSession() as http:
        # the DELETE above ended the session
        assert live.rtc.viewers == {}
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
    # and the server still streams the animation after the bad requests
    again = await pull_whep(live.url("/whep"), **CHECKED)
    live.check.assert_animated(again.images)


async def test_offer_viewer_receives_the_animated_portrait(live: Live) -> None:
    # the viewer page's protocol: JSON {"sdp", "type"} in, the answer as JSON out
    result = await pull_offer(live.url("/offer"), **CHECKED)
    assert result.frames >= 40 and result.sizes == {SIZE}
    assert result.location is None and result.answer and result.answer.startswith("v=0")
    live.check.assert_animated(result.images)


async def test_whep_session_delete_is_204(live: Live) -> None:
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
        assert len(live.rtc.viewers) == 1
        async with http.delete(live.url(loc)) as r:
            assert r.status == 204
        assert live.rtc.viewers == {}
    await pc.close()


async def wait_for(condition: object, what: str, timeout: float = WAIT) -> None:
    """Poll ``condition()`` on the event loop until true (fail after ``timeout`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.02)


async def test_control_api_applies_settings_live(live: Live, portrait: np.ndarray,
                                                 portrait_landmarks: np.ndarray) -> None:
    anim = live.pipe.animator
    async with aiohttp.ClientSession() as http:
        async with http.get(live.url("/api/settings")) as r:
            s = await r.json()
            assert s["animator"]["head_gain"] == 1.0 and s["paused"] is False
        async with http.post(live.url("/api/settings"), json={"head_gain": 2.5, "mirror": True}) as r:
            assert r.status == 200
            assert (await r.json())["animator"]["head_gain"] == 2.5
        assert anim.retargeter.settings.head_gain == 2.5  # type: ignore[attr-defined]
        for bad in ({"head_gain": 99}, {"nope": 1}, {"mirror": "yes"}, [], {"smoothing": True}):
            async with http.post(live.url("/api/settings"), json=bad) as r:
                assert r.status == 400, bad
                assert "error" in await r.json()
        before = np.array(anim.retargeter.reference)  # type: ignore[attr-defined]
        async with http.post(live.url("/api/calibrate")) as r:
            assert r.status == 200
        # the next driver frame becomes the neutral face (the talk script has moved on since)
        await wait_for(lambda: not np.array_equal(anim.retargeter.reference, before),  # type: ignore[attr-defined]
                       "a new neutral face after calibrating")

        async with http.post(live.url("/api/pause"), json={"paused": True}) as r:
            assert (await r.json())["paused"] is True
        # paused, viewers get the last frame again and again: a still picture, not a black one
        seq = live.pipe.hub.seq
        held = await pull_whep(live.url("/whep"), frames=20, seconds=WAIT, keep=12, keep_from=8)
        assert held.frames >= 20 and live.pipe.hub.seq - seq <= 1  # 20 frames sent, none new: repeats
        m = live.check.measure(held.images)
        assert m.min_std > 8 and m.still_vs_source < 10, m
        assert m.face_change < 6.0, m  # codec noise only; the talk script moves the face by 15–25
        async with http.post(live.url("/api/pause")) as r:  # toggle
            assert (await r.json())["paused"] is False

        # a new portrait (the astronaut mirrored): uploaded, it is what viewers see from then on
        other, other_landmarks = mirrored(portrait, portrait_landmarks)
        form = aiohttp.FormData()
        form.add_field("image", io.BytesIO(png_bytes(other)), filename="new.png", content_type="image/png")
        async with http.post(live.url("/api/source"), data=form) as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["size"] == [512, 512] and body["source_version"] == 1
        after = await pull_whep(live.url("/whep"), **CHECKED)
        PortraitCheck(other, other_landmarks, out_size=SIZE).assert_animated(after.images)

        async with http.post(live.url("/api/source"), data=b"not an image",
                             headers={"Content-Type": "image/png"}) as r:
            assert r.status == 415  # the bytes decide, not the declared type
        async with http.post(live.url("/api/source"), data=png_bytes(other)[:20],
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
            assert stats["output_fps"] > 0 and stats["status"]["source_version"] == 1
        for page in ("/", "/panel", "/static/live.js", "/static/panel.js", "/static/style.css"):
            async with http.get(live.url(page)) as r:
                assert r.status == 200, page


async def test_token_is_required_off_loopback(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert ServerSettings(host="127.0.0.1").token is None
    auto = ServerSettings(host="0.0.0.0", port=0)
    assert auto.token and len(auto.token) >= 16
    pipe = real_pipeline(portrait, portrait_landmarks)
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


def first_codec(answer: str) -> str:
    """The codec an SDP answer puts first on its video line (the one the sender uses)."""
    mline = next(line for line in answer.splitlines() if line.startswith("m=video"))
    pt = mline.split()[3]
    rtpmap = next(line for line in answer.splitlines() if line.startswith(f"a=rtpmap:{pt} "))
    return rtpmap.split()[1].split("/")[0]


async def test_h264_and_bitrate_cap(live: Live) -> None:
    from streamfx.web.webrtc import _CappedEncoder

    rtc = await swap_rtc(live, WebRTCSettings(loopback=True, codec="h264", bitrate=400_000, encode="per-viewer"))
    caps: list[int] = []

    def on_frame(frame: object) -> None:
        for v in rtc.viewers.values():
            enc = getattr(v.track.sender, "_RTCRtpSender__encoder", None) if v.track else None
            if isinstance(enc, _CappedEncoder):
                enc.target_bitrate = 5_000_000  # what a generous REMB would ask for
                caps.append(enc.target_bitrate)

    result = await pull_whep(live.url("/whep"), on_frame=on_frame, **CHECKED)
    assert result.frames >= 40 and result.sizes == {SIZE}
    assert result.answer is not None and first_codec(result.answer) == "H264"
    assert caps and max(caps) <= 400_000
    live.check.assert_animated(result.images)  # the capped H.264 stream is still the portrait
    # the H.264 choice holds for the viewer page's JSON offers too
    offered = await pull_offer(live.url("/offer"), **CHECKED)
    assert offered.answer is not None and first_codec(offered.answer) == "H264"
    live.check.assert_animated(offered.images)


async def test_shared_encoder_fans_out_one_encode(live: Live) -> None:
    rtc = await swap_rtc(live, WebRTCSettings(encode="shared", loopback=True))
    results = await asyncio.gather(*(pull_whep(live.url("/whep"), **CHECKED) for _ in range(3)))
    for r in results:
        assert r.frames >= 40 and r.sizes == {SIZE}
        live.check.assert_animated(r.images)  # every viewer of the one encoder sees the animation
    assert rtc.shared is not None
    # three viewers, but roughly one encode per frame (not three)
    total = sum(r.frames for r in results)
    assert rtc.shared.frames < 0.6 * total, (rtc.shared.frames, total)
    assert rtc.shared.keyframes >= 1


async def test_auto_mode_shares_the_encoder_beyond_the_first_viewers(live: Live) -> None:
    rtc = await swap_rtc(live, WebRTCSettings(encode="auto", per_viewer_limit=1, loopback=True))
    leave = asyncio.Event()
    first = asyncio.ensure_future(pull_whep(live.url("/whep"), stop=leave, keep=12, keep_every=3, keep_from=4))
    await wait_for(lambda: len(rtc.viewers) == 1, "the first viewer")
    second = asyncio.ensure_future(pull_whep(live.url("/whep"), **CHECKED))
    await wait_for(lambda: len(rtc.viewers) == 2 or second.done(), "the second viewer")
    kinds = sorted(v.shared for v in rtc.viewers.values())
    shared = await second
    leave.set()
    own = await first
    assert kinds == [False, True]  # one with its own encoder, the next one shared
    assert own.frames >= 10 and shared.frames >= 40
    assert rtc.shared is not None and rtc.shared.frames >= 20
    live.check.assert_animated(own.images)
    live.check.assert_animated(shared.images)


# -- safe by default (issue 8) ----------------------------------------------------------------

async def recvonly_offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


async def test_loopback_server_answers_only_its_own_names(live: Live) -> None:
    port = live.server.port
    async with aiohttp.ClientSession() as http:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
            async with http.get(live.url("/api/stats"), headers={"Host": host}) as r:
                assert r.status == 200, host
        # DNS rebinding: the attacker's name (or another port, or junk) in Host
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", f"x@127.0.0.1:{port}",
                     f"127.0.0.1.nip.io:{port}"):
            for method, path in (("GET", "/"), ("GET", "/api/settings"), ("POST", "/api/pause")):
                async with http.request(method, live.url(path), headers={"Host": host}) as r:
                    assert r.status == 421, (host, method, path)
                    assert "--token" in (await r.json())["error"]
    assert live.pipe.paused is False


async def test_loopback_server_refuses_cross_site_requests(live: Live) -> None:
    port = live.server.port
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
                async with http.request(method, live.url(path), data=body, headers={**h, **headers}) as r:
                    assert r.status == 403, (method, path, headers)
                    assert "cross-site request refused" in (await r.json())["error"]
                    assert not any(k.lower().startswith("access-control-") for k in r.headers), r.headers
        status = live.pipe.status()
        assert live.pipe.paused is False and status["source_version"] == 0
        assert live.server.webrtc is not None and live.server.webrtc.viewers == {}
        async with http.get(live.url("/api/settings")) as r:
            assert (await r.json())["animator"]["head_gain"] == 1.0
        # the panel's own requests (same origin) work, with or without Fetch Metadata
        for same in ({"Origin": own, "Sec-Fetch-Site": "same-origin"}, {"Origin": own}, {}):
            async with http.post(live.url("/api/pause"), json={"paused": True}, headers=same) as r:
                assert r.status == 200 and (await r.json())["paused"] is True
            async with http.post(live.url("/api/pause"), json={"paused": False}, headers=same) as r:
                assert r.status == 200
        # JSON routes take JSON only: a text/plain "simple request" is refused even same-origin
        async with http.post(live.url("/api/settings"), data=b'{"head_gain": 2}',
                             headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415
        # no page with controls may be framed (clickjacking), under any of its paths; the
        # viewer at / may (it is embedded with ?embed=1)
        for page in ("/panel", "/static/panel.html", "/static/panel.js", "/api/stats"):
            async with http.get(live.url(page)) as r:
                assert r.status == 200, page
                assert r.headers["X-Frame-Options"] == "DENY", page
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], page
        async with http.get(live.url("/")) as r:
            assert "X-Frame-Options" not in r.headers
    await pc.close()


async def test_token_mode_allows_other_hosts_and_cors_for_whep_players(portrait: np.ndarray,
                                                                      portrait_landmarks: np.ndarray) -> None:
    async with real_server(portrait, portrait_landmarks, ServerSettings(port=0, token="s3cret-token")) as live:
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
        # a WHEP player with the token gets the animation
        with pytest.raises(RuntimeError, match="401"):
            await pull_whep(live.url("/whep"), frames=1, seconds=WAIT)
        player = await pull_whep(live.url("/whep"), token="s3cret-token", **CHECKED)
        live.check.assert_animated(player.images)


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


async def test_viewer_cap_and_encoder_choice_hold_for_concurrent_offers(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    rtc = WebRTCSettings(loopback=True, max_viewers=4, encode="auto", per_viewer_limit=2)
    async with real_server(portrait, portrait_landmarks, rtc=rtc) as live:
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


async def test_a_viewer_that_never_connects_is_reaped(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    rtc = WebRTCSettings(loopback=True, max_viewers=1, connect_timeout=0.5)
    async with real_server(portrait, portrait_landmarks, rtc=rtc) as live:
        hub = live.server.webrtc
        assert hub is not None
        pc, sdp = await recvonly_offer()
        await pc.close()  # the tab closed mid-handshake: nobody will ever answer ICE checks
        async with aiohttp.ClientSession() as http:
            async with http.post(live.url("/whep"), data=sdp, headers={"Content-Type": "application/sdp"}) as r:
                assert r.status == 201
            assert len(hub.viewers) == 1
            # left alone, aioice keeps "connecting" for ~40 s; the reaper frees the slot (the
            # limit is generous for a loaded machine, yet well short of aioice's own timeout)
            await wait_for(lambda: not hub.viewers, "the unconnected viewer reaped", timeout=20)
            result = await pull_whep(live.url("/whep"), **CHECKED)  # the freed slot
            live.check.assert_animated(result.images)


def radiance_header(width: int, height: int) -> bytes:
    """The start of a Radiance .hdr file (OpenCV reads these; the web upload must not)."""
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode() + b"\x02\x02" * 64


async def test_upload_refuses_other_formats_and_bombs_before_decoding(live: Live) -> None:
    from tests.test_media_io import png_header_only

    url = live.url("/api/source")
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
    assert live.pipe.status()["source_version"] == 0


async def test_one_upload_is_decoded_at_a_time(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
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
            async with http.post(live.url("/api/source"), data=gray, headers={"Content-Type": "image/png"}) as r:
                return r.status

        statuses = await asyncio.gather(*(post() for _ in range(4)))
    assert statuses == [422] * 4
    assert most == 1


async def test_a_faceless_upload_is_422_and_the_show_goes_on(live: Live, portrait: np.ndarray) -> None:
    # the panel's real no-face path: the real Animator looks for a face and finds none
    wall = np.ascontiguousarray(portrait[:160, -120:])  # a corner of the photo: sky and wall, no face
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(wall), filename="wall.png", content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.post(live.url("/api/source"), data=form) as r:
            assert r.status == 422
            msg = (await r.json())["error"]
    assert msg == "no face found in 'wall.png' — upload a portrait with a clearly visible face"
    # the portrait is unchanged and still animated for viewers
    assert live.pipe.status()["source_version"] == 0
    assert live.pipe.animator.source_image is portrait  # type: ignore[attr-defined]
    result = await pull_whep(live.url("/whep"), **CHECKED)
    live.check.assert_animated(result.images)


async def test_malformed_json_is_400_never_500(live: Live) -> None:
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
                async with http.post(live.url(path), data=body,
                                     headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 400, (path, body[:40], r.status)
                    assert "error" in await r.json()
        async with http.post(live.url("/api/settings"), data=b'{"a": "' + b"x" * 300_000 + b'"}',
                             headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
        async with http.get(live.url("/api/settings")) as r:
            assert (await r.json())["animator"]["head_gain"] == 1.0
    assert live.pipe.paused is False


async def test_upload_names_cannot_forge_log_lines(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    from streamfx.imageio import demo_portrait

    forged = "me.png\nstreamfx: portrait switched to admin.png (1x1)"
    with caplog.at_level(logging.INFO, logger="streamfx"):
        async with aiohttp.ClientSession() as http:
            async with http.post(live.url("/api/source"), params={"name": forged},
                                 data=png_bytes(demo_portrait()), headers={"Content-Type": "image/png"}) as r:
                body = await r.json()
                assert r.status == 200, body
    assert "\n" not in body["name"]
    switched = [r.getMessage() for r in caplog.records if "portrait switched" in r.getMessage()]
    assert len(switched) == 1 and "\n" not in switched[0], switched


async def test_slow_header_connections_are_closed(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    async with real_server(portrait, portrait_landmarks, ServerSettings(port=0, header_timeout=0.5)) as live:
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


async def test_slow_bodies_get_408(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamfx.web.server

    monkeypatch.setattr(streamfx.web.server, "BODY_TIMEOUT", 0.5)
    port = live.server.port
    for path, ctype in (("/api/settings", "application/json"), ("/api/source", "image/png"),
                        ("/api/source", "multipart/form-data; boundary=x")):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
                     "Content-Length: 1000\r\n\r\n{".encode())  # …and the other 999 bytes never come
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.split()[1] == b"408", (path, status)
