"""LivePipeline: driver → animator → output hub → sinks, each stage on its own thread.

    capture thread ──▶ driver hub (1 slot) ──▶ worker thread (Animator + compositing)
                                                   │
                                                   ▼
                                output hub (1 slot) ──▶ sink threads (virtual camera, …)
                                                   └──▶ WebRTC track on the event loop

Every hand-off is a one-slot :class:`LatestFrameHub`: a slow stage sees the newest frame and
the stale one is counted as dropped, so latency never queues up. Tracking, retargeting and
generation all run on the worker thread (never on the asyncio loop serving viewers).

The Animator is not thread-safe, so everything that touches it (settings, calibrate, portrait
swap) is submitted as a command and executed by the worker between two frames.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import cv2
import numpy as np

from streamfx.compositing import FIT_MODES, FRAMES, Compositor, PictureInPicture, check_size
from streamfx.errors import StreamFXError
from streamfx.live.hub import LatestFrameHub, LiveFrame
from streamfx.live.metrics import LiveMetrics
from streamfx.live.pacer import FramePacer
from streamfx.sinks.base import FrameSink
from streamfx.sources.base import DriverFrame, FrameSource
from streamfx.voice import VoiceSettings

#: cores from which live generates in a worker process by default (see wants_generator_process)
PROCESS_MIN_CORES = 4

if TYPE_CHECKING:  # the generator process (and the animator it needs) load only when used
    from streamfx.live.generate import Pose, ProcessGenerator

log = logging.getLogger("streamfx.live")

R = TypeVar("R")


class AnimatorLike(Protocol):
    """What the pipeline needs from :class:`streamfx.animator.Animator`."""

    timings: dict[str, float]
    face_found: bool

    @property
    def size(self) -> tuple[int, int]: ...

    def step(self, frame: DriverFrame) -> np.ndarray: ...
    def calibrate(self) -> None: ...
    def set_source(self, image: np.ndarray, landmarks: np.ndarray | None = None, name: str = "upload") -> None: ...
    def update_settings(self, **kw: Any) -> None: ...
    def settings_dict(self) -> dict: ...


#: Portraits are regenerated every frame at their own resolution: cap it for real time.
LIVE_MAX_SIDE = 1024
#: However small the canvas shows a portrait, it is animated with a long side of at least
#: this many pixels (below it the face has too few for its landmarks and layers).
LIVE_MIN_SIDE = 384
#: A portrait the canvas shows at more than this part of its size is animated at its own
#: size: the saving would not pay for softening it with one more resample.
SHOWN_KEEP = 0.9


@dataclass
class LiveSettings:
    """Output format of the live pipeline (validated here, at the edge)."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    fit: str = "fit"
    background: str = "blur"
    """blur/black/edge: the still fill around the (opaque) portrait; or a cut-out's background:
    transparent, #rrggbb, an image file, camera (compositing.parse_background)."""
    frame: str = "full"
    """full | bust | head: the crop of the portrait around its face (compositing.frame_rect)."""
    pip: PictureInPicture | None = None
    """Picture-in-picture over the performer's camera (None: the portrait fills the canvas)."""

    def __post_init__(self) -> None:
        check_size(self.width, self.height)
        if not (1.0 <= self.fps <= 120.0):
            raise ValueError(f"fps must be between 1 and 120, not {self.fps}")
        if self.fit not in FIT_MODES:
            raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}")
        if self.frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(FRAMES)}, not {self.frame!r}")


def live_compositor(settings: LiveSettings) -> Compositor:
    """The compositor that places a live pipeline's frames on its canvas."""
    return Compositor(settings.width, settings.height, mode=settings.fit, background=settings.background,
                      frame=settings.frame, pip=settings.pip)


