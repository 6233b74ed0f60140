"""Generator engines: the same per-frame generator on different runtimes, chosen by name.

    from engines import create_engine, available_engines
    engine = create_engine("auto")          # fastest that works here, with run-time fallback
    engine.prepare(source_tensors)          # streamfx.generator.prepare_source(...)
    frame = engine.render(target_landmarks)  # (478, 3) → (H, W, C) uint8

Engines: ``opencv`` (the reference, CPU), ``onnxruntime`` (CPU, or the CUDA execution
provider), ``cuda`` (PyTorch on an NVIDIA GPU) and ``tensorrt`` (TensorRT 10). See
docs/engines.md.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamfx.errors import InputError
from streamfx.settings import ENGINE_CHOICES, ENGINE_NAMES, EngineSettings

if TYPE_CHECKING:
    from engines.base import GeneratorEngine
    from engines.fallback import FallbackEngine

log = logging.getLogger("streamfx")

CHOICES = ENGINE_CHOICES

# "auto" tries these in order: GPU engines first (fastest where they work), then ONNX
# Runtime only when it has its CUDA provider; on a CPU the NumPy/OpenCV reference is the
# fastest (scripts/bench_engines.py: about 2× faster than the graph on ONNX Runtime's CPU
# provider, whose generic gathers and elementwise kernels cannot beat cv2.remap).
_AUTO_ORDER = ("tensorrt", "cuda", "onnxruntime")


@dataclass(frozen=True)
class EngineStatus:
    name: str
    ok: bool
    reason: str


def engine_class(name: str) -> type[GeneratorEngine]:
    """The class registered as ``name`` (imports are deferred: torch and TensorRT are heavy)."""
    if name == "opencv":
        from engines.opencv_engine import OpenCVEngine

        return OpenCVEngine
    if name == "onnxruntime":
        from engines.onnxruntime_engine import OnnxRuntimeEngine

        return OnnxRuntimeEngine
    if name == "cuda":
        from engines.torch_engine import TorchEngine

        return TorchEngine
    if name == "tensorrt":
        from engines.tensorrt_engine import TensorRTEngine

        return TensorRTEngine
    raise InputError(f"unknown engine '{name}' — choose one of {', '.join(CHOICES)}")


def status(name: str) -> EngineStatus:
    try:
        ok, reason = engine_class(name).available()
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken install is a reason, not a crash
        ok, reason = False, f"{type(e).__name__}: {e}"
    return EngineStatus(name, ok, reason)


def available_engines() -> list[EngineStatus]:
    """Every registered engine, whether it works here and, if not, exactly why."""
    return [status(n) for n in ENGINE_NAMES]


def resolve(name: str) -> str:
    """A concrete engine name: ``auto`` becomes the fastest engine that works here."""
    if name != "auto":
        engine_class(name)  # validates the name
        return name
    from engines.onnxruntime_engine import OnnxRuntimeEngine

    for cand in _AUTO_ORDER:
        st = status(cand)
        if not st.ok:
            continue
        if cand == "onnxruntime" and not OnnxRuntimeEngine.has_cuda():
            continue  # on the CPU the reference is faster
        return cand
    return "opencv"


def create_engine(name: str = "auto", settings: EngineSettings | None = None, *,
                  fallback: bool | None = None) -> GeneratorEngine:
    """An engine by name (``auto``, ``opencv``, ``onnxruntime``, ``cuda``, ``tensorrt``).

    ``fallback`` (default: on for every engine but ``opencv``) wraps it in a
    :class:`FallbackEngine`, so a failure at run time switches to ``opencv`` with a notice
    instead of stopping the stream. An engine that does not work here at all raises
    :class:`~streamfx.errors.DeviceUnavailableError` unless it was picked by ``auto``.
    """
    from streamfx.errors import DeviceUnavailableError

    concrete = resolve(name)
    st = status(concrete)
    if not st.ok:
        raise DeviceUnavailableError(f"engine '{concrete}' does not work here: {st.reason} — run `streamfx doctor`")
    engine = engine_class(concrete)(settings)
    if name == "auto":
        log.info("engine: %s", concrete)
    from engines.fallback import FallbackEngine

    use_fallback = fallback if fallback is not None else concrete != "opencv"
    return FallbackEngine(engine) if use_fallback else engine


def __getattr__(name: str) -> Any:
    # The base classes load NumPy, OpenCV and the generator: only on first use (PEP 562), so
    # that the command line's engine subcommands cost nothing to register (`streamfx --help`).
    homes = {"GeneratorEngine": "engines.base", "FallbackEngine": "engines.fallback"}
    if name not in homes:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(homes[name]), name)
    globals()[name] = value
    return value


__all__ = ["CHOICES", "ENGINE_NAMES", "EngineSettings", "EngineStatus", "FallbackEngine",
           "GeneratorEngine", "available_engines", "create_engine", "engine_class", "resolve", "status"]
