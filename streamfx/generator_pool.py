"""The per-frame generator in worker processes, frames back in order.

The reference generator (NumPy + OpenCV) spends much of a frame in Python between small
array operations, holding the GIL: two threads render no faster than one (measured on a
2-core machine at 512²: 6.4 ms a frame on one thread, 7.7–8.0 ms with two). Processes do
scale, so an offline render hands its poses to a :class:`GeneratorPool`.

Each worker holds its own engine prepared on a copy of the portrait
(:class:`~streamfx.generator.SourceTensors`, ≈ 3 MB pickled at 512², sent once). Per frame
a worker gets the target landmarks (478×3 float32) and the driver's appearance (a few kB)
and writes the frame into its slot of a shared-memory ring, so no frame is pickled; the
parent reads the slots in submission order. The engine, the portrait and the inputs are the
ones the parent would render with, so the frames are the same bytes as a serial render's
(``tests/test_render_pipeline.py``).

Workers are started with ``spawn``, not ``fork``: the parent runs mediapipe's and PyAV's
threads, and a forked child of a threaded process may deadlock on a lock held at the fork.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any, TypeVar

import numpy as np

from streamfx.generator import SourceTensors
from streamfx.generator.appearance import DriverAppearance
from streamfx.settings import EngineSettings

log = logging.getLogger("streamfx")

T = TypeVar("T")

#: frames in flight per worker: one being rendered, one queued behind it (more only adds latency)
DEPTH = 2


class GeneratorWorkerError(RuntimeError):
    """A worker process failed or stopped; the message carries its traceback."""


def _worker(conn: Connection, engine: str, settings: EngineSettings, src: SourceTensors, ring_name: str,
            shape: tuple[int, ...], slots: int) -> None:  # pragma: no cover - runs in a child process
    # Ctrl-C goes to the whole process group: the parent decides when the workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shm: SharedMemory | None = None
    try:
        import cv2

        # every worker is one core's worth of work: OpenCV's own pool would only oversubscribe
        cv2.setNumThreads(1)
        from engines import create_engine

        gen = create_engine(engine, settings, fallback=False)
        gen.prepare(src)
        # spawned children share the parent's resource tracker: attaching registers the ring
        # there again (a set: no-op), and the parent's unlink unregisters it
        shm = SharedMemory(name=ring_name)
        ring: np.ndarray = np.ndarray((slots, *shape), np.uint8, buffer=shm.buf)
        reference: dict[str, Any] | None = None
        conn.send(("ready",))
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            if msg[0] == "reference":
                reference = msg[1]
                continue
            _, index, target, current, weight = msg
            look = None if current is None else DriverAppearance(current, reference, weight)
            ring[index % slots] = gen.render(target, look)
            conn.send(("done", index))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass  # the parent went away: nothing left to render for
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        try:
            conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
        except Exception:  # noqa: BLE001 - the parent is gone
            pass
    finally:
        if shm is not None:
            del ring
            shm.close()


class GeneratorPool:
    """``workers`` processes rendering one prepared portrait with the engine ``engine``.

    Use :meth:`imap` to render a stream of poses; frames come back in order. Close the pool
    (or use it as a context manager) to stop the workers and free the ring.

    ``frame_shape`` is the engine's output, H×W×C (C = 3, or 4 with alpha). Raises
    :class:`GeneratorWorkerError` from :meth:`imap` if a worker fails.
    """

    def __init__(self, engine: str, settings: EngineSettings, src: SourceTensors, frame_shape: tuple[int, ...],
                 workers: int):
        if workers < 1:
            raise ValueError(f"a generator pool needs at least one worker, not {workers}")
        self.workers = workers
        self.slots = workers * DEPTH
        self.frame_shape = tuple(frame_shape)
        size = int(np.prod(self.frame_shape)) * self.slots
        self._shm = SharedMemory(create=True, size=size)
        self._ring: np.ndarray = np.ndarray((self.slots, *self.frame_shape), np.uint8, buffer=self._shm.buf)
        # spawn pickles the arguments at start: a worker renders with the settings the pool
        # began with (a render does not change them; live would need a new pool)
        ctx = mp.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._ready = [False] * workers
        try:
            for k in range(workers):
                parent, child = ctx.Pipe(duplex=True)
                p = ctx.Process(target=_worker, name=f"streamfx-generator-{k}", daemon=True,
                                args=(child, engine, settings, src, self._shm.name, self.frame_shape, self.slots))
                p.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(p)
        except BaseException:
            self.close()
            raise
        self._reference: object = None  # the reference look the workers hold (by identity)

    # ---- one frame ----------------------------------------------------------------------------
    def _send(self, index: int, target: np.ndarray, look: DriverAppearance | None) -> None:
        conn = self._conns[index % self.workers]
        if look is not None and look.reference is not self._reference:
            # the driver's reference look changes once or twice a render: send it then, to all
            self._reference = look.reference
            for c in self._conns:
                c.send(("reference", look.reference))
        conn.send(("frame", index, np.ascontiguousarray(target, dtype=np.float32),
                   None if look is None else look.current, 1.0 if look is None else look.weight))

    def _receive(self, index: int) -> np.ndarray:
        k = index % self.workers
        while True:
            try:
                msg = self._conns[k].recv()
            except (EOFError, OSError):
                code = self._procs[k].exitcode
                raise GeneratorWorkerError(f"generator worker {k} stopped (exit code {code})") from None
            if msg[0] == "ready":
                self._ready[k] = True
            elif msg[0] == "error":
                raise GeneratorWorkerError(f"generator worker {k} failed: {msg[1]}\n{msg[2]}")
            else:
                assert msg == ("done", index), msg
                return self._ring[index % self.slots]

    def imap(self, poses: Iterable[tuple[np.ndarray, DriverAppearance | None, T]]) -> Iterator[tuple[np.ndarray, T]]:
        """(target, look, tag) in → (frame, tag) out, in order. Each frame is a view of the
        ring, valid until the next one is asked for (copy it to keep it). The poses are
        pulled ahead of the frames handed out, up to ``workers × DEPTH`` in flight."""
        pending: deque[tuple[int, T]] = deque()
        it = iter(poses)
        n = 0
        more = True
        while True:
            while more and len(pending) < self.slots:
                try:
                    target, look, tag = next(it)
                except StopIteration:
                    more = False
                    break
                self._send(n, target, look)
                pending.append((n, tag))
                n += 1
            if not pending:
                return
            index, tag = pending.popleft()
            yield self._receive(index), tag

    # ---- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        for c in self._conns:
            try:
                c.send(("stop",))
            except (OSError, ValueError):
                pass
        for p in self._procs:
            p.join(timeout=2.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
        for c in self._conns:
            c.close()
        self._conns, self._procs = [], []
        if self._shm is not None:
            del self._ring
            self._shm.close()
            self._shm.unlink()
            self._shm = None  # type: ignore[assignment]

    def __enter__(self) -> GeneratorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
