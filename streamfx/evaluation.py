"""Quality evaluation: the self-reenactment protocol and cross-reenactment statistics.

Self-reenactment (see ../shared/media/README.md): frame 0 of a clip is the source and the
clip is the driver, so each output frame t can be compared with real frame t, for StreamFX
and two baselines computed in the same run: ``identity`` (the source, unanimated) and
``affine`` (a similarity transform of the source fitted to the landmarks).

Cross-reenactment: every portrait in a folder driven by one or more clips; the share of
output frames where a face is found, and how well the output's mouth, eyes and gaze follow
the driver's (Pearson correlation).

Definitions (the closing notes quote these)
-------------------------------------------
All landmarks are the plain 478-point mesh of :class:`~streamfx.tracking.FaceTracker`
(``truth``: the real frame's; ``judged``: the method's output tracked by a separate
tracker per method), except the cross-reenactment driver's, which are the animator's own
(aligned) landmarks, the motion it was given. ``io`` is the inter-ocular distance
(:func:`streamfx.landmarks.interocular`, pixels).

- **SSIM** (full frame, face box, mouth box): Wang et al. (2004), 11-tap Gaussian window,
  σ = 1.5, mean over RGB (:func:`ssim`). **PSNR** in dB, capped at 100. **AKD**: mean
  distance between the judged and the truth landmarks, in io. Face box:
  :func:`streamfx.landmarks.face_box` of the truth (face oval, padded 10 %).
- **Mouth box** (:func:`mouth_box`): the bounding box of the truth's 20 outer-lip points
  (``landmarks.LIPS_OUTER``), x0…x1 × y0…y1, padded on all four sides by
  ``MOUTH_BOX_PAD`` = 25 % of its own width (x1 − x0); the same pixels are cut from the real
  frame and from each method's output. **Mouth SSIM (all)**: the mean over every scored
  frame; **(open)**: over the open frames.
- **Lip gap** (:func:`streamfx.landmarks.lip_gap`): the distance between the upper- and
  lower-lip middle points of the inner lip (13 and 14), over io. A frame is **open** when
  the truth's lip gap exceeds the source's (frame 0's truth) by more than ``OPEN_MARGIN`` =
  0.04 (:func:`open_frames`).
- **Teeth-like pixel** (:func:`teeth_pixels`): bright and unsaturated, both judged within
  the same image — in OpenCV's HSV of the RGB image (S and V scaled to 0–1), S below both
  ``TEETH_MAX_S`` (0.35) and ``TEETH_SKIN_S`` (0.9) × the skin's S, and V ≥ ``TEETH_MIN_V``
  (0.6) × the ``TEETH_V_PERCENTILE``-th (95th) percentile of V over the truth's face box.
  The skin's S is the median over disks of radius ``CHEEK_RADIUS`` (0.1 io) around the
  truth's 14 cheek points (``landmarks.CHEEKS``). Relative brightness makes a darker or
  brighter output count alike; relative saturation keeps pale lips and pale skin (as
  unsaturated as teeth in absolute terms on some clips) out, while the mouth's dark interior
  and the tongue fail the brightness or saturation test.
- **Teeth share** (:func:`teeth_share`): the share of teeth-like pixels among the pixels
  inside the truth's inner-lip polygon (``landmarks.LIPS_INNER``, filled with
  ``cv2.fillPoly``, sub-pixel vertices); the same polygon for the real frame and every
  output. **Teeth error**: the mean over open frames of |teeth share(real) − teeth share
  (output)|. **Real teeth share**: the mean over open frames of the real frame's teeth
  share; a clip **shows teeth** when it is ≥ ``SHOWS_TEETH`` (0.1).
- **Eye openness** (:func:`streamfx.landmarks.eye_openness_each`), per eye: lid-middle gap
  (159–145, 386–374) over that eye's corner-to-corner width. **Eye corr**: the Pearson
  correlation between the reference series (self: the truth; cross: the driver) and the
  output's (judged), for the right and the left eye separately (``eye_corr_r``,
  ``eye_corr_l``), then averaged (``eye_corr``): in a two-eye mean a wink is half a blink
  and winks cancel. The JSON keeps the former two-eye-mean correlation as ``eye_corr_2eye``.
- **Gaze** (:func:`streamfx.landmarks.gaze`), per eye: the iris centre (mean of its 5
  points) minus the eye's corner midpoint, along the face's own axes (x: right eye → left
  eye; y: down the face), over the eye's width. **Gaze corr**: the Pearson correlation of
  the reference and output series for each eye and axis (4 series), averaged per axis over
  the eyes (``gaze_corr_x``, ``gaze_corr_y``) and then over the two axes (``gaze_corr``).
- **Correlation** (:func:`pearson`): over the frames where both series are defined (the
  output's face found); undefined (NaN, shown as —) with fewer than 3 such frames or when
  either series is constant (e.g. the ``identity`` output's eyes).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from streamfx import landmarks as L
from streamfx.animator import Animator
from streamfx.errors import InputError, NoFaceError
from streamfx.expression import choose_neutral_reference
from streamfx.generator.appearance import DriverAppearance
from streamfx.group import AnyAnimator
from streamfx.retarget import RetargetSettings, choose_best_reference, fit_similarity
from streamfx.settings import AnimatorSettings
from streamfx.sources.base import DriverFrame
from streamfx.sources.video import VideoFileSource
from streamfx.tracking import FaceTracker

log = logging.getLogger("streamfx")

METHODS = ("identity", "affine", "streamfx")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

MOUTH_BOX_PAD = 0.25
"""Mouth box padding on each side, as a share of the outer lips' bounding-box width."""
OPEN_MARGIN = 0.04
"""A frame is open when its lip gap exceeds the source's by more than this (io units)."""
TEETH_MAX_S = 0.35
"""Teeth-like pixels are less saturated than this (HSV S, 0–1)…"""
TEETH_SKIN_S = 0.9
"""…and than this share of the skin's saturation (the median S around the cheek points)…"""
CHEEK_RADIUS = 0.1
"""…sampled in disks of this radius (inter-ocular units) around ``landmarks.CHEEKS``…"""
TEETH_MIN_V = 0.6
"""…and at least this bright, relative to a high percentile of V over the face box."""
TEETH_V_PERCENTILE = 95.0
SHOWS_TEETH = 0.1
"""A clip shows teeth when its real open frames' mean teeth share is at least this."""

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1) pixels, x1 and y1 exclusive."""

_SSIM_MIN_SIDE = 11  # the Gaussian window's size: smaller crops have no SSIM


# ---- measures ----------------------------------------------------------------------------
def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as defined by Wang et al. (2004): 11-tap Gaussian window, σ = 1.5, mean over RGB.

    NaN for crops narrower than the window (a mouth box at the image's edge)."""
    if min(a.shape[:2]) < _SSIM_MIN_SIDE:
        return math.nan
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB, capped at 100 so identical frames (frame 0 of identity) stay finite."""
    if np.array_equal(a, b):
        return 100.0
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def mouth_box(lm: np.ndarray, w: int, h: int, pad: float = MOUTH_BOX_PAD) -> Box:
    """The outer lips' bounding box, padded on every side by ``pad`` × its width, in the image.

    Bounds are floored (x0, y0) and ceiled (x1, y1, exclusive) to whole pixels, then clipped
    to the w × h image.
    """
    pts = lm[L.LIPS_OUTER, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    p = pad * float(x1 - x0)
    return (max(0, math.floor(x0 - p)), max(0, math.floor(y0 - p)),
            min(w, math.ceil(x1 + p)), min(h, math.ceil(y1 + p)))


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def inner_lip_mask(lm: np.ndarray, h: int, w: int) -> np.ndarray:
    """Boolean h × w mask of the inner-lip polygon (``landmarks.LIPS_INNER``), sub-pixel vertices."""
    mask = np.zeros((h, w), np.uint8)
    shift = 4  # vertices in 1/16 pixel: a thin, barely open mouth still rasterises where it is
    pts = np.round(lm[L.LIPS_INNER, :2] * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)


def skin_saturation(hsv: np.ndarray, lm: np.ndarray) -> float:
    """The skin's saturation (0–1): the median HSV S over disks of radius CHEEK_RADIUS × io
    around the cheek points (``landmarks.CHEEKS``); NaN when they all lie outside the image."""
    h, w = hsv.shape[:2]
    disks = np.zeros((h, w), np.uint8)
    r = max(1, round(CHEEK_RADIUS * L.interocular(lm)))
    for x, y in np.round(lm[L.CHEEKS, :2]).astype(int):
        cv2.circle(disks, (int(x), int(y)), r, 1, -1)
    values = hsv[..., 1][disks > 0]
    return float(np.median(values)) / 255 if values.size else math.nan


def teeth_pixels(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Boolean mask of teeth-like pixels (bright, unsaturated) in ``image``, judged with the
    landmarks ``lm`` (the real frame's): inside their face box only, False elsewhere.

    In HSV (S, V in 0–1): S < min(TEETH_MAX_S, TEETH_SKIN_S × the skin's S) and V ≥
    TEETH_MIN_V × the TEETH_V_PERCENTILE-th percentile of V over the face box — both against
    this same image, so exposure and skin tone do not matter.
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = L.face_box(lm, w, h)
    out = np.zeros((h, w), bool)
    if x1 <= x0 or y1 <= y0:
        return out
    hsv = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2HSV)
    skin = skin_saturation(hsv, lm)
    s_max = TEETH_MAX_S if not math.isfinite(skin) else min(TEETH_MAX_S, TEETH_SKIN_S * skin)
    region = hsv[y0:y1, x0:x1]
    v_ref = float(np.percentile(region[..., 2], TEETH_V_PERCENTILE))
    out[y0:y1, x0:x1] = (region[..., 1] < s_max * 255) & (region[..., 2] >= TEETH_MIN_V * v_ref)
    return out


def teeth_share(image: np.ndarray, inner: np.ndarray, lm: np.ndarray) -> float:
    """Share (0–1) of the ``inner`` mask's pixels that are teeth-like (:func:`teeth_pixels`
    with the landmarks ``lm``); NaN for an empty mask."""
    n = int(inner.sum())
    if n == 0:
        return math.nan
    return float((teeth_pixels(image, lm) & inner).sum()) / n


def open_frames(gaps: Sequence[float] | np.ndarray, source_gap: float, margin: float = OPEN_MARGIN) -> np.ndarray:
    """Which frames are open: lip gap (io units) > the source's + ``margin``."""
    return np.asarray(gaps, np.float64) > source_gap + margin


