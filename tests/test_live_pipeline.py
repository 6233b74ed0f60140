"""Live pipeline building blocks: hub, metrics, compositing, pipeline threads, commands.

The pipeline runs the real parts: :class:`streamfx.animator.Animator` on the demo portrait,
driven by the real ``talk`` motion script (landmarks straight from the script, so no webcam
is needed). Its output is checked with :class:`tests.picture.PortraitCheck`. Stand-ins
appear only where they are the point of a test, and say so: an animator slowed down on
purpose, a driver that fails on cue. Other live tests import the helpers defined here.

No assert here depends on speed: waits have generous limits, and what is checked (frame
counts, which frame won, what the picture shows) holds on a loaded machine. Rates and
latencies are measured by ``scripts/bench_live.py``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from streamfx.animator import Animator
from streamfx.compositing import Compositor, overlay, parse_size, placement
from streamfx.drivers import open_driver
from streamfx.live.hub import LatestFrameHub, LiveFrame
from streamfx.live.metrics import FallingBehind, LiveMetrics, RateMeter
from streamfx.live.pacer import FramePacer
from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.sinks.base import FrameSink
from streamfx.sources.base import DriverFrame, FrameSource
from streamfx.sources.script import ScriptSource
from tests.picture import PortraitCheck

WAIT = 60.0
"""Seconds any wait may take before the test gives up: generous, so load never fails a test."""


# -- helpers shared by the live tests ------------------------------------------------------
def real_animator(portrait: np.ndarray, landmarks: np.ndarray) -> Animator:
    """The real Animator on the demo portrait (its landmarks given: no second tracking run)."""
    return Animator(portrait, source_landmarks=landmarks, source_name="demo portrait", track_drivers=False)


def script_driver(animator: Animator, script: str = "talk", **kw: object) -> FrameSource:
    """The real motion-script driver, as ``streamfx live --driver talk`` opens it (real time, looping)."""
    args: dict = {"realtime": True, "loop": True, **kw}
    return open_driver(script, neutral_landmarks=animator.source_landmarks, **args)


def real_pipeline(portrait: np.ndarray, landmarks: np.ndarray, width: int = 320, height: int = 180,
                  fps: float = 30.0, script: str = "talk", **kw: object) -> LivePipeline:
    """Real Animator + real script driver, composited to ``width``×``height`` (not started)."""
    anim = real_animator(portrait, landmarks)
    return LivePipeline(anim, script_driver(anim, script), LiveSettings(width=width, height=height, fps=fps),
                        source_image=portrait, **kw)  # type: ignore[arg-type]


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until true; fail saying ``what`` did not happen within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.02)


def next_frames(hub: LatestFrameHub[LiveFrame], n: int, timeout: float = WAIT) -> list[LiveFrame]:
    """The next ``n`` frames published on ``hub`` (as a consumer sees them: newest each time)."""
    out: list[LiveFrame] = []
    seq = hub.seq
    deadline = time.monotonic() + timeout
    while len(out) < n:
        got = hub.wait_newer(seq, timeout=max(0.0, deadline - time.monotonic()))
        if got is None:
            raise AssertionError(f"only {len(out)} of {n} frames within {timeout:g} s")
        seq, lf = got
        assert lf.seq == seq  # a LiveFrame knows the seq the hub gave it
        out.append(lf)
    return out


def mirrored(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Another portrait with a face: the same one, flipped left–right (and its landmarks)."""
    lm = np.array(landmarks, np.float32)
    lm[:, 0] = image.shape[1] - 1 - lm[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), lm


def flat_image(size: int = 128, colour: tuple[int, int, int] = (40, 90, 160)) -> np.ndarray:
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


class SlowAnimator:
    """The real Animator, slowed down on purpose (the point of the test): each step first
    sleeps ``cost_s``, like a big model on a small machine. Records the driver frames it got."""

    def __init__(self, inner: Animator, cost_s: float) -> None:
        self.inner, self.cost_s = inner, cost_s
        self.indices: list[int] = []
        self.driver_hub: LatestFrameHub[DriverFrame] | None = None
        self.newer: list[int] = []
        """For each step: how many driver frames had been published after the one it got."""

    def step(self, frame: DriverFrame) -> np.ndarray:
        self.indices.append(frame.index)
        if self.driver_hub is not None:  # a script's frame i is its (i+1)-th publication
            self.newer.append(self.driver_hub.seq - (frame.index + 1))
        time.sleep(self.cost_s)
        return self.inner.step(frame)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class FastCamera(FrameSource):
    """The talk script read unpaced, standing in for a camera far faster than the animator
    (its rate is the point). A live driver is never held back; an unpaced file is read only
    as fast as the animator takes it (test_a_driver_no_clock_paces_...)."""

    live = True

    def __init__(self, script: FrameSource) -> None:
        self.script, self.frame_count = script, script.frame_count

    def __iter__(self) -> Iterator[DriverFrame]:
        return iter(self.script)

    def close(self) -> None:
        self.script.close()


