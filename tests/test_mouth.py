"""The mouth: lips that part where the target's do, the source's teeth kept rigid, the driver's
mouth interior, a drawn interior without a driver, five-keypoint faces (issue 11, items 1–3)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.generator import GeneratorSettings, WarpGenerator
from streamfx.generator.appearance import DriverAppearance, extract_appearance
from streamfx.generator.layers.mouth_shape import INNER_LO, INNER_UP, mouth_frame
from streamfx.generator.ops import NumpyOps
from streamfx.imageio import load_image
from streamfx.motion import FaceRig, MotionScript
from streamfx.retarget import MotionRetargeter, RetargetSettings
from streamfx.tracking import FaceTracker, find_portrait_faces, largest_face, track_portrait
from tests.conftest import media


def _render(image: np.ndarray, lm: np.ndarray, target: np.ndarray, look: DriverAppearance | None = None,
            **settings: bool) -> np.ndarray:
    g = WarpGenerator(GeneratorSettings(**settings))
    g.prepare(image, lm)
    return g.render(target, look)


def _polygon(shape: tuple[int, ...], pts: np.ndarray, grow: int = 0) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [pts.round().astype(np.int32)], 1)
    if grow > 0:
        m = cv2.dilate(m, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    elif grow < 0:
        m = cv2.erode(m, np.ones((-2 * grow + 1, -2 * grow + 1), np.uint8))
    return m > 0


def _teeth_like(rgb: np.ndarray) -> np.ndarray:
    """Bright, unsaturated pixels (the issue's teeth measure; strict enough that the astronaut's
    pale lips are not teeth)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV).astype(np.float32)
    return (hsv[..., 2] > 180) & (hsv[..., 1] < 0.18 * 255)


def _open_jaw(lm: np.ndarray, share: float = 0.5) -> np.ndarray:
    """The jaw dropped by ``share`` × the mouth's width (lower lips and chin)."""
    t = lm.copy()
    drop = share * np.linalg.norm(t[L.MOUTH_CORNERS[0], :2] - t[L.MOUTH_CORNERS[1], :2])
    t[L.OUTER_LOWER[1:-1] + L.INNER_LOWER[1:-1] + L.CHIN, 1] += drop
    return t


