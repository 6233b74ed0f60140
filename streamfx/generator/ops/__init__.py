"""Ops backends the generator's layers run on: the interface (base) and the NumPy reference.

The ONNX and torch backends live with their engines (engines/onnx_graph.py, engines/torch_ops.py).
"""

from streamfx.generator.ops.base import (
    GraphConstants,
    OperatorMaths,
    Ops,
    StaticShapeOps,
    Tensor,
    Window,
)
from streamfx.generator.ops.numpy_ops import NumpyOps

__all__ = ["GraphConstants", "NumpyOps", "OperatorMaths", "Ops", "StaticShapeOps", "Tensor", "Window"]
