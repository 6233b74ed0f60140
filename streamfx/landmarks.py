"""The 478-point face-mesh topology, named regions, and the landmarks-file format.

Landmarks are float32 arrays of shape (478, 3) in *pixel* coordinates of their image:
x right, y down, z towards the camera-away direction in the same pixel scale as x
(mediapipe's convention). Points 0–467 are the face mesh, 468–477 the two irises.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from streamfx.errors import InputError

NUM_LANDMARKS = 478

# Region index sets (mediapipe face-mesh topology). "Right"/"left" are the subject's.
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
LIPS_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
OUTER_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
MOUTH_CORNERS = (61, 291)
INNER_CORNERS = (78, 308)
UPPER_LIP_MID, LOWER_LIP_MID = 13, 14

RIGHT_EYE_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]
RIGHT_EYE_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
LEFT_EYE_UPPER = [263, 466, 388, 387, 386, 385, 384, 398, 362]
LEFT_EYE_LOWER = [263, 249, 390, 373, 374, 380, 381, 382, 362]
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (263, 362)
RIGHT_UPPER_LID, RIGHT_LOWER_LID = 159, 145  # the lids' middle points
LEFT_UPPER_LID, LEFT_LOWER_LID = 386, 374
RIGHT_IRIS = [468, 469, 470, 471, 472]
LEFT_IRIS = [473, 474, 475, 476, 477]
RIGHT_BROW = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107]
LEFT_BROW = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109]
NOSE = [1, 2, 4, 5, 6, 19, 94, 168, 197, 195, 98, 327, 129, 358, 64, 294, 48, 278]
CHEEKS = [50, 280, 123, 352, 187, 411, 205, 425, 36, 266, 118, 347, 101, 330]
CHIN = [152, 175, 199, 200, 18, 421, 201, 428, 208, 171, 396, 32, 262]
NOSE_TIP, CHIN_TIP, FOREHEAD = 1, 152, 10

EYES = RIGHT_EYE_UPPER + RIGHT_EYE_LOWER[1:-1] + LEFT_EYE_UPPER + LEFT_EYE_LOWER[1:-1]
IRISES = RIGHT_IRIS + LEFT_IRIS
BROWS = RIGHT_BROW + LEFT_BROW
MOUTH = LIPS_OUTER + LIPS_INNER

# The face outline's sides are silhouette points: when the head turns they slide over the
# skin rather than ride on it, so they neither carry texture nor measure head pose.
SILHOUETTE = [251, 389, 356, 454, 323, 361, 132, 93, 234, 127, 162, 21]

# Points that move with the skull, not with expressions: used to fit head pose.
RIGID = [33, 133, 263, 362, 1, 4, 6, 168, 197, 195, 5, 10, 151, 9, 8, 98, 327, 129, 358]

# The rigid points the head layer (hair, ears, the head's outline) moves with: the eye corners
# and the nose's bridge — not the forehead, which a raised brow lifts, nor the nose's tip and
# wings, which a turn swings further than the skull (fitted on those, the similarity reads a
# turn as a slide and a roll that swing the top of the hair out).
SKULL = [33, 133, 263, 362, 6, 168, 197, 195]

# The eye's corners: they move with the skull; its lids and iris move over the eyeball.
EYE_CORNERS = list(RIGHT_EYE_CORNERS + LEFT_EYE_CORNERS)

# Control points the generator's motion field is solved on: enough to carry every region,
# few enough that the per-frame solve stays cheap and well conditioned. Of the eyes only
# the corners: the field carries the eye region as a whole (and glasses over it) rigidly,
# and the eyelid and iris layers draw the lids and the gaze over it — warping them would
# stretch lid skin over the eye and drag the sclera with the iris.
CONTROL = sorted(set([i for i in FACE_OVAL if i not in SILHOUETTE] + EYE_CORNERS
                     + BROWS + NOSE + LIPS_OUTER + CHEEKS + CHIN))

# Points the driver's alignment matches by optical flow (streamfx.alignment): every point the
# generator reads, but not the irises, whose motion the eye's texture would hide.
ALIGNED = sorted((set(CONTROL) | set(EYES) | set(RIGID) | set(MOUTH)) - set(IRISES))


def eye_openness(lm: np.ndarray) -> float:
    """Mean lid gap over eye width for both eyes (≈0.25–0.35 open, ≈0.05 closed)."""
    right, left = eye_openness_each(lm)
    return 0.5 * (right + left)


def eye_openness_each(lm: np.ndarray) -> tuple[float, float]:
    """(right, left) eye — the subject's — each eye's lid gap over its width.

    The gap is the distance between the lids' middle points (159–145, 386–374), the width
    the distance between the eye's corners (33–133, 263–362): ≈0.25–0.35 open, ≈0.05
    closed. Per eye, because in a two-eye mean a wink is half a blink.
    """
    def one(up: int, low: int, a: int, b: int) -> float:
        w = float(np.linalg.norm(lm[a, :2] - lm[b, :2])) + 1e-6
        return float(np.linalg.norm(lm[up, :2] - lm[low, :2])) / w

    return (one(RIGHT_UPPER_LID, RIGHT_LOWER_LID, *RIGHT_EYE_CORNERS),
            one(LEFT_UPPER_LID, LEFT_LOWER_LID, *LEFT_EYE_CORNERS))


def mouth_openness(lm: np.ndarray) -> float:
    """Inner-lip gap over mouth width (0 closed, ≈0.5 wide open)."""
    w = float(np.linalg.norm(lm[MOUTH_CORNERS[0], :2] - lm[MOUTH_CORNERS[1], :2])) + 1e-6
    return float(np.linalg.norm(lm[UPPER_LIP_MID, :2] - lm[LOWER_LIP_MID, :2])) / w


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres, pixels: the midpoints of each eye's corners."""
    return lm[list(RIGHT_EYE_CORNERS), :2].mean(axis=0), lm[list(LEFT_EYE_CORNERS), :2].mean(axis=0)


