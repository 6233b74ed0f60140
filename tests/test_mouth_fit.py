"""Seating a portrait's closed mouth on its lips' seam (streamfx.mouth_fit): real mediapipe
on the shared portraits, and painted mouths whose seam is known to the pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.imageio import load_image
from streamfx.mouth_fit import CLOSED_GAP, seat_mouth
from streamfx.tracking import find_portrait_faces, largest_face, track_portrait
from tests.conftest import media


def _line_y(lm: np.ndarray) -> float:
    """The inner-lip line's height mid-mouth (the upper and lower inner lips' middles)."""
    return float((lm[L.UPPER_LIP_MID, 1] + lm[L.LOWER_LIP_MID, 1]) / 2)


def _painted(image: np.ndarray, lm: np.ndarray, seam_below: float) -> tuple[np.ndarray, float]:
    """The portrait with a moustache painted down to its inner-lip line, lips below it and
    their seam ``seam_below`` × the mouth's width under the line; and the seam's row."""
    out = image.copy()
    a, b = lm[L.INNER_CORNERS[0], :2], lm[L.INNER_CORNERS[1], :2]
    w = float(np.linalg.norm(b - a))
    x0, x1 = int(min(a[0], b[0]) - 0.3 * w), int(max(a[0], b[0]) + 0.3 * w)
    y = _line_y(lm)
    seam = y + seam_below * w

    def band(top: float, bottom: float, rgb: tuple[int, int, int]) -> None:
        out[int(round(top)):int(round(bottom)), x0:x1] = rgb

    band(y - 0.35 * w, y, (45, 38, 35))  # the moustache, ending on mediapipe's line
    band(y, seam, (190, 120, 115))  # the upper lip below it
    band(seam + 1.5, seam + 0.2 * w, (200, 130, 125))  # the lower lip
    band(seam + 0.2 * w, seam + 0.45 * w, (215, 170, 150))  # skin
    band(seam - 1.5, seam + 1.5, (70, 40, 40))  # where the lips meet
    return out, seam


def test_a_mouth_put_on_a_moustache_is_seated_on_its_lips(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    lm = L.closed_mouth(portrait_landmarks)  # the astronaut smiles open-mouthed: paint a closed mouth
    assert L.lip_gap(lm) < CLOSED_GAP
    image, seam = _painted(portrait, lm, 0.22)
    seated, shift = seat_mouth(image, lm)
    assert shift == pytest.approx(0.22, abs=0.03)
    assert _line_y(seated) == pytest.approx(seam, abs=1.5)
    lips = sorted(set(L.MOUTH))
    others = np.setdiff1d(np.arange(L.NUM_LANDMARKS), lips)
    assert np.array_equal(seated[others], lm[others])  # only the lips move
    moved = seated[lips, :2] - lm[lips, :2]
    assert np.ptp(moved, axis=0).max() < 1e-3  # all together, unstretched


def test_a_mouth_on_its_seam_or_open_keeps_the_meshs_landmarks(portrait: np.ndarray,
                                                                portrait_landmarks: np.ndarray) -> None:
    assert seat_mouth(portrait, portrait_landmarks)[0] is portrait_landmarks  # the astronaut as it is
    lm = L.closed_mouth(portrait_landmarks)
    on_seam, _ = _painted(portrait, lm, 0.0)  # the lips meet on mediapipe's line
    assert seat_mouth(on_seam, lm)[0] is lm
    opened = lm.copy()
    opened[L.INNER_LOWER[1:-1] + L.OUTER_LOWER[1:-1], 1] += 0.1 * L.interocular(lm)
    assert seat_mouth(_painted(portrait, opened, 0.22)[0], opened)[0] is opened


def test_only_the_bearded_mans_mouth_moves_among_the_shared_portraits() -> None:
    sources = media("source")
    if not sources.is_dir():
        pytest.skip(f"the shared portraits are not here ({sources})")
    shifts = {}
    for path in sorted(Path(sources).iterdir()):
        if path.suffix.lower() not in (".jpg", ".png"):
            continue
        image = np.ascontiguousarray(load_image(path, max_side=1024)[..., :3])
        seated = track_portrait(image, path.name)
        assert seat_mouth(image, seated)[0] is seated  # seated once: a second time changes nothing
        mesh = _unseated(image)
        width = float(np.linalg.norm(mesh[L.INNER_CORNERS[0], :2] - mesh[L.INNER_CORNERS[1], :2]))
        shifts[path.name] = (_line_y(seated) - _line_y(mesh)) / width
    assert 0.2 < shifts.pop("lp_s12.jpg") < 0.35  # mediapipe put his lips on his moustache
    assert all(abs(s) < 1e-6 for s in shifts.values()), shifts


def _unseated(image: np.ndarray) -> np.ndarray:
    """The largest face's landmarks as mediapipe's mesh gives them, before any seating."""
    faces = find_portrait_faces(image, seat=False)
    return faces[largest_face(faces)]
