"""WarpGenerator: the layer stack on the NumPy/OpenCV ops — the reference every engine matches."""

from __future__ import annotations

import numpy as np

from streamfx.generator.appearance import DriverAppearance
from streamfx.generator.ops.numpy_ops import NumpyOps
from streamfx.generator.settings import GeneratorSettings
from streamfx.generator.source import SourceTensors, bound_target, prepare_source
from streamfx.generator.stack import LayerStack


class WarpGenerator:
    """Animates one prepared source portrait: target landmarks → full-resolution frame."""

    def __init__(self, settings: GeneratorSettings | None = None, stack: LayerStack | None = None):
        self.settings = (settings or GeneratorSettings()).validate()
        self.stack = stack
        self.src: SourceTensors | None = None
        self._ops: NumpyOps | None = None

    def prepare(self, image: np.ndarray, landmarks: np.ndarray, alpha: np.ndarray | None = None,
                person: np.ndarray | None = None) -> SourceTensors:
        self.src = prepare_source(image, landmarks, alpha, self.settings, person, stack=self.stack)
        return self.src

    def render(self, target: np.ndarray, appearance: DriverAppearance | None = None) -> np.ndarray:
        """The animated portrait (same size and channels as the prepared source image).

        ``appearance`` (from the driver's image, :mod:`streamfx.generator.appearance`) feeds the
        appearance layers; without it they draw nothing."""
        src = self.src
        if src is None:
            raise RuntimeError("WarpGenerator.render called before prepare()")
        if self._ops is None or self._ops.src is not src:  # ``src`` may also be assigned directly
            self._ops = NumpyOps(src)
        target = bound_target(src, target)
        out: np.ndarray = src.stack.run(self._ops, src, self.settings, target)
        src.stack.finish(self._ops, out, target, src, self.settings, appearance)
        return out

    def apply_filters(self, out: np.ndarray, target: np.ndarray) -> None:
        """The optional CPU post-processing, in place: colour match, then sharpening."""
        if self.src is None:
            raise RuntimeError("WarpGenerator.apply_filters called before prepare()")
        self.src.stack.apply_filters(out, target, self.src, self.settings)
