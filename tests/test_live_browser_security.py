"""A web page on another origin can neither drive nor watch `streamfx live` on loopback.

Real headless Chromium (Debian's /usr/bin/chromium), the real CLI (`streamfx live --driver
idle`: the real Animator driven by the built-in motion script) and, as the attacker, a page
served by a second small HTTP server on this machine. On 127.0.0.1 that page is the same
*site* as the live server but another *origin* — what any local dev server or web app could
serve — which is the hardest case for the server to tell apart. The page tries what a
malicious page can do: simple `fetch`es (text/plain, empty, multipart), JSON that needs a
preflight, HTML form posts, a WHEP session with a real RTCPeerConnection. None may change
anything, and the control panel on the server's own origin must still work.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import CHROMIUM
from tests.picture import PortraitCheck
from tests.test_live_browser import LiveProcess, shots

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveProcess]:
    p = LiveProcess("--driver", "idle", "--no-vcam", "--webrtc", "127.0.0.1:0", "--webrtc-loopback",
                    "--size", "320x180", "--fps", "15", "--duration", "150")
    yield p
    assert p.stop() == 0, "".join(p.lines[-30:])


@pytest.fixture(scope="module")
def face_png() -> bytes:
    """A portrait with a face: if the server accepted it from the attacker, the swap would succeed."""
    from streamfx.imageio import demo_portrait

    ok, buf = cv2.imencode(".png", cv2.cvtColor(demo_portrait(), cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def attacker(face_png: bytes) -> Iterator[int]:
    """Another origin on this machine: serves an empty page and a face to upload. Yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body, ctype = ((face_png, "image/png") if self.path == "/face.png"
                           else (b"<!doctype html><title>another site</title><iframe name=sink></iframe>",
                                 "text/html"))
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def server_state(base: str) -> dict:
    """What the attacker would have changed, read by a local program (no Origin: allowed)."""
    with urllib.request.urlopen(base + "/api/settings", timeout=10) as r:
        settings = json.load(r)
    with urllib.request.urlopen(base + "/api/stats", timeout=10) as r:
        stats = json.load(r)
    return {"paused": settings["paused"], "head_gain": settings["animator"]["head_gain"],
            "source_version": stats["status"]["source_version"], "viewers": len(stats["viewers"])}


ATTACK = """async (target) => {
  const out = {};
  const attempt = async (name, url, opts) => {
    try { const r = await fetch(url, opts); out[name] = r.type === "opaque" ? "opaque" : r.status; }
    catch (e) { out[name] = "blocked"; }
  };
  // "simple" requests: the browser sends them without asking; only the server can refuse
  await attempt("pause_text", target + "/api/pause",
    {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '{"paused": true}'});
  await attempt("pause_empty", target + "/api/pause", {method: "POST", mode: "no-cors"});
  await attempt("settings_text", target + "/api/settings",
    {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '{"head_gain": 3}'});
  await attempt("calibrate", target + "/api/calibrate", {method: "POST", mode: "no-cors"});
  const form = new FormData();
  form.append("image", await (await fetch("/face.png")).blob(), "face.png");
  await attempt("source", target + "/api/source", {method: "POST", mode: "no-cors", body: form});
  // JSON needs a CORS preflight
  await attempt("settings_json", target + "/api/settings",
    {method: "POST", headers: {"Content-Type": "application/json"}, body: '{"head_gain": 2.5}'});
  // HTML forms (text/plain smuggling JSON, and a plain form post)
  const submit = (action, enctype, fields) => new Promise((resolve) => {
    const f = document.createElement("form");
    f.method = "POST"; f.action = target + action; f.enctype = enctype; f.target = "sink";
    for (const [k, v] of Object.entries(fields)) {
      const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i);
    }
    document.body.appendChild(f);
    const frame = document.querySelector("iframe");
    frame.addEventListener("load", () => resolve(), {once: true});
    setTimeout(resolve, 5000);
    f.submit();
  });
  await submit("/api/settings", "text/plain", {'{"head_gain": 2.9, "x": "': '"}'});
  await submit("/api/pause", "application/x-www-form-urlencoded", {paused: "true"});
  // watching the stream: WHEP (the server used to allow any origin), /offer without CORS
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => setTimeout(r, 500));
  const sdp = pc.localDescription.sdp;
  try {
    const r = await fetch(target + "/whep", {method: "POST", headers: {"Content-Type": "application/sdp"}, body: sdp});
    out.whep = r.status;
    if (r.status === 201) await pc.setRemoteDescription({type: "answer", sdp: await r.text()});
  } catch (e) { out.whep = "blocked"; }
  await attempt("whep_nocors", target + "/whep", {method: "POST", mode: "no-cors", body: sdp});
  await attempt("offer_nocors", target + "/offer",
    {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: JSON.stringify({sdp, type: "offer"})});
  await new Promise((r) => setTimeout(r, 3000));
  let frames = 0;
  for (const s of (await pc.getStats()).values()) {
    if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0;
  }
  out.frames = frames;
  pc.close();
  return out;
}"""


@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])
def test_a_page_on_another_origin_cannot_drive_or_watch(live: LiveProcess, attacker: int, browser,
                                                         attacker_host: str) -> None:
    assert live.base is not None
    before = server_state(live.base)
    assert before == {"paused": False, "head_gain": 1.0, "source_version": 0, "viewers": 0}
    page = browser.new_page()
    page.goto(f"http://{attacker_host}:{attacker}/")
    out = page.evaluate(ATTACK, live.base)
    page.close()
    print(f"\nattack from http://{attacker_host}:{attacker}: {out}")
    assert server_state(live.base) == before, out
    assert out["frames"] == 0 and out["whep"] == "blocked", out  # no CORS: the answer is unreadable
    assert out["settings_json"] == "blocked", out  # its preflight got no CORS grant
    assert any("cross-site request refused" in line for line in live.lines)


def test_the_panel_on_the_servers_own_origin_still_works(live: LiveProcess, browser, face_png: bytes,
                                                         tmp_path: Path, portrait: np.ndarray,
                                                         portrait_landmarks: np.ndarray) -> None:
    assert live.base is not None
    panel = browser.new_page()
    panel.goto(live.base + "/panel")
    panel.wait_for_selector("#head_gain")
    panel.wait_for_function("window.streamfx && window.streamfx.frames > 5", timeout=60_000)  # /offer works
    # …and its preview is the demo portrait, animated by the idle script
    PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(
        shots(panel, every_s=0.3, video="preview"))
    panel.click("#pause")
    panel.wait_for_function("document.getElementById('pause').textContent === 'Resume'", timeout=30_000)
    assert server_state(live.base)["paused"] is True
    panel.click("#pause")
    panel.wait_for_function("document.getElementById('pause').textContent === 'Pause'", timeout=30_000)
    panel.eval_on_selector("#head_gain", "el => { el.value = '1.5'; el.dispatchEvent(new Event('change')); }")
    panel.wait_for_function("window.streamfx.settings && window.streamfx.settings.animator.head_gain === 1.5",
                            timeout=30_000)
    face = tmp_path / "face.png"
    face.write_bytes(face_png)
    panel.set_input_files("#source-file", str(face))
    panel.click("#source-upload")
    panel.wait_for_function("document.getElementById('status').textContent.includes('portrait switched')",
                            timeout=30_000)
    after = server_state(live.base)
    panel.close()
    assert after == {"paused": False, "head_gain": 1.5, "source_version": 1, "viewers": 1}  # the preview