def shown_portrait(image: np.ndarray, landmarks: np.ndarray | None, compositor: Compositor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """``image`` (H×W×3 or ×4 uint8) and its ``landmarks`` (N×2+, in its pixels) scaled down
    to the size at which ``compositor`` shows it (:meth:`Compositor.shown_scale`).

    Live output animates the portrait every frame at a cost in proportion to its pixels, then
    the compositor scales the frame to the canvas: a 1024² portrait on a 1280×720 canvas is
    seen at 720², and animating it at 720² halves the work for the same picture (the one
    resample happens once, before the warp, rather than every frame after it). Never below
    :data:`LIVE_MIN_SIDE`; the image itself where it would shrink by less than a tenth.
    """
    h, w = image.shape[:2]
    scale = max(compositor.shown_scale(w, h, landmarks), min(1.0, LIVE_MIN_SIDE / max(w, h)))
    if scale > SHOWN_KEEP:
        return image, landmarks
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if landmarks is None:
        return small, None
    return small, np.asarray(landmarks, np.float32) * np.float32(size[0] / w)  # z scales with x (mediapipe's)


def live_portrait(image: np.ndarray, landmarks: np.ndarray | None, compositor: Compositor, name: str,
                  *, every_face: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`shown_portrait` for a portrait about to be animated live: with a bust or head
    crop and no ``landmarks``, its face is tracked here first (the crop, and so the size it is
    shown at, is found from the face; the animator then takes these landmarks and does not
    track it again) — unless the animator animates ``every_face`` of it, where landmarks would
    pick one. Raises NoFaceError for a portrait without a face (then)."""
    if landmarks is None and compositor.frame != "full" and not every_face:
        from streamfx.tracking import track_portrait

        landmarks = track_portrait(np.ascontiguousarray(image[..., :3]), name)
    return shown_portrait(image, landmarks, compositor)


def _animates_every_face(animator: object) -> bool:
    """Whether ``animator`` animates every face of its portrait (a GroupAnimator): landmarks
    given to its set_source would pick one face."""
    return hasattr(animator, "members")


class LivePipeline:
    """Owns the threads; the web server and CLI drive it through thread-safe methods."""

    def __init__(
        self,
        animator: AnimatorLike,
        driver: FrameSource,
        settings: LiveSettings | None = None,
        *,
        source_image: np.ndarray | None = None,
        metrics: LiveMetrics | None = None,
        fallback_driver: Callable[[], FrameSource] | None = None,
        generator_process: bool | None = None,
    ) -> None:
        """``fallback_driver`` makes the driver that takes over when the chosen one fails
        (a camera unplugged, a video that can no longer be read): without one, the output
        holds the last animated frame. ``generator_process``: generate in a worker process
        (:mod:`streamfx.live.generate`) — None: where it helps (the ``opencv`` engine, two
        cores or more), False: on the animate thread."""
        self.animator = animator
        self.settings = settings or LiveSettings()
        self.metrics = metrics or LiveMetrics()
        self.driver_hub: LatestFrameHub[DriverFrame] = LatestFrameHub()
        self.hub: LatestFrameHub[LiveFrame] = LatestFrameHub()
        self.compositor = live_compositor(self.settings)
        # the portrait as loaded: the animator may animate it smaller (shown_portrait), and a
        # reframe that shows more of it animates it again from this one
        self._portrait = source_image
        if source_image is not None:
            self._show_source()
        self._driver = driver
        self._driver_name = type(driver).__name__
        self._fallback_driver = fallback_driver
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._capture_stop = threading.Event()
        self._paused = threading.Event()
        self._threads: list[threading.Thread] = []
        self._capture_thread: threading.Thread | None = None
        self._sinks: list[_SinkRunner] = []
        self._last_driver: DriverFrame | None = None
        self._errors_logged = 0
        self._generator_process = generator_process
        self._gen: ProcessGenerator | None = None
        self._gen_tried = False
        # compositing and what changes it (portrait swap, framing) never overlap: with a
        # generator process the frames are composited on its receiver thread
        self._frame_lock = threading.RLock()
        self.driver_finished = threading.Event()
        self.source_version = 0
        self.started = False
        self.audio: Any = None
        """The live sound (a streamfx.capture.AudioCapture) that goes out with the picture, or None."""

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self.started:
            return
        self.started = True
        self._start_capture(self._driver)
        worker = threading.Thread(target=self._work, name="streamfx-animate", daemon=True)
        worker.start()
        self._threads.append(worker)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop all threads, close the driver and every sink. Safe to call twice."""
        first = not self._stop.is_set()
        self._stop.set()
        self._capture_stop.set()
        self.driver_hub.close()
        self.hub.close()
        for runner in self._sinks:
            runner.stop()
        for t in [*self._threads, *(r.thread for r in self._sinks)]:
            if t is not None and t is not threading.current_thread():
                t.join(timeout)
        if self._gen is not None:
            self._gen.stop(timeout)
            self._gen = None
        if first:
            self._retire_driver(timeout)
        for runner in self._sinks:
            runner.close()
        self._sinks.clear()

    def __enter__(self) -> LivePipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- driver --------------------------------------------------------------------------
    def _start_capture(self, driver: FrameSource) -> None:
        self._capture_stop = threading.Event()
        self.driver_finished.clear()
        t = threading.Thread(
            target=self._capture, args=(driver, self._capture_stop), name="streamfx-capture", daemon=True
        )
        self._capture_thread = t
        t.start()

    def _capture(self, driver: FrameSource, stop: threading.Event) -> None:
        self.metrics.set_driver_up(True)
        error = self._read(driver, stop)
        if error is not None and not stop.is_set():
            # a camera unplugged, a video that cannot be read any more: say so, and keep
            # the output moving on the fallback (else it holds the last frame)
            self.metrics.set_driver_up(False)
            name = type(driver).__name__
            fallback = self._open_fallback(stop)
            if fallback is None:
                log.error("driver %s stopped: %s — the output holds the last frame", name, error)
            else:
                log.warning("driver %s stopped: %s — driving with %s instead", name, error,
                            type(fallback).__name__)
                self._driver_name = f"{type(fallback).__name__} (fallback: {name} failed)"
                error = self._read(fallback, stop)
                if error is not None and not stop.is_set():
                    log.error("fallback driver stopped too: %s — the output holds the last frame", error)
        if not stop.is_set():
            self.metrics.set_driver_up(False)
            self.driver_finished.set()
            log.info("driver %s finished", self._driver_name)

    def _read(self, driver: FrameSource, stop: threading.Event) -> str | None:
        """Publish ``driver``'s frames until it ends or ``stop``; then close it. The error, if any."""
        # A driver no clock paces (a video read as fast as it decodes) is read as fast as
        # the animator takes its frames: decoding frames that are only dropped would take a
        # core from the stages that make the picture (measured: 365 decoded for 36 shown).
        pull = not driver.live
        try:
            for frame in driver:
                if stop.is_set():
                    break
                self.driver_hub.publish(frame)
                self.metrics.mark_capture()
                while pull and not self.driver_hub.wait_taken(0.1):
                    if stop.is_set() or self.driver_hub.closed:
                        break
        except Exception as e:  # noqa: BLE001 - reported by the caller, which falls back
            return str(e) or type(e).__name__
        finally:
            # close on the thread that reads: camera back-ends dislike cross-thread release
            try:
                driver.close()
            except Exception as e:  # noqa: BLE001
                log.debug("driver close failed: %s", e)
        return None

    def _open_fallback(self, stop: threading.Event) -> FrameSource | None:
        if self._fallback_driver is None or stop.is_set():
            return None
        try:
            return self._fallback_driver()
        except Exception as e:  # noqa: BLE001
            log.error("the fallback driver failed to open: %s", e)
            return None

    def _retire_driver(self, timeout: float) -> None:
        """Stop reading the current driver: its capture thread closes it, or here if it has none."""
        self._capture_stop.set()
        if self._capture_thread is None:
            self._driver.close()  # never handed to a capture thread (not started yet)
        else:
            self._capture_thread.join(timeout)
            self._capture_thread = None

    def set_driver(self, driver: FrameSource, timeout: float = 5.0) -> None:
        """Swap the driver (camera, file, script) without stopping the output."""
        self._retire_driver(timeout)
        self._driver = driver
        self._driver_name = type(driver).__name__
        if self.started and not self._stop.is_set():
            self._start_capture(driver)

    # -- sinks ---------------------------------------------------------------------------
    def add_sink(self, sink: FrameSink, *, repeat: bool | None = None, opened: bool = False) -> None:
        """Open ``sink`` at the output size and feed it from its own thread.

        Raises what ``sink.open`` raises (e.g. DeviceUnavailableError) and then the pipeline
        simply runs without it. ``repeat`` re-sends the last frame when no new one arrives in
        time (cameras must keep ticking); default: True for :attr:`~FrameSink.paced` sinks.
        ``opened``: the caller already opened it at the output size (to fail before the
        slow start-up); the pipeline closes it either way.
        """
        s = self.settings
        if not opened:
            sink.open(s.width, s.height, s.fps)
        runner = _SinkRunner(self, sink, repeat=bool(getattr(sink, "paced", False)) if repeat is None else repeat)
        self._sinks.append(runner)
        runner.start()

    @property
    def sinks(self) -> list[FrameSink]:
        return [r.sink for r in self._sinks]

    # -- commands (run on the worker thread) ---------------------------------------------
    def submit(self, fn: Callable[[], R]) -> concurrent.futures.Future[R]:
        """Run ``fn`` on the worker thread between frames; returns a Future of its result."""
        fut: concurrent.futures.Future[R] = concurrent.futures.Future()

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)

        if self._stop.is_set() or not self.started:
            run()  # no worker (not started / stopped): run inline
        else:
            self._commands.put(run)
        return fut

    def set_source(self, image: np.ndarray, landmarks: np.ndarray | None = None, *,
                   name: str | None = None) -> concurrent.futures.Future[None]:
        """Swap the portrait live; the Future raises NoFaceError (old portrait kept) if it has no face."""

        def swap() -> None:
            shown, lm = live_portrait(image, landmarks, self.compositor, name or "upload",
                                      every_face=_animates_every_face(self.animator))
            if name is not None:
                self.animator.set_source(shown, lm, name=name)
            else:
                self.animator.set_source(shown, lm)
            self._portrait = image
            self._show_source()
            self.source_version += 1
            # (not its name: the web server logs that, cleaned of anything a name could forge)
            log.info("new portrait (%dx%d) animated at %dx%d", image.shape[1], image.shape[0], shown.shape[1], shown.shape[0])

        return self.submit(swap)

    def set_frame(self, frame: str) -> concurrent.futures.Future[None]:
        """Reframe the output (full | bust | head) between two frames; the Future raises
        ValueError for anything else. Where the new framing shows the portrait at another
        size, it is animated again at that size (a pause of one portrait preparation)."""

        def reframe() -> None:
            self.compositor.set_frame(frame)
            self.settings.frame = frame
            self._refit_source()

        return self.submit(reframe)

    def _show_source(self) -> None:
        """Give the compositor the portrait as animated (its crop is in those pixels)."""
        image = getattr(self.animator, "source_image", self._portrait)
        if image is not None:
            self.compositor.set_source(image, getattr(self.animator, "source_landmarks", None))

    def _refit_source(self) -> None:
        """Animate the loaded portrait again if the compositor now shows it at another size."""
        portrait, animated = self._portrait, getattr(self.animator, "source_image", None)
        landmarks = getattr(self.animator, "source_landmarks", None)
        if portrait is None or animated is None or landmarks is None:
            return
        now = animated.shape[1] / portrait.shape[1]
        shown, lm = shown_portrait(portrait, landmarks / np.float32(now), self.compositor)
        if shown.shape == animated.shape:
            return
        # a group animates every face it finds (landmarks would pick just one); a single
        # face keeps the one chosen (--face, --landmarks) without tracking it again
        group = _animates_every_face(self.animator)
        self.animator.set_source(shown, None if group else lm, name=getattr(self.animator, "source_name", "upload"))
        log.info("portrait animated at %dx%d for the %s framing", shown.shape[1], shown.shape[0], self.settings.frame)
        self._show_source()
        self.source_version += 1

    def calibrate(self) -> concurrent.futures.Future[None]:
        return self.submit(self.animator.calibrate)

    def update_settings(self, **kw: Any) -> concurrent.futures.Future[dict]:
        def apply() -> dict:
            self.animator.update_settings(**kw)
            return self.animator.settings_dict()

        return self.submit(apply)

    def settings_dict(self) -> concurrent.futures.Future[dict]:
        return self.submit(self.animator.settings_dict)

    @property
    def voice(self) -> VoiceSettings | None:
        """The settings of the voice moving the mouth (a voice or webcam+mic driver), else None.
        The driver reads them afresh for every frame, so changing a field applies at once."""
        settings = getattr(self._driver, "voice_settings", None)
        return settings if isinstance(settings, VoiceSettings) else None

    def update_voice(self, *, gain: float | None = None, gate_db: float | None = None) -> VoiceSettings:
        """Change the voice's gain (0–3) and noise gate (dBFS, -90…-10) live; a
        :class:`StreamFXError` when the driver is no voice or a value is out of range."""
        voice = self.voice
        if voice is None:
            raise StreamFXError("voice_gain and voice_gate need a voice driver (--driver voice.wav, mic or webcam+mic)")
        new = replace(voice, gain=voice.gain if gain is None else gain,
                      gate_db=voice.gate_db if gate_db is None else gate_db)
        new.validate()
        # in place: the driver's VoiceMouth holds this object (validated whole first, above)
        voice.gain, voice.gate_db = new.gain, new.gate_db
        return voice

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        """Paused: the output freezes on the last frame (sinks keep ticking), no animation work."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def status(self) -> dict:
        return {
            "paused": self.paused,
            "face_found": bool(getattr(self.animator, "face_found", True)),
            "driver": self._driver_name,
            "driver_up": bool(self.metrics.driver_up),
            "driver_finished": self.driver_finished.is_set(),
            "output_size": [self.settings.width, self.settings.height],
            "fps": self.settings.fps,
            "sinks": [r.sink.name for r in self._sinks],
            "source_version": self.source_version,
            "generator_process": self._gen is not None and self._gen.alive,
        }

    # -- worker --------------------------------------------------------------------------
    def _run_commands(self) -> bool:
        ran = False
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return ran
            with self._frame_lock:
                cmd()
            ran = True

    def _work(self) -> None:
        seq = 0
        while not self._stop.is_set():
            changed = self._run_commands()
            if self._paused.is_set():
                # Re-render once after a change so a swapped portrait shows while paused.
                if changed and self._last_driver is not None:
                    self._render(self._last_driver)
                time.sleep(0.02)
                # keep the driver slot drained so resuming starts from a fresh frame
                got = self.driver_hub.latest()
                seq = got[0] if got else seq
                continue
            got = self.driver_hub.wait_newer(seq, timeout=0.05)
            if got is None:
                if changed and self._last_driver is not None:
                    self._render(self._last_driver)
                continue
            seq, frame = got
            self._last_driver = frame
            self._render(frame)
        self._run_commands()  # fail nobody's Future silently

    def _render(self, frame: DriverFrame) -> None:
        t0 = time.perf_counter()
        comp = self.compositor
        # a cut-out background needs the subject's alpha, moved with the face (and a portrait
        # with its own alpha always comes cut out: what lies under its alpha 0 is no picture)
        cut = comp.wants_alpha or getattr(self.animator, "with_alpha", False)
        camera = frame.image if comp.wants_camera else None
        gen = self._process_generator(cut)
        if gen is not None:
            from streamfx.live.generate import Pose

            try:
                target, look = gen.animator.pose(frame)
            except Exception as e:  # one bad frame must not end the show
                self._log_failure(frame, e)
                return
            stages = {k: float(v) for k, v in gen.animator.timings.items()}
            stages["animate"] = (time.perf_counter() - t0) * 1000
            gen.put(Pose(target, look, frame, camera, t0, self.source_version, cut, stages,
                         while_paused=self._paused.is_set()))
            self.metrics.set_dropped("capture", self.driver_hub.dropped)
            return
        step_rgba = getattr(self.animator, "step_rgba", None) if cut else None
        try:
            image = step_rgba(frame) if step_rgba is not None else self.animator.step(frame)
        except Exception as e:  # one bad frame must not end the show
            self._log_failure(frame, e)
            return
        t1 = time.perf_counter()
        stages = {k: float(v) for k, v in getattr(self.animator, "timings", {}).items()}
        stages["animate"] = (t1 - t0) * 1000
        self._publish(image, camera, frame, stages)

    def _log_failure(self, frame: DriverFrame, e: Exception) -> None:
        self._errors_logged += 1
        if self._errors_logged <= 5 or self._errors_logged % 100 == 0:
            log.exception("animator failed on frame %d (%d so far): %s", frame.index, self._errors_logged, e)

    def _publish(self, image: np.ndarray, camera: np.ndarray | None, frame: DriverFrame,
                 stages: dict[str, float]) -> None:
        with self._frame_lock:
            t1 = time.perf_counter()
            canvas = self.compositor.compose(image, camera)
            t2 = time.perf_counter()
            stages["composite"] = (t2 - t1) * 1000
            # the worker is the hub's only publisher, so the frame knows the seq it will get
            self.hub.publish(LiveFrame(self.hub.seq + 1, canvas, frame.captured_at, t2, frame.index))
        self.metrics.mark_output(stages)
        self.metrics.set_dropped("capture", self.driver_hub.dropped)
        self.metrics.set_dropped("output", self.hub.dropped)

    # -- the generator in a worker process (streamfx.live.generate) -----------------------
    def _process_generator(self, cut: bool) -> ProcessGenerator | None:
        """The worker-process generator, started on first use where it helps; None: generate
        here (not wanted, not a single-portrait opencv animator, or it failed)."""
        gen = self._gen
        if gen is not None and not gen.alive:
            gen.stop()
            self._gen = gen = None
        if gen is not None or self._gen_tried:
            if gen is not None and cut:
                gen.animator.use_alpha()
            return gen
        self._gen_tried = True
        if not wants_generator_process(self._generator_process, self.animator):
            return None
        from streamfx.animator import Animator
        from streamfx.live.generate import ProcessGenerator

        animator = self.animator
        assert isinstance(animator, Animator)
        if cut:
            animator.use_alpha()  # before the worker copies the portrait
        try:
            self._gen = ProcessGenerator(animator, self._generated, self._generator_failed,
                                         lambda: self.source_version)
        except Exception as e:  # noqa: BLE001 - the animate thread can still generate
            log.warning("could not start the generator process (%s): generating on the animate thread", e)
            return None
        log.debug("live: generating in a worker process")
        return self._gen

    def _generated(self, image: np.ndarray, pose: Pose) -> None:
        """A frame from the worker (on its receiver thread): composite and publish it."""
        if not pose.cut and image.shape[2] == 4:
            image = image[..., :3]
        with self._frame_lock:  # a swap can't slip in between this check and the composite
            if pose.version != self.source_version:
                return  # rendered for the portrait before a swap
            if self._paused.is_set() and not pose.while_paused:
                return  # posed before the pause: the output stays frozen
            try:
                self._publish(image, pose.camera, pose.frame, pose.stages)
            except Exception as e:  # noqa: BLE001 - one bad frame must not end the show
                self._log_failure(pose.frame, e)

    def _generator_failed(self, e: BaseException) -> None:
        log.warning("the generator process failed (%s): generating on the animate thread from now on",
                    str(e).splitlines()[0])


def wants_generator_process(requested: bool | None, animator: object) -> bool:
    """Whether live generates in a worker process: asked for, or (None) by default where it
    helps — a single-portrait animator on the ``opencv`` engine (the GPU and ONNX Runtime
    engines run outside the GIL already) with :data:`PROCESS_MIN_CORES` cores or more.

    Measured on 2 cores (scripts/bench_live.py, 720p, VP8 + virtual camera): the worker
    raises the unpaced throughput by a third (512²: 31 → 42 fps; 1145²: 20 → 27 fps) but
    the paced motion-to-output p95 grows (512²: 25 → 48 ms), because the worker takes the
    core that tracking and encoding needed. With more cores it has one of its own."""
    from engines.opencv_engine import OpenCVEngine
    from streamfx.animator import Animator

    if requested is False or not isinstance(animator, Animator):
        return False
    if not isinstance(animator.engine, OpenCVEngine):
        if requested:
            log.info("--generator-process is for the opencv engine: the %s engine generates in place",
                     animator.engine.name)
        return False
    if requested:
        return True
    from streamfx.generator_pool import usable_cores

    return usable_cores() >= PROCESS_MIN_CORES


class _SinkRunner:
    """Feeds one FrameSink from the output hub on its own thread."""

    def __init__(self, pipeline: LivePipeline, sink: FrameSink, *, repeat: bool) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.repeat = repeat
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.errors = 0

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"streamfx-sink-{self.sink.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        try:
            self.sink.close()
        except Exception as e:  # noqa: BLE001
            log.warning("closing sink %s failed: %s", self.sink.name, e)

    def _run(self) -> None:
        hub, metrics, name = self.pipeline.hub, self.pipeline.metrics, self.sink.name
        interval = 1.0 / self.pipeline.settings.fps
        alpha = getattr(self.sink, "accepts_alpha", False)
        seq = 0
        last: LiveFrame | None = None
        pacer = FramePacer(self.pipeline.settings.fps) if getattr(self.sink, "paced", False) else None
        written = -1e9  # perf_counter of the last write
        was_fresh = True
        while not self._stop.is_set():
            timeout = 0.5
            if pacer is not None:
                # A device with a frame rate gets the newest frame the moment it is there,
                # no faster than its rate (FramePacer: not a clock of its own, whose phase
                # against the animator's would add up to an interval of latency). With
                # nothing new half an interval after it was due, the last frame goes again
                # so the device keeps its rate (and, while nothing comes, once an interval).
                wait = pacer.earliest() - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if self.repeat and last is not None:  # only a frame to repeat bounds the wait:
                    # before the first one (or for a sink that never repeats) a zero timeout
                    # spun this thread at a whole core, and on two cores the animator's first
                    # frame took 3 s instead of 20 ms
                    grace = 1.5 if was_fresh else 1.0
                    timeout = max(0.0, written + grace * interval - time.perf_counter())
            got = hub.wait_newer(seq, timeout=timeout)
            if hub.closed:
                break
            fresh = got is not None
            if got is not None:
                seq, last = got
            elif not (self.repeat and last is not None):
                continue
            assert last is not None
            try:
                # sinks without alpha share one flattened copy of a transparent canvas; a
                # recorder places frames at the moment they show (in sync with its sound)
                when = last.captured_at if getattr(self.sink, "capture_time", False) else last.produced_at
                self.sink.write(last.image if alpha else last.rgb, when)
            except Exception as e:  # noqa: BLE001 - one failing sink must not stop the others
                self.errors += 1
                metrics.sink_error(name)
                if self.errors <= 3:
                    log.error("sink %s failed: %s", name, e)
                time.sleep(interval)
                continue
            written, was_fresh = time.perf_counter(), fresh
            if pacer is not None:
                pacer.sent(written)
            metrics.mark_sink(name, last.captured_at if fresh else None)
