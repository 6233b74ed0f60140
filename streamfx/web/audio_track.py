"""The live sound as a WebRTC track (aiortc encodes it as Opus), in sync with the picture.

The picture a viewer sees shows the driver as it was ``latency`` seconds ago (tracking,
animation, compositing); the video track measures that delay on every fresh frame. Each
20 ms block of sound is therefore sent ``latency`` after it was heard, so sound and picture
of the same moment leave together and the receiver's RTCP-based lip sync lines them up.
RTP time stays continuous (one block = 960 samples); if the queue grows beyond half a
second (a stalled viewer), the oldest blocks are dropped rather than letting sound drift.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from streamfx.capture import AudioCapture

_MAX_QUEUE = 25  # blocks (0.5 s)


class CaptureAudioTrack(MediaStreamTrack):
    """One viewer's audio: the capture's blocks, released ``latency()`` after they were heard."""

    kind = "audio"

    def __init__(self, capture: AudioCapture, latency: Callable[[], float]) -> None:
        super().__init__()
        self.capture = capture
        self.latency = latency
        self.rate = capture.rate
        self._aloop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[np.ndarray, float]] = asyncio.Queue()
        self._samples = 0
        self._unlisten = capture.listen(self._on_block)

    def _on_block(self, block: np.ndarray, t: float) -> None:  # capture thread
        self._aloop.call_soon_threadsafe(self._put, block, t)

    def _put(self, block: np.ndarray, t: float) -> None:
        while self._queue.qsize() >= _MAX_QUEUE:
            self._queue.get_nowait()
        self._queue.put_nowait((block, t))

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        block, heard = await self._queue.get()
        delay = heard + self.latency() - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pcm = np.clip(block * 32767, -32768, 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, self.rate)
        self._samples += pcm.shape[1]
        return frame

    def stop(self) -> None:
        self._unlisten()
        super().stop()


__all__ = ["CaptureAudioTrack"]
