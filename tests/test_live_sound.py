"""Live sound: viewers hear the voice in sync, --record keeps picture and sound safely, and a
sound that cannot be had is one line while the picture goes on.

Real `streamfx live` processes, a real aiortc WHEP viewer, real mediapipe reading the mouth
on received frames. No microphone exists here: a sound file plays at real time in its place
(the same capture path; see streamfx/capture.py), and the microphone errors are produced by
asking for a device that does not exist.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from scripts.av_sync_live import free_port, offsets, pull, start_live, wait_port
from tests.picture import mouth_openness, read_video
from tests.test_voice import speech_files


def _stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace")


def test_viewer_gets_voice_and_picture_in_sync(tmp_path: Path) -> None:
    """A WHEP viewer (aiortc) asking for audio gets an Opus track next to the video; the mouth
    it sees lines up with the sound it hears. The figure (scripts/av_sync_live.py, 30 s):
    offsets within ±10 ms; here a looser 150 ms over 8 s, since the 2 shared cores may stall."""
    voice = speech_files(tmp_path)[-1]  # espeak's sentence when there, else the driver's voice
    port = free_port()
    proc = start_live(str(voice), port)
    try:
        wait_port(port)
        res, frames = pull(port, 8.0)
    finally:
        err = _stop(proc)
    assert "m=audio" in (res.answer or "") and "opus" in (res.answer or "").lower(), res.answer
    heard = np.concatenate([x for _, x in res.sound]) if res.sound else np.zeros(0)
    assert len(heard) > 5 * 48_000 and np.sqrt(np.mean(heard ** 2)) > 0.01, (len(heard), err[-2000:])
    assert len(frames) > 100
    found = offsets(res, frames, window=6.0)
    assert found, "no window to measure"
    start, off, corr = found[0]
    assert corr > 0.4 and abs(off) <= 150, found


def test_record_with_sound_plays_after_sigkill(tmp_path: Path) -> None:
    """--record out.mp4: killed with SIGKILL mid-stream, the file still opens and holds the
    picture (an animated face whose mouth moves) and the sound, in step."""
    voice = speech_files(tmp_path)[0]
    out = tmp_path / "rec.mp4"
    port = free_port()
    proc = start_live(str(voice), port, ["--record", str(out)])
    try:
        wait_port(port)
        end = time.time() + 60
        while time.time() < end and (not out.exists() or out.stat().st_size < 150_000):
            time.sleep(0.2)
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    with av.open(str(out)) as c:
        assert c.streams.video and c.streams.audio
        a = c.streams.audio[0]
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(a)])
    frames = read_video(out)
    assert len(frames) >= 60, len(frames)
    seconds = len(sound) / 48_000
    assert abs(seconds - len(frames) / 30) < 0.5, (seconds, len(frames))
    assert np.sqrt(np.mean(sound ** 2)) > 0.01
    mouth = mouth_openness(frames)
    assert np.isnan(mouth).mean() < 0.1 and np.nanmax(mouth) - np.nanmin(mouth) > 0.1, mouth


def _live_lines(*extra: str, seconds: float = 3.0) -> tuple[int, list[str]]:
    env = {**os.environ, "GLOG_minloglevel": "2"}
    p = subprocess.run([sys.executable, "-m", "streamfx", "live", "--no-vcam", "--webrtc",
                        f"127.0.0.1:{free_port()}", "--duration", str(seconds), *extra],
                       capture_output=True, text=True, timeout=180, env=env)
    return p.returncode, [ln for ln in p.stderr.splitlines() if ln.startswith("streamfx:")]


def test_missing_microphone_and_silent_file_are_one_line_and_the_picture_goes_on(tmp_path: Path) -> None:
    """No such microphone (as driver and as --audio) and a sound file without sound: one
    line each, and live still runs to its end (exit 0, frames out)."""
    from tests.test_sound import case

    silent = case("driver_vfr.mp4")  # a video without sound
    rc, lines = _live_lines("--driver", "mic:no-such-microphone-xyz", "--audio", str(silent),
                            "--record", str(tmp_path / "r.mp4"))
    assert rc == 0, lines
    mic = [ln for ln in lines if "no microphone" in ln]
    nosound = [ln for ln in lines if "has no audio stream" in ln]
    assert len(mic) == 1 and "no-such-microphone-xyz" in mic[0] and "idle" in mic[0], lines
    assert len(nosound) == 1 and "picture goes on" in nosound[0], lines
    with av.open(str(tmp_path / "r.mp4")) as c:  # recorded the picture, without sound
        assert not c.streams.audio
        assert sum(1 for _ in c.decode(c.streams.video[0])) > 30


def test_a_video_drivers_own_sound_is_recorded_as_render_keeps_it(tmp_path: Path) -> None:
    """A video driver with a sound track: --record (and the viewers) get that sound without
    naming the file again as --audio; a video without sound records silent, without a warning."""
    from tests.test_sound import case

    talking = case("driver_with_audio.mp4")
    rc, lines = _live_lines("--driver", str(talking), "--record", str(tmp_path / "a.mp4"), seconds=4.0)
    assert rc == 0, lines
    assert any("with the driver video's sound" in ln for ln in lines), lines
    with av.open(str(talking)) as c:
        source = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])])
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert c.streams.audio, "the recording has no sound track"
        got = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])])
    assert np.sqrt(np.mean(got.astype(np.float64) ** 2)) > 0.1 * np.sqrt(np.mean(source.astype(np.float64) ** 2))
    silent = case("driver_vfr.mp4")
    rc, lines = _live_lines("--driver", str(silent), "--record", str(tmp_path / "b.mp4"))
    assert rc == 0 and not any("picture goes on without it" in ln for ln in lines), lines
    assert any("silent (--audio FILE or mic adds sound)" in ln for ln in lines), lines
    with av.open(str(tmp_path / "b.mp4")) as c:
        assert not c.streams.audio
