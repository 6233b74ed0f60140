"""A small WebRTC viewer (aiortc): pull the live stream, count, time and keep frames.

Speaks WHEP (``POST /whep``, what OBS and players use), the viewer page's JSON offer
(``POST /offer``), or Janus' HTTP API as a VideoRoom subscriber (the stream that
``streamfx live --whip`` published into a Janus room). Used by the tests and benchmarks,
and handy on its own::

    python -m streamfx.web.client http://127.0.0.1:8080/whep --seconds 10
    python -m streamfx.web.client http://127.0.0.1:8088/janus --janus-room 1234 --loopback
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


@dataclass
class PullResult:
    frames: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    first_frame_s: float | None = None
    """Seconds from POST to the first decoded frame."""
    arrivals: list[float] = field(default_factory=list)
    location: str | None = None
    """The WHEP session URL (None for a JSON offer, which has no session resource)."""
    answer: str | None = None
    """The server's SDP answer (which codec it chose, its candidates)."""
    images: list[np.ndarray] = field(default_factory=list)
    """Decoded frames kept as RGB uint8 H×W×3 (see ``keep``), in the order they arrived."""
    sound: list[tuple[float, np.ndarray]] = field(default_factory=list)
    """With ``audio=True``: (arrival perf_counter, mono float32 samples at 48 kHz) per audio frame."""

    def fps(self, skip_s: float = 0.0) -> float:
        t = [a for a in self.arrivals if a >= (self.arrivals[0] + skip_s if self.arrivals else 0)]
        if len(t) < 2:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])


# POSTs an offer (SDP text), returns the answer's SDP and the session URL if there is one
Signal = Callable[[aiohttp.ClientSession, str], Awaitable[tuple[str, str | None]]]
# Negotiates the whole session on a recvonly-capable peer connection (whoever offers);
# returns a coroutine function that ends the session on the server (or None)
Negotiate = Callable[[aiohttp.ClientSession, RTCPeerConnection, PullResult],
                     Awaitable[Callable[[], Awaitable[None]] | None]]


async def pull_whep(url: str, *, token: str | None = None, **kw: object) -> PullResult:
    """POST a recvonly offer to a WHEP endpoint, receive (see :func:`pull`), DELETE the session.

    Raises RuntimeError when the POST is not answered with 201.
    """
    headers = {"Content-Type": "application/sdp", **_auth(token)}

    async def signal(http: aiohttp.ClientSession, sdp: str) -> tuple[str, str | None]:
        async with http.post(url, data=sdp, headers=headers) as r:
            body = await r.text()
            if r.status != 201:
                raise RuntimeError(f"WHEP POST {url} → {r.status}: {body.strip()}")
            return body, urljoin(url, r.headers["Location"])

    return await pull(signal, token=token, **kw)  # type: ignore[arg-type]


async def pull_offer(url: str, *, token: str | None = None, **kw: object) -> PullResult:
    """Like :func:`pull_whep`, through the viewer page's JSON ``/offer`` endpoint."""

    async def signal(http: aiohttp.ClientSession, sdp: str) -> tuple[str, str | None]:
        async with http.post(url, json={"sdp": sdp, "type": "offer"}, headers=_auth(token)) as r:
            if r.status != 200:
                raise RuntimeError(f"POST {url} → {r.status}: {(await r.text()).strip()}")
            return str((await r.json())["sdp"]), None

    return await pull(signal, token=token, **kw)  # type: ignore[arg-type]


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _offerer(signal: Signal, token: str | None, audio: bool = False) -> Negotiate:
    """We offer (recvonly; with ``audio`` the sound too), ``signal`` carries the offer and
    brings back the answer."""

    async def negotiate(http: aiohttp.ClientSession, pc: RTCPeerConnection,
                        result: PullResult) -> Callable[[], Awaitable[None]] | None:
        pc.addTransceiver("video", direction="recvonly")
        if audio:  # also ask for the sound: pull_with keeps it (see PullResult.sound)
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        result.answer, result.location = await signal(http, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=result.answer, type="answer"))
        if not result.location:
            return None
        location = result.location

        async def delete() -> None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.delete(location, headers=_auth(token)):
                    pass

        return delete

    return negotiate


