"""GPU engines: run where an NVIDIA GPU (and, for tensorrt, TensorRT 10) is present; skip elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from engines import EngineSettings, create_engine, status
from engines.tensorrt_engine import NOT_INSTALLABLE
from streamfx.generator import SourceTensors, WarpGenerator, prepare_source
from tests.test_engines_support import TOLERANCE, synthetic_targets

# they need an NVIDIA GPU (and TensorRT 10): the only tests allowed to skip in CI
pytestmark = pytest.mark.hardware


@pytest.fixture(scope="module")
def case(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> tuple[SourceTensors, np.ndarray, np.ndarray]:
    src = prepare_source(portrait, portrait_landmarks)
    gen = WarpGenerator()
    gen.src = src
    targets = np.stack(synthetic_targets(portrait_landmarks))
    return src, targets, np.stack([gen.render(t) for t in targets])


def _need(name: str) -> None:
    st = status(name)
    if not st.ok:
        pytest.skip(f"engine '{name}' does not work here: {st.reason}")


def _check(ref: np.ndarray, out: np.ndarray) -> None:
    TOLERANCE.check("gpu engine", ref, out)


def test_cuda_engine_matches_opencv(case: tuple[SourceTensors, np.ndarray, np.ndarray]) -> None:
    _need("cuda")
    src, targets, ref = case
    e = create_engine("cuda", fallback=False)
    e.prepare(src)
    _check(ref, e.render_batch(targets))
    for b in (1, 4):  # CUDA-graph replays, captured per batch size, twice each
        for _ in range(2):
            _check(ref[:b], e.render_batch(targets[:b]))


def test_onnxruntime_cuda_provider_matches_opencv(case: tuple[SourceTensors, np.ndarray, np.ndarray]) -> None:
    from engines.onnxruntime_engine import OnnxRuntimeEngine

    if not OnnxRuntimeEngine.has_cuda():
        pytest.skip("onnxruntime has no CUDA execution provider here (onnxruntime-gpu and an NVIDIA GPU)")
    src, targets, ref = case
    e = OnnxRuntimeEngine(providers=["CUDAExecutionProvider"])
    e.prepare(src)
    _check(ref, e.render_batch(targets))


@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_engine_matches_opencv_and_streams(case: tuple[SourceTensors, np.ndarray, np.ndarray],
                                                     tmp_path: object, fp16: bool) -> None:
    pytest.importorskip("tensorrt", reason=NOT_INSTALLABLE)
    _need("tensorrt")
    from engines.tensorrt_engine import TensorRTEngine

    src, targets, ref = case
    e = TensorRTEngine(EngineSettings(fp16=fp16, cache_dir=tmp_path))  # type: ignore[arg-type]
    e.prepare(src)
    _check(ref, e.render_batch(targets))
    streamed = np.stack(list(e.render_stream(list(targets))))
    _check(ref, streamed)
    assert e.plan is not None and e.plan.is_file()
    again = TensorRTEngine(EngineSettings(fp16=fp16, cache_dir=tmp_path))  # type: ignore[arg-type]
    again.prepare(src)  # from the cache
    assert again.plan == e.plan
    e.close()
    again.close()
