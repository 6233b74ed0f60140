"""Virtual-camera sink through a recording backend registered in pyvirtualcam's registry.

The recording backend is the one stand-in here, and a necessary one: the real backend needs a
v4l2loopback kernel device, which cannot exist in this container (or on CI machines). It sits
where pyvirtualcam's own backends sit, so everything above it is real: pyvirtualcam's Camera
(format conversion, pacing), the sink, the pipeline with the real Animator driven by the real
``talk`` script. What it was sent is checked as a picture (tests/picture.py).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam import camera as pvc_camera

from streamfx.errors import DeviceUnavailableError
from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.sinks.vcam import SETUP_COMMAND, VirtualCameraSink, find_v4l2_device, setup_hint
from tests.picture import PortraitCheck
from tests.test_live_pipeline import real_animator, real_pipeline, script_driver, wait_until


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


def sent(backend: RecordingBackend) -> list[np.ndarray]:
    """The frames the camera was sent, as H×W×3 RGB (pyvirtualcam hands over flat bytes)."""
    return [f.reshape(backend.height, backend.width, 3) for f in backend.frames]


def test_vcam_in_pipeline_is_paced_at_the_camera_fps(recording_backend, portrait: np.ndarray,
                                                     portrait_landmarks: np.ndarray) -> None:
    # the script drives at 60 fps, the camera runs at 30: it must get the animated portrait,
    # never more than its own rate (newest frames only, the rest skipped)
    anim = real_animator(portrait, portrait_landmarks)
    pipe = LivePipeline(anim, script_driver(anim, fps=60), LiveSettings(width=320, height=180, fps=30),
                        source_image=portrait)
    pipe.add_sink(VirtualCameraSink(backend="recording"))
    backend = recording_backend.instances[-1]
    with pipe:
        wait_until(lambda: len(backend.frames) >= 45, "45 frames sent to the camera")
        n, t = len(backend.frames), backend.times[-1] - backend.times[0]
    assert backend.closed
    assert backend.frames[0].shape == (320 * 180 * 3,)
    PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(sent(backend)[:45])
    # an upper bound only, and a loose one (a loaded machine only ever sends fewer): unpaced,
    # the camera would get the driver's 60 fps
    assert n - 1 <= 30 * 1.3 * t + 2, (n, t)


def test_vcam_keeps_ticking_when_paused(recording_backend, portrait: np.ndarray,
                                        portrait_landmarks: np.ndarray) -> None:
    pipe = real_pipeline(portrait, portrait_landmarks, width=320, height=180, fps=30)
    pipe.add_sink(VirtualCameraSink(backend="recording"))
    backend = recording_backend.instances[-1]
    with pipe:
        wait_until(lambda: len(backend.frames) >= 10, "10 frames sent to the camera")
        pipe.set_paused(True)
        n = len(backend.frames)
        # cameras that stop delivering look frozen/disconnected to apps: repeat the last frame
        wait_until(lambda: len(backend.frames) >= n + 15, "15 frames sent while paused")
    held = backend.frames[n + 5:n + 15]  # the first few may still be fresh ones in flight
    assert all(np.array_equal(f, held[0]) for f in held), "the paused camera must repeat one frame"
    frames = sent(backend)
    PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(frames[:n])
    assert frames[n + 5].std() > 8  # what it repeats is the picture, not a blank
    assert np.abs(frames[n + 5].astype(int) - frames[n - 1]).mean() < 10  # …the last one shown


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


def test_pipeline_keeps_running_without_the_camera(monkeypatch, portrait: np.ndarray,
                                                   portrait_landmarks: np.ndarray) -> None:
    class Missing:
        def __init__(self, **kw: object) -> None:
            raise RuntimeError("no device")

    monkeypatch.setattr(pvc_camera, "BACKENDS", {"v4l2loopback": Missing})
    pipe = real_pipeline(portrait, portrait_landmarks)
    with pytest.raises(DeviceUnavailableError):
        pipe.add_sink(VirtualCameraSink())
    with pipe:
        wait_until(lambda: pipe.hub.seq >= 8, "8 animated frames")
    assert pipe.sinks == []


def test_find_v4l2_device_reads_card_labels(tmp_path) -> None:
    (tmp_path / "video3").mkdir()
    (tmp_path / "video3" / "name").write_text("Integrated Camera\n")
    (tmp_path / "video10").mkdir()
    (tmp_path / "video10" / "name").write_text("AnimCam\n")
    assert find_v4l2_device("AnimCam", str(tmp_path)) == "/dev/video10"
    assert find_v4l2_device("Nope", str(tmp_path)) is None


def test_live_cli_with_only_the_virtual_camera_feeds_and_closes_it(recording_backend, capsys, portrait: np.ndarray,
                                                                    portrait_landmarks: np.ndarray) -> None:
    import argparse

    from streamfx.live.cli import add_live_arguments, run_live

    p = argparse.ArgumentParser()
    add_live_arguments(p)
    args = p.parse_args(["--driver", "talk", "--vcam-backend", "recording", "--no-webrtc",
                         "--size", "320x180", "--duration", "2"])
    assert run_live(args) == 0
    backend = recording_backend.instances[-1]
    assert backend.closed and len(backend.frames) >= 10
    # the demo portrait (streamfx live's default), animated by the talk script
    PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(sent(backend))
    out = capsys.readouterr().out
    assert out.index("virtual camera: RecordingCam (320x180 @ 30 fps)") < out.index("stopped after ")
