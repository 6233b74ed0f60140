"""The reference ops: NumPy and OpenCV, one frame at a time.

Values keep the graph's shapes with B = 1, except where OpenCV is faster: the map is
``rh×rw×2`` for ``cv2.resize``/``cv2.remap``, the region and canvas are ``rh×rw×C`` uint8,
and a window is *cropped* to its box, its per-pixel maps ``h×w×1`` (so colours are
``h×w×3``). Every number is float32 (``f``), so each formula rounds as it does in the graph.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from streamfx.generator.basics import SourceBasics
from streamfx.generator.ops.base import OperatorMaths, Ops, Tensor, Window
from streamfx.generator.spline import affine_fit, resize_grid

F32 = np.float32


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


class NumpyOps(OperatorMaths, Ops):
    def __init__(self, src: SourceBasics):
        super().__init__(src)
        single_threaded_blas()
        self._f: dict[float, np.float32] = {}
        self._plate: np.ndarray | None = None
        self._layer_parts: tuple[np.ndarray, np.ndarray] | None = None

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
        # min(max(·)) as ONNX's Clip; np.clip is slow on the many per-frame scalars
        return np.minimum(np.maximum(x, self.f(lo)), self.f(hi))

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
        return np.where(cond, a, b)

    def to_float(self, x: Tensor) -> Tensor:
        return np.asarray(x).astype(F32)

    def to_int(self, x: Tensor) -> Tensor:
        return np.asarray(x).astype(np.int64)

    # ---- gathers, reductions, layout -------------------------------------------------------
    def gather(self, x: Tensor, idx: Tensor, axis: int) -> Tensor:
        return np.take(x, idx, axis=axis)

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

    def upsample(self, coarse: Tensor) -> Tensor:
        x0, y0, x1, y1 = self.src.roi
        full = cv2.resize(coarse[0], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        full += self.src.pixels
        return full

    def remap(self, mapping: Tensor) -> Tensor:
        return cv2.remap(self.src.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def remap_layer(self, mapping: Tensor) -> Tensor:
        # the map in OpenCV's own fixed point first (what remap does inside anyway, faster)
        fixed, frac = cv2.convertMaps(mapping, None, cv2.CV_16SC2)
        layer = self.src.layer
        if layer.shape[2] <= 4:
            return cv2.remap(layer, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # an RGBA portrait's layer has 5 channels, which cv2.remap takes 4× as long for as 4
        # (6.6 against 1.6 ms at 1024²): the colour and the transparency apart, as a pair
        if self._layer_parts is None:
            self._layer_parts = (np.ascontiguousarray(layer[..., :4]), np.ascontiguousarray(layer[..., 4]))
        return tuple(cv2.remap(part, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                     for part in self._layer_parts)

    def over_plate(self, layer: Tensor) -> Tensor:
        c = self.src.plate.shape[2]
        if self._plate is None:  # the plate over the region (RGB: and its transparency's slot, zero)
            x0, y0, x1, y1 = self.src.roi
            crop = self.src.plate[y0:y1, x0:x1]
            self._plate = np.ascontiguousarray(crop if c == 4 else np.dstack([crop, np.zeros(crop.shape[:2], np.uint8)]))
        if isinstance(layer, tuple):  # RGBA: (colour, transparency) from remap_layer
            colour, clear = layer
            # uint8 × uint8 / 255 rounded (never a tie), then a saturating add: exactly the
            # graph's floor(x/255 + ½) and min(·, 255)
            return cv2.add(colour, cv2.multiply(self._plate, cv2.merge([clear] * 4), scale=1.0 / 255.0))
        clear = cv2.extractChannel(layer, c)
        # (cvtColor's fixed-size copies are faster than merge and slicing)
        clear = cv2.cvtColor(clear, cv2.COLOR_GRAY2RGBA)
        # the same rounding; the transparency's slot adds 0 × t and is dropped
        out = cv2.add(layer, cv2.multiply(self._plate, clear, scale=1.0 / 255.0))
        return cv2.cvtColor(out, cv2.COLOR_RGBA2RGB)

    def source_at(self, win: Window, x: Tensor, y: Tensor) -> Tensor:
        shape = self._shape(win)
        if 0 in shape:
            return np.zeros((*shape[:2], 3), F32)
        mapping = np.dstack([np.broadcast_to(x, shape)[..., 0], np.broadcast_to(y, shape)[..., 0]]).astype(F32)
        out = cv2.remap(self.src.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out[..., :3].astype(F32)

    def sample(self, win: Window, image: np.ndarray, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        shape = self._shape(win)
        if 0 in shape:
            return np.zeros((*shape[:2], 3), F32), np.zeros(shape, F32)
        mapping = np.dstack([np.broadcast_to(x, shape)[..., 0], np.broadcast_to(y, shape)[..., 0]]).astype(F32)
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
        mapping = np.dstack([np.broadcast_to(x, (h, w, 1))[..., 0], np.broadcast_to(y, (h, w, 1))[..., 0]])
        out = cv2.remap(np.asarray(texture, F32), mapping.astype(F32), None, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out.reshape(h, w, 1)

    def begin_overlays(self, region: Tensor) -> Tensor:
        return region  # composited in place, colour channels only

    def end_overlays(self, canvas: Tensor, region: Tensor) -> Tensor:
        return canvas

    def assemble(self, region: Tensor) -> Tensor:
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
        x = np.broadcast_to(x, self._shape(win))
        return x.max() if x.size else self.f(fill)

    def window_min(self, win: Window, x: Tensor, fill: float) -> Tensor:
        x = np.broadcast_to(x, self._shape(win))
        return x.min() if x.size else self.f(fill)

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
        a = np.broadcast_to(cover, (cy1 - cy0, cx1 - cx0, 1))
        one = self.f(1.0)
        mixed = patch.astype(F32) * (one - a) + colour * a + self.f(0.5)
        # whole values in 0…255 after the clip: the cast truncates, which is the floor
        patch[...] = np.minimum(np.maximum(mixed, self.f(0.0)), self.f(255.0)).astype(np.uint8)
        return canvas