def pearson(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Pearson correlation over the pairs where both are finite; NaN with fewer than 3 such
    pairs or when either series is constant there."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean of the finite values; NaN (without a warning) when there are none."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else math.nan


def eye_corr(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Eye-openness correlations; ``ref`` and ``out`` are (frames, 2) [right, left] openness.

    ``eye_corr`` is the mean of the two eyes' correlations; ``eye_corr_2eye`` correlates the
    two-eye means instead (the older measure, blind to winks)."""
    ref, out = np.asarray(ref, np.float64).reshape(-1, 2), np.asarray(out, np.float64).reshape(-1, 2)
    r, left = pearson(ref[:, 0], out[:, 0]), pearson(ref[:, 1], out[:, 1])
    return {"eye_corr_r": r, "eye_corr_l": left, "eye_corr": (r + left) / 2,
            "eye_corr_2eye": pearson(ref.mean(axis=1), out.mean(axis=1))}


def gaze_corr(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Gaze correlations; ``ref`` and ``out`` are (frames, 2, 2): [right, left] × [x, y]
    (:func:`streamfx.landmarks.gaze`). Per axis the mean over the eyes, then over the axes."""
    ref, out = np.asarray(ref, np.float64).reshape(-1, 2, 2), np.asarray(out, np.float64).reshape(-1, 2, 2)
    c = np.array([[pearson(ref[:, e, a], out[:, e, a]) for a in (0, 1)] for e in (0, 1)])
    x, y = float(c[:, 0].mean()), float(c[:, 1].mean())
    return {"gaze_corr_x": x, "gaze_corr_y": y, "gaze_corr": (x + y) / 2}


_NO_EYES = (math.nan, math.nan)
_NO_GAZE = [[math.nan, math.nan], [math.nan, math.nan]]


def _eyes(lm: np.ndarray | None) -> tuple[float, float]:
    return L.eye_openness_each(lm) if lm is not None else _NO_EYES


def _gaze(lm: np.ndarray | None) -> list[list[float]]:
    return L.gaze(lm).astype(float).tolist() if lm is not None else _NO_GAZE


# ---- self-reenactment --------------------------------------------------------------------
def _method_series() -> dict[str, list[float]]:
    return {"ssim": [], "ssim_face": [], "psnr": [], "psnr_face": [], "akd": [], "mouth_ssim": [], "teeth": []}


@dataclass
class ClipScores:
    """Per-frame scores of one clip. Every list holds one value per scored frame (a frame
    whose truth was tracked), NaN where undefined — except ``akd``, kept only where the
    output's face was found."""

    clip: str
    frames: int = 0
    source_gap: float = math.nan
    metrics: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {m: _method_series() for m in METHODS})
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    gap: list[float] = field(default_factory=list)
    """The truth's lip gap (io units)."""
    teeth_real: list[float] = field(default_factory=list)
    """The real frame's teeth share."""
    eyes: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {k: [] for k in ("truth", *METHODS)})
    """Per-eye openness (right, left): of the truth, and of each method's output as judged."""
    gazes: dict[str, list[list[list[float]]]] = field(default_factory=lambda: {k: [] for k in ("truth", *METHODS)})

    @property
    def open(self) -> np.ndarray:
        return open_frames(self.gap, self.source_gap)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per method: the means of the per-frame scores, and the open-frame and correlation scores."""
        op = self.open
        real = np.asarray(self.teeth_real, np.float64)
        out: dict[str, dict[str, float]] = {}
        for m, d in self.metrics.items():
            s = {k: _mean(d[k]) for k in ("ssim", "ssim_face", "psnr", "psnr_face", "akd", "mouth_ssim")}
            s["face_found"] = self.found[m] / max(self.frames, 1)
            s["mouth_ssim_open"] = _mean(np.asarray(d["mouth_ssim"], np.float64)[op])
            s["teeth_err"] = _mean(np.abs(real[op] - np.asarray(d["teeth"], np.float64)[op]))
            s.update(eye_corr(np.asarray(self.eyes["truth"]), np.asarray(self.eyes[m])))
            s.update(gaze_corr(np.asarray(self.gazes["truth"]), np.asarray(self.gazes[m])))
            out[m] = s
        return out

    def clip_summary(self) -> dict[str, float | int | bool]:
        """What belongs to the clip, not to a method: its open frames and how much teeth they show."""
        op = self.open
        share = _mean(np.asarray(self.teeth_real, np.float64)[op])
        return {"frames": self.frames, "open_frames": int(op.sum()), "source_gap": self.source_gap,
                "real_teeth_share": share, "shows_teeth": bool(share >= SHOWS_TEETH)}

    def series(self) -> dict[str, object]:
        """Every per-frame value, for the JSON report."""
        return {"gap": self.gap, "open": self.open.tolist(), "teeth_real": self.teeth_real,
                "metrics": self.metrics, "eyes": self.eyes, "gaze": self.gazes}


def read_frames(path: Path, limit: int | None) -> Iterator[DriverFrame]:
    src = VideoFileSource(path)
    try:
        for i, f in enumerate(src):
            if limit is not None and i >= limit:
                break
            yield f
    finally:
        src.close()


def _affine_baseline(source: np.ndarray, lm0: np.ndarray, lm_t: np.ndarray) -> np.ndarray:
    a, b = fit_similarity(lm0[:, :2], lm_t[:, :2])
    m = np.concatenate([a, b[:, None]], axis=1)
    return cv2.warpAffine(source, m, (source.shape[1], source.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def self_reenactment(clip: Path, frames: int = 150, smoothing: float = 0.0, align: bool = True) -> ClipScores:
    scores = ClipScores(clip=clip.stem)
    it = read_frames(clip, frames)
    first = next(it)
    assert first.image is not None
    source = first.image
    # the protocol: the source IS frame 0, so frame 0 is the reference (not the default auto)
    animator = Animator(source, source_name=str(clip), retarget=RetargetSettings(smoothing=smoothing, reference="first"), align=align)
    # the measuring instrument is the plain mesh, for the truth and for every method alike
    truth_tracker = FaceTracker()
    judges = {m: FaceTracker() for m in METHODS}
    lm0: np.ndarray | None = None
    h, w = source.shape[:2]
    try:
        for frame in [first, *it]:
            real = frame.image
            assert real is not None
            truth = truth_tracker.track(real)
            drv = animator.track(frame)  # the animator's own video-mode tracker
            frame.landmarks = drv
            frame.image = None
            anim = animator.step(frame)
            if truth is None:
                continue  # no ground truth to score against
            if lm0 is None:
                lm0 = truth
                scores.source_gap = L.lip_gap(truth)
            outputs = {"identity": source, "affine": _affine_baseline(source, lm0, truth), "streamfx": anim}
            face = L.face_box(truth, w, h)
            mouth = mouth_box(truth, w, h)
            inner = inner_lip_mask(truth, h, w)
            io = L.interocular(truth)
            scores.frames += 1
            scores.gap.append(L.lip_gap(truth))
            scores.teeth_real.append(teeth_share(real, inner, truth))
            scores.eyes["truth"].append(_eyes(truth))
            scores.gazes["truth"].append(_gaze(truth))
            for m, out in outputs.items():
                d = scores.metrics[m]
                d["ssim"].append(ssim(real, out))
                d["ssim_face"].append(ssim(crop(real, face), crop(out, face)))
                d["psnr"].append(psnr(real, out))
                d["psnr_face"].append(psnr(crop(real, face), crop(out, face)))
                d["mouth_ssim"].append(ssim(crop(real, mouth), crop(out, mouth)))
                d["teeth"].append(teeth_share(out, inner, truth))
                found = judges[m].track(np.ascontiguousarray(out))
                scores.eyes[m].append(_eyes(found))
                scores.gazes[m].append(_gaze(found))
                if found is not None:
                    scores.found[m] += 1
                    d["akd"].append(float(np.linalg.norm(found[:, :2] - truth[:, :2], axis=1).mean() / io))
    finally:
        animator.close()
        truth_tracker.close()
        for j in judges.values():
            j.close()
    return scores


# ---- cross-reenactment -------------------------------------------------------------------
def choose_reference(animator: AnyAnimator, drivers: Sequence[np.ndarray | None], reference: str,
                     looks: Sequence[DriverAppearance | None] | None = None) -> int | None:
    """Set the reference the way ``streamfx render`` does when the whole driver is known.

    ``best``: the driver frame closest to the source's pose; ``auto``: the most neutral frame
    (:func:`streamfx.expression.choose_neutral_reference`); its index is returned, and its
    appearance (``looks``) goes with it. ``first``: the retargeter takes the first face it
    sees, and None is returned.
    """
    if reference not in ("best", "auto") or not any(d is not None for d in drivers):
        return None
    chosen = (choose_best_reference(drivers, animator.source_landmarks) if reference == "best"
              else choose_neutral_reference(drivers))
    if chosen is None:
        return None
    ref = drivers[chosen]
    assert ref is not None
    animator.set_reference(ref, None if looks is None else looks[chosen])
    return chosen


def cross_reenactment(portrait: Path, driver: Path, frames: int | None = None,
                      landmarks_dir: Path | None = None, align: bool | None = None,
                      settings: AnimatorSettings | None = None) -> dict[str, object]:
    """One portrait driven by one clip: the output's face-found share and its correlations
    with the driver (mouth openness, per-eye openness, gaze); see the module docstring.

    The driver is tracked first (landmarks only are kept), so that a ``best`` reference can
    be chosen from the whole clip as ``streamfx render`` does; then the frames are animated."""
    from streamfx.imageio import load_image
    from streamfx.landmarks import load_landmarks

    image = load_image(portrait, max_side=1024)
    lm = None
    route = "tracker"
    if landmarks_dir is not None and (landmarks_dir / f"{portrait.stem}.json").is_file():
        lm = load_landmarks(landmarks_dir / f"{portrait.stem}.json")
        route = "landmarks-file"
    try:
        animator = Animator(image, source_landmarks=lm, source_name=str(portrait), settings=settings, align=align)
    except NoFaceError as e:
        return {"portrait": portrait.name, "driver": driver.name, "error": str(e)}
    judge = FaceTracker()
    drv_mouth: list[float] = []
    out_mouth: list[float] = []
    drv_eyes: list[tuple[float, float]] = []
    out_eyes: list[tuple[float, float]] = []
    drv_gaze: list[list[list[float]]] = []
    out_gaze: list[list[list[float]]] = []
    n = found = 0
    try:
        tracked: list[DriverFrame] = []
        for frame in read_frames(driver, frames):
            frame.landmarks, frame.image = animator.track(frame), None
            tracked.append(frame)
        reference = choose_reference(animator, [f.landmarks for f in tracked], animator.settings.retarget.reference,
                                     [f.appearance for f in tracked])
        for frame in tracked:
            d = frame.landmarks
            out = animator.step(frame)
            n += 1
            o = judge.track(np.ascontiguousarray(out))
            if o is None:
                continue
            found += 1
            if d is not None:
                drv_mouth.append(L.mouth_openness(d))
                out_mouth.append(L.mouth_openness(o))
                drv_eyes.append(L.eye_openness_each(d))
                out_eyes.append(L.eye_openness_each(o))
                drv_gaze.append(_gaze(d))
                out_gaze.append(_gaze(o))
    finally:
        animator.close()
        judge.close()
    row: dict[str, object] = {"portrait": portrait.name, "driver": driver.name, "route": route, "frames": n,
                              "face_found": found / max(n, 1), "reference": reference,
                              "mouth_corr": pearson(drv_mouth, out_mouth)}
    row.update(eye_corr(np.asarray(drv_eyes), np.asarray(out_eyes)))
    row.update(gaze_corr(np.asarray(drv_gaze), np.asarray(out_gaze)))
    return row


def cross_combined(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per portrait, over the drivers: the min and the mean of each correlation (NaN counts
    as a failure for the min: a portrait with an undefined score has no guaranteed one)."""
    out: list[dict[str, object]] = []
    for p in dict.fromkeys(str(r["portrait"]) for r in rows):
        mine = [r for r in rows if r["portrait"] == p]
        ok = [r for r in mine if "error" not in r]
        c: dict[str, object] = {"portrait": p, "drivers": len(mine), "errors": len(mine) - len(ok)}
        for k in ("mouth_corr", "eye_corr", "gaze_corr", "face_found"):
            v = np.array([float(r[k]) for r in ok], np.float64)  # type: ignore[arg-type]
            c[f"{k}_min"] = float(v.min()) if len(v) and np.isfinite(v).all() else math.nan
            c[f"{k}_mean"] = _mean(v)
        out.append(c)
    return out


