"""Hair's loose strands join the head layer, and the plate behind the head keeps the
background's grain (streamfx.generator.strands, streamfx.generator.head.matched_grain).

lp_s2's flyaway curls lay beyond the segmenter's matte: a moving head left them hanging in the
air, with a hard edge where the smooth fill began. Here, painted scenes where every strand's
pixels are known, and the real portrait (mediapipe's landmarks and matte on it)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.generator.head import coverage, head_layer
from streamfx.generator.strands import strand_matte
from tests.conftest import media

IO = 80.0
SIZE = 512
BACKGROUND = 205
HAIR = 50


def _scene(*, grain: float = 3.0, hair: int = HAIR, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A plain grainy background with a dark head of hair (a disc) over a template face:
    (RGB image, landmarks, person matte)."""
    rng = np.random.default_rng(seed)
    lm = L.template_landmarks().copy()
    lm[:, :2] = lm[:, :2] * IO + (SIZE / 2, SIZE / 2)
    lm[:, 2] *= IO
    gray = np.full((SIZE, SIZE), float(BACKGROUND)) + rng.normal(0.0, grain, (SIZE, SIZE))
    person = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(person, (SIZE // 2, SIZE // 2), int(1.9 * IO), 255, -1)
    gray[person > 0] = hair + rng.normal(0.0, 6.0, int((person > 0).sum()))
    image = np.clip(np.round(gray), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.dstack([image] * 3)), lm.astype(np.float32), person


def _curl(image: np.ndarray, start_deg: float, rng: np.random.Generator, value: int = 90) -> np.ndarray:
    """Draws a thin wavy strand leaving the hair at ``start_deg`` (0.05–0.28 × IO beyond its
    edge); returns the strand's own pixels (H×W bool)."""
    a = np.deg2rad(start_deg)
    r0 = 1.9 * IO - 3
    radial = np.array([np.cos(a), np.sin(a)])
    side = np.array([-radial[1], radial[0]])
    t = np.linspace(0.0, 0.28 * IO + 3, 12)
    pts = SIZE / 2 + np.outer(r0 + t, radial) + np.outer(4.0 * np.sin(t / 4.0 + rng.uniform(0, 6)), side)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(mask, [np.round(pts).astype(np.int32)], False, 255, 1)
    image[mask > 0] = value
    return mask > 0


def _strands(image: np.ndarray, rng: np.random.Generator, count: int = 14) -> np.ndarray:
    drawn = np.zeros(image.shape[:2], bool)
    for deg in np.linspace(200, 340, count):  # over the top of the head
        drawn |= _curl(image, float(deg), rng)
    return drawn


def test_loose_strands_join_the_head_layer_and_the_plate_is_filled_behind_them() -> None:
    image, lm, person = _scene()
    rng = np.random.default_rng(1)
    drawn = _strands(image, rng)
    base = coverage(lm, image.shape[:2], person)
    outside = drawn & (base == 0)
    assert outside.sum() > 150, "the painted strands must reach beyond the matte for this test"
    strands = strand_matte(image, lm, person, base)
    found = strands > 0
    assert found[outside].mean() >= 0.9, f"only {found[outside].mean():.0%} of the strands' pixels found"
    # their coverage is their share of hair: (205 − 90) / (205 − 50) ≈ 0.74
    assert 0.55 <= np.median(strands[outside]) / 255.0 <= 0.95
    # grain specks beside a strand join it, but faintly (their contrast is grain's)
    stray = (strands > 0.15 * 255) & ~(cv2.dilate(drawn.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    assert stray.sum() <= 0.02 * found.sum(), f"{stray.sum()} pixels away from any strand"
    # the head layer takes them, and the plate behind them is background, not strands
    layer = head_layer(image, lm, person)
    assert (layer.layer[..., -1][outside] < 255).all()
    plate = layer.plate[..., 0].astype(np.int32)
    assert np.abs(plate[outside] - BACKGROUND).max() <= 20, "a strand was left in the plate"


def test_no_strands_without_them_or_on_a_busy_background_or_a_line_that_runs_on() -> None:
    image, lm, person = _scene()
    base = coverage(lm, image.shape[:2], person)
    assert not strand_matte(image, lm, person, base).any()  # grain alone is not hair
    # thin dark lines everywhere (foliage, text, a pattern): strands cannot be told apart
    busy = image.copy()
    rng = np.random.default_rng(2)
    for _ in range(1000):
        x, y = rng.uniform(0, SIZE, 2)
        a = rng.uniform(0, np.pi)
        d = 12.0 * np.array([np.cos(a), np.sin(a)])
        cv2.line(busy, (int(x - d[0]), int(y - d[1])), (int(x + d[0]), int(y + d[1])), (90, 90, 90), 1)
    _strands(busy, np.random.default_rng(1))
    assert (strand_matte(busy, lm, person, base) > 0).sum() <= 20
    # a straight background line (a picture frame's edge) touching the hair and running on
    framed = image.copy()
    x = int(SIZE / 2 + 1.9 * IO * np.cos(np.deg2rad(300)))
    cv2.line(framed, (x, 0), (x, SIZE // 2), (90, 90, 90), 1)
    assert (strand_matte(framed, lm, person, base) > 0).sum() <= 5
    # a picture frame's edge, 3 px wide, that the hair cuts off (lp_d9): ends in the band as a
    # strand does, but is no strand
    edged = image.copy()
    top = int(SIZE / 2 - 1.9 * IO)
    cv2.line(edged, (SIZE // 2 + 30, top - int(0.25 * IO)), (SIZE // 2 + 30, top + 10), (60, 60, 60), 2)
    assert (strand_matte(edged, lm, person, base) > 0).sum() <= 5
    # hair as light as the background: nothing to find
    pale, lm2, person2 = _scene(hair=190)
    _strands(pale, np.random.default_rng(1))
    assert not strand_matte(pale, lm2, person2, coverage(lm2, pale.shape[:2], person2)).any()


def _fine(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) - cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.0)


@pytest.mark.parametrize("grain", [0.0, 3.0, 8.0])
def test_the_fill_behind_the_head_has_the_backgrounds_grain(grain: float) -> None:
    """A smooth fill beside grainy background read as a pasted patch with a seam: the fill's
    fine detail is as strong as the background's, and the plate is the same every time."""
    image, lm, person = _scene(grain=grain)
    layer = head_layer(image, lm, person)
    inner = cv2.erode(layer.moving.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
    plain = cv2.dilate((coverage(lm, image.shape[:2], person) > 0).astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert inner.sum() > 5000 and plain.sum() > 5000
    filled, seen = _fine(layer.plate[..., 0])[inner].std(), _fine(image[..., 0])[plain].std()
    assert abs(filled - seen) <= 0.25 * seen + 0.4, f"fill's grain {filled:.2f}, background's {seen:.2f}"
    assert np.array_equal(head_layer(image, lm, person).plate, layer.plate)


def _octave(x: np.ndarray, fine: float = 2.0, coarse: float = 4.0) -> np.ndarray:
    """Detail between Gaussian blurs of ``fine`` and ``coarse`` px, per channel: a dab's scale
    (within the octaves the fill matches: up to GRAIN_COARSEST × the eyes' distance, 6.4 px
    here), and coarser than the film grain the fill had before."""
    x = x.astype(np.float32)
    return cv2.GaussianBlur(x, (0, 0), fine) - cv2.GaussianBlur(x, (0, 0), coarse)


def test_the_fill_behind_the_head_carries_a_painted_grounds_brushwork() -> None:
    """A painted ground (sadtalker_art_7's): dabs of red and green of about equal brightness,
    a few pixels across. The fill took only the finest grain and read as a smooth grey slab
    wherever the head moved off it (case driver_face_leaves_frame, frame 44). Its colour detail
    at the dabs' scale is now the background's (at its flattest patches: head.matched_grain),
    in colour, not grey."""
    image, lm, person = _scene(grain=0.0)
    rng = np.random.default_rng(1)
    dabs = _octave(rng.normal(0.0, 1.0, (SIZE, SIZE)), 1.0, 3.0)
    dabs *= 16.0 / dabs.std()
    ground = np.full((SIZE, SIZE, 3), float(BACKGROUND) - 60.0, np.float32)
    ground[..., 0] += dabs  # red up where green goes down: nearly the same brightness
    ground[..., 1] -= 0.5 * dabs
    painted = np.where((person > 0)[..., None], image, np.clip(np.round(ground), 0, 255)).astype(np.uint8)
    layer = head_layer(painted, lm, person)
    inner = cv2.erode(layer.moving.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
    plain = cv2.dilate((coverage(lm, painted.shape[:2], person) > 0).astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert inner.sum() > 5000 and plain.sum() > 5000
    seen, filled = _octave(painted)[plain], _octave(layer.plate)[inner]
    for c in (0, 1):
        # (the flattest patches' share of it: 0.55 of the whole ground's; 0.21 before, the grain's)
        assert filled[:, c].std() > 0.4 * seen[:, c].std(), f"channel {c}: {filled[:, c].std():.2f} vs {seen[:, c].std():.2f}"
        assert filled[:, c].std() < 1.5 * seen[:, c].std()
    # in colour, as the ground: red and green detail opposed (−1.0), not grey (+0.97 before)
    assert np.corrcoef(filled[:, 0], filled[:, 1])[0, 1] < -0.5


def test_lp_s2s_flyaway_curls_are_not_left_in_the_plate() -> None:
    """lp_s2: curls beyond the segmenter's matte, left of his hair. The plate must not keep them
    (what stays there shows wherever the head moves off it)."""
    from streamfx.imageio import load_image
    from streamfx.matte import source_matte
    from streamfx.tracking import track_portrait

    path = media("source", "lp_s2.jpg")
    image = np.ascontiguousarray(load_image(path, max_side=1024)[..., :3])
    lm = track_portrait(image, str(path))
    person = source_matte(image)
    io = L.interocular(lm)
    base = coverage(lm, image.shape[:2], person)
    dist = cv2.distanceTransform((base == 0).astype(np.uint8), cv2.DIST_L2, 3)
    band = (base == 0) & (dist < 0.3 * io)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    dark = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, k) > 12
    before = int((dark & band).sum())
    assert before > 150, f"lp_s2 should show curls beyond the matte ({before} px)"
    plate = cv2.cvtColor(head_layer(image, lm, person).plate, cv2.COLOR_RGB2GRAY)
    after = int(((cv2.morphologyEx(plate, cv2.MORPH_BLACKHAT, k) > 12) & band).sum())
    assert after <= 0.35 * before, f"{after} of {before} strand pixels still in the plate"