def eye_axis(lm: np.ndarray) -> np.ndarray:
    """Unit vector from the right eye's centre to the left's: the face's own x axis."""
    r, left = eye_centres(lm)
    return (left - r) / (np.linalg.norm(left - r) + 1e-6)


def interocular(lm: np.ndarray) -> float:
    """Distance between the two eye centres, in pixels: the unit of AKD."""
    r, left = eye_centres(lm)
    return float(np.linalg.norm(r - left))


def lip_gap(lm: np.ndarray) -> float:
    """Inner-lip gap in inter-ocular units: upper-lip middle (13) to lower-lip middle (14).

    Unlike :func:`mouth_openness` (over the mouth's width) a smile, which widens the mouth,
    does not change it: it measures how far the jaw and lips part.
    """
    return float(np.linalg.norm(lm[UPPER_LIP_MID, :2] - lm[LOWER_LIP_MID, :2])) / (interocular(lm) + 1e-6)


def _face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face's own unit axes in the image: x from the right eye to the left, y down the face."""
    x = eye_axis(lm)
    return x, np.array([-x[1], x[0]])


def gaze(lm: np.ndarray) -> np.ndarray:
    """Where each iris sits in its eye: shape (2, 2), rows (right eye, left eye), columns (x, y).

    The iris centre (the mean of its 5 points, 468–472 / 473–477) minus the midpoint of the
    eye's corners, along the face's own axes (x: right eye → left eye, i.e. towards the
    image's right on a frontal face; y: perpendicular, down the face), over that eye's width
    (corner to corner). Looking straight ahead ≈ (0, 0); the iris at a corner ≈ ±0.3.
    Head roll and scale cancel out; head yaw shifts it a little (the eye's width foreshortens).
    """
    x, y = _face_frame(lm)
    out = np.zeros((2, 2), np.float32)
    for row, (iris, (a, b)) in enumerate(((RIGHT_IRIS, RIGHT_EYE_CORNERS), (LEFT_IRIS, LEFT_EYE_CORNERS))):
        centre = (lm[a, :2] + lm[b, :2]) / 2
        width = float(np.linalg.norm(lm[a, :2] - lm[b, :2])) + 1e-6
        d = lm[iris, :2].mean(axis=0) - centre
        out[row] = (float(d @ x) / width, float(d @ y) / width)
    return out


