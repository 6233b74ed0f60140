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

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import fields, replace
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any, TypeVar

import numpy as np

from streamfx.errors import StreamFXError
from streamfx.generator import GeneratorSettings, SourceTensors
from streamfx.generator.appearance import DriverAppearance
from streamfx.settings import EngineSettings

T = TypeVar("T")

#: frames in flight per worker: one being rendered, one queued behind it (more only adds latency)
DEPTH = 2


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class GeneratorWorkerError(StreamFXError):
    """A worker process failed or stopped; the message carries its traceback."""


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without re-running the caller's main script in it.

    ``spawn`` prepares a child by importing the parent's ``__main__`` (by module name, or by
    path), which runs a script's top level again — a user's script without an
    ``if __name__ == "__main__":`` guard would start its own render in every worker. The
    workers need nothing from it (their target and everything they are sent live in
    streamfx and engines), so the main module is hidden from the preparation data while the
    worker starts (``multiprocessing.spawn.get_preparation_data`` reads ``__spec__`` and
    ``__file__``)."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    spec, path = getattr(main, "__spec__", None), main.__dict__.get("__file__")
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not None:
            main.__file__ = path


def _worker(conn: Connection, engine: str, settings: EngineSettings) -> None:  # pragma: no cover - child process
    # Ctrl-C goes to the whole process group: the parent decides when the workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shm: SharedMemory | None = None
    ring: np.ndarray | None = None
    try:
        import cv2

        # every worker is one core's worth of work: OpenCV's own pool would only oversubscribe
        cv2.setNumThreads(1)
        from engines import create_engine

        gen = create_engine(engine, settings, fallback=False)
        reference: dict[str, Any] | None = None
        while True:
            msg = conn.recv()
            kind = msg[0]
            if kind == "stop":
                break
            if kind == "source":  # a portrait (and the ring its frames go to)
                _, src, ring_name, shape, slots = msg
                gen.prepare(src)
                if shm is not None:
                    del ring
                    shm.close()
                # spawned children share the parent's resource tracker: attaching registers
                # the ring there again (a set: no-op), and the parent's unlink unregisters it
                shm = SharedMemory(name=ring_name)
                ring = np.ndarray((slots, *shape), np.uint8, buffer=shm.buf)
            elif kind == "settings":  # in place: the engine reads this object every frame
                for f in fields(msg[1]):
                    setattr(gen.settings.generator, f.name, getattr(msg[1], f.name))
            elif kind == "reference":
                reference = msg[1]
            else:
                _, index, slot, target, current, weight = msg
                assert ring is not None
                look = None if current is None else DriverAppearance(current, reference, weight)
                t0 = time.perf_counter()
                ring[slot] = gen.render(target, look)
                conn.send(("done", index, (time.perf_counter() - t0) * 1e3))
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

    Offline, :meth:`imap` renders a stream of poses, frames in order. Live, one thread
    :meth:`submit` s poses and another :meth:`receive` s the frames, in order; a frame stays
    valid until that thread's next :meth:`receive` (or :meth:`release`). :meth:`set_source`
    swaps the portrait (after the frames in flight). Close the pool (or use it as a context
    manager) to stop the workers and free the ring.

    ``frame_shape`` is the engine's output, H×W×C (C = 3, or 4 with alpha). A worker's
    failure raises :class:`GeneratorWorkerError` from :meth:`receive` (and :meth:`imap`).
    """

    def __init__(self, engine: str, settings: EngineSettings, src: SourceTensors, frame_shape: tuple[int, ...],
                 workers: int, *, depth: int = DEPTH):
        if workers < 1 or depth < 1:
            raise ValueError(f"a generator pool needs at least one worker and one frame each, not {workers}×{depth}")
        self.workers = workers
        self.slots = workers * depth
        self.frame_shape: tuple[int, ...] = ()
        self.render_ms = 0.0
        """The generator's time for the last frame received, in its worker (ms)."""
        self._shm: SharedMemory | None = None
        self._ring: np.ndarray | None = None
        self._lock = threading.Condition()
        self._pending: deque[tuple[int, Any]] = deque()  # (index, tag), oldest first
        self._held = False  # the receiver holds the oldest slot until its next receive/release
        self._sent = 0
        self._settings = replace(settings.generator)
        self._reference: object = None  # the reference look the workers hold (by identity)
        ctx = mp.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        try:
            for k in range(workers):
                parent, child = ctx.Pipe(duplex=True)
                # spawn pickles the arguments at start: the settings are the workers' own
                # copy, kept in step by submit(settings=...)
                p = ctx.Process(target=_worker, name=f"streamfx-generator-{k}", daemon=True,
                                args=(child, engine, settings))
                with _main_module_hidden():
                    p.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(p)
            self._load(src, frame_shape)
        except BaseException:
            self.close()
            raise

    @classmethod
    def of(cls, animator: Any, workers: int, *, depth: int = DEPTH) -> GeneratorPool:
        """A pool rendering ``animator``'s (a :class:`streamfx.animator.Animator`) prepared
        portrait with its engine and settings."""
        src = animator.engine.src
        assert src is not None
        return cls(animator.engine.name, animator.engine.settings, src, animator.frame_shape(), workers, depth=depth)

    def _send(self, k: int, msg: tuple[Any, ...]) -> None:
        try:
            self._conns[k].send(msg)
        except OSError:  # BrokenPipeError: the worker is gone (killed, out of memory)
            raise GeneratorWorkerError(f"generator worker {k} stopped (exit code {self._procs[k].exitcode}) — "
                                       "out of memory? --jobs 0 renders without worker processes") from None

    def _load(self, src: SourceTensors, frame_shape: tuple[int, ...]) -> None:
        old = self._shm
        self.frame_shape = tuple(frame_shape)
        self._shm = SharedMemory(create=True, size=int(np.prod(self.frame_shape)) * self.slots)
        self._ring = np.ndarray((self.slots, *self.frame_shape), np.uint8, buffer=self._shm.buf)
        for k in range(self.workers):
            self._send(k, ("source", src, self._shm.name, self.frame_shape, self.slots))
        if old is not None:  # the workers have let go of it once they read the message
            old.close()
            old.unlink()
        self.src = src

    def set_source(self, src: SourceTensors, frame_shape: tuple[int, ...]) -> None:
        """A new portrait (or the same one prepared again, e.g. with alpha): waits for the
        frames in flight to be received and released, then sends it to every worker."""
        self.drain()
        with self._lock:
            self._load(src, frame_shape)

    # ---- frames -------------------------------------------------------------------------------
    def submit(self, target: np.ndarray, look: DriverAppearance | None, tag: Any = None, *,
               settings: GeneratorSettings | None = None, timeout: float | None = None) -> bool:
        """Hand a pose to the next worker; blocks while every slot is in flight (False when
        ``timeout`` s passed first). ``settings``: the generator settings to render with, sent
        to the workers when they changed since the last frame (a live toggle)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._pending) < self.slots, timeout):
                return False
            index = self._sent
            if settings is not None and settings != self._settings:
                self._settings = replace(settings)
                for k in range(self.workers):
                    self._send(k, ("settings", self._settings))
            if look is not None and look.reference is not self._reference:
                # the driver's reference look changes once or twice a run: send it then, to all
                self._reference = look.reference
                for k in range(self.workers):
                    self._send(k, ("reference", look.reference))
            self._send(index % self.workers, ("frame", index, index % self.slots,
                                              np.ascontiguousarray(target, dtype=np.float32),
                                              None if look is None else look.current,
                                              1.0 if look is None else look.weight))
            self._pending.append((index, tag))
            self._sent += 1
            self._lock.notify_all()
            return True

    def wait_ready(self, ahead: int = 1, timeout: float | None = None) -> bool:
        """Wait until fewer than ``ahead`` frames are rendering or queued (the one the
        receiver holds does not count) and a slot is free; False if ``timeout`` s passed
        first. Live submits at ``ahead=1`` right after this returns, with the newest pose."""
        with self._lock:
            return self._lock.wait_for(
                lambda: len(self._pending) < self.slots and len(self._pending) - self._held < ahead, timeout)

    def release(self) -> None:
        """Done with the frame last received: its slot may take a new pose."""
        with self._lock:
            if self._held:
                self._held = False
                self._pending.popleft()
                self._lock.notify_all()

    def receive(self, timeout: float | None = None) -> tuple[np.ndarray, Any] | None:
        """The oldest frame in flight, as (frame, tag) — a view of the ring, valid until the
        next receive or :meth:`release` — or None if none was submitted within ``timeout`` s."""
        self.release()
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._pending) > 0, timeout):
                return None
            index, tag = self._pending[0]
            ring = self._ring
        k = index % self.workers
        while True:
            try:
                msg = self._conns[k].recv()
            except (EOFError, OSError):
                code = self._procs[k].exitcode
                raise GeneratorWorkerError(f"generator worker {k} stopped (exit code {code}) — out of memory? "
                                           "--jobs 0 renders without worker processes") from None
            if msg[0] == "error":
                raise GeneratorWorkerError(f"generator worker {k} failed: {msg[1]}\n{msg[2]}")
            assert msg[:2] == ("done", index), msg
            self.render_ms = msg[2]
            break
        with self._lock:
            self._held = True
        assert ring is not None
        return ring[index % self.slots], tag

    def drain(self) -> None:
        """Wait until every frame submitted has been received and released (by the receiving
        thread: called on that thread with a frame held, it would wait for ever)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._pending)

    def imap(self, poses: Iterable[tuple[np.ndarray, DriverAppearance | None, T]]) -> Iterator[tuple[np.ndarray, T]]:
        """(target, look, tag) in → (frame, tag) out, in order, on one thread. Each frame is a
        view of the ring, valid until the next one is asked for (copy it to keep it). The
        poses are pulled ahead of the frames handed out, as many as there are slots."""
        it = iter(poses)
        more = True
        while True:
            self.release()
            while more and len(self._pending) < self.slots:
                try:
                    target, look, tag = next(it)
                except StopIteration:
                    more = False
                    break
                self.submit(target, look, tag)
            if not self._pending:
                return
            got = self.receive()
            assert got is not None
            yield got

    # ---- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        for c in self._conns:
            try:
                c.send(("stop",))
            except (OSError, ValueError):
                pass
            # closed at once: a worker still reading a message that an interrupt (Ctrl-C)
            # cut short would wait for the rest of it; a closed pipe ends its read instead
            c.close()
        for p in self._procs:
            p.join(timeout=2.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
        self._conns, self._procs = [], []
        self._ring = None
        if self._shm is not None:
            self._shm.close()
            self._shm.unlink()
            self._shm = None
        with self._lock:  # nobody waits for frames that will not come
            self._pending.clear()
            self._held = False
            self._lock.notify_all()

    def __enter__(self) -> GeneratorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
