"""The driver's appearance: what appearance layers take from the driver's image each frame.

The generator proper is a function of target landmarks. Some of a face's motion cannot be
made from the portrait by warping — the inside of an opening mouth, creases that come and
go — and is taken from the driving video instead (Averbuch-Elor et al., "Bringing Portraits
to Life", ACM TOG 36(6), 2017). Each :class:`~streamfx.generator.layers.base.AppearanceLayer`
reduces a driver frame to small canonical patches (:func:`extract_appearance`), where the
driver is tracked; the patches of the driver's neutral (reference) frame travel with them.

The driver's look comes and goes with its face: while a lost face's pose is held the last
look is held with it, as the pose eases away the look fades out, and a face coming back
fades its look in as its pose blends in (``weight``, set by :class:`streamfx.animator.Animator`
from the retargeter's :attr:`~streamfx.retarget.MotionRetargeter.presence`). A look that
switched on or off in one frame would be a visible jump: an open driver mouth's dark
interior replacing the portrait's own teeth at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class DriverAppearance:
    """Per appearance layer (by name): its data for this driver frame and the reference frame."""

    current: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    weight: float = 1.0
    """How much of this look shows, 0 (none: the portrait's own) … 1 (all of it)."""

    def with_reference(self, reference: DriverAppearance | None, weight: float = 1.0) -> DriverAppearance:
        return DriverAppearance(self.current, None if reference is None else reference.current, weight)


def extract_appearance(layers: Iterable[Any], image: np.ndarray, landmarks: np.ndarray) -> DriverAppearance:
    """Every appearance layer's :meth:`extract` of one driver frame (RGB uint8, 478×3 landmarks)."""
    out = DriverAppearance()
    for layer in layers:
        if getattr(layer, "kind", None) == "appearance":  # an AppearanceLayer
            data = layer.extract(image, landmarks)
            if data is not None:
                out.current[layer.name] = data
    return out
