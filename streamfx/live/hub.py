"""LatestFrameHub: a one-slot, leaky hand-off between the animation worker and the sinks.

Live output must never queue latency: when a sink (or a WebRTC viewer) is slower than the
animator, it should see the *newest* frame, not a backlog. The hub therefore holds exactly
one frame; publishing overwrites it, and an overwritten frame that no consumer ever took
counts as dropped. Producers publish from any thread; consumers wait either on a thread
(``wait_newer``) or on an asyncio loop (``wait_newer_async``) without blocking the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class LiveFrame:
    """One animated output frame, already composited to the output size."""

    seq: int
    """Monotonic per hub; consumers remember the last seq they saw."""
    image: np.ndarray
    """RGB uint8, H×W×3, or RGBA H×W×4 when the background is transparent."""
    captured_at: float
    """``time.perf_counter()`` when the driver frame behind it was read."""
    produced_at: float
    """``time.perf_counter()`` when the worker finished it."""
    index: int = 0
    """Driver frame index (diagnostics only)."""
    _opaque: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    @property
    def rgb(self) -> np.ndarray:
        """The picture for outputs without alpha (RGBA over black), made once for all of them.

        Two sinks may race to make it: both get the same pixels, one copy is kept.
        """
        if self.image.shape[2] == 3:
            return self.image
        if not self._opaque:
            from streamfx.compositing import flatten

            self._opaque.append(flatten(self.image))
        return self._opaque[0]


class LatestFrameHub(Generic[T]):
    """Bounded (one slot), leaky, thread-safe latest-value slot with async waiting.

    ``T`` is the payload type; the pipeline uses it for driver frames (capture → worker)
    and for :class:`LiveFrame` (worker → sinks).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._seq = 0
        self._taken = True
        self._last_take = -1e9
        self._closed = False
        self.published = 0
        self.dropped = 0
        # asyncio waiters: (loop, future, seq they are waiting to exceed)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[tuple[int, T] | None], int]] = []

    # -- producer side -------------------------------------------------------------------
    def publish(self, item: T) -> int:
        """Store ``item`` as the latest value, waking every waiter. Returns its seq."""
        with self._cond:
            if self._closed:
                return self._seq
            # An overwrite only counts as a drop while someone is consuming: with no sink or
            # viewer attached, frames are not "lost", nobody asked for them.
            if not self._taken and time.monotonic() - self._last_take < 1.0:
                self.dropped += 1
            self._seq += 1
            self._item = item
            self._taken = False
            self.published += 1
            seq = self._seq
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, fut, _ in waiters:
            # Futures belong to their loop; resolve them on it.
            try:
                loop.call_soon_threadsafe(_resolve, fut, (seq, item))
            except RuntimeError:  # loop already closed
                pass
        return seq

    def close(self) -> None:
        """Wake everyone with ``None``; later waits return ``None`` at once."""
        with self._cond:
            self._closed = True
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, fut, _ in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, fut, None)
            except RuntimeError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def seq(self) -> int:
        return self._seq

    # -- consumer side -------------------------------------------------------------------
    def latest(self) -> tuple[int, T] | None:
        """The newest (seq, item) without waiting, or None before the first publish."""
        with self._cond:
            if self._item is None:
                return None
            self._take()
            return self._seq, self._item

    def wait_newer(self, after_seq: int, timeout: float | None = None) -> tuple[int, T] | None:
        """Block until an item newer than ``after_seq`` exists; None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._seq <= after_seq or self._item is None:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._take()
            return self._seq, self._item

    async def wait_newer_async(
        self, after_seq: int, timeout: float | None = None
    ) -> tuple[int, T] | None:
        """Like :meth:`wait_newer`, but awaits on the running loop instead of a thread."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._seq > after_seq and self._item is not None:
                self._take()
                return self._seq, self._item
            if self._closed:
                return None
            fut: asyncio.Future[tuple[int, T] | None] = loop.create_future()
            self._waiters.append((loop, fut, after_seq))
        try:
            result = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            with self._cond:
                self._waiters = [w for w in self._waiters if w[1] is not fut]
            return None
        if result is not None:
            with self._cond:
                self._take()
        return result

    def _take(self) -> None:
        """Mark the latest item taken (the caller holds the lock) and wake :meth:`wait_taken`."""
        self._taken = True
        self._last_take = time.monotonic()
        self._cond.notify_all()

    def wait_taken(self, timeout: float | None = None) -> bool:
        """Block until a consumer has taken the latest item (or nothing waits to be taken).

        What a producer that is not paced by a clock (a video file read as fast as it
        decodes) waits on before making the next item: an item nobody takes would only take
        CPU from the ones somebody does. True when taken, False on timeout or close.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._taken or self._closed, timeout) and self._taken


def _resolve(fut: asyncio.Future[T], value: T) -> None:
    if not fut.done():
        fut.set_result(value)
