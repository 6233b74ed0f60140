"""The browser viewer hears the live sound: `streamfx live --audio FILE` in real headless
Chromium (Debian's /usr/bin/chromium).

No microphone exists here: a sound file (the voice of driver_with_audio.mp4) plays at real
time in its place through the same capture path (streamfx/capture.py). The page asks for
audio as well as video; it starts muted (browsers only autoplay muted media) and its
"sound on" button unmutes it. What the page's RTCPeerConnection receives is read from
getStats (inbound-rtp, kind audio), not from anything StreamFX reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM
from tests.test_live_browser import DRIVER, LiveProcess
from tests.test_voice import speech_files

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian chromium at {CHROMIUM}"),
    pytest.mark.skipif(not DRIVER.exists(), reason=f"evaluation media not found at {DRIVER} (../shared/media)"),
    pytest.mark.skipif(not (CASES / "driver_with_audio.mp4").exists(),
                       reason=f"no driver_with_audio.mp4 in {CASES} (../shared/cases)"),
]

AUDIO_STATS = """async () => {
    const s = await inboundAudioStats(window.streamfx.pc);
    const v = document.getElementById('video');
    const tracks = v.srcObject ? v.srcObject.getAudioTracks() : [];
    return {bytes: s ? s.bytesReceived : 0, packets: s ? s.packetsReceived : 0,
            energy: s ? (s.totalAudioEnergy || 0) : 0, muted: v.muted,
            live: tracks.length === 1 && tracks[0].readyState === 'live',
            videoTracks: v.srcObject ? v.srcObject.getVideoTracks().length : 0};
}"""


def until(page, ok: Callable[[dict], bool], timeout: float = 30.0) -> dict:
    """Poll the AUDIO_STATS until ``ok`` holds (page.evaluate awaits the stats' promise)."""
    end = time.monotonic() + timeout
    while True:
        s = page.evaluate(AUDIO_STATS)
        if ok(s) or time.monotonic() > end:
            return s
        time.sleep(0.25)


@pytest.fixture(scope="module")
def live_with_sound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProcess]:
    voice = speech_files(tmp_path_factory.mktemp("voice"))[0]
    p = LiveProcess("--driver", str(DRIVER), "--audio", str(voice), "--no-vcam", "--webrtc", "127.0.0.1:0",
                    "--webrtc-loopback", "--size", "320x240", "--fps", "15", "--duration", "120")
    yield p
    assert p.stop() == 0, "".join(p.lines[-30:])


def test_browser_viewer_receives_the_sound(live_with_sound: LiveProcess, browser) -> None:
    page = browser.new_page()
    try:
        page.goto(live_with_sound.base + "/")
        page.wait_for_function("window.streamfx && window.streamfx.frames > 5", timeout=60_000)
        assert page.evaluate("window.streamfx.audio") is True  # the server said it sends sound
        button = page.locator("#unmute")
        assert button.is_visible() and "sound off" in button.inner_text()
        first = until(page, lambda s: s["packets"] > 50)
        assert first["muted"] and first["live"] and first["videoTracks"] == 1, first
        button.click()  # the user's click: sound on
        after = until(page, lambda s: s["bytes"] > first["bytes"] and s["energy"] > 0)
        print(f"\nbrowser audio: {after}")
        assert not after["muted"] and after["live"] and "sound on" in button.inner_text()
        assert after["bytes"] > first["bytes"] > 0 and after["energy"] > 0  # decoded sound, not silence
    finally:
        page.close()
