"""The generator as an ordered stack of layers, run on any ops backend.

    motion (field) → warp → mouth (overlay) → eyelids → irises (overlays) → assemble
    → appearance layers (the driver's pixels: driver_mouth, detail) → colour filters

:meth:`LayerStack.run` is the per-frame generator every engine compiles: it calls it with
its own ops (NumPy/OpenCV per frame, the ONNX builder once per portrait, torch per batch).
:meth:`LayerStack.finish` then runs, for every engine alike, the appearance layers on the
reference ops over the finished frame and the frame filters.
The set of enabled layers (:meth:`LayerStack.key`) keys the compiled engines' graphs, so a
live toggle rebuilds exactly when it must. Frame filters run after, on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from streamfx.generator.appearance import DriverAppearance
from streamfx.generator.basics import SourceBasics
from streamfx.generator.layers import (
    ColourMatch,
    DetailLayer,
    DriverMouthLayer,
    EyelidLayer,
    Frame,
    FrameFilter,
    IrisLayer,
    Layer,
    MotionLayer,
    MouthLayer,
    Sharpen,
    WarpLayer,
)
from streamfx.generator.ops.base import Ops, Tensor
from streamfx.generator.settings import GeneratorSettings

KINDS = ("field", "warp", "overlay", "appearance")


class LayerStack:
    """Ordered layers (field layers, the warp, overlays) and the frame filters after them."""

    def __init__(self, layers: Sequence[Layer], filters: Sequence[FrameFilter] = ()):
        names = [x.name for x in layers] + [x.name for x in filters]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        kinds = [x.kind for x in layers]
        if kinds.count("warp") != 1 or kinds != sorted(kinds, key=KINDS.index):
            raise ValueError(f"a stack is field layers, one warp, overlays, then appearance layers; got {kinds}")
        self.layers = tuple(layers)
        self.filters = tuple(filters)

    @classmethod
    def default(cls) -> LayerStack:
        return cls([MotionLayer(), WarpLayer(), MouthLayer(), EyelidLayer(), IrisLayer(), DriverMouthLayer(), DetailLayer()],
                   [ColourMatch(), Sharpen()])

    def with_layers(self, *extra: Layer) -> LayerStack:
        """This stack with more overlay (or field) layers, each put after the last of its kind."""
        layers = list(self.layers)
        for x in extra:
            kinds = [y.kind for y in layers]
            at = max((i + 1 for i, k in enumerate(kinds) if KINDS.index(k) <= KINDS.index(x.kind)), default=0)
            layers.insert(at, x)
        return LayerStack(layers, self.filters)

    def __iter__(self) -> Iterator[Layer | FrameFilter]:
        return iter((*self.layers, *self.filters))

    # ---- which layers run --------------------------------------------------------------------
    def enabled(self, settings: GeneratorSettings) -> list[Layer]:
        return [x for x in self.layers if x.enabled(settings)]

    def compiled(self, settings: GeneratorSettings) -> list[Layer]:
        """The enabled layers an engine compiles (all but the appearance layers)."""
        return [x for x in self.enabled(settings) if x.kind != "appearance"]

    def key(self, settings: GeneratorSettings) -> tuple[str, ...]:
        """The compiled layers' names: what a graph depends on besides the portrait."""
        return tuple(x.name for x in self.compiled(settings))

    def wants_appearance(self, settings: GeneratorSettings) -> bool:
        """Whether any enabled layer reads the driver's image (else don't extract it)."""
        return any(x.kind == "appearance" for x in self.enabled(settings))

    def live_keys(self) -> frozenset[str]:
        """Settings that may change while running: the layers' switches and every filter setting."""
        return frozenset({x.switch for x in self.layers if x.switch} | {k for f in self.filters for k in f.settings})

    # ---- running -------------------------------------------------------------------------------
    def run(self, ops: Ops, src: SourceBasics, settings: GeneratorSettings, target: Tensor) -> Tensor:
        """The compiled layers on ``ops``: target landmarks in, the assembled frame(s) out."""
        frame = Frame(target=ops.landmarks(target), depth=ops.depths(target))
        for layer in self.compiled(settings):
            ops.set_stage(layer.stage)
            if layer.kind == "overlay" and frame.canvas is None:
                frame.canvas = ops.begin_overlays(frame.region)
            layer.apply(ops, src.consts[layer.name], frame)
        if frame.canvas is not None:
            frame.region = ops.end_overlays(frame.canvas, frame.region)
        ops.set_stage("assemble")
        return ops.assemble(frame.region)

    def finish(self, ops: Ops, out: np.ndarray, target: np.ndarray, src: SourceBasics,
               settings: GeneratorSettings, appearance: DriverAppearance | None = None) -> None:
        """After any engine, in place on one H×W×C uint8 frame: the enabled appearance layers
        (on ``ops``, the reference NumPy ops of ``src``), then the frame filters."""
        if appearance is not None:
            layers = [x for x in self.enabled(settings) if x.kind == "appearance"]
            if layers:
                x0, y0, x1, y1 = src.roi
                frame = Frame(target=ops.landmarks(target), canvas=out[y0:y1, x0:x1], appearance=appearance,
                              settings=settings)
                for layer in layers:
                    layer.apply(ops, src.consts[layer.name], frame)
        self.apply_filters(out, target, src, settings)

    def apply_filters(self, out: np.ndarray, target: np.ndarray, src: SourceBasics,
                      settings: GeneratorSettings) -> None:
        """The enabled frame filters, in place, on one H×W×C uint8 frame."""
        for f in self.filters:
            if f.enabled(settings):
                f.apply(out, target, src, src.consts[f.name], settings)
