"""``opencv``: the NumPy/OpenCV reference generator (streamfx.generator), the CPU default."""

from __future__ import annotations

import numpy as np

from engines.base import GeneratorEngine, check_targets
from streamfx.generator import SourceTensors


class OpenCVEngine(GeneratorEngine):
    name = "opencv"
    renders_filters = True  # the reference renders with the shared settings, filters included

    def _prepare(self, src: SourceTensors) -> None:
        pass  # the base class's WarpGenerator already holds the source

    def _render_batch(self, targets: np.ndarray) -> np.ndarray:
        return np.stack([self._post.render(t) for t in targets])

    def render(self, target: np.ndarray) -> np.ndarray:
        if self.src is None:
            raise RuntimeError("OpenCVEngine.render called before prepare()")
        return self._post.render(check_targets(target, batched=False))

    def describe(self) -> str:
        return "opencv (NumPy + OpenCV on the CPU)"
