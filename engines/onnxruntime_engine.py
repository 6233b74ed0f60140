"""``onnxruntime``: the generator graph (engines.onnx_graph) on ONNX Runtime.

Runs on the CUDA execution provider when the installed onnxruntime has it (the
``onnxruntime-gpu`` wheel on a machine with an NVIDIA driver), else on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engines.base import EngineSettings, GeneratorEngine
from engines.onnx_graph import INPUT_NAME, OUTPUT_NAME, build_graph
from streamfx.generator import SourceTensors
from streamfx.generator.appearance import DriverAppearance


def _providers() -> list[str]:
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


class OnnxRuntimeEngine(GeneratorEngine):
    name = "onnxruntime"
    compiles_layers = True

    def __init__(self, settings: EngineSettings | None = None, *, providers: list[str] | None = None):
        super().__init__(settings)
        self._providers = providers
        self._session: Any = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import onnxruntime as ort
        except ImportError as e:
            return False, f"onnxruntime is not installed ({e})"
        return True, f"onnxruntime {ort.__version__} on {', '.join(_providers())}"

    @staticmethod
    def has_cuda() -> bool:
        try:
            return "CUDAExecutionProvider" in _providers()
        except ImportError:
            return False

    def _prepare(self, src: SourceTensors) -> None:
        import onnxruntime as ort

        model = build_graph(src, self.settings.generator)
        opts = ort.SessionOptions()
        # the basic level folds constants; the layout/fusion passes gain nothing on this
        # gather-heavy graph and only cost start-up time
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if self.settings.threads:
            opts.intra_op_num_threads = self.settings.threads
        opts.log_severity_level = 3
        # no busy-waiting worker threads: the live pipeline's other stages share the cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model.SerializeToString(), opts,
                                             providers=self._providers or _providers())

    def _render_batch(self, targets: np.ndarray, appearance: Sequence[DriverAppearance | None] = ()) -> np.ndarray:
        out = self._session.run([OUTPUT_NAME], {INPUT_NAME: targets})[0]
        return np.asarray(out)

    def close(self) -> None:
        self._session = None

    def describe(self) -> str:
        prov = self._session.get_providers()[0] if self._session is not None else _providers()[0]
        return f"onnxruntime ({prov})"
