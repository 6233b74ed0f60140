"""A voice drives the mouth: sound files in render and live, a microphone live.

Real: PyAV decoding, the real renderer and mediapipe reading the mouth on the output frames.
There is no microphone on a test machine, so the microphone path is fed by a sound file
played at real time (``FileCapture``) — the same consumers, the same way; only PortAudio
itself is not exercised (its error lines are, where they need no device).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from scripts.voice_sync import best_lag, measure
from streamfx import landmarks as L
from streamfx.capture import FileCapture
from streamfx.cli import main
from streamfx.sources.voice import VoiceSource
from streamfx.voice import VoiceMouth, VoiceSettings
from tests.test_sound import case, has_audio_stream


def speech_files(tmp: Path) -> list[Path]:
    """The sound of driver_with_audio.mp4 as .m4a (a real voice, remuxed by PyAV), and an
    espeak-ng sentence as .wav when espeak-ng is installed (scripts/install_system_deps.sh)."""
    src = case("driver_with_audio.mp4")
    m4a = tmp / "voice.m4a"
    with av.open(str(src)) as c, av.open(str(m4a), "w", format="ipod") as o:
        a = c.streams.audio[0]
        out = o.add_stream_from_template(a)
        for pkt in c.demux(a):
            if pkt.dts is not None:
                pkt.stream = out
                o.mux(pkt)
    files = [m4a]
    if shutil.which("espeak-ng"):
        wav = tmp / "speech.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), "Hello there. I am a talking portrait, "
                        "and my mouth moves with my voice. Open wide, oh, you see? Easy."], check=True)
        files.append(wav)
    return files


def test_voice_moves_the_mouth_in_time(tmp_path: Path, portrait_file: Path) -> None:
    """--driver voice.m4a|speech.wav: the output's mouth openness, read by the tracker on the
    output frames, follows the sound's envelope (r ≥ 0.7) with a lag within 60 ms; the
    voice is the output's soundtrack. Measured: r 0.81 (m4a), 0.84 (espeak) at ≈ 0–10 ms."""
    for voice in speech_files(tmp_path):
        out = tmp_path / f"{voice.stem}.mp4"
        assert main(["render", str(portrait_file), str(voice), "-o", str(out), "-q"]) == 0
        assert has_audio_stream(out)
        mouth, env, table = measure(out, voice, fps=30.0)
        assert np.isnan(mouth).mean() < 0.05, "the tracker lost the face in the output"
        lag, r = best_lag(table)
        assert r >= 0.7 and abs(lag * 1000 / 30) <= 60, (voice.name, table)


def test_voice_gain_zero_keeps_the_mouth_shut(tmp_path: Path, portrait_file: Path) -> None:
    """The gain is applied (0 = no mouth motion at all) and validated in one line."""
    voice = speech_files(tmp_path)[0]
    out = tmp_path / "shut.mp4"
    assert main(["render", str(portrait_file), str(voice), "-o", str(out), "-q", "--voice-gain", "0"]) == 0
    mouth, _, _ = measure(out, voice, fps=30.0)
    assert np.nanmax(mouth) - np.nanmin(mouth) < 0.05, mouth
    assert main(["render", str(portrait_file), str(voice), "-o", str(out), "-q", "--voice-gate", "5"]) == 2


def test_noise_gate_and_vowel_shape() -> None:
    """Below the gate the mouth stays closed; syllables (a tone switched on and off 3 times a
    second) open it, a bright (high-formant) one widening it, a dark one rounding it."""
    rate = 16_000
    t = np.arange(rate) / rate
    quiet = 0.001 * np.sin(2 * np.pi * 300 * t)  # -63 dBFS: under the default -50 gate
    voice = VoiceMouth(rate, VoiceSettings())
    assert all(voice.update(voice.window(quiet, k / 30), 1 / 30)["mouth_open"] == 0 for k in range(10))
    for tone, wide in ((2500, True), (400, False)):
        v = VoiceMouth(rate)
        x = 0.3 * np.sin(2 * np.pi * tone * t) * (np.sin(2 * np.pi * 3 * t) < 0)
        m = max((v.update(v.window(x, k / 30), 1 / 30) for k in range(30)), key=lambda p: p["mouth_open"])
        assert m["mouth_open"] > 0.3
        assert (m["mouth_wide"] > 0.2 and m["mouth_round"] == 0) if wide else (m["mouth_round"] > 0.2 and m["mouth_wide"] == 0), m


def test_microphone_path_fed_by_a_file(tmp_path: Path, portrait_landmarks: np.ndarray) -> None:
    """The live voice source reads the capture as it plays (a file standing in for the
    microphone: no microphone here): the mouth opens and closes with the speech."""
    voice = speech_files(tmp_path)[0]
    capture = FileCapture(voice, loop=False)
    src = VoiceSource(capture, portrait_landmarks, fps=30)
    openings = []
    for frame in src:
        assert frame.landmarks is not None
        openings.append(L.mouth_openness(frame.landmarks))
        if frame.index >= 75:  # 2.5 s of the 3 s clip
            break
    src.close()
    assert capture.blocks > 100
    opened = np.array(openings)
    assert np.ptp(opened) > 0.1 and (opened < opened.min() + 0.02).mean() > 0.05, opened


def test_microphone_in_render_is_one_line(tmp_path: Path, portrait_file: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(portrait_file), "mic", "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "live only" in err[0], err


def test_a_gate_raised_while_talking_closes_the_mouth() -> None:
    """The panel raises the gate live: sound under the new gate closes the mouth even though
    the noise floor learned so far is lower (it used to be ignored once learned)."""
    rate = 16_000
    t = np.arange(int(0.04 * rate)) / rate
    tone = (0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # about -29 dBFS
    quiet = (0.008 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # the room, about -45 dBFS
    voice = VoiceMouth(rate, VoiceSettings(gate_db=-60))
    for _ in range(30):
        voice.update(quiet, 1 / 30)
    talking = max(voice.update(tone, 1 / 30)["mouth_open"] for _ in range(15))
    voice.settings.gate_db = -20  # above the tone now
    gated = [voice.update(tone, 1 / 30)["mouth_open"] for _ in range(15)][-1]
    assert talking > 0.3 and gated < 0.02, (talking, gated)
