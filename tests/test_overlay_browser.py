"""The transparent overlay page (/overlay) in real headless Chromium (Debian's /usr/bin/chromium).

`streamfx live --background transparent` with a real video driver; the page receives the
packed colour+alpha WebRTC stream and unpacks it with WebGL onto a transparent canvas. The
canvas is read back as RGBA PNG (what a page, an OBS Browser source or vMix composites):
alpha 0 around the subject, opaque on the face, and the face moves with the driver. The
page measures its own draw rate (window.streamfx.fps); the assert on it is only a lenient
functional floor (the rate itself depends on this machine's load and is printed).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from tests.conftest import CHROMIUM
from tests.picture import fitted_face
from tests.test_live_browser import DRIVER, LiveProcess

W, H = 640, 360

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveProcess]:
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian chromium at {CHROMIUM}")
    if not DRIVER.exists():
        pytest.skip(f"evaluation media not found at {DRIVER} (../shared/media)")
    p = LiveProcess("--driver", str(DRIVER), "--no-vcam", "--webrtc", "127.0.0.1:0", "--webrtc-loopback",
                    "--size", f"{W}x{H}", "--fps", "30", "--background", "transparent", "--duration", "150")
    yield p
    assert p.stop() == 0, "".join(p.lines[-30:])


def canvas_rgba(page) -> np.ndarray:
    """The overlay canvas as RGBA (straight alpha, as toDataURL writes it)."""
    url = page.evaluate("() => document.getElementById('overlay').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    bgra = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)


def test_overlay_page_unpacks_the_alpha_onto_a_transparent_canvas(live: LiveProcess, browser, portrait: np.ndarray,
                                                                  portrait_landmarks: np.ndarray) -> None:
    page = browser.new_page(viewport={"width": W, "height": H})
    page.goto(live.base + "/overlay")
    page.wait_for_function("window.streamfx && window.streamfx.drawn > 30", timeout=90_000)
    time.sleep(3)  # a steady two-second window for the page's own rate
    fps = page.evaluate("window.streamfx.fps")
    errors = page.evaluate("window.streamfx.errors || []")
    frames = []
    for _ in range(6):
        frames.append(canvas_rgba(page))
        time.sleep(0.3)
    body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.close()
    print(f"\noverlay page (this machine, information): {fps:.1f} fps drawn")
    assert errors == []
    assert body_bg in ("rgba(0, 0, 0, 0)", "transparent")
    # where the demo portrait lands (fit: 512² → 360², centred) and its face
    x0, face = fitted_face(portrait, portrait_landmarks, W, H)
    for f in frames:
        assert f.shape == (H, W, 4)
        a = f[..., 3]
        # (a few pixels from the portrait's edge left out: VP8 rings next to a sharp edge)
        assert a[:, : x0 - 8].max() == 0 and a[:, W - x0 + 8 :].max() == 0, "the letterbox margins are transparent"
        assert a[:40, x0 + 4 : x0 + 44].max() == 0, "the portrait's own background (sky) is cut away"
        assert a[face].min() >= 250, "the face is opaque"
        assert f[face][..., :3].mean() > 60, "…and shows the face, not black"
    changes = [float(np.abs(f[face][..., :3].astype(int) - frames[0][face][..., :3]).mean()) for f in frames[1:]]
    assert max(changes) > 1.5, f"the face moves with the driver ({changes})"
    # a floor only (a live picture, not a slideshow): the rate itself is the machine's, printed above
    assert fps >= 5, f"the overlay draws at {fps:.1f} fps (functional floor 5)"
