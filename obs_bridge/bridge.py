"""The AnimCam input in OBS, over obs-websocket v5 (obsws-python).

:func:`connect` opens a request client and turns every way that can fail into one line:
OBS not running (:class:`OBSNotRunningError`), a missing or wrong password
(:class:`OBSAuthError`), the old obs-websocket 4.x protocol (:class:`OBSVersionError`).
:class:`Bridge` creates, updates, checks and removes the input.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np

from streamfx.errors import (
    OBSAuthError,
    OBSBusyError,
    OBSError,
    OBSNotRunningError,
    OBSVersionError,
)
from streamfx.sinks.stream import FFMPEG_OPTIONS, STREAM_FORMAT

# obsws-python logs every failure with a traceback at ERROR; we say it in one line instead
logging.getLogger("obsws_python").setLevel(logging.CRITICAL + 1)
log = logging.getLogger("streamfx.obs")

INPUT_NAME = "AnimCam"
DEFAULT_URL = "ws://127.0.0.1:4455"
DEFAULT_STREAM = "tcp://127.0.0.1:8091"
DEFAULT_OVERLAY = "http://127.0.0.1:8080/overlay"
MODES = ("overlay", "camera")
#: how long a watched OBS may have no scene at all before it is said: a shutting-down OBS drops
#: its scenes first and closes its socket last (its own clean exit waits up to 20 s)
SCENELESS_SECONDS = 30.0
#: obs-websocket's "not found" status (a source or scene by that name does not exist)
_NOT_FOUND = 600
#: GetSourceScreenshot before the first frame was decoded
_NOT_RENDERED = 702
_ENABLE_HINT = "Tools → WebSocket Server Settings in OBS"


def parse_ws_url(url: str) -> tuple[str, int]:
    """``ws://HOST:PORT`` (or ``HOST:PORT``) → (host, port); ValueError naming the form."""
    u = urlparse(url if "://" in url else "ws://" + url)
    try:
        port = u.port  # ValueError for a port out of 0–65535 or not a number
    except ValueError:
        port = -1
    if u.scheme not in ("ws", "") or not u.hostname or port == -1 or port == 0:
        raise ValueError(f"--url takes ws://HOST:PORT with a port 1–65535 (e.g. {DEFAULT_URL}), not {url!r}")
    return u.hostname, port or 4455


def connect(url: str = DEFAULT_URL, password: str | None = None, timeout: float = 5.0) -> Any:
    """An obsws_python ReqClient connected and identified; one-line OBSError subclasses otherwise."""
    import obsws_python as obs
    import websocket

    try:
        host, port = parse_ws_url(url)
    except ValueError as e:
        raise OBSError(str(e)) from None
    where = f"ws://{host}:{port}"
    # First the handshake ourselves: obs-websocket 5 greets with Hello (op 0) at once and
    # says whether it wants a password; 4.x says nothing until asked.
    busy = OBSBusyError(f"OBS at {where} took the connection but did not answer within {timeout:g} s — it is busy "
                        "or stuck; try again, or restart OBS if it stays so")
    try:
        ws = websocket.create_connection(where, timeout=timeout)
    except (TimeoutError, websocket.WebSocketTimeoutException):
        raise busy from None
    except websocket.WebSocketBadStatusException as e:
        # an HTTP server (streamfx live's own web port, say) answered the upgrade; its
        # reply, headers and page included, is no message for a terminal
        raise OBSNotRunningError(
            f"{where} is not obs-websocket (an HTTP server answered with status {e.status_code}) — pass OBS's "
            f"WebSocket address with --url ({_ENABLE_HINT}; default {DEFAULT_URL})") from None
    except (ConnectionRefusedError, OSError, websocket.WebSocketAddressException) as e:
        why = (getattr(e, "strerror", None) or str(e) or type(e).__name__).splitlines()[0][:120]
        raise OBSNotRunningError(
            f"OBS is not reachable at {where} ({why}) — start OBS and enable its WebSocket server "
            f"({_ENABLE_HINT}), or pass --url") from None
    except (ValueError, UnicodeDecodeError, websocket.WebSocketException):
        # something answered that is not HTTP at all (streamfx live's OBS stream, say, sends
        # video bytes at once)
        raise OBSNotRunningError(
            f"{where} is not obs-websocket (what answers there does not speak HTTP) — pass OBS's WebSocket "
            f"address with --url ({_ENABLE_HINT}; default {DEFAULT_URL})") from None
    try:
        hello = _hello(ws, timeout)
    finally:
        ws.close()
    if hello is None:
        raise OBSVersionError(
            f"the server at {where} speaks obs-websocket 4.x, not 5 — update to OBS 28 or later (it "
            "has obs-websocket 5 built in) or install the obs-websocket 5 plugin")
    if hello is _SILENT:
        raise busy
    if hello.get("authentication") and not password:
        raise OBSAuthError(f"OBS at {where} asks for a password — pass --password (Show Connect Info in {_ENABLE_HINT})")
    try:
        return obs.ReqClient(host=host, port=port, password=password or "", timeout=timeout)
    except (TimeoutError, websocket.WebSocketTimeoutException, obs.error.OBSSDKTimeoutError):
        raise busy from None
    except (ConnectionRefusedError, OSError, websocket.WebSocketException) as e:
        raise OBSNotRunningError(f"OBS at {where} closed the connection ({e}) — is it shutting down?") from None
    except obs.error.OBSSDKError:
        # obs-websocket answers a wrong password by closing with code 4009, which
        # obsws-python reports as a failed identification
        raise OBSAuthError(f"OBS at {where} refused the password — check --password (Show Connect Info in "
                           f"{_ENABLE_HINT})") from None


