"""Engine conformance: every engine that runs here × every layer of the generator, one tolerance.

Each case renders the same poses with one layer switched on (the motion field and warp
are always on) and compares the frames with the ``opencv`` reference, within
:data:`~tests.test_engines_support.TOLERANCE` — the bound docs/engines.md states. A new layer is one class: the toy
vignette below runs on every engine with nothing else written for it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest

from engines import status
from engines.base import GeneratorEngine
from streamfx import landmarks as L
from streamfx.generator import (
    GeneratorSettings,
    Layer,
    LayerStack,
    SourceTensors,
    WarpGenerator,
    prepare_source,
)
from streamfx.generator.appearance import DriverAppearance, extract_appearance
from streamfx.generator.basics import SourceBasics
from streamfx.generator.layers import Frame
from streamfx.generator.ops import Ops
from streamfx.settings import EngineSettings
from tests.test_engines_support import TOLERANCE, synthetic_targets


def _make(name: str, settings: EngineSettings, tmp: Any) -> GeneratorEngine:
    """The engine ``name`` with these settings, or skip saying why it cannot run here."""
    if name == "opencv":
        from engines.opencv_engine import OpenCVEngine

        return OpenCVEngine(settings)
    if name == "onnxruntime":
        from engines.onnxruntime_engine import OnnxRuntimeEngine

        return OnnxRuntimeEngine(settings, providers=["CPUExecutionProvider"])
    if name == "cuda-maths-on-cpu":  # the cuda engine's code on torch's CPU build
        pytest.importorskip("torch", reason="PyTorch is not installed")
        from engines.torch_engine import TorchEngine

        return TorchEngine(replace(settings, device="cpu"))
    st = status(name)
    if not st.ok:
        pytest.skip(f"engine '{name}' does not work here: {st.reason}")
    if name == "tensorrt":
        from engines.tensorrt_engine import TensorRTEngine

        return TensorRTEngine(replace(settings, cache_dir=tmp))
    from engines.torch_engine import TorchEngine

    return TorchEngine(settings)


# the GPU engines run where there is a GPU (and TensorRT): the only cases that may skip in CI
ENGINES = ["opencv", "onnxruntime", "cuda-maths-on-cpu",
           pytest.param("cuda", marks=pytest.mark.hardware), pytest.param("tensorrt", marks=pytest.mark.hardware)]


FILTER_ON: dict[str, dict[str, object]] = {"color_match": {"color_match": True}, "sharpen": {"sharpen": 0.6},
                                           "detail": {"detail": 1.0}}


def _only(layer: str) -> GeneratorSettings:
    """Settings with just this layer (and those without a switch: motion, warp) on."""
    stack = LayerStack.default()
    values: dict[str, object] = {x.switch: x.name == layer for x in stack.layers if x.switch}
    values.update(FILTER_ON.get(layer, {}))
    return GeneratorSettings(**values)  # type: ignore[arg-type]


LAYERS = [x.name for x in LayerStack.default()]  # a shipped layer is picked up here by itself


@pytest.fixture(scope="module")
def case(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from streamfx.matte import source_matte

    return portrait, portrait_landmarks, source_matte(portrait)


@pytest.fixture(scope="module")
def targets(portrait_landmarks: np.ndarray) -> np.ndarray:
    return np.stack(synthetic_targets(portrait_landmarks))


Looks = list[DriverAppearance | None] | None


def _render(engine: GeneratorEngine, src: SourceTensors, targets: np.ndarray, looks: Looks = None) -> np.ndarray:
    engine.prepare(src)
    try:
        return engine.render_batch(targets, looks)
    finally:
        engine.close()


def _reference(src: SourceTensors, settings: GeneratorSettings, targets: np.ndarray, looks: Looks = None) -> np.ndarray:
    gen = WarpGenerator(settings)
    gen.src = src
    return np.stack([gen.render(t, None if looks is None else looks[i]) for i, t in enumerate(targets)])


def _looks(src: SourceTensors, image: np.ndarray, lm: np.ndarray, targets: np.ndarray) -> Looks:
    """What the appearance layers take from a driver: here the portrait itself, as if it were
    the driver's frame, and as its neutral frame the portrait blurred (no fine shading: so
    the frame has "creases" against it) — enough to make every appearance layer draw."""
    look = extract_appearance(src.stack.layers, image, lm)
    neutral = extract_appearance(src.stack.layers, cv2.GaussianBlur(image, (0, 0), 2.0), lm)
    return [look.with_reference(neutral)] * len(targets)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_renders_every_layer_like_the_reference(
        engine: str, layer: str, case: tuple[np.ndarray, np.ndarray, np.ndarray], targets: np.ndarray,
        tmp_path: Any) -> None:
    image, lm, person = case
    settings = _only(layer)
    src = prepare_source(image, lm, None, settings, person)  # as the Animator prepares it
    looks = _looks(src, image, lm, targets)
    ref = _reference(src, settings, targets, looks)
    if layer not in ("motion", "warp"):  # the layer must show in these poses, or parity proves nothing
        assert not np.array_equal(ref, _reference(src, _only("motion"), targets, looks)), layer
    out = (_render(_make(engine, EngineSettings(generator=settings), tmp_path), src, targets, looks))
    TOLERANCE.check(f"{engine} × {layer}", ref, out)


# ---- a new layer is one class ------------------------------------------------------------------
class Vignette(Layer):
    """A toy overlay: darkens the region of interest away from the nose, by up to a half."""

    name = "vignette"

    def prepare(self, src: SourceBasics) -> float:
        return 1.5 * L.interocular(src.landmarks)  # full brightness within this radius, pixels

    def apply(self, ops: Ops, radius: float, frame: Frame) -> None:
        cx, cy = ops.point(frame.target, L.NOSE_TIP)
        win = ops.window(frame.canvas, None)
        dx, dy = ops.sub(win.xs, cx), ops.sub(win.ys, cy)
        r = ops.div(ops.sqrt(ops.add(ops.mul(dx, dx), ops.mul(dy, dy))), ops.f(radius))
        cover = ops.mul(ops.f(0.5), ops.clip01(ops.sub(r, ops.f(1.0))))
        frame.canvas = ops.composite(frame.canvas, win, ops.rgb(np.zeros(3)), cover)


class NoseCopy(Layer):
    """A toy overlay that moves part of the portrait rigidly (``source_at``): the source's nose
    tip area, carried with the target's nose tip, drawn over a disc around it."""

    name = "nose_copy"

    def prepare(self, src: SourceBasics) -> tuple[float, np.ndarray]:
        return 0.4 * L.interocular(src.landmarks), src.landmarks[L.NOSE_TIP, :2].astype(np.float32)

    def apply(self, ops: Ops, k: tuple[float, np.ndarray], frame: Frame) -> None:
        radius, nose = k
        cx, cy = ops.point(frame.target, L.NOSE_TIP)
        r = ops.f(radius)
        win = ops.window(frame.canvas, (ops.floor(ops.sub(cx, r)), ops.floor(ops.sub(cy, r)),
                                        ops.ceil(ops.add(cx, r)), ops.ceil(ops.add(cy, r))))
        # the source pixel that sits where this one would be with the nose back at rest
        sx = ops.add(ops.sub(win.xs, cx), ops.f(float(nose[0]) + 7.0))
        sy = ops.add(ops.sub(win.ys, cy), ops.f(float(nose[1])))
        colour = ops.source_at(win, sx, sy)
        dx, dy = ops.sub(win.xs, cx), ops.sub(win.ys, cy)
        d = ops.div(ops.sqrt(ops.add(ops.mul(dx, dx), ops.mul(dy, dy))), r)
        frame.canvas = ops.composite(frame.canvas, win, colour, ops.clip01(ops.sub(ops.f(1.5), d)))


