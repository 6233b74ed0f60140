"""The one compositor every sink's frames go through: framing, background, picture-in-picture.

Video apps want a fixed landscape frame (1280×720) while portraits are usually square, and
events want the animated portrait *over* something: a colour, an image, the performer's own
camera, or nothing at all (transparent). One :class:`Compositor` does all of it, for the
virtual camera, WebRTC, the OBS stream and files alike:

1. **framing** (``full``/``bust``/``head``): a crop of the portrait around its face,
   computed once from the source's landmarks — it follows the source, not each frame's
   motion, so the picture never pumps;
2. **placement** (``fit``/``cover``/``stretch``) of that crop in its box: the whole canvas
   (``layout="full"``), or a picture-in-picture box in a corner or one half of the canvas
   (``corner``/``side``) over the performer's camera;
3. **background** behind a cut-out (RGBA) portrait and around it: ``transparent``, a
   colour, an image, the blurred portrait (``blur``) or the live camera (``camera``).

Still backgrounds are computed once per portrait and canvas size, so per frame we only
resize the animated frame and blend it: cheap, and the background stays perfectly still,
which keeps encoders' bitrate on the face. A transparent canvas is RGBA; every other is RGB.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamfx.errors import InputError
from streamfx.imageio import resize_to

FIT_MODES = ("fit", "cover", "stretch")
#: The still backgrounds of earlier versions (the letterbox fill around an opaque portrait).
BACKGROUNDS = ("blur", "black", "edge")
#: What ``--background`` takes besides a colour (#rrggbb) or an image file.
BACKGROUND_KINDS = ("auto", "transparent", "blur", "camera", "black", "edge")
BACKGROUND_HELP = "transparent | #rrggbb | IMAGE file | blur | black | edge | camera"
FRAMES = ("full", "bust", "head")
LAYOUTS = ("full", "corner", "side")
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")

#: Face height (the landmarks' extent, brow to chin) as a part of the crop's height.
_FRAME_FACE_SHARE = {"head": 0.55, "bust": 0.3}
#: Where the face's centre sits in the crop, from its top (head: room for the hair above;
#: bust: the shoulders below).
_FRAME_FACE_AT = {"head": 0.52, "bust": 0.38}


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


# -- options -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Background:
    """What shows behind a cut-out portrait and around it (see :func:`parse_background`)."""

    kind: str = "auto"
    """auto | transparent | colour | image | blur | camera | black | edge"""
    colour: tuple[int, int, int] = (0, 0, 0)
    path: str | None = None

    @property
    def transparent(self) -> bool:
        return self.kind == "transparent"

    @property
    def replaces(self) -> bool:
        """True when the portrait's own background is cut away (anything but ``auto``)."""
        return self.kind != "auto"

    def __str__(self) -> str:
        if self.kind == "colour":
            return "#{:02x}{:02x}{:02x}".format(*self.colour)
        return self.path if self.kind == "image" and self.path else self.kind


_COLOUR_RE = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_background(spec: str | Background | None) -> Background:
    """``transparent``, ``#rrggbb``, ``blur``, ``camera``, ``black``, ``edge``, ``auto`` or an image file.

    Raises InputError (one line) for anything else, naming what is accepted.
    """
    if spec is None:
        return Background()
    if isinstance(spec, Background):
        return spec
    text = spec.strip()
    if text.lower() in BACKGROUND_KINDS:
        return Background(text.lower())
    m = _COLOUR_RE.fullmatch(text)
    if m and (text.startswith("#") or not Path(text).exists()):
        v = m.group(1)
        return Background("colour", (int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)))
    if Path(text).is_file():
        return Background("image", path=text)
    if Path(text).suffix or len(Path(text).parts) > 1:  # meant as a file
        where = "is a folder, not an image file" if Path(text).is_dir() else "does not exist"
        raise InputError(f"--background image '{text}' {where} — give an image file, or use {BACKGROUND_HELP}")
    close = difflib.get_close_matches(text.lower(), BACKGROUND_KINDS, n=1, cutoff=0.7)
    if close:
        raise InputError(f"--background {text!r}: no such background — did you mean '{close[0]}'? ({BACKGROUND_HELP})")
    raise InputError(f"--background {text!r} is neither a colour (#rrggbb), an image file nor one of "
                     f"{', '.join(BACKGROUND_KINDS)} — use {BACKGROUND_HELP}")


