"""One check for "this is the animated portrait", used wherever a picture leaves the program.

A test hands over the frames that came out (decoded from a file, received over WebRTC or
WHEP, sent to the virtual camera) together with the portrait and its landmarks, and
:meth:`PortraitCheck.assert_animated` checks the four things a viewer would notice first:

1. **not blank** — every frame has structure (a black, grey or frozen-colour frame fails);
2. **this portrait** — the regions far from the face match the portrait as the sink places
   it (so a wrong picture, swapped colour channels or a mis-placed frame fail);
3. **the face moves** — the face region changes between frames and differs from the still
   portrait (the still portrait sent for every frame fails);
4. **the background stays still** — the far regions change far less than the face.

Frames are RGB uint8 H×W×3, in the order they were shown. Sizes are in output pixels; a
sink that fits the portrait onto a larger canvas (live: ``fit`` into 1280×720) is described
by ``out_size`` and ``fit``, exactly as :class:`streamfx.compositing.Compositor` places it.

Over time (files rendered from a known driver): :meth:`PortraitCheck.assert_held` (a pose
held while the driver's face is gone), :meth:`PortraitCheck.assert_no_jump` (motion that
returns without a snap), :func:`assert_follows_driver` (the face does what the driver's
face does, read back by mediapipe) and :class:`Surround` (the hair, neck and shoulders around
the face oval, where a head moved too far tears).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 in output pixels (x1, y1 exclusive)."""


@dataclass(frozen=True)
class Motion:
    """What the check measured (mean absolute differences, 0–255 grey levels)."""

    face_change: float
    """Largest change of the face region against the first frame."""
    face_vs_source: float
    """Largest difference of the face region from the still portrait."""
    still_change: float
    """Largest change of the far regions against the first frame."""
    still_vs_source: float
    """Mean difference of the far regions from the still portrait (codec noise only)."""
    min_std: float
    """Smallest per-frame standard deviation (a blank frame has ~0)."""