async def pull_janus(url: str, room: int, *, feed: int | None = None, **kw: object) -> PullResult:
    """Subscribe to a Janus VideoRoom publisher through Janus' HTTP API (``url`` ends in /janus).

    Waits (up to ``connect_timeout``) for a publisher in ``room`` (or the one with id ``feed``),
    joins as a subscriber, answers Janus' offer, receives (see :func:`pull`), destroys the
    Janus session. Raises RuntimeError when Janus says no.
    """
    timeout = float(kw.get("connect_timeout", 20.0))  # type: ignore[arg-type]

    async def negotiate(http: aiohttp.ClientSession, pc: RTCPeerConnection,
                        result: PullResult) -> Callable[[], Awaitable[None]] | None:
        janus = _JanusSession(http, url)
        await janus.create()
        try:
            handle = await janus.attach("janus.plugin.videoroom")
            publisher = await janus.wait_for_publisher(handle, room, feed, timeout)
            offer = await janus.join_subscriber(handle, room, publisher, timeout)
            result.location = f"{url}/{janus.session}"
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            result.answer = pc.localDescription.sdp
            await janus.message(handle, {"request": "start", "room": room},
                                jsep={"type": "answer", "sdp": result.answer})
        except BaseException:
            await janus.destroy()
            raise
        return janus.destroy

    return await pull_with(negotiate, **kw)  # type: ignore[arg-type]


