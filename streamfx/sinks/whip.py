"""WHIP sink: publish the animation to a media server (SFU) that fans it out (RFC 9725).

One machine encodes once per viewer with the built-in WebRTC server; an SFU (Janus,
LiveKit, MediaMTX, a hosted ingest) takes one stream and serves the crowd. WHIP is the
standard way in:

    POST <endpoint>  Content-Type: application/sdp, Authorization: Bearer <token>, body: offer
    ← 201 Created    Location: <resource>, body: answer        … stream …
    DELETE <resource>                                          (the endpoint is free again)

:class:`WhipSink` runs its own asyncio loop on a thread: :meth:`WhipSink.write` only drops
the frame into a one-slot hub (the newest frame wins; never blocks the pipeline or the
other sinks), and an aiortc track reads that hub at the output fps. When the session dies
(ICE fails, or the SFU goes silent: no RTCP for ``liveness_timeout`` s) the sink deletes
the old resource and publishes again with back-off (1, 2, 4, 8, 10, 10 … s) until it is closed.
``close()`` always ends with a DELETE, so a stopped or crashed ``streamfx live`` does not
leave the endpoint taken (Janus' WHIP server refuses a second publisher with 403).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from streamfx.errors import WhipError
from streamfx.live.hub import LatestFrameHub, LiveFrame
from streamfx.sinks.base import FrameSink, register_sink

log = logging.getLogger("streamfx.whip")

#: seconds between reconnection attempts: doubling from the first, capped at the last (an
#: audience waits at most that long after the server is back)
BACKOFF = (1.0, 10.0)


def check_whip_url(url: str) -> str:
    """``url`` if it can be a WHIP endpoint (http or https with a host); else a WhipError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WhipError(f"--whip {shown_url(url)!r} is not an http(s) URL — give the endpoint URL your media "
                        "server shows, e.g. http://127.0.0.1:7080/whip/endpoint/streamfx")
    return url


def shown_url(url: str) -> str:
    """``url`` for logs: no query string, no user info, long path segments (keys) elided.

    Hosted ingests put the stream key in the path; it must not end up in a log file.
    """
    p = urlsplit(url)
    segs = [s if len(s) < 24 else s[:4] + "…" for s in p.path.split("/")]
    host = p.hostname or ""
    if p.port:
        host += f":{p.port}"
    return f"{p.scheme}://{host}{'/'.join(segs)}" if p.scheme else url


def http_error(url: str, status: int, body: str) -> WhipError:
    """The one-line error for a WHIP POST answered with ``status`` (not 201)."""
    detail = next((line.strip() for line in body.splitlines() if line.strip()), "")[:120]
    why = f"HTTP {status}" + (f": {detail}" if detail else "")
    where = shown_url(url)
    if status in (401, 403):
        fix = "check --whip-token, and that no other stream is publishing to this endpoint"
        return WhipError(f"the WHIP server at {where} refused the stream ({why}) — {fix}", status, why)
    if status == 404:
        return WhipError(f"no WHIP endpoint at {where} ({why}) — check the --whip URL "
                         "(and that the endpoint or room exists on the server)", status, why)
    if status >= 500:
        return WhipError(f"the WHIP server at {where} failed ({why}) — the media server behind it "
                         "may be down or overloaded; try again later", status, why)
    return WhipError(f"the WHIP server at {where} rejected the offer ({why}) — check --codec and --bitrate",
                     status, why)


def with_bitrate(sdp: str, bitrate: int | None) -> str:
    """The offer with the video bitrate cap declared (``b=TIAS`` in bit/s, ``b=AS`` in kbit/s).

    They go after the video section's ``c=`` line (RFC 4566 order). aiortc writes no ``b=``
    lines itself; the sender's encoder is capped separately.
    """
    if not bitrate:
        return sdp
    out: list[str] = []
    in_video = False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        out.append(line)
        if in_video and line.startswith("c="):
            out += [f"b=AS:{max(1, bitrate // 1000)}", f"b=TIAS:{bitrate}"]
    return "\r\n".join(out)


@dataclass
class _Session:
    """One published WHIP session: the peer connection and the resource to DELETE."""

    pc: RTCPeerConnection
    track: Any  # HubVideoTrack
    sender: RTCRtpSender
    resource: str | None = None
    connected: bool = False
    cap_installed: bool = False
    started: float = field(default_factory=time.monotonic)


