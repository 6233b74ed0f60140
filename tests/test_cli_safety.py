"""Safe by default: outputs never overwrite inputs, errors say what is wrong and fit the
command that raised them, and stderr carries our lines only (no native log noise)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from streamfx.native_logs import filter_chunk, is_native_noise
from tests.conftest import case
from tests.picture import PortraitCheck, read_video

STREAMFX = [sys.executable, "-m", "streamfx"]
# what mediapipe/TFLite/absl write from C++ (seen on every command before this was fixed)
NATIVE = re.compile(r"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+|INFO: |WARNING: |VERBOSE: )|TensorFlow Lite|absl::|"
                    r"inference_feedback_manager|gl_context")


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # no GLOG_minloglevel here: the CLI must be quiet on its own
    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run([*STREAMFX, *args], capture_output=True, text=True, timeout=timeout, env=env)


def only_error_line(p: subprocess.CompletedProcess[str]) -> str:
    """The run failed with exactly one stderr line, our error, and nothing else."""
    assert p.returncode != 0, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamfx: error: "), p.stderr
    return lines[0]


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def write_video(path: Path, frames: int = 10) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(frames):
            img = np.full((64, 64, 3), 20 * i, np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


# ---- 10: an output that is one of the inputs is refused before anything is opened -------
@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_render_refuses_to_write_over_its_driver(tmp_path: Path, portrait_file: Path, link: str) -> None:
    clip = write_video(tmp_path / "clip.mp4")
    before = sha1(clip)
    out = {"same": clip, "symlink": tmp_path / "sym.mp4", "hardlink": tmp_path / "hard.mp4"}[link]
    if link == "symlink":
        out.symlink_to(clip)
    elif link == "hardlink":
        os.link(clip, out)
    p = run("render", str(portrait_file), str(clip), "-o", str(out), "-q")
    line = only_error_line(p)
    assert "clip.mp4" in line and "same file" in line and "-o" in line
    assert sha1(clip) == before


def test_render_refuses_to_write_over_its_portrait_or_landmarks(tmp_path: Path, portrait_file: Path) -> None:
    src = tmp_path / "face.gif"  # an image named like an output
    src.write_bytes(portrait_file.read_bytes())
    before = sha1(src)
    line = only_error_line(run("render", str(src), "idle", "-o", str(src)))
    assert "face.gif" in line and sha1(src) == before
    lm = tmp_path / "lm.json"
    lm.write_text("{}")
    os.link(lm, tmp_path / "lm.gif")
    line = only_error_line(run("render", str(portrait_file), "idle", "-o", str(tmp_path / "lm.gif"),
                               "--landmarks", str(lm)))
    assert "lm.json" in line and lm.read_text() == "{}"


def test_a_png_sequence_never_overwrites_someone_elses_pictures(tmp_path: Path, portrait_file: Path) -> None:
    """-o into a folder that holds the user's own 000001.png (beside other files): one line, and
    nothing in it is touched. A folder holding only an earlier sequence is a render run again:
    written over, as a video file is."""
    holiday = tmp_path / "holiday"
    holiday.mkdir()
    (holiday / "000001.png").write_bytes(portrait_file.read_bytes())
    (holiday / "keep.txt").write_text("mine")
    before = sha1(holiday / "000001.png")
    line = only_error_line(run("render", str(portrait_file), "idle", "-o", f"{holiday}/"))
    assert "holiday" in line and "000001.png" in line and "keep.txt" in line and "new or empty folder" in line, line
    assert sha1(holiday / "000001.png") == before and sorted(p.name for p in holiday.iterdir()) == ["000001.png", "keep.txt"]
    frames = tmp_path / "frames"
    for _ in range(2):  # the same render twice into its own folder
        p = run("render", str(portrait_file), "idle", "-o", f"{frames}/")
        assert p.returncode == 0, p.stderr
    assert (frames / "000001.png").exists()


def test_render_refuses_to_write_over_its_soundtrack_or_background_image(tmp_path: Path, portrait_file: Path) -> None:
    # a new user's `-o song.mp4 --audio song.mp4` truncated the song, then called it undecodable
    song = tmp_path / "song.mp4"
    with av.open(str(song), "w") as c:  # a second of a 440 Hz tone
        a = c.add_stream("aac", rate=48000)
        t = np.arange(48000) / 48000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for i in range(0, 48000, 1024):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, i:i + 1024]), format="fltp", layout="mono")
            f.sample_rate = 48000
            for pkt in a.encode(f):
                c.mux(pkt)
        for pkt in a.encode(None):
            c.mux(pkt)
    before = sha1(song)
    line = only_error_line(run("render", str(portrait_file), "idle", "-o", str(song), "--audio", str(song)))
    assert "song.mp4" in line and "same file" in line and sha1(song) == before
    backdrop = tmp_path / "backdrop.gif"
    backdrop.write_bytes(portrait_file.read_bytes())
    os.link(backdrop, tmp_path / "out.gif")
    line = only_error_line(run("render", str(portrait_file), "idle", "-o", str(tmp_path / "out.gif"),
                               "--background", str(backdrop)))
    assert "backdrop.gif" in line and sha1(backdrop) == sha1(portrait_file)


def test_landmarks_and_export_refuse_to_write_over_the_image(tmp_path: Path, portrait_file: Path) -> None:
    img = tmp_path / "p.png"
    img.write_bytes(portrait_file.read_bytes())
    before = sha1(img)
    (tmp_path / "link.json").symlink_to(img)
    assert "p.png" in only_error_line(run("landmarks", str(img), "-o", str(tmp_path / "link.json")))
    os.link(img, tmp_path / "p.onnx")
    assert "p.png" in only_error_line(run("export-onnx", str(img), "-o", str(tmp_path / "p.onnx")))
    assert sha1(img) == before


def test_demo_refuses_to_write_over_its_driver(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "demo.mp4")
    before = sha1(clip)
    line = only_error_line(run("demo", "--out-dir", str(tmp_path), "--script", str(clip), "--no-live"))
    assert "--out-dir" in line and sha1(clip) == before
    assert not (tmp_path / "demo_portrait.png").exists()


# ---- 11: messages say what is wrong, with a fix that fits the command ------------------
def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=44100)
        for i in range(20):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 44100, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("which", ["made here", "shared case"])
def test_audio_only_driver_says_it_has_no_video_stream(tmp_path: Path, portrait_file: Path, which: str) -> None:
    clip = _audio_only(tmp_path / "speech.mp4") if which == "made here" else case("audio_only.mp4")
    line = only_error_line(run("render", str(portrait_file), str(clip), "-o", str(tmp_path / "o.mp4"), "-q"))
    assert clip.name in line and "no video stream (audio only)" in line
    assert "as a voice file (.m4a" in line  # what its sound can still do (a new user tried it as a voice)
    assert "PyAV" not in line and "use .mp4" not in line  # it *is* an .mp4


def test_missing_camera_hint_names_no_flag_render_lacks(tmp_path: Path, portrait_file: Path) -> None:
    p = run("render", str(portrait_file), "/dev/video97", "-o", str(tmp_path / "o.mp4"), "-q")
    line = only_error_line(p)
    assert "camera" in line and "--driver" not in line and "motion script" in line


def test_no_face_hints_fit_the_command(tmp_path: Path) -> None:
    import cv2

    sky = tmp_path / "sky.png"
    cv2.imwrite(str(sky), np.tile(np.linspace(0, 255, 300, dtype=np.uint8)[:, None, None], (1, 300, 3)))
    line = only_error_line(run("render", str(sky), "idle", "-o", str(tmp_path / "o.mp4")))
    assert "pass --landmarks face.json" in line  # render has --landmarks
    line = only_error_line(run("landmarks", str(sky), "-o", str(tmp_path / "sky.json")))
    assert "sky.png" in line and "pass --landmarks" not in line and "render or live" in line


# ---- 12: no native log lines on stderr ----------------------------------------------
def test_render_stderr_carries_no_native_log_lines(tmp_path: Path, portrait_file: Path, portrait: np.ndarray,
                                                   portrait_landmarks: np.ndarray) -> None:
    out = tmp_path / "o.mp4"
    p = run("render", str(portrait_file), "idle", "-o", str(out), "-q")
    assert p.returncode == 0, p.stderr
    assert not [ln for ln in p.stderr.splitlines() if NATIVE.search(ln)], p.stderr
    assert p.stderr == "", p.stderr  # -q: nothing at all to say about a clean render
    # quiet, and the render is still the animated portrait (blinks, a sway)
    PortraitCheck(portrait, portrait_landmarks).assert_animated(read_video(out, every=3))


def test_bad_input_after_tracking_is_exactly_one_line(tmp_path: Path, portrait_file: Path) -> None:
    """The portrait is tracked (mediapipe runs and logs) before the driver fails to open."""
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00" * 1000)
    assert "clip.mp4" in only_error_line(run("render", str(portrait_file), str(bad), "-o", str(tmp_path / "o.mp4")))


def test_verbose_shows_native_lines_again(tmp_path: Path, portrait_file: Path) -> None:
    """-v leaves stderr alone: proves the quiet runs above are quiet because of the filter."""
    p = run("-v", "render", str(portrait_file), "idle", "-o", str(tmp_path / "o.mp4"), "-q")
    assert p.returncode == 0, p.stderr
    assert [ln for ln in p.stderr.splitlines() if NATIVE.search(ln)], p.stderr


def test_progress_bar_still_reaches_stderr(tmp_path: Path, portrait_file: Path, portrait: np.ndarray,
                                          portrait_landmarks: np.ndarray) -> None:
    out = tmp_path / "o.mp4"
    p = run("render", str(portrait_file), "nod", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "render:" in p.stderr and "%|" in p.stderr
    assert not NATIVE.search(p.stderr), p.stderr
    PortraitCheck(portrait, portrait_landmarks).assert_animated(read_video(out))


def test_filter_drops_native_info_and_warnings_only() -> None:
    noise = [b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
             b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
             b"W0000 00:00:1795941559.608124    4682 inference_feedback_manager.cc:114] Feedback manager\n",
             b"I0000 00:00:1795941559.6 12 gl_context.cc:369] GL version: 3.2\n"]
    kept = [b"streamfx: error: 'x.mp4' has no video stream\n",
            b"E0000 00:00:1795941559.608124    4682 calculator_graph.cc:887] INTERNAL: failed\n",
            b"ERROR: tflite failed\n", b"\rrender:  10%|#         | 13/132", b"WARNING:streamfx:python style\n"]
    assert all(is_native_noise(n) for n in noise)
    out, held = filter_chunk(b"".join([noise[0], kept[0], noise[2], kept[1], kept[2], noise[1], kept[4], kept[3]]))
    assert out == kept[0] + kept[1] + kept[2] + kept[4] + kept[3] and held == b""
    # a native line split across two reads is held, then dropped whole
    out, held = filter_chunk(noise[2][:30])
    assert out == b"" and held == noise[2][:30]
    out, held = filter_chunk(held + noise[2][30:] + kept[0])
    assert out == kept[0] and held == b""


def test_ctrl_c_while_the_cli_starts_is_one_line_not_a_traceback(monkeypatch, capsys) -> None:
    import subprocess
    import sys

    # the window before main()'s handler is the import of streamfx.cli: it must stay light,
    # the heavy option modules (generator, engines) load inside main()
    probe = subprocess.run([sys.executable, "-c", "import sys, streamfx.cli; "
                            "print(sorted(m for m in ('streamfx.options', 'engines', 'cv2', 'mediapipe') "
                            "if m in sys.modules))"], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]", probe.stdout
    from streamfx import cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    import signal

    monkeypatch.setattr(cli, "build_parser", interrupted)
    before = signal.getsignal(signal.SIGINT)
    try:
        assert cli.main(["live"]) == 130
    finally:
        # main() ignores further Ctrl-C on its way out; this process (and every child it
        # starts, which inherits an ignored SIGINT) must get Ctrl-C back
        signal.signal(signal.SIGINT, before)
    err = capsys.readouterr().err
    assert err.strip() == "streamfx: interrupted" and "Traceback" not in err
