"""The generator's per-frame work as one ONNX graph, built from a prepared source.

Everything that depends only on the source portrait (:class:`~streamfx.generator.SourceTensors`)
is baked into the graph as initialisers; the only per-frame input is the target landmarks.

Inputs
    ``target``  float32 ``[B, 478, 3]`` — target landmarks in source-image pixels (x, y, z;
    z is ignored). ``B`` is dynamic: B poses of the same portrait rendered at once.

Outputs
    ``frame``   uint8 ``[B, H, W, C]`` — the animated portrait, same size and channels (RGB or
    RGBA) as the prepared source image.

Stages, each mirroring :class:`~streamfx.generator.WarpGenerator.render` (the reference):
  1. TPS weights and head similarity (matmuls), the masked coarse displacement, its clamp;
  2. inversion of the forward field by fixed-point iteration, in *offset* form so float32
     keeps the precision the reference gets from float64 (bilinear sampling by gathers);
  3. upsampling of the coarse offsets to the region of interest exactly as ``cv2.resize``
     INTER_LINEAR does for float32 (precomputed taps and weights: half-pixel centres, the
     horizontal weights clamped at the borders, the vertical ones not), then ``+ pixels``;
  4. ``cv2.remap`` INTER_LINEAR + BORDER_REPLICATE on uint8, reproduced bit for bit: map
     coordinates rounded to 1/32 pixel (INTER_BITS = 5), integer weights, four gathered taps,
     ``(Σ w·p + 512) >> 10`` — which is what OpenCV's 15-bit fixed point reduces to;
  5. the mouth-interior and eyelid layers, evaluated over the region of interest (coverage is
     masked to the same landmark-dependent boxes the reference uses) and composited in float
     with the reference's ``+ 0.5`` then truncation;
  6. the unchanged rest of the image concatenated around the region.

The graph uses opset 17 operators that ONNX Runtime and TensorRT 10 both implement (MatMul,
Gather, Slice, elementwise maths, Reduce*, Where, Concat, Expand, Cast) — no GridSample, no
Resize, no float64. ``color_match`` and ``sharpen`` are not part of it: engines apply those
optional filters on the CPU after the graph (see :mod:`engines.base`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streamfx import landmarks as L
from streamfx.generator import _EYES, _INVERT_ITERATIONS, MOUTH_FEATHER, SourceTensors

OPSET = 17
INPUT_NAME = "target"
OUTPUT_NAME = "frame"


class _Builder:
    """A minimal ONNX graph builder: unique names, initialisers, nodes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0
        self.stage = "motion"  # node names carry their stage: TensorRT pins precision by it
        self._consts: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray | np.generic | float | int | list[int], hint: str = "c",
              dtype: type | None = None) -> str:
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        key = (arr.dtype.str, arr.tobytes(), arr.shape)
        if arr.size <= 16 and key in self._consts:  # share small constants
            return self._consts[key]
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        if arr.size <= 16:
            self._consts[key] = name
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{self.stage}/{out}", **attrs))
        return out

    # ---- shorthands --------------------------------------------------------------------
    def add(self, a: str, b: str) -> str:
        return self.op("Add", a, b)

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", a, b)

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", a, b)

    def div(self, a: str, b: str) -> str:
        return self.op("Div", a, b)

    def f(self, x: float | np.floating) -> str:
        return self.const(np.float32(x))

    def clip(self, x: str, lo: float, hi: float) -> str:
        return self.op("Clip", x, self.f(lo), self.f(hi))

    def clip01(self, x: str) -> str:
        return self.clip(x, 0.0, 1.0)

    def minimum(self, a: str, b: str) -> str:
        return self.op("Min", a, b)

    def maximum(self, a: str, b: str) -> str:
        return self.op("Max", a, b)

    def slice_last(self, x: str, start: int, end: int, axis: int = -1) -> str:
        return self.op("Slice", x, self.const([start], dtype=np.int64), self.const([end], dtype=np.int64),
                       self.const([axis], dtype=np.int64))


