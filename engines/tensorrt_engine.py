"""``tensorrt``: the generator graph compiled by TensorRT 10, run on CUDA streams.

Needs an NVIDIA GPU, the ``tensorrt`` wheel (10.x) and ``cuda-python`` (``pip install
'streamfx[gpu]'`` on a machine whose registries carry them — PyPI does, for Linux x86-64
and Windows). TensorRT's wheels cannot be installed from the registries this project's CI
reaches, so there this engine reports itself unavailable and its tests skip.

* **Build.** The ONNX graph (engines.onnx_graph) is parsed with ``trt.OnnxParser`` into a
  network; the builder config gets a workspace limit, two optimisation profiles over the
  batch axis — ``live`` (B = 1) and ``batch`` (2 … max_batch, optimised for max_batch) — and,
  with ``fp16=True``, the FP16 flag, with every layer outside the overlays' stage (``layers/``) pinned
  to FP32 (OBEY_PRECISION_CONSTRAINTS): the motion field needs ~1e-5 px and the remap's
  fixed-point sums reach 2^18, both beyond FP16. The resolution is fixed by the portrait
  the graph is built for, so there is no resolution range to profile.
* **Cache.** The serialized plan is stored as
  ``~/.cache/streamfx/trt/<gpu>-<tensorrt version>-<graph hash>.plan`` (the hash covers the
  graph, the batch limit and the precision), so a GPU or TensorRT upgrade rebuilds and a
  second run of the same portrait starts in milliseconds. ``streamfx build-engine`` builds
  ahead of time.
* **Run.** ``runtime.deserialize_cuda_engine``, one execution context per in-flight slot,
  ``set_input_shape`` + ``set_tensor_address`` on device buffers, ``execute_async_v3`` on
  the slot's CUDA stream; inputs and outputs go through pinned host buffers with
  ``cudaMemcpyAsync``. :meth:`TensorRTEngine.render_stream` keeps two frames in flight:
  frame n+1's upload and compute are queued on the other stream while frame n is copied
  back, and an event per slot says when its output is ready.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import EngineSettings, GeneratorEngine, check_targets
from engines.onnx_graph import INPUT_NAME, OUTPUT_NAME, build_graph, graph_hash
from streamfx.errors import DeviceUnavailableError
from streamfx.generator import SourceTensors
from streamfx.generator.appearance import DriverAppearance

log = logging.getLogger("streamfx")

NOT_INSTALLABLE = "TensorRT wheels cannot be installed here"
_FP16_STAGES = ("layers/",)  # node-name prefixes that may run in FP16


def _trt() -> Any:
    import tensorrt as trt

    return trt


def _cudart() -> Any:
    """cuda-python's runtime bindings (the module moved in cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart
    return cudart


def _check(result: Any) -> Any:
    """cuda-python calls return (err, value…); raise on an error, return the value(s)."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        cudart = _cudart()
        name = cudart.cudaGetErrorName(err)[1].decode(errors="replace")
        raise RuntimeError(f"CUDA error {name}")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else tuple(rest)


def gpu_name(device: int = 0) -> str:
    props = _check(_cudart().cudaGetDeviceProperties(device))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.split("\x00")[0].strip()


def cache_dir(settings: EngineSettings) -> Path:
    if settings.cache_dir is not None:
        return Path(settings.cache_dir)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "streamfx" / "trt"


def plan_path(settings: EngineSettings, onnx_hash: str, gpu: str, trt_version: str) -> Path:
    """Where the plan for this graph, GPU, TensorRT version and build options is cached."""
    options = f"{onnx_hash}-b{settings.max_batch}-{'fp16' if settings.fp16 else 'fp32'}"
    key = hashlib.sha256(options.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", gpu).strip("_").lower() or "gpu"
    return cache_dir(settings) / f"{slug}-{trt_version}-{key}.plan"


def build_plan(model_bytes: bytes, settings: EngineSettings) -> bytes:
    """Compile an ONNX generator graph into a serialized TensorRT engine (a plan)."""
    trt = _trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the generator graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if settings.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if not layer.name.startswith(_FP16_STAGES) and layer.type != trt.LayerType.CONSTANT:
                layer.precision = trt.float32
                for j in range(layer.num_outputs):
                    if layer.get_output(j).dtype == trt.float16:
                        layer.set_output_type(j, trt.float32)
    n = settings.max_batch
    live = builder.create_optimization_profile()
    live.set_shape(INPUT_NAME, (1, 478, 3), (1, 478, 3), (1, 478, 3))
    config.add_optimization_profile(live)
    if n > 1:
        batch = builder.create_optimization_profile()
        batch.set_shape(INPUT_NAME, (2, 478, 3), (n, 478, 3), (n, 478, 3))
        config.add_optimization_profile(batch)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT failed to build the generator engine (see its log above)")
    return bytes(plan)


def ensure_plan(src: SourceTensors, settings: EngineSettings) -> tuple[Path, bool]:
    """The cached plan for ``src`` (built now if missing); returns (path, built)."""
    trt = _trt()
    model = build_graph(src, settings.generator)
    path = plan_path(settings, graph_hash(model), gpu_name(), trt.__version__)
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("building a TensorRT engine for this portrait (once; cached in %s)", path.parent)
    plan = build_plan(model.SerializeToString(), settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(plan)
    tmp.replace(path)  # atomic: a crash never leaves half a plan behind
    return path, True


def _host_array(ptr: Any, nbytes: int, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A NumPy view of pinned host memory allocated by cudaMallocHost."""
    buf = memoryview((ctypes.c_char * nbytes).from_address(int(ptr))).cast("B")
    return np.frombuffer(buf, dtype).reshape(shape)