# ---- the hardest moments of a driver (contact sheets) -------------------------------------
@dataclass(frozen=True)
class Moment:
    """A driver frame worth looking at: its index, what it shows and how much (``value``)."""

    index: int
    what: str
    value: float


def pick_moments(drivers: Sequence[np.ndarray | None]) -> list[Moment]:
    """The hardest moments of a driver, from its landmarks (frames without a face are skipped).

    In this order: the widest mouth (largest :func:`~streamfx.landmarks.lip_gap`, io units);
    a wink (largest |right − left| :func:`~streamfx.landmarks.eye_openness_each`); raised
    brows (largest :func:`~streamfx.landmarks.brow_height` above the clip's median, io);
    a gaze change (largest distance of the two-eye mean :func:`~streamfx.landmarks.gaze`
    from the clip's median, eye widths); and the most neutral frame — the smallest sum of
    the lip gap and the distances of the eyes' openness, the brows and the gaze from the
    clip's medians. Two moments may be the same frame. Empty when no frame has a face.
    """
    idx = [i for i, d in enumerate(drivers) if d is not None]
    if not idx:
        return []
    lms = [drivers[i] for i in idx]
    gap = np.array([L.lip_gap(d) for d in lms if d is not None])
    eyes = np.array([L.eye_openness_each(d) for d in lms if d is not None])
    brow = np.array([L.brow_height(d) for d in lms if d is not None])
    look = np.array([L.gaze(d).mean(axis=0) for d in lms if d is not None])
    brow_up = brow - np.median(brow)
    look_off = np.linalg.norm(look - np.median(look, axis=0), axis=1)
    wink = np.abs(eyes[:, 0] - eyes[:, 1])
    neutral = gap + np.abs(eyes - np.median(eyes, axis=0)).mean(axis=1) + np.abs(brow_up) + look_off
    picks = (("widest mouth", gap, np.argmax), ("wink", wink, np.argmax), ("raised brows", brow_up, np.argmax),
             ("gaze change", look_off, np.argmax), ("most neutral", neutral, np.argmin))
    return [Moment(idx[int(f(v))], what, float(v[int(f(v))])) for what, v, f in picks]


