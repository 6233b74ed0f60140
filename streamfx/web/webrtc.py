"""WebRTC out: one animation track, fanned out to any number of viewers.

One :class:`HubVideoTrack` reads the pipeline's output hub at the output fps (newest frame,
never a queue) and :class:`aiortc.contrib.media.MediaRelay` fans it out unbuffered, so a
slow viewer only skips frames. Viewers (``/offer`` JSON or WHEP) come and go without the
pipeline noticing. The first viewers get their own aiortc encoder (and congestion
control); beyond ``per_viewer_limit`` they share one encoder (see shared_encoder.py). The
RGB→YUV conversion is done once, here, for all of them.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import av
import cv2
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from streamfx.compositing import flatten
from streamfx.live.hub import LatestFrameHub, LiveFrame
from streamfx.live.metrics import LiveMetrics, RateMeter
from streamfx.web.h264 import LeveledH264Encoder, h264_level, sdp_parameters
from streamfx.web.shared_encoder import EncodedTrack, SharedEncoder

log = logging.getLogger("streamfx.web")

VIDEO_CLOCK = 90_000
CODECS = ("vp8", "h264")
ENCODE_MODES = ("auto", "per-viewer", "shared")


@dataclass
class WebRTCSettings:
    codec: str = "vp8"
    bitrate: int | None = None
    """Encoder target/cap in bit/s; None leaves it to aiortc and the receiver's REMB."""
    loopback: bool = False
    max_viewers: int = 32
    encode: str = "auto"
    """'per-viewer' (own encoder and congestion control each), 'shared' (encode once for
    all) or 'auto': the first ``per_viewer_limit`` viewers get their own encoder, later ones
    join the shared one, so a crowd costs one extra encode instead of one each."""
    per_viewer_limit: int = 2
    stun: str | None = None
    """A STUN server (``stun:host[:port]``) for server-reflexive candidates, for viewers
    behind NAT. None (default): no STUN at all — a local server contacts no third party
    (aiortc would otherwise ask Google's public server for every viewer)."""
    connect_timeout: float = 10.0
    """Seconds an answered viewer has to connect before its slot is freed (closed tab
    mid-handshake, unreachable candidates)."""

    def __post_init__(self) -> None:
        self.codec = self.codec.lower()
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, not {self.codec!r}")
        if self.bitrate is not None and not (50_000 <= self.bitrate <= 50_000_000):
            raise ValueError(f"bitrate must be between 50k and 50M bit/s, not {self.bitrate}")
        if self.max_viewers < 1:
            raise ValueError("max_viewers must be at least 1")
        if self.per_viewer_limit < 0:
            raise ValueError("per_viewer_limit must not be negative")
        if self.encode not in ENCODE_MODES:
            raise ValueError(f"encode must be one of {', '.join(ENCODE_MODES)}, not {self.encode!r}")
        if not self.connect_timeout > 0:
            raise ValueError(f"connect_timeout must be positive, not {self.connect_timeout}")
        if self.stun is not None:
            from aiortc.rtcicetransport import parse_stun_turn_uri

            try:
                scheme = parse_stun_turn_uri(self.stun)["scheme"]
            except ValueError:
                scheme = None
            if scheme != "stun":
                raise ValueError(f"STUN server must look like stun:stun.example.org:3478, not {self.stun!r}")

    def ice_configuration(self) -> RTCConfiguration:
        """The peer connections' ICE servers: only the opted-in STUN server, if any."""
        return RTCConfiguration(iceServers=[RTCIceServer(self.stun)] if self.stun else [])


# -- loopback ICE --------------------------------------------------------------------------
_loopback_enabled = False


def enable_loopback_candidates() -> None:
    """Make aioice also offer 127.0.0.1 host candidates (explicit opt-in, process-wide).

    aioice's ``get_host_addresses`` deliberately skips loopback, which is right on a real
    network but means a browser on the same machine with no other usable interface (CI,
    containers) can never connect. We wrap that one function; everything else is unchanged.
    Chromium additionally needs ``--allow-loopback-in-peer-connection``.
    """
    global _loopback_enabled
    if _loopback_enabled:
        return
    import aioice.ice

    original = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = list(original(use_ipv4=use_ipv4, use_ipv6=use_ipv6))
        if use_ipv4 and "127.0.0.1" not in addresses:
            addresses.insert(0, "127.0.0.1")
        return addresses

    aioice.ice.get_host_addresses = with_loopback
    _loopback_enabled = True