class UnpluggedDriver(ScriptSource):
    """The talk script until ``unplug`` is set, then the error of a camera pulled out.

    A stand-in on purpose: the failure, and exactly when it happens, is the point.
    """

    def __init__(self, landmarks: np.ndarray) -> None:
        super().__init__("talk", landmarks, loop=True, realtime=True)
        self.unplug = threading.Event()

    def __iter__(self) -> Iterator[DriverFrame]:
        for frame in super().__iter__():
            if self.unplug.is_set():
                raise OSError("device went away")
            yield frame


def driver_up(pipe: LivePipeline) -> str:
    """The driver_up line of /metrics ('streamfx_driver_up 1' or '… 0')."""
    lines = [x for x in pipe.metrics.prometheus().splitlines() if x.startswith("streamfx_driver_up ")]
    return lines[0] if lines else ""


# -- hub ---------------------------------------------------------------------------------
def paced_sends(arrivals: list[float], fps: float) -> list[tuple[float, float]]:
    """(arrival, sent) of each frame a paced device took, frames arriving at ``arrivals``
    (s), as the sink runner sends them: the newest, once the pacer allows."""
    pacer, sends = FramePacer(fps), []
    pending: float | None = None
    for a in [*arrivals, float("inf")]:
        while pending is not None and max(pending, pacer.earliest()) <= a:
            t = max(pending, pacer.earliest())
            pacer.sent(t)
            sends.append((pending, t))
            pending = None
        pending = a  # a newer frame replaces one not yet sent
    return sends


def test_a_paced_camera_takes_each_frame_the_moment_it_is_there() -> None:
    """A 30 fps camera on a 30 fps animator: no frame waits for a tick of its own clock.

    A clock of the camera's own would hold each frame until its next tick: at an unlucky
    phase most of an interval (here 25 ms of every 33), and a camera clock a hair slower
    than the animator's walks through every phase."""
    rng = np.random.default_rng(7)
    for rate in (30.0, 30.05, 29.9):  # the animator's clock: exact, a hair fast, slow
        arrivals = list(np.arange(300) / rate + rng.uniform(-0.004, 0.004, 300) + 0.025)
        sends = paced_sends(arrivals, 30.0)
        assert len(sends) == 300, rate  # none skipped
        waits = [t - a for a, t in sends]
        assert max(waits) < 1e-9, (rate, max(waits))
    # the clock it replaces: ticks at k/30 s, the frames 25 ms past each
    ticks = [np.ceil(a * 30) / 30 - a for a in np.arange(300) / 30 + 0.025]
    assert np.mean(ticks) > 0.008


def test_a_paced_camera_never_goes_much_faster_than_its_rate() -> None:
    arrivals = list(np.arange(600) / 60)  # a 60 fps animator for 10 s
    sends = paced_sends(arrivals, 30.0)
    times = np.array([t for _, t in sends])
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 29.5 <= rate <= 30 * 1.03, rate  # FramePacer's 2 % headroom, no more
    assert np.diff(times).min() >= 0.7 / 30  # no burst beyond its tolerance (¼ interval early)
    with pytest.raises(ValueError):
        FramePacer(0)