def pick_head_moments(drivers: Sequence[np.ndarray | None]) -> list[Moment]:
    """The largest head moves of a driver (issue 12's contact sheets), from its landmarks:
    the largest yaw and pitch (nose tip off the eyes' midpoint, io units, from the clip's
    median), the largest roll (degrees from the median), the nearest and the farthest face
    (inter-ocular distance over the median's), and the most neutral frame as in
    :func:`pick_moments`. Empty when no frame has a face."""
    from streamfx.expression import face_measures

    idx = [i for i, d in enumerate(drivers) if d is not None]
    if not idx:
        return []
    lms = [d for d in (drivers[i] for i in idx) if d is not None]
    m = np.stack([face_measures(d) for d in lms])
    rest = np.median(m, axis=0)
    yaw, pitch = np.abs(m[:, 5] - rest[5]), np.abs(m[:, 6] - rest[6])
    roll = np.degrees(np.abs((m[:, 7] - rest[7] + np.pi) % (2 * np.pi) - np.pi))
    io = np.array([L.interocular(d) for d in lms])
    zoom = io / float(np.median(io))
    neutral = pick_moments(drivers)[-1]
    picks = (("largest yaw", yaw, np.argmax), ("largest pitch", pitch, np.argmax), ("largest roll (deg)", roll, np.argmax),
             ("nearest (io x median)", zoom, np.argmax), ("farthest (io x median)", zoom, np.argmin))
    return [*(Moment(idx[int(f(v))], what, float(v[int(f(v))])) for what, v, f in picks), neutral]


