"""The animation model: landmarks → dense motion field → warp of the whole portrait.

Per source (once, :func:`prepare_source`):
  * a thin-plate spline solved on the source's control landmarks inside the face, and a
    least-squares head similarity on its rigid landmarks (hair, ears and neck follow the
    skull, not the expression);
  * both evaluated on a coarse grid over the region that can move and multiplied by
    falloff masks that keep background and body still and fade the motion smoothly
    through hair and neck (the person matte, when given, extends the moving region over
    the hair) — folded into two matrices, ``face_field`` and ``head_field``;
  * mouth, lip, teeth, eyelid and lash colours for the synthesised layers.

Per frame (:meth:`WarpGenerator.render`), only tensor-graph operations — matmul,
element-wise maths, gathers and resize — so the same computation compiles to ONNX and
TensorRT (see engines/):
  1. forward displacement on the grid = face_field @ control displacements
     + head_field @ rigid displacements, clamped;
  2. the forward field is inverted by fixed-point iteration, x ← p − d(x) (bilinear sampling);
  3. the coarse backward offsets are resized to the region and the portrait is remapped;
  4. where the mouth opens wider than in the source, a mouth interior (a dark shade of the
     lips, the source's teeth where it shows them) is drawn inside the target lips, and
     where the lids close further, the source's lid skin and lash line cover the eye.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from streamfx import landmarks as L
from streamfx.errors import InputError

_INVERT_ITERATIONS = 4
MOUTH_FEATHER = 0.035  # cavity edge softness, × the mouth's width (at least 1 px)
# the face-oval ellipse scale (sides, above, below) and falloff of the non-rigid region
FACE_MASK_SHAPE = (1.35, 1.35, 1.2, 0.4)
_TPS_REGULARISATION = 2e-3  # in inter-ocular units; smooths near-duplicate control points


@dataclass
class GeneratorSettings:
    mouth_synthesis: bool = True
    color_match: bool = False
    """Match the face region's colour statistics to the source (for strong lighting drift)."""
    sharpen: float = 0.0
    """Unsharp-mask amount (0 = off, 0.3 = mild)."""
    grid_step: float = 5.0
    """Coarse motion-grid spacing in source pixels (clamped to 32–96 cells a side)."""

    def validate(self) -> GeneratorSettings:
        if not 0.0 <= self.sharpen <= 2.0:
            raise InputError(f"--sharpen must be between 0 and 2, not {self.sharpen}")
        if self.grid_step <= 0:
            raise InputError("grid_step must be positive")
        return self


@dataclass
class SourceTensors:
    """Everything the per-frame graph needs that depends only on the source."""

    image: np.ndarray  # H×W×C uint8 (RGB or RGBA)
    pixels: np.ndarray  # rh×rw×2: the (x, y) of every pixel in the region of interest
    landmarks: np.ndarray  # 478×3, source pixels
    control: np.ndarray  # K×2 control points (source pixels)
    face_field: np.ndarray  # G×K: control displacements → masked TPS displacement on the grid
    head_field: np.ndarray  # 2G×2R: rigid-point displacements → masked head-similarity field
    grid: np.ndarray  # gh×gw×2: coarse grid points (x, y) in source pixels
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 of the region that can change
    max_shift: float  # displacement clamp, pixels
    mouth_width: float  # source inner-corner distance, pixels
    mouth_gap: float  # source inner-lip gap / mouth width
    teeth_rgb: np.ndarray | None  # colour of the teeth the source shows, or None
    lip_rgb: np.ndarray  # mean lip colour: the mouth cavity is a dark shade of it
    lid_rgb: np.ndarray  # 2×3: upper-eyelid skin colour, right eye then left
    lash_rgb: np.ndarray  # 2×3: lash-line colour
    eye_open: np.ndarray  # 2: source upper-lid height over eye width, right then left
    face_stats: tuple[np.ndarray, np.ndarray]  # per-channel mean, std of the source face

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.grid.shape[0], self.grid.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


