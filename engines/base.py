"""The generator-engine interface (its settings are :class:`streamfx.settings.EngineSettings`).

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

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import numpy as np

from streamfx.generator import SourceTensors
from streamfx.generator.appearance import DriverAppearance
from streamfx.generator.ops.numpy_ops import NumpyOps
from streamfx.generator.source import bound_target
from streamfx.settings import EngineSettings

__all__ = ["EngineSettings", "GeneratorEngine", "check_targets"]


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
        self._cpu_ops: NumpyOps | None = None

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

    def apply_filters(self, frame: np.ndarray, target: np.ndarray, appearance: DriverAppearance | None = None) -> None:
        """After the engine, in place on the CPU: the appearance layers (the driver's pixels, on
        the reference ops) and the frame filters (colour match, sharpen), as the settings say."""
        src = self.src
        assert src is not None
        if self._cpu_ops is None or self._cpu_ops.src is not src:
            self._cpu_ops = NumpyOps(src)
        src.stack.finish(self._cpu_ops, frame, target, src, self.settings.generator, appearance)

    @abstractmethod
    def _prepare(self, src: SourceTensors) -> None: ...

    @abstractmethod
    def _render_batch(self, targets: np.ndarray, appearance: Sequence[DriverAppearance | None] = ()) -> np.ndarray:
        """The frames; engines that ``renders_filters`` are given the appearances and finish
        the frames themselves, the others' frames are finished by :meth:`render_batch`."""

    def render_batch(self, targets: np.ndarray,
                     appearance: Sequence[DriverAppearance | None] | None = None) -> np.ndarray:
        """B×478×3 target landmarks → B×H×W×C uint8 frames; ``appearance`` (one per frame, from
        the driver's images) feeds the appearance layers."""
        if self.src is None:
            raise RuntimeError(f"{type(self).__name__}.render_batch called before prepare()")
        t = bound_target(self.src, check_targets(targets, batched=True))
        looks = list(appearance) if appearance is not None else [None] * len(t)
        if len(looks) != len(t):
            raise ValueError(f"{len(looks)} appearances for {len(t)} targets")
        self._follow_layer_toggles()
        out = self._render_batch(t, looks) if self.renders_filters else self._render_batch(t)
        if not self.renders_filters:
            for frame, target, look in zip(out, t, looks, strict=True):
                self.apply_filters(frame, target, look)
        return out

    def render(self, target: np.ndarray, appearance: DriverAppearance | None = None) -> np.ndarray:
        """478×3 target landmarks → one H×W×C uint8 frame."""
        return self.render_batch(check_targets(target, batched=False)[None], [appearance])[0]

    def render_stream(self, targets: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Frames for a sequence of targets, in order (GPU engines keep two in flight)."""
        for t in targets:
            yield self.render(t)

    def close(self) -> None:  # noqa: B027 - optional hook: most engines hold nothing to free
        """Free what the engine holds (GPU memory, sessions)."""

    def describe(self) -> str:
        """What this engine runs on, for logs and ``streamfx engines``."""
        return self.name
