"""The ops interface every generator layer's per-frame ``apply`` is written against.

A layer says *what* to compute — elementwise maths, clip/where, gathers, reductions, a
windowed region, resize, a fixed-point remap — and an :class:`Ops` backend says *how*:

* :class:`~streamfx.generator.ops.numpy_ops.NumpyOps` — the reference: NumPy, one frame
  at a time, with OpenCV's fast paths (``cv2.resize``, ``cv2.remap``) and windows cropped
  to their box;
* the ONNX builder (``engines.onnx_graph.OnnxOps``) — every call adds graph nodes;
* torch (``engines.torch_ops.TorchOps``) — the same maths on tensors, for CUDA graphs.

Values are opaque to layers (an array, a graph value name, a tensor). Two shapes matter:
a *per-frame scalar* (a landmark coordinate, a width; ``B×1×1`` in the batched backends)
and a *per-pixel map* over a window (its layout is the backend's business). Numbers enter
only through :meth:`Ops.f` (float32) and :meth:`Ops.i` (int64), so every backend computes
in float32 exactly as the graph does.

:class:`StaticShapeOps` implements the windowed region, resize and remap with the
primitives, over the whole region of interest at a fixed shape (windows become masks):
the form that compiles (ONNX, TensorRT, CUDA graphs). The resize and remap reproduce
OpenCV's to the bit (``cv2.resize`` INTER_LINEAR on float32; ``cv2.remap`` INTER_LINEAR +
BORDER_REPLICATE on uint8, 1/32-pixel fixed point), so every backend matches the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamfx.generator.basics import SourceBasics

Tensor = Any
"""A backend's value: an ndarray (NumPy), a graph value name (ONNX), a tensor (torch)."""

REMAP_BITS = 5
"""cv2.remap's INTER_BITS: map coordinates are rounded to 1/32 pixel."""
REMAP_SCALE = 1 << REMAP_BITS
REMAP_ROUND = 1 << (2 * REMAP_BITS - 1)  # half of the weights' product, 32 · 32
REMAP_SHIFT = 1.0 / (1 << (2 * REMAP_BITS))


@dataclass
class Window:
    """Where a layer draws: the x and y of each pixel in it, and (graph backends) its box mask.

    ``mask`` (float, 1 inside the box) and ``inside`` (bool) are None when every pixel of
    the window counts — the NumPy backend crops instead of masking. ``crop`` is the
    NumPy backend's box in canvas pixels (x0, y0, x1, y1).
    """

    xs: Tensor
    ys: Tensor
    mask: Tensor | None = None
    inside: Tensor | None = None
    crop: tuple[int, int, int, int] | None = None