def _resize_taps(dst: int, src: int, clamp_weights: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


@dataclass(frozen=True)
class GraphConstants:
    """The per-source arrays every compiled engine needs, built one way so that each
    reproduces OpenCV's resize and remap to the bit (the ONNX graph and the torch engine)."""

    grid_u: np.ndarray  # 1×G×1 column index of each coarse grid point
    grid_v: np.ndarray  # 1×G×1 row index
    sx: np.float32  # grid spacing, source pixels
    sy: np.float32
    taps_x: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # cv2.resize taps, weights
    taps_y: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    pixels: np.ndarray  # 2×rh×rw pixel coordinates of the region
    planes: np.ndarray  # C×(H·W) the portrait, planar
    xs: np.ndarray  # 1×rh×rw x of each region pixel (for the layers)
    ys: np.ndarray

    @classmethod
    def of(cls, src: SourceTensors) -> GraphConstants:
        h, w = src.image.shape[:2]
        x0, y0, x1, y1 = src.roi
        gh, gw = src.grid_shape
        grid = src.grid.astype(np.float32)
        jj, ii = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        return cls(
            grid_u=jj.reshape(1, -1, 1), grid_v=ii.reshape(1, -1, 1),
            sx=np.float32((grid[0, -1, 0] - grid[0, 0, 0]) / (gw - 1)),
            sy=np.float32((grid[-1, 0, 1] - grid[0, 0, 1]) / (gh - 1)),
            taps_x=_resize_taps(x1 - x0, gw, clamp_weights=True),
            taps_y=_resize_taps(y1 - y0, gh, clamp_weights=False),
            pixels=np.ascontiguousarray(src.pixels.astype(np.float32).transpose(2, 0, 1)),
            planes=np.ascontiguousarray(src.image.reshape(h * w, src.image.shape[2]).T),
            xs=xs[None], ys=ys[None],
        )


def _point(g: _Builder, tgt2: str, index: int) -> tuple[str, str]:
    """Landmark ``index`` of every target as two (B, 1, 1) tensors, x and y."""
    p = g.op("Gather", tgt2, g.const([index], dtype=np.int64), axis=1)  # B×1×2
    return g.slice_last(p, 0, 1), g.slice_last(p, 1, 2)


def _box_mask(g: _Builder, xs: str, ys: str, bx0: str, by0: str, bx1: str, by1: str) -> str:
    """1 inside [bx0, bx1) × [by0, by1) of the pixel grid, else 0 (B×rh×rw)."""
    parts = [g.op("GreaterOrEqual", xs, bx0), g.op("Less", xs, bx1),
             g.op("GreaterOrEqual", ys, by0), g.op("Less", ys, by1)]
    m = g.op("And", g.op("And", parts[0], parts[1]), g.op("And", parts[2], parts[3]))
    return g.op("Cast", m, to=TensorProto.FLOAT)


def _frame(g: _Builder, ax_x: str, ax_y: str, ox: str, oy: str, xs: str, ys: str, width: str) -> tuple[str, str]:
    """(u, v) of every pixel in a feature's own frame: u along the axis / width, v down."""
    rx, ry = g.sub(xs, ox), g.sub(ys, oy)
    u = g.div(g.add(g.mul(rx, ax_x), g.mul(ry, ax_y)), width)
    # down = (−ax_y, ax_x)
    v = g.add(g.mul(rx, g.op("Neg", ax_y)), g.mul(ry, ax_x))
    return u, v


def _axis(g: _Builder, ax0: str, ay0: str, ax1: str, ay1: str) -> tuple[str, str, str]:
    """Unit axis from point 0 to point 1 and its length (+1e-6, as the reference)."""
    dx, dy = g.sub(ax1, ax0), g.sub(ay1, ay0)
    width = g.add(g.op("Sqrt", g.add(g.mul(dx, dx), g.mul(dy, dy))), g.f(1e-6))
    return g.div(dx, width), g.div(dy, width), width


def _dot_down(g: _Builder, px: str, py: str, ox: str, oy: str, ax_x: str, ax_y: str) -> str:
    return g.add(g.mul(g.sub(px, ox), g.op("Neg", ax_y)), g.mul(g.sub(py, oy), ax_x))


def _bulge(g: _Builder, u: str) -> str:
    return g.clip01(g.mul(g.mul(g.f(4.0), u), g.sub(g.f(1.0), u)))


def _rgb(g: _Builder, colour: np.ndarray) -> str:
    return g.const(np.asarray(colour, np.float32).reshape(3, 1, 1, 1))


def _composite(g: _Builder, patch: str, colour: str, cover: str) -> str:
    """floor(clip(patch·(1−a) + colour·a + 0.5, 0, 255)) — patch (3×B×rh×rw), cover (B×rh×rw).

    Where a = 0 this is exactly the (integer-valued) patch, so no select is needed.
    """
    mixed = g.add(g.add(g.mul(patch, g.sub(g.f(1.0), cover)), g.mul(colour, cover)), g.f(0.5))
    return g.op("Floor", g.clip(mixed, 0.0, 255.0))


def _mouth(g: _Builder, src: SourceTensors, tgt2: str, xs: str, ys: str, img_w: int, img_h: int,
           patch: str) -> str:
    """The mouth-interior layer (streamfx.generator.mouth_layer) composited onto ``patch``."""
    clx, cly = _point(g, tgt2, L.INNER_CORNERS[0])
    crx, cry = _point(g, tgt2, L.INNER_CORNERS[1])
    tx, ty = _point(g, tgt2, L.UPPER_LIP_MID)
    bx, by = _point(g, tgt2, L.LOWER_LIP_MID)
    ax_x, ax_y, width = _axis(g, clx, cly, crx, cry)
    h_up = _dot_down(g, tx, ty, clx, cly, ax_x, ax_y)
    h_lo = _dot_down(g, bx, by, clx, cly, ax_x, ax_y)
    u, v = _frame(g, ax_x, ax_y, clx, cly, xs, ys, width)
    bulge = _bulge(g, u)
    v_up, v_lo = g.mul(h_up, bulge), g.mul(h_lo, bulge)
    feather = g.maximum(g.f(1.0), g.mul(g.f(MOUTH_FEATHER), width))
    inside = g.mul(g.clip01(g.div(g.sub(v, v_up), feather)), g.clip01(g.div(g.sub(v_lo, v), feather)))
    gap = g.div(g.sub(h_lo, h_up), width)
    opening = g.clip01(g.div(g.sub(g.sub(gap, g.f(src.mouth_gap)), g.f(0.02)), g.f(0.06)))
    # the reference composites only inside the outer lips' box (floor/ceil, +1, clipped)
    lips = g.op("Gather", tgt2, g.const(L.LIPS_OUTER, dtype=np.int64), axis=1)
    lo = g.op("ReduceMin", lips, axes=[1], keepdims=1)
    hi = g.op("ReduceMax", lips, axes=[1], keepdims=1)
    bx0 = g.maximum(g.op("Floor", g.slice_last(lo, 0, 1)), g.f(0.0))
    by0 = g.maximum(g.op("Floor", g.slice_last(lo, 1, 2)), g.f(0.0))
    bx1 = g.minimum(g.add(g.op("Ceil", g.slice_last(hi, 0, 1)), g.f(1.0)), g.f(img_w))
    by1 = g.minimum(g.add(g.op("Ceil", g.slice_last(hi, 1, 2)), g.f(1.0)), g.f(img_h))
    cover = g.mul(g.mul(inside, opening), _box_mask(g, xs, ys, bx0, by0, bx1, by1))
    # shading: darker in the middle of the cavity
    depth = g.clip01(g.div(g.sub(v, v_up), g.maximum(g.sub(v_lo, v_up), g.f(1e-3))))
    d = g.op("Abs", g.sub(g.mul(g.f(2.0), depth), g.f(1.0)))
    shade = g.add(g.f(0.22), g.mul(g.f(0.25), g.mul(d, d)))
    colour = g.mul(_rgb(g, src.lip_rgb), shade)  # 3×B×rh×rw
    if src.teeth_rgb is not None:
        band = g.minimum(g.maximum(g.mul(g.f(0.8 * src.mouth_gap), width), g.mul(g.f(0.08), width)),
                         g.mul(g.f(0.45), g.sub(h_lo, h_up)))
        centre = g.clip01(g.sub(g.f(1.0), g.div(g.op("Abs", g.sub(g.mul(g.f(2.0), u), g.f(1.0))), g.f(0.75))))
        upper = g.mul(g.clip01(g.div(g.sub(g.add(v_up, band), v), feather)), centre)
        lower = g.mul(g.clip01(g.div(g.sub(v, g.sub(v_lo, g.mul(g.f(0.4), band))), feather)), centre)
        t = g.clip01(g.add(upper, lower))
        colour = g.add(g.mul(colour, g.sub(g.f(1.0), t)), g.mul(_rgb(g, src.teeth_rgb), t))
    return _composite(g, patch, colour, cover)


def _eyelid(g: _Builder, src: SourceTensors, tgt2: str, eye: int, xs: str, ys: str,
            img_w: int, img_h: int, patch: str) -> str:
    """The eyelid layer (streamfx.generator.eyelid_layer) of one eye composited onto ``patch``."""
    corners, up, low = _EYES[eye]
    ax_, ay_ = _point(g, tgt2, corners[0])
    bx_, by_ = _point(g, tgt2, corners[1])
    swap = g.op("Greater", ax_, bx_)  # the eye frame runs left to right
    ox, oy = g.op("Where", swap, bx_, ax_), g.op("Where", swap, by_, ay_)
    ex, ey = g.op("Where", swap, ax_, bx_), g.op("Where", swap, ay_, by_)
    ax_x, ax_y, width = _axis(g, ox, oy, ex, ey)
    upx, upy = _point(g, tgt2, up)
    lox, loy = _point(g, tgt2, low)
    h_up = _dot_down(g, upx, upy, ox, oy, ax_x, ax_y)
    h_lo = _dot_down(g, lox, loy, ox, oy, ax_x, ax_y)
    u, v = _frame(g, ax_x, ax_y, ox, oy, xs, ys, width)
    bulge = _bulge(g, u)
    v_lid = g.mul(h_up, bulge)
    v_open = g.mul(g.mul(g.f(-float(src.eye_open[eye])), width), bulge)  # k_open · bulge
    feather = g.maximum(g.f(0.7), g.mul(g.f(0.04), width))
    below_open = g.clip01(g.div(g.sub(v, v_open), g.mul(g.f(2.5), feather)))
    above_lid = g.clip01(g.div(g.sub(v_lid, v), feather))
    above_lower = g.clip01(g.div(g.sub(g.add(g.mul(h_lo, bulge), feather), v), feather))
    has = g.op("Cast", g.op("Greater", bulge, g.f(0.0)), to=TensorProto.FLOAT)
    cover = g.mul(g.mul(g.mul(below_open, above_lid), above_lower), has)
    lash_w = g.maximum(g.f(0.8), g.mul(g.f(0.05), width))
    lash = g.clip01(g.sub(g.f(1.0), g.div(g.op("Abs", g.sub(v, v_lid)), lash_w)))
    lash = g.mul(lash, g.op("Cast", g.op("Greater", bulge, g.f(0.05)), to=TensorProto.FLOAT))
    # the box the reference evaluates the layer over: the corners' centre ± (0.6·width + 2)
    cx = g.mul(g.add(ax_, bx_), g.f(0.5))
    cy = g.mul(g.add(ay_, by_), g.f(0.5))
    r = g.add(g.mul(g.f(0.6), width), g.f(2.0))

    def trunc(x: str) -> str:  # Python's int(): towards zero
        return g.op("Cast", g.op("Cast", x, to=TensorProto.INT32), to=TensorProto.FLOAT)

    bx0 = g.maximum(trunc(g.sub(cx, r)), g.f(0.0))
    by0 = g.maximum(trunc(g.sub(cy, r)), g.f(0.0))
    bx1 = g.minimum(g.add(trunc(g.add(cx, r)), g.f(1.0)), g.f(img_w))
    by1 = g.minimum(g.add(trunc(g.add(cy, r)), g.f(1.0)), g.f(img_h))
    inbox = _box_mask(g, xs, ys, bx0, by0, bx1, by1)
    # "closing" uses the extremes of the lid curves over that box; both curves are a per-eye
    # factor times the bulge, and rounding is monotonic, so they follow from its extremes
    b_max = g.op("ReduceMax", g.mul(bulge, inbox), axes=[1, 2], keepdims=1)
    b_min = g.op("ReduceMin", g.add(bulge, g.mul(g.sub(g.f(1.0), inbox), g.f(4.0))), axes=[1, 2], keepdims=1)
    k_open = g.mul(g.f(-float(src.eye_open[eye])), width)
    neg_open = g.op("Less", k_open, g.f(0.0))
    vo_max = g.mul(k_open, g.op("Where", neg_open, b_min, b_max))
    vo_min = g.mul(k_open, g.op("Where", neg_open, b_max, b_min))
    vl_max = g.mul(h_up, g.op("Where", g.op("Less", h_up, g.f(0.0)), b_min, b_max))
    ratio = g.div(g.sub(vo_max, vl_max), g.add(g.mul(g.op("Neg", vo_min), g.f(0.3)), g.f(1e-6)))
    closing = g.op("Where", g.op("Less", vo_min, g.f(0.0)), g.clip01(ratio), g.f(0.0))
    lash = g.mul(lash, closing)
    t = lash
    depth = g.clip01(g.div(g.sub(v, v_open), g.maximum(g.sub(v_lid, v_open), g.f(1e-3))))
    lid = g.mul(_rgb(g, src.lid_rgb[eye]), g.sub(g.f(1.0), g.mul(g.f(0.12), depth)))
    colour = g.add(g.mul(lid, g.sub(g.f(1.0), t)), g.mul(_rgb(g, src.lash_rgb[eye]), t))
    cover = g.mul(g.maximum(cover, lash), inbox)
    return _composite(g, patch, colour, cover)


def build_graph(src: SourceTensors, *, mouth_synthesis: bool = True, name: str = "streamfx_generator") -> onnx.ModelProto:
    """The per-frame generator for ``src`` as an ONNX model (see the module docstring)."""
    g = _Builder()
    h, w = src.image.shape[:2]
    c = src.image.shape[2]  # RGB or RGBA: prepare_source always makes H×W×C
    x0, y0, x1, y1 = src.roi
    rh = y1 - y0
    gh, gw = src.grid_shape
    n_grid = gh * gw
    n_rigid = len(L.RIGID)

    tgt2 = g.slice_last(INPUT_NAME, 0, 2)  # B×478×2
    shape = g.op("Shape", INPUT_NAME)
    batch = g.op("Gather", shape, g.const([0], dtype=np.int64), axis=0)  # [B]

    # 1. motion on the coarse grid
    ctrl = g.op("Gather", tgt2, g.const(L.CONTROL, dtype=np.int64), axis=1)
    d_ctrl = g.sub(ctrl, g.const(src.control.astype(np.float32), "control"))
    nonrigid = g.op("MatMul", g.const(src.face_field, "face_field"), d_ctrl)  # B×G×2
    rig = g.op("Gather", tgt2, g.const(L.RIGID, dtype=np.int64), axis=1)
    d_rig = g.sub(rig, g.const(src.landmarks[L.RIGID, :2].astype(np.float32), "rigid_source"))
    d_rig = g.op("Reshape", d_rig, g.const([0, 2 * n_rigid, 1], dtype=np.int64))
    rigid = g.op("MatMul", g.const(src.head_field, "head_field"), d_rig)  # B×2G×1
    rigid = g.op("Reshape", rigid, g.const([0, n_grid, 2], dtype=np.int64))
    disp = g.add(nonrigid, rigid)
    norm = g.op("Sqrt", g.op("ReduceSum", g.mul(disp, disp), g.const([2], dtype=np.int64), keepdims=1))
    scale = g.minimum(g.f(1.0), g.div(g.f(src.max_shift), g.maximum(norm, g.f(1e-6))))
    disp = g.mul(disp, scale)

    g.stage = "invert"
    # 2. invert the forward field: offset y = x − p, y ← −disp(p + y)
    k = GraphConstants.of(src)
    sx, sy = k.sx, k.sy
    gx = g.const(k.grid_u, "grid_u")
    gy = g.const(k.grid_v, "grid_v")
    boff = g.mul(g.op("Range", g.const(np.int64(0)), g.op("Squeeze", batch, g.const([0], dtype=np.int64)),
                      g.const(np.int64(1))), g.const(np.int64(n_grid)))
    boff = g.op("Reshape", boff, g.const([-1, 1, 1], dtype=np.int64))  # B×1×1
    flat = g.op("Reshape", disp, g.const([-1, 2], dtype=np.int64))  # (B·G)×2
    offset = g.op("Neg", disp)
    for _ in range(_INVERT_ITERATIONS):
        u = g.clip(g.add(gx, g.div(g.slice_last(offset, 0, 1), g.f(sx))), 0.0, gw - 1)
        v = g.clip(g.add(gy, g.div(g.slice_last(offset, 1, 2), g.f(sy))), 0.0, gh - 1)
        u0 = g.minimum(g.op("Floor", u), g.f(gw - 2))
        v0 = g.minimum(g.op("Floor", v), g.f(gh - 2))
        fu, fv = g.sub(u, u0), g.sub(v, v0)
        base = g.add(g.op("Cast", g.add(g.mul(v0, g.f(gw)), u0), to=TensorProto.INT64), boff)
        base = g.op("Squeeze", base, g.const([2], dtype=np.int64))  # B×G

        def tap(delta: int, base: str = base) -> str:
            return g.op("Gather", flat, g.add(base, g.const(np.int64(delta))), axis=0)

        f00, f01, f10, f11 = tap(0), tap(1), tap(gw), tap(gw + 1)
        one_u, one_v = g.sub(g.f(1.0), fu), g.sub(g.f(1.0), fv)
        top = g.add(g.mul(f00, one_u), g.mul(f01, fu))
        bottom = g.add(g.mul(f10, one_u), g.mul(f11, fu))
        offset = g.op("Neg", g.add(g.mul(top, one_v), g.mul(bottom, fv)))
    coarse = g.op("Reshape", offset, g.const([0, gh, gw, 2], dtype=np.int64))

    g.stage = "resize"
    # 3. cv2.resize to the region (horizontal pass, then vertical), + pixel coordinates;
    # planar from here on (B×2×rh×rw, then C×B×rh×rw): ONNX Runtime broadcasts a per-pixel
    # weight over channels quickly only when the channels are the outermost axis
    coarse = g.op("Transpose", coarse, perm=[0, 3, 1, 2])  # B×2×gh×gw
    xa, xb, wa, wb = k.taps_x
    ya, yb, va, vb = k.taps_y
    hor = g.add(g.mul(g.op("Gather", coarse, g.const(xa, "rs_x0"), axis=3), g.const(wa, "rs_wx0")),
                g.mul(g.op("Gather", coarse, g.const(xb, "rs_x1"), axis=3), g.const(wb, "rs_wx1")))
    full = g.add(g.mul(g.op("Gather", hor, g.const(ya, "rs_y0"), axis=2), g.const(va.reshape(rh, 1), "rs_wy0")),
                 g.mul(g.op("Gather", hor, g.const(yb, "rs_y1"), axis=2), g.const(vb.reshape(rh, 1), "rs_wy1")))
    mapping = g.add(full, g.const(k.pixels, "pixels"))  # B×2×rh×rw

    g.stage = "remap"
    # 4. cv2.remap INTER_LINEAR, BORDER_REPLICATE, uint8 fixed point
    fixed = g.op("Round", g.mul(mapping, g.f(32.0)))  # round half to even, as cvRound
    whole = g.op("Floor", g.mul(fixed, g.f(1.0 / 32.0)))
    frac = g.sub(fixed, g.mul(whole, g.f(32.0)))  # 0…31
    squeeze1 = g.const([1], dtype=np.int64)
    ix = g.op("Cast", g.op("Squeeze", g.slice_last(whole, 0, 1, axis=1), squeeze1), to=TensorProto.INT64)
    iy = g.op("Cast", g.op("Squeeze", g.slice_last(whole, 1, 2, axis=1), squeeze1), to=TensorProto.INT64)
    fx = g.op("Squeeze", g.slice_last(frac, 0, 1, axis=1), squeeze1)  # B×rh×rw
    fy = g.op("Squeeze", g.slice_last(frac, 1, 2, axis=1), squeeze1)
    i64 = np.int64
    x_a = g.op("Clip", ix, g.const(i64(0)), g.const(i64(w - 1)))
    x_b = g.op("Clip", g.add(ix, g.const(i64(1))), g.const(i64(0)), g.const(i64(w - 1)))
    y_a = g.op("Mul", g.op("Clip", iy, g.const(i64(0)), g.const(i64(h - 1))), g.const(i64(w)))
    y_b = g.op("Mul", g.op("Clip", g.add(iy, g.const(i64(1))), g.const(i64(0)), g.const(i64(h - 1))), g.const(i64(w)))
    image_planes = g.const(k.planes, "image")  # C×(H·W)

    def pix(yy: str, xx: str) -> str:  # C×B×rh×rw
        return g.op("Cast", g.op("Gather", image_planes, g.add(yy, xx), axis=1), to=TensorProto.FLOAT)

    p00, p01, p10, p11 = pix(y_a, x_a), pix(y_a, x_b), pix(y_b, x_a), pix(y_b, x_b)
    wx0, wy0 = g.sub(g.f(32.0), fx), g.sub(g.f(32.0), fy)
    acc = g.add(g.mul(g.add(g.mul(p00, wx0), g.mul(p01, fx)), wy0),
                g.mul(g.add(g.mul(p10, wx0), g.mul(p11, fx)), fy))
    region = g.op("Floor", g.mul(g.add(acc, g.f(512.0)), g.f(1.0 / 1024.0)))  # C×B×rh×rw

    g.stage = "layers"
    # 5. mouth and eyelid layers over the region
    if mouth_synthesis:
        xs, ys = g.const(k.xs, "xs"), g.const(k.ys, "ys")  # 1×rh×rw
        rgb = g.slice_last(region, 0, 3, axis=0) if c == 4 else region
        rgb = _mouth(g, src, tgt2, xs, ys, w, h, rgb)
        for eye in range(len(_EYES)):
            rgb = _eyelid(g, src, tgt2, eye, xs, ys, w, h, rgb)
        region = g.op("Concat", rgb, g.slice_last(region, 3, 4, axis=0), axis=0) if c == 4 else rgb
    region = g.op("Transpose", g.op("Cast", region, to=TensorProto.UINT8), perm=[1, 2, 3, 0])

    g.stage = "assemble"
    # 6. the still rest of the image around the region
    def still(part: np.ndarray, hint: str) -> str:
        ph, pw = part.shape[:2]
        shp = g.op("Concat", batch, g.const([ph, pw, c], dtype=np.int64), axis=0)
        return g.op("Expand", g.const(np.ascontiguousarray(part)[None], hint), shp)

    img = src.image.reshape(h, w, c)
    row = [region]
    if x0 > 0:
        row.insert(0, still(img[y0:y1, :x0], "still_left"))
    if x1 < w:
        row.append(still(img[y0:y1, x1:], "still_right"))
    middle = g.op("Concat", *row, axis=2) if len(row) > 1 else region
    col = [middle]
    if y0 > 0:
        col.insert(0, still(img[:y0], "still_top"))
    if y1 < h:
        col.append(still(img[y1:], "still_bottom"))
    out = g.op("Concat", *col, axis=1) if len(col) > 1 else middle
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME]))

    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["B", 478, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.UINT8, ["B", h, w, c])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="streamfx", doc_string=__doc__ or "")
    model.ir_version = 8  # readable by ONNX Runtime ≥ 1.14 and TensorRT 10
    return model


def graph_hash(model: onnx.ModelProto) -> str:
    """A short content hash of a graph (engine caches are keyed by it)."""
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()[:16]
