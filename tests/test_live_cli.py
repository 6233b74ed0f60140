"""`streamfx live` options and in-process runs (real Animator, built-in motion script)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from streamfx.errors import DeviceUnavailableError, StreamFXError
from streamfx.live.cli import (
    StartupInterrupted,
    StopSignals,
    _bitrate,
    _one_line_stats,
    _print_summary,
    add_live_arguments,
    build_pipeline,
    open_live_driver,
    run_live,
)
from streamfx.live.metrics import LiveMetrics
from streamfx.live.pipeline import LiveSettings
from tests.conftest import ROOT, case
from tests.picture import PortraitCheck
from tests.test_live_pipeline import next_frames, wait_until


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_live_arguments(p)
    return p.parse_args(list(argv))


def test_defaults_and_option_parsing() -> None:
    a = parse()
    assert a.vcam is True and a.webrtc == "127.0.0.1:8080" and a.size == "1280x720" and a.fps == 30
    assert a.codec == "vp8" and a.bitrate is None and a.webrtc_loopback is False and a.driver is None
    b = parse("--no-vcam", "--no-webrtc", "--codec", "h264", "--bitrate", "2M", "--webrtc-loopback")
    assert b.vcam is False and b.webrtc is None and b.codec == "h264" and b.bitrate == 2_000_000
    assert _bitrate("800k") == 800_000 and _bitrate("1500000") == 1_500_000
    with pytest.raises(argparse.ArgumentTypeError):
        _bitrate("fast")


def test_a_recording_alone_is_something_to_output(tmp_path: Path) -> None:
    # `live --record x.mp4 --no-webrtc --no-vcam` said "nothing to output" (a new user's find)
    from tests.picture import read_video

    out = tmp_path / "rec.mp4"
    assert run_live(parse("--no-vcam", "--no-webrtc", "--record", str(out), "--driver", "talk",
                          "--size", "320x240", "--duration", "2")) == 0
    assert len(read_video(out)) >= 30


def test_nothing_to_output_and_bad_size_are_one_line_errors() -> None:
    with pytest.raises(StreamFXError, match="nothing to output.*--record"):
        run_live(parse("--no-vcam", "--no-webrtc"))
    with pytest.raises(StreamFXError, match="1280x720"):
        run_live(parse("--size", "big", "--no-vcam"))


@pytest.mark.hardware  # skips only where a webcam exists
def test_a_portrait_that_does_not_open_is_the_only_line(tmp_path: Path) -> None:
    """A .jpg holding text: the one error line, before any output says it listens (it said
    "OBS stream: tcp://…" first, then failed)."""
    bad = tmp_path / "me.jpg"
    bad.write_text("not a picture")
    env = {**os.environ, "GLOG_minloglevel": "2"}
    p = subprocess.run([sys.executable, "-m", "streamfx", "live", "--source", str(bad), "--driver", "talk",
                        "--webrtc", "127.0.0.1:0", "--no-vcam"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("streamfx: error:") and "me.jpg" in lines[0], p.stderr


def test_without_webcam_the_idle_script_drives() -> None:
    from streamfx.animator import Animator
    from streamfx.imageio import demo_portrait

    anim = Animator(demo_portrait())
    driver = open_live_driver(None, anim)  # no camera on CI machines
    try:
        if type(driver).__name__ == "CameraSource":
            pytest.skip("this machine has a webcam")
        assert type(driver).__name__ == "ScriptSource"
    finally:
        driver.close()


@pytest.mark.hardware  # skips only where a v4l2loopback device exists
def test_run_live_serves_for_duration_without_vcam_device(caplog) -> None:
    # --vcam on, but no v4l2loopback here: one warning with the setup command, WebRTC still runs
    caplog.set_level(logging.WARNING)
    args = parse("--driver", "talk", "--webrtc", "127.0.0.1:0", "--size", "640x360", "--duration", "2")
    from streamfx.sinks.vcam import find_v4l2_device

    if find_v4l2_device() is not None:
        pytest.skip("a real AnimCam device exists here")
    assert run_live(args) == 0
    assert any("modprobe v4l2loopback" in r.getMessage() for r in caplog.records)


@pytest.mark.hardware  # skips only where a v4l2loopback device exists
def test_vcam_only_without_device_is_nothing_to_output() -> None:
    from streamfx.sinks.vcam import find_v4l2_device

    if find_v4l2_device() is not None:
        pytest.skip("a real AnimCam device exists here")
    with pytest.raises(DeviceUnavailableError, match="nothing to output") as exc:
        run_live(parse("--driver", "idle", "--no-webrtc", "--duration", "1"))
    assert "modprobe v4l2loopback" in str(exc.value) and "--no-webrtc" in str(exc.value)


def test_build_pipeline_with_script_driver_animates(portrait, portrait_landmarks) -> None:
    pipe = build_pipeline(parse("--driver", "talk"), LiveSettings(width=640, height=360))
    with pipe:
        frames = [lf.image for lf in next_frames(pipe.hub, 30)]
    assert frames[0].shape == (360, 640, 3)
    # no --source: the demo portrait, animated by the talk script
    PortraitCheck(portrait, portrait_landmarks, out_size=(640, 360)).assert_animated(frames)


def test_live_keeps_animating_when_the_driver_video_is_deleted(tmp_path, caplog, portrait,
                                                              portrait_landmarks) -> None:
    shared = case("driver_short.mp4")  # 3 s, a talking face
    live = tmp_path / "driver.mp4"
    live.write_bytes(shared.read_bytes())
    pipe = build_pipeline(parse("--driver", str(live)), LiveSettings(width=320, height=180))
    with caplog.at_level(logging.WARNING, logger="streamfx"), pipe:
        assert pipe.hub.wait_newer(0, timeout=30) is not None
        live.unlink()
        # the 3 s clip (paced at real time) wraps round: that is where it used to freeze
        wrapped = next_frames(pipe.hub, 1)[0].index + 100
        wait_until(lambda: next_frames(pipe.hub, 1)[0].index > wrapped, "the driver clip wrapped round")
        frames = [lf.image for lf in next_frames(pipe.hub, 20)]  # fails if the animation froze
        PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(frames)
        assert "\nstreamfx_driver_up 1" in pipe.metrics.prometheus()
        assert pipe.status()["driver"] == "VideoFileSource"
    said = [r.getMessage() for r in caplog.records if "driver.mp4" in r.getMessage()]
    assert len(said) == 1 and "deleted or moved; still looping the copy read at start" in said[0], said


def test_driver_never_reads_back_our_own_output(monkeypatch) -> None:
    monkeypatch.setattr("streamfx.sinks.vcam.find_v4l2_device", lambda *a, **k: "/dev/video10")
    with pytest.raises(StreamFXError, match="AnimCam output itself"):
        open_live_driver("/dev/video10", object())


def test_token_file_environment_and_stun_options(tmp_path, monkeypatch, capsys) -> None:
    base = ("--driver", "idle", "--no-vcam", "--webrtc", "127.0.0.1:0", "--size", "320x180", "--duration", "1")
    short = tmp_path / "short"
    short.write_text("abc\n")
    for extra, message in ((("--token-file", str(short)), r"token file '.*short' has 3 characters"),
                           (("--token-file", str(tmp_path / "missing")), r"cannot read token file '.*missing'"),
                           (("--stun", "stun.example.org"), "STUN server must look like")):
        with pytest.raises(StreamFXError, match=message) as e:
            run_live(parse(*base, *extra))
        assert "\n" not in str(e.value)
    # from the environment: used (the printed URLs carry it) but never printed as a new token
    monkeypatch.setenv("STREAMFX_TOKEN", "env-token-123")
    assert run_live(parse(*base)) == 0
    out = capsys.readouterr().out
    assert "/panel?token=env-token-123" in out and "token: " not in out


# -- a real `python -m streamfx live` process --------------------------------------------
LOADING = "loading the portrait"
READY = "live: press Ctrl-C to stop"
BAD_ENDINGS = ("Traceback", "terminate called", "KeyboardInterrupt")


class LiveRun:
    """``python -m streamfx live ARGS`` with its output (stdout and stderr together) collected."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "GLOG_minloglevel": "2"}
        self.proc = subprocess.Popen([sys.executable, "-m", "streamfx", "live", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     # Ctrl-C as in a terminal, even when the tests run as a background job
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # EOF marker
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 90) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: text in self.output or (self.lines and self.lines[-1] == ""),
                                        timeout)
        if not ok or text not in self.output:
            self.proc.kill()
            raise AssertionError(f"no {text!r} from streamfx live:\n{self.output[-3000:]}")

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"streamfx live did not exit:\n{self.output[-3000:]}") from None

    def assert_clean(self) -> None:
        time.sleep(0.1)  # let the pump read the last lines
        for bad in BAD_ENDINGS:
            assert bad not in self.output, self.output[-3000:]


