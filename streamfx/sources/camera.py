"""Driver frames from a webcam through OpenCV's VideoCapture."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2

from streamfx.errors import InputError
from streamfx.sources.base import DriverFrame, FrameSource, register_source

log = logging.getLogger("streamfx")

# render and live both take the driver, but render as a positional argument: name no flag
_NO_CAMERA_HINT = "use a video file or a motion script (e.g. idle) as the driver instead"

#: Consecutive failed reads before we decide the camera is gone (unplugged, taken by another app).
_MAX_READ_FAILURES = 30


def _parse_device(device: int | str) -> int | str:
    if isinstance(device, str) and device.strip().isdigit():
        return int(device.strip())
    return device


def _device_node(device: int | str) -> Path | None:
    """The /dev/videoN node behind ``device`` on Linux, when there is one to check."""
    if not sys.platform.startswith("linux"):
        return None
    if isinstance(device, int):
        return Path(f"/dev/video{device}")
    if device.startswith("/dev/"):
        return Path(device)
    return None  # URLs, GStreamer pipelines, …: let OpenCV judge


def _why_unopenable(device: int | str) -> str:
    node = _device_node(device)
    if node is None:
        return "the device did not open"
    if not node.exists():
        return "no such device"
    if not os.access(node, os.R_OK | os.W_OK):
        return f"permission denied on {node}; add yourself to the 'video' group"
    return "busy or not a capture device; close other apps using it"


@register_source("camera")
class CameraSource(FrameSource):
    """Live RGB frames from a webcam (index such as 0, or a path such as /dev/video2).

    Frames are read in the caller's thread (the live pipeline iterates this in its own
    thread). ``width``/``height``/``fps`` are requests; ``size`` and ``fps`` hold what the
    camera actually granted. ``timestamp`` is seconds since the camera opened.
    """

    live = True

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        self.device = _parse_device(device)
        node = _device_node(self.device)
        # Check the node first: it gives a precise reason and spares OpenCV's stderr warnings.
        if node is not None and not node.exists():
            raise InputError(
                f"cannot open camera {self.device} (no such device) — {_NO_CAMERA_HINT}"
            )
        cap = self._open_capture()
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise InputError(
                f"cannot open camera {self.device} ({_why_unopenable(self.device)}) — {_NO_CAMERA_HINT}"
            )
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        # Keep at most one frame queued in the driver: an old frame is added latency.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap: Any = cap
        got_w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        got_h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        got_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.size = (got_w, got_h) if got_w > 0 and got_h > 0 else None
        self.fps = got_fps if got_fps > 0 else float(fps or 30.0)
        self.frame_count = None
        if width and height and self.size and self.size != (width, height):
            log.info(
                "camera %s gives %d×%d (asked for %d×%d)", self.device, *self.size, width, height
            )
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._iterating = False
        self._opened_at = time.perf_counter()

    def _open_capture(self) -> Any:
        # OpenCV prints backend warnings to stderr for devices it cannot open; we report our own.
        cvlog = getattr(getattr(cv2, "utils", None), "logging", None)  # absent in some builds
        prev = cvlog.getLogLevel() if cvlog is not None else None
        if cvlog is not None:
            cvlog.setLogLevel(cvlog.LOG_LEVEL_ERROR)
        try:
            return cv2.VideoCapture(self.device)
        except cv2.error:
            return None
        finally:
            if cvlog is not None and prev is not None:
                cvlog.setLogLevel(prev)

    def __iter__(self) -> Iterator[DriverFrame]:
        with self._lock:
            cap = self._cap
            if cap is None or self._stop.is_set():
                return
            self._iterating = True
        try:
            yield from self._frames(cap)
        finally:
            with self._lock:
                self._iterating = False
                if self._stop.is_set():
                    self._release()

    def _frames(self, cap: Any) -> Iterator[DriverFrame]:
        index = 0
        failures = 0
        while not self._stop.is_set():
            ok, bgr = cap.read()
            captured = time.perf_counter()
            if not ok or bgr is None:
                failures += 1
                if failures >= _MAX_READ_FAILURES:
                    raise InputError(
                        f"camera {self.device} stopped delivering frames (unplugged or taken by another app) — "
                        f"reconnect it, or {_NO_CAMERA_HINT}"
                    )
                time.sleep(0.01)
                continue
            failures = 0
            if bgr.ndim == 2:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
            else:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if self.size is None:
                self.size = (rgb.shape[1], rgb.shape[0])
            yield DriverFrame(
                index=index, timestamp=captured - self._opened_at, captured_at=captured, image=rgb
            )
            index += 1

    def close(self) -> None:
        """Stop iteration and release the device; safe from another thread.

        Releasing a VideoCapture while another thread is inside ``read()`` can crash the
        backend, so while iterating the release is left to the iterating thread, which
        notices the stop flag after its current frame.
        """
        self._stop.set()
        with self._lock:
            if not self._iterating:
                self._release()

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


__all__ = ["CameraSource"]
