"""A motion script as a driver source: yields landmarks, so no tracking is needed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from streamfx.motion import FaceRig, MotionScript, resolve_script
from streamfx.sources.base import DriverFrame, FrameSource, register_source


@register_source("script")
class ScriptSource(FrameSource):
    def __init__(self, script: str | MotionScript, neutral_landmarks: np.ndarray, *,
                 fps: float | None = None, loop: bool = False, realtime: bool = False):
        self.script = script if isinstance(script, MotionScript) else resolve_script(script)
        if fps:
            self.script.fps = fps
        self.rig = FaceRig(neutral_landmarks)
        self.fps = self.script.fps
        self.loop = loop
        self.live = realtime
        self.frame_count = None if loop else self.script.frame_count

    def landmarks_at(self, t: float) -> np.ndarray:
        return self.rig.pose(self.script.params(t))

    def __iter__(self) -> Iterator[DriverFrame]:
        start = time.perf_counter()
        i = 0
        while self.loop or i < self.script.frame_count:
            t = i / self.fps
            if self.live:
                delay = start + t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            ts = t % self.script.duration if self.loop else t
            yield DriverFrame(index=i, timestamp=t, captured_at=time.perf_counter(),
                              landmarks=self.landmarks_at(ts))
            i += 1