LIVE_ARGS = ("--driver", "talk", "--no-vcam", "--webrtc", "127.0.0.1:0", "--size", "320x180")


def test_two_ctrl_c_50ms_apart_stop_cleanly_with_130() -> None:
    run = LiveRun(*LIVE_ARGS)
    run.wait_for(READY)
    time.sleep(0.5)
    run.proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output[-3000:]  # was -2 (killed mid-teardown) or SIGABRT
    run.assert_clean()
    assert re.search(r"^stopped after .* · last 5 s: capture .* fps", run.output, re.M), run.output[-3000:]


def test_ctrl_c_while_models_load_stops_without_a_traceback() -> None:
    run = LiveRun(*LIVE_ARGS)
    run.wait_for(LOADING)
    run.proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output[-3000:]
    run.assert_clean()
    assert "stopped: interrupted while starting" in run.output
    assert READY not in run.output  # it really stopped during start-up


def test_sigterm_stops_cleanly_with_0() -> None:
    run = LiveRun(*LIVE_ARGS)
    run.wait_for(READY)
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 0, run.output[-3000:]
    run.assert_clean()
    assert re.search(r"stopped after \d+ s, \d+ frames animated.* · last 5 s: capture", run.output), run.output[-2000:]


def test_busy_port_fails_at_once_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = LiveRun("--driver", "talk", "--no-vcam", "--webrtc", f"127.0.0.1:{port}")
        code = run.finish()
    run.assert_clean()
    assert code == DeviceUnavailableError.exit_code, run.output
    assert f"streamfx: error: cannot listen on 127.0.0.1:{port} (Address already in use)" in run.output
    assert LOADING not in run.output  # before the models, not after them
    assert "stopped" not in run.output
    assert len([line for line in run.output.splitlines() if line.startswith("streamfx:")]) == 1, run.output