def brow_height(lm: np.ndarray) -> float:
    """How far the brows sit above the eyes, in inter-ocular units (both sides averaged).

    Per side, the mean of the brow points' (46… / 276…) distances above the eye's corner
    midpoint, measured along the face's own up axis (perpendicular to the eyes' line), so
    head roll and scale cancel; raised brows make it larger. Eye corners do not move with
    blinks, which the lids would.
    """
    _, y = _face_frame(lm)
    right, left = eye_centres(lm)
    up_r = -(lm[RIGHT_BROW, :2] - right) @ y
    up_l = -(lm[LEFT_BROW, :2] - left) @ y
    return float((up_r.mean() + up_l.mean()) / 2) / (interocular(lm) + 1e-6)


def face_box(lm: np.ndarray, w: int, h: int, pad: float = 0.1) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the face oval, padded, clipped to the image."""
    pts = lm[FACE_OVAL, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    px, py = (x1 - x0) * pad, (y1 - y0) * pad
    return (max(0, int(x0 - px)), max(0, int(y0 - py)), min(w, int(np.ceil(x1 + px))),
            min(h, int(np.ceil(y1 + py))))


# ---- landmarks file ---------------------------------------------------------------------

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")
_KEYPOINT_IDS: dict[str, list[int]] = {
    "right_eye": [33, 133],  # the subject's right eye: on the image's left
    "left_eye": [263, 362],
    "nose_tip": [1],
    "mouth_right": [61],
    "mouth_left": [291],
}


def load_landmarks(path: str | Path) -> np.ndarray:
    """Read a landmarks file (see docs/landmarks.md): 478 points, or 5 named keypoints.

    With keypoints, the built-in template face is fitted to them (similarity plus shear),
    which is what a cartoon, robot or sculpture needs: five clicks instead of 478.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"landmarks file '{p}' does not exist — check the --landmarks path")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"landmarks file '{p}' is not valid JSON ({e.msg if hasattr(e, 'msg') else e}) — see docs/landmarks.md") from None
    if isinstance(data, dict) and "landmarks" in data:
        pts = np.asarray(data["landmarks"], dtype=np.float32)
        if pts.ndim != 2 or pts.shape[0] != NUM_LANDMARKS or pts.shape[1] not in (2, 3):
            raise InputError(f"landmarks file '{p}' must hold {NUM_LANDMARKS} [x, y] or [x, y, z] points, got shape {list(pts.shape)} — see docs/landmarks.md")
        if pts.shape[1] == 2:
            pts = np.concatenate([pts, np.zeros((NUM_LANDMARKS, 1), np.float32)], axis=1)
        if data.get("normalized"):
            w, h = data["image_size"]
            pts = pts * np.array([w, h, w], np.float32)
        return pts
    if isinstance(data, dict) and "keypoints" in data:
        kp = data["keypoints"]
        missing = [k for k in KEYPOINT_NAMES if k not in kp]
        if missing:
            raise InputError(f"landmarks file '{p}' lacks keypoints {missing} — give all of {list(KEYPOINT_NAMES)} as [x, y] pixels")
        return fit_template(np.array([kp[k] for k in KEYPOINT_NAMES], np.float32))
    raise InputError(f"landmarks file '{p}' needs a 'landmarks' (478 points) or 'keypoints' object — see docs/landmarks.md")


def save_landmarks(path: str | Path, landmarks: np.ndarray, image_size: tuple[int, int]) -> None:
    Path(path).write_text(json.dumps({
        "format": "streamfx-landmarks/1",
        "image_size": list(image_size),
        "landmarks": np.round(landmarks.astype(float), 2).tolist(),
    }))


