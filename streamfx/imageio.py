"""Still images in and out: the source portrait, web uploads and snapshots.

Everything returned here is RGB uint8 H×W×3 — or RGBA H×W×4 where the caller keeps the
alpha of a portrait that has one; OpenCV's BGR stays inside this module. Whatever an editor
stored under alpha = 0 never comes out of here: those pixels take the colour of the nearest
visible one (:func:`streamfx.matte.neutralise_hidden_colour`).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import numpy as np

from streamfx.errors import (
    ImageTooLargeError,
    InputError,
    OutputError,
    UnsupportedImageError,
    require_file,
)
from streamfx.matte import neutralise_hidden_colour

log = logging.getLogger("streamfx")

#: Refuse anything larger before decoding it: a 200 MP RGB image is already 600 MB in memory.
MAX_PIXELS = 200_000_000

#: What a web upload may be, told by its first bytes (never by the sender's name or Content-Type).
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
#: Pixels an upload's header may declare. The live portrait is ≤ 1024 px, but phone photos
#: (12–50 MP) are welcome and downscaled; beyond this nothing is decoded at all — a 200 KB PNG
#: can declare 14000×14000 and cost a gigabyte to decode.
UPLOAD_MAX_PIXELS = 50_000_000

_IMAGE_HINT = "use a .jpg/.png/.webp/.bmp file"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


def _unreadable(name: str) -> str:
    """The one line for a file that decodes to no picture, saying what it more likely is."""
    suffix = Path(name).suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return (f"'{name}' is not an image OpenCV can read: it is named {suffix} but holds no picture "
                f"(a text file, or a renamed or damaged one?) — {_IMAGE_HINT} that opens in an image viewer")
    if suffix in VIDEO_SUFFIXES:
        return (f"'{name}' is not an image OpenCV can read: it is a video, and a portrait is one still picture "
                f"({_IMAGE_HINT}; a video drives a portrait as the second argument)")
    return f"'{name}' is not an image OpenCV can read ({_IMAGE_HINT})"


#: Formats (Pillow's names) whose files may carry an alpha channel.
_ALPHA_FORMATS = ("PNG", "WEBP")


def load_image(path: str | Path, *, max_side: int = 4096, keep_alpha: bool = False) -> np.ndarray:
    """Read a portrait from disk as RGB uint8 H×W×3, downscaled so its longest side ≤ max_side.

    With ``keep_alpha`` an image with an alpha channel comes back RGBA (H×W×4); otherwise
    alpha is dropped. Either way the colour under alpha = 0 is replaced by the nearest
    visible colour. Grayscale is expanded to three channels. Every failure is an
    :class:`InputError` whose message names the file and what to do about it.
    """
    p = require_file(path, "source image", _IMAGE_HINT)
    shown = str(path)
    try:
        # Read the bytes ourselves: cv2.imread silently returns None for unreadable or
        # non-ASCII paths on some platforms, which would hide the real reason.
        data = p.read_bytes()
    except PermissionError:
        raise InputError(
            f"cannot read source image '{shown}' (permission denied) — check the file's permissions"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read source image '{shown}' ({exc.strerror or exc}) — check the path"
        ) from None
    return _decode(data, shown, max_side=max_side, keep_alpha=keep_alpha)


def load_image_bytes(
    data: bytes,
    *,
    max_side: int = 4096,
    max_bytes: int = 25_000_000,
    max_pixels: int = UPLOAD_MAX_PIXELS,
    name: str = "upload",
) -> np.ndarray:
    """Decode an uploaded image (web UI) as RGB uint8 H×W×3, longest side ≤ ``max_side``.

    Stricter than :func:`load_image`, because the bytes come from the network: only JPEG,
    PNG, WebP and BMP (by their magic bytes), and the size their header declares is checked
    before a single pixel is decoded. Raises :class:`UnsupportedImageError` for any other
    format, :class:`ImageTooLargeError` over ``max_bytes`` or ``max_pixels``, and
    :class:`InputError` for an empty or damaged file.
    """
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"image '{name}' is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB upload limit — "
            "upload a smaller or more compressed image"
        )
    if not data:
        raise InputError(f"image '{name}' is empty (0 bytes) — choose an image file")
    fmt = sniff_image_format(data)
    if fmt is None:
        raise UnsupportedImageError(f"'{name}' is not a JPEG, PNG, WebP or BMP image — upload one of those")
    header = _header_size(data, formats=(fmt,))
    if header is None:
        raise InputError(f"'{name}' starts like a {fmt} image but its header is damaged — re-export it")
    w, h, _ = header
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"image '{name}' is {w}×{h} ({w * h / 1e6:.0f} megapixels), over the "
            f"{max_pixels / 1e6:g}-megapixel upload limit — downscale it before uploading"
        )
    return _decode(bytes(data), name, max_side=max_side, header=header)


def sniff_image_format(data: bytes) -> str | None:
    """'JPEG', 'PNG', 'WEBP' or 'BMP' (Pillow's names) from the first bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    return None


def demo_portrait() -> np.ndarray:
    """The public-domain NASA astronaut portrait bundled with scikit-image (512×512 RGB, no download)."""
    from skimage import data as skdata  # deferred: importing skimage costs ~0.5 s

    img = np.asarray(skdata.astronaut())
    return np.ascontiguousarray(img[..., :3], dtype=np.uint8)


def shrink_by(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (H×W×C or H×W) averaged over ``factor``×``factor`` blocks: ``H//factor ×
    W//factor``, the rows and columns that do not fill a block dropped.

    OpenCV's area resampling takes a fast path only for whole ratios (20× faster than a
    fractional one); per-frame code shrinks by a whole factor with it and leaves the rest of
    the scale (under 2:1) to a bilinear resample or remap, which aliases little there."""
    if factor <= 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    if h < 1 or w < 1:
        return image
    return cv2.resize(image[:h * factor, :w * factor], (w, h), interpolation=cv2.INTER_AREA)


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` resampled to ``width``×``height`` for a per-frame path: a shrink averages whole
    blocks first (:func:`shrink_by`) and leaves the rest, under 2:1, to bilinear (which aliases
    little there and is several times cheaper than fractional area averaging); an enlargement
    is bilinear."""
    h, w = image.shape[:2]
    factor = min(w // max(width, 1), h // max(height, 1))
    if factor >= 2:
        image = shrink_by(image, factor)
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def save_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB(A) or grayscale uint8 image; the format follows the extension. Returns the path."""
    p = Path(path)
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise ValueError(f"save_image expects uint8 pixels, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    elif arr.ndim != 2:
        raise ValueError(f"save_image expects H×W, H×W×3 or H×W×4 pixels, got shape {arr.shape}")
    ext = p.suffix.lower() or ".png"
    try:
        ok, buf = cv2.imencode(ext, arr)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(
            f"cannot encode an image as '{ext}' for '{p}' — use .png, .jpg, .webp or .bmp"
        )
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(buf.tobytes())
    except OSError as exc:
        raise OutputError(
            f"cannot write image '{p}' ({exc.strerror or exc}) — choose a writable path"
        ) from None
    return p


def _header_size(data: bytes, formats: tuple[str, ...] | None = None) -> tuple[int, int, str | None] | None:
    """(width, height, format) from the image header without decoding pixels, when Pillow knows it.

    ``formats`` limits which of Pillow's readers may try (None: all of them).
    """
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib/scikit-image, but don't insist on it
        return None
    try:
        # Image.open only parses the header; pixel data is decoded lazily and we never ask for it.
        # Pillow's own decompression-bomb guard would raise above ~179 MP; we apply our limit.
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(io.BytesIO(data), formats=formats) as im:
                w, h = im.size
                return int(w), int(h), im.format
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    except Exception:  # noqa: BLE001 - unknown to Pillow is fine: OpenCV gets the final say
        return None


def _decode(data: bytes, name: str, *, max_side: int,
            header: tuple[int, int, str | None] | None = None, keep_alpha: bool = False) -> np.ndarray:
    if not data:
        raise InputError(f"source image '{name}' is empty (0 bytes) — re-export or re-download it")
    if header is None:
        header = _header_size(data)
    # IMREAD_COLOR always yields 8-bit BGR (16-bit PNGs are scaled down) and applies the EXIF
    # orientation, so phone portraits come out upright.
    flags = cv2.IMREAD_COLOR
    if header is not None:
        w, h, fmt = header
        if w * h > MAX_PIXELS:
            raise InputError(
                f"source image '{name}' is {w}×{h} ({w * h / 1e6:.0f} megapixels), over the "
                f"{MAX_PIXELS / 1e6:.0f}-megapixel limit — downscale it before using it"
            )
        if fmt == "JPEG":
            # libjpeg can decode straight to 1/2, 1/4 or 1/8 size, which is far cheaper than
            # decoding a huge photo in full and shrinking it; INTER_AREA below finishes the job.
            longest = max(w, h)
            for factor, reduced in (
                (8, cv2.IMREAD_REDUCED_COLOR_8),
                (4, cv2.IMREAD_REDUCED_COLOR_4),
                (2, cv2.IMREAD_REDUCED_COLOR_2),
            ):
                if longest / factor >= max_side:
                    flags = reduced
                    break
    buf = np.frombuffer(data, dtype=np.uint8)
    alpha: np.ndarray | None = None
    try:
        bgr = cv2.imdecode(buf, flags)
        if header is not None and header[2] in _ALPHA_FORMATS:
            # IMREAD_COLOR drops alpha; PNG and WebP carry no EXIF rotation to lose here
            full = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if full is not None and full.ndim == 3 and full.shape[2] == 4:
                alpha = full[..., 3] if full.dtype == np.uint8 else (full[..., 3] >> 8).astype(np.uint8)
    except cv2.error:
        bgr = None
    if bgr is None or bgr.size == 0:
        raise InputError(_unreadable(name))
    h, w = bgr.shape[:2]
    if h * w > MAX_PIXELS:  # no header from Pillow: catch it after the fact
        raise InputError(
            f"source image '{name}' is {w}×{h} ({w * h / 1e6:.0f} megapixels), over the "
            f"{MAX_PIXELS / 1e6:.0f}-megapixel limit — downscale it before using it"
        )
    orig = header[:2] if header is not None else (w, h)
    if (orig[0] > orig[1]) != (w > h):  # EXIF rotation swapped the axes while decoding
        orig = (orig[1], orig[0])
    if max(h, w) > max_side:
        # shrink before the colour conversion: one full-size copy fewer for a big photo
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if alpha is not None:
            # the hidden colour must not be averaged into the edge: fill it first
            bgra = neutralise_hidden_colour(np.dstack([bgr, alpha]))
            bgra = cv2.resize(bgra, size, interpolation=cv2.INTER_AREA)
            bgr, alpha = bgra[..., :3], bgra[..., 3]
        else:
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        h, w = size[1], size[0]
    if max(orig) > max_side:  # by the resize above, or by libjpeg's reduced decoding alone
        # %r: a name can come from the network and must not forge log lines
        log.warning("source image %r is %d×%d; downscaled to %d×%d (longest side %d px)",
                    name, orig[0], orig[1], w, h, max_side)
    if bgr.ndim == 2:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    else:
        rgb = cv2.cvtColor(bgr[..., :3] if bgr.shape[2] > 3 else bgr, cv2.COLOR_BGR2RGB)
    if alpha is not None:
        rgba = neutralise_hidden_colour(np.dstack([rgb, alpha]))
        return rgba if keep_alpha else np.ascontiguousarray(rgba[..., :3])
    return np.ascontiguousarray(rgb)


__all__ = [
    "MAX_PIXELS", "UPLOAD_FORMATS", "UPLOAD_MAX_PIXELS", "demo_portrait", "load_image", "load_image_bytes",
    "save_image", "sniff_image_format",
]
