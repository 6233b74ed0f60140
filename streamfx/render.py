"""Offline rendering: a source portrait + a driver → an animated MP4, WebM or GIF.

Two stages run concurrently: decoding + tracking the driver, and retargeting + generating +
encoding the animation (cv2, PyAV and mediapipe release the GIL, so the two cores both
work). With ``--reference auto`` (the default) or ``best`` a video driver is tracked whole
first, since the reference is chosen from all its frames (the most neutral one, or the one
closest to the source); only its landmarks are kept meanwhile (≈ 6 kB a frame), not its
images. A motion script's reference is its rest pose, the portrait's own face. Whatever happens — a truncated driver, Ctrl-C — the output
file is closed properly and holds every frame rendered so far.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streamfx.animator import Animator
from streamfx.audio import AUDIO_RATE, AudioFeed, has_audio
from streamfx.compositing import Background, Compositor, parse_background
from streamfx.drivers import check_driver, driver_kind, open_driver
from streamfx.errors import (
    InputError,
    StreamFXError,
    TruncatedInputError,
    refuse_overwriting_inputs,
)
from streamfx.expression import choose_neutral_reference
from streamfx.group import FaceChoice, make_animator
from streamfx.imageio import load_image
from streamfx.landmarks import load_landmarks
from streamfx.matte import has_alpha
from streamfx.retarget import choose_best_reference
from streamfx.settings import AnimatorSettings
from streamfx.sinks.file import (
    ALPHA_EXTENSIONS,
    AUDIO_CODECS,
    VideoFileSink,
    is_image_sequence,
    open_file_sink,
)
from streamfx.sources.base import DriverFrame
from streamfx.voice import VoiceSettings

log = logging.getLogger("streamfx")


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


@dataclass
class RenderResult:
    output: Path
    frames: int
    fps: float
    size: tuple[int, int]
    seconds: float
    faces_lost: int
    stage_ms: dict[str, float]


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


def soundtrack(job: RenderJob) -> str | None:
    """The file whose sound goes into the output, or None (with a one-line notice saying why
    when sound is being lost). An ``audio`` file without sound is an InputError."""
    if not job.keep_audio:
        return None
    if job.audio is not None:
        from streamfx.audio import require_audio

        require_audio(job.audio, "--audio file")
        track: str | None = job.audio
    elif driver_kind(job.driver) == "audio":
        track = job.driver  # the voice that moves the mouth is heard too
    elif driver_kind(job.driver) == "video":
        track = job.driver if has_audio(job.driver) else None
        if track is None:
            log.info("the driver '%s' has no sound, so the output is silent (--audio FILE adds a soundtrack)",
                     job.driver)
    else:
        track = None
    ext = Path(job.output).suffix.lower()
    if track is not None and (is_image_sequence(job.output) or ext not in AUDIO_CODECS):
        what = "a PNG sequence has" if is_image_sequence(job.output) else f"{ext.lstrip('.').upper()} files have"
        log.info("%s no sound: the sound of '%s' is left out (render to .mp4, .webm or .mov to keep it)",
                 what, track)
        return None
    return track


def render(job: RenderJob) -> RenderResult:
    t_start = time.perf_counter()
    # before anything is opened: the output file is created (and truncated) right away
    refuse_overwriting_inputs(job.output, job.source, job.driver, job.landmarks)
    job.settings.validate()
    check_driver(job.driver)  # its header only: a bad driver fails before the models load
    track = soundtrack(job)
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
    cut_out = background.replaces and isinstance(animator, Animator)
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
    except BaseException:
        # close what started: mediapipe's threads would otherwise log after our one error line
        if driver is not None:
            driver.close()
        if feed is not None:
            feed.close()
        animator.close()
        raise
    tracked: queue.Queue[DriverFrame | None] = queue.Queue(maxsize=64)  # None ends the stream
    failure: list[BaseException] = []
    stop = threading.Event()
    stage = {"decode": 0.0, "track": 0.0, "generate": 0.0, "encode": 0.0}

    def produce() -> None:
        try:
            it = iter(driver)
            while not stop.is_set():
                t0 = time.perf_counter()
                frame = next(it, None)
                t1 = time.perf_counter()
                if frame is None:
                    break
                lm_d = animator.track(frame)
                stage["decode"] += t1 - t0
                stage["track"] += time.perf_counter() - t1
                if background.kind != "camera":
                    frame.image = None  # the generator needs landmarks only
                frame.landmarks = lm_d
                tracked.put(frame)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer thread
            failure.append(e)
        finally:
            tracked.put(None)

    producer = threading.Thread(target=produce, name="driver", daemon=True)
    producer.start()
    frames_in: list[DriverFrame] | None = None
    mode = job.settings.retarget.reference
    if mode == "auto" and driver_kind(job.driver) in ("script", "audio"):
        # a script (or a voice) poses the portrait's own face: its rest pose is that face
        animator.set_reference(animator.source_landmarks)
        log.debug("reference: the motion script's rest pose")
    elif mode in ("auto", "best"):
        frames_in = list(iter(tracked.get, None))
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

    items: Iterable[DriverFrame] = frames_in if frames_in is not None else iter(tracked.get, None)

    lost = 0
    bar = tqdm(total=driver.frame_count, unit="frame", disable=not job.progress, desc="render",
               leave=False, dynamic_ncols=True)
    try:
        for item in items:
            t0 = time.perf_counter()
            lost += item.landmarks is None
            if cut_out:
                assert isinstance(animator, Animator)
                out = compositor.compose(animator.step_rgba(item), item.image)
            else:
                out = animator.step(item)
            t1 = time.perf_counter()
            sink.write(out, item.timestamp)  # at the driver's own time: a VFR driver stays in time
            if feed is not None and audio_sink is not None:  # the sound up to this frame's end
                audio_sink.write_audio(feed.take_until(audio_sink.duration))
            stage["generate"] += t1 - t0
            stage["encode"] += time.perf_counter() - t1
            bar.update(1)
    finally:
        stop.set()
        bar.close()
        try:
            if feed is not None:  # the sound is trimmed to the picture (close pads a short one)
                if audio_sink is not None:
                    audio_sink.write_audio(feed.take_until(audio_sink.duration))
                feed.close()
        finally:
            sink.close()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                tracked.get_nowait()
            except queue.Empty:
                producer.join(0.05)
        driver.close()
        animator.close()
    n = sink.frames_written
    if failure:
        err = failure[0]
        if isinstance(err, TruncatedInputError):
            raise TruncatedInputError(f"{err} — wrote the {n} frames that decoded to '{job.output}'") from None
        if isinstance(err, StreamFXError):
            raise err
        raise err
    if lost:
        log.info("the driver's face was lost in %d of %d frames (held, then eased to neutral)", lost, n)
    return RenderResult(output=Path(job.output), frames=n, fps=driver.fps, size=(w, h),
                        seconds=time.perf_counter() - t_start, faces_lost=lost,
                        stage_ms={k: v * 1e3 / max(n, 1) for k, v in stage.items()})
