"""``cuda``: the generator's layer stack in PyTorch on an NVIDIA GPU, with CUDA graphs.

The stack runs on :class:`engines.torch_ops.TorchOps` — the same maths as the ONNX graph,
op for op (gathers, not ``grid_sample``, so the remap reproduces OpenCV's fixed point).
torch is imported only when the engine is used; the core install does not need it. On a GPU each batch size
seen is captured once as a CUDA graph and replayed (one launch instead of ~300 kernels),
with the frame copied back through a pinned host buffer.

``EngineSettings(device="cpu")`` runs the same code on the CPU: that is how its parity with
the reference is checked on machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engines.base import EngineSettings, GeneratorEngine
from engines.torch_ops import TorchOps, import_torch
from streamfx.generator import SourceTensors
from streamfx.generator.appearance import DriverAppearance


class TorchEngine(GeneratorEngine):
    name = "cuda"

    def __init__(self, settings: EngineSettings | None = None):
        super().__init__(settings)
        self._graphs: dict[tuple[int, tuple[str, ...]], tuple[Any, Any, Any, Any]] = {}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            torch = import_torch()
        except ImportError:
            return False, "PyTorch is not installed (pip install torch, a CUDA build)"
        if not torch.cuda.is_available():
            build = "CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build"
            return False, f"no CUDA GPU (torch {torch.__version__}, {build})"
        return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"

    # ---- per source ----------------------------------------------------------------------
    def _prepare(self, src: SourceTensors) -> None:
        self._dev = import_torch().device(self.settings.device)
        self._graphs.clear()
        self._ops = TorchOps(src, self._dev)

    # ---- per frame -----------------------------------------------------------------------
    def _forward(self, targets: Any) -> Any:
        """B×478×3 float32 tensor → B×H×W×C uint8 tensor: the enabled layers on torch."""
        src = self.src
        assert src is not None
        return src.stack.run(self._ops, src, self.settings.generator, targets)

    # ---- running -------------------------------------------------------------------------
    def _render_batch(self, targets: np.ndarray, appearance: Sequence[DriverAppearance | None] = ()) -> np.ndarray:
        torch = import_torch()
        with torch.inference_mode():
            if self._dev.type == "cuda" and self.settings.cuda_graphs and len(targets) <= self.settings.max_batch:
                return self._replay(targets)
            out = self._forward(torch.from_numpy(targets).to(self._dev))
            return np.asarray(out.cpu().numpy())

    def _replay(self, targets: np.ndarray) -> np.ndarray:
        """Run through a CUDA graph captured for this batch size (captured on first use)."""
        torch = import_torch()
        b = len(targets)
        assert self.src is not None
        key = (b, self.src.stack.key(self.settings.generator))  # a toggle needs another graph
        if key not in self._graphs:
            static_in = torch.from_numpy(targets).to(self._dev)
            side = torch.cuda.Stream(self._dev)
            side.wait_stream(torch.cuda.current_stream(self._dev))
            with torch.cuda.stream(side):  # warm-up outside the capture, as CUDA graphs require
                for _ in range(2):
                    self._forward(static_in)
            torch.cuda.current_stream(self._dev).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            host = torch.empty(static_out.shape, dtype=torch.uint8, pin_memory=True)
            self._graphs[key] = (graph, static_in, static_out, host)
        graph, static_in, static_out, host = self._graphs[key]
        static_in.copy_(torch.from_numpy(targets), non_blocking=True)
        graph.replay()
        host.copy_(static_out, non_blocking=True)
        torch.cuda.current_stream(self._dev).synchronize()
        return np.array(host.numpy())  # a copy: the pinned buffer is reused next frame

    def close(self) -> None:
        self._graphs.clear()

    def describe(self) -> str:
        return f"cuda (PyTorch on {self.settings.device})"
