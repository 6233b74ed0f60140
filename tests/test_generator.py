"""WarpGenerator: the animation model's geometric guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.generator import GeneratorSettings, WarpGenerator, falloff_mask


@pytest.fixture()
def gen(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> WarpGenerator:
    g = WarpGenerator()
    g.prepare(portrait, portrait_landmarks)
    return g


def test_zero_motion_returns_the_source_exactly(gen: WarpGenerator, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    out = gen.render(portrait_landmarks)
    assert out.shape == portrait.shape and out.dtype == np.uint8
    assert np.array_equal(out, portrait)


def test_known_displacement_moves_pixels_there(gen: WarpGenerator, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    shift = np.array([6.0, 4.0], np.float32)
    target = portrait_landmarks.copy()
    target[:, :2] += shift
    out = gen.render(target)
    # a patch around the nose tip now sits `shift` pixels further on
    x, y = portrait_landmarks[L.NOSE_TIP, :2].astype(int)
    before = portrait[y - 8:y + 8, x - 8:x + 8].astype(float)
    dx, dy = shift.astype(int)
    after = out[y - 8 + dy:y + 8 + dy, x - 8 + dx:x + 8 + dx].astype(float)
    unmoved = out[y - 8:y + 8, x - 8:x + 8].astype(float)
    assert np.abs(after - before).mean() < 3.0
    assert np.abs(unmoved - before).mean() > 2 * np.abs(after - before).mean()


def test_background_far_from_the_face_stays_put(gen: WarpGenerator, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    target = portrait_landmarks.copy()
    target[:, 0] += 15  # a big head move
    target[L.LOWER_LIP_MID, 1] += 10
    out = gen.render(target)
    x0, y0, x1, y1 = gen.src.roi  # type: ignore[union-attr]
    keep = np.ones(portrait.shape[:2], bool)
    keep[y0:y1, x0:x1] = False
    assert np.array_equal(out[keep], portrait[keep])
    # the body (suit, bottom rows) is outside the region that moves
    assert np.array_equal(out[-60:], portrait[-60:])


def test_falloff_is_one_on_the_face_and_zero_far_away(portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    on_face = falloff_mask(lm, lm[L.FACE_OVAL, :2] * 0.9 + lm[L.FACE_OVAL, :2].mean(axis=0) * 0.1)
    assert on_face.min() > 0.99
    far = falloff_mask(lm, np.array([[5.0, 500.0], [505.0, 500.0], [500.0, 5.0]], np.float32))
    assert far.max() == 0.0


def test_mouth_opens_with_a_dark_cavity(gen: WarpGenerator, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    target = portrait_landmarks.copy()
    drop = 0.5 * np.linalg.norm(target[61, :2] - target[291, :2])
    target[L.OUTER_LOWER[1:-1] + L.INNER_LOWER[1:-1] + L.CHIN, 1] += drop
    out = gen.render(target)
    mid = ((target[13, :2] + target[14, :2]) / 2).astype(int)
    x, y = mid
    cavity = out[y - 2:y + 3, x - 3:x + 4].astype(float).mean()
    assert cavity < 0.6 * portrait[y - 2:y + 3, x - 3:x + 4].astype(float).mean()
    gen.settings.mouth_synthesis = False
    stretched = gen.render(target)[y - 2:y + 3, x - 3:x + 4].astype(float).mean()
    assert cavity < stretched


def test_eyes_can_close_fully(gen: WarpGenerator, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    from streamfx.motion import FaceRig, MotionScript

    rig = FaceRig(portrait_landmarks)
    p = MotionScript.builtin("idle").params(0.0)
    p.update(blink_left=1.0, blink_right=1.0, gaze_x=0.0, yaw=0, pitch=0, roll=0, ty=0)
    closed = rig.pose(p)
    assert L.eye_openness(closed) < 0.35 * L.eye_openness(portrait_landmarks)
    out = gen.render(closed)
    # the dark iris/pupil disappears under the lid: the eye region gets brighter
    x, y = portrait_landmarks[468, :2].astype(int)
    assert out[y - 2:y + 3, x - 2:x + 3].mean() > portrait[y - 2:y + 3, x - 2:x + 3].mean() + 15


def test_iris_follows_gaze(gen: WarpGenerator, portrait_landmarks: np.ndarray) -> None:
    from streamfx.tracking import find_portrait_landmarks

    target = portrait_landmarks.copy()
    w = np.linalg.norm(target[33, :2] - target[133, :2])
    target[L.IRISES, 0] += 0.15 * w
    out = gen.render(target)
    seen = find_portrait_landmarks(out)
    assert seen is not None
    moved = (seen[[468, 473], 0] - portrait_landmarks[[468, 473], 0]).mean()
    assert moved > 0.05 * w


def test_full_resolution_2048(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    import cv2

    big = cv2.resize(portrait, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    lm = portrait_landmarks * np.float32(4.0)
    g = WarpGenerator()
    g.prepare(big, lm)
    target = lm.copy()
    target[:, 0] += 20
    out = g.render(target)
    assert out.shape == (2048, 2048, 3)
    assert np.array_equal(out[-200:], big[-200:])


def test_rgba_source_warps_alpha_too(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    alpha = np.zeros(portrait.shape[:2], np.uint8)
    alpha[:, 200:] = 255
    g = WarpGenerator()
    g.prepare(portrait, portrait_landmarks, alpha)
    out = g.render(portrait_landmarks)
    assert out.shape[2] == 4 and np.array_equal(out[..., 3], alpha)


def test_the_warp_inverts_a_linear_motion_field() -> None:
    from types import SimpleNamespace

    from streamfx.generator.layers.warp import WarpLayer, invert
    from streamfx.generator.ops import NumpyOps

    gx, gy = np.meshgrid(np.arange(40) * 3.0 + 1, np.arange(30) * 2.0 + 5)
    grid = np.stack([gx, gy], -1).astype(np.float32)
    src = SimpleNamespace(grid=grid, grid_shape=grid.shape[:2], max_shift=100.0, consts={})
    k = WarpLayer().prepare(src)  # type: ignore[arg-type]
    a, p0 = 0.05, np.array([60.0, 35.0])
    forward = (a * (grid - p0)).reshape(1, -1, 2).astype(np.float32)  # p moves to p + a·(p − p0)
    back = invert(NumpyOps(src), k, forward)[0]  # type: ignore[arg-type]
    want = -a * (grid - p0) / (1 + a)  # p is reached from p + want
    # bilinear sampling is exact on a linear field, and so is one Newton step: away from the
    # clamped border only float32 rounding remains
    np.testing.assert_allclose(back[3:-3, 3:-3], want[3:-3, 3:-3], atol=1e-4)


def test_the_warp_inverts_a_big_head_move() -> None:
    """A head moved most of an inter-ocular distance across a fine grid (a 512 px portrait: 18
    cells): the inversion must still find where each output pixel comes from. With too few or
    too short Newton steps it stopped part way, and the warped eyes sat up to 12 px from where
    the target landmarks (and the eyelids drawn there) were (lp_s42 x lp_d12)."""
    from types import SimpleNamespace

    from streamfx.generator.layers.warp import WarpLayer, invert
    from streamfx.generator.ops import NumpyOps

    cell = 5.0
    gx, gy = np.meshgrid(np.arange(80) * cell, np.arange(60) * cell)
    grid = np.stack([gx, gy], -1).astype(np.float32)
    src = SimpleNamespace(grid=grid, grid_shape=grid.shape[:2], max_shift=140.0, consts={})
    k = WarpLayer().prepare(src)  # type: ignore[arg-type]
    # a face-sized bump moved 90 px right and 20 px down, falling off smoothly (no fold)
    centre, sigma, move = np.array([150.0, 150.0]), 75.0, np.array([90.0, 20.0])
    bump = np.exp(-((grid - centre) ** 2).sum(-1) / (2 * sigma**2))[..., None]
    forward = (bump * move).astype(np.float32)
    back = invert(NumpyOps(src), k, forward.reshape(1, -1, 2))[0]  # type: ignore[arg-type]

    def field_at(p: np.ndarray) -> np.ndarray:  # the forward field, bilinear as the warp reads it
        u = np.clip(p[..., 0] / cell, 0, 78.999)
        v = np.clip(p[..., 1] / cell, 0, 58.999)
        u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
        fu, fv = (u - u0)[..., None], (v - v0)[..., None]
        f = forward
        return ((f[v0, u0] * (1 - fu) + f[v0, u0 + 1] * fu) * (1 - fv)
                + (f[v0 + 1, u0] * (1 - fu) + f[v0 + 1, u0 + 1] * fu) * fv)

    # output grid point p reads the source at p + back: that point must move to p
    residual = np.linalg.norm(back + field_at(grid + back), axis=-1)
    moved = np.linalg.norm(forward, axis=-1) > 1.0
    assert np.percentile(residual[moved], 99) < 0.5, np.percentile(residual[moved], [50, 99, 100])


def test_colour_match_pulls_a_drifted_face_back_to_the_portrait(portrait: np.ndarray,
                                                                portrait_landmarks: np.ndarray) -> None:
    g = WarpGenerator(GeneratorSettings(color_match=True))
    g.prepare(portrait, portrait_landmarks)
    x0, y0, x1, y1 = L.face_box(portrait_landmarks, portrait.shape[1], portrait.shape[0])
    drifted = portrait.astype(np.int16)
    drifted[y0:y1, x0:x1] += np.array([30, -20, 10], np.int16)  # a warm cast over the face
    drifted = np.clip(drifted, 0, 255).astype(np.uint8)
    out = drifted.copy()
    g.apply_filters(out, portrait_landmarks)

    def cast(a: np.ndarray) -> float:  # worst per-channel offset of the face's mean colour
        return float(np.abs(a[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0) - portrait[y0:y1, x0:x1].reshape(-1, 3)
                            .mean(axis=0)).max())

    assert cast(drifted) > 15 and cast(out) < 0.25 * cast(drifted), (cast(drifted), cast(out))
    keep = np.ones(portrait.shape[:2], bool)
    keep[y0:y1, x0:x1] = False
    assert np.array_equal(out[keep], drifted[keep])  # only the face box is corrected


def test_sharpen_adds_detail_inside_the_moving_region_only(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    import cv2

    g = WarpGenerator(GeneratorSettings(sharpen=0.5))
    g.prepare(portrait, portrait_landmarks)
    out = g.render(portrait_landmarks)
    x0, y0, x1, y1 = g.src.roi  # type: ignore[union-attr]

    def detail(a: np.ndarray) -> float:  # mean absolute Laplacian of the region's grey levels
        grey = cv2.cvtColor(np.ascontiguousarray(a[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
        return float(np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F)).mean())

    assert detail(out) > 1.3 * detail(portrait), (detail(out), detail(portrait))
    keep = np.ones(portrait.shape[:2], bool)
    keep[y0:y1, x0:x1] = False
    assert np.array_equal(out[keep], portrait[keep])


def _head_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    oval = lm[L.FACE_OVAL, :2]
    centre = oval.mean(axis=0)
    down = np.array([0.0, 1.0], np.float32)
    up_h = float(-((oval - centre) @ down).min())
    down_h = float(((oval - centre) @ down).max())
    return oval, centre, down, up_h, down_h


def test_with_the_person_matte_the_hair_follows_a_head_move(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    from streamfx.matte import person_matte

    person = person_matte(portrait)
    plain, matted = WarpGenerator(), WarpGenerator()
    plain.prepare(portrait, portrait_landmarks)
    matted.prepare(portrait, portrait_landmarks, person=person)
    target = portrait_landmarks.copy()
    target[:, 1] -= 10  # the whole head 10 px up
    a, b = plain.render(target), matted.render(target)
    assert np.array_equal(matted.render(portrait_landmarks), portrait)  # zero motion is still exact
    # the top of the astronaut's hair, above the head ellipse: it moves only with the matte
    _oval, (cx, cy), _down, up_h, _down_h = _head_frame(portrait_landmarks)
    hair = falloff_mask(portrait_landmarks, np.array([[cx, cy - 1.9 * up_h]], np.float32))[0]
    assert hair < 0.2
    y, x = int(cy - 1.9 * up_h), int(cx)
    patch = (slice(y - 6, y + 6), slice(x - 6, x + 6))
    moved_from = (slice(y + 4, y + 16), slice(x - 6, x + 6))  # 10 px below in the source
    err_matted = np.abs(b[patch].astype(float) - portrait[moved_from].astype(float)).mean()
    err_plain = np.abs(a[patch].astype(float) - portrait[moved_from].astype(float)).mean()
    assert err_matted < 0.6 * err_plain, (err_matted, err_plain)
    assert np.array_equal(b[-60:], portrait[-60:])  # the body stays put


def test_the_reference_engine_keeps_per_frame_scalars_as_scalars(portrait: np.ndarray) -> None:
    """NumPy takes its slow scalar-promotion path for every step between a 1×1×1 array and a
    float32 constant (~1.2 µs against 0.06 µs between two scalars): the NumPy backend turns a
    per-frame scalar born of a slice or a reduction into a float32 scalar, the same value, and
    a choice between two scalars stays one. Graph backends keep their tensors."""
    from types import SimpleNamespace

    from streamfx.generator.ops import NumpyOps

    ops = NumpyOps(SimpleNamespace(image=portrait))  # type: ignore[arg-type]
    x = np.array([[[3.25]]], np.float32)
    s = ops.per_frame(x)
    assert isinstance(s, np.float32) and s == np.float32(3.25)
    assert ops.per_frame(np.ones((1, 4, 1), np.float32)).shape == (1, 4, 1)  # not a scalar: kept
    w = ops.where(ops.gt(s, ops.f(1.0)), s, ops.f(0.0))
    assert isinstance(w, np.float32) and w == s
    assert isinstance(ops.mul(w, ops.f(2.0)), np.float32)
