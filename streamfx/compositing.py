"""Fit an animated portrait onto a fixed W×H output canvas, and alpha-overlay RGBA frames.

Video apps want a fixed landscape frame (1280×720) while portraits are usually square.
The canvas background is computed once per portrait (a blurred, darkened "cover" fill),
so per frame we only resize the animated frame and paste it: cheap, and the background
stays perfectly still, which keeps encoders' bitrate on the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FIT_MODES = ("fit", "cover", "stretch")
BACKGROUNDS = ("blur", "black", "edge")


@dataclass(frozen=True)
class Placement:
    """Where the (resized) portrait lands on the canvas."""

    x: int
    y: int
    w: int
    h: int
    # crop of the source frame (cover mode), in source pixels
    crop: tuple[int, int, int, int]


MAX_SIZE = (7680, 4320)


def check_size(width: int, height: int) -> None:
    """The one rule for an output size: even (for I420 encoders), 16×16 up to 8K."""
    if not (16 <= width <= MAX_SIZE[0] and 16 <= height <= MAX_SIZE[1]) or width % 2 or height % 2:
        raise ValueError(f"output size must be even and within 16x16..{MAX_SIZE[0]}x{MAX_SIZE[1]}, "
                         f"not {width}x{height}")


def placement(src_w: int, src_h: int, dst_w: int, dst_h: int, mode: str = "fit") -> Placement:
    """Compute how a src_w×src_h frame maps onto dst_w×dst_h for ``mode``."""
    if mode not in FIT_MODES:
        raise ValueError(f"fit mode must be one of {', '.join(FIT_MODES)}, not {mode!r}")
    if mode == "stretch":
        return Placement(0, 0, dst_w, dst_h, (0, 0, src_w, src_h))
    if mode == "fit":
        s = min(dst_w / src_w, dst_h / src_h)
        w, h = max(1, round(src_w * s)), max(1, round(src_h * s))
        return Placement((dst_w - w) // 2, (dst_h - h) // 2, w, h, (0, 0, src_w, src_h))
    # cover: scale so the canvas is filled, crop the overflow. Crop biased upwards (keep
    # the top of the head: portraits have more room below the chin than above the hair).
    s = max(dst_w / src_w, dst_h / src_h)
    cw, ch = min(src_w, round(dst_w / s)), min(src_h, round(dst_h / s))
    cx = (src_w - cw) // 2
    cy = int((src_h - ch) * 0.35)
    return Placement(0, 0, dst_w, dst_h, (cx, cy, cw, ch))


class Compositor:
    """Place frames of one portrait onto a ``width``×``height`` RGB canvas."""

    def __init__(self, width: int, height: int, *, mode: str = "fit", background: str = "blur") -> None:
        check_size(width, height)
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, not {background!r}")
        placement(1, 1, width, height, mode)  # validates mode
        self.width, self.height, self.mode, self.background = width, height, mode, background
        self._bg: np.ndarray | None = None

    def set_source(self, image: np.ndarray) -> None:
        """Recompute the still background from the (unanimated) portrait."""
        self._bg = make_background(image, self.width, self.height, self.background)

    def compose(self, frame: np.ndarray) -> np.ndarray:
        """Return a new H×W×3 canvas with ``frame`` (RGB or RGBA) placed on it."""
        h, w = frame.shape[:2]
        if (w, h) == (self.width, self.height) and frame.shape[2] == 3:
            return frame.copy()  # consumers keep it while the animator may reuse its buffer
        p = placement(w, h, self.width, self.height, self.mode)
        cx, cy, cw, ch = p.crop
        src = frame[cy : cy + ch, cx : cx + cw]
        resized = (cw, ch) != (p.w, p.h)
        if resized:
            interp = cv2.INTER_AREA if p.w < cw else cv2.INTER_LINEAR
            src = cv2.resize(src, (p.w, p.h), interpolation=interp)
        if (p.w, p.h) == (self.width, self.height) and src.shape[2] == 3:
            # cover and stretch fill the canvas: no background shows, nothing to paste onto
            return src if resized else src.copy()
        if self._bg is None:
            self.set_source(frame[..., :3])
        assert self._bg is not None
        canvas = self._bg.copy()
        if src.shape[2] == 4:
            overlay(canvas, src, p.x, p.y)
        else:
            canvas[p.y : p.y + p.h, p.x : p.x + p.w] = src
        return canvas


def make_background(image: np.ndarray, width: int, height: int, kind: str = "blur") -> np.ndarray:
    """A still W×H RGB background derived from the portrait."""
    rgb = np.ascontiguousarray(image[..., :3])
    if kind == "black":
        return np.zeros((height, width, 3), np.uint8)
    if kind == "edge":
        # mean colour of the portrait's border: blends with studio-style backdrops
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).reshape(-1, 3)
        colour = border.mean(axis=0).astype(np.uint8)
        return np.broadcast_to(colour, (height, width, 3)).copy()
    p = placement(rgb.shape[1], rgb.shape[0], width, height, "cover")
    cx, cy, cw, ch = p.crop
    # blur at low resolution: same look, a fraction of the cost
    small = cv2.resize(rgb[cy : cy + ch, cx : cx + cw], (max(8, width // 8), max(8, height // 8)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3)
    bg = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return (bg.astype(np.uint16) * 3 // 5).astype(np.uint8)  # darken: the face stays the subject


def overlay(canvas: np.ndarray, rgba: np.ndarray, x: int = 0, y: int = 0) -> np.ndarray:
    """Alpha-blend ``rgba`` onto ``canvas`` (RGB, in place) with its top-left at (x, y)."""
    h, w = rgba.shape[:2]
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x0 >= x1 or y0 >= y1:
        return canvas
    src = rgba[y0 - y : y1 - y, x0 - x : x1 - x]
    dst = canvas[y0:y1, x0:x1]
    a = src[..., 3:4].astype(np.uint16)
    blended = (src[..., :3].astype(np.uint16) * a + dst.astype(np.uint16) * (255 - a) + 127) // 255
    dst[...] = blended.astype(np.uint8)
    return canvas


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``1280x720`` (or ``1280×720``) into (width, height), validated."""
    try:
        w_s, h_s = text.lower().replace("×", "x").split("x")
        w, h = int(w_s), int(h_s)
    except ValueError:
        raise ValueError(f"size must look like 1280x720, not {text!r}") from None
    check_size(w, h)
    return w, h
