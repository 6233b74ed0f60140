"""Group photos: pick one face to animate, or animate every face with the same driver.

:func:`make_animator` is how ``render`` and ``live`` turn a portrait and ``--face`` into an
animator. ``--face N`` (1-based, left to right) and the default (the largest face) give an
ordinary :class:`~streamfx.animator.Animator`; ``--face all`` gives a
:class:`GroupAnimator`, which has the same interface.

A GroupAnimator tracks the driver once per frame and hands the landmarks to one Animator
per face. Each of those works on a crop of the portrait around its face: a box a few face
sizes wide, cut where the neighbouring faces' territory begins (every pixel belongs to the
nearest face, distance measured in face sizes), so no crop reaches into another face. The
animated crops are pasted back with feathered weights: across the border between two
faces, and at a crop's inner edges, the weight ramps down over a few dozen pixels, and
since each face's motion falls off to nothing well before its border, the seam never
shows.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

import cv2
import numpy as np

from streamfx.alignment import AlignSettings
from streamfx.animator import Animator
from streamfx.errors import InputError
from streamfx.generator.appearance import DriverAppearance
from streamfx.settings import AnimatorSettings
from streamfx.sources.base import DriverFrame
from streamfx.tracking import (
    FaceTracker,
    face_centre,
    face_size,
    find_portrait_faces,
    largest_face,
    no_face_error,
    track_portrait,
)

log = logging.getLogger("streamfx")

#: ``--face``: a face number (1 = leftmost), "all", or None for the largest
FaceChoice: TypeAlias = int | Literal["all"] | None

#: what render and live tell the user when a portrait has several faces
FACE_HINT = "--face N picks another, --face all animates all"

#: a face's crop reaches this many face sizes from its centre (motion fades out within ~1.2)
CROP_REACH = 2.0
#: the feathered seam: Gaussian σ of the ownership edges, × the smallest face size
FEATHER = 0.08


@dataclass(frozen=True)
class FaceRegion:
    """Where one face of a group is animated: a crop of the portrait and its paste weights."""

    x0: int
    y0: int
    x1: int
    y1: int
    weight: np.ndarray
    """(y1 − y0) × (x1 − x0) × 1 float32 in 0…1: how much of the animated crop shows."""

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y0:self.y1, self.x0:self.x1]


def face_regions(size: tuple[int, int], faces: list[np.ndarray]) -> list[FaceRegion]:
    """Crops and feathered paste weights for ``faces`` (landmarks) in an image of ``size`` (w, h).

    Every pixel belongs to the face nearest to it, distance measured in that face's sizes;
    a face's weight is its territory, blurred (σ = FEATHER × the smallest face) so that two
    neighbours' weights cross-fade and sum to one, and tapered to zero at its crop's inner
    edges. The crop is the territory's bounding box, at most CROP_REACH face sizes from the
    face's centre.
    """
    w, h = size
    centres = np.array([face_centre(f) for f in faces], np.float32)
    sizes = np.array([face_size(f) for f in faces], np.float32)
    sigma = max(2.0, FEATHER * float(sizes.min()))
    # ownership on a coarse grid (it is blurred anyway), then upsampled
    q = max(1, int(np.ceil(max(w, h) / 512)))
    gw, gh = -(-w // q), -(-h // q)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    xs, ys = (xs + 0.5) * q, (ys + 0.5) * q
    dist = np.stack([np.hypot(xs - c[0], ys - c[1]) / s for c, s in zip(centres, sizes, strict=True)])
    owner = dist.argmin(axis=0)
    regions = []
    for i, (c, s) in enumerate(zip(centres, sizes, strict=True)):
        soft = cv2.GaussianBlur((owner == i).astype(np.float32), (0, 0), sigma / q, borderType=cv2.BORDER_REFLECT)
        full = cv2.resize(soft, (gw * q, gh * q), interpolation=cv2.INTER_LINEAR)[:h, :w]
        reach = CROP_REACH * s
        ys_on, xs_on = np.nonzero(full > 1e-3)
        x0 = int(max(0, np.floor(c[0] - reach), xs_on.min()))
        x1 = int(min(w, np.ceil(c[0] + reach), xs_on.max() + 1))
        y0 = int(max(0, np.floor(c[1] - reach), ys_on.min()))
        y1 = int(min(h, np.ceil(c[1] + reach), ys_on.max() + 1))
        weight = full[y0:y1, x0:x1] * _edge_taper(x0, y0, x1, y1, w, h, 2.5 * sigma)
        regions.append(FaceRegion(x0, y0, x1, y1, weight[..., None].astype(np.float32)))
    return regions


def _edge_taper(x0: int, y0: int, x1: int, y1: int, w: int, h: int, ramp: float) -> np.ndarray:
    """1 inside the crop, easing to 0 at the edges that are inside the image (not at its border)."""

    def axis(lo: int, hi: int, full: int) -> np.ndarray:
        t = np.ones(hi - lo, np.float32)
        pos = np.arange(hi - lo, dtype=np.float32) + 0.5
        if lo > 0:
            t = np.minimum(t, np.clip(pos / ramp, 0, 1))
        if hi < full:
            t = np.minimum(t, np.clip((hi - lo - pos) / ramp, 0, 1))
        return t * t * (3 - 2 * t)  # smoothstep: no kink where the ramp meets the plateau

    return axis(y0, y1, h)[:, None] * axis(x0, x1, w)[None, :]


class GroupAnimator:
    """Animates every face of a group portrait with one driver; the interface of Animator.

    One driver tracker, one :class:`Animator` (retargeter + generator) per face on its
    own crop; settings, calibration and the reference apply to all faces alike.
    """

    def __init__(self, source_image: np.ndarray, faces: list[np.ndarray], *, source_name: str = "source",
                 settings: AnimatorSettings | None = None):
        self._lock = threading.RLock()
        self.source_name = source_name
        self._settings = (settings or AnimatorSettings()).validate()
        self._tracker = FaceTracker(static=False, align=AlignSettings() if self._settings.align else None)
        self.timings: dict[str, float] = {"track": 0.0, "retarget": 0.0, "generate": 0.0}
        self.face_found = False
        self.members: list[Animator] = []
        self._build(source_image, faces)

    # ---- source --------------------------------------------------------------------------
    def _build(self, image: np.ndarray, faces: list[np.ndarray]) -> None:
        """One Animator per face, on its crop; replaces the current ones only on success."""
        regions = face_regions((image.shape[1], image.shape[0]), faces)
        members: list[Animator] = []
        try:
            for i, (lm, r) in enumerate(zip(faces, regions, strict=True)):
                local = lm.astype(np.float32).copy()
                local[:, :2] -= np.array([r.x0, r.y0], np.float32)
                members.append(Animator(
                    np.ascontiguousarray(r.crop(image)), source_landmarks=local,
                    source_name=f"{self.source_name} (face {i + 1})", settings=self._settings.copy(),
                    track_drivers=False))
        except BaseException:
            for m in members:
                m.close()
            raise
        old, self.members, self.regions = self.members, members, regions
        for m in old:
            m.close()
        self.source_image = image
        self.faces = [f.astype(np.float32) for f in faces]
        # motion scripts are built around this face; every face retargets from it alike
        self.source_landmarks = self.faces[largest_face(self.faces)]
        self._base = image[..., :3].copy()

    def set_source(self, image: np.ndarray, landmarks: np.ndarray | None = None, name: str = "upload") -> None:
        """Swap the portrait, animating every face in it (or the one ``landmarks`` gives).

        Raises NoFaceError (keeping the old portrait) if it has no face.
        """
        faces = [landmarks] if landmarks is not None else find_portrait_faces(image[..., :3])
        if not faces:
            raise no_face_error(name)
        with self._lock:
            # the new faces start from the settings and the neutral driver pose in use now
            first = self.members[0]
            self._settings = first.settings
            reference = first.retargeter.reference
            old = self.source_name
            self.source_name = name
            try:
                self._build(image, faces)
            except Exception:
                self.source_name = old
                raise
            if reference is not None:
                self.set_reference(reference)

    @property
    def size(self) -> tuple[int, int]:
        return self.source_image.shape[1], self.source_image.shape[0]

    # ---- controls ------------------------------------------------------------------------
    def calibrate(self) -> None:
        with self._lock:
            for m in self.members:
                m.calibrate()
            self._tracker.rekey()
            self.members[0].gate.reset()

    def set_reference(self, driver_landmarks: np.ndarray, appearance: DriverAppearance | None = None) -> None:
        with self._lock:
            for m in self.members:
                m.set_reference(driver_landmarks, appearance)

    def update_settings(self, **kw: object) -> None:
        with self._lock:
            mirror_was = self._settings.retarget.mirror
            # the first member validates: a bad value raises before any face changed
            self.members[0].update_settings(**dict(kw))
            for m in self.members[1:]:
                m.update_settings(**dict(kw))
            self._settings = self.members[0].settings
            if self._settings.retarget.mirror != mirror_was:
                self._tracker.rekey()  # the keyframe was the other way round

    def settings_dict(self) -> dict[str, object]:
        with self._lock:
            return self.members[0].settings_dict()

    # ---- per frame -----------------------------------------------------------------------
    def track(self, frame: DriverFrame) -> np.ndarray | None:
        """Driver landmarks for a frame (tracked once, for all faces, or given by a script)."""
        if frame.landmarks is not None:
            return frame.landmarks
        if frame.image is None:
            return None
        image = frame.image[:, ::-1] if self._settings.retarget.mirror else frame.image
        first = self.members[0]  # the members share the settings, the gate and the layers
        h, w = image.shape[:2]
        lm = first.gate.check(self._tracker.track(image), w, h, frame.timestamp)
        if lm is not None and frame.appearance is None:
            frame.appearance = first.appearance_of(image, lm)
        return lm

    def step(self, frame: DriverFrame) -> np.ndarray:
        """The animated group portrait for this driver frame, RGB."""
        t0 = time.perf_counter()
        driver = self.track(frame)
        t1 = time.perf_counter()
        tracked = replace(frame, image=None, landmarks=driver)
        with self._lock:
            out = self._base.copy()
            retarget = generate = 0.0
            for m, r in zip(self.members, self.regions, strict=True):
                anim = m.step(tracked)
                retarget += m.timings["retarget"]
                generate += m.timings["generate"]
                base = r.crop(self._base).astype(np.float32)
                # out = base + Σ weight·(animated − base): neighbours' weights cross-fade
                dst = r.crop(out)
                mixed = dst.astype(np.float32) + r.weight * (anim[..., :3].astype(np.float32) - base)
                dst[:] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        self.face_found = driver is not None
        self.timings = {"track": (t1 - t0) * 1e3, "retarget": retarget, "generate": generate}
        return out

    def close(self) -> None:
        for m in self.members:
            m.close()
        self._tracker.close()


AnyAnimator: TypeAlias = Animator | GroupAnimator


def make_animator(image: np.ndarray, *, source_landmarks: np.ndarray | None = None, source_name: str = "source",
                  face: FaceChoice = None, settings: AnimatorSettings | None = None) -> AnyAnimator:
    """The animator for a portrait and a ``--face`` choice (see the module doc).

    Raises NoFaceError when the portrait has no face, InputError for a ``face`` beyond the
    faces found or ``face`` together with landmarks from a file.
    """
    if face is not None and source_landmarks is not None:
        raise InputError("--face picks one of the faces the tracker finds, --landmarks gives the face "
                         "itself — use one or the other")
    if face == "all":
        faces = find_portrait_faces(image[..., :3])
        if not faces:
            raise no_face_error(source_name)
        if len(faces) > 1:
            log.info("found %d faces in '%s'; animating all %d with the same driver", len(faces), source_name, len(faces))
            return GroupAnimator(image, faces, source_name=source_name, settings=settings)
        source_landmarks = faces[0]
    elif source_landmarks is None:
        source_landmarks = track_portrait(image[..., :3], source_name, face, how_to_choose=FACE_HINT)
    return Animator(image, source_landmarks=source_landmarks, source_name=source_name, settings=settings)
