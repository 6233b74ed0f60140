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
from tests.test_engines_support import assert_parity, driver_targets

# a photo, a painting, a CGI face with glasses (eyes.lid_reach), a 3D cartoon (whose eyes are
# bigger than the mesh's: eyes.white_beyond) and a moustache (mouth_shape.moustache_sprite), at
# the sizes they come in (≤ 1024 px)
PORTRAITS = ["lp_s42.jpg", "lp_s3.jpg", "sadtalker_art_6.png", "lp_s7.jpg", "lp_s12.jpg"]


@pytest.fixture(scope="module", params=PORTRAITS)
def real_case(request: pytest.FixtureRequest) -> tuple[str, SourceTensors, np.ndarray, np.ndarray]:
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


_check = assert_parity


def test_onnxruntime_cpu_matches_opencv_on_real_portraits(real_case: tuple[str, SourceTensors, np.ndarray, np.ndarray]) -> None:
    name, src, targets, ref = real_case
    e = OnnxRuntimeEngine(providers=["CPUExecutionProvider"])
    e.prepare(src)
    _check(f"onnxruntime {name}", ref, e.render_batch(targets))


def test_torch_maths_match_opencv_on_real_portraits(real_case: tuple[str, SourceTensors, np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (the cuda engine's maths are checked where it is)")
    from engines.torch_engine import TorchEngine

    name, src, targets, ref = real_case
    e = TorchEngine(EngineSettings(device="cpu"))
    e.prepare(src)
    _check(f"torch-cpu {name}", ref, e.render_batch(targets))
