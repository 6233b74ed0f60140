"""The reference ops: NumPy and OpenCV, one frame at a time.

Values keep the graph's shapes with B = 1, except where OpenCV is faster: the map is
``h×w×2`` for ``cv2.resize``/``cv2.remap`` over the part of the region where it can differ
from the identity (:class:`WarpBox`), the region and canvas are ``rh×rw×C`` uint8 (a view
into the frame :meth:`NumpyOps.assemble` hands back), and a window is *cropped* to its box,
its per-pixel maps ``h×w×1`` (so colours are ``h×w×3``). Every number is float32 (``f``),
so each formula rounds as it does in the graph.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from streamfx.generator.basics import SourceBasics
from streamfx.generator.ops.base import OperatorMaths, Ops, Tensor, Window
from streamfx.generator.spline import affine_fit, resize_grid

F32 = np.float32
_CLIP = np.core.umath.clip  # type: ignore[attr-defined]  # min(max(x, lo), hi) elementwise, NaN kept (numpy < 2, as pinned)


@functools.cache
def single_threaded_blas() -> None:
    """Run BLAS (numpy's matmul) on the calling thread only, for the whole process.

    The per-frame matrix products are small (a few MB, memory-bound: 0.1–0.4 ms on one core),
    and the live pipeline already runs its stages on every core: BLAS's own worker threads
    only contend with them. Measured on a 2-core machine, lp_s1 at 512² driven at 720p: the
    generator's frame 16.9 → 9.8 ms and the tracker's 10.5 → 7.8 ms."""
    threadpool_limits(limits=1, user_api="blas")


def _whole(v: Tensor) -> int:
    return int(np.asarray(v).reshape(-1)[0])


def _xy(x: Tensor, y: Tensor, h: int, w: int) -> np.ndarray:
    """Two per-pixel maps (each broadcasting to h×w×1) side by side: an h×w×2 float32 map for
    cv2.remap (filled in place: np.broadcast_to and dstack cost more than the copy here)."""
    out = np.empty((h, w, 2), F32)
    out[..., 0:1] = x
    out[..., 1:2] = y
    return out


@dataclass(frozen=True)
class WarpBox:
    """NumPy's backward map, and then the head layer sampled at it, over ``box`` (x0, y0, x1, y1
    in region pixels, end exclusive): the part of the region where the map can differ from
    the identity. Outside it every coarse offset the resize reads is 0, so each pixel samples
    itself, and the layer over the plate there is the portrait to the bit: those pixels are
    not sampled at all (a quarter of the region on a head-and-shoulders portrait)."""

    box: tuple[int, int, int, int]
    values: tuple[np.ndarray, ...]  # the map (h×w×2 float32), or the sampled layer's part(s)


class NumpyOps(OperatorMaths, Ops):
    def __init__(self, src: SourceBasics):
        super().__init__(src)
        single_threaded_blas()
        self._f: dict[float, np.float32] = {}
        self._plate: np.ndarray | None = None
        self._layer_parts: tuple[np.ndarray, np.ndarray] | None = None
        self._reach: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._frame: tuple[np.ndarray, np.ndarray] | None = None  # the frame over_plate made, and its region

    # ---- numbers and constants ---------------------------------------------------------------
    def f(self, x: float) -> Tensor:
        v = self._f.get(x)
        if v is None:
            v = self._f[x] = F32(x)
        return v

    def i(self, x: int) -> Tensor:
        return np.int64(x)

    def const(self, a: np.ndarray, hint: str = "c") -> Tensor:
        a = np.asarray(a)
        return a.astype(F32) if a.dtype == np.float64 else a

    def rgb(self, colour: np.ndarray) -> Tensor:
        return np.asarray(colour, F32).reshape(3)

    # ---- elementwise ---------------------------------------------------------------------------
    def minimum(self, a: Tensor, b: Tensor) -> Tensor:
        return np.minimum(a, b)

    def maximum(self, a: Tensor, b: Tensor) -> Tensor:
        return np.maximum(a, b)

    def abs(self, x: Tensor) -> Tensor:
        return np.abs(x)

    def sqrt(self, x: Tensor) -> Tensor:
        return np.sqrt(x)

    def floor(self, x: Tensor) -> Tensor:
        return np.floor(x)

    def ceil(self, x: Tensor) -> Tensor:
        return np.ceil(x)

    def round(self, x: Tensor) -> Tensor:
        return np.rint(x)

    def trunc(self, x: Tensor) -> Tensor:
        return np.trunc(x)

    def clip(self, x: Tensor, lo: float, hi: float) -> Tensor:
        # min(max(·)) as ONNX's Clip, in one pass: the ufunc np.clip calls after its Python
        # dispatch, which costs more than the clip on the many per-frame scalars and windows
        return _CLIP(x, self.f(lo), self.f(hi))

    def clip_int(self, x: Tensor, lo: int, hi: int) -> Tensor:
        return np.clip(x, lo, hi)

    def gt(self, a: Tensor, b: Tensor) -> Tensor:
        return np.greater(a, b)

    def lt(self, a: Tensor, b: Tensor) -> Tensor:
        return np.less(a, b)

    def ge(self, a: Tensor, b: Tensor) -> Tensor:
        return np.greater_equal(a, b)

    def logical_and(self, a: Tensor, b: Tensor) -> Tensor:
        return np.logical_and(a, b)

    def where(self, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
        r = np.where(cond, a, b)
        return r[()] if r.ndim == 0 else r  # between per-frame scalars: a scalar again (per_frame)

    def to_float(self, x: Tensor) -> Tensor:
        return np.asarray(x).astype(F32)

    def to_int(self, x: Tensor) -> Tensor:
        return np.asarray(x).astype(np.int64)

    # ---- gathers, reductions, layout -------------------------------------------------------
    def gather(self, x: Tensor, idx: Tensor, axis: int) -> Tensor:
        return x.take(idx, axis=axis)  # (np.take's dispatch costs as much as a small take)

    def reduce_sum(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return x.sum(axis=tuple(axes), keepdims=True)

    def reduce_min(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return x.min(axis=tuple(axes), keepdims=True)

    def reduce_max(self, x: Tensor, axes: Sequence[int]) -> Tensor:
        return x.max(axis=tuple(axes), keepdims=True)

    def slice(self, x: Tensor, start: int, end: int, axis: int = -1) -> Tensor:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, end)
        return x[tuple(index)]

    def reshape(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        return x.reshape([x.shape[k] if s == 0 else s for k, s in enumerate(shape)])

    def transpose(self, x: Tensor, perm: Sequence[int]) -> Tensor:
        return x.transpose(perm)

    def squeeze(self, x: Tensor, axis: int) -> Tensor:
        return np.squeeze(x, axis)

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        return np.matmul(a, b)

    # ---- the frame -------------------------------------------------------------------------
    def landmarks(self, target: Tensor) -> Tensor:
        return np.asarray(target, F32)[None, :, :2]  # one frame: 1×478×2

    def depths(self, target: Tensor) -> Tensor:
        return np.asarray(target, F32)[None, :, 2:3]  # one frame: 1×478×1

    def batch_offsets(self, n: int) -> Tensor:
        return np.zeros((1, 1, 1), np.int64)

    def point(self, target: Tensor, index: int) -> tuple[Tensor, Tensor]:
        return target[0, index, 0], target[0, index, 1]  # float32 scalars

    def per_frame(self, x: Tensor) -> Tensor:
        # B is 1 here: a NumPy float32 scalar. Arithmetic between two such scalars costs a
        # tenth of that between 1×1×1 arrays, and a scalar against a 1×1×1 array takes
        # NumPy's slow scalar-promotion path (≈1.2 µs against 0.06 µs a step)
        return x.reshape(-1)[0] if isinstance(x, np.ndarray) and x.size == 1 else x

    def upsample(self, coarse: Tensor) -> Tensor:
        x0, y0, x1, y1 = self.src.roi
        full = cv2.resize(coarse[0], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        bx0, by0, bx1, by1 = box = self._moved_box(coarse[0])
        xy = full[by0:by1, bx0:bx1]
        # in place, on the box (OpenCV's add writes into the view; NumPy's, 2-4x slower here)
        cv2.add(xy, self.src.pixels[by0:by1, bx0:bx1], dst=xy)
        return WarpBox(box, (xy,))

    def _moved_box(self, coarse: np.ndarray) -> tuple[int, int, int, int]:
        """The region's pixels whose resized offset can be non-zero: those reading a coarse node
        (gh×gw×2) that is not 0, with a node's margin (x0, y0, x1, y1; empty: all 0)."""
        gh, gw = coarse.shape[:2]
        if self._reach is None:
            # a region pixel d reads nodes floor(f) and floor(f) + 1, f = (d + ½)·n/size − ½
            # (cv2.resize's half-pixel centres): node j reaches at most the pixels over
            # (j − 1, j + 2) cells
            x0, y0, x1, y1 = self.src.roi
            def reach(size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
                cell = size / n
                j = np.arange(n)
                return (np.clip(np.floor((j - 1) * cell), 0, size).astype(int),
                        np.clip(np.ceil((j + 2) * cell), 0, size).astype(int))
            self._reach = (*reach(x1 - x0, gw), *reach(y1 - y0, gh))
        lo_x, hi_x, lo_y, hi_y = self._reach
        moved = (coarse != 0).any(axis=2)
        cols, rows = np.flatnonzero(moved.any(axis=0)), np.flatnonzero(moved.any(axis=1))
        if len(rows) == 0:
            return 0, 0, 0, 0
        return int(lo_x[cols[0]]), int(lo_y[rows[0]]), int(hi_x[cols[-1]]), int(hi_y[rows[-1]])

    def remap(self, mapping: Tensor) -> Tensor:
        return cv2.remap(self.src.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def remap_layer(self, mapping: Tensor) -> Tensor:
        box, (xy,) = mapping.box, mapping.values
        if xy.size == 0:
            return WarpBox(box, ())
        # the map in OpenCV's own fixed point first (what remap does inside anyway, faster)
        fixed, frac = cv2.convertMaps(xy, None, cv2.CV_16SC2)
        layer = self.src.layer
        if layer.shape[2] <= 4:
            return WarpBox(box, (cv2.remap(layer, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),))
        # an RGBA portrait's layer has 5 channels, which cv2.remap takes 4× as long for as 4
        # (6.6 against 1.6 ms at 1024²): the colour and the transparency apart, as a pair
        if self._layer_parts is None:
            self._layer_parts = (np.ascontiguousarray(layer[..., :4]), np.ascontiguousarray(layer[..., 4]))
        return WarpBox(box, tuple(cv2.remap(part, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                                  for part in self._layer_parts))

    def over_plate(self, layer: Tensor) -> Tensor:
        c = self.src.plate.shape[2]
        x0, y0, x1, y1 = self.src.roi
        if self._plate is None:  # the plate over the region (RGB: and its transparency's slot, zero)
            crop = self.src.plate[y0:y1, x0:x1]
            self._plate = np.ascontiguousarray(crop if c == 4 else np.dstack([crop, np.zeros(crop.shape[:2], np.uint8)]))
        # the output frame, whose region is the portrait outside the box; overlays then draw
        # on the region in place and assemble hands the frame back without another copy
        out = self.src.image.copy()
        region = out[y0:y1, x0:x1]
        self._frame = (out, region)
        if not layer.values:
            return region
        bx0, by0, bx1, by1 = layer.box
        plate = self._plate[by0:by1, bx0:bx1]
        if len(layer.values) == 2:  # RGBA: (colour, transparency) from remap_layer
            colour, clear = layer.values
            # uint8 × uint8 / 255 rounded (never a tie), then a saturating add: exactly the
            # graph's floor(x/255 + ½) and min(·, 255)
            cv2.add(colour, cv2.multiply(plate, cv2.merge([clear] * 4), scale=1.0 / 255.0), dst=region[by0:by1, bx0:bx1])
            return region
        (sampled,) = layer.values
        clear = cv2.extractChannel(sampled, c)
        # (cvtColor's fixed-size copies are faster than merge and slicing)
        clear = cv2.cvtColor(clear, cv2.COLOR_GRAY2RGBA)
        # the same rounding; the transparency's slot adds 0 × t and is dropped
        mixed = cv2.add(sampled, cv2.multiply(plate, clear, scale=1.0 / 255.0))
        cv2.cvtColor(mixed, cv2.COLOR_RGBA2RGB, dst=region[by0:by1, bx0:bx1])
        return region

    def source_at(self, win: Window, x: Tensor, y: Tensor) -> Tensor:
        shape = self._shape(win)
        if 0 in shape:
            return np.zeros((*shape[:2], 3), F32)
        mapping = _xy(x, y, shape[0], shape[1])
        out = cv2.remap(self.src.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out[..., :3].astype(F32)

    def sample(self, win: Window, image: np.ndarray, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        shape = self._shape(win)
        if 0 in shape:
            return np.zeros((*shape[:2], 3), F32), np.zeros(shape, F32)
        mapping = _xy(x, y, shape[0], shape[1])
        out = cv2.remap(image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out[..., :3].astype(F32), out[..., 3:4].astype(F32) * self.f(1.0 / 255.0)

    def shade(self, canvas: Tensor, win: Window, factor: Tensor) -> Tensor:
        assert win.crop is not None
        cx0, cy0, cx1, cy1 = win.crop
        if cx1 <= cx0 or cy1 <= cy0:
            return canvas
        patch = canvas[cy0:cy1, cx0:cx1, :3]
        f = np.ascontiguousarray(np.broadcast_to(factor, (cy1 - cy0, cx1 - cx0, 1))[..., 0], F32)
        # one saturating multiply (rounds to nearest, as floor(x + 0.5) does but at exact halves)
        patch[...] = cv2.multiply(patch, cv2.merge([f, f, f]), dtype=cv2.CV_8U)
        return canvas

    def inverse_at(self, win: Window, forward: Tensor, size: tuple[int, int], cells: int,
                   iterations: int) -> tuple[Tensor, Tensor]:
        h, w, _ = self._shape(win)
        if h == 0 or w == 0:
            return np.zeros((h, w, 1), F32), np.zeros((h, w, 1), F32)
        tw, th = size
        coarse = np.asarray(forward, F32).reshape(cells, cells, 2)
        dense = cv2.resize(coarse, (tw, th), interpolation=cv2.INTER_LINEAR)  # texture pixel → frame
        # the map's affine part, [u v 1] @ m ≈ frame: the fixed point's first guess and step
        m = affine_fit(tw, th, cells, cells) @ coarse.reshape(-1, 2).astype(np.float64)
        step = np.linalg.inv(m[:2]).astype(F32)
        # nodes over the window grown by a cell each side, so none of it is extrapolated
        gw, gh = min(cells, w), min(cells, h)
        px, py = -(-w // gw), -(-h // gh)
        frame = resize_grid(float(win.xs[0, 0, 0]) - px, float(win.ys[0, 0, 0]) - py, w + 2 * px, h + 2 * py,
                            gw + 2, gh + 2).astype(F32)
        tex = (frame - m[2].astype(F32)) @ step
        for _ in range(iterations):
            at = cv2.remap(dense, tex[..., 0], tex[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            tex += (frame - at) @ step
        full = cv2.resize(tex, (w + 2 * px, h + 2 * py), interpolation=cv2.INTER_LINEAR)[py:py + h, px:px + w]
        return full[..., :1], full[..., 1:]

    def texture_at(self, win: Window, texture: np.ndarray, x: Tensor, y: Tensor) -> Tensor:
        h, w, _ = self._shape(win)
        if h == 0 or w == 0:
            return np.zeros((h, w, 1), F32)
        out = cv2.remap(np.asarray(texture, F32), _xy(x, y, h, w), None, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out.reshape(h, w, 1)

    def begin_overlays(self, region: Tensor) -> Tensor:
        return region  # composited in place, colour channels only

    def end_overlays(self, canvas: Tensor, region: Tensor) -> Tensor:
        return canvas

    def assemble(self, region: Tensor) -> Tensor:
        made, self._frame = self._frame, None
        if made is not None and made[1] is region:  # over_plate's frame, drawn on in place
            return made[0]
        # any other region (or a frame another render's over_plate replaced): copied in
        x0, y0, x1, y1 = self.src.roi
        out = self.src.image.copy()
        out[y0:y1, x0:x1] = region
        return out

    def window(self, canvas: Tensor, box: tuple[Tensor, Tensor, Tensor, Tensor] | None) -> Window:
        x0, y0, x1, y1 = self.src.roi
        if box is None:
            bx0, by0, bx1, by1 = x0, y0, x1, y1
        else:  # clipped to the region, as the graph's mask over the region's pixels is
            bx0, by0 = max(_whole(box[0]), x0), max(_whole(box[1]), y0)
            bx1, by1 = max(min(_whole(box[2]), x1), bx0), max(min(_whole(box[3]), y1), by0)
        xs = np.arange(bx0, bx1, dtype=F32).reshape(1, -1, 1)
        ys = np.arange(by0, by1, dtype=F32).reshape(-1, 1, 1)
        return Window(xs, ys, crop=(bx0 - x0, by0 - y0, bx1 - x0, by1 - y0))

    def window_max(self, win: Window, x: Tensor, fill: float) -> Tensor:
        h, w, _ = self._shape(win)  # (a map smaller than the window broadcasts: the same values)
        return np.max(x) if h and w else self.f(fill)

    def window_min(self, win: Window, x: Tensor, fill: float) -> Tensor:
        h, w, _ = self._shape(win)
        return np.min(x) if h and w else self.f(fill)

    @staticmethod
    def _shape(win: Window) -> tuple[int, int, int]:
        assert win.crop is not None
        cx0, cy0, cx1, cy1 = win.crop
        return cy1 - cy0, cx1 - cx0, 1

    def composite(self, canvas: Tensor, win: Window, colour: Tensor, cover: Tensor) -> Tensor:
        assert win.crop is not None
        cx0, cy0, cx1, cy1 = win.crop
        if cx1 <= cx0 or cy1 <= cy0 or np.max(cover) <= 0:
            return canvas  # nothing to draw: the canvas stays exactly as it is
        patch = canvas[cy0:cy1, cx0:cx1, :3]
        a = cover  # h×w×1, or what broadcasts to it
        one = self.f(1.0)
        mixed = patch.astype(F32) * (one - a) + colour * a + self.f(0.5)
        # whole values in 0…255 after the clip: the cast truncates, which is the floor
        patch[...] = np.minimum(np.maximum(mixed, self.f(0.0)), self.f(255.0)).astype(np.uint8)
        return canvas
