"""Live generation in a worker process (issue 16): the newest pose wins, settings and portrait
swaps reach the worker, and a worker that dies hands the work back to the animate thread.

Real Animator, real worker processes (spawned), real motion-script drivers; nothing mocked.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace

import numpy as np
import pytest

from streamfx.animator import Animator
from streamfx.drivers import open_driver
from streamfx.generator_pool import GeneratorPool
from streamfx.live.pipeline import (
    PROCESS_MIN_CORES,
    LivePipeline,
    LiveSettings,
    wants_generator_process,
)
from tests.picture import PortraitCheck
from tests.test_live_pipeline import (
    WAIT,
    mirrored,
    next_frames,
    real_animator,
    real_pipeline,
    wait_until,
)


def _pool(animator: Animator) -> GeneratorPool:
    return GeneratorPool.of(animator, workers=1, depth=2)


def test_live_settings_and_a_new_portrait_reach_the_worker(portrait: np.ndarray,
                                                           portrait_landmarks: np.ndarray) -> None:
    anim = real_animator(portrait, portrait_landmarks)
    target = anim.source_landmarks.copy()
    target[14:18, 1] += 6.0  # a pose with the mouth opened a little
    sharp = replace(anim.generator_settings, sharpen=1.0)
    with _pool(anim) as pool:
        pool.submit(target, None, settings=anim.generator_settings)
        plain_frame = pool.receive(WAIT)[0].copy()  # type: ignore[index]
        pool.submit(target, None, settings=sharp)  # a live toggle: sent with the next pose
        sharp_frame = pool.receive(WAIT)[0].copy()  # type: ignore[index]
        assert np.array_equal(plain_frame, anim.render(target, None))
        anim.update_settings(sharpen=1.0)
        assert np.array_equal(sharp_frame, anim.render(target, None))
        assert not np.array_equal(plain_frame, sharp_frame)

        other, other_lm = mirrored(portrait, portrait_landmarks)
        anim.set_source(other, other_lm)
        assert anim.engine.src is not None
        pool.release()  # the swap waits for the frame held to be let go (live: the receiver's next receive)
        pool.set_source(anim.engine.src, anim.frame_shape())
        pool.submit(anim.source_landmarks, None, settings=anim.generator_settings)
        swapped = pool.receive(WAIT)[0].copy()  # type: ignore[index]
        assert np.array_equal(swapped, anim.render(anim.source_landmarks, None))
    anim.close()


def test_the_worker_takes_the_newest_pose_not_a_backlog(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    anim = real_animator(portrait, portrait_landmarks)
    # the talk script unpaced: 240 frames as fast as they come, far faster than the worker renders
    driver = open_driver("talk", neutral_landmarks=anim.source_landmarks, realtime=False, loop=False)
    last = (driver.frame_count or 0) - 1
    pipe = LivePipeline(anim, driver, LiveSettings(width=320, height=180), source_image=portrait,
                        generator_process=True)
    with pipe:
        wait_until(lambda: (pipe.hub.latest() or (0, None))[1] is not None
                   and pipe.hub.latest()[1].index == last,  # type: ignore[index]
                   "the script's last frame animated (the worker gets the newest pose)")
        assert pipe.status()["generator_process"] is True
        published = pipe.hub.published
    assert last == 239 and published < last, f"{published} frames for {last + 1} poses: poses queued up"


def test_a_dead_worker_hands_the_work_back_to_the_animate_thread(portrait: np.ndarray,
                                                                 portrait_landmarks: np.ndarray,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    pipe = real_pipeline(portrait, portrait_landmarks, generator_process=True)
    with caplog.at_level("WARNING", logger="streamfx.live"), pipe:
        next_frames(pipe.hub, 5)
        assert pipe.status()["generator_process"] is True
        gen = pipe._gen
        assert gen is not None
        os.kill(gen.pool._procs[0].pid, signal.SIGKILL)  # as the OOM killer would
        wait_until(lambda: not pipe.status()["generator_process"], "the failure noticed")
        after = [lf.image for lf in next_frames(pipe.hub, 30)]  # the show goes on, generated in place
    PortraitCheck(portrait, portrait_landmarks, out_size=(320, 180)).assert_animated(after)
    assert any("generator process failed" in r.getMessage() for r in caplog.records)


def test_the_generator_process_is_used_where_it_helps(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    anim = real_animator(portrait, portrait_landmarks)
    cores = len(os.sched_getaffinity(0))
    assert wants_generator_process(None, anim) == (cores >= PROCESS_MIN_CORES)
    assert wants_generator_process(True, anim) and not wants_generator_process(False, anim)
    assert not wants_generator_process(True, object())  # a group photo or another animator: in place
    anim.close()
