"""``opencv``: the layer stack on the NumPy/OpenCV ops (the reference), the CPU default."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engines.base import GeneratorEngine, check_targets
from streamfx.generator import SourceTensors, WarpGenerator
from streamfx.generator.appearance import DriverAppearance


class OpenCVEngine(GeneratorEngine):
    name = "opencv"
    renders_filters = True  # the reference renders with the shared settings, filters included

    def _prepare(self, src: SourceTensors) -> None:
        self._gen = WarpGenerator(self.settings.generator)
        self._gen.src = src

    def _render_batch(self, targets: np.ndarray, appearance: Sequence[DriverAppearance | None] = ()) -> np.ndarray:
        looks = list(appearance) or [None] * len(targets)
        return np.stack([self._gen.render(t, a) for t, a in zip(targets, looks, strict=True)])

    def render(self, target: np.ndarray, appearance: DriverAppearance | None = None) -> np.ndarray:
        if self.src is None:
            raise RuntimeError("OpenCVEngine.render called before prepare()")
        return self._gen.render(check_targets(target, batched=False), appearance)

    def describe(self) -> str:
        return "opencv (NumPy + OpenCV on the CPU)"