def template_landmarks() -> np.ndarray:
    """The template face (478×3, unit inter-ocular distance, eyes on y=0, centred)."""
    path = Path(__file__).with_name("assets") / "template_landmarks.json"
    return np.asarray(json.loads(path.read_text())["landmarks"], np.float32)


def _keypoints_of(lm: np.ndarray) -> np.ndarray:
    return np.array([lm[_KEYPOINT_IDS[k], :2].mean(axis=0) for k in KEYPOINT_NAMES], np.float32)


def closed_mouth(lm: np.ndarray) -> np.ndarray:
    """The face with its lips closed: the jaw (lower lips, chin and the face below the mouth)
    raised by the inner lips' gap, the lower inner lip laid on the upper one.

    The template face's lips are parted (a fifth of the mouth's width): fitted to a portrait
    from five keypoints, its inner lips then lay on the portrait's lips and below, and an
    opening mouth was drawn there — a dark wedge on the lower lip and chin. Most portraits
    close their mouths; a closed template opens at the lips' seam, which is then laid through
    the mouth's corners (as a closed mouth's is: the template's lay a tenth of the eyes'
    distance low, on a real portrait's lower lip)."""
    out = lm.copy()
    upper, lower = lm[INNER_UPPER, :2], lm[INNER_LOWER, :2]
    ax = eye_axis(lm)
    down = np.array([-ax[1], ax[0]], np.float32)
    corner_l, corner_r = lm[MOUTH_CORNERS[0], :2], lm[MOUTH_CORNERS[1], :2]
    centre, width = (corner_l + corner_r) / 2, float(np.linalg.norm(corner_r - corner_l)) + 1e-6
    gap = float(np.max((lower - upper) @ down))
    if gap <= 0:
        return out
    # the jaw's weight: 1 on and below the lower lip near the middle, fading sideways and to 0
    # at the mouth's line (FaceRig's jaw, closing instead of opening)
    rel = lm[:, :2] - centre
    along, below = rel @ ax, rel @ down
    oval = (lm[FACE_OVAL, :2] - centre) @ ax
    half = float(oval.max() - oval.min()) / 2
    weight = np.exp(-(along / (0.55 * half)) ** 2) * np.clip(below / (0.12 * width) + 0.5, 0.0, 1.0)
    weight[INNER_UPPER] = 0.0
    out[:, :2] -= (weight * gap)[:, None] * down
    out[INNER_LOWER, :2] = out[INNER_UPPER, :2]  # pairwise, corner to corner: the seam
    # a closed mouth's seam runs through its corners: the lips move along, most at the middle
    lips = sorted(set(LIPS_OUTER + LIPS_INNER))
    corner_l, corner_r = out[MOUTH_CORNERS[0], :2], out[MOUTH_CORNERS[1], :2]
    seam = float((out[UPPER_LIP_MID, :2] - (corner_l + corner_r) / 2) @ down)
    u = np.clip(((out[lips, :2] - corner_l) @ ax) / width, 0.0, 1.0)
    out[lips, :2] -= (seam * 4 * u * (1 - u))[:, None] * down
    return out


def fit_template(keypoints: np.ndarray) -> np.ndarray:
    """Place the template face (mouth closed, :func:`closed_mouth`) on five (x, y) keypoints
    with a least-squares affine fit."""
    tpl = closed_mouth(template_landmarks())
    src = _keypoints_of(tpl)
    a = np.concatenate([src, np.ones((5, 1), np.float32)], axis=1)
    m, *_ = np.linalg.lstsq(a, keypoints.astype(np.float32), rcond=None)  # 3×2
    xy = np.concatenate([tpl[:, :2], np.ones((NUM_LANDMARKS, 1), np.float32)], axis=1) @ m
    scale = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    return np.concatenate([xy, tpl[:, 2:3] * scale], axis=1).astype(np.float32)