def test_a_layer_can_move_part_of_the_portrait_rigidly_on_every_engine(
        case: tuple[np.ndarray, np.ndarray, np.ndarray], targets: np.ndarray, tmp_path: Any) -> None:
    image, lm, person = case
    settings = GeneratorSettings()
    src = prepare_source(image, lm, None, settings, person, stack=LayerStack.default().with_layers(NoseCopy()))
    ref = _reference(src, settings, targets)
    plain = _reference(prepare_source(image, lm, None, settings, person), settings, targets)
    # at rest, the disc shows the source 7 px to the right of each pixel
    rest = _reference(src, settings, lm[None])[0]
    nx, ny = lm[L.NOSE_TIP, :2].round().astype(int)
    assert np.abs(rest[ny - 3:ny + 3, nx - 3:nx + 3].astype(int) - image[ny - 3:ny + 3, nx + 4:nx + 10]).max() <= 1
    assert not np.array_equal(ref, plain)
    for engine in ("onnxruntime", "cuda-maths-on-cpu"):
        out = _render(_make(engine, EngineSettings(generator=settings), tmp_path), src, targets)
        TOLERANCE.check(f"{engine} × nose_copy", ref, out)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_toy_layer_written_once_runs_on_every_engine(
        engine: str, case: tuple[np.ndarray, np.ndarray, np.ndarray], targets: np.ndarray, tmp_path: Any) -> None:
    image, lm, person = case
    settings = GeneratorSettings()
    src = prepare_source(image, lm, None, settings, person, stack=LayerStack.default().with_layers(Vignette()))
    shipped = LayerStack.default().layers  # an overlay goes after the shipped overlays, before appearance layers
    assert [x.name for x in src.stack.layers] == ([x.name for x in shipped if x.kind != "appearance"] + ["vignette"]
                                                  + [x.name for x in shipped if x.kind == "appearance"])
    ref = _reference(src, settings, targets)
    # it does what it says: far from the nose, inside the region, the frame got darker;
    # near the nose and outside the region nothing changed
    plain = _reference(prepare_source(image, lm, None, settings, person), settings, targets)
    x0, y0, x1, y1 = src.roi
    corner = (slice(None), slice(y0, y0 + 20), slice(x0, x0 + 20))
    assert ref[corner].mean() < 0.9 * plain[corner].mean()
    nx, ny = lm[L.NOSE_TIP, :2].astype(int)
    assert np.array_equal(ref[0, ny - 10:ny + 10, nx - 10:nx + 10], plain[0, ny - 10:ny + 10, nx - 10:nx + 10])
    assert np.array_equal(ref[:, :, :x0], plain[:, :, :x0])
    out = (_render(_make(engine, EngineSettings(generator=settings), tmp_path), src, targets))
    TOLERANCE.check(f"{engine} × vignette", ref, out)


def test_toggling_a_layer_rebuilds_a_compiled_engine_and_stays_in_parity(
        case: tuple[np.ndarray, np.ndarray, np.ndarray], targets: np.ndarray, tmp_path: Any) -> None:
    """The enabled set keys the graph: switching a layer live takes effect on the next frame."""
    image, lm, person = case
    settings = GeneratorSettings()
    src = prepare_source(image, lm, None, settings, person)
    engine = _make("onnxruntime", EngineSettings(generator=settings), tmp_path)
    engine.prepare(src)
    for change in ({"eyelids": False}, {"mouth_synthesis": False}, {"gaze": False},
                   {"eyelids": True, "mouth_synthesis": True, "gaze": True}):
        for k, v in change.items():
            setattr(settings, k, v)
        TOLERANCE.check(f"onnxruntime after {change}", _reference(src, settings, targets), engine.render_batch(targets))