@dataclass(frozen=True)
class PictureInPicture:
    """Where the portrait goes over the performer's camera (``layout`` corner or side)."""

    layout: str = "full"
    """full: the portrait fills the canvas (replacing the camera); corner: a box in a
    corner over the camera; side: camera on the left half, portrait on the right."""
    position: str = "bottom-right"
    size: float = 0.35
    """corner box height, as a part of the canvas height (0.1–1)."""
    border: int = 0
    """border width in pixels around the portrait's box (0: none)."""
    border_colour: tuple[int, int, int] = (255, 255, 255)
    margin: float = 0.03
    """gap between the corner box and the canvas edges, as a part of the canvas height."""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, not {self.position!r}")
        if not 0.1 <= self.size <= 1.0:
            raise ValueError(f"picture-in-picture size must be between 0.1 and 1, not {self.size}")
        if not 0 <= self.border <= 64:
            raise ValueError(f"border must be 0..64 pixels, not {self.border}")

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the portrait's box on a width×height canvas."""
        if self.layout == "full":
            return 0, 0, width, height
        if self.layout == "side":
            return width // 2, 0, width - width // 2, height
        bh = max(2, round(height * self.size))
        bw = min(width, round(bh * 3 / 4))  # a portrait-shaped box
        m = round(height * self.margin) + self.border
        x = m if self.position.endswith("left") else width - bw - m
        y = m if self.position.startswith("top") else height - bh - m
        return max(0, x), max(0, y), bw, bh


# -- framing -------------------------------------------------------------------------------
def frame_rect(landmarks: np.ndarray, image_size: tuple[int, int], frame: str = "full",
               aspect: float | None = None) -> tuple[int, int, int, int]:
    """The crop (x, y, w, h) of a portrait for ``frame``: ``full`` (all of it), ``bust``
    (head and shoulders) or ``head`` (the face filling about half the height).

    ``aspect`` (width / height) is the box the crop will fill; the crop keeps it where the
    image is large enough, else it is cut at the image's edges (and letterboxed later).
    """
    w, h = image_size
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {', '.join(FRAMES)}, not {frame!r}")
    if frame == "full":
        return 0, 0, w, h
    lm = np.asarray(landmarks, np.float64)[:, :2]
    (x0, y0), (x1, y1) = lm.min(axis=0), lm.max(axis=0)
    face_h = max(y1 - y0, 1.0)
    ch = face_h / _FRAME_FACE_SHARE[frame]
    cw = ch * (aspect if aspect else 3 / 4)
    cw, ch = min(cw, w), min(ch, h)
    cx = (x0 + x1) / 2 - cw / 2
    cy = (y0 + y1) / 2 - ch * _FRAME_FACE_AT[frame]
    cx = float(np.clip(cx, 0, w - cw))
    cy = float(np.clip(cy, 0, h - ch))
    return round(cx), round(cy), max(1, round(cw)), max(1, round(ch))


