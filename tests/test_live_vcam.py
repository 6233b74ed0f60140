"""Virtual-camera sink through a recording backend registered in pyvirtualcam's registry."""

from __future__ import annotations

import time

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam import camera as pvc_camera

from streamfx.errors import DeviceUnavailableError
from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.sinks.vcam import SETUP_COMMAND, VirtualCameraSink, find_v4l2_device, setup_hint
from tests.test_live_pipeline import FakeAnimator, SyntheticDriver, portrait


class RecordingBackend:
    """A pyvirtualcam backend (duck-typed like theirs) that keeps what it was sent."""

    instances: list[RecordingBackend] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "RecordingCam"
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = False
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())
        self.times.append(time.perf_counter())

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return self.fourcc

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def recording_backend():
    pvc_camera.register_backend("recording", RecordingBackend)
    RecordingBackend.instances.clear()
    yield RecordingBackend
    pvc_camera.BACKENDS.pop("recording", None)


def test_vcam_sink_sends_rgb_frames_of_the_output_size(recording_backend) -> None:
    sink = VirtualCameraSink(backend="recording", device="AnimCam")
    sink.open(1280, 720, 30)
    backend = recording_backend.instances[-1]
    assert sink.device_name == "AnimCam"
    assert backend.fourcc == pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert sink.camera.native_fmt == pyvirtualcam.PixelFormat.RGB
    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), np.uint8)
    sink.write(frame)
    sink.write(np.dstack([frame, np.zeros((720, 1280), np.uint8)]))  # alpha is dropped
    assert len(backend.frames) == 2
    # pyvirtualcam flattens to 1-D C-contiguous RGB bytes
    assert backend.frames[0].shape == (1280 * 720 * 3,)
    assert np.array_equal(backend.frames[0].reshape(720, 1280, 3), frame)
    with pytest.raises(ValueError):
        sink.write(np.zeros((480, 640, 3), np.uint8))
    sink.close()
    assert backend.closed


def test_vcam_in_pipeline_is_paced_at_the_camera_fps(recording_backend) -> None:
    # driver at 60 fps, camera at 30: the camera must be fed at ~30 fps, newest frames only
    pipe = LivePipeline(FakeAnimator(portrait(256)), SyntheticDriver(fps=60),
                        LiveSettings(width=640, height=360, fps=30))
    pipe.add_sink(VirtualCameraSink(backend="recording"))
    with pipe:
        time.sleep(2.5)
        snap = pipe.metrics.snapshot()
    backend = recording_backend.instances[-1]
    assert backend.closed
    assert backend.frames[0].shape == (640 * 360 * 3,)
    t = np.array(backend.times)
    t = t[t > t[0] + 0.5]  # after warm-up
    fps = (len(t) - 1) / (t[-1] - t[0])
    assert 26 <= fps <= 33, fps
    assert np.median(np.diff(t)) == pytest.approx(1 / 30, abs=0.006)
    assert snap["sinks"]["vcam"]["latency_p95_ms"] < 50


def test_vcam_keeps_ticking_when_paused(recording_backend) -> None:
    pipe = LivePipeline(FakeAnimator(portrait()), SyntheticDriver(), LiveSettings(width=320, height=180, fps=30))
    pipe.add_sink(VirtualCameraSink(backend="recording"))
    with pipe:
        time.sleep(0.5)
        pipe.set_paused(True)
        backend = recording_backend.instances[-1]
        n = len(backend.frames)
        time.sleep(1.0)
        # cameras that stop delivering look frozen/disconnected to apps: repeat the last frame
        assert len(backend.frames) - n >= 15


def test_no_device_error_names_the_setup_command(monkeypatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")

    class Missing:
        def __init__(self, **kw: object) -> None:
            raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99].")

    monkeypatch.setattr(pvc_camera, "BACKENDS", {"v4l2loopback": Missing})
    with pytest.raises(DeviceUnavailableError) as exc:
        VirtualCameraSink().open(1280, 720, 30)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "AnimCam" in msg
    assert "sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=AnimCam exclusive_caps=1" in msg
    assert "bash scripts/setup_virtualcam.sh" in msg
    assert SETUP_COMMAND in setup_hint("Linux")
    assert "OBS" in setup_hint("Windows") and "OBS" in setup_hint("Darwin")


@pytest.mark.hardware  # skips only where a virtual camera exists
def test_real_device_path_on_this_machine_gives_the_clear_error() -> None:
    if find_v4l2_device() is not None:
        pytest.skip("an AnimCam v4l2loopback device exists here")
    try:
        sink = VirtualCameraSink()
        sink.open(1280, 720, 30)
    except DeviceUnavailableError as e:
        assert "v4l2loopback" in str(e) or "OBS" in str(e)
    else:  # pragma: no cover - a loopback device is present after all
        sink.close()
        pytest.skip("a virtual camera is available here")


def test_pipeline_keeps_running_without_the_camera(monkeypatch) -> None:
    class Missing:
        def __init__(self, **kw: object) -> None:
            raise RuntimeError("no device")

    monkeypatch.setattr(pvc_camera, "BACKENDS", {"v4l2loopback": Missing})
    pipe = LivePipeline(FakeAnimator(portrait()), SyntheticDriver(), LiveSettings(width=320, height=180))
    with pytest.raises(DeviceUnavailableError):
        pipe.add_sink(VirtualCameraSink())
    with pipe:
        time.sleep(0.4)
    assert pipe.metrics.output.total >= 8 and pipe.sinks == []


def test_find_v4l2_device_reads_card_labels(tmp_path) -> None:
    (tmp_path / "video3").mkdir()
    (tmp_path / "video3" / "name").write_text("Integrated Camera\n")
    (tmp_path / "video10").mkdir()
    (tmp_path / "video10" / "name").write_text("AnimCam\n")
    assert find_v4l2_device("AnimCam", str(tmp_path)) == "/dev/video10"
    assert find_v4l2_device("Nope", str(tmp_path)) is None


def test_live_cli_with_only_the_virtual_camera_feeds_and_closes_it(recording_backend, capsys) -> None:
    import argparse

    from streamfx.live.cli import add_live_arguments, run_live

    p = argparse.ArgumentParser()
    add_live_arguments(p)
    args = p.parse_args(["--driver", "talk", "--vcam-backend", "recording", "--no-webrtc",
                         "--size", "320x180", "--duration", "1.5"])
    assert run_live(args) == 0
    backend = recording_backend.instances[-1]
    assert backend.closed and len(backend.frames) >= 20
    out = capsys.readouterr().out
    assert out.index("virtual camera: RecordingCam (320x180 @ 30 fps)") < out.index("stopped: capture")
