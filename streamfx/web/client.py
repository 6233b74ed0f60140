"""A small WHEP client (aiortc): pull the live stream, count and measure frames.

Used by the tests and benchmarks, and handy on its own::

    python -m streamfx.web.client http://127.0.0.1:8080/whep --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
import av
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

    def fps(self, skip_s: float = 0.0) -> float:
        t = [a for a in self.arrivals if a >= (self.arrivals[0] + skip_s if self.arrivals else 0)]
        if len(t) < 2:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])


async def pull_whep(
    url: str,
    *,
    seconds: float | None = None,
    frames: int | None = None,
    token: str | None = None,
    on_frame: Callable[[av.VideoFrame], None] | None = None,
    connect_timeout: float = 20.0,
) -> PullResult:
    """POST a recvonly offer to a WHEP endpoint, receive until ``seconds``/``frames``, DELETE."""
    result = PullResult()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN server: host candidates only
    pc.addTransceiver("video", direction="recvonly")
    done = asyncio.Event()
    track_ready: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track: object) -> None:
        if not track_ready.done():
            track_ready.set_result(track)

    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await pc.setLocalDescription(await pc.createOffer())
        async with http.post(url, data=pc.localDescription.sdp, headers=headers) as r:
            body = await r.text()
            if r.status != 201:
                await pc.close()
                raise RuntimeError(f"WHEP POST {url} → {r.status}: {body.strip()}")
            result.location = urljoin(url, r.headers["Location"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
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
                    result.frames += 1
                    result.arrivals.append(now)
                    result.sizes.add((frame.width, frame.height))
                    if on_frame is not None:
                        on_frame(frame)
                    if frames is not None and result.frames >= frames:
                        done.set()

            task = asyncio.ensure_future(consume())
            with contextlib.suppress(asyncio.TimeoutError):
                if seconds is not None and frames is None:
                    # time the window from the first frame, not from the handshake
                    await asyncio.wait_for(_first_frame(result), connect_timeout)
                    await asyncio.sleep(seconds)
                else:
                    await asyncio.wait_for(done.wait(), seconds)
            task.cancel()
        finally:
            if result.location:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.delete(result.location, headers=headers):
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
