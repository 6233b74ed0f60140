"""Offline rendering: a source portrait + a driver → an animated MP4, WebM or GIF.

The render is a pipeline over the cores (issue 16): decoding, tracking (mediapipe's mesh +
alignment) and the track gate + appearance each run on their own thread
(:class:`~streamfx.stages.StageChain`: PyAV, mediapipe and OpenCV release the GIL); the
main thread retargets, in order, and hands each pose to generator worker processes
(:class:`~streamfx.generator_pool.GeneratorPool`: the reference generator holds the GIL, so
threads would not help), then composites and encodes the frames in order. Bounded queues
keep memory flat, and the output is the same bytes with or without workers (``--jobs 0``).

With ``--reference auto`` (the default) or ``best`` a video driver is tracked whole first,
since the reference is chosen from all its frames (the most neutral one, or the one closest
to the source); only its landmarks and appearance are kept meanwhile, not its images. A
motion script's reference is its rest pose, the portrait's own face. Whatever happens — a
truncated driver, Ctrl-C — the output file is closed properly and holds every frame
rendered so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from streamfx.animator import Animator
from streamfx.audio import AUDIO_RATE, AudioFeed, has_audio
from streamfx.compositing import Background, Compositor, parse_background
from streamfx.drivers import check_driver, driver_kind, open_driver
from streamfx.errors import (
    InputError,
    TruncatedInputError,
    refuse_overwriting_inputs,
)
from streamfx.expression import choose_neutral_reference
from streamfx.generator.appearance import DriverAppearance
from streamfx.generator_pool import GeneratorPool, usable_cores
from streamfx.group import FaceChoice, GroupAnimator, make_animator
from streamfx.imageio import load_image
from streamfx.landmarks import load_landmarks
from streamfx.matte import has_alpha
from streamfx.retarget import choose_best_reference
from streamfx.settings import AnimatorSettings
from streamfx.sinks.file import (
    ALPHA_EXTENSIONS,
    AUDIO_CODECS,
    VideoFileSink,
    check_output_path,
    is_image_sequence,
    open_file_sink,
)
from streamfx.sources.base import DriverFrame
from streamfx.stages import StageChain
from streamfx.voice import VoiceSettings

log = logging.getLogger("streamfx")

#: the most generator worker processes a render starts
MAX_JOBS = 32
#: below this many driver frames a render generates on its own thread (see generator_workers)
MIN_POOLED_FRAMES = 150


@dataclass
class RenderJob:
    source: str
    driver: str
    output: str
    landmarks: str | None = None
    max_size: int = 2048
    settings: AnimatorSettings = field(default_factory=AnimatorSettings)
    """Retargeting, the generator's layers and the engine (validated when the render starts)."""
    progress: bool = True
    face: FaceChoice = None
    """Which face of a group photo: a number from the left, "all", or None for the largest."""
    background: str = "auto"
    """What shows behind the portrait (compositing.parse_background): auto keeps the
    portrait's own picture (a portrait with alpha: transparent where the output can carry
    it, else over its blurred self); transparent, #rrggbb, an image, blur or camera (the
    driver video's picture) cut the subject out."""
    audio: str | None = None
    """A soundtrack file for the output, in place of the driver's own sound."""
    keep_audio: bool = True
    """False: a silent output, whatever the driver or ``audio`` holds."""
    voice: VoiceSettings | None = None
    """How a sound driver moves the mouth (gain, noise gate)."""
    jobs: int | None = None
    """Generator worker processes: 0 generates on the render's own thread; None: one per core
    for the ``opencv`` engine when the driver is long enough to repay their start-up
    (:func:`generator_workers`). The output is the same bytes either way."""

    def validate(self) -> RenderJob:
        if self.jobs is not None and not 0 <= self.jobs <= MAX_JOBS:
            raise InputError(f"--jobs must be 0 (no worker processes) to {MAX_JOBS}, not {self.jobs}")
        self.settings.validate()
        check_output_path(self.output)  # before the driver is opened or its sound spoken of
        return self


@dataclass
class RenderResult:
    output: Path
    frames: int
    fps: float
    size: tuple[int, int]
    seconds: float
    faces_lost: int
    stage_ms: dict[str, float]
    """Busy time per frame of each stage: decode, track (mesh + alignment), appearance (track
    gate + what the appearance layers read), retarget, generate (the render's wait for it,
    with worker processes), encode (+ compositing)."""
    workers: int = 0
    """Generator worker processes used (0: generated on the render's thread)."""
    file_size: tuple[int, int] | None = None
    """(width, height) in the file where it differs from ``size`` (an odd side padded for 4:2:0 video)."""
    variable_rate: bool = False
    """The frames keep a variable-rate driver's own times; ``fps`` is then their average."""


