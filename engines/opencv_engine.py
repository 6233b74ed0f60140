"""``opencv``: the NumPy/OpenCV reference generator (streamfx.generator), the CPU default."""

from __future__ import annotations

import numpy as np

from engines.base import GeneratorEngine
from streamfx.generator import SourceTensors, WarpGenerator


class OpenCVEngine(GeneratorEngine):
    name = "opencv"

    def _prepare(self, src: SourceTensors) -> None:
        # the reference renders with the shared settings, filters included
        self._gen = WarpGenerator(self.settings.generator)
        self._gen.src = src

    def render_batch(self, targets: np.ndarray) -> np.ndarray:
        if self.src is None:
            raise RuntimeError("OpenCVEngine.render_batch called before prepare()")
        return self._render_batch(np.asarray(targets, np.float32))

    def _render_batch(self, targets: np.ndarray) -> np.ndarray:
        return np.stack([self._gen.render(t) for t in targets])

    def render(self, target: np.ndarray) -> np.ndarray:
        if self.src is None:
            raise RuntimeError("OpenCVEngine.render called before prepare()")
        return self._gen.render(np.asarray(target, np.float32))

    def describe(self) -> str:
        return "opencv (NumPy + OpenCV on the CPU)"
