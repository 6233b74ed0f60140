"""The voice's gain and noise gate change live through the panel's API.

A real LivePipeline (real Animator, real voice driver) behind the real aiohttp server. No
microphone exists here: a sound file (the voice of driver_with_audio.mp4) plays at real time
in its place through the same capture path (streamfx/capture.py FileCapture).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from streamfx.capture import FileCapture
from streamfx.landmarks import mouth_openness
from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.motion import CHANNELS
from streamfx.sources.voice import VoiceSource
from streamfx.web.server import LiveServer, ServerSettings
from tests.test_live_pipeline import real_animator
from tests.test_live_web import real_server
from tests.test_voice import speech_files

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases"

pytestmark = pytest.mark.skipif(not (CASES / "driver_with_audio.mp4").exists(),
                                reason=f"no driver_with_audio.mp4 in {CASES} (../shared/cases)")


@pytest.fixture
async def voice_server(tmp_path: Path, portrait: np.ndarray,
                       portrait_landmarks: np.ndarray) -> AsyncIterator[tuple[LivePipeline, VoiceSource, str]]:
    anim = real_animator(portrait, portrait_landmarks)
    driver = VoiceSource(FileCapture(speech_files(tmp_path)[0]), anim.source_landmarks, fps=30)
    pipe = LivePipeline(anim, driver, LiveSettings(width=320, height=180, fps=30), source_image=portrait)
    srv = LiveServer(pipe, ServerSettings(port=0), None)
    pipe.start()
    await srv.start()
    try:
        yield pipe, driver, f"http://127.0.0.1:{srv.port}"
    finally:
        await srv.stop()
        pipe.stop()


async def widest_mouth(pipe: LivePipeline, seconds: float) -> float:
    """The widest mouth opening (gap / width) the driver produced over ``seconds``."""
    widest, seq = 0.0, pipe.driver_hub.seq
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        got = await pipe.driver_hub.wait_newer_async(seq, timeout=1.0)
        if got is not None:
            seq, frame = got
            widest = max(widest, mouth_openness(frame.landmarks))
    return widest


async def test_panel_api_sets_voice_gain_and_gate_live(voice_server: tuple[LivePipeline, VoiceSource, str]) -> None:
    pipe, driver, base = voice_server
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/api/settings") as r:
            assert (await r.json())["voice"] == {"voice_gain": 1.0, "voice_gate": -50.0}
        talking = await widest_mouth(pipe, 3.0)

        # gain 0: the mouth stays shut (the change reaches the running driver); a new gate too
        async with http.post(base + "/api/settings", json={"voice_gate": -20, "voice_gain": 0}) as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["voice"] == {"voice_gain": 0.0, "voice_gate": -20.0}
        assert (driver.voice.settings.gain, driver.voice.settings.gate_db) == (0.0, -20.0)
        await asyncio.sleep(0.3)  # the lips close over ~70 ms
        shut = await widest_mouth(pipe, 3.0)
        rest = mouth_openness(driver.rig.pose(dict.fromkeys(CHANNELS, 0.0)))  # the portrait's own mouth, at rest
        print(f"\nwidest mouth: talking {talking:.3f}, gain 0 {shut:.3f}, at rest {rest:.3f}")
        assert talking > rest + 0.15 and shut < rest + 0.03, (talking, shut, rest)

        # bad values: one line naming the key, and nothing changes (not even the valid half)
        for bad, words in (({"voice_gain": 5}, "voice_gain must be between 0 and 3"),
                           ({"voice_gate": -5, "voice_gain": 1.0}, "voice_gate must be between -90 and -10"),
                           ({"voice_gate": "loud"}, "voice_gate must be a number"),
                           ({"voice_gain": float("nan")}, "")):
            async with http.post(base + "/api/settings", json=bad) as r:
                err = (await r.json())["error"]
                assert r.status == 400 and words in err and "\n" not in err, (bad, err)
        assert (driver.voice.settings.gain, driver.voice.settings.gate_db) == (0.0, -20.0)

        async with http.get(base + "/panel") as r:  # the panel has a place for the voice sliders
            assert 'id="voice-sliders"' in await r.text()
        async with http.get(base + "/static/panel.js") as r:
            assert '"voice_gate"' in await r.text()


async def test_voice_settings_without_a_voice_driver_are_one_line(portrait: np.ndarray,
                                                                  portrait_landmarks: np.ndarray) -> None:
    async with real_server(portrait, portrait_landmarks) as live, aiohttp.ClientSession() as http:
        async with http.get(live.url("/api/settings")) as r:
            assert (await r.json())["voice"] is None  # the panel hides its voice sliders
        async with http.post(live.url("/api/settings"), json={"voice_gain": 2.0, "head_gain": 2.0}) as r:
            err = (await r.json())["error"]
            assert r.status == 400 and "need a voice driver" in err, err
        async with http.get(live.url("/api/settings")) as r:
            assert (await r.json())["animator"]["head_gain"] == 1.0  # refused whole
