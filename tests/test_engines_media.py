"""Engine parity on real portraits (../shared/media/source) with real driver landmarks.

Driver landmarks are tracked from ../shared/media/driving/lp_d10.mp4 and retargeted onto
each portrait, so the poses, mouth openings and blinks are a real performer's.
"""

from __future__ import annotations

import numpy as np
import pytest

from engines import EngineSettings
from engines.onnxruntime_engine import OnnxRuntimeEngine
from streamfx.generator import SourceTensors, WarpGenerator
from tests.conftest import media
from tests.test_engines_support import MAX_ABS, MEAN_ABS, driver_targets, parity

# a photo, a painting and a second painting, at the sizes they come in (≤ 1024 px)
PORTRAITS = ["lp_s42.jpg", "lp_s3.jpg", "sadtalker_art_6.png"]


@pytest.fixture(scope="module", params=PORTRAITS)
def case(request: pytest.FixtureRequest) -> tuple[str, SourceTensors, np.ndarray, np.ndarray]:
    from streamfx.imageio import load_image
    from streamfx.tracking import track_portrait

    path = media("source", request.param)
    driver = media("driving", "lp_d10.mp4")
    image = load_image(path, max_side=1024)
    lm = track_portrait(image, request.param)
    gen = WarpGenerator()
    src = gen.prepare(image, lm)
    targets = np.stack(driver_targets(lm, driver, frames=6, stride=15))
    return request.param, src, targets, np.stack([gen.render(t) for t in targets])


def _check(name: str, ref: np.ndarray, out: np.ndarray, beyond: float) -> None:
    worst, mean = parity(ref, out)
    d = np.abs(ref.astype(np.int16) - out)
    share = float((d > MAX_ABS).mean())
    print(f"{name}: max {worst}/255, mean {mean:.5f}/255, share > {MAX_ABS}: {share:.2e}")
    # see docs/engines.md "Parity": every pixel but a handful per frame is within ±1; the
    # handful sit on high-contrast edges where float summation order moved a remap
    # position across a 1/32-pixel step
    assert mean <= MEAN_ABS / 10, (name, mean)
    assert share <= beyond, (name, share)
    assert worst <= 16, (name, worst)  # one 1/32-px step in x and in y: ≤ 2 · 255/32


def test_onnxruntime_cpu_matches_opencv_on_real_portraits(case: tuple[str, SourceTensors, np.ndarray, np.ndarray]) -> None:
    name, src, targets, ref = case
    e = OnnxRuntimeEngine(providers=["CPUExecutionProvider"])
    e.prepare(src)
    _check(f"onnxruntime {name}", ref, e.render_batch(targets), beyond=1e-5)


def test_torch_maths_match_opencv_on_real_portraits(case: tuple[str, SourceTensors, np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (the cuda engine's maths are checked where it is)")
    from engines.torch_engine import TorchEngine

    name, src, targets, ref = case
    e = TorchEngine(EngineSettings(device="cpu"))
    e.prepare(src)
    _check(f"torch-cpu {name}", ref, e.render_batch(targets), beyond=5e-4)