class PortraitCheck:
    """Where the face and the still regions of one portrait land in a sink's frames.

    ``source`` is the portrait (RGB H×W×3) as the animator got it; ``landmarks`` its (N, 2+)
    pixel landmarks. ``out_size`` (width, height) and ``fit`` describe the sink's canvas;
    None means frames are the portrait's own size (files).
    """

    def __init__(self, source: np.ndarray, landmarks: np.ndarray, *, out_size: tuple[int, int] | None = None,
                 fit: str = "fit") -> None:
        from streamfx.compositing import Compositor, placement

        h, w = source.shape[:2]
        self.out_size = out_size or (w, h)
        ow, oh = self.out_size
        comp = Compositor(ow, oh, mode=fit)
        comp.set_source(source)
        self.reference = comp.compose(np.ascontiguousarray(source[..., :3])).astype(np.int16)
        p = placement(w, h, ow, oh, fit)
        cx, cy, cw, ch = p.crop
        sx, sy = p.w / cw, p.h / ch

        def to_out(x: float, y: float) -> tuple[int, int]:
            return round(p.x + (x - cx) * sx), round(p.y + (y - cy) * sy)

        lm = np.asarray(landmarks, np.float64)[:, :2]
        (fx0, fy0), (fx1, fy1) = lm.min(axis=0), lm.max(axis=0)
        # the inner face: eyes, nose and mouth move, the outline only a little
        mx, my = 0.15 * (fx1 - fx0), 0.15 * (fy1 - fy0)
        self.face = self._clip(*to_out(fx0 + mx, fy0 + my), *to_out(fx1 - mx, fy1 - my))
        # far regions: corners of the portrait at least one face-width from the face
        side = max(8.0, 0.14 * min(w, h))
        gap = max(fx1 - fx0, fy1 - fy0)
        corners = [(0.0, 0.0), (w - side, 0.0), (0.0, h - side), (w - side, h - side)]
        self.still: list[Box] = []
        for x, y in corners:
            dx = max(fx0 - (x + side), x - fx1, 0.0)
            dy = max(fy0 - (y + side), y - fy1, 0.0)
            if np.hypot(dx, dy) >= gap and cx <= x and cy <= y and x + side <= cx + cw and y + side <= cy + ch:
                self.still.append(self._clip(*to_out(x, y), *to_out(x + side, y + side)))
        if not self.still:
            raise ValueError("this portrait has no corner far enough from the face to check for stillness")
        # Regions are compared after a Gaussian blur of 1/32 of the face's width (2 px for a
        # 64-px face): lossy codecs add blocky, pixel-scale noise — an H.264 file of the
        # *still* portrait changes the raw face region by ~3 grey levels between its I- and
        # P-frames, as much as the motion threshold — while a moving eye, mouth or head
        # shifts structures of several pixels, which the blur keeps. Tied to the face's size
        # so that a small sink (a face of 20 px) is hardly blurred at all.
        self.sigma = (self.face[2] - self.face[0]) / 32

    def _clip(self, x0: int, y0: int, x1: int, y1: int) -> Box:
        ow, oh = self.out_size
        return max(0, x0), max(0, y0), min(ow, x1), min(oh, y1)

    def _region(self, frame: np.ndarray, box: Box) -> np.ndarray:
        """One region of a frame as compared: float32 RGB, blurred (see ``sigma``)."""
        import cv2

        ow, oh = self.out_size
        if frame.shape[:2] != (oh, ow):
            raise AssertionError(f"frame is {frame.shape[1]}x{frame.shape[0]}, expected {ow}x{oh}")
        x0, y0, x1, y1 = box
        crop = np.asarray(frame[y0:y1, x0:x1, :3], np.float32)
        if self.sigma < 0.5:  # a blur this small changes nothing a codec does
            return crop
        return cv2.GaussianBlur(crop, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)

    def measure(self, frames: Sequence[np.ndarray]) -> Motion:
        """The differences the check judges, for frames of this sink's size."""
        if len(frames) < 2:
            raise AssertionError(f"need at least 2 frames to see motion, got {len(frames)}")
        boxes = [self.face, *self.still]

        def regions(frame: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
            face, *still = (self._region(frame, b) for b in boxes)
            return face, still

        def diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
            return float(np.mean([np.abs(x - y).mean() for x, y in zip(a, b, strict=True)]))

        ref_face, ref_still = regions(self.reference)
        first_face, first_still = regions(np.asarray(frames[0]))
        face_change = face_vs_source = still_change = 0.0
        still_vs_source: list[float] = []
        min_std = np.inf
        for f in frames:
            f = np.asarray(f)
            face, still = regions(f)
            face_change = max(face_change, diff([face], [first_face]))
            face_vs_source = max(face_vs_source, diff([face], [ref_face]))
            still_change = max(still_change, diff(still, first_still))
            still_vs_source.append(diff(still, ref_still))
            min_std = min(min_std, float(f[..., :3].std()))
        return Motion(face_change=face_change, face_vs_source=face_vs_source, still_change=still_change,
                      still_vs_source=float(np.mean(still_vs_source)), min_std=min_std)

    def assert_portrait(self, frames: Sequence[np.ndarray], *, max_still_vs_source: float = 10.0) -> Motion:
        """Properties 1 and 2 only (not blank, this portrait in its place), for frames too few
        or too early in a motion to judge the motion by (say, a render cut short)."""
        m = self.measure(frames)
        assert m.min_std > 8.0, f"a frame is blank (std {m.min_std:.1f}): {m}"
        assert m.still_vs_source < max_still_vs_source, (
            f"the far regions do not match the portrait (mean diff {m.still_vs_source:.1f}): "
            f"another picture, swapped colours or a misplaced frame: {m}")
        return m

    def assert_animated(self, frames: Sequence[np.ndarray], *, min_face_change: float = 3.0,
                        max_still_change: float = 3.0, max_still_vs_source: float = 10.0) -> Motion:
        """Fail with a message saying which of the four properties is missing.

        Thresholds are grey levels (mean absolute difference of the blurred regions, see
        ``sigma``): the defaults hold for lossy codecs at the bitrates StreamFX uses (a still
        portrait through H.264 at 512² measures ~1 level, VP8/VP9 less) and for any driver
        with visible motion (10–40 levels).
        """
        m = self.assert_portrait(frames, max_still_vs_source=max_still_vs_source)
        assert m.face_change > min_face_change, f"the face does not move (change {m.face_change:.1f}): {m}"
        assert m.face_vs_source > min_face_change, f"the face is the still portrait: {m}"
        bound = max(max_still_change, m.face_change / 3)
        assert m.still_change < bound, (
            f"the background moves ({m.still_change:.1f} ≥ {bound:.1f}) as much as the face: {m}")
        return m

    # ---- over time: a pose held, and motion that returns without a jump ------------------
    def face_steps(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Per-frame change of the face region: element ``i - 1`` is frame i against frame i − 1."""
        face = [self._region(np.asarray(f), self.face) for f in frames]
        return np.array([np.abs(b - a).mean() for a, b in zip(face, face[1:], strict=False)])

    def assert_held(self, frames: Sequence[np.ndarray], window: range, *, max_change: float = 1.0) -> float:
        """The face shows one pose over the frames in ``window`` (a held pose: codec noise only).

        Returns the largest change of the face region against the window's first frame.
        """
        first = self._region(np.asarray(frames[window.start]), self.face)
        change = max(float(np.abs(self._region(np.asarray(frames[i]), self.face) - first).mean()) for i in window)
        assert change < max_change, f"the face moves during frames {window.start}–{window.stop - 1} ({change:.2f})"
        return change

    def assert_no_jump(self, frames: Sequence[np.ndarray], window: range, typical: Sequence[range], *,
                       factor: float = 1.5) -> tuple[float, float]:
        """No frame in ``window`` changes the face much more than a driven frame usually does.

        ``typical`` are frame ranges where the driver moves the face as usual; their 90th
        percentile per-frame change, times ``factor``, bounds every step into a frame of
        ``window``. A pose snapped in one frame (say, a face that comes back without being
        blended in) is a step several times that. Returns (largest step, bound).
        """
        steps = self.face_steps(frames)
        usual = np.concatenate([steps[r.start - 1:r.stop - 1] for r in typical])
        bound = factor * float(np.percentile(usual, 90))
        worst = float(steps[window.start - 1:window.stop - 1].max())
        assert worst <= bound, (
            f"the face jumps by {worst:.1f} in frames {window.start}–{window.stop - 1}, more than {factor} × "
            f"the usual per-frame change ({bound:.1f})")
        return worst, bound


class Surround:
    """Where a torn head shows: the hair, ears, neck, shoulders and the background beside them.

    The pixels between ``inner`` and ``outer`` inter-ocular distances outside the portrait's
    face oval (its convex hull, from the *source* portrait's landmarks), in frames of the
    portrait's own size (files). The face itself is left out: expressions change it every
    frame. A head pulled too far by the motion field smears this ring into streaks and folds
    its edges; a held pose leaves it alone.

    Frames are compared after a Gaussian blur of 1/32 inter-ocular distance (2 px for a
    64-px eye distance), as :class:`PortraitCheck` does: codec noise is pixel-scale, streaks
    and folds are not. Differences are mean absolute differences, 0–255 grey levels.
    """

    def __init__(self, landmarks: np.ndarray, size: tuple[int, int], *, inner: float = 0.25,
                 outer: float = 3.0) -> None:
        import cv2

        from streamfx import landmarks as L

        w, h = size
        io = L.interocular(landmarks)
        hull = cv2.convexHull(np.asarray(landmarks, np.float32)[L.FACE_OVAL, :2]).astype(np.int32)
        outside = np.full((h, w), 255, np.uint8)
        cv2.fillConvexPoly(outside, hull, 0)
        distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)  # px from the oval
        self.mask = (distance > inner * io) & (distance <= outer * io)
        self.size = size
        self.sigma = io / 32

    def region(self, frame: np.ndarray) -> np.ndarray:
        """The ring's pixels of one frame (RGB H×W×3), blurred: float32 N×3."""
        import cv2

        w, h = self.size
        if frame.shape[:2] != (h, w):
            raise AssertionError(f"frame is {frame.shape[1]}x{frame.shape[0]}, expected {w}x{h}")
        blurred = cv2.GaussianBlur(np.asarray(frame[..., :3], np.float32), (0, 0), self.sigma)
        return blurred[self.mask]

    def steps(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Per-frame change of the ring: element ``i`` is frame i against frame i − 1 (0 for frame 0)."""
        rings = [self.region(np.asarray(f)) for f in frames]
        return np.array([0.0] + [float(np.abs(b - a).mean()) for a, b in zip(rings, rings[1:], strict=False)])

    def change(self, a: np.ndarray, b: np.ndarray) -> float:
        """How much the ring differs between two frames."""
        return float(np.abs(self.region(np.asarray(a)) - self.region(np.asarray(b))).mean())


def fitted_face(portrait: np.ndarray, landmarks: np.ndarray, width: int, height: int
                ) -> tuple[int, tuple[slice, slice]]:
    """Where a portrait lands when fitted (letterboxed, centred) into width × height: the
    left edge of the picture, and its face's inner half as (rows, columns) slices."""
    s = height / portrait.shape[0]
    x0 = (width - round(portrait.shape[1] * s)) // 2
    lm = landmarks[:, :2] * s + (x0, 0)
    (fx0, fy0), (fx1, fy1) = lm.min(axis=0), lm.max(axis=0)
    mx, my = 0.25 * (fx1 - fx0), 0.25 * (fy1 - fy0)
    return x0, (slice(int(fy0 + my), int(fy1 - my)), slice(int(fx0 + mx), int(fx1 - mx)))


def mouth_openness(frames: Sequence[np.ndarray]) -> np.ndarray:
    """The mouth openness mediapipe reads in each frame (video mode; NaN where no face is found)."""
    from streamfx import landmarks as L
    from streamfx.tracking import FaceTracker

    out = []
    with FaceTracker(static=False) as tracker:
        for f in frames:
            lm = tracker.track(np.ascontiguousarray(np.asarray(f)[..., :3]))
            out.append(np.nan if lm is None else L.mouth_openness(lm))
    return np.array(out)


def assert_follows_driver(frames: Sequence[np.ndarray], driver: Sequence[np.ndarray], *,
                          min_corr: float = 0.7) -> float:
    """The animated face does what the driver's face does, frame by frame.

    Judged as a viewer would see it: mediapipe reads the mouth openness of each output frame
    and of the matching driver frame, and the two series must correlate (Pearson) — a still,
    a frozen or a shuffled output does not. Returns the correlation.
    """
    assert len(frames) == len(driver), f"{len(frames)} output frames for {len(driver)} driver frames"
    a, b = mouth_openness(frames), mouth_openness(driver)
    seen = ~np.isnan(a) & ~np.isnan(b)
    assert seen.mean() > 0.9, f"a face is read in only {seen.mean():.0%} of the frame pairs"
    a, b = a[seen], b[seen]
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-9 and b.std() > 1e-9 else 0.0
    assert corr > min_corr, f"the face does not follow the driver's mouth (correlation {corr:.2f})"
    return corr


def read_video(path: str | Path, *, limit: int | None = None, every: int = 1) -> list[np.ndarray]:
    """Decode a video file's frames as RGB uint8 with PyAV (the first ``limit`` frames).

    ``every`` keeps every n-th frame (0, n, 2n, …), for long files whose frames would not
    all fit in memory at once; ``limit`` counts the frames kept.
    """
    import av

    out: list[np.ndarray] = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % every:
                continue
            out.append(frame.to_ndarray(format="rgb24"))
            if limit is not None and len(out) >= limit:
                break
    return out
