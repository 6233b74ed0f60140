"""Live pipeline building blocks: hub, metrics, compositing, pipeline threads, commands.

Also home of the fakes other live tests import (a synthetic driver and animator), so the
plumbing is tested without depending on the tracker's speed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from streamfx.compositing import Compositor, overlay, parse_size, placement
from streamfx.live.hub import LatestFrameHub, LiveFrame
from streamfx.live.metrics import LiveMetrics, RateMeter
from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.sinks.base import FrameSink
from streamfx.sources.base import DriverFrame, FrameSource


class SyntheticDriver(FrameSource):
    """Real-time frames with a moving dot; ``frames=None`` runs until closed."""

    live = True

    def __init__(self, fps: float = 30.0, frames: int | None = None, size: tuple[int, int] = (64, 64)) -> None:
        self.fps, self.frame_count, self.size = fps, frames, size
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[DriverFrame]:
        t0 = time.perf_counter()
        i = 0
        while not self._closed.is_set() and (self.frame_count is None or i < self.frame_count):
            due = t0 + i / self.fps
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            img = np.zeros((self.size[1], self.size[0], 3), np.uint8)
            yield DriverFrame(index=i, timestamp=i / self.fps, captured_at=time.perf_counter(), image=img)
            i += 1

    def close(self) -> None:
        self._closed.set()


class FakeAnimator:
    """Portrait + a dot that moves with the driver frame index ("the face moves")."""

    def __init__(self, image: np.ndarray, cost_ms: float = 0.0) -> None:
        self.image = image
        self.size = (image.shape[1], image.shape[0])
        self.timings: dict[str, float] = {}
        self.face_found = True
        self.cost_ms = cost_ms
        self.settings = {"smoothing": 0.5, "head_gain": 1.0, "eye_gain": 1.0, "brow_gain": 1.0,
                         "mouth_gain": 1.0, "mirror": False, "idle": True, "hold_seconds": 0.5}
        self.calibrated = 0

    def step(self, frame: DriverFrame) -> np.ndarray:
        if self.cost_ms:
            time.sleep(self.cost_ms / 1000)
        out = self.image.copy()
        h, w = out.shape[:2]
        gain = self.settings["head_gain"]
        x = int(w / 2 + gain * w / 6 * np.sin(frame.index / 5))
        cv2.circle(out, (x, h // 2), max(2, w // 10), (255, 255, 255), -1)
        self.timings = {"track": 0.1, "retarget": 0.1, "generate": self.cost_ms}
        return out

    def step_rgba(self, frame: DriverFrame) -> np.ndarray:
        rgb = self.step(frame)
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])

    def calibrate(self) -> None:
        self.calibrated += 1

    def set_source(self, image: np.ndarray, landmarks: np.ndarray | None = None, name: str = "upload") -> None:
        self.image = image
        self.size = (image.shape[1], image.shape[0])

    def update_settings(self, **kw: object) -> None:
        for k in kw:
            if k not in self.settings:
                raise ValueError(f"unknown setting {k}")
        self.settings.update(kw)  # type: ignore[arg-type]

    def settings_dict(self) -> dict:
        return dict(self.settings)


def portrait(size: int = 128, colour: tuple[int, int, int] = (40, 90, 160)) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = colour
    return img


class ListSink(FrameSink):
    name = "list"

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.opened: tuple[int, int, float] | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        self.opened = (width, height, fps)

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.opened = None


# -- hub ---------------------------------------------------------------------------------
def test_hub_keeps_only_latest_and_counts_drops() -> None:
    hub: LatestFrameHub[int] = LatestFrameHub()
    assert hub.latest() is None
    for i in range(3):
        hub.publish(i)
    assert hub.dropped == 0  # nobody is consuming yet: nothing is lost
    assert hub.latest() == (3, 2)
    for i in range(3, 8):
        hub.publish(i)
    assert hub.latest() == (8, 7)
    assert hub.dropped == 4  # 3..6 were overwritten unseen
    hub.publish(8)
    assert hub.wait_newer(8, timeout=0.01) == (9, 8)
    assert hub.wait_newer(9, timeout=0.01) is None
    assert hub.dropped == 4


def test_hub_wakes_threads_and_async_waiters() -> None:
    hub: LatestFrameHub[str] = LatestFrameHub()
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(hub.wait_newer(0, timeout=2)))
    t.start()

    async def main() -> object:
        waiter = asyncio.ensure_future(hub.wait_newer_async(0, timeout=2))
        await asyncio.sleep(0.05)
        threading.Thread(target=hub.publish, args=("x",)).start()
        return await waiter

    assert asyncio.run(main()) == (1, "x")
    t.join(2)
    assert got == [(1, "x")]

    async def timeout() -> object:
        return await hub.wait_newer_async(1, timeout=0.05)

    assert asyncio.run(timeout()) is None
    hub.close()
    assert hub.wait_newer(1, timeout=1) is None


# -- metrics -----------------------------------------------------------------------------
def test_metrics_rates_latency_and_prometheus() -> None:
    m = LiveMetrics(window_s=5)
    r = RateMeter(5)
    for i in range(31):
        r.mark(100 + i / 30)
    assert r.rate(101.0) == pytest.approx(30, rel=0.01)
    now = time.perf_counter()
    for ms in range(1, 101):
        m.mark_sink("vcam", now - ms / 1000)
    m.mark_output({"track": 4.0, "generate": 10.0})
    m.set_dropped("output", 3)
    snap = m.snapshot()
    assert 40 <= snap["sinks"]["vcam"]["latency_p50_ms"] <= 60
    assert 90 <= snap["sinks"]["vcam"]["latency_p95_ms"] <= 100
    text = m.prometheus()
    assert 'streamfx_motion_to_output_milliseconds{sink="vcam",quantile="0.95"}' in text
    assert 'streamfx_dropped_frames_total{where="output"} 3' in text
    assert 'streamfx_stage_milliseconds{stage="generate"} 10' in text
    assert "# TYPE streamfx_output_fps gauge" in text


# -- compositing -------------------------------------------------------------------------
def test_compositor_fits_portrait_with_still_background() -> None:
    assert parse_size("1280x720") == (1280, 720)
    with pytest.raises(ValueError):
        parse_size("1281x720")
    p = placement(512, 512, 1280, 720, "fit")
    assert (p.x, p.y, p.w, p.h) == (280, 0, 720, 720)
    c = placement(512, 512, 1280, 720, "cover")
    assert c.crop[2] == 512 and c.crop[3] == 288
    comp = Compositor(1280, 720)
    src = portrait(512)
    comp.set_source(src)
    a = comp.compose(src)
    b = comp.compose(np.full_like(src, 255))
    assert a.shape == (720, 1280, 3)
    assert np.array_equal(a[:, :200], b[:, :200])  # background does not follow the face
    assert not np.array_equal(a[:, 400:800], b[:, 400:800])
    canvas = np.zeros((10, 10, 3), np.uint8)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    overlay(canvas, rgba, 8, 8)  # clipped at the edge
    assert canvas[9, 9, 0] == 200 and canvas[7, 7, 0] == 0


# -- pipeline ----------------------------------------------------------------------------
def test_pipeline_runs_sinks_commands_and_pause() -> None:
    settings = LiveSettings(width=320, height=180, fps=30)
    pipe = LivePipeline(FakeAnimator(portrait()), SyntheticDriver(), settings)
    sink = ListSink()
    pipe.add_sink(sink)
    assert sink.opened == (320, 180, 30)
    with pipe:
        time.sleep(1.0)
        assert len(sink.frames) >= 20
        assert sink.frames[-1].shape == (180, 320, 3)
        assert pipe.update_settings(head_gain=2.0).result(2)["head_gain"] == 2.0
        pipe.calibrate().result(2)
        assert pipe.animator.calibrated == 1  # type: ignore[attr-defined]
        pipe.set_source(portrait(colour=(200, 10, 10))).result(2)
        time.sleep(0.2)
        assert sink.frames[-1][90, 20, 0] > sink.frames[0][90, 20, 0]  # new background
        pipe.set_paused(True)
        time.sleep(0.2)
        n = pipe.metrics.output.total
        time.sleep(0.4)
        assert pipe.metrics.output.total - n <= 1  # no animation work while paused
        pipe.set_paused(False)
        pipe.set_driver(SyntheticDriver(fps=30))
        time.sleep(0.4)
        assert pipe.metrics.output.total - n >= 5
        snap = pipe.metrics.snapshot()
    assert snap["sinks"]["list"]["latency_p95_ms"] < 50
    assert sink.opened is None  # closed on stop


def test_pipeline_drops_instead_of_queueing_when_animator_is_slow() -> None:
    settings = LiveSettings(width=160, height=96, fps=30)
    pipe = LivePipeline(FakeAnimator(portrait(), cost_ms=60), SyntheticDriver(fps=60), settings)
    sink = ListSink()
    pipe.add_sink(sink)
    with pipe:
        time.sleep(1.2)
        snap = pipe.metrics.snapshot()
    # ~16 fps of work for 60 fps of input: most driver frames are dropped, none queue up
    assert snap["dropped"]["capture"] > 20
    assert snap["sinks"]["list"]["latency_p95_ms"] < 60 + 17 + 30


def test_animator_errors_do_not_stop_the_pipeline() -> None:
    anim = FakeAnimator(portrait())
    calls = {"n": 0}
    real = anim.step

    def flaky(frame: DriverFrame) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("boom")
        return real(frame)

    anim.step = flaky  # type: ignore[method-assign]
    pipe = LivePipeline(anim, SyntheticDriver(), LiveSettings(width=160, height=96))
    with pipe:
        time.sleep(0.5)
    assert pipe.metrics.output.total >= 8


def test_live_frame_is_plain_data() -> None:
    f = LiveFrame(1, np.zeros((2, 2, 3), np.uint8), 0.0, 0.0)
    assert f.seq == 1


class UnpluggedDriver(SyntheticDriver):
    """Delivers ``frames`` frames, then fails like a camera pulled out or a vanished file."""

    def __iter__(self) -> Iterator[DriverFrame]:
        yield from super().__iter__()
        raise OSError("device went away")


def _output_after(pipe: LivePipeline, seconds: float) -> int:
    n = pipe.metrics.output.total
    time.sleep(seconds)
    return pipe.metrics.output.total - n


def test_failed_driver_falls_back_and_driver_up_says_so(caplog) -> None:
    pipe = LivePipeline(FakeAnimator(portrait()), UnpluggedDriver(frames=10), LiveSettings(width=160, height=96),
                        fallback_driver=SyntheticDriver)
    assert "\nstreamfx_driver_up " not in pipe.metrics.prometheus()  # not started: unknown
    with caplog.at_level("WARNING", logger="streamfx.live"), pipe:
        time.sleep(0.1)
        assert "streamfx_driver_up 1" in pipe.metrics.prometheus()
        time.sleep(0.8)  # the 10 frames are long gone
        assert _output_after(pipe, 0.5) >= 8  # still animating, on the fallback
        assert "streamfx_driver_up 0" in pipe.metrics.prometheus()
        status = pipe.status()
        assert status["driver_up"] is False and "fallback" in status["driver"]
    said = [r.getMessage() for r in caplog.records]
    assert any("device went away" in m and "driving with SyntheticDriver instead" in m for m in said), said


def test_failed_driver_without_fallback_holds_and_says_so(caplog) -> None:
    pipe = LivePipeline(FakeAnimator(portrait()), UnpluggedDriver(frames=5), LiveSettings(width=160, height=96))
    with caplog.at_level("WARNING", logger="streamfx.live"), pipe:
        time.sleep(0.6)
        assert _output_after(pipe, 0.3) == 0
        assert "streamfx_driver_up 0" in pipe.metrics.prometheus()
    assert any("holds the last frame" in r.getMessage() for r in caplog.records)


def test_swapping_the_driver_brings_driver_up_back() -> None:
    pipe = LivePipeline(FakeAnimator(portrait()), UnpluggedDriver(frames=3), LiveSettings(width=160, height=96))
    with pipe:
        time.sleep(0.4)
        assert pipe.metrics.driver_up is False
        pipe.set_driver(SyntheticDriver())
        time.sleep(0.2)
        assert pipe.metrics.driver_up is True and pipe.status()["driver"] == "SyntheticDriver"