# -- bitrate -------------------------------------------------------------------------------
class _CappedEncoder:
    """Wraps an aiortc encoder so receiver estimates (REMB) can lower but never exceed a cap."""

    def __init__(self, inner: Any, cap: int) -> None:
        self._inner = inner
        self._cap = cap
        widen_codec_range(cap)
        inner.target_bitrate = cap

    @property
    def target_bitrate(self) -> int:
        return int(self._inner.target_bitrate)

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        self._inner.target_bitrate = min(int(bitrate), self._cap)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def widen_codec_range(cap: int) -> None:
    """Let aiortc's encoders reach ``cap`` bit/s (its per-codec range is widened, never narrowed)."""
    # aiortc clamps targets to per-codec module constants (VP8 250k–1.5M, H.264 500k–3M).
    # A user asking for 4 Mbit/s at 1080p, or 300 kbit/s on a thin uplink, means it: widen
    # the range to include the cap (process-wide, never narrowed).
    from aiortc.codecs import h264, vpx

    for mod in (vpx, h264):
        if cap > int(getattr(mod, "MAX_BITRATE", cap)):
            setattr(mod, "MAX_BITRATE", cap)  # noqa: B010 - module constant, not typed as settable
        if cap < int(getattr(mod, "MIN_BITRATE", cap)):
            setattr(mod, "MIN_BITRATE", cap)  # noqa: B010


def install_bitrate_cap(sender: RTCRtpSender, cap: int) -> bool:
    """Wrap the sender's encoder once aiortc created it (after its first frame)."""
    attr = "_RTCRtpSender__encoder"  # aiortc keeps the encoder private; no public hook exists
    enc = getattr(sender, attr, None)
    if enc is None:
        return False
    if not isinstance(enc, _CappedEncoder):
        setattr(sender, attr, _CappedEncoder(enc, cap))
    return True


def codec_preferences(codec: str, *, fallback: bool = True) -> list:
    """aiortc video codec capabilities, ``codec`` first, the others as fallbacks, then RTX.

    A browser that cannot do the preferred codec still gets a picture instead of a 400
    (not with a shared encoder, whose packets are in exactly one codec).
    """
    caps = RTCRtpSender.getCapabilities("video").codecs
    mime = {"vp8": "video/VP8", "h264": "video/H264"}[codec].lower()
    media = [c for c in caps if c.mimeType.lower() != "video/rtx"]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    others = [c for c in media if c.mimeType.lower() != mime] if fallback else []
    return [c for c in media if c.mimeType.lower() == mime] + others + rtx


def apply_h264_level(transceiver: Any, level_idc: int, *, own_encoder: bool) -> None:
    """Make an H.264 session declare ``level_idc``: in the SDP answer and in the SPS.

    Call after ``setRemoteDescription`` and before ``createAnswer``. aiortc answers with the
    fmtp of its fixed codec list (level 3.1) and only accepts preferences equal to that list,
    so the level cannot go through ``setCodecPreferences``; instead the negotiated codecs
    (``transceiver._codecs``, per-connection copies that the answer and the sender read)
    get the level. With ``own_encoder`` the sender also gets a :class:`LeveledH264Encoder`
    before its first frame (aiortc creates an encoder only when it has none).
    """
    codecs = getattr(transceiver, "_codecs", None) or []
    for codec in codecs:
        if codec.mimeType.lower() == "video/h264":
            codec.parameters = sdp_parameters(codec.parameters, level_idc)
    if own_encoder and codecs and codecs[0].mimeType.lower() == "video/h264":
        setattr(transceiver.sender, "_RTCRtpSender__encoder", LeveledH264Encoder(level_idc))  # noqa: B010


