"""Virtual camera sink (pyvirtualcam): the animated portrait as a webcam for Zoom/Meet/Teams.

Linux uses v4l2loopback (a device labelled ``AnimCam``); Windows and macOS use the
OBS Virtual Camera. When no device is there we raise :class:`DeviceUnavailableError` with
one line naming the exact setup command, so the live pipeline can log it and keep the other
sinks (WebRTC) running.
"""

from __future__ import annotations

import glob
import os
import platform
from pathlib import Path

import numpy as np

from streamfx.compositing import flatten
from streamfx.errors import DeviceUnavailableError
from streamfx.sinks.base import FrameSink, register_sink

DEVICE_LABEL = "AnimCam"
SETUP_COMMAND = (
    "sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=AnimCam exclusive_caps=1"
)
SETUP_SCRIPT = "bash scripts/setup_virtualcam.sh"


def setup_hint(system: str | None = None) -> str:
    """How to create the virtual camera on this OS, as one sentence."""
    system = system or platform.system()
    if system == "Linux":
        return f"create it with: {SETUP_COMMAND} (or: {SETUP_SCRIPT})"
    return "install OBS Studio (28+) and click 'Start Virtual Camera' once, then retry"


def find_v4l2_device(label: str = DEVICE_LABEL, sysfs: str = "/sys/class/video4linux") -> str | None:
    """The /dev/videoN whose v4l2 card name is ``label`` (v4l2loopback's card_label)."""
    for name_file in sorted(glob.glob(os.path.join(sysfs, "video*", "name"))):
        try:
            if Path(name_file).read_text().strip() == label:
                return "/dev/" + Path(name_file).parent.name
        except OSError:
            continue
    return None


@register_sink("vcam")
class VirtualCameraSink(FrameSink):
    """Send RGB frames to a virtual camera, paced at the camera's fps.

    ``backend`` / ``device`` pass through to :class:`pyvirtualcam.Camera` (tests register a
    recording backend in pyvirtualcam's registry and select it here). With ``device=None``
    on Linux we look for the v4l2loopback device labelled ``AnimCam`` first.
    """

    name = "vcam"
    paced = True  # the live pipeline paces it (not pyvirtualcam's own clock: see its sink runner)

    def __init__(self, *, device: str | None = None, backend: str | None = None, **backend_kw: object) -> None:
        self.device = device
        self.backend = backend
        self.backend_kw = backend_kw
        self._cam: object | None = None
        self.width = self.height = 0
        self.fps = 0.0

    def open(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        import pyvirtualcam

        device = self.device
        if device is None and self.backend in (None, "v4l2loopback") and platform.system() == "Linux":
            device = find_v4l2_device()
        try:
            self._cam = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device,
                backend=self.backend, **self.backend_kw,
            )
        except Exception as e:  # pyvirtualcam raises RuntimeError listing each backend's failure
            detail = " / ".join(str(e).split("\n")).strip() or "no virtual camera backend on this system"
            raise DeviceUnavailableError(
                f"virtual camera {DEVICE_LABEL} is not available ({detail}); {setup_hint()}"
            ) from None
        self.width, self.height, self.fps = width, height, fps

    @property
    def camera(self):  # -> pyvirtualcam.Camera (untyped library)
        if self._cam is None:
            raise RuntimeError("VirtualCameraSink is not open")
        return self._cam

    @property
    def device_name(self) -> str:
        return str(self.camera.device)

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        if frame.ndim == 3 and frame.shape[2] == 4:
            frame = flatten(frame)  # cameras have no alpha: a transparent canvas shows black
        self.camera.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        if self._cam is not None:
            self.camera.close()
            self._cam = None
