"""Go live: animate continuously and stream to a virtual camera and WebRTC viewers."""

from streamfx.live.hub import LatestFrameHub, LiveFrame
from streamfx.live.metrics import LiveMetrics
from streamfx.live.pipeline import LivePipeline, LiveSettings

__all__ = ["LatestFrameHub", "LiveFrame", "LiveMetrics", "LivePipeline", "LiveSettings"]