class _Slot:
    """One frame in flight: a context, a stream, an event and its buffers."""

    def __init__(self, engine: Any, profile: int, in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
        cudart = _cudart()
        self.context = engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate())
        self.event = _check(cudart.cudaEventCreate())
        self.context.set_optimization_profile_async(profile, self.stream)
        self.in_bytes = int(np.prod(in_shape)) * 4
        self.out_bytes = int(np.prod(out_shape))
        self.d_in = _check(cudart.cudaMalloc(self.in_bytes))
        self.d_out = _check(cudart.cudaMalloc(self.out_bytes))
        self.h_in_ptr = _check(cudart.cudaMallocHost(self.in_bytes))
        self.h_out_ptr = _check(cudart.cudaMallocHost(self.out_bytes))
        self.h_in = _host_array(self.h_in_ptr, self.in_bytes, np.float32, in_shape)
        self.h_out = _host_array(self.h_out_ptr, self.out_bytes, np.uint8, out_shape)
        self.context.set_tensor_address(INPUT_NAME, int(self.d_in))
        self.context.set_tensor_address(OUTPUT_NAME, int(self.d_out))
        self.batch = 0

    def enqueue(self, targets: np.ndarray) -> None:
        """Upload, run and download asynchronously on this slot's stream."""
        cudart = _cudart()
        b = len(targets)
        self.batch = b
        self.h_in[:b] = targets
        n_in = b * 478 * 3 * 4
        n_out = b * int(np.prod(self.h_out.shape[1:]))
        _check(cudart.cudaMemcpyAsync(self.d_in, self.h_in_ptr, n_in,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        self.context.set_input_shape(INPUT_NAME, (b, 478, 3))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        _check(cudart.cudaMemcpyAsync(self.h_out_ptr, self.d_out, n_out,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        _check(cudart.cudaEventRecord(self.event, self.stream))

    def result(self) -> np.ndarray:
        _check(_cudart().cudaEventSynchronize(self.event))
        return self.h_out[:self.batch].copy()  # the pinned buffer is reused

    def free(self) -> None:
        cudart = _cudart()
        for ptr in (self.d_in, self.d_out):
            cudart.cudaFree(ptr)
        for ptr in (self.h_in_ptr, self.h_out_ptr):
            cudart.cudaFreeHost(ptr)
        cudart.cudaEventDestroy(self.event)
        cudart.cudaStreamDestroy(self.stream)
        self.context = None


class TensorRTEngine(GeneratorEngine):
    name = "tensorrt"
    compiles_layers = True

    def __init__(self, settings: EngineSettings | None = None):
        super().__init__(settings)
        self._engine: Any = None
        self._slots: dict[str, list[_Slot]] = {}
        self.plan: Path | None = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            trt = _trt()
        except ImportError:
            return False, f"TensorRT is not installed ({NOT_INSTALLABLE}; pip install 'streamfx[gpu]' where PyPI's NVIDIA wheels are reachable)"
        version = str(trt.__version__)
        if int(version.split(".")[0]) < 10:
            return False, f"TensorRT {version} is too old: this engine uses the TensorRT 10 API (execute_async_v3)"
        try:
            cudart = _cudart()
        except ImportError:
            return False, "cuda-python is not installed (pip install cuda-python)"
        err, count = cudart.cudaGetDeviceCount()
        if int(err) != 0 or count == 0:
            return False, "no CUDA GPU (or no NVIDIA driver)"
        return True, f"TensorRT {version} on {gpu_name()}"

    def _prepare(self, src: SourceTensors) -> None:
        ok, reason = self.available()
        if not ok:
            raise DeviceUnavailableError(f"engine 'tensorrt' does not work here: {reason}")
        trt = _trt()
        self.close()
        self.plan, built = ensure_plan(src, self.settings)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = runtime.deserialize_cuda_engine(self.plan.read_bytes())
        if self._engine is None:
            raise RuntimeError(f"TensorRT could not load {self.plan} (delete it to rebuild)")
        h, w = src.image.shape[:2]
        c = src.image.shape[2]
        n = self.settings.max_batch
        self._slots = {"live": [_Slot(self._engine, 0, (1, 478, 3), (1, h, w, c)) for _ in range(2)]}
        if n > 1:
            self._slots["batch"] = [_Slot(self._engine, 1, (n, 478, 3), (n, h, w, c))]
        log.debug("tensorrt: %s plan %s", "built" if built else "cached", self.plan)

    def _render_batch(self, targets: np.ndarray, appearance: Sequence[DriverAppearance | None] = ()) -> np.ndarray:
        n = self.settings.max_batch
        outs = []
        for i in range(0, len(targets), n):
            chunk = targets[i:i + n]
            slot = self._slots["live"][0] if len(chunk) == 1 else self._slots["batch"][0]
            slot.enqueue(chunk)
            outs.append(slot.result())
        return np.concatenate(outs)

    def render_stream(self, targets: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Two frames in flight on two streams: frame n+1 uploads and runs while n returns."""
        if self.src is None:
            raise RuntimeError("TensorRTEngine.render_stream called before prepare()")
        self._follow_layer_toggles()
        slots = self._slots["live"]
        pending: list[tuple[_Slot, np.ndarray]] = []
        for i, t in enumerate(targets):
            target = check_targets(t, batched=False)
            if len(pending) == 2:  # the slot about to be reused: collect its frame first
                yield self._finish(*pending.pop(0))
            slot = slots[i % 2]
            slot.enqueue(target[None])
            pending.append((slot, target))
        for slot, target in pending:
            yield self._finish(slot, target)

    def _finish(self, slot: _Slot, target: np.ndarray) -> np.ndarray:
        frame = slot.result()[0]
        self.apply_filters(frame, target)
        return frame

    def close(self) -> None:
        for slots in self._slots.values():
            for s in slots:
                s.free()
        self._slots = {}
        self._engine = None