@pytest.mark.hardware  # skips only where a v4l2loopback device exists
def test_no_webrtc_and_no_virtual_camera_says_nothing_to_output() -> None:
    from streamfx.sinks.vcam import find_v4l2_device

    if find_v4l2_device() is not None:
        pytest.skip("a real AnimCam device exists here")
    run = LiveRun("--driver", "talk", "--no-webrtc")
    code = run.finish()
    run.assert_clean()
    assert code != 0
    errors = [line for line in run.output.splitlines() if line.startswith("streamfx: error:")]
    assert len(errors) == 1, run.output
    assert "nothing to output" in errors[0] and "modprobe v4l2loopback" in errors[0]
    assert "--no-webrtc" in errors[0]
    assert LOADING not in run.output


def test_stats_line_without_latency_or_sinks_has_no_none_or_stray_separator() -> None:
    metrics = LiveMetrics()
    line = _one_line_stats(SimpleNamespace(metrics=metrics))
    assert not line.rstrip().endswith("·") and "None" not in line
    metrics.mark_sink("webrtc", None)  # only repeated frames: a viewer that left
    line = _one_line_stats(SimpleNamespace(metrics=metrics))
    assert "None" not in line and "webrtc" in line and "p50 –" in line
    metrics.mark_sink("webrtc", time.perf_counter() - 0.02)
    assert re.search(r"p50 \d+ ms", _one_line_stats(SimpleNamespace(metrics=metrics)))


def test_the_closing_line_counts_the_whole_run(capsys: pytest.CaptureFixture[str]) -> None:
    # the last seconds' rates alone said "webrtc 0.0 fps" to a user whose viewer had watched
    # 178 frames and left before the stop (a new user's find)
    metrics = LiveMetrics(window_s=0.2)
    for _ in range(3):
        metrics.mark_output()
        metrics.mark_sink("webrtc", time.perf_counter())
    time.sleep(0.3)  # the viewer left: nothing in the window any more
    _print_summary(SimpleNamespace(metrics=metrics))
    line = capsys.readouterr().out
    assert line.startswith("stopped after ") and "3 frames animated" in line and "webrtc 3 frames" in line, line
    assert "webrtc 0.0 fps" in line  # the window's figures follow, named as such
    assert " · last " in line


def test_stop_signals_policy_first_stops_second_is_ignored_third_quits(monkeypatch) -> None:
    # the handler called directly (a real signal would hit pytest); os._exit recorded, not run
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    woken: list[bool] = []
    s = StopSignals()
    s.on_stop(lambda: woken.append(True))
    with pytest.raises(StartupInterrupted), s.interruptible():
        s._handle(signal.SIGINT, None)  # while loading: abandon the loading, once
    assert s.requested and woken == [True] and s.exit_code == 130
    s._handle(signal.SIGINT, None)  # during cleanup: no exception, no exit
    assert exits == []
    with pytest.raises(StartupInterrupted), s.interruptible():  # no new loading after a stop
        pass
    s._handle(signal.SIGINT, None)
    assert exits == [130]
    term = StopSignals()
    term._handle(signal.SIGTERM, None)  # outside start-up: only a request, never a raise
    assert term.requested and term.exit_code == 0


def test_an_unusable_video_driver_fails_before_the_models_load(tmp_path) -> None:
    audio_only = tmp_path / "talk.mp4"
    import av

    with av.open(str(audio_only), "w") as c:  # an .mp4 with sound and no picture
        stream = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(packet)
    run = LiveRun("--driver", str(audio_only), "--no-vcam", "--webrtc", "127.0.0.1:0")
    code = run.finish()
    run.assert_clean()
    assert code == 2, run.output
    assert "has no video stream (audio only)" in run.output
    assert LOADING not in run.output  # before the seconds of model loading, not after