def test_a_paced_camera_waits_for_its_first_frame_without_spinning() -> None:
    """Until the first frame, a paced sink's thread bounded its wait by the last write's time
    (none yet): a zero timeout, a loop at a whole core. On two cores it starved the animator,
    whose first frame took 3 s instead of 20 ms (live with AnimCam: no picture for 3 s). Its
    waits now block until a frame comes (the hub is real; the pipeline around it is a stub)."""
    from types import SimpleNamespace

    from streamfx.live.pipeline import _SinkRunner

    class Camera(FrameSink):
        name, paced = "camera", True

        def __init__(self) -> None:
            self.frames: list[float] = []

        def open(self, width: int, height: int, fps: float) -> None: ...

        def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
            self.frames.append(time.perf_counter())

        def close(self) -> None: ...

    hub: LatestFrameHub[LiveFrame] = LatestFrameHub()
    waits = 0
    wait_newer = hub.wait_newer

    def counted(after_seq: int, timeout: float | None = None) -> tuple[int, LiveFrame] | None:
        nonlocal waits
        waits += 1
        return wait_newer(after_seq, timeout)

    hub.wait_newer = counted  # type: ignore[method-assign]
    pipeline = SimpleNamespace(hub=hub, metrics=LiveMetrics(), settings=SimpleNamespace(fps=30.0))
    camera = Camera()
    runner = _SinkRunner(pipeline, camera, repeat=True)  # type: ignore[arg-type]
    runner.start()
    try:
        time.sleep(0.4)  # no frame yet: the animator is still on its first
        assert waits <= 3, f"{waits} waits in 0.4 s before the first frame"
        image = np.zeros((4, 4, 3), np.uint8)
        now = time.perf_counter()
        hub.publish(LiveFrame(seq=1, image=image, captured_at=now, produced_at=now))
        deadline = time.monotonic() + 2.0
        while len(camera.frames) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(camera.frames) >= 5  # and then it keeps the camera's rate, repeating the frame
    finally:
        runner.stop()
        hub.close()
        assert runner.thread is not None
        runner.thread.join(2.0)


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
    t = threading.Thread(target=lambda: got.append(hub.wait_newer(0, timeout=WAIT)))
    t.start()

    async def main() -> object:
        waiter = asyncio.ensure_future(hub.wait_newer_async(0, timeout=WAIT))
        await asyncio.sleep(0.05)
        threading.Thread(target=hub.publish, args=("x",)).start()
        return await waiter

    assert asyncio.run(main()) == (1, "x")
    t.join(WAIT)
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
    # the latencies were made up above (1..100 ms), so these are arithmetic, not timing
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
    src = flat_image(512)
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
@pytest.mark.parametrize("process", [False, True], ids=["generate in place", "generator process"])
def test_pipeline_animates_the_portrait_and_obeys_commands(portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                                           process: bool) -> None:
    pipe = real_pipeline(portrait, portrait_landmarks, generator_process=process)
    anim = pipe.animator
    assert isinstance(anim, Animator)
    sink = ListSink()
    pipe.add_sink(sink)
    assert sink.opened == (320, 180, 30)
    with pipe:
        wait_until(lambda: len(sink.frames) >= 30, "30 frames in the sink")
        PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(sink.frames[:30])

        assert pipe.update_settings(head_gain=2.0).result(WAIT)["head_gain"] == 2.0
        assert anim.retargeter.settings.head_gain == 2.0
        before = np.array(anim.retargeter.reference)
        pipe.calibrate().result(WAIT)
        # calibrating takes the next driver frame as the neutral face: the talk script moved since
        wait_until(lambda: not np.array_equal(anim.retargeter.reference, before), "a new neutral face")

        # another portrait, swapped live: from then on the output is that one, animated
        other, other_landmarks = mirrored(portrait, portrait_landmarks)
        pipe.set_source(other).result(WAIT)
        after = [lf.image for lf in next_frames(pipe.hub, 30)]
        PortraitCheck(other, other_landmarks, out_size=(320, 180)).assert_animated(after)
        with pytest.raises(AssertionError, match="do not match the portrait"):
            PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(after)

        pipe.set_paused(True)
        # what was in flight when the pause came lands first: with the generator in a worker
        # process that is up to two frames (one rendering there, one coming back), which a CI
        # run caught landing inside the window below
        time.sleep(0.3)
        seq = pipe.hub.seq
        time.sleep(0.5)
        assert pipe.hub.seq - seq <= 1  # no animation work while paused (15 frames' worth of time)
        pipe.set_paused(False)
        pipe.set_driver(script_driver(anim))
        assert len(next_frames(pipe.hub, 10)) == 10  # animating again, on the new driver
        assert "list" in pipe.metrics.snapshot()["sinks"]
    assert sink.opened is None  # closed on stop


