"""Offline rendering: a source portrait + a driver → an animated MP4, WebM or GIF.

Two stages run concurrently: decoding + tracking the driver, and retargeting + generating +
encoding the animation (cv2, PyAV and mediapipe release the GIL, so the two cores both
work). With ``--reference best`` the whole driver is tracked first, since the reference
is chosen from all its frames. Whatever happens — a truncated driver, Ctrl-C — the output
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

from streamfx.drivers import check_driver, open_driver
from streamfx.errors import StreamFXError, TruncatedInputError, refuse_overwriting_inputs
from streamfx.group import FaceChoice, make_animator
from streamfx.imageio import load_image
from streamfx.landmarks import load_landmarks
from streamfx.retarget import choose_best_reference
from streamfx.settings import AnimatorSettings
from streamfx.sinks.file import VideoFileSink
from streamfx.sources.base import DriverFrame

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
    """The portrait (downscaled to max_size with a notice) and, if given, its landmarks."""
    image = load_image(path, max_side=max_size)
    if landmarks_path is None:
        return image, None
    lm = load_landmarks(landmarks_path)
    from PIL import Image

    with Image.open(path) as im:  # header only: the landmarks are in the original's pixels
        ow, oh = im.size
    if (ow, oh) != (image.shape[1], image.shape[0]):
        lm = lm * np.float32(image.shape[1] / ow)
    return image, lm


def render(job: RenderJob) -> RenderResult:
    t_start = time.perf_counter()
    # before anything is opened: the output file is created (and truncated) right away
    refuse_overwriting_inputs(job.output, job.source, job.driver, job.landmarks)
    job.settings.validate()
    check_driver(job.driver)  # its header only: a bad driver fails before the models load
    image, lm = load_source(job.source, job.max_size, job.landmarks)
    animator = make_animator(image, source_landmarks=lm, source_name=job.source, face=job.face,
                             settings=job.settings)
    driver = None
    h, w = image.shape[:2]
    try:
        driver = open_driver(job.driver, neutral_landmarks=animator.source_landmarks)
        sink = VideoFileSink(job.output, fps=driver.fps)
        sink.open(w, h, driver.fps)
    except BaseException:
        # close what started: mediapipe's threads would otherwise log after our one error line
        if driver is not None:
            driver.close()
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
    if job.settings.retarget.reference == "best":
        frames_in = list(iter(tracked.get, None))
        best = choose_best_reference([f.landmarks for f in frames_in], animator.source_landmarks)
        ref = frames_in[best].landmarks if frames_in else None
        if ref is not None:
            animator.set_reference(ref, frames_in[best].appearance)  # its look too: creases are measured against it
            log.info("reference: driver frame %d (closest to the source's pose)", best)

    items: Iterable[DriverFrame] = frames_in if frames_in is not None else iter(tracked.get, None)

    lost = 0
    bar = tqdm(total=driver.frame_count, unit="frame", disable=not job.progress, desc="render",
               leave=False, dynamic_ncols=True)
    try:
        for item in items:
            t0 = time.perf_counter()
            lost += item.landmarks is None
            out = animator.step(item)
            t1 = time.perf_counter()
            sink.write(out)
            stage["generate"] += t1 - t0
            stage["encode"] += time.perf_counter() - t1
            bar.update(1)
    finally:
        stop.set()
        bar.close()
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
