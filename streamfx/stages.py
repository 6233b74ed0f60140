"""Stages of an offline job on threads, joined by bounded queues, the order kept.

A render's decode (PyAV), tracking (mediapipe's graph) and the work around them release the
GIL for most of their time, so each on its own thread keeps both cores of a laptop busy
where one loop would leave one idle. Bounded queues keep memory flat: a fast stage waits
for a slow one instead of piling frames up.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

_END = object()
_POLL = 0.1  # s: how often a blocked stage looks whether the chain was stopped


class StageChain:
    """``source`` iterated on one thread, each item then through ``stages`` (each function
    on its own thread, in order). Iterate the chain for the results, in the source's order.

    The first exception in any stage stops the chain; the iterator raises it after handing
    out the items that were already through. :meth:`close` (or leaving a ``with`` block)
    stops and joins every thread, also when the consumer stopped early.
    ``seconds`` holds each stage's busy time (``source_name`` for the source).
    """

    def __init__(self, source: Iterable[Any], stages: Sequence[tuple[str, Callable[[Any], Any]]], *,
                 source_name: str = "source", maxsize: int = 8):
        self.seconds: dict[str, float] = {source_name: 0.0, **{name: 0.0 for name, _ in stages}}
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize) for _ in range(len(stages) + 1)]
        self._threads = [threading.Thread(target=self._pull, args=(source, source_name), name=source_name, daemon=True)]
        for k, (name, fn) in enumerate(stages):
            self._threads.append(threading.Thread(target=self._run, args=(fn, name, k), name=name, daemon=True))
        for t in self._threads:
            t.start()

    def _put(self, q: queue.Queue[Any], item: object) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                pass
        return False

    def _get(self, q: queue.Queue[Any]) -> object:
        while not self._stop.is_set():
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                pass
        return _END

    def _fail(self, e: BaseException) -> None:
        self._errors.append(e)
        self._stop.set()

    def _pull(self, source: Iterable[Any], name: str) -> None:
        out = self._queues[0]
        try:
            it = iter(source)
            while not self._stop.is_set():
                t0 = time.perf_counter()
                item = next(it, _END)
                self.seconds[name] += time.perf_counter() - t0
                if item is _END or not self._put(out, item):
                    break
        except BaseException as e:  # noqa: BLE001 - raised to the consumer by __iter__
            self._fail(e)
        finally:
            self._put(out, _END)

    def _run(self, fn: Callable[[Any], Any], name: str, k: int) -> None:
        inq, out = self._queues[k], self._queues[k + 1]
        try:
            while True:
                item = self._get(inq)
                if item is _END:
                    break
                t0 = time.perf_counter()
                item = fn(item)
                self.seconds[name] += time.perf_counter() - t0
                if not self._put(out, item):
                    break
        except BaseException as e:  # noqa: BLE001 - raised to the consumer by __iter__
            self._fail(e)
        finally:
            self._put(out, _END)

    def __iter__(self) -> Iterator[Any]:
        last = self._queues[-1]
        while True:
            try:
                item = last.get(timeout=_POLL)
            except queue.Empty:
                if self._stop.is_set() or not any(t.is_alive() for t in self._threads):
                    break  # a stage failed (its end marker may not fit a full queue) or all ended
                continue
            if item is _END:
                break
            yield item
        if self._errors:
            raise self._errors[0]

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def __enter__(self) -> StageChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
