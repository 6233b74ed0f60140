"""Face tracking: mediapipe face mesh with iris (478 points), for drivers and portraits.

Drivers are tracked in mediapipe's video mode (the mesh follows the face from frame to
frame, detection only on loss). Portraits are tracked in static mode *on a crop*: the
mesh's own detector is a short-range selfie model and misses small faces in large images
(a 2048² photo, a half-body painting), so we detect first — mediapipe's full-range face
detector, OpenCV's Haar cascade as fallback — and mesh a square crop around the face; a
closed mouth the mesh put on a moustache is then seated on its lips (:mod:`streamfx.mouth_fit`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamfx.alignment import AlignSettings, KeyframeAligner
from streamfx.errors import InputError, NoFaceError
from streamfx.landmarks import NUM_LANDMARKS
from streamfx.mouth_fit import seat_mouth

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import mediapipe as mp  # noqa: E402  (log settings must precede the import)

log = logging.getLogger("streamfx")

_DETECT_SIDE = 1024  # detection runs on a copy at most this large
_CROP_SIDE = 512  # the mesh sees the face crop at this size
_CROP_MARGIN = 2.0  # crop side = margin × the detected box's longer side


@dataclass(frozen=True)
class FaceBox:
    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def size(self) -> float:
        return max(self.x1 - self.x0, self.y1 - self.y0)


# A NormalizedLandmark with x, y and z set and nothing else serializes to 17 bytes: its
# list entry's tag and length, then each float's tag and 4 little-endian bytes
_LANDMARK_BYTES = 17
_LANDMARK_HEADER = np.array([0x0A, _LANDMARK_BYTES - 2, 0x0D], np.uint8)
_XYZ_TAGS = np.array([0x15, 0x1D], np.uint8)


def landmark_array(landmarks: object) -> np.ndarray:
    """(N, 3) float32 of a mediapipe ``NormalizedLandmarkList``'s x, y, z (normalised units).

    Read from its serialized bytes when every point holds exactly x, y and z (the face mesh's
    case: a few tens of µs); else, or if the layout is ever not the one expected, point by
    point (a quarter of a millisecond for 478 points in Python)."""
    points = landmarks.landmark  # type: ignore[attr-defined]
    n = len(points)
    raw = np.frombuffer(landmarks.SerializeToString(), np.uint8)  # type: ignore[attr-defined]
    if raw.size == n * _LANDMARK_BYTES and n:
        rec = raw.reshape(n, _LANDMARK_BYTES)
        if (rec[:, :3] == _LANDMARK_HEADER).all() and (rec[:, [7, 12]] == _XYZ_TAGS).all():
            xyz = np.concatenate([rec[:, 3:7], rec[:, 8:12], rec[:, 13:17]], axis=1)
            return xyz.view("<f4").astype(np.float32)
    return np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32).reshape(n, 3)


def _mesh_to_pixels(result: object, w: int, h: int) -> np.ndarray | None:
    faces = getattr(result, "multi_face_landmarks", None)
    if not faces:
        return None
    if len(faces[0].landmark) < NUM_LANDMARKS:
        return None
    return landmark_array(faces[0]) * np.array([w, h, w], dtype=np.float32)


class FaceTracker:
    """Tracks one face per frame; returns (478, 3) float32 pixel landmarks or None.

    ``static=False`` (video mode) is for driver frames in sequence; ``static=True`` treats
    every image independently. ``align`` (video mode only) pulls the points onto the image
    by optical flow from a keyframe (:mod:`streamfx.alignment`): what drivers use; the plain
    mesh is what evaluation measures with.
    """

    def __init__(self, *, static: bool = False, refine: bool = True, min_confidence: float = 0.5,
                 align: AlignSettings | None = None):
        self.static = static
        self._tracking = False
        self.aligner = KeyframeAligner(align) if align is not None and not static else None
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=1,
            refine_landmarks=refine,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=0.5,
        )

    def track(self, rgb: np.ndarray) -> np.ndarray | None:
        h, w = rgb.shape[:2]
        if not rgb.flags["C_CONTIGUOUS"]:
            rgb = np.ascontiguousarray(rgb)
        lm = _mesh_to_pixels(self._mesh.process(rgb), w, h)
        if lm is not None and not self.static and not self._tracking:
            # A fresh detection crops the face differently from frame-to-frame tracking,
            # and the mesh shifts with its crop (several pixels): run the frame once more
            # so that this face — often the reference for all motion — is measured the
            # same way as the frames that follow.
            lm = _mesh_to_pixels(self._mesh.process(rgb), w, h)
        self._tracking = lm is not None
        if lm is not None and self.aligner is not None:
            lm = self.aligner.align(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), lm)
        return lm

    def rekey(self) -> None:
        """Align from the next frame on (after a calibration, a new driver or a mirror toggle)."""
        if self.aligner is not None:
            self.aligner.reset()

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FaceDetector:
    """Face boxes in an image of any size: mediapipe full-range detection, then Haar."""

    def __init__(self) -> None:
        self._mp = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.4)
        cascade = Path(cv2.__file__).parent / "data" / "haarcascade_frontalface_default.xml"
        self._haar = cv2.CascadeClassifier(str(cascade))

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        s = min(1.0, _DETECT_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
        boxes = [FaceBox(b.x0 / s, b.y0 / s, b.x1 / s, b.y1 / s, b.score)
                 for b in self._detect_mediapipe(small) or self._detect_haar(small)]
        if not boxes and s < 1:
            boxes = self._detect_tiles(rgb)
        return sorted(boxes, key=lambda b: -b.size * b.score)

    def _detect_tiles(self, rgb: np.ndarray, tile: int = 768, stride: int = 512) -> list[FaceBox]:
        """Faces too small to survive the downscale: look at full resolution, tile by tile."""
        h, w = rgb.shape[:2]
        ys = sorted({*range(0, max(h - tile, 0) + 1, stride), max(h - tile, 0)})
        xs = sorted({*range(0, max(w - tile, 0) + 1, stride), max(w - tile, 0)})
        out = []
        for y in ys:
            for x in xs:
                for b in self._detect_mediapipe(rgb[y:y + tile, x:x + tile]):
                    out.append(FaceBox(b.x0 + x, b.y0 + y, b.x1 + x, b.y1 + y, b.score))
        return out

    def _detect_mediapipe(self, rgb: np.ndarray) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        res = self._mp.process(np.ascontiguousarray(rgb))
        out = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            out.append(FaceBox(bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w,
                               (bb.ymin + bb.height) * h, float(d.score[0])))
        return out

    def _detect_haar(self, rgb: np.ndarray) -> list[FaceBox]:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        side = min(gray.shape)
        found = self._haar.detectMultiScale(gray, 1.1, 5, minSize=(max(24, side // 20),) * 2)
        return [FaceBox(float(x), float(y), float(x + fw), float(y + fh), 0.5) for x, y, fw, fh in found]

    def close(self) -> None:
        self._mp.close()


def _crop_square(rgb: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, float, float, float]:
    """A _CROP_SIDE² crop centred on (cx, cy); returns it with its origin and scale."""
    x0, y0 = cx - side / 2, cy - side / 2
    scale = _CROP_SIDE / side
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    crop = cv2.warpAffine(rgb, m, (_CROP_SIDE, _CROP_SIDE), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop, x0, y0, scale


#: boxes meshed per image: a group photo's faces, bounded so a noisy detector stays cheap
_MAX_BOXES = 12


def face_size(lm: np.ndarray) -> float:
    """A face's size in pixels: the longer side of its landmarks' bounding box."""
    span = lm[:, :2].max(axis=0) - lm[:, :2].min(axis=0)
    return float(span.max())


def face_centre(lm: np.ndarray) -> np.ndarray:
    """The centre of a face's landmarks' bounding box, (x, y) pixels."""
    return ((lm[:, :2].max(axis=0) + lm[:, :2].min(axis=0)) / 2).astype(np.float32)


def find_portrait_faces(rgb: np.ndarray, *, seat: bool = True) -> list[np.ndarray]:
    """Landmarks of every face in a still image of any size, left to right; [] if none.

    Each detected box is meshed on its own crop, so a box that holds no face (a detector's
    false positive) drops out, and two boxes on one face keep one mesh. ``seat``: a closed
    mouth the mesh put off its lips is seated on them (:func:`~streamfx.mouth_fit.seat_mouth`);
    False: the mesh's landmarks as they are.
    """
    h, w = rgb.shape[:2]
    detector = FaceDetector()
    tracker = FaceTracker(static=True)
    faces: list[np.ndarray] = []
    try:
        for box in detector.detect(rgb)[:_MAX_BOXES]:
            cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
            crop, x0, y0, s = _crop_square(rgb, cx, cy, box.size * _CROP_MARGIN)
            lm = tracker.track(crop)
            if lm is None:
                continue
            lm[:, :2] = lm[:, :2] / s + np.array([x0, y0], np.float32)
            lm[:, 2] /= s
            if not any(_same_face(lm, other) for other in faces):
                faces.append(lm)
        if not faces:
            # Close-up portraits can defeat the detectors but not the mesh's own detector.
            s = min(1.0, _DETECT_SIDE / max(h, w))
            small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
            lm = tracker.track(small)
            if lm is not None:
                faces.append(lm / s)
    finally:
        tracker.close()
        detector.close()
    seated = []
    for lm in faces:  # a mouth the mesh put on a moustache, moved onto the lips' seam
        lm, shift = seat_mouth(rgb, lm) if seat else (lm, 0.0)
        if shift:
            log.debug("portrait mouth moved %+.2f of its width onto the lips' seam", shift)
        seated.append(lm)
    return sorted(seated, key=lambda f: float(face_centre(f)[0]))


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.linalg.norm(face_centre(a) - face_centre(b))) < 0.4 * min(face_size(a), face_size(b))


def largest_face(faces: list[np.ndarray]) -> int:
    """Index of the largest face (the one a single-face command animates by default)."""
    return max(range(len(faces)), key=lambda i: face_size(faces[i]))


def find_portrait_landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """Landmarks of the main (largest) face in a still image of any size, or None."""
    faces = find_portrait_faces(rgb)
    return faces[largest_face(faces)] if faces else None


def no_face_error(name: str) -> NoFaceError:
    return NoFaceError(
        f"no readable face in '{name}' — for cartoons, robots and other faces the tracker "
        "cannot read, pass --landmarks face.json (478 points or 5 keypoints; see docs/landmarks.md)"
    )


def track_portrait(rgb: np.ndarray, name: str = "source image", face: int | None = None, *,
                   how_to_choose: str = "", verb: str = "animating") -> np.ndarray:
    """The landmarks of one face in a portrait: face ``face`` (1-based, left to right), or the largest.

    With several faces it logs which one was taken, plus ``how_to_choose`` (the options the
    calling command offers, e.g. "--face N picks another"; ``verb`` says what is done with
    it). No face is a one-line
    NoFaceError; a ``face`` beyond the faces found is a one-line InputError.
    """
    faces = find_portrait_faces(rgb)
    if not faces:
        raise no_face_error(name)
    n = len(faces)
    if face is not None and not 1 <= face <= n:
        if n == 1:
            raise InputError(f"--face {face}: '{name}' has only one face — leave --face out")
        raise InputError(f"--face {face}: '{name}' has {n} faces — pick 1 to {n} (numbered left to right)")
    if face is None:
        k = largest_face(faces) + 1
        why = "the largest" + (f"; {how_to_choose}" if how_to_choose else "")
    else:
        k, why = face, f"--face {face}"
    if n > 1:
        log.info("found %d faces in '%s'; %s face %d of %d (%s)", n, name, verb, k, n, why)
    return faces[k - 1]
