"""`streamfx live` options and in-process runs (real Animator, built-in motion script)."""

from __future__ import annotations

import argparse
import logging

import pytest

from streamfx.errors import DeviceUnavailableError, StreamFXError
from streamfx.live.cli import (
    _bitrate,
    add_live_arguments,
    build_pipeline,
    open_live_driver,
    run_live,
)
from streamfx.live.pipeline import LiveSettings


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


def test_nothing_to_output_and_bad_size_are_one_line_errors() -> None:
    with pytest.raises(StreamFXError, match="nothing to output"):
        run_live(parse("--no-vcam", "--no-webrtc"))
    with pytest.raises(StreamFXError, match="1280x720"):
        run_live(parse("--size", "big", "--no-vcam"))


@pytest.mark.hardware  # skips only where a webcam exists
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
def test_vcam_only_without_device_exits_with_device_error(caplog) -> None:
    from streamfx.sinks.vcam import find_v4l2_device

    if find_v4l2_device() is not None:
        pytest.skip("a real AnimCam device exists here")
    code = run_live(parse("--driver", "idle", "--no-webrtc", "--duration", "1"))
    assert code == DeviceUnavailableError.exit_code


def test_build_pipeline_with_script_driver_animates() -> None:
    pipe = build_pipeline(parse("--driver", "talk"), LiveSettings(width=640, height=360))
    with pipe:
        got = pipe.hub.wait_newer(0, timeout=10)
        assert got is not None and got[1].image.shape == (360, 640, 3)
        import time

        time.sleep(1.0)
        assert pipe.metrics.snapshot()["output_fps"] > 20


def test_driver_never_reads_back_our_own_output(monkeypatch) -> None:
    monkeypatch.setattr("streamfx.sinks.vcam.find_v4l2_device", lambda *a, **k: "/dev/video10")
    with pytest.raises(StreamFXError, match="AnimCam output itself"):
        open_live_driver("/dev/video10", object())