#: what :func:`_hello` returns for a server that answers nothing at all
_SILENT: dict = {}


def _hello(ws: Any, timeout: float) -> dict | None:
    """The v5 Hello's data; None for a 4.x server; :data:`_SILENT` for one that says nothing.

    obs-websocket 5 greets at once with Hello (op 0). 4.x waits to be asked: it answers a
    4.x ``GetVersion`` (a reply with our ``message-id``). A server that answers neither
    within ``timeout`` each is a stalled OBS, not an old one.
    """
    import websocket

    def receive() -> Any:
        try:
            return json.loads(ws.recv())
        except (websocket.WebSocketTimeoutException, ValueError):
            return None

    first = receive()
    if isinstance(first, dict) and first.get("op") == 0:
        return dict(first.get("d") or {})
    try:
        ws.send(json.dumps({"request-type": "GetVersion", "message-id": "streamfx-version"}))
    except (OSError, websocket.WebSocketException):
        return _SILENT
    reply = first if first is not None else receive()
    if isinstance(reply, dict) and "message-id" in reply:
        return None
    return _SILENT


@dataclass
class InputState:
    """What ``status`` reports about the AnimCam input."""

    exists: bool
    kind: str | None = None
    url: str | None = None
    scenes: tuple[str, ...] = ()
    showing: bool = False
    size: tuple[int, int] | None = None


def _same_settings(current: dict, wanted: dict) -> bool:
    """Whether an input's settings already hold every value of ``wanted``."""
    return all(current.get(k) == v for k, v in wanted.items())