@register_sink("whip")
class WhipSink(FrameSink):
    """Publish frames to a WHIP endpoint, reconnecting with back-off; see the module docstring.

    ``settings`` (:class:`streamfx.web.webrtc.WebRTCSettings`) gives the codec (the offer
    lists only it), the bitrate cap (declared in the offer and applied to the encoder), the
    STUN server and loopback candidates, exactly as for the built-in server. ``metrics``
    (LiveMetrics, optional) gets the ``whip_up`` and ``whip_reconnects`` gauges.
    ``overlay``: publish the transparent overlay instead of the flat picture — colour
    (premultiplied) and alpha side by side in one frame twice as wide
    (:func:`streamfx.web.webrtc.pack_alpha`), which the ``/overlay`` page or any keyer
    unpacks; a remote production keys it over its own picture.
    :meth:`open` publishes once and raises :class:`WhipError` (one line) if the server
    refuses (401/403/404/4xx/5xx) or cannot be reached; later losses are logged and retried.
    """

    name = "whip"

    def __init__(self, url: str, *, token: str | None = None, settings: Any = None, metrics: Any = None,
                 connect_timeout: float = 10.0, liveness_timeout: float = 5.0,
                 backoff: tuple[float, float] = BACKOFF, overlay: bool = False) -> None:
        from streamfx.web.webrtc import WebRTCSettings

        self.url = check_whip_url(url)
        self.token = token
        self.settings = settings or WebRTCSettings()
        self.metrics = metrics
        self.connect_timeout = float(connect_timeout)
        self.liveness_timeout = float(liveness_timeout)
        self.backoff = backoff
        self.overlay = overlay
        self.accepts_alpha = overlay  # the overlay packs the alpha; the flat picture is flattened upstream
        self.width = self.height = 0
        self.fps = 30.0
        self.sessions = 0
        """Sessions published so far (the first one and every reconnection)."""
        self.reconnects = 0
        self.state = "closed"
        """closed → connecting → live → (lost → connecting → live …) → closed."""
        self.last_error: str | None = None
        self.resource: str | None = None
        """The current session's resource URL (what DELETE goes to)."""
        self._hub: LatestFrameHub[LiveFrame] = LatestFrameHub()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._first: concurrent.futures.Future[None] = concurrent.futures.Future()

    # -- FrameSink -----------------------------------------------------------------------
    def open(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        """Publish the first session; WhipError if the server refuses or is unreachable."""
        if self._thread is not None:
            raise RuntimeError("WhipSink is already open")
        self.width, self.height, self.fps = int(width) * (2 if self.overlay else 1), int(height), float(fps)
        if self.settings.loopback:
            from streamfx.web.webrtc import enable_loopback_candidates

            enable_loopback_candidates()
        if self.settings.bitrate:
            from streamfx.web.webrtc import widen_codec_range

            widen_codec_range(self.settings.bitrate)
        self._thread = threading.Thread(target=self._thread_main, name="streamfx-whip", daemon=True)
        self._thread.start()
        try:
            self._first.result(timeout=self.connect_timeout + 10)
        except concurrent.futures.TimeoutError:
            self.close()
            raise WhipError(f"the WHIP server at {shown_url(self.url)} did not answer within "
                            f"{self.connect_timeout:g} s — check the --whip URL and that it is running") from None
        except WhipError:
            self.close()
            raise

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        """Hand over the newest frame (never blocks: an unsent older frame is dropped)."""
        now = time.perf_counter()
        if self.overlay:
            from streamfx.web.webrtc import pack_alpha

            frame = pack_alpha(frame)
        self._hub.publish(LiveFrame(self._hub.seq + 1, frame, timestamp or now, now))

    def close(self) -> None:
        """Stop publishing and DELETE the resource. Safe to call more than once."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join(self.connect_timeout + 5)
        self._hub.close()
        self.state = "closed"

    def info(self) -> dict:
        """What /status and the tests show about the publisher."""
        return {"url": shown_url(self.url), "state": self.state, "sessions": self.sessions,
                "reconnects": self.reconnects, "last_error": self.last_error}

    # -- the publishing loop (on the sink's own thread) -----------------------------------
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            if not self._first.done():
                self._first.set_exception(WhipError("the WHIP publisher stopped before it connected"))

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.connect_timeout)
        attempt = 0
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stop.is_set():
                session: _Session | None = None
                reason: str | None = None
                try:
                    self._set_state("connecting")
                    session = await self._publish(http)
                    if not self._first.done():
                        self._first.set_result(None)
                    reason = await self._watch(session)
                except WhipError as e:
                    if not self._first.done():  # the first try: open() raises it, no retries
                        self._first.set_exception(e)
                        return
                    reason = e.reason
                except Exception as e:  # noqa: BLE001 - a bug must not end the show either
                    log.exception("WHIP publisher failed")
                    if not self._first.done():
                        self._first.set_exception(WhipError(f"publishing over WHIP failed: {e}"))
                        return
                    reason = str(e) or type(e).__name__
                finally:
                    if session is not None:
                        await self._end(http, session)
                if self._stop.is_set():
                    break
                if session is not None and session.connected:
                    attempt = 0  # it streamed: start the back-off again from the shortest wait
                delay = min(self.backoff[1], self.backoff[0] * 2 ** attempt)
                attempt += 1
                self.last_error = reason
                self._set_state("lost")
                log.warning("WHIP: %s %s (%s) — reconnecting in %g s",
                            "lost the stream to" if session is not None and session.connected
                            else "could not publish to", shown_url(self.url), reason, delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                self.reconnects += 1
                self._gauge("whip_reconnects", self.reconnects)

    async def _publish(self, http: aiohttp.ClientSession) -> _Session:
        """POST an offer; on 201, apply the answer. WhipError for every refusal."""
        from streamfx.web.webrtc import HubVideoTrack, codec_preferences

        pc = RTCPeerConnection(self.settings.ice_configuration())
        track = HubVideoTrack(self._hub, self.fps, None, (self.width, self.height))
        track.viewers = 1  # it is read by this one connection (an idle HubVideoTrack sends nothing new)
        transceiver = pc.addTransceiver(track, direction="sendonly")
        # only the chosen codec: the SFU forwards what it gets, and every viewer must decode it
        transceiver.setCodecPreferences(codec_preferences(self.settings.codec, fallback=False))
        session = _Session(pc, track, transceiver.sender)
        try:
            # aiortc gathers all candidates before the description is set: no trickle needed
            await pc.setLocalDescription(await pc.createOffer())
            offer = with_bitrate(pc.localDescription.sdp, self.settings.bitrate)
            headers = {"Content-Type": "application/sdp", "Accept": "application/sdp"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                async with http.post(self.url, data=offer, headers=headers) as r:
                    body = await r.text()
                    if r.status != 201:
                        raise http_error(self.url, r.status, body)
                    location = r.headers.get("Location")
                    if not location:
                        raise WhipError(f"the server at {shown_url(self.url)} answered without a Location header "
                                        "— it is not a WHIP endpoint; check the --whip URL")
                    session.resource = urljoin(str(r.url), location)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                why = "no answer" if isinstance(e, asyncio.TimeoutError) else _reason(e)
                raise WhipError(f"cannot reach the WHIP server at {shown_url(self.url)} ({why}) — check the "
                                "--whip URL and that the server is running", None, why) from None
            self.resource = session.resource
            self.sessions += 1
            await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        except BaseException:
            await self._end(http, session)
            raise
        return session

    async def _watch(self, s: _Session) -> str | None:
        """Until stopped (None) or the session is lost (the reason)."""
        assert self._stop is not None
        rtcp_at: Any = None
        silent_since = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)
            if self._stop.is_set():
                return None
            state = s.pc.connectionState
            if state in ("failed", "closed"):
                return f"the connection {state}"
            now = time.monotonic()
            if state != "connected":
                if now - s.started > self.connect_timeout:
                    return f"ICE did not connect within {self.connect_timeout:g} s"
                continue
            if not s.connected:
                s.connected = True
                silent_since = now
                self._set_state("live")
                log.info("WHIP: publishing to %s (%s)", shown_url(self.url), self.settings.codec)
            if not s.cap_installed and self.settings.bitrate:
                from streamfx.web.webrtc import install_bitrate_cap

                s.cap_installed = install_bitrate_cap(s.sender, self.settings.bitrate)
            # An SFU that died (killed, host gone) sends nothing: not even a DTLS close. Its
            # receiver reports (RTCP RR, about every second) are the heartbeat; ICE consent
            # would only notice after 30 s.
            stamp = _last_receiver_report(await s.sender.getStats())
            if stamp is not None and stamp != rtcp_at:
                rtcp_at, silent_since = stamp, now
            elif now - silent_since > self.liveness_timeout:
                return f"no RTCP from the server for {self.liveness_timeout:g} s"
        return None

    async def _end(self, http: aiohttp.ClientSession, s: _Session) -> None:
        """DELETE the resource (first: it frees the endpoint), then close the connection."""
        if s.resource is not None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            try:
                async with http.delete(s.resource, headers=headers, timeout=aiohttp.ClientTimeout(total=3)) as r:
                    log.debug("WHIP: DELETE %s → %d", shown_url(s.resource), r.status)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                # the server is gone with its sessions, or will time this one out itself
                log.debug("WHIP: DELETE %s failed: %s", shown_url(s.resource), _reason(e))
            s.resource = None
            self.resource = None
        s.track.stop()
        with contextlib.suppress(Exception):
            await s.pc.close()

    def _set_state(self, state: str) -> None:
        self.state = state
        self._gauge("whip_up", 1.0 if state == "live" else 0.0)

    def _gauge(self, name: str, value: float) -> None:
        if self.metrics is not None:
            self.metrics.set_gauge(name, value)


def _last_receiver_report(report: Any) -> Any:
    """When the newest RTCP receiver report arrived (aiortc stamps its remote-inbound stats)."""
    stamps = [s.timestamp for s in report.values() if getattr(s, "type", None) == "remote-inbound-rtp"]
    return max(stamps) if stamps else None


def _reason(e: BaseException) -> str:
    """A short cause for a connection error ("Connection refused", not a repr)."""
    inner = getattr(e, "os_error", None) or e
    errno = getattr(inner, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    return str(inner) or type(inner).__name__


__all__ = ["WhipSink", "check_whip_url", "http_error", "shown_url", "with_bitrate"]