# -- tracks --------------------------------------------------------------------------------
class HubVideoTrack(MediaStreamTrack):
    """Reads the newest LiveFrame from the hub at ``fps``; repeats it when nothing new came."""

    kind = "video"

    def __init__(self, hub: LatestFrameHub[LiveFrame], fps: float, metrics: LiveMetrics | None = None,
                 size: tuple[int, int] = (640, 480), *, packed: bool = False) -> None:
        """``packed``: colour and alpha side by side in one frame twice as wide (the overlay
        page's stream, :func:`pack_alpha`); ``size`` is then that doubled size."""
        super().__init__()
        self.packed = packed
        self.sink_name = "overlay" if packed else "webrtc"
        self.hub = hub
        self.fps = fps
        self.metrics = metrics
        self.size = size
        self.viewers = 0
        self._seq = 0
        self._last_sent: float | None = None
        self._start = time.perf_counter()
        self._yuv: np.ndarray | None = None
        self._lf: LiveFrame | None = None
        self.latency = 0.1
        """Seconds from a driver frame's capture to its picture going out (eased): the live
        sound is held back this long to stay in sync."""

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live" or self.hub.closed:
            raise MediaStreamError
        interval = 1.0 / self.fps
        if self.viewers == 0 and self._yuv is not None:
            # MediaRelay keeps pulling after the last viewer left: idle cheaply, count nothing
            await asyncio.sleep(interval)
            return self._video_frame(time.perf_counter())
        now = time.perf_counter()
        if self._last_sent is not None:
            # A fresh frame goes out as soon as it lands (low latency), but never faster
            # than 2×fps. Without one the last frame is repeated, so viewers keep ~fps
            # when the driver stalls or the pipeline is paused; the 1.25 slack keeps capture
            # jitter from turning into extra, duplicate frames to encode.
            earliest = self._last_sent + 0.5 * interval
            if now < earliest:
                await asyncio.sleep(earliest - now)
            deadline = self._last_sent + 1.25 * interval
        else:
            deadline = now + 2.0  # first frame: give the animator time to warm up
        got = await self.hub.wait_newer_async(self._seq, max(0.0, deadline - time.perf_counter()))
        if self.readyState != "live":
            raise MediaStreamError
        fresh = got is not None
        if got is not None:
            self._seq, lf = got
            self._lf = lf
            self.latency += 0.1 * (time.perf_counter() - lf.captured_at - self.latency)
            # one colour conversion for all viewers (~1 ms at 720p; swscale takes ~10 ms)
            self._yuv = _to_i420(pack_alpha(lf.image, lf.rgb) if self.packed else lf.rgb)
        elif self._yuv is None:
            self._yuv = _to_i420(np.zeros((self.size[1], self.size[0], 3), np.uint8))
        now = time.perf_counter()
        self._last_sent = now
        assert self._yuv is not None
        frame = self._video_frame(now)
        if self.metrics is not None:
            self.metrics.mark_sink(self.sink_name, self._lf.captured_at if fresh and self._lf else None)
        return frame

    def _video_frame(self, now: float) -> av.VideoFrame:
        # A new VideoFrame per call (a 0.2 ms copy): a repeat needs its own pts, and encoders
        # must never see a frame object change under them.
        assert self._yuv is not None
        frame = av.VideoFrame.from_ndarray(self._yuv, format="yuv420p")
        frame.pts = int((now - self._start) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


def _to_i420(rgb: np.ndarray) -> np.ndarray:
    """RGB(A) H×W×3 → planar I420 (H·3/2 × W), BT.601 limited range like swscale's default.

    WebRTC video has no alpha: a transparent canvas goes out over black (the ``/overlay``
    page gets the alpha through :func:`pack_alpha` instead)."""
    return cv2.cvtColor(np.ascontiguousarray(flatten(rgb)), cv2.COLOR_RGB2YUV_I420)


def pack_alpha(frame: np.ndarray, flat: np.ndarray | None = None) -> np.ndarray:
    """RGB(A) H×W → RGB H×2W: the colour premultiplied by alpha on the left, the alpha as grey
    on the right (an opaque frame: white). WebRTC video has no alpha channel; the overlay page
    unpacks the two halves with WebGL onto a transparent canvas (static/overlay.js).

    Premultiplied, because video codecs blur and subsample colour: a straight colour under
    alpha 0 would bleed into the subject's edge, black (what premultiplying leaves there)
    only darkens what the alpha fades out anyway. ``flat``: ``flatten(frame)``, when made already.
    """
    h, w = frame.shape[:2]
    out = np.empty((h, 2 * w, 3), np.uint8)
    out[:, :w] = flatten(frame) if flat is None else flat
    if frame.shape[2] == 4:
        a = frame[..., 3]
        out[:, w:] = cv2.merge([a, a, a])
    else:
        out[:, w:] = 255
    return out


class ViewerTrack(MediaStreamTrack):
    """One viewer's view of the relay: counts frames and caps the encoder's bitrate."""

    kind = "video"

    def __init__(self, proxy: MediaStreamTrack, viewer: Viewer, cap: int | None) -> None:
        super().__init__()
        self.proxy = proxy
        self.viewer = viewer
        self.cap = cap
        self.sender: RTCRtpSender | None = None
        self._cap_installed = cap is None

    async def recv(self) -> av.VideoFrame:
        # a VideoFrame, or an av.Packet when the encoder is shared (aiortc handles both)
        frame = cast(av.VideoFrame, await self.proxy.recv())
        self.viewer.rate.mark()
        if not self._cap_installed and self.sender is not None and self.cap is not None:
            self._cap_installed = install_bitrate_cap(self.sender, self.cap)
        return frame

    def stop(self) -> None:
        super().stop()
        self.proxy.stop()


@dataclass
class Viewer:
    id: str
    kind: str  # "offer" or "whep"
    pc: RTCPeerConnection
    created: float = field(default_factory=time.time)
    rate: RateMeter = field(default_factory=lambda: RateMeter(3.0))
    track: ViewerTrack | None = None
    audio: MediaStreamTrack | None = None
    """The sound's track, when the offer asked for audio and there is live sound."""
    shared: bool = False
    """Fed by the shared encoder (else it has its own)."""

    def info(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "state": self.pc.connectionState,
            "frames": self.rate.total, "fps": round(self.rate.rate(), 1), "shared_encoder": self.shared,
            "age_s": round(time.time() - self.created, 1),
        }


class ViewerLimitError(Exception):
    pass


class WebRTCHub:
    """Creates and tracks viewer peer connections for one animation track."""

    def __init__(self, hub: LatestFrameHub[LiveFrame], fps: float, settings: WebRTCSettings | None = None,
                 metrics: LiveMetrics | None = None, size: tuple[int, int] = (640, 480), *,
                 packed: bool = False, audio: Any = None) -> None:
        """``packed``: the overlay's stream (colour and alpha side by side, 2× as wide).
        ``audio``: a streamfx.capture.AudioCapture sent as Opus to viewers whose offer has audio."""
        self.settings = settings or WebRTCSettings()
        self.audio = audio
        if packed:
            size = (2 * size[0], size[1])
        if self.settings.loopback:
            enable_loopback_candidates()
        if self.settings.bitrate is not None:
            widen_codec_range(self.settings.bitrate)
        self.track = HubVideoTrack(hub, fps, metrics, size, packed=packed)
        self.relay = MediaRelay()
        self.fps = fps
        #: H.264 level for this size and rate (both encoders and the SDP declare it)
        self.h264_level = h264_level(size[0], size[1], fps, self.settings.bitrate)
        self.shared: SharedEncoder | None = None
        self._encoded: EncodedTrack | None = None
        self.viewers: dict[str, Viewer] = {}
        self.metrics = metrics

    async def answer(self, sdp: str, type_: str = "offer", kind: str = "offer") -> tuple[Viewer, RTCSessionDescription]:
        """Answer a viewer's offer. Raises ValueError for an unusable offer (→ HTTP 400) and
        ViewerLimitError when ``max_viewers`` (counting offers still being answered) are here."""
        if type_ != "offer":
            raise ValueError(f"expected an SDP offer, got type {type_!r}")
        if not isinstance(sdp, str) or "m=video" not in sdp:
            raise ValueError("the offer has no video section (m=video)")
        # Everything up to the first await is one step of the event loop: the slot and the
        # encoder choice are taken here, so offers answered concurrently see each other.
        if len(self.viewers) >= self.settings.max_viewers:
            raise ViewerLimitError(f"viewer limit reached ({self.settings.max_viewers})")
        pc = RTCPeerConnection(self.settings.ice_configuration())
        viewer = Viewer(uuid.uuid4().hex[:16], kind, pc, shared=self._wants_shared())
        self.viewers[viewer.id] = viewer
        try:
            shared = self._shared_encoder() if viewer.shared else None
            self._count_viewers()
            self._update_gauges()

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                log.info("viewer %s: %s", viewer.id, pc.connectionState)
                if pc.connectionState == "connected" and viewer.shared and self.shared is not None:
                    self.shared.request_keyframe()  # a newcomer can only start decoding at one
                if pc.connectionState in ("failed", "closed"):
                    await self.close_viewer(viewer.id)

            source = self._encoded if shared is not None else self.track
            assert source is not None
            track = ViewerTrack(self.relay.subscribe(source, buffered=False), viewer,
                                None if shared else self.settings.bitrate)
            viewer.track = track
            # Our transceiver exists before the offer is applied: aiortc picks the answer's
            # codecs from the preferences of the transceiver the offer's m=video binds to.
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(codec_preferences(self.settings.codec, fallback=shared is None))
            track.sender = transceiver.sender
            if shared is not None:
                # Picture-loss requests (PLI/FIR) from any viewer go to the one encoder.
                transceiver.sender._send_keyframe = shared.request_keyframe  # type: ignore[method-assign]
            if self.audio is not None and "m=audio" in sdp:
                from streamfx.web.audio_track import CaptureAudioTrack

                viewer.audio = CaptureAudioTrack(self.audio, lambda: self.track.latency)
                audio = pc.addTransceiver(viewer.audio, direction="sendonly")
                # One stream id (a=msid) for sound and picture: browsers lip-sync only the
                # tracks of one stream, and addTransceiver gives each sender its own.
                audio.sender._stream_id = transceiver.sender._stream_id
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if transceiver.mid is None:
                raise ValueError("the offer has no video section we can send to")
            apply_h264_level(transceiver, self.h264_level, own_encoder=shared is None)
            answer = await pc.createAnswer()
            if answer is None:
                raise ValueError("could not negotiate a session")
            await pc.setLocalDescription(answer)
            if viewer.id not in self.viewers:
                raise ValueError("the server is shutting down")
        except Exception as e:
            if not await self.close_viewer(viewer.id):  # already closed (shutdown): just make sure
                if viewer.track is not None:
                    viewer.track.stop()
                await pc.close()
            msg = str(e) or type(e).__name__
            raise ValueError(f"cannot use this offer: {msg}") from None

        # A viewer that never connects (closed tab mid-handshake) must not hold its slot.
        asyncio.get_running_loop().call_later(self.settings.connect_timeout, self._reap_if_unconnected, viewer.id)
        return viewer, pc.localDescription

    def _reap_if_unconnected(self, viewer_id: str) -> None:
        v = self.viewers.get(viewer_id)
        if v is not None and v.pc.connectionState in ("new", "connecting"):
            log.info("viewer %s did not connect within %g s: closed", viewer_id, self.settings.connect_timeout)
            asyncio.ensure_future(self.close_viewer(viewer_id))

    async def close_viewer(self, viewer_id: str) -> bool:
        v = self.viewers.pop(viewer_id, None)
        if v is None:
            return False
        if v.track is not None:
            v.track.stop()
        if v.audio is not None:
            v.audio.stop()
        await v.pc.close()
        self._count_viewers()
        self._update_gauges()
        return True

    def _wants_shared(self) -> bool:
        mode = self.settings.encode
        if mode != "auto":
            return mode == "shared"
        own = sum(1 for v in self.viewers.values() if not v.shared)
        return own >= self.settings.per_viewer_limit

    def _shared_encoder(self) -> SharedEncoder:
        if self.shared is None or self._encoded is None:
            self.shared = SharedEncoder(self.settings.codec, self.settings.bitrate, self.fps)
            # The encoder reads the animation track through the relay like any viewer: two
            # direct readers of one track would each get only every other frame.
            self._encoded = EncodedTrack(self.relay.subscribe(self.track, buffered=False), self.shared)
        return self.shared

    def _count_viewers(self) -> None:
        self.track.viewers = len(self.viewers)
        if self._encoded is not None:
            self._encoded.viewers = sum(1 for v in self.viewers.values() if v.shared)

    async def close(self) -> None:
        await asyncio.gather(*(self.close_viewer(i) for i in list(self.viewers)), return_exceptions=True)
        if self._encoded is not None:
            self._encoded.stop()
        self.track.stop()

    def _update_gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.set_gauge("webrtc_viewers", len(self.viewers))

    def info(self) -> list[dict]:
        return [v.info() for v in self.viewers.values()]
