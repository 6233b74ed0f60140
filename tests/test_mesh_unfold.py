"""Fold-free targets (streamfx.mesh_unfold): landmarks pushed past each other are untangled
before the warp, so a big turn or the nose over the lips compresses instead of tearing."""

from __future__ import annotations

import numpy as np

from streamfx import landmarks as L
from streamfx.mesh_unfold import ControlMesh, _areas, unfold_target

NOSE_TIP = [1, 2, 4, 5, 19, 94]


def _flipped(mesh: ControlMesh, target: np.ndarray) -> int:
    return int((_areas(np.asarray(target[mesh.index, :2], np.float64), mesh.triangles) / mesh.area < 0).sum())


def _nose_over_the_lips(lm: np.ndarray, share: float = 0.45) -> np.ndarray:
    """The nose tip pulled down over the upper lip (a driver looking down, its nose overlapping
    its mouth in the picture), ``share`` × the inter-ocular distance."""
    out = lm.copy()
    out[NOSE_TIP, 1] += share * L.interocular(lm)
    return out


def test_a_target_that_does_not_fold_comes_back_as_it_is(portrait_landmarks: np.ndarray) -> None:
    from tests.test_head_layer import _turned

    lm = portrait_landmarks
    mesh = ControlMesh(lm)
    io = L.interocular(lm)
    smile = lm.copy()
    ax = L.eye_axis(lm)
    right, left = L.MOUTH_CORNERS
    smile[right, :2] -= 0.12 * io * ax
    smile[left, :2] += 0.12 * io * ax
    smile[L.BROWS, 1] -= 0.08 * io
    for target in (lm, smile, _turned(lm, 10.0, 1.2)):
        assert unfold_target(target, mesh) is target


def test_landmarks_pushed_past_each_other_are_untangled(portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    mesh = ControlMesh(lm)
    pushed = _nose_over_the_lips(lm)
    assert _flipped(mesh, pushed) >= 3
    out = unfold_target(pushed, mesh)
    assert _flipped(mesh, out) == 0
    # only around the fold: the eyes and the brows stay where the target put them
    far = list(L.BROWS) + list(L.EYE_CORNERS)
    np.testing.assert_allclose(out[far], pushed[far], atol=1e-4)
    # and the nose still comes down most of the way (compressed, not undone)
    io = L.interocular(lm)
    assert (out[NOSE_TIP, 1] - lm[NOSE_TIP, 1]).mean() > 0.2 * io


def test_the_motion_field_no_longer_folds_where_the_target_crossed(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """The warp's forward field, det(I + J) on its grid: crossed landmarks fold it (the picture
    tears along the fold); untangled, it compresses."""
    from streamfx.generator import GeneratorSettings, prepare_source
    from streamfx.matte import person_matte
    from tests.test_head_layer import _field

    lm = portrait_landmarks
    src = prepare_source(portrait, lm, None, GeneratorSettings(), person_matte(portrait))
    gh, gw = src.grid_shape

    def folded(target: np.ndarray) -> float:
        d = _field(src, target).reshape(gh, gw, 2)
        step = src.grid[0, 1, 0] - src.grid[0, 0, 0], src.grid[1, 0, 1] - src.grid[0, 0, 1]
        dxu, dxv = np.gradient(d[..., 0], axis=1) / step[0], np.gradient(d[..., 0], axis=0) / step[1]
        dyu, dyv = np.gradient(d[..., 1], axis=1) / step[0], np.gradient(d[..., 1], axis=0) / step[1]
        return float(((1 + dxu) * (1 + dyv) - dxv * dyu < 0).sum())

    pushed = _nose_over_the_lips(lm)
    before, after = folded(pushed), folded(unfold_target(pushed, ControlMesh(lm)))
    assert before >= 5 and after <= 0.2 * before, (before, after)
