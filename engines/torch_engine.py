"""``cuda``: the generator graph's maths in PyTorch on an NVIDIA GPU, with CUDA graphs.

The same stages as engines.onnx_graph, op for op (gathers, not ``grid_sample``, so the
remap reproduces OpenCV's fixed point), written with torch tensors. torch is imported
only when the engine is used; the core install does not need it. On a GPU each batch size
seen is captured once as a CUDA graph and replayed (one launch instead of ~300 kernels),
with the frame copied back through a pinned host buffer.

``EngineSettings(device="cpu")`` runs the same code on the CPU: that is how its parity with
the reference is checked on machines without a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.base import EngineSettings, GeneratorEngine
from engines.onnx_graph import GraphConstants
from streamfx import landmarks as L
from streamfx.generator import _EYES, _INVERT_ITERATIONS, MOUTH_FEATHER, SourceTensors


def _f32(x: float) -> float:
    """A Python float holding x rounded to float32, as the graph's constants are.

    (A NumPy scalar next to a tensor would make NumPy try to convert the tensor.)
    """
    return float(np.float32(x))


def _torch() -> Any:
    import torch

    return torch


class TorchEngine(GeneratorEngine):
    name = "cuda"

    def __init__(self, settings: EngineSettings | None = None):
        super().__init__(settings)
        self._t: dict[str, Any] = {}
        self._graphs: dict[tuple[int, bool], tuple[Any, Any, Any, Any]] = {}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            torch = _torch()
        except ImportError:
            return False, "PyTorch is not installed (pip install torch, a CUDA build)"
        if not torch.cuda.is_available():
            build = "CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build"
            return False, f"no CUDA GPU (torch {torch.__version__}, {build})"
        return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"

    # ---- per source ----------------------------------------------------------------------
    def _prepare(self, src: SourceTensors) -> None:
        torch = _torch()
        dev = torch.device(self.settings.device)
        self._dev = dev
        self._graphs.clear()

        def t(a: np.ndarray | list[int], dtype: Any = None) -> Any:
            return torch.as_tensor(np.asarray(a), device=dev, dtype=dtype)

        rh = src.roi[3] - src.roi[1]
        k = GraphConstants.of(src)
        xa, xb, wa, wb = k.taps_x
        ya, yb, va, vb = k.taps_y
        self._t = {
            "ctrl_idx": t(L.CONTROL, torch.long), "rigid_idx": t(L.RIGID, torch.long),
            "control": t(src.control.astype(np.float32)),
            "rigid_source": t(src.landmarks[L.RIGID, :2].astype(np.float32)),
            "face_field": t(src.face_field), "head_field": t(src.head_field),
            "grid_u": t(k.grid_u), "grid_v": t(k.grid_v),
            "xa": t(xa, torch.long), "xb": t(xb, torch.long), "wa": t(wa), "wb": t(wb),
            "ya": t(ya, torch.long), "yb": t(yb, torch.long), "va": t(va.reshape(rh, 1)), "vb": t(vb.reshape(rh, 1)),
            "pixels": t(k.pixels), "planes": t(k.planes), "xs": t(k.xs), "ys": t(k.ys),
            "image": t(src.image),
            "lip": t(src.lip_rgb.astype(np.float32).reshape(3, 1, 1, 1)),
            "teeth": None if src.teeth_rgb is None else t(src.teeth_rgb.astype(np.float32).reshape(3, 1, 1, 1)),
            "lid": [t(src.lid_rgb[e].astype(np.float32).reshape(3, 1, 1, 1)) for e in range(2)],
            "lash": [t(src.lash_rgb[e].astype(np.float32).reshape(3, 1, 1, 1)) for e in range(2)],
        }
        self._k = {"sx": float(k.sx), "sy": float(k.sy)}

    # ---- per frame -----------------------------------------------------------------------
    def _forward(self, targets: Any) -> Any:
        """B×478×3 float32 tensor → B×H×W×C uint8 tensor (the graph's maths)."""
        torch = _torch()
        src = self.src
        assert src is not None
        T, k = self._t, self._k
        f32 = torch.float32
        h, w = src.image.shape[:2]
        c = src.image.shape[2]
        x0, y0, x1, y1 = src.roi
        gh, gw = src.grid_shape
        n_grid = gh * gw
        b = targets.shape[0]
        tgt2 = targets[..., :2]

        # 1. motion on the coarse grid
        d_rig = (tgt2[:, T["rigid_idx"]] - T["rigid_source"]).reshape(b, -1, 1)
        rigid = torch.matmul(T["head_field"], d_rig).reshape(b, n_grid, 2)
        disp = torch.matmul(T["face_field"], tgt2[:, T["ctrl_idx"]] - T["control"]) + rigid
        norm = torch.sqrt((disp * disp).sum(dim=2, keepdim=True))
        disp = disp * torch.clamp(_f32(src.max_shift) / torch.clamp(norm, min=1e-6), max=1.0)

        # 2. inversion in offset form
        flat = disp.reshape(-1, 2)
        boff = (torch.arange(b, device=self._dev) * n_grid).reshape(b, 1)
        offset = -disp
        for _ in range(_INVERT_ITERATIONS):
            u = torch.clamp(T["grid_u"] + offset[..., 0:1] / k["sx"], 0.0, gw - 1)
            v = torch.clamp(T["grid_v"] + offset[..., 1:2] / k["sy"], 0.0, gh - 1)
            u0 = torch.clamp(torch.floor(u), max=gw - 2)
            v0 = torch.clamp(torch.floor(v), max=gh - 2)
            fu, fv = u - u0, v - v0
            base = (v0 * gw + u0).long()[..., 0] + boff
            f00, f01, f10, f11 = flat[base], flat[base + 1], flat[base + gw], flat[base + gw + 1]
            top = f00 * (1 - fu) + f01 * fu
            bottom = f10 * (1 - fu) + f11 * fu
            offset = -(top * (1 - fv) + bottom * fv)
        coarse = offset.reshape(b, gh, gw, 2).permute(0, 3, 1, 2)  # B×2×gh×gw

        # 3. cv2.resize (horizontal, then vertical) + pixel coordinates
        hor = coarse[..., T["xa"]] * T["wa"] + coarse[..., T["xb"]] * T["wb"]
        full = hor[:, :, T["ya"]] * T["va"] + hor[:, :, T["yb"]] * T["vb"]
        mapping = full + T["pixels"]

        # 4. cv2.remap, bit-exact fixed point
        fixed = torch.round(mapping * 32.0)
        whole = torch.floor(fixed * (1.0 / 32.0))
        frac = fixed - whole * 32.0
        ix, iy = whole[:, 0].long(), whole[:, 1].long()
        fx, fy = frac[:, 0], frac[:, 1]
        x_a, x_b = ix.clamp(0, w - 1), (ix + 1).clamp(0, w - 1)
        y_a, y_b = iy.clamp(0, h - 1) * w, (iy + 1).clamp(0, h - 1) * w
        planes = T["planes"]

        def pix(yy: Any, xx: Any) -> Any:
            return planes[:, yy + xx].to(f32)  # C×B×rh×rw

        wx0, wy0 = 32.0 - fx, 32.0 - fy
        acc = (pix(y_a, x_a) * wx0 + pix(y_a, x_b) * fx) * wy0 + (pix(y_b, x_a) * wx0 + pix(y_b, x_b) * fx) * fy
        region = torch.floor((acc + 512.0) * (1.0 / 1024.0))

        # 5. mouth and eyelid layers
        if self.settings.generator.mouth_synthesis:
            rgb = region[:3]
            rgb = self._mouth(tgt2, rgb, w, h)
            for eye in range(len(_EYES)):
                rgb = self._eyelid(tgt2, eye, rgb, w, h)
            region = torch.cat([rgb, region[3:]], dim=0) if c == 4 else rgb

        # 6. the rest of the image
        out = T["image"].unsqueeze(0).repeat(b, 1, 1, 1)
        out[:, y0:y1, x0:x1] = region.to(torch.uint8).permute(1, 2, 3, 0)
        return out

    def _pt(self, tgt2: Any, i: int) -> tuple[Any, Any]:
        p = tgt2[:, i]
        return p[:, 0].reshape(-1, 1, 1), p[:, 1].reshape(-1, 1, 1)

    @staticmethod
    def _axis(ax0: Any, ay0: Any, ax1: Any, ay1: Any) -> tuple[Any, Any, Any]:
        dx, dy = ax1 - ax0, ay1 - ay0
        width = _torch().sqrt(dx * dx + dy * dy) + _f32(1e-6)
        return dx / width, dy / width, width

    def _frame(self, ax_x: Any, ax_y: Any, ox: Any, oy: Any, width: Any) -> tuple[Any, Any]:
        rx, ry = self._t["xs"] - ox, self._t["ys"] - oy
        return (rx * ax_x + ry * ax_y) / width, rx * (-ax_y) + ry * ax_x

    @staticmethod
    def _box(xs: Any, ys: Any, bx0: Any, by0: Any, bx1: Any, by1: Any) -> Any:
        return ((xs >= bx0) & (xs < bx1) & (ys >= by0) & (ys < by1)).float()

    @staticmethod
    def _composite(patch: Any, colour: Any, cover: Any) -> Any:
        return _torch().floor(_torch().clamp(patch * (1 - cover) + colour * cover + 0.5, 0.0, 255.0))

    def _mouth(self, tgt2: Any, patch: Any, img_w: int, img_h: int) -> Any:
        torch = _torch()
        src, T = self.src, self._t
        assert src is not None
        clx, cly = self._pt(tgt2, L.INNER_CORNERS[0])
        crx, cry = self._pt(tgt2, L.INNER_CORNERS[1])
        tx, ty = self._pt(tgt2, L.UPPER_LIP_MID)
        bx, by = self._pt(tgt2, L.LOWER_LIP_MID)
        ax_x, ax_y, width = self._axis(clx, cly, crx, cry)
        h_up = (tx - clx) * (-ax_y) + (ty - cly) * ax_x
        h_lo = (bx - clx) * (-ax_y) + (by - cly) * ax_x
        u, v = self._frame(ax_x, ax_y, clx, cly, width)
        bulge = torch.clamp(4.0 * u * (1.0 - u), 0.0, 1.0)
        v_up, v_lo = h_up * bulge, h_lo * bulge
        feather = torch.clamp(MOUTH_FEATHER * width, min=1.0)
        inside = torch.clamp((v - v_up) / feather, 0, 1) * torch.clamp((v_lo - v) / feather, 0, 1)
        gap = (h_lo - h_up) / width
        opening = torch.clamp((gap - _f32(src.mouth_gap) - 0.02) / 0.06, 0.0, 1.0)
        lips = tgt2[:, L.LIPS_OUTER]
        lo, hi = lips.amin(dim=1), lips.amax(dim=1)
        bx0 = torch.clamp(torch.floor(lo[:, 0]), min=0).reshape(-1, 1, 1)
        by0 = torch.clamp(torch.floor(lo[:, 1]), min=0).reshape(-1, 1, 1)
        bx1 = torch.clamp(torch.ceil(hi[:, 0]) + 1, max=img_w).reshape(-1, 1, 1)
        by1 = torch.clamp(torch.ceil(hi[:, 1]) + 1, max=img_h).reshape(-1, 1, 1)
        cover = inside * opening * self._box(T["xs"], T["ys"], bx0, by0, bx1, by1)
        depth = torch.clamp((v - v_up) / torch.clamp(v_lo - v_up, min=1e-3), 0, 1)
        d = torch.abs(2.0 * depth - 1.0)
        colour = T["lip"] * (0.22 + 0.25 * (d * d))
        if T["teeth"] is not None:
            band = torch.minimum(torch.maximum(_f32(0.8 * src.mouth_gap) * width, 0.08 * width), 0.45 * (h_lo - h_up))
            centre = torch.clamp(1.0 - torch.abs(2.0 * u - 1.0) / 0.75, 0, 1)
            upper = torch.clamp((v_up + band - v) / feather, 0, 1) * centre
            lower = torch.clamp((v - (v_lo - 0.4 * band)) / feather, 0, 1) * centre
            t = torch.clamp(upper + lower, 0, 1)
            colour = colour * (1 - t) + T["teeth"] * t
        return self._composite(patch, colour, cover)

    def _eyelid(self, tgt2: Any, eye: int, patch: Any, img_w: int, img_h: int) -> Any:
        torch = _torch()
        src, T = self.src, self._t
        assert src is not None
        corners, up, low = _EYES[eye]
        ax_, ay_ = self._pt(tgt2, corners[0])
        bx_, by_ = self._pt(tgt2, corners[1])
        swap = ax_ > bx_
        ox, oy = torch.where(swap, bx_, ax_), torch.where(swap, by_, ay_)
        ex, ey = torch.where(swap, ax_, bx_), torch.where(swap, ay_, by_)
        ax_x, ax_y, width = self._axis(ox, oy, ex, ey)
        upx, upy = self._pt(tgt2, up)
        lox, loy = self._pt(tgt2, low)
        h_up = (upx - ox) * (-ax_y) + (upy - oy) * ax_x
        h_lo = (lox - ox) * (-ax_y) + (loy - oy) * ax_x
        u, v = self._frame(ax_x, ax_y, ox, oy, width)
        bulge = torch.clamp(4.0 * u * (1.0 - u), 0.0, 1.0)
        v_lid = h_up * bulge
        k_open = _f32(-float(src.eye_open[eye])) * width
        v_open = k_open * bulge
        feather = torch.clamp(0.04 * width, min=0.7)
        below_open = torch.clamp((v - v_open) / (2.5 * feather), 0, 1)
        above_lid = torch.clamp((v_lid - v) / feather, 0, 1)
        above_lower = torch.clamp((h_lo * bulge + feather - v) / feather, 0, 1)
        cover = below_open * above_lid * above_lower * (bulge > 0).float()
        lash_w = torch.clamp(0.05 * width, min=0.8)
        lash = torch.clamp(1.0 - torch.abs(v - v_lid) / lash_w, 0, 1) * (bulge > 0.05).float()
        cx, cy = (ax_ + bx_) * 0.5, (ay_ + by_) * 0.5
        r = 0.6 * width + 2.0
        bx0 = torch.clamp(torch.trunc(cx - r), min=0)
        by0 = torch.clamp(torch.trunc(cy - r), min=0)
        bx1 = torch.clamp(torch.trunc(cx + r) + 1, max=img_w)
        by1 = torch.clamp(torch.trunc(cy + r) + 1, max=img_h)
        inbox = self._box(T["xs"], T["ys"], bx0, by0, bx1, by1)
        b_max = (bulge * inbox).amax(dim=(1, 2), keepdim=True)
        b_min = (bulge + (1 - inbox) * 4.0).amin(dim=(1, 2), keepdim=True)
        neg_open = k_open < 0
        vo_max = k_open * torch.where(neg_open, b_min, b_max)
        vo_min = k_open * torch.where(neg_open, b_max, b_min)
        vl_max = h_up * torch.where(h_up < 0, b_min, b_max)
        ratio = (vo_max - vl_max) / (-vo_min * 0.3 + _f32(1e-6))
        closing = torch.where(vo_min < 0, torch.clamp(ratio, 0, 1), torch.zeros_like(ratio))
        lash = lash * closing
        depth = torch.clamp((v - v_open) / torch.clamp(v_lid - v_open, min=1e-3), 0, 1)
        lid = T["lid"][eye] * (1.0 - 0.12 * depth)
        colour = lid * (1 - lash) + T["lash"][eye] * lash
        cover = torch.maximum(cover, lash) * inbox
        return self._composite(patch, colour, cover)

    # ---- running -------------------------------------------------------------------------
    def _render_batch(self, targets: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            if self._dev.type == "cuda" and self.settings.cuda_graphs and len(targets) <= self.settings.max_batch:
                return self._replay(targets)
            out = self._forward(torch.from_numpy(targets).to(self._dev))
            return np.asarray(out.cpu().numpy())

    def _replay(self, targets: np.ndarray) -> np.ndarray:
        """Run through a CUDA graph captured for this batch size (captured on first use)."""
        torch = _torch()
        b = len(targets)
        key = (b, self.settings.generator.mouth_synthesis)  # a toggle needs another graph
        if key not in self._graphs:
            static_in = torch.from_numpy(targets).to(self._dev)
            side = torch.cuda.Stream(self._dev)
            side.wait_stream(torch.cuda.current_stream(self._dev))
            with torch.cuda.stream(side):  # warm-up outside the capture, as CUDA graphs require
                for _ in range(2):
                    self._forward(static_in)
            torch.cuda.current_stream(self._dev).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            host = torch.empty(static_out.shape, dtype=torch.uint8, pin_memory=True)
            self._graphs[key] = (graph, static_in, static_out, host)
        graph, static_in, static_out, host = self._graphs[key]
        static_in.copy_(torch.from_numpy(targets), non_blocking=True)
        graph.replay()
        host.copy_(static_out, non_blocking=True)
        torch.cuda.current_stream(self._dev).synchronize()
        return np.array(host.numpy())  # a copy: the pinned buffer is reused next frame

    def close(self) -> None:
        self._graphs.clear()
        self._t = {}

    def describe(self) -> str:
        return f"cuda (PyTorch on {self.settings.device})"
