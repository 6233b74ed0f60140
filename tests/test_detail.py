"""Expression detail (layers/detail.py): the driver's creases as a ratio image on the output.

The driver pairs here are real faces (the demo portrait, a clip of ../shared/media) with
creases drawn on or measured from real frames; the portrait is animated by the real
generator; landmarks are real mediapipe ones.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.generator import GeneratorSettings, Layer, LayerStack, WarpGenerator
from streamfx.generator.appearance import DriverAppearance, extract_appearance
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import DETAIL_GAIN, DETAIL_STRONG
from streamfx.generator.layers import Frame
from streamfx.generator.layers.detail import (
    DetailLayer,
    DriverDetail,
    canonical_face,
    canonical_luminance,
    crease_band,
)
from streamfx.generator.ops import Ops
from streamfx.settings import AnimatorSettings
from tests.conftest import media


def _render(image: np.ndarray, lm: np.ndarray, look: DriverAppearance | None, detail: float = 1.0,
            stack: LayerStack | None = None) -> np.ndarray:
    gen = WarpGenerator(GeneratorSettings(detail=detail), stack=stack)
    gen.prepare(image, lm)
    return gen.render(lm, look).astype(np.float32)  # no motion: only the detail can change it


def _look(current: np.ndarray, reference: np.ndarray, lm: np.ndarray) -> DriverAppearance:
    layers = [DetailLayer()]
    return extract_appearance(layers, current, lm).with_reference(extract_appearance(layers, reference, lm))


def _crease(image: np.ndarray, lm: np.ndarray, darker: float = 0.75,
            width: int = 3) -> tuple[np.ndarray, int, tuple[int, int]]:
    """The image with a crease drawn across the right cheek, below the eye at the nose tip's
    height (``darker`` × the luminance, ``width`` rows): the image, its row and its x span."""
    io = L.interocular(lm)
    eye = lm[L.RIGHT_EYE_CORNERS, :2].mean(axis=0)
    y = int(lm[L.NOSE_TIP, 1])
    x0, x1 = int(eye[0] - 0.25 * io), int(eye[0] + 0.15 * io)
    out = image.copy()
    rows = slice(y - width // 2, y - width // 2 + width)
    out[rows, x0:x1] = (out[rows, x0:x1].astype(np.float32) * darker).astype(np.uint8)
    return out, y, (x0, x1)


def _luma(img: np.ndarray) -> np.ndarray:
    return img[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)


def test_a_crease_on_the_drivers_cheek_darkens_the_portraits_cheek_along_it(
        portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    creased, y, (x0, x1) = _crease(portrait, lm)
    base = _render(portrait, lm, _look(creased, portrait, lm), detail=0.0)
    out = _render(portrait, lm, _look(creased, portrait, lm))
    io = L.interocular(lm)
    change = _luma(out) - _luma(base)
    near = change[y - int(0.06 * io):y + int(0.06 * io) + 1, x0:x1]
    assert near.mean() < -3.0  # the cheek darkens along the line …
    assert (near.min(axis=0) < -2.0).mean() > 0.7  # … all along it, not in a spot
    # … and nothing else changes: not the eyes, the mouth or anything off the line
    changed = np.abs(out - base).max(axis=2) > 0
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.min() > y - 0.5 * io and rows.max() < y + 0.5 * io  # the crease band: σ 0.2 io
    for region in (L.EYES, L.LIPS_OUTER):
        ex0, ey0 = lm[region, :2].min(axis=0).astype(int)
        ex1, ey1 = lm[region, :2].max(axis=0).astype(int)
        assert not changed[ey0:ey1 + 1, ex0:ex1 + 1].any()
    # the colour is kept: a ratio of the luminance, the same factor on every channel
    ys, xs = np.nonzero(changed & (base.min(axis=2) > 40))
    ratio = out[ys, xs] / base[ys, xs]
    assert np.abs(ratio - ratio.mean(axis=1, keepdims=True)).max() < 0.03


def test_a_feature_that_moved_is_not_a_crease(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """A dark, thick band (a brow the landmarks did not follow up, hair at the face's side)
    is geometry, not shading: the output does not copy it as a ghost."""
    lm = portrait_landmarks
    ghost, y, (x0, x1) = _crease(portrait, lm, darker=0.3, width=5)
    crease, _, _ = _crease(portrait, lm)
    base = _render(portrait, lm, _look(ghost, portrait, lm), detail=0.0)
    io = L.interocular(lm)
    rows = slice(y - int(0.06 * io), y + int(0.06 * io) + 1)
    ghosted = _luma(_render(portrait, lm, _look(ghost, portrait, lm))) - _luma(base)
    creased = _luma(_render(portrait, lm, _look(crease, portrait, lm))) - _luma(base)
    assert creased[rows, x0:x1].mean() < -3.0  # a faint crease is carried over …
    assert np.abs(ghosted[rows, x0:x1]).mean() < 0.5  # … a strong band is not


def test_the_crease_follows_the_target_face(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """Creases are mapped through the target landmarks: a face moved down takes them lower."""
    lm = portrait_landmarks
    creased, y, _ = _crease(portrait, lm)
    look = _look(creased, portrait, lm)
    shift = 12.0
    moved = lm.copy()
    moved[:, 1] += shift
    rows = []
    for target in (lm, moved):
        gen = WarpGenerator(GeneratorSettings(detail=1.0))
        gen.prepare(portrait, lm)
        base_gen = WarpGenerator(GeneratorSettings(detail=0.0))
        base_gen.prepare(portrait, lm)
        change = (_luma(gen.render(target, look).astype(np.float32))
                  - _luma(base_gen.render(target, look).astype(np.float32)))
        rows.append(int(np.argmin(change.sum(axis=1))))
    assert rows[0] == pytest.approx(y, abs=2)
    assert rows[1] - rows[0] == pytest.approx(shift, abs=2)


def test_detail_0_or_no_reference_draws_exactly_nothing(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    creased, _, _ = _crease(portrait, lm)
    look = _look(creased, portrait, lm)
    without = LayerStack([x for x in LayerStack.default().layers if x.name != "detail"], LayerStack.default().filters)
    plain = _render(portrait, lm, look, stack=without)
    assert np.array_equal(_render(portrait, lm, look, detail=0.0), plain)
    assert np.array_equal(_render(portrait, lm, DriverAppearance(look.current, None)), plain)  # no neutral frame
    assert np.array_equal(_render(portrait, lm, None), plain)  # no driver image (a script, a landmarks file)
    assert not np.array_equal(_render(portrait, lm, look), plain)  # and the layer does draw


def test_the_change_is_clamped(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    ref = DetailLayer().extract(portrait, lm)
    assert ref is not None
    lo, hi = DETAIL_GAIN
    for sign in (-1, 1):  # the deepest crease the layer takes (a larger change is a moved feature)
        deeper = DriverDetail((ref.band.astype(np.float32) + sign * DETAIL_STRONG[0]).astype(np.float16),
                              fixed_texture=ref.texture)
        look = DriverAppearance({"detail": deeper}, {"detail": ref})
        base = _render(portrait, lm, look, detail=0.0)
        out = _render(portrait, lm, look)
        ok = base.min(axis=2) > 100  # away from rounding near black
        ratio = out[ok] / base[ok]
        assert ratio.min() >= lo - 0.01 and ratio.max() <= hi + 0.01  # never beyond the clamp …
        extreme = lo if sign < 0 else hi
        assert np.exp(sign * DETAIL_STRONG[0] * 0.95) > hi or np.exp(sign * DETAIL_STRONG[0] * 0.95) < lo
        assert (np.abs(ratio - extreme) < 0.01).sum() > 500  # … and it reaches it, over the skin


def _flat(image: np.ndarray) -> np.ndarray:
    """A flat-shaded, cartoon-like copy: smoothed, its shading pressed towards its mean."""
    smooth = cv2.bilateralFilter(cv2.GaussianBlur(image, (0, 0), 2), 9, 40, 9).astype(np.float32)
    mean = smooth.reshape(-1, 3).mean(axis=0)
    return np.clip(mean + (smooth - mean) * 0.4, 0, 255).astype(np.uint8)


def test_a_flat_portrait_takes_softer_creases(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    creased, y, (x0, x1) = _crease(portrait, lm)
    look = _look(creased, portrait, lm)
    assert look.reference is not None
    layer = DetailLayer()
    changes = {}
    for name, image in (("photo", portrait), ("flat", _flat(portrait))):
        gen = WarpGenerator(GeneratorSettings(detail=1.0))
        src = gen.prepare(image, lm)
        changes[name] = (layer.scale(src.consts["detail"].texture, look.reference["detail"].texture),
                         np.abs(gen.render(lm, look).astype(np.float32) - _render(image, lm, look, 0.0)).sum())
    assert changes["photo"][0] == pytest.approx(1.0, abs=1e-3)  # the photo's own shading is as rich as the driver's
    assert changes["flat"][0] < 0.6, changes
    assert changes["flat"][1] < 0.7 * changes["photo"][1]


def test_canonical_patches_compare_the_same_skin(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """The same face, smaller and shifted in the frame, lands on the same canonical patch."""
    lm = portrait_landmarks
    small = cv2.resize(portrait, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    moved = np.zeros_like(portrait)
    moved[40:40 + small.shape[0], 25:25 + small.shape[1]] = small
    lm_moved = lm.copy()
    lm_moved[:, :2] = (lm[:, :2] + 0.5) * 0.6 - 0.5 + [25, 40]
    a, b = canonical_luminance(portrait, lm), canonical_luminance(moved, lm_moved)
    assert a is not None and b is not None and a.shape == b.shape == canonical_face().size[::-1]
    skin = canonical_face().skin > 0.5
    assert np.abs(a - b)[skin].mean() < 0.03  # log-luminance: ~3 %
    assert np.abs(crease_band(a) - crease_band(b))[skin].mean() < 0.01
    assert DetailLayer().extract(portrait, lm * 1e-3) is None  # a face too small to measure


def test_self_reenactment_face_ssim_rises_with_detail() -> None:
    """A real clip driving its own first frame: the output's face is closer to the real frame
    with the driver's detail than without (the measure the default was chosen by)."""
    from streamfx.animator import Animator
    from streamfx.evaluation import read_frames, ssim
    from streamfx.retarget import RetargetSettings
    from streamfx.tracking import FaceTracker

    clip = media("driving", "lp_d12.mp4")
    frames = list(read_frames(Path(clip), 40))
    source = frames[0].image
    assert source is not None
    anims = [Animator(source, retarget=RetargetSettings(smoothing=0.0), generator=GeneratorSettings(detail=d))
             for d in (0.0, 1.0)]
    truth_tracker = FaceTracker()
    scores: list[list[float]] = [[], []]
    try:
        h, w = source.shape[:2]
        for frame in frames:
            real = frame.image
            assert real is not None
            truth = truth_tracker.track(real)
            frame.landmarks = anims[1].track(frame)
            outs = [a.step(frame) for a in anims]
            if truth is not None:
                x0, y0, x1, y1 = L.face_box(truth, w, h)
                for s, out in zip(scores, outs, strict=True):
                    s.append(ssim(real[y0:y1, x0:x1], out[y0:y1, x0:x1]))
    finally:
        for a in anims:
            a.close()
        truth_tracker.close()
    assert len(scores[0]) > 30
    assert np.mean(scores[1]) > np.mean(scores[0]) + 0.003, (np.mean(scores[1]), np.mean(scores[0]))


def test_the_detail_setting_is_validated_and_live(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    import argparse

    from streamfx.animator import Animator
    from streamfx.options import add_motion_options, animator_settings

    p = argparse.ArgumentParser()
    add_motion_options(p)
    assert animator_settings(p.parse_args(["--detail", "0.3"])).generator.detail == 0.3
    assert animator_settings(p.parse_args([])).generator.detail == GeneratorSettings().detail
    for bad in ("1.5", "-0.1", "nan"):
        with pytest.raises(InputError, match="--detail must be between 0 and 1"):
            animator_settings(p.parse_args(["--detail", bad]))
    assert AnimatorSettings.live_types()["detail"] is float
    anim = Animator(portrait, source_landmarks=portrait_landmarks, track_drivers=False)
    try:
        anim.update_settings(detail=0.0)
        assert anim.engine.settings.generator.detail == 0.0  # the engine reads it at once
        with pytest.raises(InputError, match="--detail must be between 0 and 1"):
            anim.update_settings(detail=2.0)
    finally:
        anim.close()


class ShadeToy(Layer):
    """A toy overlay that shades the frame (``ops.shade``): darker left of the nose, lighter right."""

    name = "shade_toy"

    def prepare(self, src: SourceBasics) -> float:
        return 1.5 * L.interocular(src.landmarks)

    def apply(self, ops: Ops, radius: float, frame: Frame) -> None:
        cx, cy = ops.point(frame.target, L.NOSE_TIP)
        r = ops.f(radius)
        win = ops.window(frame.canvas, (ops.floor(ops.sub(cx, r)), ops.floor(ops.sub(cy, r)),
                                        ops.ceil(ops.add(cx, r)), ops.ceil(ops.add(cy, r))))
        side = ops.clip(ops.div(ops.sub(win.xs, cx), r), -1.0, 1.0)
        frame.canvas = ops.shade(frame.canvas, win, ops.add(ops.f(1.0), ops.mul(ops.f(0.3), side)))


@pytest.mark.parametrize("engine", ["onnxruntime", "cuda-maths-on-cpu"])
def test_shade_is_written_once_for_every_engine(engine: str, portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                                tmp_path: Path) -> None:
    """``ops.shade`` (what the detail layer draws with) also compiles, in parity with the reference."""
    from dataclasses import replace

    from engines.base import GeneratorEngine
    from streamfx.generator import prepare_source
    from streamfx.settings import EngineSettings
    from tests.test_engines_support import TOLERANCE, synthetic_targets

    settings = GeneratorSettings(detail=0.0)
    src = prepare_source(portrait, portrait_landmarks, settings=settings,
                         stack=LayerStack.default().with_layers(ShadeToy()))
    targets = np.stack(synthetic_targets(portrait_landmarks))
    gen = WarpGenerator(settings)
    gen.src = src
    ref = np.stack([gen.render(t) for t in targets])
    plain = WarpGenerator(settings)
    plain.prepare(portrait, portrait_landmarks)
    nx, ny = portrait_landmarks[L.NOSE_TIP, :2].astype(int)
    io = int(L.interocular(portrait_landmarks))
    still = plain.render(portrait_landmarks).astype(np.float32)
    shaded = gen.render(portrait_landmarks).astype(np.float32)
    assert shaded[ny - 5:ny + 5, nx - io:nx - io // 2].mean() < 0.9 * still[ny - 5:ny + 5, nx - io:nx - io // 2].mean()
    assert shaded[ny - 5:ny + 5, nx + io // 2:nx + io].mean() > 1.05 * still[ny - 5:ny + 5, nx + io // 2:nx + io].mean()
    options = EngineSettings(generator=settings)
    eng: GeneratorEngine
    if engine == "onnxruntime":
        from engines.onnxruntime_engine import OnnxRuntimeEngine

        eng = OnnxRuntimeEngine(options, providers=["CPUExecutionProvider"])
    else:
        pytest.importorskip("torch", reason="PyTorch is not installed")
        from engines.torch_engine import TorchEngine

        eng = TorchEngine(replace(options, device="cpu"))
    eng.prepare(src)
    try:
        TOLERANCE.check(f"{engine} × shade", ref, eng.render_batch(targets))
    finally:
        eng.close()