def test_the_newest_frame_wins_at_both_hand_offs(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """A sink that fell behind gets the newest frame next, not a backlog; so does the animator.

    The driver is the talk script as a camera far faster than the animator (its 240 frames
    as fast as they come); the sink holds its first frame until the script has ended and the
    last frame is out. Everything in between was skipped: the sink's next frame is the
    animation of the script's last frame.
    """
    anim = real_animator(portrait, portrait_landmarks)
    rendered: list[int] = []
    step = anim.step

    def recording(frame: DriverFrame) -> np.ndarray:  # the real step, its driver frame noted
        out = step(frame)
        rendered.append(frame.index)
        return out

    anim.step = recording  # type: ignore[method-assign]
    driver = FastCamera(open_driver("talk", neutral_landmarks=anim.source_landmarks, realtime=False, loop=False))
    last = driver.frame_count - 1 if driver.frame_count else -1
    assert last == 239

    class StalledSink(ListSink):
        """Stuck on its first frame until released (a sink that fell behind, on cue)."""

        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
            super().write(frame, timestamp)
            if len(self.frames) == 1:
                self.release.wait(WAIT)

    sink = StalledSink()
    # generated in place: a generator process never calls step (test_live_generate.py has its hand-off)
    pipe = LivePipeline(anim, driver, LiveSettings(width=320, height=180), source_image=portrait,
                        generator_process=False)
    pipe.add_sink(sink)
    with pipe:
        wait_until(lambda: rendered and rendered[-1] == last and pipe.hub.seq == len(rendered),
                   "the script's last frame animated (the animator gets the newest driver frame)")
        assert len(rendered) < last  # most driver frames were skipped, not queued up
        sink.release.set()
        wait_until(lambda: len(sink.frames) >= 2, "a second frame in the sink")
        time.sleep(0.3)
        got = pipe.hub.latest()
        assert got is not None
        seq, newest = got
    assert len(sink.frames) == 2, len(sink.frames)  # no backlog: nothing between the two
    assert newest.index == last and newest.seq == seq == len(rendered)
    assert np.array_equal(sink.frames[1], newest.image)


def test_a_driver_no_clock_paces_is_read_as_fast_as_the_animator_takes_it(
        portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """A video or script read unpaced is not decoded ahead into frames that are only dropped:
    each frame is made once the animator took the last (before, the capture thread decoded
    ten frames for every one animated, on a core the animator needed)."""
    anim = SlowAnimator(real_animator(portrait, portrait_landmarks), cost_s=0.03)
    driver = open_driver("talk", neutral_landmarks=anim.inner.source_landmarks, realtime=False, loop=True)
    assert not driver.live
    pipe = LivePipeline(anim, driver, LiveSettings(width=160, height=96),  # type: ignore[arg-type]
                        source_image=portrait, generator_process=False)
    anim.driver_hub = pipe.driver_hub
    with pipe:
        wait_until(lambda: len(anim.indices) >= 20, "20 animated frames")
        time.sleep(0.2)
    hub = pipe.driver_hub
    assert hub.dropped == 0, hub.dropped
    # the one being animated and at most one made ahead of it
    assert hub.published - len(anim.indices) <= 2, (hub.published, len(anim.indices))
    assert anim.indices == list(range(len(anim.indices)))  # in order, none skipped


def test_pipeline_drops_instead_of_queueing_when_animator_is_slow(portrait: np.ndarray,
                                                                 portrait_landmarks: np.ndarray) -> None:
    # slowed on purpose: ~16 animated frames/s against a 60 fps driver
    anim = SlowAnimator(real_animator(portrait, portrait_landmarks), cost_s=0.06)
    pipe = LivePipeline(anim, script_driver(anim.inner, fps=60),  # type: ignore[arg-type]
                        LiveSettings(width=160, height=96, fps=30), source_image=portrait)
    anim.driver_hub = pipe.driver_hub
    with pipe:
        wait_until(lambda: len(anim.indices) >= 12, "12 animated frames")
    hub = pipe.driver_hub
    indices = anim.indices
    # every driver frame was animated or counted as dropped; at most one was left waiting
    assert hub.published - hub.dropped - len(indices) in (0, 1), (hub.published, hub.dropped, len(indices))
    assert hub.dropped > 0 and pipe.metrics.snapshot()["dropped"]["capture"] > 0
    # the animator always took the newest driver frame, skipping ahead; a queue would hand
    # it every frame in turn (steps of 1) and fall further behind with each
    mean_step = (indices[-1] - indices[0]) / (len(indices) - 1)
    assert mean_step > 1.5, indices
    # …and the frame it got was the newest one: typically none newer had come by the time it
    # started (a frame held back from before the previous step would leave ~3 newer ones)
    assert sorted(anim.newer)[len(anim.newer) // 2] <= 1, anim.newer


def test_animator_errors_do_not_stop_the_pipeline(portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    pipe = real_pipeline(portrait, portrait_landmarks, width=160, height=96, generator_process=False)
    calls = {"n": 0}
    real = pipe.animator.step

    def flaky(frame: DriverFrame) -> np.ndarray:  # the real step, failing every third frame
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("boom")
        return real(frame)

    pipe.animator.step = flaky  # type: ignore[method-assign]
    with caplog.at_level("ERROR", logger="streamfx.live"), pipe:
        frames = next_frames(pipe.hub, 8)
    assert calls["n"] >= 9 and len(frames) == 8
    assert any("animator failed on frame" in r.getMessage() and "boom" in r.getMessage() for r in caplog.records)


def test_failed_driver_falls_back_and_driver_up_says_so(portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    anim = real_animator(portrait, portrait_landmarks)
    driver = UnpluggedDriver(anim.source_landmarks)
    pipe = LivePipeline(anim, driver, LiveSettings(width=160, height=96), source_image=portrait,
                        fallback_driver=lambda: script_driver(anim, "idle"))  # what `streamfx live` falls back to
    assert driver_up(pipe) == ""  # not started: unknown
    with caplog.at_level("WARNING", logger="streamfx.live"), pipe:
        next_frames(pipe.hub, 3)
        assert driver_up(pipe) == "streamfx_driver_up 1"
        driver.unplug.set()
        wait_until(lambda: driver_up(pipe) == "streamfx_driver_up 0", "driver_up 0 after the driver failed")
        wait_until(lambda: "fallback" in pipe.status()["driver"], "the fallback named in the status")
        frames = next_frames(pipe.hub, 30)  # still animating, on the fallback
        PortraitCheck(portrait, portrait_landmarks, out_size=(160, 96)).assert_animated([f.image for f in frames])
        assert pipe.status()["driver_up"] is False
        assert len({f.index for f in frames}) == 30
    said = [r.getMessage() for r in caplog.records]
    assert any("device went away" in m and "driving with ScriptSource instead" in m for m in said), said


def test_failed_driver_without_fallback_holds_and_says_so(portrait: np.ndarray, portrait_landmarks: np.ndarray,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    anim = real_animator(portrait, portrait_landmarks)
    driver = UnpluggedDriver(anim.source_landmarks)
    pipe = LivePipeline(anim, driver, LiveSettings(width=160, height=96), source_image=portrait)
    with caplog.at_level("WARNING", logger="streamfx.live"), pipe:
        next_frames(pipe.hub, 3)
        driver.unplug.set()
        wait_until(lambda: any("holds the last frame" in r.getMessage() for r in caplog.records),
                   "the driver failure logged")
        assert driver_up(pipe) == "streamfx_driver_up 0"
        seq = pipe.hub.seq
        time.sleep(0.3)
        assert pipe.hub.seq - seq <= 1  # held: no new frames (the last one may still be finishing)


def test_swapping_the_driver_brings_driver_up_back(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    anim = real_animator(portrait, portrait_landmarks)
    driver = UnpluggedDriver(anim.source_landmarks)
    pipe = LivePipeline(anim, driver, LiveSettings(width=160, height=96), source_image=portrait)
    with pipe:
        driver.unplug.set()
        wait_until(lambda: pipe.metrics.driver_up is False, "driver_up false after the failure")
        pipe.set_driver(script_driver(anim))
        wait_until(lambda: pipe.metrics.driver_up is True, "driver_up true on the new driver")
        assert pipe.status()["driver"] == "ScriptSource"
        assert len(next_frames(pipe.hub, 5)) == 5


# -- falling behind: one warning, with the fix ----------------------------------------------
def test_falling_behind_fires_once_after_five_seconds_behind() -> None:
    """Readings every 0.5 s (as the CLI takes them): a dip that recovers restarts the clock;
    5 s in a row below 90 % of the target fires once, and never again."""
    alarm = FallingBehind(30.0)
    t = 0.0
    fired = []
    for output in [14.0] * 6 + [29.5] + [14.0] * 20:  # recovered after 3 s, then behind for 10 s
        fired.append(alarm.check(output, capture_fps=30.0, now=t))
        t += 0.5
    assert fired.count(True) == 1
    # the dip before the recovery (3 s) did not count: it fires 5 s after the second dip began
    assert fired.index(True) == 7 + 10


def test_falling_behind_blames_neither_a_slow_driver_nor_no_output() -> None:
    alarm = FallingBehind(30.0)
    # a camera that itself delivers 15 fps: the pipeline keeps up with it, a smaller --size won't help
    assert not any(alarm.check(15.0, capture_fps=15.0, now=i * 0.5) for i in range(40))
    # no output at all (paused, or an animator failing every frame) is no reading
    assert not any(alarm.check(0.0, capture_fps=30.0, now=i * 0.5) for i in range(40))


def run_cli_wait(pipe: LivePipeline, seconds: float) -> None:
    """The live CLI's serving loop (where it reads the metrics), for ``seconds``."""
    from argparse import Namespace

    from streamfx.live.cli import _wait

    asyncio.run(_wait(asyncio.Event(), pipe, Namespace(duration=seconds, stats_every=0.0)))


def falling_behind_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cannot keep up" in r.getMessage()]


def test_live_warns_once_with_the_fix_when_the_output_stays_slow(
        portrait: np.ndarray, portrait_landmarks: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    """The real Animator slowed to ~14 fps (0.06 s a frame on purpose: a machine too small for
    the portrait) under a 30 fps driver and target: after 5 s one warning naming the fix, and
    no second one in the 6 s after."""
    caplog.set_level(logging.WARNING, logger="streamfx.live")
    big = cv2.resize(portrait, (1024, 1024), interpolation=cv2.INTER_CUBIC)  # bigger than a light portrait
    anim = SlowAnimator(real_animator(big, portrait_landmarks * 2.0), cost_s=0.06)
    pipe = LivePipeline(anim, script_driver(anim.inner, fps=30),  # type: ignore[arg-type]
                        LiveSettings(width=1280, height=720, fps=30), source_image=big)
    with pipe:
        wait_until(lambda: pipe.metrics.output.total >= 2, "the first frames")
        run_cli_wait(pipe, 12.0)
    warnings = falling_behind_warnings(caplog)
    assert len(warnings) == 1, warnings
    text = warnings[0]
    assert "below the 30 fps target" in text and "for 5 s" in text
    # the fix, in options the user can type: a smaller --size, a smaller portrait
    assert "--size 854x480" in text and "smaller portrait (this one is animated at 1024x1024" in text and "512 px" in text, text


def test_live_does_not_warn_while_the_output_keeps_up(
        portrait: np.ndarray, portrait_landmarks: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    """The real pipeline at 15 fps target under a 30 fps driver keeps up with room to spare
    even on a loaded machine: 8 s of serving loop, no warning."""
    caplog.set_level(logging.WARNING, logger="streamfx.live")
    pipe = real_pipeline(portrait, portrait_landmarks, width=320, height=180, fps=15.0)
    with pipe:
        wait_until(lambda: pipe.metrics.output.total >= 2, "the first frames")
        run_cli_wait(pipe, 8.0)
        out = pipe.metrics.rates()[1]
    assert out >= 0.9 * 15.0, f"the pipeline did not keep up here ({out:.1f} fps): the test says nothing"
    assert falling_behind_warnings(caplog) == []


def test_the_slow_output_line_names_the_drivers_rate_when_that_is_the_ceiling() -> None:
    """A 25 fps video driver under the default --fps 30: the output can reach 25 at most, so the
    line measures it against that, not against a 30 it could never reach."""
    from types import SimpleNamespace

    from streamfx.live.cli import falling_behind_advice

    pipe = SimpleNamespace(settings=SimpleNamespace(fps=30.0, width=1280, height=720),
                           metrics=SimpleNamespace(snapshot=lambda: {"stage_ms": {"animate": 50.0, "composite": 3.0}}),
                           animator=SimpleNamespace(size=(1024, 1024)))
    text = falling_behind_advice(pipe, 17.0, 5.0, capture_fps=24.9)
    assert "below the 25 fps the driver gives" in text and "30 fps" not in text, text
    assert "below the 30 fps target" in falling_behind_advice(pipe, 17.0, 5.0, capture_fps=30.2)
