"""A textured background is continued behind the head with its own texture, a plain one keeps
the smooth fill (streamfx.generator.quilting, streamfx.generator.head.textured).

Where the head moved off foliage or water, the smooth fill showed as a flat grey-green slab
with hard edges (lp_s42 × driver_face_leaves_frame, frame 60). Here, painted scenes where the
background's texture is known, and the real portrait."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import streamfx.generator.head as head
from streamfx import landmarks as L
from streamfx.generator.head import coverage, head_layer
from streamfx.generator.quilting import quilt, texture
from tests.conftest import media

IO = 80.0
SIZE = 512


def _foliage(rng: np.random.Generator) -> np.ndarray:
    """A green, leafy texture (band-limited noise at 2–6 px: the scales the quilting copies)."""
    n = cv2.GaussianBlur(rng.normal(0.0, 1.0, (SIZE, SIZE)).astype(np.float32), (0, 0), 2.5)
    leaf = 110 + 45 * n / n.std()
    return np.dstack([0.55 * leaf, leaf, 0.35 * leaf])  # never red: a red pixel is the logo's


def _scene(background: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark head of hair (a disc) over a template face, before ``background`` (H×W×3):
    (RGB image, landmarks, person matte)."""
    rng = np.random.default_rng(seed)
    lm = L.template_landmarks().copy()
    lm[:, :2] = lm[:, :2] * IO + (SIZE / 2, SIZE / 2)
    lm[:, 2] *= IO
    person = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(person, (SIZE // 2, SIZE // 2), int(1.9 * IO), 255, -1)
    image = background.astype(np.float32).copy()
    image[person > 0] = 45 + rng.normal(0.0, 6.0, (int((person > 0).sum()), 1))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), lm.astype(np.float32), person


def _regions(image: np.ndarray, lm: np.ndarray, person: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the fill well inside the moving head, the background well away from it)."""
    inner = cv2.erode(moving.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
    apart = cv2.dilate((coverage(lm, image.shape[:2], person) > 0).astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert inner.sum() > 5000 and apart.sum() > 5000
    return inner, apart


def test_a_textured_background_is_continued_behind_the_head() -> None:
    """The fill has the background's texture (the smooth fill had a tenth of it), its colours,
    and it is the same every time."""
    image, lm, person = _scene(_foliage(np.random.default_rng(1)))
    layer = head_layer(image, lm, person)
    inner, apart = _regions(image, lm, person, layer.moving)
    filled, seen = float(texture(layer.plate, IO)[inner].mean()), float(texture(image, IO)[apart].mean())
    assert filled >= 0.6 * seen, f"fill's texture {filled:.1f}, the background's {seen:.1f}"
    for c in range(3):
        f, b = layer.plate[..., c][inner].astype(float), image[..., c][apart].astype(float)
        assert abs(f.mean() - b.mean()) < 8 and 0.7 < f.std() / b.std() < 1.2, f"channel {c}"
    assert np.array_equal(head_layer(image, lm, person).plate, layer.plate)


def test_a_logo_beside_the_head_is_not_copied_behind_it() -> None:
    """Text, a logo, a frame's edge: the most detailed blocks are never sources — copied, they
    read as a duplicate, not as background."""
    background = _foliage(np.random.default_rng(2))
    c = SIZE // 2
    x0, y0 = c + int(2.05 * IO), c - int(0.6 * IO)  # just beyond the hair's fringe, right of the head
    side = int(0.35 * IO)
    background[y0:y0 + side, x0:x0 + side] = (235, 20, 30)
    image, lm, person = _scene(background)
    layer = head_layer(image, lm, person)
    red = (layer.plate[..., 0] > 180) & (layer.plate[..., 1] < 90)
    inner, _ = _regions(image, lm, person, layer.moving)
    assert red[inner].sum() == 0, f"{int(red[inner].sum())} pixels of the logo copied behind the head"
    assert red.sum() >= side * side * 0.9  # the logo itself is where it was


def test_a_plain_background_keeps_the_smooth_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grainy wall with a soft gradient: quilted, its patches' slightly different brightness
    showed as blotches; the smooth fill, which continues the gradient, is kept (quilting is not
    even run)."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(150, 220, SIZE)[None, :, None] + rng.normal(0.0, 3.0, (SIZE, SIZE, 1))
    image, lm, person = _scene(np.repeat(ramp, 3, axis=2))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a plain background was quilted")

    monkeypatch.setattr(head, "quilt", refuse)
    layer = head_layer(image, lm, person)
    inner, _ = _regions(image, lm, person, layer.moving)
    assert float(texture(layer.plate, IO)[inner].mean()) < 2.0


def test_with_no_background_to_copy_there_is_nothing_quilted() -> None:
    image = np.full((64, 64, 3), 120, np.uint8)
    hole = np.ones((64, 64), bool)
    assert quilt(image, hole, hole, 20.0) is None


def test_lp_s42s_waterfall_and_foliage_continue_behind_her_head() -> None:
    """lp_s42 before a waterfall and a mossy slope: near her head's outline — what a move
    uncovers first — the fill is as textured as the background beside it."""
    from streamfx.imageio import load_image
    from streamfx.matte import source_matte
    from streamfx.tracking import track_portrait

    path = media("source", "lp_s42.jpg")
    image = np.ascontiguousarray(load_image(path, max_side=1024)[..., :3])
    lm = track_portrait(image, str(path))
    person = source_matte(image)
    io = L.interocular(lm)
    layer = head_layer(image, lm, person)
    base = coverage(lm, image.shape[:2], person) > 0
    inside = cv2.distanceTransform(base.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~base).astype(np.uint8), cv2.DIST_L2, 3)
    band = layer.moving & (inside > 0.1 * io) & (inside < 0.5 * io)
    ring = ~base & (outside > 0.15 * io) & (outside < 0.5 * io)
    assert band.sum() > 2000 and ring.sum() > 2000
    filled, beside = float(texture(layer.plate, io)[band].mean()), float(texture(image, io)[ring].mean())
    assert filled >= 0.6 * beside, f"fill's texture {filled:.1f}, beside the head {beside:.1f}"
