"""A prepared source portrait: the basics every layer shares, and each layer's own constants.

:func:`prepare_source` runs once per portrait. It finds the region that can change (where
the motion mask is non-zero, grown by the largest shift), lays the coarse motion grid over
it, then asks every layer of the stack for its per-source constants (``Layer.prepare``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    GRID_CELLS,
    MAX_SHIFT,
    MOTION_BOUND,
    NECK_LONGEST,
    ROI_MARGIN,
)
from streamfx.generator.geometry import bounded_motion, head_weight
from streamfx.generator.head import head_layer, pixel_points
from streamfx.generator.settings import GeneratorSettings
from streamfx.generator.stack import LayerStack


@dataclass
class SourceTensors(SourceBasics):
    """Everything the per-frame generator needs that depends only on the source portrait."""

    stack: LayerStack = field(default_factory=LayerStack.default)
    """The layers this source was prepared for (engines run this stack)."""


def prepare_source(image: np.ndarray, landmarks: np.ndarray, alpha: np.ndarray | None = None,
                   settings: GeneratorSettings | None = None, person: np.ndarray | None = None,
                   *, stack: LayerStack | None = None) -> SourceTensors:
    """Precompute everything that depends only on the source portrait.

    ``alpha`` (H×W uint8) is carried into the output as a fourth channel; ``person`` (H×W
    uint8, e.g. :func:`streamfx.matte.person_matte`) cuts the head layer out (face, hair, ears —
    without it an ellipse around the face moves);
    ``stack`` (default :meth:`LayerStack.default`) names the layers to prepare.
    Raises InputError if the face is too small to animate.
    """
    st = settings or GeneratorSettings()
    h, w = image.shape[:2]
    lm = landmarks.astype(np.float32)
    if alpha is not None:
        image = np.dstack([image[..., :3], alpha.astype(np.uint8)])
    io = L.interocular(lm)
    if io < 4:
        raise InputError("the face in the source portrait is too small to animate (eyes < 4 px apart) — use a larger image or crop closer")

    head = head_layer(image, lm, person)
    # the region that can change: what of the head layer moves, grown by the largest shift
    max_shift = MAX_SHIFT * io
    coarse_pts = pixel_points(h, w, ROI_MARGIN)
    moving = coarse_pts[head.moving[::ROI_MARGIN, ::ROI_MARGIN].ravel()]
    if len(moving) == 0:  # nothing of the layer moves: the head zone itself
        moving = coarse_pts[head_weight(lm, coarse_pts, NECK_LONGEST) > 0]
    x0, y0 = np.maximum(moving.min(axis=0) - max_shift - ROI_MARGIN, 0).astype(int)
    x1, y1 = (np.minimum(moving.max(axis=0) + max_shift + ROI_MARGIN, [w, h])).astype(int)
    rw, rh = int(x1 - x0), int(y1 - y0)
    gw = int(np.clip(round(rw / st.grid_step), *GRID_CELLS))
    gh = int(np.clip(round(rh / st.grid_step), *GRID_CELLS))
    # coarse sample j sits where cv2.resize (half-pixel centres) puts it when upsampling
    gx = x0 + (np.arange(gw) + 0.5) * (rw / gw) - 0.5
    gy = y0 + (np.arange(gh) + 0.5) * (rh / gh) - 0.5
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).astype(np.float32)
    src = SourceTensors(image=np.ascontiguousarray(image), landmarks=lm, roi=(int(x0), int(y0), int(x1), int(y1)),
                        grid=grid, max_shift=max_shift, layer=head.layer, plate=head.plate, stack=stack or LayerStack.default())
    for layer in src.stack:
        src.consts[layer.name] = layer.prepare(src)
    return src


def bound_target(src: SourceBasics, target: np.ndarray) -> np.ndarray:
    """``target`` (478×3 or B×478×3, source pixels) with no landmark further than
    ``MOTION_BOUND × max_shift`` from the source's (:func:`~streamfx.generator.geometry.bounded_motion`);
    every engine renders from the bounded target, so the warp and the features drawn at the
    landmarks agree however far the driver goes."""
    return bounded_motion(src.landmarks, target, MOTION_BOUND * src.max_shift)

