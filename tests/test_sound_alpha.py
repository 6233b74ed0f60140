"""Sound and transparency together: the two features meet in the file sink, in render and in
``live --record``.

Real encoders and decoders throughout (PyAV: VP9 with alpha read back through libvpx, ProRes
4444, AAC, Opus), a real render and a real live pipeline with the real person matte.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamfx.errors import InputError
from streamfx.render import RenderJob, render
from streamfx.sinks.file import VideoFileSink
from tests.conftest import case
from tests.test_alpha import decode_rgba
from tests.test_sound import frame_times, sound

W, H = 64, 48


def tone_wav(path: Path, seconds: float, rate: int = 48_000) -> Path:
    """A 440 Hz mono WAV written with PyAV."""
    t = np.arange(round(seconds * rate)) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as c:
        st = c.add_stream("pcm_s16le", rate=rate)
        st.layout = "mono"
        f = av.AudioFrame.from_ndarray(x[None, :], format="fltp", layout="mono")
        f.rate = rate
        for s in (av.AudioResampler(format="s16", layout="mono", rate=rate).resample(f)):
            c.mux(st.encode(s))
        c.mux(st.encode(None))
    return path


@pytest.mark.parametrize(("ext", "codec"), [("webm", "opus"), ("mov", "aac")])
def test_transparent_files_keep_alpha_sound_and_frame_times(tmp_path: Path, ext: str, codec: str) -> None:
    """VP9-alpha WebM and ProRes 4444 MOV carry a sound track too, and the RGBA frames keep
    their own (variable) times."""
    out = tmp_path / f"a.{ext}"
    sink = VideoFileSink(out, fps=30, alpha=True, audio_rate=48_000)
    sink.open(W, H)
    stamps = [0.0, 0.1, 0.15, 0.5, 0.9]
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[8:40, 16:48] = (200, 120, 40, 255)  # an opaque square on a transparent field
    for t in stamps:
        sink.write(rgba, t)
    tone = np.sin(np.arange(24_000) * 2 * np.pi * 440 / 48_000).astype(np.float32)
    sink.write_audio(np.stack([tone, tone]))
    sink.close()
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == codec
    np.testing.assert_allclose(frame_times(out), stamps, atol=2e-3)
    assert abs(len(sound(out)) / 16_000 - (0.9 + 1 / 30)) <= 1 / 30  # padded to the picture
    frames = decode_rgba(out)
    assert len(frames) == len(stamps)
    for f in frames:
        assert f[0:4, 0:8, 3].max() <= 8 and f[16:32, 24:40, 3].min() >= 240


def test_a_transparent_render_keeps_its_soundtrack_and_a_png_sequence_says_it_has_none(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tests.test_alpha import SCRIPT

    src = case("rgba_hidden_colour.png")
    script = tmp_path / "turn.json"
    script.write_text(SCRIPT)  # 1.2 s at 10 fps
    wav = tone_wav(tmp_path / "tone.wav", 2.0)
    out = tmp_path / "out.webm"
    res = render(RenderJob(source=str(src), driver=str(script), output=str(out), max_size=256, progress=False,
                           background="transparent", audio=str(wav)))
    assert res.frames == 12
    frames = decode_rgba(out)
    assert len(frames) == 12 and min(int(f[..., 3].min()) for f in frames) == 0  # the alpha is there
    got = sound(out)
    assert abs(len(got) / 16_000 - 1.2) <= 0.1  # trimmed to the picture
    assert float(np.abs(got[1600:16000]).mean()) > 0.1  # the tone, not silence

    caplog.set_level(logging.INFO, logger="streamfx")
    seq = tmp_path / "seq"
    res = render(RenderJob(source=str(src), driver=str(script), output=f"{seq}/", max_size=256, progress=False,
                           background="transparent", audio=str(wav)))
    assert len(list(seq.glob("*.png"))) == 12
    notes = [r.getMessage() for r in caplog.records if "no sound" in r.getMessage()]
    assert len(notes) == 1 and "a PNG sequence has no sound" in notes[0], caplog.text


def test_background_camera_with_a_voice_driver_is_one_line(tmp_path: Path, portrait_file: Path) -> None:
    """A voice has no picture to show behind the portrait, like a motion script."""
    wav = tone_wav(tmp_path / "voice.wav", 0.5)
    with pytest.raises(InputError, match="has none") as exc:
        render(RenderJob(source=str(portrait_file), driver=str(wav), output=str(tmp_path / "o.mp4"),
                         progress=False, background="camera"))
    assert "\n" not in str(exc.value)


def test_record_of_a_transparent_live_output_keeps_alpha_in_webm_and_flattens_it_in_mp4(
        tmp_path: Path, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """``--record x.webm`` with ``--background transparent`` gets the RGBA canvas (VP9 alpha);
    ``--record x.mp4`` gets the one flattened copy (black where transparent), and both are
    placed at capture times."""
    from streamfx.live import cli as live_cli
    from streamfx.live.pipeline import LivePipeline, LiveSettings
    from tests.test_live_pipeline import real_animator, script_driver

    outs = {}
    for ext in ("webm", "mp4"):
        anim = real_animator(portrait, portrait_landmarks)
        pipe = LivePipeline(anim, script_driver(anim), LiveSettings(width=160, height=120, fps=15,
                                                                     background="transparent"),
                            source_image=portrait)
        outs[ext] = tmp_path / f"rec.{ext}"
        live_cli.attach_audio(pipe, argparse.Namespace(audio=None, record=str(outs[ext])))
        recorder = pipe.sinks[-1]
        assert getattr(recorder, "accepts_alpha", False) == (ext == "webm")
        pipe.start()
        try:
            deadline = time.monotonic() + 60
            while recorder.file.frames_written < 8 and time.monotonic() < deadline:  # type: ignore[attr-defined]
                time.sleep(0.05)
        finally:
            pipe.stop()
    webm = decode_rgba(outs["webm"])
    assert len(webm) >= 8
    a = webm[-1][..., 3]
    assert a.min() <= 8 and a.max() >= 240, "the cut-out keeps its transparent surroundings"
    with av.open(str(outs["mp4"])) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        last = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])][-1]
    transparent = a <= 8  # a later frame, but the matte barely moves: compare the corners
    assert transparent[:10, :10].all() and last[:10, :10].max() <= 24, "flattened over black"
