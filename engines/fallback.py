"""The run-time fallback: any engine but ``opencv`` runs inside :class:`FallbackEngine`."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from engines.base import GeneratorEngine, check_targets
from engines.opencv_engine import OpenCVEngine
from streamfx.generator import SourceTensors
from streamfx.generator.appearance import DriverAppearance
from streamfx.settings import EngineSettings

log = logging.getLogger("streamfx")


class FallbackEngine(GeneratorEngine):
    """Runs ``primary``; if it ever fails, says so once and renders with ``opencv`` from then on.

    The stream must not stop because a GPU driver hiccuped or an engine could not build:
    the frame that failed is re-rendered by the reference engine, and so is every later one.
    """

    name = "fallback"

    def __init__(self, primary: GeneratorEngine, settings: EngineSettings | None = None):
        super().__init__(settings or primary.settings)
        self.primary: GeneratorEngine = primary
        self.active: GeneratorEngine = primary
        self.failure: str | None = None
        self._lock = threading.Lock()

    @property
    def fell_back(self) -> bool:
        return self.failure is not None

    def _switch(self, stage: str, err: BaseException) -> None:
        with self._lock:
            if self.failure is not None:
                return
            self.failure = f"{type(err).__name__}: {err}"
            log.warning("engine '%s' failed while %s (%s) — continuing with 'opencv'",
                        self.primary.name, stage, self.failure)
            fallback = OpenCVEngine(self.settings)
            if self.src is not None:
                fallback.prepare(self.src)
            self.active = fallback
            try:
                self.primary.close()
            except Exception:  # noqa: BLE001 - it is already broken; keep streaming
                pass

    def _prepare(self, src: SourceTensors) -> None:
        try:
            self.active.prepare(src)
        except Exception as e:  # noqa: BLE001 - any engine failure falls back
            if self.active is not self.primary:
                raise
            self._switch("preparing the source", e)

    def render_batch(self, targets: np.ndarray,
                     appearance: Sequence[DriverAppearance | None] | None = None) -> np.ndarray:
        # the active engine applies the appearance layers and CPU filters itself
        if self.src is None:
            raise RuntimeError("FallbackEngine.render_batch called before prepare()")
        t = check_targets(targets, batched=True)
        engine = self.active
        try:
            return engine.render_batch(t, appearance)
        except Exception as e:  # noqa: BLE001 - any engine failure falls back
            if engine is not self.primary:
                raise
            self._switch("rendering", e)
            return self.active.render_batch(t, appearance)

    def render_stream(self, targets: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The active engine's stream (TensorRT keeps two frames in flight); on a failure the
        frames that were in flight and every later one are rendered by ``opencv``."""
        source = iter(targets)
        in_flight: deque[np.ndarray] = deque()
        source_error: list[BaseException] = []

        def feed() -> Iterator[np.ndarray]:
            while True:
                try:
                    t = next(source)
                except StopIteration:
                    return
                except Exception as e:  # the caller's targets failed, not the engine
                    source_error.append(e)
                    raise
                in_flight.append(t)
                yield t

        engine = self.active
        try:
            for frame in engine.render_stream(feed()):
                in_flight.popleft()
                yield frame
            return
        except Exception as e:  # noqa: BLE001 - any engine failure falls back
            if source_error or engine is not self.primary:
                raise
            self._switch("rendering", e)
        while in_flight:
            yield self.active.render(in_flight.popleft())
        for t in source:
            yield self.active.render(t)

    def _render_batch(self, targets: np.ndarray,
                      appearance: Sequence[DriverAppearance | None] = ()) -> np.ndarray:  # pragma: no cover - unused
        return self.active.render_batch(targets, appearance or None)

    def close(self) -> None:
        self.active.close()
        if self.active is not self.primary:
            self.primary.close()

    def describe(self) -> str:
        if self.failure:
            return f"opencv (fell back from {self.primary.name}: {self.failure})"
        return self.primary.describe()