# -- the compositor ------------------------------------------------------------------------
class Compositor:
    """Place frames of one portrait onto a ``width``×``height`` canvas (RGB, or RGBA when
    the background is transparent)."""

    def __init__(self, width: int, height: int, *, mode: str = "fit",
                 background: str | Background = "blur", frame: str = "full",
                 pip: PictureInPicture | None = None, any_size: bool = False) -> None:
        """``any_size``: allow odd sizes (files pad them; live sinks need :func:`check_size`)."""
        if not any_size:
            check_size(width, height)
        if isinstance(background, str) and background in BACKGROUNDS:
            # the letterbox fill of an opaque portrait (what ``auto`` falls back to)
            self.fill, bg = background, Background("auto")
        else:
            self.fill, bg = "blur", parse_background(background)
        if frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(FRAMES)}, not {frame!r}")
        placement(1, 1, width, height, mode)  # validates mode
        self.width, self.height, self.mode = width, height, mode
        self.background = bg
        self.frame = frame
        self.pip = pip or PictureInPicture()
        self._source: np.ndarray | None = None
        self._landmarks: np.ndarray | None = None
        self._crop: tuple[int, int, int, int] | None = None
        self._stills: dict[tuple[str, int, int], np.ndarray] = {}
        self._image: np.ndarray | None = None
        if bg.kind == "image":
            from streamfx.imageio import load_image

            assert bg.path is not None
            self._image = load_image(bg.path)

    @property
    def transparent(self) -> bool:
        """True when canvases come out RGBA (the background is transparent and the portrait fills them)."""
        return self.background.transparent and self.pip.layout == "full"

    @property
    def wants_alpha(self) -> bool:
        """True when the portrait must be cut out (RGBA frames) for this background."""
        return self.background.replaces

    @property
    def wants_camera(self) -> bool:
        """True when compose() needs the driver's camera picture."""
        return self.background.kind == "camera" or self.pip.layout != "full"

    @property
    def background_name(self) -> str:
        return str(self.background)

    def set_source(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> None:
        """Recompute the stills (and the framing crop, from ``landmarks``) for a new portrait."""
        self._source = np.ascontiguousarray(image[..., :3])
        self._landmarks = None if landmarks is None else np.asarray(landmarks, np.float32)
        self._stills.clear()
        self._crop = None
        if self.frame != "full" and landmarks is not None:
            _, _, bw, bh = self.pip.box(self.width, self.height)
            self._crop = frame_rect(landmarks, (image.shape[1], image.shape[0]), self.frame, bw / bh)

    def set_frame(self, frame: str) -> None:
        """Change the framing (``full``/``bust``/``head``) of the current portrait; ValueError for others."""
        if frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(FRAMES)}, not {frame!r}")
        self.frame = frame
        if self._source is not None:
            self.set_source(self._source, self._landmarks)

    def shown_scale(self, width: int, height: int, landmarks: np.ndarray | None = None) -> float:
        """The scale at which :meth:`compose` draws a ``width``×``height`` portrait (its
        framing crop, found from ``landmarks`` in the portrait's pixels): below 1 the canvas
        shows fewer pixels than the portrait has, and a smaller portrait would look the same.

        1.0 where the crop needs landmarks that are not given. ``fit`` and ``cover`` scale
        both axes alike (the smaller of the two rounded ones counts: a portrait scaled by it
        is no taller or wider than its place); ``stretch`` scales them apart: the larger counts.
        """
        _, _, bw, bh = self.pip.box(self.width, self.height)
        if self.frame == "full":
            cw, ch = width, height
        elif landmarks is None:
            return 1.0
        else:
            _, _, cw, ch = frame_rect(landmarks, (width, height), self.frame, bw / bh)
        mode = "cover" if self.pip.layout == "side" else self.mode
        p = placement(cw, ch, bw, bh, mode)
        _, _, kw, kh = p.crop
        return (max if mode == "stretch" else min)(p.w / kw, p.h / kh)

    @property
    def crop(self) -> tuple[int, int, int, int] | None:
        """The framing crop (x, y, w, h) in source pixels, or None for the whole portrait."""
        return self._crop

    def compose(self, frame: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
        """A new canvas with ``frame`` (the animated portrait, RGB or RGBA) placed on it;
        ``camera`` is the driver's picture (RGB) for the camera background and layouts."""
        if self._crop is not None:
            x, y, w, h = self._crop
            frame = frame[y : y + h, x : x + w]
        if self.pip.layout == "full":
            return self._fill(frame, self.width, self.height, self.mode, self.background, camera)
        canvas = self._camera_canvas(camera, self.width, self.height)
        bx, by, bw, bh = self.pip.box(self.width, self.height)
        # inside the box: the portrait over its background; a cut-out with a transparent or
        # camera background floats over the camera itself
        inner = self.background
        if inner.kind in ("camera", "transparent"):
            inner = Background("transparent")
        box = self._fill(frame, bw, bh, "cover" if self.pip.layout == "side" else self.mode, inner, camera)
        if self.pip.border:
            draw_border(canvas, (bx, by, bw, bh), self.pip.border, self.pip.border_colour)
        if box.shape[2] == 4:
            overlay(canvas, box, bx, by)
        else:
            canvas[by : by + bh, bx : bx + bw] = box
        return canvas

    # -- parts ---------------------------------------------------------------------------
    def _fill(self, frame: np.ndarray, width: int, height: int, mode: str, bg: Background,
              camera: np.ndarray | None) -> np.ndarray:
        """``frame`` placed on a width×height canvas over ``bg``."""
        h, w = frame.shape[:2]
        opaque = frame.shape[2] == 3
        if (w, h) == (width, height) and opaque:
            return frame.copy()  # consumers keep it while the animator may reuse its buffer
        p = placement(w, h, width, height, mode)
        cx, cy, cw, ch = p.crop
        src = frame[cy : cy + ch, cx : cx + cw]
        resized = (cw, ch) != (p.w, p.h)
        if resized:
            src = resize_to(src, p.w, p.h)
        if (p.w, p.h) == (width, height) and opaque:
            # cover and stretch fill the canvas: no background shows, nothing to paste onto
            return src if resized else src.copy()
        if bg.transparent:
            canvas = np.zeros((height, width, 4), np.uint8)
            dst = canvas[p.y : p.y + p.h, p.x : p.x + p.w]
            dst[..., : src.shape[2]] = src
            if opaque:
                dst[..., 3] = 255
            return canvas
        canvas = self._background(bg, width, height, camera)
        if opaque:
            canvas[p.y : p.y + p.h, p.x : p.x + p.w] = src
        else:
            overlay(canvas, src, p.x, p.y)
        return canvas

    def _background(self, bg: Background, width: int, height: int, camera: np.ndarray | None) -> np.ndarray:
        """A new width×height RGB canvas of ``bg`` (stills computed once per size)."""
        if bg.kind == "camera":
            return self._camera_canvas(camera, width, height)
        kind = self.fill if bg.kind == "auto" else bg.kind
        key = (str(bg) if bg.kind != "auto" else kind, width, height)
        still = self._stills.get(key)
        if still is None:
            if bg.kind == "colour":
                still = np.empty((height, width, 3), np.uint8)
                still[:] = bg.colour
            elif bg.kind == "image":
                assert self._image is not None
                still = cover(self._image, width, height)
            else:
                if self._source is None:
                    raise RuntimeError("Compositor.set_source() must come before compose()")
                still = make_background(self._source, width, height, kind)
            self._stills[key] = still
        return still.copy()

    def _camera_canvas(self, camera: np.ndarray | None, width: int, height: int) -> np.ndarray:
        if camera is None:
            # a motion script has no picture: the portrait's blurred backdrop stands in
            return self._background(Background("blur"), width, height, None)
        return cover(camera[..., :3], width, height)


def draw_border(canvas: np.ndarray, box: tuple[int, int, int, int], width: int,
                colour: tuple[int, int, int]) -> None:
    """A ``width``-pixel frame just outside ``box`` (x, y, w, h), clipped to the canvas; in place."""
    x, y, w, h = box
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, x - width), max(0, y - width), min(W, x + w + width), min(H, y + h + width)
    for ys, xs in (((y0, y), (x0, x1)), ((y + h, y1), (x0, x1)), ((y, y + h), (x0, x)), ((y, y + h), (x + w, x1))):
        canvas[max(y0, ys[0]) : min(y1, ys[1]), max(x0, xs[0]) : min(x1, xs[1]), :3] = colour


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled and cropped to fill width×height exactly (a new array)."""
    p = placement(image.shape[1], image.shape[0], width, height, "cover")
    cx, cy, cw, ch = p.crop
    src = image[cy : cy + ch, cx : cx + cw]
    if (cw, ch) == (width, height):
        return np.ascontiguousarray(src).copy()
    return cv2.resize(src, (width, height), interpolation=cv2.INTER_AREA if cw > width else cv2.INTER_LINEAR)


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
    dst[...] = blend(src, dst[..., :3])
    return canvas


def blend(rgba: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``rgba`` over ``rgb`` (same size), RGB uint8: OpenCV's saturating arithmetic, ~4× numpy's."""
    a = np.ascontiguousarray(rgba[..., 3])
    a3 = cv2.merge([a, a, a])
    fg = cv2.multiply(np.ascontiguousarray(rgba[..., :3]), a3, scale=1 / 255)
    bg = cv2.multiply(np.ascontiguousarray(rgb), cv2.bitwise_not(a3), scale=1 / 255)
    return cv2.add(fg, bg)


def flatten(frame: np.ndarray, colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """An RGB frame for outputs without alpha: RGBA over ``colour`` (RGB passes through)."""
    if frame.shape[2] == 3:
        return frame
    if colour == (0, 0, 0):  # over black it is just the colour premultiplied: half the work
        a = np.ascontiguousarray(frame[..., 3])
        return cv2.multiply(np.ascontiguousarray(frame[..., :3]), cv2.merge([a, a, a]), scale=1 / 255)
    base = np.empty(frame.shape[:2] + (3,), np.uint8)
    base[:] = colour
    return blend(frame, base)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``1280x720`` (or ``1280×720``) into (width, height), validated."""
    try:
        w_s, h_s = text.lower().replace("×", "x").split("x")
        w, h = int(w_s), int(h_s)
    except ValueError:
        raise ValueError(f"size must look like 1280x720, not {text!r}") from None
    check_size(w, h)
    return w, h