def _driver_frames(clip: Path, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first ``count`` frames of a clip and their landmarks (real mediapipe, video mode)."""
    images, marks = [], []
    with av.open(str(clip)) as c, FaceTracker(static=False) as tracker:
        for frame in c.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            lm = tracker.track(rgb)
            assert lm is not None
            images.append(rgb)
            marks.append(lm)
            if len(images) >= count:
                break
    return images, marks


@pytest.fixture(scope="module")
def lp_d10() -> tuple[list[np.ndarray], list[np.ndarray]]:
    return _driver_frames(media("driving", "lp_d10.mp4"), 110)


def _widest(marks: list[np.ndarray]) -> int:
    return int(np.argmax([L.mouth_openness(m) for m in marks]))


# ---- 1. teeth that stay teeth -------------------------------------------------------------------
def test_the_sources_teeth_ride_with_the_skull_inside_the_new_opening(portrait: np.ndarray,
                                                                      portrait_landmarks: np.ndarray) -> None:
    """The astronaut smiles with her teeth showing. The jaw drops, the upper lip lifts and the head
    moves (6, 4) px: her upper teeth are there, moved with the head, pixel for pixel (neither
    erased into a dark hole nor stretched into the opening, as the warp alone stretches them)."""
    lm = portrait_landmarks
    shift = np.array([6.0, 4.0], np.float32)
    target = _open_jaw(lm)
    target[L.LIPS_OUTER[1:10] + L.INNER_UPPER[1:-1], 1] -= 3.0  # the upper lip lifts off the teeth
    target[:, :2] += shift
    out = _render(portrait, lm, target)
    warped = _render(portrait, lm, target, mouth_synthesis=False)
    # the source's upper teeth (above the middle of its opening), and where they land: inside
    # the target's opening, clear of its lips
    teeth = _teeth_like(portrait) & _polygon(portrait.shape, lm[L.LIPS_INNER, :2], grow=-1)
    ys, xs = np.nonzero(teeth)
    upper = ys < (lm[L.UPPER_LIP_MID, 1] + lm[L.LOWER_LIP_MID, 1]) / 2 - 1
    ys, xs = ys[upper], xs[upper]
    dx, dy = shift.astype(int)
    shown = _polygon(portrait.shape, target[L.LIPS_INNER, :2], grow=-3)[ys + dy, xs + dx]
    assert shown.sum() >= 20, "the opening should show some of the source's teeth"
    ys, xs = ys[shown], xs[shown]
    src = portrait[ys, xs].astype(int)

    def kept(frame: np.ndarray) -> float:  # share of the teeth's pixels found, moved, within 12 levels
        return float((np.abs(frame[ys + dy, xs + dx].astype(int) - src).max(axis=1) <= 12).mean())

    assert kept(out) > 0.75
    assert kept(warped) < 0.3  # the warp stretches them away


def test_the_lips_cover_the_teeth_as_the_mouth_closes(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """The target closes the lips the source parts: no tooth is left between them (the warp alone
    squashes the teeth into a bright line)."""
    lm = portrait_landmarks
    target = lm.copy()
    seam = (lm[L.INNER_UPPER, :2] + lm[L.INNER_LOWER, :2]) / 2
    target[L.INNER_UPPER, :2] = seam
    target[L.INNER_LOWER, :2] = seam
    opening = _polygon(portrait.shape, lm[L.LIPS_INNER, :2])

    def ivory(rgb: np.ndarray) -> np.ndarray:  # her teeth; not the lower lip's pink highlight
        return _teeth_like(rgb) & (rgb[..., 1].astype(int) - rgb[..., 2] > 6)

    assert ivory(portrait)[opening].mean() > 0.2  # the source shows teeth there
    out = _render(portrait, lm, target)
    warped = _render(portrait, lm, target, mouth_synthesis=False)
    assert ivory(out)[opening].mean() < 0.02
    assert ivory(warped)[opening].mean() > 0.05


# ---- 4. lips where the target puts them -------------------------------------------------------------
def test_a_wide_open_mouth_has_its_lips_where_the_target_puts_them(lp_d10: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    """lp_s1 driven to lp_d10's widest "O": an independent look at the output (mediapipe, static)
    finds the inner lips where the target has them — the warp alone leaves them near the closed
    seam (the inner lips are no control points) — and the skin above the lips is skin: inverting
    the warp's stretch by a plain fixed point left a ghost of the upper lip there."""
    image = load_image(media("source", "lp_s1.jpg"), max_side=512)
    lm = track_portrait(image, "lp_s1")
    images, marks = lp_d10
    rt = MotionRetargeter(lm, RetargetSettings(smoothing=0.0))
    rt.set_reference(marks[0])
    target = rt.retarget(marks[_widest(marks)])
    io = L.interocular(target)
    out = _render(image, lm, target)
    with FaceTracker(static=True) as judge:
        seen = judge.track(out)
        plain = judge.track(_render(image, lm, target, mouth_synthesis=False))
    assert seen is not None and plain is not None
    err = [np.linalg.norm(found[[L.UPPER_LIP_MID, L.LOWER_LIP_MID], :2] - target[[L.UPPER_LIP_MID, L.LOWER_LIP_MID], :2],
                          axis=1).max() / io for found in (seen, plain)]
    assert err[0] < 0.08, err
    assert err[1] > 2 * err[0], err
    # the skin just above the upper lip is skin: no ghost of the lip there
    width = float(np.linalg.norm(target[L.MOUTH_CORNERS[0], :2] - target[L.MOUTH_CORNERS[1], :2]))
    lips = target[L.LIPS_OUTER, :2]
    band = _polygon(image.shape, lips - [0.0, 0.12 * width]) & ~_polygon(image.shape, lips, grow=1)
    band &= np.arange(image.shape[0])[:, None] < lips[:, 1].min() + 0.1 * width
    nose = lm[L.NOSE_TIP, :2].astype(int)
    cheek = image[nose[1] + 3:nose[1] + 6, nose[0] - 20:nose[0] - 10].reshape(-1, 3).astype(float)
    px = out[band].astype(float)
    assert len(px) > 50
    redness = (px[:, 0] - px[:, 1:].mean(axis=1)).mean()
    assert redness < (cheek[:, 0] - cheek[:, 1:].mean(axis=1)).mean() + 12, redness


def test_the_warp_inverts_a_field_that_stretches_the_lips_apart() -> None:
    """A field stretching 2.5-fold across a band (an opening mouth): the inverse is exact.
    The fixed point offset ← −d(p + offset) diverges where the stretch passes twofold."""
    from types import SimpleNamespace

    from streamfx.generator.layers.warp import WarpLayer, invert

    gx, gy = np.meshgrid(np.arange(40) * 3.0, np.arange(30) * 3.0)
    grid = np.stack([gx, gy], -1).astype(np.float32)
    src = SimpleNamespace(grid=grid, grid_shape=grid.shape[:2], max_shift=200.0, consts={})
    k = WarpLayer().prepare(src)  # type: ignore[arg-type]
    # y moves by 1.5·(y − 40.5) between y = 30 and 51 (grid rows: bilinear sampling is exact),
    # and rigidly beyond: a band opened 2.5-fold
    y = grid[..., 1]
    dy = 1.5 * (np.clip(y, 30, 51) - 40.5)
    forward = np.stack([np.zeros_like(dy), dy], -1).reshape(1, -1, 2).astype(np.float32)
    back = invert(NumpyOps(src), k, forward)[0]  # type: ignore[arg-type]
    # p is reached from q = p + back, where q + d(q) = p
    q = y + back[..., 1]
    np.testing.assert_allclose(q + 1.5 * (np.clip(q, 30, 51) - 40.5), y, atol=0.05)


# ---- 2. the driver's mouth interior -----------------------------------------------------------------
def _mouth_box(lm: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice]:
    pts = lm[L.LIPS_OUTER, :2]
    pad = 0.25 * np.linalg.norm(lm[L.MOUTH_CORNERS[0], :2] - lm[L.MOUTH_CORNERS[1], :2])
    x0, y0 = np.maximum(pts.min(axis=0) - pad, 0).astype(int)
    x1, y1 = np.minimum(pts.max(axis=0) + pad, [shape[1], shape[0]]).astype(int)
    return slice(y0, y1), slice(x0, x1)


def test_self_reenactment_shows_the_drivers_own_mouth(lp_d10: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    """Frame 0 of lp_d10 (mouth closed) is the portrait, a wide-open frame the driver: with the
    driver's interior the mouth box looks like the real frame (SSIM), clearly more than with a
    drawn one."""
    from streamfx.evaluation import ssim

    images, marks = lp_d10
    i = _widest(marks)
    image, lm = images[0], marks[0]
    rt = MotionRetargeter(lm, RetargetSettings(smoothing=0.0))
    rt.set_reference(lm)
    target = rt.retarget(marks[i])
    g = WarpGenerator()
    src = g.prepare(image, lm)
    look = extract_appearance(src.stack.layers, images[i], marks[i])
    assert "driver_mouth" in look.current
    box = _mouth_box(marks[i], image.shape)
    with_driver = ssim(images[i][box], g.render(target, look)[box])
    drawn = ssim(images[i][box], g.render(target)[box])
    assert with_driver > drawn + 0.04, (with_driver, drawn)


def test_the_drivers_mouth_stays_inside_the_target_lips_at_mouth_gain_3(
        portrait: np.ndarray, portrait_landmarks: np.ndarray, lp_d10: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    images, marks = lp_d10
    i = _widest(marks)
    rt = MotionRetargeter(portrait_landmarks, RetargetSettings(smoothing=0.0, mouth_gain=3.0))
    rt.set_reference(marks[0])
    target = rt.retarget(marks[i])
    g = WarpGenerator()
    src = g.prepare(portrait, portrait_landmarks)
    look = extract_appearance(src.stack.layers, images[i], marks[i])
    without = g.render(target)
    drawn = g.render(target, look)
    changed = np.abs(drawn.astype(int) - without.astype(int)).max(axis=2) > 0
    assert changed.sum() > 200  # it drew the driver's interior …
    inside = _polygon(portrait.shape, target[L.LIPS_INNER, :2], grow=1)
    assert not (changed & ~inside).any()  # … and nothing outside the target's inner lips


def test_a_closed_driver_mouth_draws_nothing(portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                             lp_d10: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    images, marks = lp_d10
    assert L.mouth_openness(marks[0]) < 0.02  # lp_d10 starts with its mouth closed
    g = WarpGenerator()
    src = g.prepare(portrait, portrait_landmarks)
    target = _open_jaw(portrait_landmarks)
    closed = extract_appearance(src.stack.layers, images[0], marks[0])
    assert np.array_equal(g.render(target, closed), g.render(target))
    i = _widest(marks)  # the same driver, open: it does draw
    assert not np.array_equal(g.render(target, extract_appearance(src.stack.layers, images[i], marks[i])),
                              g.render(target))


def test_the_drivers_mouth_takes_the_portraits_colours(lp_d10: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    """A colour driver's pink mouth in a black-and-white photo is grey."""
    image = load_image(media("source", "lp_s2.jpg"), max_side=512)
    lm = track_portrait(image, "lp_s2")
    images, marks = lp_d10
    i = _widest(marks)
    rt = MotionRetargeter(lm, RetargetSettings(smoothing=0.0))
    rt.set_reference(marks[0])
    target = rt.retarget(marks[i])
    g = WarpGenerator()
    src = g.prepare(image, lm)
    out = g.render(target, extract_appearance(src.stack.layers, images[i], marks[i]))
    inside = _polygon(image.shape, target[L.LIPS_INNER, :2], grow=-2)
    px = out[inside].astype(float)
    assert len(px) > 100
    assert np.abs(px - g.render(target)[inside]).mean() > 8  # the driver's interior, not the drawn one
    driver_inside = _polygon(images[i].shape, marks[i][L.LIPS_INNER, :2], grow=-2)
    driver_px = images[i][driver_inside].astype(float)
    assert (driver_px.max(axis=1) - driver_px.min(axis=1)).mean() > 40
    # the portrait is exactly grey, and so is every frame of it: the driver's teeth and its
    # darker patches between them, and the drawn teeth (their off-white's cream, and the
    # driver's yellowish teeth, showed as a 12-level tint and brown smudges)
    assert np.ptp(image.astype(int), axis=2).max() == 0
    for frame in (out, g.render(target)):
        assert np.ptp(frame.astype(int), axis=2).max() <= 2


def test_the_drivers_white_teeth_do_not_take_a_ruddy_portraits_skin_tint() -> None:
    """A pale driver's white teeth in a ruddy portrait: the skin's ratio per channel (0.96,
    0.7, 0.6) made them pink. The teeth take the portrait's teeth colour; the rest of the
    interior (tongue, shadow) still takes the skin's tone."""
    from streamfx.generator.layers.driver_mouth import DriverMouth, MouthLook, matched_patch

    patch = np.zeros((32, 64, 4), np.uint8)
    patch[..., :3] = (90, 40, 40)  # a dark red interior
    patch[8:16, 8:56, :3] = (240, 240, 236)  # a row of white teeth
    patch[8:16, 8:56, 3] = 255
    pale = MouthLook(np.array([200, 120, 120], np.float32), np.array([235, 215, 210], np.float32), 0.2, 0.02)
    ruddy = MouthLook(np.array([190, 70, 60], np.float32), np.array([225, 150, 125], np.float32), 0.35, 0.02)
    teeth_rgb = np.array([225, 218, 205], np.float32)
    out = matched_patch(DriverMouth(patch, pale, 1.0), ruddy, teeth_rgb).astype(float)
    teeth = out[10:14, 12:52, :3].reshape(-1, 3).mean(axis=0)
    assert np.abs(teeth - teeth_rgb).max() < 12, teeth
    interior = out[24:30, 12:52, :3].reshape(-1, 3).mean(axis=0)
    assert interior[2] < interior[0] * 0.5  # the interior stays a warm dark red


def test_a_pale_portraits_mouth_from_a_tanned_driver_stays_red_and_a_paintings_takes_its_palette() -> None:
    """The colour cast comes from the lips (half of it), not the skin. Measured looks
    (mouth_look): lp_d10's tanned skin (214, 153, 128) over lp_s42's pale one (196, 174, 167)
    pushed the driver's pink tongue to lilac (blue × 1.3, red × 0.92) and the pale skin's low
    saturation greyed it; their lips are alike (199, 109, 103) / (179, 96, 95), and so is the
    inside of a mouth. A golden painting's lips (lp_s9: 155, 116, 65) still bring some of its
    palette to the tongue; a red-lipped photo's (lp_s3: 199, 95, 78) do not make it coral."""
    from streamfx.generator.layers.driver_mouth import DriverMouth, MouthLook, matched_patch

    patch = np.zeros((32, 64, 4), np.uint8)
    patch[..., :3] = (90, 40, 45)  # the throat's shadow
    patch[16:28, 8:56, :3] = (200, 110, 122)  # a pink tongue
    tanned = MouthLook(np.array([199, 109, 103], np.float32), np.array([214, 153, 128], np.float32), 0.49, 0.007)
    pale = MouthLook(np.array([179, 96, 95], np.float32), np.array([196, 174, 167], np.float32), 0.49, 0.008)
    golden = MouthLook(np.array([155, 116, 65], np.float32), np.array([166, 132, 75], np.float32), 0.58, 0.018)
    red_lips = MouthLook(np.array([199, 95, 78], np.float32), np.array([215, 175, 148], np.float32), 0.63, 0.011)

    def tongue(look: MouthLook) -> np.ndarray:
        return matched_patch(DriverMouth(patch, tanned, 1.0), look)[18:26, 12:52, :3].reshape(-1, 3).mean(axis=0)

    def blue_over_red(rgb: np.ndarray) -> float:
        return float(rgb[2] / rgb[0])

    driver = patch[20, 30, :3].astype(float)
    on_pale = tongue(pale)
    assert blue_over_red(on_pale) < 1.1 * blue_over_red(driver), on_pale  # not lilac
    assert on_pale.max() - on_pale.min() > 0.8 * (driver.max() - driver.min()), on_pale  # not greyed
    assert blue_over_red(tongue(golden)) < 0.95 * blue_over_red(driver)  # the painting's warm cast
    assert blue_over_red(tongue(red_lips)) > 0.8 * blue_over_red(driver)  # a pink tongue, not coral


# ---- 3. a drawn interior without a driver image ----------------------------------------------------
def test_a_moustache_hangs_over_an_opening_mouth(lp_d10: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    # lp_s12 as the mesh sees it (not seated on its lips, streamfx.mouth_fit: a moustache that
    # hides the lips' seam keeps the mesh's mouth): the upper lip lies in the moustache and
    # its inner lip at the hair's lower edge. As the mouth opened, the upper inner lip rose into the hair and the driver's
    # interior was drawn there: a smooth hole punched in the moustache. The hair hangs over the
    # opening now (mouth_shape.moustache_sprite), and the opening shows below it.
    images, marks = lp_d10
    i = _widest(marks)
    image = load_image(media("source", "lp_s12.jpg"))
    image = cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)  # its mouth is 39 px wide
    faces = find_portrait_faces(image, seat=False)
    lm = faces[largest_face(faces)]
    width = float(np.linalg.norm(lm[L.MOUTH_CORNERS[0], :2] - lm[L.MOUTH_CORNERS[1], :2]))
    target = _open_jaw(lm, 0.6)
    target[L.INNER_UPPER[1:-1], 1] -= 0.3 * width  # the upper lip's half of the opening, as the retargeter splits it
    g = WarpGenerator()
    src = g.prepare(image, lm)
    out = g.render(target, extract_appearance(src.stack.layers, images[i], marks[i]))  # the driver's wide-open interior
    # where the upper inner lip rose above the source's: the upper half of that was the
    # moustache's hair, and is again, hanging over the opening (clear of the lips' soft edge)
    xs = np.linspace(lm[L.MOUTH_CORNERS[0], 0], lm[L.MOUTH_CORNERS[1], 0], 11)[3:8]
    def inner_upper(marks: np.ndarray) -> np.ndarray:
        order = np.argsort(marks[L.INNER_UPPER, 0])
        return np.interp(xs, marks[L.INNER_UPPER, 0][order], marks[L.INNER_UPPER, 1][order])

    rest, risen = inner_upper(lm), inner_upper(target)
    pts = [(x, y) for x, top, low in zip(xs, risen, rest, strict=True)
           for y in np.arange(top + 0.25 * (low - top), top + 0.45 * (low - top))]
    xi, yi = np.round(np.array(pts)).astype(int).T
    there = out[yi, xi, :3].astype(np.float32).mean(axis=0)
    hair = image[yi, xi, :3].astype(np.float32).mean(axis=0)
    lips = image[_polygon(image.shape, lm[L.OUTER_LOWER + L.INNER_LOWER[::-1], :2])][:, :3].astype(np.float32).mean(axis=0)
    assert np.linalg.norm(lips - hair) > 60, "the test's premise: dark hair over the upper lip"
    assert np.linalg.norm(there - hair) < 0.4 * np.linalg.norm(lips - hair), (
        f"over the opening's top, {there.round()}: the moustache ({hair.round()}) was cut away (lips {lips.round()})")
    # and the mouth did open below it: the new opening is no longer the lower lip's colour
    luma = image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    luma_out = out[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    opening = _polygon(image.shape, np.concatenate([lm[L.INNER_LOWER, :2], target[L.INNER_LOWER[::-1], :2]]), grow=-1)
    assert np.abs(luma_out[opening] - luma[opening]).mean() > 15


def _centre_column(out: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The output's pixels down the middle of the target's opening, upper lip to lower."""
    ops = NumpyOps(None)  # type: ignore[arg-type]
    m = mouth_frame(ops, ops.landmarks(target))
    table = np.asarray(m.table).reshape(-1, 4)
    mid = table.shape[0] // 2
    top, bottom = table[mid, INNER_UP], table[mid, INNER_LO]
    ax = np.array([float(m.ax_x), float(m.ax_y)])
    o = np.array([float(m.ox), float(m.oy)]) + 0.5 * float(m.width) * ax
    vs = np.arange(np.ceil(top) + 1, np.floor(bottom) - 1)
    pts = (o[None] + vs[:, None] * np.array([-ax[1], ax[0]])).round().astype(int)
    return out[pts[:, 1], pts[:, 0]].astype(float)


def test_a_motion_script_mouth_has_teeth_a_tongue_and_a_throat_not_a_flat_fill() -> None:
    """A 3-D cartoon boy who shows no teeth, talking from a motion script (no driver image):
    between the lips, from top to bottom, a light row of teeth, a dark throat, a tongue lighter
    than the throat; the teeth keep their size as the mouth opens further."""
    image = load_image(media("source", "lp_s7.jpg"), max_side=512)
    lm = track_portrait(image, "lp_s7")
    rig = FaceRig(lm)
    params = MotionScript.builtin("idle").params(0.0)
    rows = []
    for opened in (0.6, 1.0):
        params.update(mouth_open=opened, blink_left=0.0, blink_right=0.0)
        target = rig.pose(params)
        column = _centre_column(_render(image, lm, target), target).mean(axis=1)
        n = len(column)
        assert n >= 12
        teeth, throat, tongue = column[: n // 6].mean(), column[2 * n // 5: 3 * n // 5].min(), column[-n // 6:].mean()
        assert teeth > throat + 60 and tongue > throat + 20, (teeth, throat, tongue)
        rows.append(int((column > (teeth + throat) / 2)[: n // 2].sum()))  # the upper row's height, pixels
    assert abs(rows[1] - rows[0]) <= max(2, 0.3 * rows[0]), rows  # not stretched with the opening


# ---- 4. five keypoints --------------------------------------------------------------------------
def test_a_five_keypoint_face_opens_its_mouth_between_its_lips_not_below(tmp_path: Path) -> None:
    """docs/landmarks.md: five clicks. The template's lips are parted; fitted to a painting with a
    closed mouth, its inner lower lip lay below the painting's lower lip, and an opening mouth
    drew a dark wedge over the lower lip and chin. The fitted mouth is closed now: the opening
    starts at the lips' seam and the painting's own lower lip shows below it."""
    image = load_image(media("source", "lp_s3.jpg"), max_side=512)
    real = track_portrait(image, "lp_s3")
    kp = {name: real[ids, :2].mean(axis=0).tolist() for name, ids in L._KEYPOINT_IDS.items()}
    path = tmp_path / "face.json"
    path.write_text(json.dumps({"keypoints": kp}))
    lm = L.load_landmarks(path)
    io = L.interocular(real)
    assert L.mouth_openness(lm) < 0.01
    # the seam lies between the real lips' outer edges
    assert real[L.LIPS_OUTER[5], 1] < lm[L.LOWER_LIP_MID, 1] < real[L.OUTER_LOWER[5], 1]
    params = MotionScript.builtin("idle").params(0.0)
    params.update(mouth_open=1.0, blink_left=0.0, blink_right=0.0)
    out = _render(image, lm, FaceRig(lm).pose(params))
    # down the middle: the dark opening, then the painting's red lower lip, then skin
    x = int(real[L.LOWER_LIP_MID, 0])
    column = out[:, x - 1:x + 2].astype(float).mean(axis=1)
    skin = image[int(real[L.CHIN_TIP, 1] - 0.3 * io):int(real[L.CHIN_TIP, 1] - 0.1 * io), x - 1:x + 2]
    skin = skin.astype(float).mean(axis=(0, 1))
    top = int(real[L.UPPER_LIP_MID, 1] - 0.2 * io)
    dark = np.nonzero(column[top:int(real[L.CHIN_TIP, 1]), :].mean(axis=1) < 0.45 * skin.mean())[0] + top
    assert len(dark) > 0
    bottom = int(dark.max())
    assert (bottom - real[L.OUTER_LOWER[5], 1]) / io < 0.25  # not down on the chin
    below = column[bottom + 2:bottom + 2 + int(0.3 * io)]
    redness = below[:, 0] - below[:, 1:].mean(axis=1)
    assert redness.max() > skin[0] - skin[1:].mean() + 20  # the lower lip, not chin skin


def test_the_driver_mouth_has_a_flag_and_switches_live() -> None:
    import argparse

    from streamfx.generator.layers import DriverMouthLayer
    from streamfx.options import add_motion_options, animator_settings
    from streamfx.settings import AnimatorSettings

    p = argparse.ArgumentParser()
    add_motion_options(p)
    settings = animator_settings(p.parse_args(["--no-driver-mouth"]))
    assert settings.generator.driver_mouth is False and settings.generator.mouth_synthesis is True
    assert not DriverMouthLayer().enabled(settings.generator)
    assert AnimatorSettings.live_types()["driver_mouth"] is bool
    assert settings.with_live(driver_mouth=True).generator.driver_mouth is True


@pytest.mark.parametrize("opening", [3.0, 6.0, 10.0, 40.0])
def test_a_narrow_opening_is_covered_across_its_middle(opening: float) -> None:
    # a speaking mouth's opening is often narrower than two soft edges of the mouth's own
    # width: the driver's interior must still cover it whole across the middle (before, a 6-px opening
    # of a 110-px mouth was covered at most 46 %, and the lips or the drawn teeth under it
    # showed through: a dark opening read grey, or closed), and nothing on or past the lips
    from streamfx.generator.layers.mouth import interior_cover
    from streamfx.generator.layers.mouth_shape import MouthPixels

    ops = NumpyOps.__new__(NumpyOps)  # only its elementwise maths: no source needed
    ops._f = {}
    v = np.linspace(-5.0, opening + 5.0, 4001, dtype=np.float32).reshape(1, 1, -1)
    zero = np.zeros_like(v)
    px = MouthPixels(u=zero, v=v, target=[zero, zero, np.full_like(v, opening), zero], source=[])
    cover = interior_cover(ops, px, np.float32(0.04 * 110), narrows=True).ravel()  # MOUTH_FEATHER × a 110-px mouth
    v = v.ravel()
    inside = (v > 0) & (v < opening)
    assert cover[~inside].max() == 0.0
    assert cover.max() >= 0.999
    # whole over at least half the opening once it is 4 soft-edge minimums (6 px) wide
    assert (cover[inside] >= 0.999).mean() >= (0.49 if opening >= 6.0 else 0.0)