class Bridge:
    """The AnimCam input of one OBS instance (a connected obsws_python ReqClient).

    Made by :meth:`connect`, it remembers how, so :meth:`watch` can open a fresh connection
    after OBS failed to answer (obs-websocket's replies carry a request id, but obsws-python
    reads the next message as the reply: after a timeout the old connection is out of step).
    """

    def __init__(self, client: Any, *, url: str | None = None, password: str | None = None,
                 timeout: float = 5.0) -> None:
        self.client = client
        self._how = (url, password, timeout)

    @classmethod
    def connect(cls, url: str = DEFAULT_URL, password: str | None = None, timeout: float = 5.0) -> Bridge:
        return cls(connect(url, password, timeout), url=url, password=password, timeout=timeout)

    def reconnect(self) -> None:
        """Drop the connection and open a new one the way :meth:`connect` did (its OBSErrors)."""
        url, password, timeout = self._how
        if url is None:
            raise OBSError("this Bridge was not made by Bridge.connect, so it cannot reconnect")
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - the old connection is being thrown away, broken or not
            pass
        self.client = connect(url, password, timeout)

    def close(self) -> None:
        self.client.disconnect()

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def _send(self, name: str, data: dict | None = None) -> dict:
        """One raw request. OBS refusing it raises obsws-python's OBSSDKRequestError (its
        ``code`` says why); OBS not answering in time is OBSBusyError; the connection gone
        (OBS quit or crashed: a closed socket, or half a message) is OBSNotRunningError."""
        import obsws_python as obs
        import websocket

        try:
            return dict(self.client.send(name, data, raw=True) or {})
        except obs.error.OBSSDKTimeoutError:
            raise OBSBusyError(f"OBS did not answer {name} within {self._how[2]:g} s — it is busy or stuck; "
                               "try again, or restart OBS if it stays so") from None
        except (OSError, ValueError, websocket.WebSocketException):
            # ValueError: the socket closed mid-reply and obsws-python parsed nothing as JSON
            raise OBSNotRunningError("lost the connection to OBS (it quit or crashed) — start OBS, then "
                                     "streamfx obs setup") from None

    def _request(self, name: str, data: dict | None = None) -> Any:
        """A raw request; None when OBS says "not found" (600), OBSError for any other refusal,
        and :meth:`_send`'s errors."""
        import obsws_python as obs

        try:
            return self._send(name, data)
        except obs.error.OBSSDKRequestError as e:
            if e.code == _NOT_FOUND:
                return None
            raise OBSError(f"OBS refused {name}: {e} — check the scene and source names") from None

    def _fact(self, name: str, data: dict | None = None) -> dict:
        """A request that must succeed (OBS's version, scenes, canvas)."""
        got = self._request(name, data)
        if got is None:
            raise OBSError(f"OBS answered {name} with 'not found' — is it still starting up? try again")
        return dict(got)

    # -- facts -----------------------------------------------------------------------------
    def version(self) -> tuple[str, str]:
        v = self._fact("GetVersion")
        return str(v["obsVersion"]), str(v["obsWebSocketVersion"])

    def has_browser_source(self) -> bool:
        return "browser_source" in self._fact("GetInputKindList", {"unversioned": False})["inputKinds"]

    def canvas(self) -> tuple[int, int]:
        v = self._fact("GetVideoSettings")
        return int(v["baseWidth"]), int(v["baseHeight"])

    def scenes(self) -> list[str]:
        return [str(s["sceneName"]) for s in self._fact("GetSceneList")["scenes"]]

    def current_scene(self) -> str:
        return str(self._fact("GetSceneList")["currentProgramSceneName"])

    # -- the input -------------------------------------------------------------------------
    def setup(self, *, scene: str | None = None, mode: str = "overlay", stream: str = DEFAULT_STREAM,
              overlay: str = DEFAULT_OVERLAY, browser: bool | None = None) -> str:
        """Create or update the AnimCam input in ``scene`` (default: the program scene), fit it
        to the canvas, on top (overlay) or at the bottom (camera). Returns one line saying what."""
        if mode not in MODES:
            raise OBSError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        scenes = self.scenes()
        scene = scene or self.current_scene()
        if scene not in scenes:
            raise OBSError(f"OBS has no scene {scene!r} — pick one of: {', '.join(scenes) or '(none)'}")
        use_browser = self.has_browser_source() if browser is None else browser
        w, h = self.canvas()
        if use_browser:
            kind = "browser_source"
            settings: dict[str, Any] = {"url": overlay, "width": w, "height": h, "reroute_audio": False,
                                        "shutdown": False, "restart_when_active": False}
        else:
            kind = "ffmpeg_source"
            settings = {"is_local_file": False, "input": stream, "input_format": STREAM_FORMAT,
                        "ffmpeg_options": FFMPEG_OPTIONS, "buffering_mb": 0, "close_when_inactive": False,
                        "restart_on_activate": False, "hw_decode": False, "clear_on_media_end": False,
                        "reconnect_delay_sec": 1}
        current = self._request("GetInputSettings", {"inputName": INPUT_NAME})
        if current is not None and current.get("inputKind") != kind:
            self._request("RemoveInput", {"inputName": INPUT_NAME})
            self._wait_gone()
            current = None
        if current is None:
            created = self._request("CreateInput", {"sceneName": scene, "inputName": INPUT_NAME, "inputKind": kind,
                                                    "inputSettings": settings, "sceneItemEnabled": True})
            item = int(created["sceneItemId"])
            action = "created"
        else:
            # Only when something changed: OBS restarts a Media source on every settings update,
            # and OBS 29 restarting one that plays a live network stream was seen to lose sync with
            # it for good ("Last frame must have been damaged" for every frame after) and then to
            # stall obs-websocket for tens of seconds when the source is removed.
            if not _same_settings(current.get("inputSettings") or {}, settings):
                self._request("SetInputSettings", {"inputName": INPUT_NAME, "inputSettings": settings,
                                                   "overlay": True})
            found = self._request("GetSceneItemId", {"sceneName": scene, "sourceName": INPUT_NAME})
            if found is None:
                found = self._request("CreateSceneItem", {"sceneName": scene, "sourceName": INPUT_NAME,
                                                          "sceneItemEnabled": True})
            item = int(found["sceneItemId"])
            action = "updated"
        self._request("SetSceneItemTransform", {"sceneName": scene, "sceneItemId": item, "sceneItemTransform": {
            "positionX": 0.0, "positionY": 0.0, "alignment": 5, "boundsType": "OBS_BOUNDS_SCALE_INNER",
            "boundsAlignment": 0, "boundsWidth": float(w), "boundsHeight": float(h)}})
        items = self._request("GetSceneItemList", {"sceneName": scene})["sceneItems"]
        index = len(items) - 1 if mode == "overlay" else 0  # OBS counts from the bottom
        self._request("SetSceneItemIndex", {"sceneName": scene, "sceneItemId": item, "sceneItemIndex": index})
        self._request("SetSceneItemEnabled", {"sceneName": scene, "sceneItemId": item, "sceneItemEnabled": True})
        source = f"Browser source on {overlay}" if use_browser else f"Media source on {stream}"
        return f"{action} {INPUT_NAME} in scene {scene!r} ({mode}): {source}, fitted to {w}x{h}"

    def _wait_gone(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self._request("GetInputSettings", {"inputName": INPUT_NAME}) is not None:
            if time.monotonic() > deadline:
                raise OBSError(f"OBS did not remove the old {INPUT_NAME} input — remove it by hand and retry")
            time.sleep(0.05)

    def status(self) -> InputState:
        current = self._request("GetInputSettings", {"inputName": INPUT_NAME})
        if current is None:
            return InputState(False)
        settings = current.get("inputSettings") or {}
        scenes = tuple(s for s in self.scenes()
                       if self._request("GetSceneItemId", {"sceneName": s, "sourceName": INPUT_NAME}) is not None)
        try:
            shot = self.screenshot(INPUT_NAME)
            showing, size = True, (shot.shape[1], shot.shape[0])
        except (OBSBusyError, OBSNotRunningError):
            raise
        except OBSError:  # no frame yet, or none it can show
            showing, size = False, None
        return InputState(True, current.get("inputKind"), settings.get("url") or settings.get("input"), scenes,
                          showing, size)

    def remove(self) -> bool:
        """Remove the AnimCam input from OBS (every scene); False when there was none."""
        if self._request("GetInputSettings", {"inputName": INPUT_NAME}) is None:
            return False
        self._request("RemoveInput", {"inputName": INPUT_NAME})
        self._wait_gone()
        return True

    def screenshot(self, source: str, width: int | None = None) -> np.ndarray:
        """What OBS renders for ``source`` (an input or a scene) as RGBA; OBSError before its
        first frame (obs-websocket's 702)."""
        import obsws_python as obs

        data: dict[str, Any] = {"sourceName": source, "imageFormat": "png"}
        if width:
            data["imageWidth"] = width
        try:
            got = self._send("GetSourceScreenshot", data)
        except obs.error.OBSSDKRequestError as e:
            what = "has no frame yet" if e.code == _NOT_RENDERED else f"refused a screenshot ({e})"
            raise OBSError(f"OBS source {source!r} {what} — is streamfx live running?") from None
        png = base64.b64decode(got["imageData"].split(",", 1)[1])
        bgra = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        if bgra.ndim == 2:
            bgra = cv2.cvtColor(bgra, cv2.COLOR_GRAY2BGRA)
        elif bgra.shape[2] == 3:
            bgra = cv2.cvtColor(bgra, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)

    def wait_for_frame(self, source: str = INPUT_NAME, timeout: float = 30.0) -> np.ndarray:
        """Poll until OBS shows a frame of ``source`` (OBSError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.screenshot(source)
            except (OBSBusyError, OBSNotRunningError):
                raise
            except OBSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def watch(self, interval: float = 1.0, **setup_kw: Any) -> None:
        """Keep AnimCam there: re-create it when it was removed or taken out of the scene
        (until Ctrl-C, or OBS goes away: OBSNotRunningError).

        OBS that is busy for a while (OBSBusyError: no answer within the timeout) is not the
        end: it says so once, reconnects and keeps watching.
        """
        scene = setup_kw.get("scene") or self.current_scene()
        setup_kw["scene"] = scene
        busy = False
        sceneless = 0
        while True:
            time.sleep(interval)
            try:
                if busy:
                    self.reconnect()
                there = self._request("GetSceneItemId", {"sceneName": scene, "sourceName": INPUT_NAME})
                if there is None:
                    scenes = self.scenes()
                    if not scenes:
                        # OBS drops every scene when it starts to shut down, and its socket closes
                        # only once the rest is done (OBSNotRunningError) — on a loaded machine
                        # 5–20 s later; an OBS that stays without scenes longer is said once
                        sceneless += 1
                        if sceneless * interval >= SCENELESS_SECONDS:
                            raise OBSError("OBS has had no scenes for "
                                           f"{SCENELESS_SECONDS:.0f} s — add one, then streamfx obs setup --watch")
                        continue
                    if scene not in scenes:
                        raise OBSError(f"the scene {scene!r} is gone from OBS (removed or renamed) — run "
                                       "streamfx obs setup --watch again (--scene NAME for another)")
                    print(self.setup(**setup_kw).replace("created", "re-created", 1), flush=True)
                sceneless = 0
                if busy:
                    print("OBS answers again; watching", flush=True)
                    busy = False
            except OBSBusyError as e:  # (a lost connection is _send's OBSNotRunningError: it ends the watch)
                if not busy:
                    print(f"{e} (still watching)", flush=True)
                busy = True
