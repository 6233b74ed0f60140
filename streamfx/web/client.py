"""A small WebRTC viewer (aiortc): pull the live stream, count, time and keep frames.

Speaks WHEP (``POST /whep``, what OBS and players use) or the viewer page's JSON offer
(``POST /offer``). Used by the tests and benchmarks, and handy on its own::

    python -m streamfx.web.client http://127.0.0.1:8080/whep --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
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


async def pull(
    signal: Signal,
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
    audio: bool = False,
) -> PullResult:
    """Receive one video stream until ``frames`` arrived, ``seconds`` passed or ``stop`` is set.

    ``seconds`` alone times the window from the first frame; with ``frames`` it is the limit
    for receiving them (without either, only ``stop`` ends it). ``keep`` decoded frames (every
    ``keep_every``-th, from frame number ``keep_from`` on: an encoder is still sharpening a new
    stream's first frames) are converted to RGB into :attr:`PullResult.images`.
    """
    result = PullResult()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN server: host candidates only
    pc.addTransceiver("video", direction="recvonly")
    if audio:  # also ask for the sound, and keep it (see PullResult.sound)
        pc.addTransceiver("audio", direction="recvonly")
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
        await pc.setLocalDescription(await pc.createOffer())
        try:
            result.answer, result.location = await signal(http, pc.localDescription.sdp)
        except BaseException:
            await pc.close()
            raise
        await pc.setRemoteDescription(RTCSessionDescription(sdp=result.answer, type="answer"))
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
            if result.location:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.delete(result.location, headers=_auth(token)):
                        pass
            await pc.close()
    return result


async def _first_frame(result: PullResult) -> None:
    while result.frames == 0:
        await asyncio.sleep(0.01)


def main() -> int:
    p = argparse.ArgumentParser(description="Pull a StreamFX (or any WHEP) stream and report fps.")
    p.add_argument("url")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--token")
    a = p.parse_args()
    r = asyncio.run(pull_whep(a.url, seconds=a.seconds, token=a.token))
    print(f"{r.frames} frames, {r.fps(1.0):.1f} fps, sizes {sorted(r.sizes)}, first frame after {r.first_frame_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
