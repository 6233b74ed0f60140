"""The animation model: landmarks → dense motion field → warp of the whole portrait → layers.

The generator is an ordered stack of layers (:mod:`streamfx.generator.stack`):

  1. ``motion`` — the forward displacement on a coarse grid: a thin-plate spline on the
     face's landmarks and a head similarity beyond it, masked so background and body stay
     still and the hair (with a person matte) follows the head;
  2. ``warp`` — the field inverted by fixed-point iteration, resized to the region that can
     change, and the portrait remapped;
  3. ``mouth`` — a mouth interior where the lips part wider than the source's;
  4. ``eyelids`` — the source's own lids slid to the target's lid edges (the motion field
     keeps the eye region rigid), and the eye they uncover;
  5. ``irises`` — the source's irises moved to where the target looks;
  6. ``driver_mouth``, ``detail`` — from the driver's image: its mouth interior, and its creases
     as relative shading, on the finished frame;
  7. colour match and sharpening — optional filters on the finished frame.

Each layer prepares its per-source constants once (NumPy) and writes its per-frame step
once against a small ops interface (:mod:`streamfx.generator.ops`) that NumPy/OpenCV (the
reference, :class:`WarpGenerator`), the ONNX graph and torch all implement — see
docs/architecture.md. Importing this package imports no engine, and loads each name's module
only when that name is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamfx.generator.constants import FACE_MASK_SHAPE, MOUTH_FEATHER
    from streamfx.generator.geometry import falloff_mask, head_weight
    from streamfx.generator.layers import Frame, FrameFilter, Layer
    from streamfx.generator.reference import WarpGenerator
    from streamfx.generator.settings import GeneratorSettings
    from streamfx.generator.source import SourceTensors, prepare_source
    from streamfx.generator.stack import LayerStack

# The names below load their module on first use (PEP 562), so that importing a light module of
# this package (its settings, for the command line's options) does not load NumPy, OpenCV and
# every layer: ``streamfx --help`` stays instant.
_HOMES = {
    "FACE_MASK_SHAPE": "constants", "MOUTH_FEATHER": "constants",
    "falloff_mask": "geometry", "head_weight": "geometry",
    "Frame": "layers", "FrameFilter": "layers", "Layer": "layers",
    "WarpGenerator": "reference", "GeneratorSettings": "settings",
    "SourceTensors": "source", "prepare_source": "source", "LayerStack": "stack",
}

__all__ = ["FACE_MASK_SHAPE", "MOUTH_FEATHER", "Frame", "FrameFilter", "GeneratorSettings", "Layer",
           "LayerStack", "SourceTensors", "WarpGenerator", "falloff_mask", "head_weight",
           "prepare_source"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
