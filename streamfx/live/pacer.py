"""FramePacer: when a device with a frame rate (a virtual camera) may take its next frame.

A camera's consumer expects frames at about its rate, never a burst at the animator's; a
clock of the sink's own, though, runs at a phase of its own against the frames it sends:
a frame that lands just after a tick waits for the next one, up to a whole interval
(at 30 fps: 0–33 ms of latency, by the luck of the phase, and a camera clock a hair
slower than the animator's walks through every phase). The pacer instead lets a new frame
through the moment it is there, as long as the long-run rate stays within ``headroom`` of
the camera's and no burst exceeds ``tolerance`` of an interval: ITU-T I.371's generic
cell rate algorithm (GCRA, the virtual-scheduling form), with the frame as the cell.
"""

from __future__ import annotations

#: the rate the pacer lets through, as a multiple of the camera's: a little above it so a
#: driver whose clock runs a hair fast (a "30 fps" webcam at 30.05) is followed, not
#: stepped through every phase; a 60 fps driver reaches the camera at 30.6 fps
HEADROOM = 1.02
#: how early against the rate one frame may go, in intervals: absorbs the animator's jitter
TOLERANCE = 0.25


class FramePacer:
    """GCRA pacing at ``fps`` frames per second (times: ``time.perf_counter()`` seconds)."""

    def __init__(self, fps: float, *, headroom: float = HEADROOM, tolerance: float = TOLERANCE) -> None:
        if fps <= 0 or headroom < 1 or tolerance < 0:
            raise ValueError("fps must be positive, headroom ≥ 1, tolerance ≥ 0")
        self.interval = 1.0 / fps
        self._period = self.interval / headroom
        self._tolerance = tolerance * self.interval
        self._tat = float("-inf")  # the theoretical arrival time of the next frame

    def earliest(self) -> float:
        """The earliest time the next frame may be sent."""
        return self._tat - self._tolerance

    def sent(self, when: float) -> None:
        """Account for a frame sent at ``when``."""
        self._tat = max(self._tat, when) + self._period
