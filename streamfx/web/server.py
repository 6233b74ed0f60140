"""The live HTTP server: viewer page, WebRTC (JSON offer and WHEP), control API, /metrics.

Routes
    GET  /                   viewer page (video + live stats)
    GET  /overlay            the transparent overlay: colour + alpha unpacked with WebGL
                             onto a transparent canvas (OBS Browser source, vMix, any page)
    POST /overlay/offer      like /offer, for the overlay's packed colour+alpha stream
    GET  /panel              control panel (portrait upload, calibrate, gains, pause, stats)
    POST /offer              {"sdp", "type": "offer"} → {"sdp", "type": "answer"}
    POST /whep               application/sdp offer → 201, Location: /whep/<id>, SDP answer
    DELETE /whep/<id>        end that WHEP session → 204
    GET|POST /api/settings   animator settings (applied live)
    POST /api/calibrate      "neutral = now"
    POST /api/source         new portrait (multipart field "image" or a raw image body)
    POST /api/pause          {"paused": bool} (toggles without a body)
    POST /api/frame          {"frame": "full" | "bust" | "head"}: the crop around the face
    GET  /api/stats          metrics snapshot + pipeline status + viewers
    GET  /metrics            Prometheus text exposition

Bound to loopback, nothing needs a token, but only this machine's own names and same-origin
pages may use it (see security.py: other web pages in the user's browser must not). Bound to
anything else, every route that can see the stream or change state needs the token
(``Authorization: Bearer …`` or ``?token=…``): the pages themselves are static and carry no
secrets.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import math
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from streamfx.errors import (
    ImageTooLargeError,
    InputError,
    NoFaceError,
    StreamFXError,
    UnsupportedImageError,
)
from streamfx.live.pipeline import LIVE_MAX_SIDE, LivePipeline
from streamfx.web.security import (
    CORS_HEADERS,
    CORS_PREFIXES,
    NO_FRAMING,
    PROTECTED_PREFIXES,
    LocalOnlyPolicy,
    token_matches,
)
from streamfx.web.webrtc import ViewerLimitError, WebRTCHub

log = logging.getLogger("streamfx.web")

STATIC = Path(__file__).parent / "static"

#: Live portraits are regenerated every frame at source resolution: the live cap applies.
UPLOAD_MAX_SIDE = LIVE_MAX_SIDE
UPLOAD_MAX_BYTES = 15_000_000
#: Multipart framing (boundaries, part headers) allowed on top of the image itself.
_MULTIPART_SLACK = 64 * 1024
#: JSON and SDP bodies: an SDP offer is ~5 KB, a settings change a few hundred bytes.
BODY_MAX_BYTES = 256 * 1024
#: Seconds a client has to deliver a request body once its headers are in.
BODY_TIMEOUT = 30.0
#: Environment variable read for the token when neither --token nor --token-file is given.
TOKEN_ENV = "STREAMFX_TOKEN"
TOKEN_MIN_CHARS = 8


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    """Required on non-loopback binds; generated when missing there."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a complete request header (after connecting or
    after its previous response) before it is closed: slow-header sockets cannot pile up."""
    token_generated: bool = field(default=False, init=False)
    """True when the token was made up here (and so must be shown to the user)."""

    def __post_init__(self) -> None:
        if not (0 <= self.port <= 65535):
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.token is not None and len(self.token) < TOKEN_MIN_CHARS:
            raise ValueError(f"token must be at least {TOKEN_MIN_CHARS} characters")
        if not self.header_timeout > 0:
            raise ValueError(f"header_timeout must be positive, not {self.header_timeout}")
        if self.token is None and not is_loopback(self.host):
            self.token = secrets.token_urlsafe(18)
            self.token_generated = True

    @property
    def requires_token(self) -> bool:
        return self.token is not None


def load_token(token: str | None = None, token_file: str | os.PathLike[str] | None = None,
               environ: Mapping[str, str] | None = None) -> str | None:
    """The token from ``token`` (--token), else the first line of ``token_file``, else
    ``$STREAMFX_TOKEN``; None when there is none.

    --token shows in the process list; a file or the environment do not. Raises ValueError
    (one line) for an unreadable file or a token shorter than 8 characters.
    """
    env = os.environ if environ is None else environ
    where = "--token"
    if token is None and token_file is not None:
        where = f"token file '{token_file}'"
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or type(e).__name__
            raise ValueError(f"cannot read {where} ({reason}) — check the path and its permissions") from None
        token = lines[0].strip() if lines else ""
    elif token is None and env.get(TOKEN_ENV):
        where, token = f"${TOKEN_ENV}", env[TOKEN_ENV].strip()
    if token is not None and len(token) < TOKEN_MIN_CHARS:
        raise ValueError(f"the token in {where} has {len(token)} characters; use at least {TOKEN_MIN_CHARS} "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(18))')")
    return token


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_hostport(text: str, default_port: int = 8080) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``HOST`` or ``[v6]:PORT`` → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_s = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port_s = text.split(":")
    else:
        host, port_s = text, ""
    try:
        port = int(port_s) if port_s else default_port
    except ValueError:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8080), not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, not {port}")
    return host or "127.0.0.1", port


#: The voice's live settings (API key → VoiceSettings field); CLI --voice-gain/--voice-gate.
VOICE_KEYS = {"voice_gain": "gain", "voice_gate": "gate_db"}


def validate_settings(body: Any) -> dict[str, Any]:
    """Check a settings update at the edge; raise ValueError naming the bad key.

    Types are checked here; ranges by :meth:`AnimatorSettings.with_live`, the path every live
    change takes, so the panel, the CLI and the library accept exactly the same values.
    """
    from streamfx.settings import AnimatorSettings
    from streamfx.voice import VoiceSettings

    if not isinstance(body, dict) or not body:
        raise ValueError("send a JSON object of settings, e.g. {\"head_gain\": 1.2}")
    types = {**AnimatorSettings.live_types(), **dict.fromkeys(VOICE_KEYS, float)}
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in types:
            raise ValueError(f"unknown setting {key!r}; known: {', '.join(types)}")
        if types[key] is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            out[key] = value
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number")
        else:
            try:
                out[key] = float(value)
            except OverflowError:  # an integer with hundreds of digits
                out[key] = math.inf
            if not math.isfinite(out[key]):
                raise ValueError(f"{key} must be a finite number")
    try:
        AnimatorSettings().with_live(**{k: v for k, v in out.items() if k not in VOICE_KEYS})
        VoiceSettings(**{VOICE_KEYS[k]: v for k, v in out.items() if k in VOICE_KEYS}).validate()
    except StreamFXError as e:
        # the settings speak the CLI's language (--head-gain); the API's keys are head_gain
        message = str(e)
        for key in out:
            message = message.replace(f"--{key.replace('_', '-')}", key)
        raise ValueError(message) from None
    return out


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestError(Exception):
    """A request we refuse: rendered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: Pages other sites may embed: the viewer and the overlay (they show, and control nothing).