class _JanusSession:
    """The few Janus HTTP API calls a VideoRoom subscriber needs (and its long-poll keepalive)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url.rstrip("/")
        self.session: int | None = None
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict) -> dict:
        body = {**body, "transaction": uuid.uuid4().hex}
        async with self.http.post(self.url + path, json=body) as r:
            reply = await r.json(content_type=None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"Janus: {reply['error'].get('reason')}")
        return dict(reply)

    async def create(self) -> None:
        self.session = int((await self._post("", {"janus": "create"}))["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        # the long poll both brings the plugin's events and keeps the session alive
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.session}?maxev=10",
                                         timeout=aiohttp.ClientTimeout(total=40)) as r:
                    got = await r.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.5)
                continue
            for event in got if isinstance(got, list) else [got]:
                if event.get("janus") != "keepalive":
                    self.events.put_nowait(event)

    async def attach(self, plugin: str) -> int:
        return int((await self._post(f"/{self.session}", {"janus": "attach", "plugin": plugin}))["data"]["id"])

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        msg: dict = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        return await self._post(f"/{self.session}/{handle}", msg)

    async def wait_for_publisher(self, handle: int, room: int, feed: int | None, timeout: float) -> int:
        end = time.monotonic() + timeout
        while True:
            reply = await self.message(handle, {"request": "listparticipants", "room": room})
            data = reply.get("plugindata", {}).get("data", {})
            if "error" in data:
                raise RuntimeError(f"Janus room {room}: {data['error']}")
            ids = [p["id"] for p in data.get("participants", []) if p.get("publisher")]
            if feed in ids or (feed is None and ids):
                return int(feed if feed is not None else ids[0])
            if time.monotonic() > end:
                raise RuntimeError(f"no publisher in Janus room {room} after {timeout:g} s")
            await asyncio.sleep(0.2)

    async def join_subscriber(self, handle: int, room: int, publisher: int, timeout: float) -> str:
        """Join as a subscriber to ``publisher``; Janus' SDP offer."""
        await self.message(handle, {"request": "join", "ptype": "subscriber", "room": room,
                                    "streams": [{"feed": publisher}]})
        end = time.monotonic() + timeout
        while True:
            event = await asyncio.wait_for(self.events.get(), max(0.1, end - time.monotonic()))
            data = event.get("plugindata", {}).get("data", {})
            if "error" in data:
                raise RuntimeError(f"Janus would not subscribe: {data['error']}")
            if event.get("jsep", {}).get("type") == "offer":
                return str(event["jsep"]["sdp"])

    async def destroy(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        if self.session is not None:
            with contextlib.suppress(aiohttp.ClientError, RuntimeError, asyncio.TimeoutError):
                await self._post(f"/{self.session}", {"janus": "destroy"})
            self.session = None


async def pull(signal: Signal, *, token: str | None = None, audio: bool = False, **kw: object) -> PullResult:
    """Receive one video stream from a server we send an offer to (see :func:`pull_with`);
    ``audio``: ask for its sound too, kept in :attr:`PullResult.sound`."""
    return await pull_with(_offerer(signal, token, audio), **kw)  # type: ignore[arg-type]


async def pull_with(
    negotiate: Negotiate,
    *,
    seconds: float | None = None,
    frames: int | None = None,
    token: str | None = None,
    on_frame: Callable[[av.VideoFrame], None] | None = None,
    keep: int = 0,
    keep_every: int = 1,
    keep_from: int = 0,
    stop: asyncio.Event | None = None,
    connect_timeout: float = 20.0,
    loopback: bool = False,
) -> PullResult:
    """Receive one video stream until ``frames`` arrived, ``seconds`` passed or ``stop`` is set.

    ``loopback``: also offer 127.0.0.1 candidates (a server on this machine with no other
    network, e.g. in a network namespace of its own). Any audio track the session carries
    (``pull(..., audio=True)`` asks for one) is kept in :attr:`PullResult.sound`.

    ``seconds`` alone times the window from the first frame; with ``frames`` it is the limit
    for receiving them (without either, only ``stop`` ends it). ``keep`` decoded frames (every
    ``keep_every``-th, from frame number ``keep_from`` on: an encoder is still sharpening a new
    stream's first frames) are converted to RGB into :attr:`PullResult.images`.
    """
    if loopback:
        from streamfx.web.webrtc import enable_loopback_candidates

        enable_loopback_candidates()
    result = PullResult()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN server: host candidates only
    done = asyncio.Event()
    track_ready: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    sound_tasks: list[asyncio.Task[None]] = []

    async def hear(track: object) -> None:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()  # type: ignore[attr-defined]
                now = time.perf_counter()
                for f in resampler.resample(frame):
                    result.sound.append((now, f.to_ndarray().reshape(-1).copy()))

    @pc.on("track")
    def on_track(track: object) -> None:
        if getattr(track, "kind", "video") == "audio":
            sound_tasks.append(asyncio.ensure_future(hear(track)))
            return
        if not track_ready.done():
            track_ready.set_result(track)

    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        try:
            end_session = await negotiate(http, pc, result)
        except BaseException:
            await pc.close()
            raise
        try:
            track = await asyncio.wait_for(track_ready, connect_timeout)

            async def consume() -> None:
                while True:
                    try:
                        frame = await track.recv()  # type: ignore[attr-defined]
                    except MediaStreamError:
                        break
                    now = time.perf_counter()
                    if result.first_frame_s is None:
                        result.first_frame_s = now - t0
                    n = result.frames - keep_from
                    if n >= 0 and n % keep_every == 0 and len(result.images) < keep:
                        result.images.append(frame.to_ndarray(format="rgb24"))
                    result.frames += 1
                    result.arrivals.append(now)
                    result.sizes.add((frame.width, frame.height))
                    if on_frame is not None:
                        on_frame(frame)
                    if frames is not None and result.frames >= frames:
                        done.set()

            async def stopped() -> None:
                if stop is not None:
                    await stop.wait()
                    done.set()

            task = asyncio.ensure_future(consume())
            watcher = asyncio.ensure_future(stopped())
            with contextlib.suppress(asyncio.TimeoutError):
                if seconds is not None and frames is None:
                    # time the window from the first frame, not from the handshake
                    await asyncio.wait_for(_first_frame(result), connect_timeout)
                    await asyncio.wait_for(done.wait(), seconds)
                else:
                    await asyncio.wait_for(done.wait(), seconds)
            task.cancel()
            watcher.cancel()
            for t in sound_tasks:
                t.cancel()
        finally:
            if end_session is not None:
                await end_session()
            await pc.close()
    return result


async def _first_frame(result: PullResult) -> None:
    while result.frames == 0:
        await asyncio.sleep(0.01)


def main() -> int:
    p = argparse.ArgumentParser(description="Pull a StreamFX (or any WHEP) stream and report fps.")
    p.add_argument("url", help="a WHEP endpoint, or Janus' HTTP API (…/janus) with --janus-room")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--token")
    p.add_argument("--janus-room", type=int, metavar="ROOM", help="subscribe through Janus' VideoRoom ROOM")
    p.add_argument("--loopback", action="store_true", help="also use 127.0.0.1 ICE candidates")
    a = p.parse_args()
    if a.janus_room is not None:
        r = asyncio.run(pull_janus(a.url, a.janus_room, seconds=a.seconds, loopback=a.loopback))
    else:
        r = asyncio.run(pull_whep(a.url, seconds=a.seconds, token=a.token, loopback=a.loopback))
    print(f"{r.frames} frames, {r.fps(1.0):.1f} fps, sizes {sorted(r.sizes)}, first frame after {r.first_frame_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