# ---- reporting ---------------------------------------------------------------------------
def _f(v: float, fmt: str = ".3f") -> str:
    return "—" if v is None or not math.isfinite(v) else format(v, fmt)


SELF_COLUMNS = (("ssim_face", "face SSIM", ".3f"), ("ssim", "full SSIM", ".3f"), ("psnr_face", "face PSNR", ".2f"),
                ("psnr", "full PSNR", ".2f"), ("akd", "AKD", ".3f"), ("face_found", "face found", ".0%"),
                ("mouth_ssim", "mouth SSIM", ".3f"), ("mouth_ssim_open", "mouth SSIM (open)", ".3f"),
                ("open_frames", "open frames", "d"), ("teeth_err", "teeth err", ".3f"),
                ("eye_corr", "eye corr", ".2f"), ("gaze_corr", "gaze corr", ".2f"))


def self_table(results: list[ClipScores]) -> str:
    head = "| clip | method | " + " | ".join(c[1] for c in SELF_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(SELF_COLUMNS) + 2)]
    sums = [r.summary() for r in results]
    clips = [r.clip_summary() for r in results]

    def cell(v: dict[str, float], c: dict[str, float | int | bool], key: str, fmt: str) -> str:
        if key == "open_frames":
            return str(c["open_frames"])
        return _f(v[key], fmt)

    for r, s, c in zip(results, sums, clips, strict=True):
        for m in METHODS:
            lines.append(f"| {r.clip} | {m} | " + " | ".join(cell(s[m], c, k, f) for k, _, f in SELF_COLUMNS) + " |")
    for m in METHODS:
        cells = []
        for k, _, f in SELF_COLUMNS:
            if k == "open_frames":
                cells.append(f"Σ {sum(int(c['open_frames']) for c in clips)}")
            else:
                cells.append(_f(_mean([s[m][k] for s in sums]), f))
        lines.append(f"| **mean** | {m} | " + " | ".join(cells) + " |")
    wins = [r.clip for r, s in zip(results, sums, strict=True)
            if all(s["streamfx"]["ssim_face"] > s[b]["ssim_face"] and s["streamfx"]["akd"] < s[b]["akd"] for b in ("identity", "affine"))]
    lines.append("")
    lines.append(f"StreamFX beats identity and affine on face SSIM and AKD in {len(wins)}/{len(results)} clips.")
    lines += ["", "| clip | frames | open frames | source lip gap | real teeth share (open) | shows teeth |",
              "|---|---|---|---|---|---|"]
    for r, c in zip(results, clips, strict=True):
        lines.append(f"| {r.clip} | {c['frames']} | {c['open_frames']} | {_f(float(c['source_gap']))} | "
                     f"{_f(float(c['real_teeth_share']))} | {'yes' if c['shows_teeth'] else 'no'} |")
    lines.append("")
    lines.append("Mean over clips of open-frame mouth SSIM: " + ", ".join(
        f"{m} {_f(_mean([s[m]['mouth_ssim_open'] for s in sums]))}" for m in METHODS) + ".")
    teeth = [i for i, c in enumerate(clips) if c["shows_teeth"]]
    names = ", ".join(results[i].clip for i in teeth) or "none"
    lines.append(f"Teeth error on the clips that show teeth ({names}): " + ", ".join(
        f"{m} {_f(_mean([sums[i][m]['teeth_err'] for i in teeth]))}" for m in METHODS) + ".")
    return "\n".join(lines)


