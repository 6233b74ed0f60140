"""The generator-engine interface, its settings, and the run-time fallback wrapper.

An engine renders one prepared source portrait: :meth:`GeneratorEngine.prepare` takes the
:class:`~streamfx.generator.SourceTensors` (everything that depends only on the source), then
:meth:`~GeneratorEngine.render` turns target landmarks (478×3) into a frame (H×W×C uint8)
and :meth:`~GeneratorEngine.render_batch` does B target sets at once (B×478×3 → B×H×W×C).

"Several avatars at once" means B poses of one prepared portrait per call — one driver
retargeted several ways, several viewers' poses of a shared avatar, or frames rendered
ahead. Portraits of different sizes have different regions and grids, so each source
gets its own prepared engine (engines are cheap to create; they share nothing).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from streamfx.errors import InputError
from streamfx.generator import GeneratorSettings, SourceTensors

log = logging.getLogger("streamfx")


@dataclass
class EngineSettings:
    """How an engine runs; ``generator`` is shared with the animator (it may change live)."""

    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    device: str = "cuda:0"
    """torch device for the ``cuda`` engine (``cpu`` is accepted, for parity checks)."""
    threads: int = 0
    """CPU threads for ONNX Runtime (0 = its default: one per core)."""
    max_batch: int = 8
    """Largest batch the GPU engines plan for (TensorRT profile, CUDA graphs)."""
    fp16: bool = False
    """TensorRT: let the builder use FP16 for the motion field (the remap stays FP32)."""
    cuda_graphs: bool = True
    """cuda engine: replay captured CUDA graphs for repeated batch sizes."""
    cache_dir: Path | None = None
    """TensorRT engine cache (default ~/.cache/streamfx/trt)."""

    def validate(self) -> EngineSettings:
        self.generator.validate()
        if self.threads < 0:
            raise InputError(f"engine threads must be 0 (auto) or positive, not {self.threads}")
        if not 1 <= self.max_batch <= 64:
            raise InputError(f"max_batch must be between 1 and 64, not {self.max_batch}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise InputError(f"device must be 'cpu' or 'cuda[:N]', not '{self.device}'")
        return self


def check_targets(targets: np.ndarray, batched: bool) -> np.ndarray:
    """Targets as contiguous float32, (B, 478, 3) or (478, 3); raises ValueError otherwise."""
    t = np.ascontiguousarray(targets, dtype=np.float32)
    want = 3 if batched else 2
    if t.ndim != want or t.shape[-2:] != (478, 3):
        shape = "(B, 478, 3)" if batched else "(478, 3)"
        raise ValueError(f"targets must have shape {shape}, got {tuple(t.shape)}")
    return t


class GeneratorEngine(ABC):
    """Renders a prepared source portrait from target landmarks."""

    name: ClassVar[str] = ""
    renders_filters: ClassVar[bool] = False
    """True when ``_render_batch`` already applies the CPU filters (the reference does)."""
    compiles_layers: ClassVar[bool] = False
    """True when the enabled layers are compiled in (a graph): a live toggle needs a rebuild."""

    def __init__(self, settings: EngineSettings | None = None):
        self.settings = (settings or EngineSettings()).validate()
        self.src: SourceTensors | None = None
        self._built: tuple[str, ...] | None = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """(works here, why not / what it runs on) — without preparing anything."""
        return True, "ok"

    def prepare(self, src: SourceTensors) -> None:
        """Take a new source portrait; everything per-source is (re)built here."""
        self.src = src
        self._prepare(src)
        self._built = src.stack.key(self.settings.generator)

    def _follow_layer_toggles(self) -> None:
        """Rebuild a compiled graph if a layer was switched on or off since it was built."""
        if not self.compiles_layers or self.src is None:
            return
        key = self.src.stack.key(self.settings.generator)
        if key != self._built:
            self._prepare(self.src)
            self._built = key

    def apply_filters(self, frame: np.ndarray, target: np.ndarray) -> None:
        """The CPU frame filters (colour match, sharpen), in place, as the settings say."""
        assert self.src is not None
        self.src.stack.apply_filters(frame, target, self.src, self.settings.generator)

    @abstractmethod
    def _prepare(self, src: SourceTensors) -> None: ...

    @abstractmethod
    def _render_batch(self, targets: np.ndarray) -> np.ndarray: ...

    def render_batch(self, targets: np.ndarray) -> np.ndarray:
        """B×478×3 target landmarks → B×H×W×C uint8 frames."""
        if self.src is None:
            raise RuntimeError(f"{type(self).__name__}.render_batch called before prepare()")
        t = check_targets(targets, batched=True)
        self._follow_layer_toggles()
        out = self._render_batch(t)
        if not self.renders_filters:
            for frame, target in zip(out, t, strict=True):
                self.apply_filters(frame, target)
        return out

    def render(self, target: np.ndarray) -> np.ndarray:
        """478×3 target landmarks → one H×W×C uint8 frame."""
        return self.render_batch(check_targets(target, batched=False)[None])[0]

    def render_stream(self, targets: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Frames for a sequence of targets, in order (GPU engines keep two in flight)."""
        for t in targets:
            yield self.render(t)

    def close(self) -> None:  # noqa: B027 - optional hook: most engines hold nothing to free
        """Free what the engine holds (GPU memory, sessions)."""

    def describe(self) -> str:
        """What this engine runs on, for logs and ``streamfx engines``."""
        return self.name


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
        from engines.opencv_engine import OpenCVEngine

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

    def render_batch(self, targets: np.ndarray) -> np.ndarray:
        # the active engine applies the CPU filters itself
        if self.src is None:
            raise RuntimeError("FallbackEngine.render_batch called before prepare()")
        t = check_targets(targets, batched=True)
        engine = self.active
        try:
            return engine.render_batch(t)
        except Exception as e:  # noqa: BLE001 - any engine failure falls back
            if engine is not self.primary:
                raise
            self._switch("rendering", e)
            return self.active.render_batch(t)

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

    def _render_batch(self, targets: np.ndarray) -> np.ndarray:  # pragma: no cover - unused
        return self.active.render_batch(targets)

    def close(self) -> None:
        self.active.close()
        if self.active is not self.primary:
            self.primary.close()

    def describe(self) -> str:
        if self.failure:
            return f"opencv (fell back from {self.primary.name}: {self.failure})"
        return self.primary.describe()