EMBEDDABLE = ("/", "/overlay")


async def _no_framing_but_the_viewer(request: web.Request, response: web.StreamResponse) -> None:
    if request.path not in EMBEDDABLE:
        for key, value in NO_FRAMING.items():
            response.headers.setdefault(key, value)


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def parse_json(data: bytes) -> Any:
    """Strict JSON: ValueError for bad UTF-8 or syntax, non-finite numbers (NaN, 1e400) or deep nesting."""
    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"number out of range: {text[:20]}")
        return value

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        return json.loads(data.decode("utf-8"), parse_float=finite, parse_constant=no_constant)
    except RecursionError:  # [[[[…]]]] 100k deep: Python's parser gives up, and so do we
        raise ValueError("JSON nested too deeply") from None


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (413 above) and within BODY_TIMEOUT (408)."""
    too_big = RequestError(413, f"request body is over the {limit:,} byte limit")
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    try:
        data = await asyncio.wait_for(request.read(), BODY_TIMEOUT)  # read() is capped by client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise too_big from None
    except asyncio.TimeoutError:
        raise RequestError(408, f"the request body did not arrive within {BODY_TIMEOUT:g} s") from None
    if len(data) > limit:
        raise too_big
    return data


async def read_json(request: web.Request, hint: str) -> Any:
    """The JSON body: 415 unless ``Content-Type: application/json``, 400 (``hint``) if unparsable.

    Requiring the JSON type also means a page on another origin cannot send it without a
    CORS preflight, which this server never grants without a token.
    """
    if request.content_type != "application/json":
        raise RequestError(415, f"send Content-Type: application/json — {hint}")
    try:
        return parse_json(await read_body(request, BODY_MAX_BYTES))
    except ValueError as e:
        raise RequestError(400, f"{hint} ({e})") from None


def upload_name(raw: str | None) -> str:
    """A file name fit for messages and logs: base name only, printable, ≤ 100 characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:100].strip()
    return name or "upload"


