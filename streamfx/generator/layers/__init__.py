"""The generator's layers, in the order the default stack runs them (see stack.py)."""

from streamfx.generator.layers.base import AppearanceLayer, Frame, FrameFilter, Layer
from streamfx.generator.layers.detail import DetailLayer
from streamfx.generator.layers.driver_mouth import DriverMouthLayer
from streamfx.generator.layers.eyelids import EyelidLayer
from streamfx.generator.layers.filters import ColourMatch, Sharpen
from streamfx.generator.layers.irises import IrisLayer
from streamfx.generator.layers.motion import MotionLayer
from streamfx.generator.layers.mouth import MouthLayer
from streamfx.generator.layers.warp import WarpLayer

__all__ = ["AppearanceLayer", "ColourMatch", "DetailLayer", "DriverMouthLayer", "EyelidLayer", "Frame", "FrameFilter",
           "IrisLayer", "Layer", "MotionLayer", "MouthLayer", "Sharpen", "WarpLayer"]
