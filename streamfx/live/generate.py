"""Live generation in a worker process: the animate thread's poses in, frames out in order.

On the animate thread alone, tracking, retargeting, generation and compositing of one frame
add up (at a 1024-px portrait: ≈ 5 + 1 + 20 + 3 ms) and the reference generator holds the
GIL, so a second thread would not overlap them. :class:`ProcessGenerator` moves the
generator into a worker process (:class:`~streamfx.generator_pool.GeneratorPool`): the
animate thread keeps tracking every driver frame while the worker renders the newest pose,
and a receiver thread composites each finished frame while the worker renders the next.

Latency never queues: the worker gets a pose only when it is idle, and then the newest one
(older poses are dropped, as every live hand-over drops stale frames).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamfx.animator import Animator
from streamfx.generator.appearance import DriverAppearance
from streamfx.generator_pool import GeneratorPool, GeneratorWorkerError
from streamfx.live.hub import LatestFrameHub
from streamfx.sources.base import DriverFrame

log = logging.getLogger("streamfx.live")

_POLL = 0.1  # s: how often a waiting thread looks whether it was stopped


@dataclass
class Pose:
    """One driver frame's pose, on its way to the worker (and its frame back)."""

    target: np.ndarray
    look: DriverAppearance | None
    frame: DriverFrame
    camera: np.ndarray | None
    """The driver's picture, for a ``camera`` background (else None)."""
    started: float
    """``time.perf_counter()`` when the animate thread took the driver frame."""
    version: int
    """The pipeline's source version the pose was made for (a swap makes it stale)."""
    cut: bool
    """Composite the subject cut out (RGBA) rather than the opaque portrait."""
    stages: dict[str, float] = field(default_factory=dict)
    while_paused: bool = False
    """Made while the pipeline is paused (a portrait swap shown once): shown all the same."""


class ProcessGenerator:
    """Renders :class:`Pose` s of ``animator`` in one worker process and hands each frame,
    in order, to ``on_frame(frame, pose)`` on a receiver thread. ``current_version()`` tells
    which poses are stale (made before a portrait swap): they are neither rendered nor handed
    on. If the worker fails, ``on_failure(error)`` is called once and the stage stops."""

    def __init__(self, animator: Animator, on_frame: Callable[[np.ndarray, Pose], None],
                 on_failure: Callable[[BaseException], None], current_version: Callable[[], int]):
        self.animator = animator
        self._on_frame = on_frame
        self._on_failure = on_failure
        self._version = current_version
        # two slots: the receiver composites one frame while the worker renders the next
        self.pool = GeneratorPool.of(animator, workers=1, depth=2)
        self._poses: LatestFrameHub[Pose] = LatestFrameHub()
        self._stop = threading.Event()
        self._failed = threading.Event()
        self._threads = [threading.Thread(target=self._submit, name="streamfx-generate-submit", daemon=True),
                         threading.Thread(target=self._receive, name="streamfx-generate-receive", daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def alive(self) -> bool:
        return not (self._stop.is_set() or self._failed.is_set())

    @property
    def dropped(self) -> int:
        """Poses replaced by a newer one before the worker was free."""
        return self._poses.dropped

    def put(self, pose: Pose) -> None:
        """The newest pose (replaces one the worker has not taken yet)."""
        self._poses.publish(pose)

    def _fail(self, e: BaseException) -> None:
        if not self._failed.is_set():
            self._failed.set()
            self._on_failure(e)

    def _submit(self) -> None:
        seq = 0
        try:
            while not self._stop.is_set():
                if not self.pool.wait_ready(ahead=1, timeout=_POLL):
                    continue
                got = self._poses.wait_newer(seq, timeout=_POLL)
                if got is None:
                    continue
                seq, pose = got
                if pose.version != self._version():
                    continue  # made for the portrait before a swap
                src = self.animator.engine.src
                if src is not self.pool.src:  # swapped, or prepared again with alpha
                    assert src is not None
                    self.pool.set_source(src, self.animator.frame_shape())
                self.pool.submit(pose.target, pose.look, pose, settings=self.animator.generator_settings)
        except GeneratorWorkerError as e:
            self._fail(e)

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                got: tuple[np.ndarray, Any] | None = self.pool.receive(timeout=_POLL)
            except GeneratorWorkerError as e:
                self._fail(e)
                return
            if got is None:
                continue
            frame, pose = got
            pose.stages["generate"] = self.pool.render_ms
            if pose.version == self._version():
                self._on_frame(frame, pose)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._poses.close()
        current = threading.current_thread()
        for t in self._threads:
            if t is not current:
                t.join(timeout)
        self.pool.close()