def _similarity_rows(p: np.ndarray) -> np.ndarray:
    """Rows mapping similarity parameters (a−1, b, tx, ty) to interleaved (dx, dy) at points p.

    dx = (a−1)·x − b·y + tx, dy = b·x + (a−1)·y + ty: linear in the parameters, so the
    least-squares fit is one precomputed pseudo-inverse and a matmul per frame.
    """
    n = len(p)
    rows = np.zeros((2 * n, 4))
    rows[0::2, 0], rows[0::2, 1], rows[0::2, 2] = p[:, 0], -p[:, 1], 1
    rows[1::2, 0], rows[1::2, 1], rows[1::2, 3] = p[:, 1], p[:, 0], 1
    return rows


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    return np.where(r2 > 0, 0.5 * r2 * np.log(np.maximum(r2, 1e-12)), 0.0)


def _smoothstep(e0: float | np.ndarray, e1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class _HeadFrame:
    """The face's own frame: centre of the oval, eye axis, down axis and the oval's extent."""

    centre: np.ndarray
    ax: np.ndarray
    down: np.ndarray
    half_w: float
    up_h: float
    down_h: float

    @classmethod
    def of(cls, lm: np.ndarray) -> _HeadFrame:
        io = L.interocular(lm)
        ax = L.eye_axis(lm)
        down = np.array([-ax[1], ax[0]], np.float32)
        oval = lm[L.FACE_OVAL, :2]
        centre = oval.mean(axis=0)
        ou, ov = (oval - centre) @ ax, (oval - centre) @ down
        return cls(centre, ax, down, max(float(np.abs(ou).max()), io),
                   max(float(-ov.min()), io), max(float(ov.max()), io))

    def coords(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) of points: along the eyes and down the face, from the oval's centre."""
        rel = pts - self.centre
        return rel @ self.ax, rel @ self.down


def falloff_mask(lm: np.ndarray, pts: np.ndarray, sx: float = 1.15, s_up: float = 1.35,
                 s_down: float = 1.05, falloff: float = 0.55) -> np.ndarray:
    """Motion weight at points: 1 over the head, 0 over background and body.

    An ellipse in the face's own frame, taller above the eyes (hair) than below the chin
    (neck), with a smooth falloff so nothing tears where moving meets still.
    """
    f = _HeadFrame.of(lm)
    u, v = f.coords(pts)
    # sx, s_up, s_down: how far past the face oval the motion stays full strength
    vv = np.where(v < 0, v / (f.up_h * s_up), v / (f.down_h * s_down))
    r = np.sqrt((u / (f.half_w * sx)) ** 2 + vv**2)
    return (1.0 - _smoothstep(1.0, 1.0 + falloff, r)).astype(np.float32)


HAIR_BLUR = 0.15  # person-matte blur σ, × the inter-ocular distance: hair's motion edge


def hair_weight(lm: np.ndarray, pts: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Motion weight at points from the person matte: 1 over hair and head above the chin.

    The head ellipse of :func:`falloff_mask` fits a face, not a hairstyle: big hair would
    keep still above it while the head moves, and stretch into wings. Where the portrait's
    person matte (blurred, so hair's motion edge is soft) says "person", above the chin and
    near the head, the hair moves with the head and the background beyond it takes up the
    stretch instead.
    """
    return _hair_weight_at(lm, pts, _soft_matte(lm, person))


def _soft_matte(lm: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The person matte in 0–1, blurred so hair's motion edge is soft (once per source)."""
    return cv2.GaussianBlur(person.astype(np.float32) / 255.0, (0, 0), HAIR_BLUR * L.interocular(lm))


def _hair_weight_at(lm: np.ndarray, pts: np.ndarray, matte: np.ndarray) -> np.ndarray:
    h, w = matte.shape
    xi = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    f = _HeadFrame.of(lm)
    u, v = f.coords(pts)
    above_chin = 1.0 - _smoothstep(0.7 * f.down_h, 1.05 * f.down_h, v)  # neck and body stay put
    r = np.sqrt((u / f.half_w) ** 2 + (np.minimum(v, 0.0) / f.down_h) ** 2)
    near = 1.0 - _smoothstep(1.75, 2.2, r)  # not a raised hand or a second person
    return (matte[yi, xi] * above_chin * near).astype(np.float32)


def motion_mask(lm: np.ndarray, pts: np.ndarray, person: np.ndarray | None) -> np.ndarray:
    """Where the portrait may move: the head ellipse, and the hair the person matte finds."""
    return _motion_mask_at(lm, pts, None if person is None else _soft_matte(lm, person))


def _motion_mask_at(lm: np.ndarray, pts: np.ndarray, soft_matte: np.ndarray | None) -> np.ndarray:
    mask = falloff_mask(lm, pts)
    return mask if soft_matte is None else np.maximum(mask, _hair_weight_at(lm, pts, soft_matte))


def _teeth_colour(image: np.ndarray, lm: np.ndarray, gap: float) -> np.ndarray | None:
    """Teeth colour if the source shows teeth between its lips, else None."""
    if gap < 0.06:
        return None
    poly = lm[L.LIPS_INNER, :2].astype(np.int32)
    m = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(m, [poly], 1)
    px = image[m > 0][:, :3].astype(np.float32)
    if len(px) < 20:
        return None
    hsv = cv2.cvtColor(px[None].astype(np.uint8), cv2.COLOR_RGB2HSV)[0].astype(np.float32)
    bright = (hsv[:, 2] > 0.55 * hsv[:, 2].max()) & (hsv[:, 1] < 110)
    if bright.mean() < 0.15:
        return None
    return np.median(px[bright], axis=0).astype(np.float32)


def _lip_colour(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    m = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(m, [lm[L.LIPS_OUTER, :2].astype(np.int32)], 1)
    cv2.fillPoly(m, [lm[L.LIPS_INNER, :2].astype(np.int32)], 0)
    px = image[m > 0][:, :3]
    if len(px) < 10:
        return np.array([150.0, 80.0, 80.0], np.float32)
    return px.reshape(-1, 3).astype(np.float32).mean(axis=0)


_EYES = ((L.RIGHT_EYE_CORNERS, 159, 145), (L.LEFT_EYE_CORNERS, 386, 374))


def _eye_frame(lm: np.ndarray, corners: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin, along-axis, down-axis and width of an eye (corner to corner)."""
    a, b = lm[corners[0], :2], lm[corners[1], :2]
    if a[0] > b[0]:
        a, b = b, a
    axis = b - a
    width = float(np.sqrt((axis**2).sum())) + 1e-6
    ax = axis / width
    return a, ax, np.array([-ax[1], ax[0]], np.float32), width


def _lid_colours(image: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lids, lashes, opens = [], [], []
    h, w = image.shape[:2]
    for corners, up, _low in _EYES:
        o, ax, down, width = _eye_frame(lm, corners)
        h_up = float((lm[up, :2] - o) @ down)
        opens.append(-h_up / width)
        us = np.linspace(0.25, 0.75, 7)
        skin: list[np.ndarray] = []
        lash: list[np.ndarray] = []
        for u in us:
            base = o + ax * u * width + down * h_up * 4 * u * (1 - u)
            for k, bucket in ((-0.22, skin), (-0.30, skin), (0.0, lash), (0.04, lash)):
                x, y = (base + down * k * width).round().astype(int)
                if 0 <= x < w and 0 <= y < h:
                    bucket.append(image[y, x, :3].astype(np.float32))
        lids.append(np.median(skin, axis=0) if skin else np.array([180.0, 140.0, 120.0]))
        lashes.append(np.min(lash, axis=0) if lash else np.array([40.0, 30.0, 30.0]))
    return np.array(lids, np.float32), np.array(lashes, np.float32), np.array(opens, np.float32)


def prepare_source(image: np.ndarray, landmarks: np.ndarray, alpha: np.ndarray | None = None,
                   settings: GeneratorSettings | None = None, person: np.ndarray | None = None) -> SourceTensors:
    """Precompute everything that depends only on the source portrait.

    ``alpha`` (H×W uint8) is carried into the output as a fourth channel; ``person`` (H×W
    uint8, e.g. :func:`streamfx.matte.person_matte`) lets the hair move with the head.
    """
    st = settings or GeneratorSettings()
    h, w = image.shape[:2]
    lm = landmarks.astype(np.float32)
    if alpha is not None:
        image = np.dstack([image[..., :3], alpha.astype(np.uint8)])
    io = L.interocular(lm)
    if io < 4:
        raise InputError("the face in the source portrait is too small to animate (eyes < 4 px apart) — use a larger image or crop closer")

    # TPS on normalised coordinates so the regulariser means the same at any resolution
    control = lm[L.CONTROL, :2].copy()
    c0 = control.mean(axis=0)
    cn = (control - c0) / io
    k = len(cn)
    kmat = _tps_kernel(((cn[:, None] - cn[None]) ** 2).sum(-1)) + _TPS_REGULARISATION * np.eye(k)
    p = np.concatenate([np.ones((k, 1)), cn], axis=1)
    system = np.zeros((k + 3, k + 3))
    system[:k, :k], system[:k, k:], system[k:, :k] = kmat, p, p.T
    tps_inverse = np.linalg.inv(system)[:, :k]

    # the region that can change: where the mask is non-zero, grown by the largest shift
    max_shift = 1.2 * io
    ys, xs = np.mgrid[0:h:4, 0:w:4]
    coarse_pts = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    soft_matte = None if person is None else _soft_matte(lm, person)
    moving = coarse_pts[_motion_mask_at(lm, coarse_pts, soft_matte) > 0]
    x0, y0 = np.maximum(moving.min(axis=0) - max_shift - 4, 0).astype(int)
    x1, y1 = (np.minimum(moving.max(axis=0) + max_shift + 4, [w, h])).astype(int)
    rw, rh = int(x1 - x0), int(y1 - y0)
    gw = int(np.clip(round(rw / st.grid_step), 32, 96))
    gh = int(np.clip(round(rh / st.grid_step), 32, 96))
    # coarse sample j sits where cv2.resize (half-pixel centres) puts it when upsampling
    gx = x0 + (np.arange(gw) + 0.5) * (rw / gw) - 0.5
    gy = y0 + (np.arange(gh) + 0.5) * (rh / gh) - 0.5
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).astype(np.float32)
    pix = np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1)), axis=-1).astype(np.float32)
    flat = grid.reshape(-1, 2)
    gn = (flat - c0) / io
    basis = np.concatenate([
        _tps_kernel(((gn[:, None] - cn[None]) ** 2).sum(-1)),
        np.ones((len(gn), 1)), gn,
    ], axis=1)
    mask = _motion_mask_at(lm, flat, soft_matte)
    # inside the face the landmarks are the truth; beyond it (hair, ears, neck) only the
    # head's rigid motion is, since extrapolating expressions there makes hair swim
    face_mask = np.minimum(falloff_mask(lm, flat, *FACE_MASK_SHAPE), mask)
    rigid_inverse = np.linalg.pinv(_similarity_rows((lm[L.RIGID, :2] - c0) / io))
    # Fold solve, basis and masks into one matrix per field, in float64: the TPS weights
    # alone reach the thousands and cancel, which float32 (and any engine) would amplify.
    face_field = (face_mask[:, None] * (basis @ tps_inverse)).astype(np.float32)
    head_w = np.repeat(mask - face_mask, 2)[:, None]
    head_field = (head_w * (_similarity_rows(gn) @ rigid_inverse)).astype(np.float32)

    mouth_w = float(np.linalg.norm(lm[78, :2] - lm[308, :2]))
    gap = float(np.linalg.norm(lm[13, :2] - lm[14, :2])) / max(mouth_w, 1e-6)
    rgb = image[..., :3]
    lids, lashes, opens = _lid_colours(rgb, lm)
    fx0, fy0, fx1, fy1 = L.face_box(lm, w, h)
    face = rgb[fy0:fy1, fx0:fx1].reshape(-1, 3).astype(np.float32)
    stats = (face.mean(axis=0), face.std(axis=0) + 1e-3)
    return SourceTensors(
        image=np.ascontiguousarray(image), pixels=pix, landmarks=lm, control=control,
        face_field=face_field, head_field=head_field, grid=grid,
        roi=(int(x0), int(y0), int(x1), int(y1)), max_shift=max_shift,
        mouth_width=mouth_w, mouth_gap=gap, teeth_rgb=_teeth_colour(rgb, lm, gap), lip_rgb=_lip_colour(rgb, lm),
        lid_rgb=lids, lash_rgb=lashes, eye_open=opens, face_stats=stats,
    )


def sample_bilinear(field: np.ndarray, grid: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinearly sample a gh×gw×C field, laid out on ``grid``, at pixel points (…×2).

    Edges clamp (replicate). Plain gathers, so a graph can reproduce it exactly.
    """
    gh, gw = field.shape[:2]
    ox, oy = grid[0, 0]
    sx = (grid[0, -1, 0] - ox) / (gw - 1)
    sy = (grid[-1, 0, 1] - oy) / (gh - 1)
    u = np.clip((pts[..., 0] - ox) / sx, 0, gw - 1)
    v = np.clip((pts[..., 1] - oy) / sy, 0, gh - 1)
    u0 = np.minimum(u.astype(np.int32), gw - 2)
    v0 = np.minimum(v.astype(np.int32), gh - 2)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    f00 = field[v0, u0]
    f01 = field[v0, u0 + 1]
    f10 = field[v0 + 1, u0]
    f11 = field[v0 + 1, u0 + 1]
    return (f00 * (1 - fu) + f01 * fu) * (1 - fv) + (f10 * (1 - fu) + f11 * fu) * fv


def backward_offsets(src: SourceTensors, target: np.ndarray) -> np.ndarray:
    """The coarse backward map as offsets: output grid point p samples the source at p + offset.

    Offsets (not absolute positions) are what gets upsampled, so zero motion is exactly the
    identity and the region's edges, where the mask is zero, stay exactly put.
    """
    disp = src.face_field @ (target[L.CONTROL, :2] - src.control)  # G×2
    head = src.head_field @ (target[L.RIGID, :2] - src.landmarks[L.RIGID, :2]).reshape(-1, 1)
    disp += head.reshape(-1, 2)
    # clamp to the margin the region of interest was grown by
    norm = np.sqrt((disp**2).sum(axis=1, keepdims=True))
    disp *= np.minimum(1.0, src.max_shift / np.maximum(norm, 1e-6))
    gh, gw = src.grid_shape
    disp = disp.reshape(gh, gw, 2).astype(np.float32)
    p = src.grid
    x = p - disp
    for _ in range(_INVERT_ITERATIONS):
        x = p - sample_bilinear(disp, p, x)
    return (x - p).astype(np.float32)


def mouth_layer(src: SourceTensors, target: np.ndarray, xs: np.ndarray, ys: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Mouth-interior colour and coverage at pixel coordinates (xs, ys) of the output.

    The inner lips of the target bound the opening: two parabolas through the inner corners
    and the mid upper / mid lower lip points, in the mouth's own frame. Coverage is scaled by
    how much wider the target opens than the source did, so a source that already shows its
    mouth interior keeps its own pixels.
    """
    cl, cr = target[L.INNER_CORNERS[0], :2], target[L.INNER_CORNERS[1], :2]
    top, bottom = target[L.UPPER_LIP_MID, :2], target[L.LOWER_LIP_MID, :2]
    axis = cr - cl
    width = float(np.sqrt((axis**2).sum())) + 1e-6
    ax = axis / width
    down = np.array([-ax[1], ax[0]], np.float32)
    h_up = float((top - cl) @ down)
    h_lo = float((bottom - cl) @ down)
    rx, ry = xs - cl[0], ys - cl[1]
    u = (rx * ax[0] + ry * ax[1]) / width
    v = rx * down[0] + ry * down[1]
    bulge = np.clip(4.0 * u * (1.0 - u), 0.0, 1.0)
    v_up, v_lo = h_up * bulge, h_lo * bulge
    feather = max(1.0, MOUTH_FEATHER * width)
    inside = np.clip((v - v_up) / feather, 0, 1) * np.clip((v_lo - v) / feather, 0, 1)
    gap = (h_lo - h_up) / width
    opening = float(np.clip((gap - src.mouth_gap - 0.02) / 0.06, 0.0, 1.0))
    coverage = (inside * opening).astype(np.float32)
    # shading: darker in the middle of the cavity, a little lighter near the lips
    depth = np.clip((v - v_up) / np.maximum(v_lo - v_up, 1e-3), 0, 1)
    shade = 0.22 + 0.25 * np.abs(2 * depth - 1) ** 2
    colour = src.lip_rgb[None, None] * shade[..., None]
    if src.teeth_rgb is not None:
        # the teeth the source showed stay their size, hanging from the upper lip
        band = min(max(0.8 * src.mouth_gap * width, 0.08 * width), 0.45 * (h_lo - h_up))
        centre = np.clip(1.0 - np.abs(2 * u - 1) / 0.75, 0, 1)
        upper = np.clip((v_up + band - v) / feather, 0, 1) * centre
        lower = np.clip((v - (v_lo - 0.4 * band)) / feather, 0, 1) * centre
        t = np.clip(upper + lower, 0, 1)[..., None]
        colour = colour * (1 - t) + src.teeth_rgb[None, None] * t
    return colour, coverage


def eyelid_layer(src: SourceTensors, target: np.ndarray, eye: int, xs: np.ndarray, ys: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Upper-eyelid colour and coverage where the target lid sits lower than the source's.

    A warp alone cannot close an eye: it would have to fold the eye region onto a line.
    Instead the part of the eye's source-sized opening above the target lid is covered with
    the source's own eyelid skin, with the lash line drawn along the new lid edge.
    """
    corners, up, low = _EYES[eye]
    o, ax, down, width = _eye_frame(target, corners)
    h_up = float((target[up, :2] - o) @ down)
    h_lo = float((target[low, :2] - o) @ down)
    rx, ry = xs - o[0], ys - o[1]
    u = (rx * ax[0] + ry * ax[1]) / width
    v = rx * down[0] + ry * down[1]
    bulge = np.clip(4.0 * u * (1.0 - u), 0.0, 1.0)
    v_lid = h_up * bulge
    v_open = -src.eye_open[eye] * width * bulge  # where the source's lid edge would be
    feather = max(0.7, 0.04 * width)
    below_open = np.clip((v - v_open) / (2.5 * feather), 0, 1)
    above_lid = np.clip((v_lid - v) / feather, 0, 1)
    above_lower = np.clip((h_lo * bulge + feather - v) / feather, 0, 1)
    cover = (below_open * above_lid * above_lower * (bulge > 0)).astype(np.float32)
    lash_w = max(0.8, 0.05 * width)
    lash = np.clip(1.0 - np.abs(v - v_lid) / lash_w, 0, 1) * (bulge > 0.05)
    closing = float(np.clip((v_open.max() - v_lid.max()) / (-v_open.min() * 0.3 + 1e-6) if v_open.min() < 0 else 0, 0, 1))
    lash = (lash * closing).astype(np.float32)
    t = lash[..., None]
    # the lid darkens a little towards its edge, as a real lid's crease shadow does
    depth = np.clip((v - v_open) / np.maximum(v_lid - v_open, 1e-3), 0, 1)[..., None]
    lid = src.lid_rgb[eye][None, None] * (1.0 - 0.12 * depth)
    colour = lid * (1 - t) + src.lash_rgb[eye][None, None] * t
    return colour.astype(np.float32), np.maximum(cover, lash)


Layer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _blend_layer(out: np.ndarray, box: tuple[int, int, int, int], layer: Layer) -> None:
    """Alpha-blend a synthesised layer (colour, coverage at pixel coordinates) into a box."""
    h, w = out.shape[:2]
    bx0, by0 = max(box[0], 0), max(box[1], 0)
    bx1, by1 = min(box[2], w), min(box[3], h)
    if bx1 <= bx0 or by1 <= by0:
        return
    ys, xs = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
    colour, cover = layer(xs, ys)
    if cover.max() <= 0:
        return
    patch = out[by0:by1, bx0:bx1, :3].astype(np.float32)
    a = cover[..., None]
    out[by0:by1, bx0:bx1, :3] = np.clip(patch * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


class WarpGenerator:
    """Animates one prepared source portrait: target landmarks → full-resolution frame."""

    def __init__(self, settings: GeneratorSettings | None = None):
        self.settings = (settings or GeneratorSettings()).validate()
        self.src: SourceTensors | None = None

    def prepare(self, image: np.ndarray, landmarks: np.ndarray, alpha: np.ndarray | None = None,
                person: np.ndarray | None = None) -> SourceTensors:
        self.src = prepare_source(image, landmarks, alpha, self.settings, person)
        return self.src

    def render(self, target: np.ndarray) -> np.ndarray:
        """The animated portrait (same size and channels as the prepared source image)."""
        src = self.src
        if src is None:
            raise RuntimeError("WarpGenerator.render called before prepare()")
        x0, y0, x1, y1 = src.roi
        offsets = backward_offsets(src, target)
        full = cv2.resize(offsets, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        full += src.pixels
        out = src.image.copy()
        region = cv2.remap(src.image, full, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[y0:y1, x0:x1] = region
        if self.settings.mouth_synthesis:
            self._composite_mouth(out, target)
            self._composite_eyelids(out, target)
        self.apply_filters(out, target)
        return out

    def apply_filters(self, out: np.ndarray, target: np.ndarray) -> None:
        """The optional CPU post-processing, in place: colour match, then sharpening.

        Engines that render the warp elsewhere (ONNX Runtime, TensorRT) finish with this.
        """
        if self.settings.color_match:
            self._color_match(out, target)
        if self.settings.sharpen > 0:
            self._sharpen(out)

    def _composite_mouth(self, out: np.ndarray, target: np.ndarray) -> None:
        src = self.src
        assert src is not None
        lips = target[L.LIPS_OUTER, :2]
        (bx0, by0), (bx1, by1) = np.floor(lips.min(axis=0)).astype(int), np.ceil(lips.max(axis=0)).astype(int)
        _blend_layer(out, (bx0, by0, bx1 + 1, by1 + 1), lambda xs, ys: mouth_layer(src, target, xs, ys))

    def _composite_eyelids(self, out: np.ndarray, target: np.ndarray) -> None:
        src = self.src
        assert src is not None
        for eye, (corners, _up, _low) in enumerate(_EYES):
            width = _eye_frame(target, corners)[3]
            cx, cy = target[[corners[0], corners[1]], :2].mean(axis=0)
            r = 0.6 * width + 2
            box = (int(cx - r), int(cy - r), int(cx + r) + 1, int(cy + r) + 1)
            _blend_layer(out, box, functools.partial(eyelid_layer, src, target, eye))

    def _color_match(self, out: np.ndarray, target: np.ndarray) -> None:
        src = self.src
        assert src is not None
        h, w = out.shape[:2]
        x0, y0, x1, y1 = L.face_box(target, w, h)
        face = out[y0:y1, x0:x1, :3]
        sample = face[::4, ::4].reshape(-1, 3).astype(np.float32)
        if len(sample) < 16:
            return
        mean, std = src.face_stats
        gain = np.clip(std / (sample.std(axis=0) + 1e-3), 0.8, 1.25)
        shift = mean - sample.mean(axis=0) * gain
        out[y0:y1, x0:x1, :3] = np.clip(face * gain + shift, 0, 255).astype(np.uint8)

    def _sharpen(self, out: np.ndarray) -> None:
        src = self.src
        assert src is not None
        x0, y0, x1, y1 = src.roi
        region = out[y0:y1, x0:x1, :3]
        blur = cv2.GaussianBlur(region, (0, 0), 1.0)
        out[y0:y1, x0:x1, :3] = cv2.addWeighted(region, 1 + self.settings.sharpen, blur, -self.settings.sharpen, 0)
