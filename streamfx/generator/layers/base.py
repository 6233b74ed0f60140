"""What a generator layer is: a settings block, a per-source ``prepare``, a per-frame ``apply``.

A :class:`Layer` is compiled into every engine: its ``apply`` is written once against
:class:`~streamfx.generator.ops.base.Ops` and runs on NumPy/OpenCV, in the ONNX graph
(hence TensorRT) and on torch alike. It reads and writes the :class:`Frame` it is given:

* ``field`` layers work on the forward motion field on the coarse grid (``displacement``);
* the ``warp`` turns the field into the warped region of interest (``region``);
* ``overlay`` layers composite onto the region's colour (``canvas``) inside windows;
* ``appearance`` layers (:class:`AppearanceLayer`) bring in what only the driver's *image*
  has — its mouth interior, its creases. Their :meth:`~AppearanceLayer.extract` runs on each
  driver frame (small canonical patches, on the CPU, where the driver is tracked); their
  ``apply`` is written against the same ops but runs on the reference ops over the finished
  frame, after any engine: the compiled graphs take target landmarks only.

A :class:`FrameFilter` runs on the finished frame, in NumPy, after any engine (colour
match, sharpening: optional, and their statistics over a landmark-dependent box gain
nothing from a graph).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from streamfx.generator.basics import SourceBasics
from streamfx.generator.ops.base import Ops, Tensor
from streamfx.generator.settings import GeneratorSettings

if TYPE_CHECKING:
    from streamfx.generator.appearance import DriverAppearance


@dataclass
class Frame:
    """The per-frame values layers hand on, in the order the stack runs them."""

    target: Tensor
    """``B×478×2`` target landmarks, source pixels."""
    depth: Tensor = None
    """``B×478×1`` the target landmarks' depths (z, source pixels; the motion reads a turn from them)."""
    displacement: Tensor = None
    """``B×G×2`` forward motion on the source's coarse grid (field layers)."""
    region: Tensor = None
    """The warped region of interest (the warp)."""
    canvas: Tensor = None
    """The region's colour, which overlay layers composite onto."""
    appearance: DriverAppearance | None = None
    """What appearance layers extracted from the driver's image (None: no image this frame)."""
    settings: GeneratorSettings | None = None
    """The generator's settings, for appearance layers' live values (e.g. ``detail``); compiled
    layers never read it (a graph depends only on the enabled set)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Per-frame values one layer works out for the layers after it, by key (the eye layers share
    each eye's frame and lid edges), so that no step is computed twice."""


class Layer(ABC):
    """One step of the generator, compiled into every engine."""

    name: ClassVar[str]
    """Unique in a stack: the key of its prepared constants and of engines' graph caches."""
    kind: ClassVar[Literal["field", "warp", "overlay", "appearance"]] = "overlay"
    stage: ClassVar[str] = "layers"
    """Graph node-name prefix. TensorRT may run ``layers/`` in FP16 (colour maths, not geometry)."""
    switch: ClassVar[str | None] = None
    """The :class:`GeneratorSettings` flag that turns it on and off (live), or None: always on."""
    settings: ClassVar[tuple[str, ...]] = ()
    """Its block of :class:`GeneratorSettings` fields (the switch included)."""

    def enabled(self, settings: GeneratorSettings) -> bool:
        return self.switch is None or bool(getattr(settings, self.switch))

    def prepare(self, src: SourceBasics) -> Any:
        """Everything per source (NumPy, once); handed back to :meth:`apply` as ``consts``."""
        return None

    @abstractmethod
    def apply(self, ops: Ops, consts: Any, frame: Frame) -> None:
        """One frame (or batch): read and update ``frame`` through ``ops`` only."""


class AppearanceLayer(Layer):
    """A layer that needs the driver's pixels, not only its landmarks.

    ``extract`` reduces one driver frame to what ``apply`` needs (canonical patches a few
    kilobytes big, so a renderer can track ahead without keeping frames); ``apply`` reads it
    as ``frame.appearance.current[self.name]`` (and the driver's neutral frame's as
    ``frame.appearance.reference[self.name]``) and draws with the ops, over the finished frame.
    """

    kind = "appearance"

    @abstractmethod
    def extract(self, image: np.ndarray, landmarks: np.ndarray) -> Any:
        """One driver frame (H×W×3 RGB uint8, its 478×3 landmarks in its pixels) → this layer's
        per-frame data, or None when this frame has nothing usable."""


class FrameFilter(ABC):
    """Post-processing of the finished frame on the CPU (after any engine)."""

    name: ClassVar[str]
    settings: ClassVar[tuple[str, ...]] = ()
    """Its :class:`GeneratorSettings` fields; all may change live."""

    @abstractmethod
    def enabled(self, settings: GeneratorSettings) -> bool: ...

    def prepare(self, src: SourceBasics) -> Any:
        return None

    @abstractmethod
    def apply(self, out: np.ndarray, target: np.ndarray, src: SourceBasics, consts: Any,
              settings: GeneratorSettings) -> None:
        """Filter ``out`` (H×W×C uint8) in place; ``target`` is its 478×3 landmarks."""
