"""The live HTTP server: viewer page, WebRTC (JSON offer and WHEP), control API, /metrics.

Routes
    GET  /                   viewer page (video + live stats)
    GET  /panel              control panel (portrait upload, calibrate, gains, pause, stats)
    POST /offer              {"sdp", "type": "offer"} → {"sdp", "type": "answer"}
    POST /whep               application/sdp offer → 201, Location: /whep/<id>, SDP answer
    DELETE /whep/<id>        end that WHEP session → 204
    GET|POST /api/settings   animator settings (applied live)
    POST /api/calibrate      "neutral = now"
    POST /api/source         new portrait (multipart field "image" or a raw image body)
    POST /api/pause          {"paused": bool} (toggles without a body)
    GET  /api/stats          metrics snapshot + pipeline status + viewers
    GET  /metrics            Prometheus text exposition

Bound to loopback, nothing needs a token. Bound to anything else, every route that can see
the stream or change state needs the token (``Authorization: Bearer …`` or ``?token=…``):
the pages themselves are static and carry no secrets.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from aiohttp import web

from streamfx.errors import InputError, NoFaceError
from streamfx.live.cli import LIVE_MAX_SIDE
from streamfx.live.pipeline import LivePipeline
from streamfx.web.webrtc import ViewerLimitError, WebRTCHub

log = logging.getLogger("streamfx.web")

STATIC = Path(__file__).parent / "static"

#: Live portraits are regenerated every frame at source resolution: the live cap applies.
UPLOAD_MAX_SIDE = LIVE_MAX_SIDE
UPLOAD_MAX_BYTES = 15_000_000
UPLOAD_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "application/octet-stream")

@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    """Required on non-loopback binds; generated when missing there."""

    def __post_init__(self) -> None:
        if not (0 <= self.port <= 65535):
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.token is not None and len(self.token) < 8:
            raise ValueError("token must be at least 8 characters")
        if self.token is None and not is_loopback(self.host):
            self.token = secrets.token_urlsafe(18)

    @property
    def requires_token(self) -> bool:
        return self.token is not None


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


def _live_setting_types() -> dict[str, type]:
    """Settable names and their types, from the settings dataclasses themselves."""
    from streamfx.animator import GENERATOR_KEYS
    from streamfx.generator import GeneratorSettings
    from streamfx.retarget import RetargetSettings

    types: dict[str, type] = {f.name: bool if f.type in (bool, "bool") else float for f in fields(RetargetSettings)
             if f.name != "reference"}  # the reference is chosen offline; live has calibrate
    types.update({f.name: bool if f.type in (bool, "bool") else float for f in fields(GeneratorSettings)
                  if f.name in GENERATOR_KEYS})
    return types


def validate_settings(body: Any) -> dict[str, Any]:
    """Check a settings update at the edge; raise ValueError naming the bad key.

    Types are checked here; ranges by the settings dataclasses' own ``validate()``, so the
    panel, the CLI and the library accept exactly the same values.
    """
    from streamfx.generator import GeneratorSettings
    from streamfx.retarget import RetargetSettings

    if not isinstance(body, dict) or not body:
        raise ValueError("send a JSON object of settings, e.g. {\"head_gain\": 1.2}")
    types = _live_setting_types()
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
            out[key] = float(value)
    retarget = {k: v for k, v in out.items() if k in {f.name for f in fields(RetargetSettings)}}
    generator = {k: v for k, v in out.items() if k not in retarget}
    try:
        RetargetSettings().updated(**retarget)
        GeneratorSettings(**generator).validate()
    except InputError as e:
        raise ValueError(str(e)) from None
    return out


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PROTECTED = ("/api/", "/metrics", "/offer", "/whep")


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class LiveServer:
    """aiohttp application around one LivePipeline (and optionally WebRTC)."""

    def __init__(self, pipeline: LivePipeline, settings: ServerSettings | None = None,
                 webrtc: WebRTCHub | None = None) -> None:
        self.pipeline = pipeline
        self.settings = settings or ServerSettings()
        self.webrtc = webrtc
        self.app = self._make_app()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- app -----------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._errors, self._auth],
            client_max_size=UPLOAD_MAX_BYTES + 1_000_000,
        )
        r = app.router
        r.add_get("/", self._page("viewer.html"))
        r.add_get("/panel", self._page("panel.html"))
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
        r.add_get("/api/stats", self.stats)
        r.add_get("/metrics", self.metrics)
        app.on_shutdown.append(self._on_shutdown)
        return app

    def _page(self, name: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

        return handler

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as e:  # a bug in one request must not take the server down
            log.exception("%s %s failed", request.method, request.path)
            return _json_error(500, f"internal error: {type(e).__name__}")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = self.settings.token
        if token and request.method != "OPTIONS" and request.path.startswith(_PROTECTED):
            given = request.query.get("token", "")
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _json_error(401, "missing or wrong token (Authorization: Bearer <token> or ?token=)")
        return await handler(request)

    async def _on_shutdown(self, app: web.Application) -> None:
        if self.webrtc is not None:
            await self.webrtc.close()

    # -- WebRTC --------------------------------------------------------------------------
    def _need_webrtc(self) -> WebRTCHub:
        if self.webrtc is None:
            raise web.HTTPNotFound(text="WebRTC is off (started with --no-webrtc)")
        return self.webrtc

    async def offer(self, request: web.Request) -> web.StreamResponse:
        rtc = self._need_webrtc()
        try:
            body = await request.json()
            sdp, type_ = body["sdp"], body.get("type", "offer")
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            return _json_error(400, 'send JSON {"sdp": "...", "type": "offer"}')
        try:
            viewer, answer = await rtc.answer(sdp, type_, kind="offer")
        except ViewerLimitError as e:
            return _json_error(503, str(e))
        except ValueError as e:
            return _json_error(400, str(e))
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "id": viewer.id})

    async def whep_post(self, request: web.Request) -> web.StreamResponse:
        rtc = self._need_webrtc()
        if request.content_type != "application/sdp":
            return web.Response(status=415, text="WHEP offers must be Content-Type: application/sdp\n")
        try:
            sdp = await request.text()
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
            headers={"Location": f"/whep/{viewer.id}", **_CORS},
        )

    async def whep_delete(self, request: web.Request) -> web.StreamResponse:
        rtc = self._need_webrtc()
        if await rtc.close_viewer(request.match_info["id"]):
            return web.Response(status=204, headers=_CORS)
        return web.Response(status=404, text="no such WHEP session\n", headers=_CORS)

    async def whep_patch(self, request: web.Request) -> web.StreamResponse:
        # our answers carry all candidates (aiortc gathers before answering): no trickle ICE
        return web.Response(status=405, text="trickle ICE is not supported\n", headers=_CORS)

    async def whep_options(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204, headers={**_CORS, "Accept-Post": "application/sdp"})

    # -- control API ---------------------------------------------------------------------
    async def _await(self, fut: Any, timeout: float = 30.0) -> Any:
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)

    async def get_settings(self, request: web.Request) -> web.StreamResponse:
        animator = await self._await(self.pipeline.settings_dict())
        return web.json_response(self._settings_payload(animator))

    def _settings_payload(self, animator: dict) -> dict:
        s = self.pipeline.settings
        rtc = self.webrtc.settings if self.webrtc is not None else None
        return {
            "animator": _jsonable(animator),
            "paused": self.pipeline.paused,
            "output": {"width": s.width, "height": s.height, "fps": s.fps, "fit": s.fit},
            "webrtc": None if rtc is None else {"codec": rtc.codec, "bitrate": rtc.bitrate},
        }

    async def post_settings(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = validate_settings(await request.json())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json_error(400, "send a JSON object of settings")
        except ValueError as e:
            return _json_error(400, str(e))
        try:
            animator = await self._await(self.pipeline.update_settings(**changes))
        except (InputError, ValueError, TypeError) as e:
            return _json_error(400, str(e))
        return web.json_response(self._settings_payload(animator))

    async def calibrate(self, request: web.Request) -> web.StreamResponse:
        await self._await(self.pipeline.calibrate())
        return web.json_response({"ok": True})

    async def pause(self, request: web.Request) -> web.StreamResponse:
        paused = not self.pipeline.paused
        if request.can_read_body:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return _json_error(400, 'send {"paused": true|false} or no body to toggle')
            if isinstance(body, dict) and "paused" in body:
                if not isinstance(body["paused"], bool):
                    return _json_error(400, "paused must be true or false")
                paused = body["paused"]
        self.pipeline.set_paused(paused)
        return web.json_response({"paused": self.pipeline.paused})

    async def post_source(self, request: web.Request) -> web.StreamResponse:
        from streamfx.imageio import load_image_bytes

        try:
            data, name, ctype = await self._read_upload(request)
        except web.HTTPRequestEntityTooLarge:
            return _json_error(413, f"image is over the {UPLOAD_MAX_BYTES / 1e6:g} MB upload limit")
        except ValueError as e:
            return _json_error(400, str(e))
        if ctype not in UPLOAD_TYPES:
            return _json_error(415, f"upload a JPEG, PNG, WebP or BMP image, not {ctype or 'unknown type'}")
        try:
            # decoding a large JPEG takes tens of ms: keep it off the event loop
            image = await asyncio.get_running_loop().run_in_executor(
                None, lambda: load_image_bytes(data, max_side=UPLOAD_MAX_SIDE, max_bytes=UPLOAD_MAX_BYTES, name=name)
            )
        except InputError as e:
            return _json_error(400, str(e))
        try:
            await self._await(self.pipeline.set_source(image, name=name))
        except NoFaceError as e:
            return _json_error(422, str(e))
        h, w = image.shape[:2]
        log.info("portrait switched to %s (%dx%d)", name, w, h)
        return web.json_response({"ok": True, "name": name, "size": [w, h],
                                  "source_version": self.pipeline.source_version})

    async def _read_upload(self, request: web.Request) -> tuple[bytes, str, str]:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    raise ValueError('multipart upload has no "image" field')
                if getattr(part, "name", None) in ("image", "file"):
                    data = await part.read(decode=False)  # type: ignore[union-attr]
                    name = getattr(part, "filename", None) or "upload"
                    ctype = part.headers.get("Content-Type", "application/octet-stream")
                    return bytes(data), name, ctype.split(";")[0].strip().lower()
        data = await request.read()
        if not data:
            raise ValueError("empty upload: send an image file")
        return data, request.query.get("name", "upload"), request.content_type.lower()

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
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
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


_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Location",
}


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