def load_source(path: str, max_size: int, landmarks_path: str | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """The portrait (downscaled to max_size with a notice; RGBA when the file has alpha,
    the colour under alpha 0 neutralised) and, if given, its landmarks."""
    image = load_image(path, max_side=max_size, keep_alpha=True)
    if landmarks_path is None:
        return image, None
    lm = load_landmarks(landmarks_path)
    from PIL import Image

    with Image.open(path) as im:  # header only: the landmarks are in the original's pixels
        ow, oh = im.size
    if (ow, oh) != (image.shape[1], image.shape[0]):
        lm = lm * np.float32(image.shape[1] / ow)
    return image, lm


def output_background(spec: str, image: np.ndarray, output: str) -> Background:
    """The background a render composites over: ``spec`` (parse_background), with ``auto``
    resolved for a portrait that has alpha (transparent where ``output`` carries it, else
    the portrait's blurred self — never the colour an editor left under alpha 0)."""
    bg = parse_background(spec)
    if bg.kind == "auto" and has_alpha(image):
        alpha_out = is_image_sequence(output) or Path(output).suffix.lower() in ALPHA_EXTENSIONS
        return Background("transparent" if alpha_out else "blur")
    return bg


def soundtrack(job: RenderJob, notices: list[str] | None = None) -> str | None:
    """The file whose sound goes into the output, or None (with a one-line notice saying why
    when sound is being lost: logged, or added to ``notices`` for the caller to log once the
    job's other inputs passed). An ``audio`` file without sound is an InputError."""
    say = notices.append if notices is not None else log.info
    if not job.keep_audio:
        return None
    ext = Path(job.output).suffix.lower()
    soundless = is_image_sequence(job.output) or ext not in AUDIO_CODECS
    if job.audio is not None:
        from streamfx.audio import require_audio

        require_audio(job.audio, "--audio file")
        track: str | None = job.audio
    elif driver_kind(job.driver) == "audio":
        track = job.driver  # the voice that moves the mouth is heard too
    elif driver_kind(job.driver) == "video":
        track = job.driver if has_audio(job.driver) else None
        if track is None and not soundless:  # (a GIF is silent anyway: nothing to add)
            say(f"the driver '{job.driver}' has no sound, so the output is silent (--audio FILE adds a soundtrack)")
    else:
        track = None
    if track is not None and soundless:
        what = "a PNG sequence has" if is_image_sequence(job.output) else f"{ext.lstrip('.').upper()} files have"
        say(f"{what} no sound: the sound of '{track}' is left out (render to .mp4, .webm or .mov to keep it)")
        return None
    return track


def generator_workers(jobs: int | None, animator: Animator | GroupAnimator, frame_count: int | None) -> int:
    """How many generator worker processes a render uses (0: none).

    Only the ``opencv`` engine uses them: it runs on one core per process (the GIL), while the
    GPU and ONNX Runtime engines parallelise inside. By default (``jobs`` None) one per core,
    when the driver has at least :data:`MIN_POOLED_FRAMES` frames (or an unknown count):
    starting a worker costs about a second of CPU, more than a short clip saves.
    """
    from engines.opencv_engine import OpenCVEngine

    if not isinstance(animator, Animator) or not isinstance(animator.engine, OpenCVEngine):
        return 0
    if jobs is not None:
        return jobs
    cores = usable_cores()
    if cores < 2 or (frame_count is not None and frame_count < MIN_POOLED_FRAMES):
        return 0
    return min(cores, MAX_JOBS)


_UNMEASURED = object()


def tracking_stages(animator: Animator | GroupAnimator, *, keep_images: bool
                    ) -> list[tuple[str, Callable[[Any], Any]]]:
    """The render's driver stages after decoding, each on its own thread (:class:`StageChain`):
    ``track`` (mediapipe's mesh + alignment: its graph runs without the GIL) and
    ``appearance`` (the track gate and what the appearance layers read, in Python and NumPy).
    Each leaves ``frame.landmarks`` as :meth:`Animator.track` gives them (None: no face) and,
    unless ``keep_images``, drops the image (the generator needs landmarks only)."""

    def done(frame: DriverFrame) -> DriverFrame:
        if not keep_images:
            frame.image = None
        return frame

    if not isinstance(animator, Animator):
        def track_all(frame: DriverFrame) -> DriverFrame:
            frame.landmarks = animator.track(frame)
            return done(frame)

        return [("track", track_all)]
    single: Animator = animator

    def measure(frame: DriverFrame) -> tuple[DriverFrame, object]:
        if frame.landmarks is None and frame.image is not None and single.tracks_drivers:
            return frame, single.measure(frame)
        return frame, _UNMEASURED

    def admit(pair: tuple[DriverFrame, object]) -> DriverFrame:
        frame, measured = pair
        if measured is _UNMEASURED:
            frame.landmarks = single.track(frame)
        else:
            assert measured is None or isinstance(measured, np.ndarray)
            frame.landmarks = single.admit(frame, measured)
        return done(frame)

    return [("track", measure), ("appearance", admit)]


def _remove_empty(output: str) -> None:
    """A render stopped before its first frame (Ctrl-C while the driver was being tracked):
    the file holds no picture and would not play, so it is not left behind."""
    path = Path(output)
    if path.is_file():
        path.unlink(missing_ok=True)
        log.info("no frame was rendered yet: '%s' was not kept", output)


def render(job: RenderJob) -> RenderResult:
    t_start = time.perf_counter()
    # before anything is opened: the output file is created (and truncated) right away
    # every file the job reads: the soundtrack and a background image are inputs too
    refuse_overwriting_inputs(job.output, job.source, job.driver, job.landmarks, job.audio, job.background)
    job.validate()
    check_driver(job.driver)  # its header only: a bad driver fails before the models load
    notices: list[str] = []
    track = soundtrack(job, notices)
    image, lm = load_source(job.source, job.max_size, job.landmarks)
    background = output_background(job.background, image, job.output)
    if background.kind == "camera" and driver_kind(job.driver) in ("script", "audio", "mic"):
        raise InputError(f"--background camera shows the driver video's picture, and '{job.driver}' has none "
                         "(a motion script or a voice) — use a video driver or another --background")
    if background.replaces and job.face == "all":
        raise InputError("--face all animates the whole picture; a --background needs one face cut out — "
                         "pick one with --face N")
    animator = make_animator(image, source_landmarks=lm, source_name=job.source, face=job.face,
                             settings=job.settings)
    for notice in notices:  # after the portrait's checks: an error there is the one line
        log.info("%s", notice)
    cut_out = background.replaces and isinstance(animator, Animator)
    if cut_out:
        assert isinstance(animator, Animator)
        animator.use_alpha()  # before any generator worker copies the prepared portrait
    driver = None
    feed: AudioFeed | None = None
    audio_sink: VideoFileSink | None = None  # the sink when it takes the sound (feed is not None)
    h, w = image.shape[:2]
    # the file keeps the portrait's size (odd sizes too: the sink pads them)
    compositor = Compositor(w, h, background=background, any_size=True)
    compositor.set_source(image, animator.source_landmarks)
    try:
        driver = open_driver(job.driver, neutral_landmarks=animator.source_landmarks, voice=job.voice)
        if track is not None:
            # a video driver's own sound starts with its first picture; any other with itself
            feed = AudioFeed(track, what="--audio file" if job.audio else "driver",
                             align_to_video=job.audio is None and driver_kind(job.driver) == "video")
        # alpha and sound together where the container has both (WebM VP9 alpha + Opus,
        # MOV ProRes 4444 + AAC); soundtrack() already left sound out of GIF and PNGs
        sink = open_file_sink(job.output, fps=driver.fps, alpha=background.transparent,
                              audio_rate=AUDIO_RATE if feed else None)
        if feed is not None and isinstance(sink, VideoFileSink):
            audio_sink = sink
        sink.open(w, h, driver.fps)
        file_size = getattr(sink, "file_size", (w, h))
    except BaseException:
        # close what started: mediapipe's threads would otherwise log after our one error line
        if driver is not None:
            driver.close()
        if feed is not None:
            feed.close()
        animator.close()
        raise
    workers = generator_workers(job.jobs, animator, driver.frame_count)
    pool: GeneratorPool | None = None
    chain: StageChain | None = None
    lost = 0
    stage = {"retarget": 0.0, "generate": 0.0, "encode": 0.0}
    truncated: list[TruncatedInputError] = []
    stopped = False  # interrupted or failed: an output without a single frame is removed
    steps: list[float] = []  # the frames' time steps, seconds (a variable-rate driver's vary)
    last_time: float | None = None

    def until_truncated(frames: Iterable[DriverFrame]) -> Iterator[DriverFrame]:
        """The frames that decoded: a truncated driver's are still rendered, then it is reported."""
        try:
            yield from frames
        except TruncatedInputError as e:
            truncated.append(e)

    bar: tqdm[Any] | None = None
    try:
        if workers:
            assert isinstance(animator, Animator)
            # started first: the workers load while the driver is being tracked
            pool = GeneratorPool.of(animator, workers)
            log.debug("generating on %d worker processes", workers)
        chain = StageChain(driver, tracking_stages(animator, keep_images=background.kind == "camera"),
                           source_name="decode")
        frames_in: list[DriverFrame] | None = None
        mode = job.settings.retarget.reference
        if mode == "auto" and driver_kind(job.driver) in ("script", "audio"):
            # a script (or a voice) poses the portrait's own face: its rest pose is that face
            animator.set_reference(animator.source_landmarks)
            log.debug("reference: the motion script's rest pose")
        elif mode in ("auto", "best"):
            # the whole driver is tracked before the first frame can be rendered: say so
            frames_in = list(tqdm(until_truncated(chain), total=driver.frame_count, unit="frame",
                                  disable=not job.progress, desc="tracking the driver", leave=False,
                                  dynamic_ncols=True))
            faces = [f.landmarks for f in frames_in]
            if mode == "best":
                chosen: int | None = choose_best_reference(faces, animator.source_landmarks)
                why = "closest to the source's pose"
            else:
                chosen = choose_neutral_reference(faces)
                why = "the most neutral: mouth closed, eyes open, head at rest"
            ref = faces[chosen] if chosen is not None and frames_in else None
            if ref is not None and chosen is not None:
                animator.set_reference(ref, frames_in[chosen].appearance)
                log.info("reference: driver frame %d (%s)", chosen, why)
        items: Iterable[DriverFrame] = frames_in if frames_in is not None else until_truncated(chain)

        def poses() -> Iterator[tuple[np.ndarray, DriverAppearance | None, DriverFrame]]:
            nonlocal lost
            for item in items:
                lost += item.landmarks is None
                t0 = time.perf_counter()
                assert isinstance(animator, Animator)
                target, look = animator.pose(item, tracked=True)
                stage["retarget"] += time.perf_counter() - t0
                yield target, look, item

        bar = tqdm(total=driver.frame_count, unit="frame", disable=not job.progress, desc="render",
                   leave=False, dynamic_ncols=True)
        frames: Iterator[tuple[np.ndarray, DriverFrame]]
        if pool is not None:
            frames = pool.imap(poses())
        elif isinstance(animator, Animator):
            frames = ((animator.render(t, look), item) for t, look, item in poses())
        else:  # a group photo: its faces' animators step themselves
            frames = ((animator.step(item), item) for item in items)
        while True:
            t0 = time.perf_counter()
            got = next(frames, None)
            t1 = time.perf_counter()
            if got is None:
                break
            out, item = got
            if cut_out:
                out = compositor.compose(out, item.image)
            elif out.shape[2] == 4:
                out = out[..., :3]
            sink.write(out, item.timestamp)  # at the driver's own time: a VFR driver stays in time
            if item.timestamp is not None:
                if last_time is not None:
                    steps.append(item.timestamp - last_time)
                last_time = item.timestamp
            if feed is not None and audio_sink is not None:  # the sound up to this frame's end
                audio_sink.write_audio(feed.take_until(audio_sink.duration))
            stage["generate"] += t1 - t0
            stage["encode"] += time.perf_counter() - t1
            bar.update(1)
    except BaseException:
        stopped = True
        raise
    finally:
        if bar is not None:
            bar.close()
        try:
            if chain is not None:
                chain.close()
            if pool is not None:
                pool.close()
            if feed is not None:  # the sound is trimmed to the picture (close pads a short one)
                if audio_sink is not None:
                    audio_sink.write_audio(feed.take_until(audio_sink.duration))
                feed.close()
        finally:
            sink.close()
            driver.close()
            animator.close()
            if stopped and sink.frames_written == 0:
                _remove_empty(job.output)
    n = sink.frames_written
    if truncated:
        raise TruncatedInputError(f"{truncated[0]} — wrote the {n} frames that decoded to '{job.output}'") from None
    if lost:
        log.info("the driver's face was lost in %d of %d frames (held, then eased to neutral)", lost, n)
    stage["generate"] -= stage["retarget"]  # the poses were made while the render waited for frames
    seconds = {**(chain.seconds if chain is not None else {}), **stage}
    # variable rate: a frame step more than a fifth off the typical one (a constant-rate
    # file's steps differ by its timestamps' rounding only)
    variable = bool(steps) and float(np.ptp(steps)) > 0.2 * float(np.median(steps))
    return RenderResult(output=Path(job.output), frames=n, fps=driver.fps, size=(w, h), variable_rate=variable,
                        seconds=time.perf_counter() - t_start, faces_lost=lost,
                        stage_ms={k: v * 1e3 / max(n, 1) for k, v in seconds.items()}, workers=workers,
                        file_size=None if file_size == (w, h) else file_size)
