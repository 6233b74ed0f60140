"""``opencv``: the layer stack on the NumPy/OpenCV ops (the reference), the CPU default."""

from __future__ import annotations

import numpy as np

from engines.base import GeneratorEngine, check_targets
from streamfx.generator import SourceTensors, WarpGenerator


class OpenCVEngine(GeneratorEngine):
    name = "opencv"
    renders_filters = True  # the reference renders with the shared settings, filters included

    def _prepare(self, src: SourceTensors) -> None:
        self._gen = WarpGenerator(self.settings.generator)
        self._gen.src = src

    def _render_batch(self, targets: np.ndarray) -> np.ndarray:
        return np.stack([self._gen.render(t) for t in targets])

    def render(self, target: np.ndarray) -> np.ndarray:
        if self.src is None:
            raise RuntimeError("OpenCVEngine.render called before prepare()")
        return self._gen.render(check_targets(target, batched=False))

    def describe(self) -> str:
        return "opencv (NumPy + OpenCV on the CPU)"