class Ops(ABC):
    """The operations a layer may use. Broadcasting follows NumPy's (and ONNX's) rules."""

    def __init__(self, src: SourceBasics):
        self.src = src

    def set_stage(self, name: str) -> None:  # noqa: B027 - only graph builders record stages
        """Name the stage the next operations belong to (ONNX node names carry it)."""

    # ---- numbers and per-source constants ----------------------------------------------------
    @abstractmethod
    def f(self, x: float) -> Tensor:
        """A float32 constant."""

    @abstractmethod
    def i(self, x: int) -> Tensor:
        """An int64 constant."""

    @abstractmethod
    def const(self, a: np.ndarray, hint: str = "c") -> Tensor:
        """A per-source array (its dtype kept; float64 becomes float32)."""

    @abstractmethod
    def rgb(self, colour: np.ndarray) -> Tensor:
        """A colour (3 values) that broadcasts over the channels of a per-pixel map."""

    # ---- elementwise ---------------------------------------------------------------------------
    @abstractmethod
    def add(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def sub(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def mul(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def div(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def minimum(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def maximum(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def neg(self, x: Tensor) -> Tensor: ...
    @abstractmethod
    def abs(self, x: Tensor) -> Tensor: ...
    @abstractmethod
    def sqrt(self, x: Tensor) -> Tensor: ...
    @abstractmethod
    def floor(self, x: Tensor) -> Tensor: ...
    @abstractmethod
    def ceil(self, x: Tensor) -> Tensor: ...
    @abstractmethod
    def round(self, x: Tensor) -> Tensor:
        """Round half to even (as cvRound and ONNX's Round)."""
    @abstractmethod
    def trunc(self, x: Tensor) -> Tensor:
        """Towards zero (Python's int())."""
    @abstractmethod
    def clip(self, x: Tensor, lo: float, hi: float) -> Tensor: ...
    @abstractmethod
    def clip_int(self, x: Tensor, lo: int, hi: int) -> Tensor: ...
    @abstractmethod
    def gt(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def lt(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def ge(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def logical_and(self, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def where(self, cond: Tensor, a: Tensor, b: Tensor) -> Tensor: ...
    @abstractmethod
    def to_float(self, x: Tensor) -> Tensor: ...
    @abstractmethod
    def to_int(self, x: Tensor) -> Tensor:
        """float → int64 (values are whole already)."""

    def clip01(self, x: Tensor) -> Tensor:
        return self.clip(x, 0.0, 1.0)

    # ---- gathers, reductions, layout -------------------------------------------------------
    @abstractmethod
    def gather(self, x: Tensor, idx: Tensor, axis: int) -> Tensor:
        """ONNX Gather: ``x`` indexed along ``axis`` by ``idx`` (its shape replaces that axis)."""
    @abstractmethod
    def reduce_sum(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        """Sum over ``axes``, keeping them (size 1); likewise min and max."""
    @abstractmethod
    def reduce_min(self, x: Tensor, axes: Sequence[int]) -> Tensor: ...
    @abstractmethod
    def reduce_max(self, x: Tensor, axes: Sequence[int]) -> Tensor: ...
    @abstractmethod
    def slice(self, x: Tensor, start: int, end: int, axis: int = -1) -> Tensor: ...
    @abstractmethod
    def reshape(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        """ONNX Reshape: 0 keeps that axis' size, −1 is inferred."""
    @abstractmethod
    def transpose(self, x: Tensor, perm: Sequence[int]) -> Tensor: ...
    @abstractmethod
    def squeeze(self, x: Tensor, axis: int) -> Tensor: ...
    @abstractmethod
    def matmul(self, a: Tensor, b: Tensor) -> Tensor: ...

    # ---- the frame -------------------------------------------------------------------------
    @abstractmethod
    def landmarks(self, target: Tensor) -> Tensor:
        """The frame's input as ``B×478×2`` target landmarks (x, y; z dropped)."""

    def depths(self, target: Tensor) -> Tensor:
        """The frame's input's depths as ``B×478×1`` (z of the target landmarks); after
        :meth:`landmarks`."""
        return self.slice(target, 2, 3)

    def per_frame(self, x: Tensor) -> Tensor:
        """A per-frame scalar (``B×1×1``) in the form this backend computes with fastest; the
        same values. Graph backends keep the tensor."""
        return x

    @abstractmethod
    def batch_offsets(self, n: int) -> Tensor:
        """``B×1×1`` int64: ``b · n`` for each frame b of the batch (to index flattened data)."""

    def point(self, target: Tensor, index: int) -> tuple[Tensor, Tensor]:
        """Landmark ``index`` of each frame as two per-frame scalars, x and y."""
        p = self.gather(target, self.const(np.array([index], np.int64)), axis=1)  # B×1×2
        return self.slice(p, 0, 1), self.slice(p, 1, 2)

    @abstractmethod
    def upsample(self, coarse: Tensor) -> Tensor:
        """Coarse backward offsets (``B×gh×gw×2`` on the source's grid) resized to the region of
        interest as ``cv2.resize`` INTER_LINEAR does, plus each pixel's own coordinates: the map."""

    @abstractmethod
    def remap(self, mapping: Tensor) -> Tensor:
        """The source image sampled at the map (``cv2.remap`` INTER_LINEAR, BORDER_REPLICATE)."""

    @abstractmethod
    def remap_layer(self, mapping: Tensor) -> Tensor:
        """The head layer (``src.layer``: premultiplied colour and transparency) sampled at the
        map as :meth:`remap` samples the portrait."""

    @abstractmethod
    def over_plate(self, layer: Tensor) -> Tensor:
        """A sampled head layer over the still background plate (``src.plate``) of the region,
        in whole levels: ``min(colour + round(t · plate / 255), 255)`` — the warped region, as
        :meth:`remap` gives it (the portrait exactly where the map is the identity)."""

    @abstractmethod
    def source_at(self, win: Window, x: Tensor, y: Tensor) -> Tensor:
        """The portrait's colour sampled at per-pixel source coordinates ``x``, ``y`` over the
        window, as :meth:`remap` samples (whole values 0…255): a colour map. Layers use it to
        move parts of the portrait rigidly — teeth with the jaw, irises with the gaze."""

    @abstractmethod
    def sample(self, win: Window, image: np.ndarray, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """An RGBA image (``h×w×4`` uint8: a per-source sprite, e.g. the source's teeth with their
        matte; on the reference ops, an appearance layer's per-frame patch) sampled at per-pixel
        coordinates ``x``, ``y`` of that image as :meth:`remap` samples (edges replicated): its
        colour map (whole values 0…255) and its alpha as a per-pixel map in 0…1."""

    @abstractmethod
    def shade(self, canvas: Tensor, win: Window, factor: Tensor) -> Tensor:
        """The canvas's colour times a per-pixel ``factor`` inside the window, rounded to whole
        values and clipped to 0…255: shading (a ratio image) that keeps the colour. Where the
        factor is 1 the canvas stays exactly as it is."""

    # Appearance layers only (they run on the reference ops, see layers/base.py): sampling
    # what the driver's image gave this frame, which no compiled graph takes as an input.
    def inverse_at(self, win: Window, forward: Tensor, size: tuple[int, int], cells: int,
                   iterations: int) -> tuple[Tensor, Tensor]:
        """Where each pixel of the window comes from in a w×h texture (``size``), given where
        the texture goes: ``forward`` (``B×(gh·gw)×2``, gh = gw = ``cells``) holds the frame
        position of each node of the texture's coarse grid (the points ``cv2.resize``
        samples). The inverse by fixed-point iteration from the map's affine fit, on ``cells``²
        nodes over the window and interpolated between: two per-pixel maps of texture pixels.
        Runs on the reference ops only (appearance layers)."""
        raise NotImplementedError("inverse_at runs on the reference ops (appearance layers)")

    def texture_at(self, win: Window, texture: np.ndarray, x: Tensor, y: Tensor) -> Tensor:
        """A per-frame texture (h×w float32, e.g. a canonical patch of the driver's image)
        sampled bilinearly at per-pixel texture coordinates over the window, 0 outside it: a
        per-pixel map. Runs on the reference ops only (appearance layers)."""
        raise NotImplementedError("texture_at runs on the reference ops (appearance layers)")

    @abstractmethod
    def begin_overlays(self, region: Tensor) -> Tensor:
        """The canvas overlay layers composite onto: the warped region's colour channels."""

    @abstractmethod
    def end_overlays(self, canvas: Tensor, region: Tensor) -> Tensor:
        """The region again, with the composited canvas (and the warped alpha, if any)."""

    @abstractmethod
    def assemble(self, region: Tensor) -> Tensor:
        """The output frame(s): the region put back into the still rest of the portrait."""

    @abstractmethod
    def window(self, canvas: Tensor, box: tuple[Tensor, Tensor, Tensor, Tensor] | None) -> Window:
        """The pixels of the canvas in ``box`` = (x0, y0, x1, y1), per-frame scalars of whole
        source pixels, end exclusive (clipped to the canvas); None: the whole canvas."""

    @abstractmethod
    def window_max(self, win: Window, x: Tensor, fill: float) -> Tensor:
        """Per-frame maximum of a per-pixel map over the window (``fill`` for an empty one)."""

    @abstractmethod
    def window_min(self, win: Window, x: Tensor, fill: float) -> Tensor: ...

    @abstractmethod
    def composite(self, canvas: Tensor, win: Window, colour: Tensor, cover: Tensor) -> Tensor:
        """``floor(clip(canvas·(1−a) + colour·a + 0.5, 0, 255))`` inside the window, a = cover."""


@dataclass(frozen=True)
class GraphConstants:
    """Per-source arrays the static-shape backends need, built one way so that each
    reproduces OpenCV's resize and remap to the bit."""

    taps_x: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # cv2.resize taps, weights
    taps_y: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    pixels: np.ndarray  # 2×rh×rw pixel coordinates of the region
    planes: np.ndarray  # C×(H·W) the portrait, planar
    layer_planes: np.ndarray  # (C+1)×(H·W) the head layer, planar
    plate: np.ndarray  # C×1×rh×rw uint8 the background plate over the region
    xs: np.ndarray  # 1×rh×rw x of each region pixel (for the layers' windows)
    ys: np.ndarray

    @classmethod
    def of(cls, src: SourceBasics) -> GraphConstants:
        h, w = src.image.shape[:2]
        x0, y0, x1, y1 = src.roi
        gh, gw = src.grid_shape
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        return cls(
            taps_x=resize_taps(x1 - x0, gw, clamp_weights=True),
            taps_y=resize_taps(y1 - y0, gh, clamp_weights=False),
            pixels=np.ascontiguousarray(np.stack([xs, ys])),
            planes=np.ascontiguousarray(src.image.reshape(h * w, src.image.shape[2]).T),
            layer_planes=np.ascontiguousarray(src.layer.reshape(h * w, src.layer.shape[2]).T),
            plate=np.ascontiguousarray(src.plate[y0:y1, x0:x1].transpose(2, 0, 1)[:, None]),
            xs=xs[None], ys=ys[None],
        )


def resize_taps(dst: int, src: int, clamp_weights: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source taps and weights of cv2.resize INTER_LINEAR (float32 data) along one axis.

    OpenCV computes ``f = (d + 0.5) · (src/dst) − 0.5`` in double, rounds it to float and
    splits it into ``floor`` and fraction. Horizontally, taps left of 0 or past the end get
    weight (1, 0); vertically the fraction is kept and only the row index is clamped.
    """
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    frac = (f - s).astype(np.float32)
    if clamp_weights:
        lo, hi = s < 0, s >= src - 1
        frac[lo], s[lo] = 0.0, 0
        frac[hi], s[hi] = 0.0, src - 1
    w0 = (np.float32(1.0) - frac).astype(np.float32)
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), w0, frac


class OperatorMaths:
    """add, sub, mul, div and neg by Python's operators: what NumPy arrays and torch
    tensors both overload (the ONNX builder adds nodes instead)."""

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b

    def sub(self, a: Tensor, b: Tensor) -> Tensor:
        return a - b

    def mul(self, a: Tensor, b: Tensor) -> Tensor:
        return a * b

    def div(self, a: Tensor, b: Tensor) -> Tensor:
        return a / b

    def neg(self, x: Tensor) -> Tensor:
        return -x


class StaticShapeOps(Ops):
    """Windows, resize, remap and compositing at the region's fixed shape, from the primitives.

    Layout: per-frame scalars ``B×1×1``; per-pixel maps ``B×rh×rw``; colours ``3×B×rh×rw``
    (channels outermost: ONNX Runtime broadcasts a per-pixel weight over channels quickly
    only then); the region ``C×B×rh×rw`` as whole-valued floats until :meth:`assemble`.
    """

    def __init__(self, src: SourceBasics):
        super().__init__(src)
        self.k = GraphConstants.of(src)
        self._coords: tuple[Tensor, Tensor] | None = None
        self._planes: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def rgb(self, colour: np.ndarray) -> Tensor:
        return self.const(np.asarray(colour, np.float32).reshape(3, 1, 1, 1))

    def upsample(self, coarse: Tensor) -> Tensor:
        # horizontal pass, then vertical; planar from here on (B×2×rh×rw)
        rh = self.k.pixels.shape[1]
        c = self.transpose(coarse, (0, 3, 1, 2))  # B×2×gh×gw
        xa, xb, wa, wb = self.k.taps_x
        ya, yb, va, vb = self.k.taps_y
        hor = self.add(self.mul(self.gather(c, self.const(xa, "rs_x0"), 3), self.const(wa, "rs_wx0")),
                       self.mul(self.gather(c, self.const(xb, "rs_x1"), 3), self.const(wb, "rs_wx1")))
        full = self.add(self.mul(self.gather(hor, self.const(ya, "rs_y0"), 2), self.const(va.reshape(rh, 1), "rs_wy0")),
                        self.mul(self.gather(hor, self.const(yb, "rs_y1"), 2), self.const(vb.reshape(rh, 1), "rs_wy1")))
        return self.add(full, self.const(self.k.pixels, "pixels"))  # B×2×rh×rw

    def remap(self, mapping: Tensor) -> Tensor:
        x = self.squeeze(self.slice(mapping, 0, 1, axis=1), 1)  # B×rh×rw
        y = self.squeeze(self.slice(mapping, 1, 2, axis=1), 1)
        return self._sample(x, y)

    def remap_layer(self, mapping: Tensor) -> Tensor:
        x = self.squeeze(self.slice(mapping, 0, 1, axis=1), 1)  # B×rh×rw
        y = self.squeeze(self.slice(mapping, 1, 2, axis=1), 1)
        return self._sample(x, y, self.k.layer_planes, hint="layer")

    def over_plate(self, layer: Tensor) -> Tensor:
        c = self.k.plate.shape[0]
        colour, clear = self.slice(layer, 0, c, axis=0), self.slice(layer, c, c + 1, axis=0)
        plate = self.to_float(self.const(self.k.plate, "plate"))  # C×1×rh×rw
        # t · p / 255 never ends in exactly ½ (255 is odd), so floor(x + ½) is OpenCV's rounding;
        # the margin (≥ 1/510) dwarfs float32's error on values below 256
        share = self.floor(self.div(self.add(self.mul(clear, plate), self.f(127.5)), self.f(255.0)))
        return self.minimum(self.add(colour, share), self.f(255.0))

    def source_at(self, win: Window, x: Tensor, y: Tensor) -> Tensor:
        return self.slice(self._sample(x, y), 0, 3, axis=0)

    def sample(self, win: Window, image: np.ndarray, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        hit = self._planes.get(id(image))
        if hit is None:  # planar once per array (torch keys its constants by memory)
            h, w, c = image.shape
            hit = self._planes[id(image)] = (image, np.ascontiguousarray(image.reshape(h * w, c).T))
        s = self._sample(x, y, hit[1], (image.shape[0], image.shape[1]))
        alpha = self.mul(self.squeeze(self.slice(s, 3, 4, axis=0), 0), self.f(1.0 / 255.0))
        return self.slice(s, 0, 3, axis=0), alpha

    def _sample(self, x: Tensor, y: Tensor, planes: np.ndarray | None = None,
                size: tuple[int, int] | None = None, hint: str = "image") -> Tensor:
        """The portrait (or ``planes``, ``C×(h·w)`` of an image of ``size``) at per-pixel maps x, y:
        ``C×B×rh×rw`` whole-valued floats.

        Coordinates rounded half-to-even to 1/32 px, integer weights, four gathered taps,
        floor((Σ w·p + 512) / 1024): what OpenCV's 15-bit fixed point reduces to."""
        h, w = size or self.src.image.shape[:2]
        fixed_x = self.round(self.mul(x, self.f(REMAP_SCALE)))
        fixed_y = self.round(self.mul(y, self.f(REMAP_SCALE)))
        whole_x = self.floor(self.mul(fixed_x, self.f(1.0 / REMAP_SCALE)))
        whole_y = self.floor(self.mul(fixed_y, self.f(1.0 / REMAP_SCALE)))
        fx = self.sub(fixed_x, self.mul(whole_x, self.f(REMAP_SCALE)))  # 0…31
        fy = self.sub(fixed_y, self.mul(whole_y, self.f(REMAP_SCALE)))
        ix, iy = self.to_int(whole_x), self.to_int(whole_y)
        x_a = self.clip_int(ix, 0, w - 1)
        x_b = self.clip_int(self.add(ix, self.i(1)), 0, w - 1)
        y_a = self.mul(self.clip_int(iy, 0, h - 1), self.i(w))
        y_b = self.mul(self.clip_int(self.add(iy, self.i(1)), 0, h - 1), self.i(w))
        planes = self.const(self.k.planes if planes is None else planes, hint)  # C×(H·W)

        def pix(yy: Tensor, xx: Tensor) -> Tensor:  # C×B×rh×rw
            return self.to_float(self.gather(planes, self.add(yy, xx), 1))

        p00, p01, p10, p11 = pix(y_a, x_a), pix(y_a, x_b), pix(y_b, x_a), pix(y_b, x_b)
        wx0, wy0 = self.sub(self.f(REMAP_SCALE), fx), self.sub(self.f(REMAP_SCALE), fy)
        acc = self.add(self.mul(self.add(self.mul(p00, wx0), self.mul(p01, fx)), wy0),
                       self.mul(self.add(self.mul(p10, wx0), self.mul(p11, fx)), fy))
        return self.floor(self.mul(self.add(acc, self.f(REMAP_ROUND)), self.f(REMAP_SHIFT)))

    def begin_overlays(self, region: Tensor) -> Tensor:
        return self.slice(region, 0, 3, axis=0) if self.src.image.shape[2] == 4 else region

    def shade(self, canvas: Tensor, win: Window, factor: Tensor) -> Tensor:
        if win.mask is not None:  # 1 outside the box
            factor = self.add(self.mul(self.sub(factor, self.f(1.0)), win.mask), self.f(1.0))
        return self.floor(self.clip(self.add(self.mul(canvas, factor), self.f(0.5)), 0.0, 255.0))

    def window(self, canvas: Tensor, box: tuple[Tensor, Tensor, Tensor, Tensor] | None) -> Window:
        if self._coords is None:
            self._coords = self.const(self.k.xs, "xs"), self.const(self.k.ys, "ys")  # 1×rh×rw
        xs, ys = self._coords
        if box is None:
            return Window(xs, ys)
        bx0, by0, bx1, by1 = box
        inside = self.logical_and(self.logical_and(self.ge(xs, bx0), self.lt(xs, bx1)),
                                  self.logical_and(self.ge(ys, by0), self.lt(ys, by1)))
        return Window(xs, ys, self.to_float(inside), inside)

    def window_max(self, win: Window, x: Tensor, fill: float) -> Tensor:
        if win.inside is not None:
            x = self.where(win.inside, x, self.f(fill))
        return self.reduce_max(x, (1, 2))

    def window_min(self, win: Window, x: Tensor, fill: float) -> Tensor:
        if win.inside is not None:
            x = self.where(win.inside, x, self.f(fill))
        return self.reduce_min(x, (1, 2))

    def composite(self, canvas: Tensor, win: Window, colour: Tensor, cover: Tensor) -> Tensor:
        # where a = 0 this is exactly the (whole-valued) canvas, so the box is just a factor
        a = cover if win.mask is None else self.mul(cover, win.mask)
        mixed = self.add(self.add(self.mul(canvas, self.sub(self.f(1.0), a)), self.mul(colour, a)), self.f(0.5))
        return self.floor(self.clip(mixed, 0.0, 255.0))
