"""`streamfx live` end to end in real headless Chromium (Debian's /usr/bin/chromium).

One server subprocess (video-file driver, WebRTC on loopback) serves both tests:
1. the viewer page plays the stream at the output size, and canvas read-backs of what it
   shows are the animated portrait (tests/picture.py: not blank, this portrait, the face
   moving with the driver, the background still);
2. while that viewer watches, the control panel uploads a new portrait and changes a gain:
   the same RTCPeerConnection keeps receiving frames and the picture is the new portrait.

No assert depends on speed (how fast a GPU-less Chromium decodes on a loaded machine is not
a property of StreamFX); the rates are printed for information only.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import CHROMIUM
from tests.picture import PortraitCheck

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
DRIVER = MEDIA / "driving" / "lp_d10.mp4"
NEW_PORTRAIT = MEDIA / "source" / "lp_s1.jpg"
W, H = 640, 360

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian chromium at {CHROMIUM}"),
    pytest.mark.skipif(not DRIVER.exists(), reason=f"evaluation media not found at {DRIVER} (../shared/media)"),
]



class LiveProcess:
    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "streamfx", "live", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.base: str | None = None
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.match(r"viewer:\s+(http://[^/\s]+)/", line)
                if m:
                    self.base = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60) or self.base is None:
            self.stop()
            raise RuntimeError("streamfx live did not start:\n" + "".join(self.lines[-30:]))

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.returncode


@pytest.fixture(scope="module")
def live() -> Iterator[LiveProcess]:
    p = LiveProcess("--driver", str(DRIVER), "--no-vcam", "--webrtc", "127.0.0.1:0", "--webrtc-loopback",
                    "--size", f"{W}x{H}", "--fps", "30", "--duration", "170")
    yield p
    assert p.stop() == 0, "".join(p.lines[-30:])


@pytest.fixture(scope="module")
def viewer(live: LiveProcess, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(live.base + "/")
    page.wait_for_function("window.streamfx && window.streamfx.frames > 10", timeout=60_000)
    yield page
    page.close()


def snapshot(page, video: str = "video") -> np.ndarray:
    """The frame the ``<video id=video>`` element shows, read back through a canvas (full size, RGB)."""
    url = page.evaluate(
        """(id) => {
            const v = document.getElementById(id);
            const c = document.createElement('canvas');
            c.width = v.videoWidth; c.height = v.videoHeight;
            c.getContext('2d').drawImage(v, 0, 0);
            return c.toDataURL('image/png');
        }""",
        video,
    )
    data = base64.b64decode(url.split(",", 1)[1])
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decoded(page) -> dict:
    return page.evaluate(
        """async () => {
            const s = await inboundVideoStats(window.streamfx.pc);
            return {decoded: s.framesDecoded, w: s.frameWidth, h: s.frameHeight,
                    rvfc: window.streamfx.frames, t: performance.now(),
                    state: window.streamfx.pc.connectionState};
        }"""
    )


def shots(page, n: int = 10, every_s: float = 0.3, video: str = "video") -> list[np.ndarray]:
    """``n`` canvas read-backs, ``every_s`` apart (RGB, the video's own size)."""
    out = []
    for _ in range(n):
        time.sleep(every_s)
        out.append(snapshot(page, video))
    return out


def test_viewer_shows_the_animated_portrait(viewer, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    first = decoded(viewer)
    seen = shots(viewer)
    last = decoded(viewer)
    seconds = (last["t"] - first["t"]) / 1000
    print(f"\nbrowser (information only): {(last['decoded'] - first['decoded']) / seconds:.1f} fps decoded, "
          f"{(last['rvfc'] - first['rvfc']) / seconds:.1f} fps presented over {seconds:.1f} s at {last['w']}x{last['h']}")
    assert (last["w"], last["h"]) == (W, H) and last["state"] == "connected"
    assert last["decoded"] > first["decoded"]  # still playing
    # the demo portrait (`streamfx live` without --source), animated by the driver video
    motion = PortraitCheck(portrait, portrait_landmarks, out_size=(W, H)).assert_animated(seen)
    print(f"canvas read-backs: {motion}")


def test_panel_switches_portrait_and_gain_without_reconnecting(live: LiveProcess, browser, viewer,
                                                               portrait: np.ndarray,
                                                               portrait_landmarks: np.ndarray) -> None:
    if not NEW_PORTRAIT.exists():
        pytest.skip(f"no second portrait at {NEW_PORTRAIT}")
    from streamfx.imageio import load_image_bytes
    from streamfx.tracking import track_portrait
    from streamfx.web.server import UPLOAD_MAX_SIDE

    # the new portrait as the server will get it (same decoder, same size limit) and its face
    new = load_image_bytes(NEW_PORTRAIT.read_bytes(), max_side=UPLOAD_MAX_SIDE, name=NEW_PORTRAIT.name)
    new_check = PortraitCheck(new, track_portrait(new, NEW_PORTRAIT.name), out_size=(W, H))
    viewer.evaluate("() => { window.__pcBefore = window.streamfx.pc; }")
    before = decoded(viewer)

    panel = browser.new_page(viewport={"width": 1400, "height": 900})
    panel.goto(live.base + "/panel")
    panel.wait_for_selector("#mouth_gain")
    # change a gain through the slider (fires 'change' → POST /api/settings)
    panel.eval_on_selector("#mouth_gain", "el => { el.value = '1.8'; el.dispatchEvent(new Event('change')); }")
    panel.wait_for_function("window.streamfx.settings && window.streamfx.settings.animator.mouth_gain === 1.8",
                            timeout=30_000)
    # upload a new portrait through the file input
    panel.set_input_files("#source-file", str(NEW_PORTRAIT))
    panel.click("#source-upload")
    panel.wait_for_function("document.getElementById('status').textContent.includes('portrait switched')",
                            timeout=60_000)
    # frames keep flowing through the switch, on the same connection
    viewer.wait_for_function("n => window.streamfx.frames > n", arg=before["rvfc"] + 30, timeout=60_000)
    time.sleep(0.5)  # let frames of the new portrait reach the screen
    seen = shots(viewer)
    after = decoded(viewer)
    same_pc = viewer.evaluate("() => window.streamfx.pc === window.__pcBefore")
    settings = panel.evaluate("async () => (await api('/api/settings')).animator.mouth_gain")
    panel.close()

    assert same_pc, "the viewer had to reconnect"
    assert after["state"] == "connected"
    assert settings == 1.8
    motion = new_check.assert_animated(seen)  # the new person, animated
    print(f"\nafter the switch: {motion}")
    with pytest.raises(AssertionError, match="do not match the portrait"):
        PortraitCheck(portrait, portrait_landmarks, out_size=(W, H)).assert_animated(seen)  # not the old one
    if os.environ.get("STREAMFX_SAVE_SNAPSHOTS"):
        cv2.imwrite("/tmp/streamfx_after.png", cv2.cvtColor(seen[-1], cv2.COLOR_RGB2BGR))
