"""The OBS bridge against real OBS Studio (Debian's obs-studio, headless under Xvfb).

Everything is real: OBS 29 with obs-websocket 5, `streamfx live` with a video driver
serving its NUT stream with alpha, `streamfx obs setup` creating the Media source (Debian's
OBS has no Browser source), and OBS's own renders read back with GetSourceScreenshot. The
one stand-in is the obs-websocket 4.x server of the version test: OBS 28+ no longer ships
4.x, so a tiny aiohttp WebSocket server behaves as 4.x does (silent until asked) — and says
so below.

Without OBS or Xvfb these tests skip, which under CI=true is a failure (tests/conftest.py):
scripts/install_system_deps.sh installs both. OBS that is installed but does not start is
a failure everywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from obs_bridge.bridge import INPUT_NAME, Bridge
from obs_bridge.headless import HeadlessOBS, available, free_port
from streamfx.errors import OBSAuthError, OBSBusyError, OBSNotRunningError, OBSVersionError
from tests.test_live_browser import DRIVER, ROOT, LiveProcess

W, H = 640, 360  # streamfx live's output; OBS's canvas is 1280×720 (2×)


def _freeze(pid: int) -> None:
    """SIGSTOP a process and wait until every one of its threads is stopped: kill() returns
    before a thread busy on another core has reached its stop."""
    from pathlib import Path

    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while True:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue  # a thread that ended meanwhile
            states.append(stat[stat.rindex(")") + 2])
        if all(st in "tT" for st in states):
            return
        assert time.monotonic() < deadline, f"OBS's threads did not all stop: {states}"
        time.sleep(0.01)


def _need_obs() -> None:
    missing = available()
    if missing:
        pytest.skip(f"needs OBS Studio and Xvfb: {missing}")


@pytest.fixture(scope="module")
def obs() -> Iterator[HeadlessOBS]:
    _need_obs()
    o = HeadlessOBS().start()  # fails (never skips) when an installed OBS does not start
    yield o
    assert o.stop(), f"OBS did not shut down cleanly; its log ends:\n{o.last_log}"


def streamfx(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamfx", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def live_stream() -> Iterator[tuple[LiveProcess, int]]:
    if not DRIVER.exists():
        pytest.skip(f"evaluation media not found at {DRIVER} (../shared/media)")
    port = free_port()
    p = LiveProcess("--driver", str(DRIVER), "--no-vcam", "--webrtc", "127.0.0.1:0", "--obs-stream", f"127.0.0.1:{port}",
                    "--size", f"{W}x{H}", "--fps", "30", "--background", "transparent", "--duration", "170")
    yield p, port
    assert p.stop() == 0, "".join(p.lines[-30:])


def test_obs_shows_the_animated_portrait_with_alpha(obs: HeadlessOBS, live_stream, portrait: np.ndarray,
                                                    portrait_landmarks: np.ndarray) -> None:
    live, port = live_stream
    # the hint names the stream when it is not the default one `obs setup` assumes
    assert any(f"OBS stream: tcp://127.0.0.1:{port}" in line and f"streamfx obs setup --stream tcp://127.0.0.1:{port}"
               in line for line in live.lines), "".join(live.lines[-20:])
    res = streamfx("obs", "setup", "--url", obs.url, "--stream", f"tcp://127.0.0.1:{port}")
    assert res.returncode == 0, res.stderr
    assert f"created {INPUT_NAME}" in res.stdout and "Media source" in res.stdout
    bridge = Bridge.connect(obs.url, timeout=20.0)  # OBS under Xvfb on a loaded 2-core box can take seconds to tear a source down
    try:
        t0 = time.monotonic()
        bridge.wait_for_frame(INPUT_NAME, timeout=30)
        print(f"\nfirst frame in OBS {time.monotonic() - t0:.2f} s after setup")
        scene = bridge.current_scene()
        shots = []
        for _ in range(8):
            shots.append(bridge.screenshot(scene))
            time.sleep(0.25)
        status = streamfx("obs", "status", "--url", obs.url)
    finally:
        bridge.close()
    assert status.returncode == 0 and f"ffmpeg_source on tcp://127.0.0.1:{port}" in status.stdout
    assert "showing 640x360" in status.stdout
    # the demo portrait at 640×360 (fit: 512² → 360², centred), shown 2× on OBS's 1280×720 canvas
    s = 2 * H / portrait.shape[0]
    x0 = (2 * W - round(portrait.shape[1] * s)) // 2
    lm = portrait_landmarks[:, :2] * s + (x0, 0)
    (fx0, fy0), (fx1, fy1) = lm.min(axis=0), lm.max(axis=0)
    mx, my = 0.25 * (fx1 - fx0), 0.25 * (fy1 - fy0)
    face = (slice(int(fy0 + my), int(fy1 - my)), slice(int(fx0 + mx), int(fx1 - mx)))
    for f in shots:
        assert f.shape == (2 * H, 2 * W, 4)
        a = f[..., 3]
        assert a[:, : x0 - 8].max() == 0 and a[:, 2 * W - x0 + 8 :].max() == 0, "transparent beside the portrait"
        assert a[:80, x0 + 8 : x0 + 88].max() == 0, "the portrait's own background (the sky) is cut away"
        assert a[face].min() == 255, "the face is opaque"
        assert f[face][..., :3].mean() > 60
    changes = [float(np.abs(f[face][..., :3].astype(int) - shots[0][face][..., :3]).mean()) for f in shots[1:]]
    assert max(changes) > 1.5, f"the face in OBS moves with the driver ({changes})"

    # setup again with the same settings leaves the playing source alone: OBS restarts a Media
    # source on any settings update, and OBS 29 restarting one on a live stream lost sync with
    # it ("Last frame must have been damaged" on every frame) and stalled obs-websocket for
    # tens of seconds when it was removed next
    def cursor() -> int:  # ms the Media source has played since it (re)started
        with Bridge.connect(obs.url, timeout=10.0) as b:
            st = b.client.send("GetMediaInputStatus", {"inputName": INPUT_NAME}, raw=True)
        assert st["mediaState"] == "OBS_MEDIA_STATE_PLAYING", st
        return int(st["mediaCursor"])

    before = cursor()
    res = streamfx("obs", "setup", "--url", obs.url, "--stream", f"tcp://127.0.0.1:{port}")
    assert res.returncode == 0 and f"updated {INPUT_NAME}" in res.stdout, res.stderr
    time.sleep(0.5)
    assert cursor() > before, "the second setup restarted the Media source"


def test_setup_keeps_animcam_in_sync_and_remove_takes_it_out(obs: HeadlessOBS, live_stream) -> None:
    _, port = live_stream
    watch = subprocess.Popen([sys.executable, "-m", "streamfx", "obs", "setup", "--url", obs.url, "--stream",
                              f"tcp://127.0.0.1:{port}", "--watch"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(watch.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    bridge = Bridge.connect(obs.url, timeout=20.0)  # OBS under Xvfb on a loaded 2-core box can take seconds to tear a source down
    try:
        deadline = time.monotonic() + 30
        while not any("watching" in line for line in lines):
            assert watch.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        assert bridge.status().exists
        bridge.client.remove_input(INPUT_NAME)  # the user deletes it in OBS
        deadline = time.monotonic() + 15
        while not any(f"re-created {INPUT_NAME}" in line for line in lines):
            assert time.monotonic() < deadline, "AnimCam was not re-created: " + "".join(lines)
            time.sleep(0.1)
        assert bridge.status().exists
        bridge.wait_for_frame(INPUT_NAME, timeout=30)  # and it shows the stream again
    finally:
        watch.terminate()
        watch.wait(10)
        bridge.close()
    res = streamfx("obs", "remove", "--url", obs.url)
    assert res.returncode == 0 and f"removed {INPUT_NAME}" in res.stdout
    res = streamfx("obs", "status", "--url", obs.url)
    assert res.returncode == 1 and "not in OBS" in res.stdout


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0
    err = res.stderr.strip()
    assert err.startswith("streamfx: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_watch_outlasts_obs_being_stuck_and_a_stuck_obs_is_one_line() -> None:
    # Real OBS, really stuck: SIGSTOP freezes it (the kernel still accepts connections, nobody
    # answers) as a long stall would; the watcher must say so once and carry on afterwards.
    _need_obs()
    with HeadlessOBS() as o:
        assert o.obs is not None
        stream = f"tcp://127.0.0.1:{free_port()}"  # nothing plays there: the input is what is watched
        watch = subprocess.Popen([sys.executable, "-m", "streamfx", "obs", "setup", "--url", o.url, "--stream", stream,
                                  "--watch"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(iter(watch.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
        try:
            deadline = time.monotonic() + 30
            while not any("watching" in line for line in lines):
                assert watch.poll() is None and time.monotonic() < deadline, "".join(lines)
                time.sleep(0.1)
            _freeze(o.obs.pid)
            try:
                t0 = time.monotonic()
                with pytest.raises(OBSBusyError, match="busy or stuck"):
                    Bridge.connect(o.url, timeout=1.0)
                assert time.monotonic() - t0 < 5, "a stuck OBS is reported after the timeouts, not waited on"
                res = streamfx("obs", "status", "--url", o.url)
                assert "busy or stuck" in one_line_error(res)
                deadline = time.monotonic() + 20
                while not any("busy or stuck" in line for line in lines):
                    assert watch.poll() is None, "the watcher died: " + "".join(lines)
                    assert time.monotonic() < deadline, "".join(lines)
                    time.sleep(0.2)
            finally:
                os.kill(o.obs.pid, signal.SIGCONT)
            bridge = Bridge.connect(o.url, timeout=20.0)
            try:
                bridge.client.remove_input(INPUT_NAME)
                deadline = time.monotonic() + 30
                while not any(f"re-created {INPUT_NAME}" in line for line in lines):
                    assert watch.poll() is None, "the watcher died: " + "".join(lines)
                    assert time.monotonic() < deadline, "AnimCam was not re-created after OBS came back: " + "".join(lines)
                    time.sleep(0.1)
                assert bridge.status().exists
            finally:
                bridge.close()
            assert sum("busy or stuck" in line for line in lines) == 1, "said once, not every second: " + "".join(lines)
            assert any("answers again" in line for line in lines), "".join(lines)
        finally:
            watch.terminate()
            watch.wait(10)


def test_obs_stuck_after_connecting_is_one_line_for_every_request() -> None:
    # Found by a new user: `streamfx obs status` against an OBS that stalls after the handshake
    # (here: SIGSTOP once connected) printed obsws-python's OBSSDKTimeoutError traceback from
    # the screenshot it takes; version(), canvas(), scenes(), current_scene(),
    # has_browser_source() and so setup() go to obsws-python directly too. Each must be the
    # one-line OBSBusyError that _request gives. A fresh connection per call: after a
    # timeout the old one is out of step.
    _need_obs()
    calls = {"version": lambda b: b.version(), "canvas": lambda b: b.canvas(), "scenes": lambda b: b.scenes(),
             "screenshot": lambda b: b.screenshot("Scene"), "status": lambda b: b.status(),
             "setup": lambda b: b.setup(stream=f"tcp://127.0.0.1:{free_port()}")}
    raw: list[str] = []
    with HeadlessOBS() as o:
        assert o.obs is not None
        for name, call in calls.items():
            bridge = Bridge.connect(o.url, timeout=1.0)
            time.sleep(0.5)  # OBS settles after the last SIGCONT before it is stopped again
            _freeze(o.obs.pid)
            try:
                call(bridge)
                raw.append(f"{name}: returned while OBS was stopped")
            except OBSBusyError:
                pass
            except Exception as e:  # noqa: BLE001 - what the user would see as a traceback
                raw.append(f"{name}: {type(e).__module__}.{type(e).__name__}")
            finally:
                os.kill(o.obs.pid, signal.SIGCONT)
            try:
                bridge.close()
            except Exception:  # noqa: BLE001 - the connection is out of step, closing it may fail
                pass
    assert not raw, "not one line (OBSBusyError) when OBS stalls: " + "; ".join(raw)


def test_obs_quitting_while_watching_is_one_line() -> None:
    # Found by a new user: closing OBS (a clean shutdown) while `streamfx obs setup --watch`
    # runs ended the watcher, depending on the moment, with a traceback (JSONDecodeError or
    # WebSocketConnectionClosedException from obsws-python) or with "OBS has no scene 'Scene'
    # — pick one of: (none)" (a closing OBS drops its scenes first), which blames the scene.
    # watch() promises OBSNotRunningError: one line saying OBS went away, non-zero exit.
    _need_obs()
    for delay in (0.0, 1.0):  # as soon as it watches, and between two of its polls
        o = HeadlessOBS().start()
        watch = subprocess.Popen([sys.executable, "-m", "streamfx", "obs", "setup", "--url", o.url, "--stream",
                                  f"tcp://127.0.0.1:{free_port()}", "--watch"], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            assert watch.stdout is not None
            assert "watching" in watch.stdout.readline() + watch.stdout.readline()
            time.sleep(delay)
            o.stop()
            _, err = watch.communicate(timeout=30)
        finally:
            o.stop()
            if watch.poll() is None:
                watch.kill()
                watch.wait(10)
        assert watch.returncode != 0
        err = err.strip()
        assert err.startswith("streamfx: error: ") and "\n" not in err and "Traceback" not in err, f"{delay} s: {err}"
        assert "no scene" not in err, f"OBS quitting is blamed on the scene ({delay} s): {err}"


def test_wrong_or_missing_password_is_one_line_against_real_obs() -> None:
    _need_obs()
    with HeadlessOBS(password="s3cret-pass") as o:
        with pytest.raises(OBSAuthError):
            Bridge.connect(o.url, "wrong")
        err = one_line_error(streamfx("obs", "setup", "--url", o.url, "--password", "wrong"))
        assert "refused the password" in err
        err = one_line_error(streamfx("obs", "status", "--url", o.url))
        assert "asks for a password" in err and "--password" in err
        ok = streamfx("obs", "status", "--url", o.url, "--password", "s3cret-pass")
        assert "obs-websocket 5." in ok.stdout


def test_obs_not_running_is_one_line() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(OBSNotRunningError):
        Bridge.connect(f"ws://127.0.0.1:{port}")
    err = one_line_error(streamfx("obs", "setup", "--url", f"ws://127.0.0.1:{port}"))
    assert "not reachable" in err and "WebSocket server" in err


def test_a_url_that_is_not_obs_websocket_is_one_short_line() -> None:
    # Found by a new user: --url pointed at streamfx live's own ports (easy: live prints them
    # next to "streamfx obs setup") put the web page's headers and HTML, or 1.6 MB of the OBS
    # stream's video bytes, into the "one-line" error. Real servers here, on loopback.
    import http.server
    import socket

    video = socket.create_server(("127.0.0.1", 0))
    vport = video.getsockname()[1]

    def serve_bytes() -> None:  # what the OBS stream does: video bytes at once, no HTTP
        while True:
            try:
                conn, _ = video.accept()
            except OSError:
                return
            try:
                conn.sendall(b"nut/multimedia container\x00" + bytes(range(256)) * 4000)
            except OSError:
                pass
            conn.close()

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=serve_bytes, daemon=True).start()
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        for port, what in ((vport, "does not speak HTTP"), (web.server_address[1], "an HTTP server answered")):
            err = one_line_error(streamfx("obs", "status", "--url", f"ws://127.0.0.1:{port}"))
            assert "is not obs-websocket" in err and what in err and "--url" in err, err
            assert len(err) < 300, err
        err = one_line_error(streamfx("obs", "status", "--url", "ws://127.0.0.1:99999"))
        assert "--url takes ws://HOST:PORT" in err and "1–65535" in err, err
    finally:
        web.shutdown()
        video.close()


def test_obs_websocket_4_is_one_line() -> None:
    # Stand-in: OBS 28+ ships only obs-websocket 5, so a 4.x server cannot be run here. This
    # one does what 4.x does on connect — nothing (5.x greets with a Hello at once).
    from aiohttp import web

    port = free_port()
    ready = threading.Event()
    stop = threading.Event()

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:  # 4.x answers 4.x requests only (a v5 Identify is not one)
            req = json.loads(msg.data)
            if req.get("request-type") == "GetVersion":
                await sock.send_json({"message-id": req.get("message-id"), "status": "ok", "version": 1.1,
                                      "obs-websocket-version": "4.9.1", "obs-studio-version": "27.2.4"})
        return sock

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/", ws)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()

    t = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    t.start()
    ready.wait(10)
    try:
        with pytest.raises(OBSVersionError):
            Bridge.connect(f"ws://127.0.0.1:{port}", timeout=1.5)
        err = one_line_error(streamfx("obs", "status", "--url", f"ws://127.0.0.1:{port}"))
        assert "4.x" in err and "OBS 28" in err
    finally:
        stop.set()
        t.join(5)


def test_the_obs_stream_carries_alpha_to_any_ffmpeg_reader() -> None:
    # what OBS's Media source reads, read here by PyAV (FFmpeg, as OBS uses it): no OBS needed
    import av

    from streamfx.sinks.stream import AlphaStreamSink

    sink = AlphaStreamSink("127.0.0.1", 0)
    sink.open(64, 48, 30)
    frame = np.zeros((48, 64, 4), np.uint8)
    frame[10:30, 20:40] = (200, 30, 60, 255)
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            sink.write(frame)
            time.sleep(1 / 30)

    threading.Thread(target=feed, daemon=True).start()
    try:
        with av.open(sink.url, format="nut", options={"fflags": "nobuffer"}, timeout=10) as c:
            got = next(c.decode(video=0)).to_ndarray(format="rgba")
    finally:
        stop.set()
        sink.close()
    assert np.array_equal(got, frame)  # raw BGRA: exact, alpha and all


def test_the_obs_stream_is_bounded_and_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Raw TCP carries no token: an address off loopback is refused in one line, and at most
    MAX_CLIENTS players are served at once (each costs a thread and ~110 MB/s at 720p)."""
    import argparse
    import socket

    from streamfx.errors import StreamFXError
    from streamfx.live.cli import open_obs_stream
    from streamfx.sinks.stream import MAX_CLIENTS, AlphaStreamSink

    with pytest.raises(StreamFXError, match="loopback only"):
        open_obs_stream(argparse.Namespace(obs_stream="0.0.0.0:8091"))
    sink = AlphaStreamSink("127.0.0.1", 0)
    sink.open(64, 48, 30)
    conns = []
    try:
        for _ in range(MAX_CLIENTS + 2):
            conns.append(socket.create_connection(("127.0.0.1", sink.port), timeout=5))
        deadline = time.monotonic() + 5
        while sink.clients < MAX_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the extra connections are accepted and closed, never served
        assert sink.clients == MAX_CLIENTS
    finally:
        for c in conns:
            c.close()
        sink.close()