def cross_table(rows: list[dict[str, object]]) -> str:
    lines = ["| portrait | route | frames | face found | mouth corr | eye corr R | eye corr L | eye corr | gaze corr |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['portrait']} | — | — | no face: clear error | — | — | — | — | — |")
        else:
            v = {k: float(r[k]) for k in ("face_found", "mouth_corr", "eye_corr_r", "eye_corr_l", "eye_corr", "gaze_corr")}  # type: ignore[arg-type]
            lines.append(f"| {r['portrait']} | {r['route']} | {r['frames']} | {_f(v['face_found'], '.1%')} | "
                         f"{_f(v['mouth_corr'], '.2f')} | {_f(v['eye_corr_r'], '.2f')} | {_f(v['eye_corr_l'], '.2f')} | "
                         f"{_f(v['eye_corr'], '.2f')} | {_f(v['gaze_corr'], '.2f')} |")
    return "\n".join(lines)


def combined_table(combined: list[dict[str, object]]) -> str:
    lines = ["| portrait | drivers | mouth corr min | mouth corr mean | eye corr min | eye corr mean | "
             "gaze corr min | gaze corr mean | face found min |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in combined:
        v = {k: float(x) for k, x in c.items() if k.endswith(("_min", "_mean"))}  # type: ignore[arg-type]
        errors = f" ({c['errors']} no face)" if c["errors"] else ""
        lines.append(f"| {c['portrait']} | {c['drivers']}{errors} | {_f(v['mouth_corr_min'], '.2f')} | "
                     f"{_f(v['mouth_corr_mean'], '.2f')} | {_f(v['eye_corr_min'], '.2f')} | {_f(v['eye_corr_mean'], '.2f')} | "
                     f"{_f(v['gaze_corr_min'], '.2f')} | {_f(v['gaze_corr_mean'], '.2f')} | {_f(v['face_found_min'], '.1%')} |")
    return "\n".join(lines)


def _self_clips(args: argparse.Namespace) -> list[Path]:
    if not args.driving.is_dir():
        raise InputError(f"driving folder '{args.driving}' does not exist — pass --driving DIR")
    for c in args.extra_clips:
        if not c.is_file():
            raise InputError(f"extra clip '{c}' does not exist — check the --extra-clips paths")
    clips = sorted(p for p in args.driving.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    clips += [c for c in args.extra_clips if c.resolve() not in {p.resolve() for p in clips}]
    if args.clips:
        clips = [c for c in clips if c.stem in args.clips]
    return clips


def _cross_drivers(args: argparse.Namespace) -> list[Path]:
    drivers: list[Path] = args.cross_driver or [args.driving / "lp_d10.mp4"]
    for d in drivers:
        if not d.is_file():
            raise InputError(f"cross driver '{d}' does not exist — check the --cross-driver paths")
    return drivers


def main(args: argparse.Namespace) -> int:
    report: dict[str, object] = {}
    md: list[str] = []
    # check every input before the long runs start
    clips = _self_clips(args) if args.mode in ("self", "both") else []
    if args.mode in ("cross", "both"):
        if not args.sources.is_dir():
            raise InputError(f"sources folder '{args.sources}' does not exist — pass --sources DIR")
        drivers = _cross_drivers(args)
    if args.mode in ("self", "both"):
        results = []
        for c in clips:
            log.info("self-reenactment: %s", c.name)
            results.append(self_reenactment(c, args.frames, args.smoothing, args.align))
        md += ["## Self-reenactment", "", self_table(results), ""]
        report["self"] = {r.clip: r.summary() for r in results}
        report["self_clips"] = {r.clip: r.clip_summary() for r in results}
        report["self_frames"] = {r.clip: r.series() for r in results}
        print(self_table(results), flush=True)
    if args.mode in ("cross", "both"):
        portraits = [p for p in sorted(args.sources.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        rows: list[dict[str, object]] = []
        for driver in drivers:
            mine = []
            for p in portraits:
                log.info("cross-reenactment: %s × %s", p.name, driver.name)
                mine.append(cross_reenactment(p, driver, args.cross_frames, args.landmarks_dir, args.align))
            md += [f"## Cross-reenactment (driver: {driver.name})", "", cross_table(mine), ""]
            print(f"driver: {driver.name}\n{cross_table(mine)}", flush=True)
            rows += mine
        report["cross"] = rows
        if len(drivers) > 1:
            combined = cross_combined(rows)
            report["cross_combined"] = combined
            md += [f"## Cross-reenactment over {len(drivers)} drivers ({', '.join(d.name for d in drivers)}): min and mean",
                   "", combined_table(combined), ""]
            print(combined_table(combined), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.md").write_text("\n".join(md))
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {args.out / 'eval.md'} and {args.out / 'eval.json'}")
    return 0