class LiveServer:
    """aiohttp application around one LivePipeline (and optionally WebRTC)."""

    def __init__(self, pipeline: LivePipeline, settings: ServerSettings | None = None,
                 webrtc: WebRTCHub | None = None, overlay: WebRTCHub | None = None) -> None:
        self.pipeline = pipeline
        self.settings = settings or ServerSettings()
        self.webrtc = webrtc
        self.overlay = overlay
        self.app = self._make_app()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        # Decoding a large upload takes a lot of memory for a moment: one at a time.
        self._decode_lock = asyncio.Lock()
        self._refused: set[tuple[str | None, str | None]] = set()

    # -- app -----------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application(
            # the guard first: it sees every response, errors included (CORS in token mode)
            middlewares=[self._guard, self._errors],
            client_max_size=UPLOAD_MAX_BYTES + _MULTIPART_SLACK,
        )
        r = app.router
        # The viewer at / may be embedded (?embed=1). Nothing else may be framed: the panel
        # has controls (also as /static/panel.html), and a framed page's own requests are
        # same-origin, so clickjacking would pass the origin check.
        app.on_response_prepare.append(_no_framing_but_the_viewer)
        r.add_get("/", self._page("viewer.html"))
        r.add_get("/panel", self._page("panel.html"))
        r.add_get("/overlay", self._page("overlay.html"))
        r.add_post("/overlay/offer", self.overlay_offer)
        r.add_static("/static/", STATIC)
        r.add_post("/offer", self.offer)
        r.add_post("/whep", self.whep_post)
        r.add_delete("/whep/{id}", self.whep_delete)
        r.add_patch("/whep/{id}", self.whep_patch)
        r.add_route("OPTIONS", "/whep", self.whep_options)
        r.add_route("OPTIONS", "/whep/{id}", self.whep_options)
        r.add_get("/api/settings", self.get_settings)
        r.add_post("/api/settings", self.post_settings)
        r.add_post("/api/calibrate", self.calibrate)
        r.add_post("/api/source", self.post_source)
        r.add_post("/api/pause", self.pause)
        r.add_post("/api/frame", self.post_frame)
        r.add_get("/api/stats", self.stats)
        r.add_get("/metrics", self.metrics)
        app.on_shutdown.append(self._on_shutdown)
        return app

    def _page(self, name: str, extra_headers: Mapping[str, str] | None = None) -> Handler:
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", **(extra_headers or {})}

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers=headers)

        return handler

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as e:
            return _json_error(e.status, str(e))
        except web.HTTPException:
            raise
        except Exception as e:  # a bug in one request must not take the server down
            log.exception("%s %r failed", request.method, request.path)
            return _json_error(500, f"internal error: {type(e).__name__}")

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The one place that decides who may use the server (rules: security.py)."""
        token = self.settings.token
        if token is None:
            policy = LocalOnlyPolicy(self.port or self.settings.port, self.settings.host)
            refusal = policy.refusal(request)
            if refusal is not None:
                self._log_refusal(request, refusal[1])
                return _json_error(*refusal)
            return await handler(request)
        cors = CORS_HEADERS if request.path.startswith(CORS_PREFIXES) else {}
        if (request.method != "OPTIONS" and request.path.startswith(PROTECTED_PREFIXES)
                and not token_matches(request, token)):
            response: web.StreamResponse = _json_error(
                401, "missing or wrong token (Authorization: Bearer <token> or ?token=)")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as e:
                e.headers.update(cors)
                raise
        response.headers.update(cors)
        return response

    def _log_refusal(self, request: web.Request, reason: str) -> None:
        # once per origin/host at WARNING: a hostile page may retry in a loop, the console must not fill up
        key = (request.headers.get("Origin"), request.headers.get("Host"))
        first = key not in self._refused and len(self._refused) < 100
        if first:
            self._refused.add(key)
        log.log(logging.WARNING if first else logging.DEBUG, "refused %s %r from Origin %r, Host %r: %s",
                request.method, request.path, key[0], key[1], reason)

    async def _on_shutdown(self, app: web.Application) -> None:
        for hub in (self.webrtc, self.overlay):
            if hub is not None:
                await hub.close()

    # -- WebRTC --------------------------------------------------------------------------
    def _need_webrtc(self) -> WebRTCHub:
        if self.webrtc is None:
            raise web.HTTPNotFound(text="WebRTC is off (started with --no-webrtc)")
        return self.webrtc

    async def overlay_offer(self, request: web.Request) -> web.StreamResponse:
        if self.overlay is None:
            raise web.HTTPNotFound(text="the overlay is off (started with --no-webrtc)")
        return await self.offer(request, self.overlay)

    async def offer(self, request: web.Request, rtc: WebRTCHub | None = None) -> web.StreamResponse:
        rtc = rtc or self._need_webrtc()
        hint = 'send JSON {"sdp": "...", "type": "offer"}'
        body = await read_json(request, hint)
        if not isinstance(body, dict) or not isinstance(body.get("sdp"), str):
            return _json_error(400, hint)
        sdp, type_ = body["sdp"], body.get("type", "offer")
        try:
            viewer, answer = await rtc.answer(sdp, type_, kind="offer")
        except ViewerLimitError as e:
            return _json_error(503, str(e))
        except ValueError as e:
            return _json_error(400, str(e))
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "id": viewer.id,
                                  "audio": viewer.audio is not None})

    async def whep_post(self, request: web.Request) -> web.StreamResponse:
        rtc = self._need_webrtc()
        if request.content_type != "application/sdp":
            return web.Response(status=415, text="WHEP offers must be Content-Type: application/sdp\n")
        try:
            sdp = (await read_body(request, BODY_MAX_BYTES)).decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="the SDP offer is not UTF-8 text\n")
        try:
            viewer, answer = await rtc.answer(sdp, "offer", kind="whep")
        except ViewerLimitError as e:
            return web.Response(status=503, text=f"{e}\n")
        except ValueError as e:
            return web.Response(status=400, text=f"{e}\n")
        return web.Response(
            status=201, text=answer.sdp, content_type="application/sdp",
            headers={"Location": f"/whep/{viewer.id}"},
        )

    async def whep_delete(self, request: web.Request) -> web.StreamResponse:
        rtc = self._need_webrtc()
        if await rtc.close_viewer(request.match_info["id"]):
            return web.Response(status=204)
        return web.Response(status=404, text="no such WHEP session\n")

    async def whep_patch(self, request: web.Request) -> web.StreamResponse:
        # our answers carry all candidates (aiortc gathers before answering): no trickle ICE
        return web.Response(status=405, text="trickle ICE is not supported\n")

    async def whep_options(self, request: web.Request) -> web.StreamResponse:
        # CORS headers (token mode only) come from the guard
        return web.Response(status=204, headers={"Accept-Post": "application/sdp"})

    # -- control API ---------------------------------------------------------------------
    async def _await(self, fut: Any, timeout: float = 30.0) -> Any:
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)

    async def get_settings(self, request: web.Request) -> web.StreamResponse:
        animator = await self._await(self.pipeline.settings_dict())
        return web.json_response(self._settings_payload(animator))

    def _settings_payload(self, animator: dict) -> dict:
        s = self.pipeline.settings
        rtc = self.webrtc.settings if self.webrtc is not None else None
        voice = self.pipeline.voice
        return {
            "animator": _jsonable(animator),
            "paused": self.pipeline.paused,
            "output": {"width": s.width, "height": s.height, "fps": s.fps, "fit": s.fit, "frame": s.frame},
            "webrtc": None if rtc is None else {"codec": rtc.codec, "bitrate": rtc.bitrate},
            "voice": None if voice is None else {"voice_gain": voice.gain, "voice_gate": voice.gate_db},
        }

    async def post_settings(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, 'send a JSON object of settings, e.g. {"head_gain": 1.2}')
        try:
            changes = validate_settings(body)
        except ValueError as e:
            return _json_error(400, str(e))
        voice = {VOICE_KEYS[k]: changes.pop(k) for k in list(changes) if k in VOICE_KEYS}
        try:
            if voice:  # before the animator's: a refused voice change leaves everything as it was
                self.pipeline.update_voice(**voice)
            animator = await self._await(self.pipeline.update_settings(**changes) if changes
                                         else self.pipeline.settings_dict())
        except (StreamFXError, ValueError, TypeError) as e:
            return _json_error(400, str(e))
        return web.json_response(self._settings_payload(animator))

    async def calibrate(self, request: web.Request) -> web.StreamResponse:
        await self._await(self.pipeline.calibrate())
        return web.json_response({"ok": True})

    async def pause(self, request: web.Request) -> web.StreamResponse:
        paused = not self.pipeline.paused
        if request.can_read_body:
            hint = 'send {"paused": true|false}, or no body to toggle'
            body = await read_json(request, hint)
            if not isinstance(body, dict) or set(body) != {"paused"} or not isinstance(body["paused"], bool):
                return _json_error(400, hint)
            paused = body["paused"]
        self.pipeline.set_paused(paused)
        return web.json_response({"paused": self.pipeline.paused})

    async def post_frame(self, request: web.Request) -> web.StreamResponse:
        from streamfx.compositing import FRAMES

        hint = 'send {"frame": "' + '" | "'.join(FRAMES) + '"}'
        body = await read_json(request, hint)
        if not isinstance(body, dict) or set(body) != {"frame"} or body["frame"] not in FRAMES:
            return _json_error(400, hint)
        await self._await(self.pipeline.set_frame(body["frame"]))
        return web.json_response({"frame": self.pipeline.settings.frame})

    async def post_source(self, request: web.Request) -> web.StreamResponse:
        from streamfx.imageio import load_image_bytes

        data, name = await self._read_upload(request)
        decode = functools.partial(load_image_bytes, data, max_side=UPLOAD_MAX_SIDE,
                                   max_bytes=UPLOAD_MAX_BYTES, name=name)
        try:
            async with self._decode_lock:
                # decoding a large photo takes tens of ms or more: keep it off the event loop
                image = await asyncio.get_running_loop().run_in_executor(None, decode)
        except UnsupportedImageError as e:
            return _json_error(415, str(e))
        except ImageTooLargeError as e:
            return _json_error(413, str(e))
        except InputError as e:
            return _json_error(400, str(e))
        try:
            await self._await(self.pipeline.set_source(image, name=name))
        except NoFaceError:
            # the library's message suggests a CLI flag; a web user needs another portrait
            return _json_error(422, f"no face found in {name!r} — upload a portrait with a clearly visible face")
        h, w = image.shape[:2]
        log.info("portrait switched to %r (%dx%d)", name, w, h)
        return web.json_response({"ok": True, "name": name, "size": [w, h],
                                  "source_version": self.pipeline.source_version})

    async def _read_upload(self, request: web.Request) -> tuple[bytes, str]:
        """(image bytes, clean name) from a multipart field "image" or a raw body; 413 above the limit."""
        too_big = RequestError(413, f"image is over the {UPLOAD_MAX_BYTES / 1e6:g} MB upload limit")
        if not request.content_type.startswith("multipart/"):
            try:
                data = await read_body(request, UPLOAD_MAX_BYTES)
            except RequestError as e:
                raise too_big if e.status == 413 else e from None
            if not data:
                raise RequestError(400, "empty upload: send an image file")
            return data, upload_name(request.query.get("name"))
        if request.content_length is not None and request.content_length > UPLOAD_MAX_BYTES + _MULTIPART_SLACK:
            raise too_big
        try:
            return await asyncio.wait_for(self._read_multipart(request, too_big), BODY_TIMEOUT)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the upload did not arrive within {BODY_TIMEOUT:g} s") from None
        except ValueError as e:  # aiohttp's multipart parser: a broken body
            raise RequestError(400, f"cannot read the multipart upload ({e})") from None

    async def _read_multipart(self, request: web.Request, too_big: RequestError) -> tuple[bytes, str]:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name in ("image", "file"):
                # multipart bodies are not capped by client_max_size: count as we go
                buf = bytearray()
                while chunk := await part.read_chunk():
                    buf += chunk
                    if len(buf) > UPLOAD_MAX_BYTES:
                        raise too_big
                return bytes(buf), upload_name(part.filename)
        raise RequestError(400, 'multipart upload has no "image" field')

    async def stats(self, request: web.Request) -> web.StreamResponse:
        snap = self.pipeline.metrics.snapshot()
        snap["status"] = self.pipeline.status()
        snap["viewers"] = self.webrtc.info() if self.webrtc is not None else []
        return web.json_response(snap)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self.pipeline.metrics.prometheus(),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    # -- running -------------------------------------------------------------------------
    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on the settings' host and port, or serve ``sock``, a socket already
        listening (``streamfx live`` binds before loading models, to fail fast on a busy port)."""
        # aiohttp closes a connection that has not sent a complete request (after connecting,
        # or after its last response) within keepalive_timeout: that is our header-read timeout.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     keepalive_timeout=self.settings.header_timeout)
        await self._runner.setup()
        site: web.BaseSite
        if sock is not None:
            site = web.SockSite(self._runner, sock)
        else:
            site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str = "/") -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        q = f"?token={self.settings.token}" if self.settings.token else ""
        return f"http://{host}:{self.port}{path}{q}"


def _jsonable(d: Any) -> Any:
    if isinstance(d, dict):
        return {str(k): _jsonable(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [_jsonable(v) for v in d]
    if isinstance(d, bool | int | float | str) or d is None:
        return d
    try:
        return float(d)
    except (TypeError, ValueError):
        return str(d)
