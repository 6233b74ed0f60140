"""The pipelined render (issue 16): stages on threads, the generator in worker processes.

Everything here is real: PyAV decodes and encodes, mediapipe tracks, the workers are real
processes rendering with the reference engine. Nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from streamfx.animator import Animator
from streamfx.generator_pool import GeneratorPool, GeneratorWorkerError
from streamfx.render import RenderJob, generator_workers, render
from streamfx.stages import StageChain
from tests.conftest import media
from tests.picture import PortraitCheck, read_video


@pytest.fixture(scope="module")
def astronaut(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> PortraitCheck:
    return PortraitCheck(portrait, portrait_landmarks)


@pytest.fixture(scope="module")
def short_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1.5 s of a talking-head clip (a real face: mediapipe tracks it)."""
    src = media("driving", "lp_d3.mp4")
    dst = tmp_path_factory.mktemp("driver") / "short.mp4"
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 256, 256, "yuv420p"
        for i, f in enumerate(inp.decode(video=0)):
            if i == 45:
                break
            img = f.to_ndarray(format="rgb24")
            import cv2

            img = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return dst


# ---- the stage chain ------------------------------------------------------------------------
def test_the_stage_chain_keeps_the_order_and_every_item() -> None:
    def slow_odd(x: int) -> int:
        if x % 2:
            time.sleep(0.002)
        return x * 10

    with StageChain(range(200), [("a", slow_odd), ("b", lambda x: x + 1)], maxsize=3) as chain:
        assert list(chain) == [x * 10 + 1 for x in range(200)]
    assert set(chain.seconds) == {"source", "a", "b"} and chain.seconds["a"] > 0


def test_a_failing_stage_hands_out_what_was_through_then_raises_and_stops_every_thread() -> None:
    def boom(x: int) -> int:
        if x == 50:
            raise ValueError("bad item 50")
        return x

    before = threading.active_count()
    got: list[int] = []
    chain = StageChain(iter(range(10_000)), [("a", boom), ("b", lambda x: x)], maxsize=4)
    with pytest.raises(ValueError, match="bad item 50"):
        for x in chain:
            got.append(x)
    chain.close()
    assert got == list(range(len(got))) and len(got) <= 50
    assert threading.active_count() == before, "the chain's threads must end"


def test_a_consumer_that_stops_early_does_not_leave_threads_behind() -> None:
    before = threading.active_count()
    with StageChain(iter(range(10**9)), [("a", lambda x: x)], maxsize=2) as chain:
        for x in chain:
            if x == 10:
                break
    assert threading.active_count() == before


# ---- the generator pool ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def animator(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> Iterator[Animator]:
    a = Animator(portrait, source_landmarks=portrait_landmarks, track_drivers=False)
    yield a
    a.close()


def _pool(animator: Animator, workers: int = 2) -> GeneratorPool:
    return GeneratorPool.of(animator, workers)


def test_workers_render_the_same_frames_as_the_engine_in_order(animator: Animator) -> None:
    rng = np.random.default_rng(0)
    base = animator.source_landmarks
    targets = [base + rng.normal(0, 2.0, base.shape).astype(np.float32) * (i % 3) for i in range(9)]
    with _pool(animator, workers=2) as pool:
        got = [(frame.copy(), tag) for frame, tag in pool.imap((t, None, i) for i, t in enumerate(targets))]
    assert [tag for _, tag in got] == list(range(9))
    for (frame, _), t in zip(got, targets, strict=True):
        assert np.array_equal(frame, animator.render(t, None))
    assert not np.array_equal(got[0][0], got[1][0]), "different poses must give different frames"


def test_a_worker_error_reaches_the_render_with_its_traceback(animator: Animator) -> None:
    bad = np.zeros((10, 3), np.float32)  # the engine wants 478 landmarks
    with _pool(animator, workers=1) as pool, pytest.raises(GeneratorWorkerError, match="478"):
        list(pool.imap([(animator.source_landmarks, None, 0), (bad, None, 1)]))


def test_a_worker_that_dies_is_an_error_not_a_hang(animator: Animator) -> None:
    pool = _pool(animator, workers=2)
    try:
        frames = pool.imap((animator.source_landmarks, None, i) for i in range(1000))
        next(frames)
        os.kill(pool._procs[1].pid, signal.SIGKILL)  # as the OOM killer would
        t = time.monotonic()
        with pytest.raises(GeneratorWorkerError, match="stopped"):
            for _ in frames:
                pass
        assert time.monotonic() - t < 30
    finally:
        pool.close()


# ---- the render ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["video, auto reference", "script, cut out over a colour"])
def test_workers_render_the_same_bytes_as_one_thread(tmp_path: Path, portrait_file: Path, short_driver: Path,
                                                     astronaut: PortraitCheck, case: str) -> None:
    if case.startswith("video"):
        driver, background = str(short_driver), "auto"
    else:  # a script streams (no reference pass) and the cut-out goes through the compositor
        driver, background = "talk", "#20a040"
    outs = []
    for jobs in (0, 2):
        out = tmp_path / f"jobs{jobs}.mp4"
        res = render(RenderJob(source=str(portrait_file), driver=driver, output=str(out), progress=False,
                               background=background, jobs=jobs))
        assert res.workers == jobs
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes(), "worker processes changed the output"
    frames = read_video(outs[1])
    if background == "auto":
        astronaut.assert_animated(frames)  # the same bytes of a still picture would prove nothing
    else:  # the face talks, and the colour shows where the background was cut away
        x0, y0, x1, y1 = astronaut.face
        face = [f[y0:y1, x0:x1].astype(np.float32) for f in frames]
        assert max(np.abs(face[0] - f).mean() for f in face) > 3.0, "the cut-out face does not move"
        near = np.abs(frames[-1].astype(np.int16) - np.array([0x20, 0xA0, 0x40])).max(axis=2) < 24
        assert near.mean() > 0.05, "no background colour behind the cut-out"


def test_workers_are_used_by_default_only_where_they_pay(animator: Animator) -> None:
    cores = len(os.sched_getaffinity(0))
    assert generator_workers(None, animator, 100) == 0  # a short clip: starting them costs more
    assert generator_workers(None, animator, 3000) == (min(cores, 32) if cores >= 2 else 0)
    assert generator_workers(3, animator, 10) == 3  # asked for: given
    assert generator_workers(0, animator, 3000) == 0


def test_bad_jobs_is_one_clear_error(tmp_path: Path, portrait_file: Path, short_driver: Path) -> None:
    from streamfx.errors import InputError

    with pytest.raises(InputError, match="--jobs"):
        render(RenderJob(source=str(portrait_file), driver=str(short_driver), output=str(tmp_path / "o.mp4"),
                         progress=False, jobs=-1))


def test_a_script_without_a_main_guard_renders_with_workers_and_runs_once(tmp_path: Path, portrait_file: Path,
                                                                         short_driver: Path) -> None:
    """``spawn`` re-runs the parent's main script in each child unless it is hidden: a user's
    script without ``if __name__ == "__main__":`` would start a render in every worker."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    marks = tmp_path / "marks.txt"
    script = tmp_path / "user_script.py"
    script.write_text(
        "from streamfx.render import RenderJob, render\n"
        f"open({str(marks)!r}, 'a').write('ran\\n')\n"
        f"res = render(RenderJob(source={str(portrait_file)!r}, driver={str(short_driver)!r}, "
        f"output={str(tmp_path / 'o.mp4')!r}, progress=False, jobs=2))\n"
        "print('workers', res.workers, 'frames', res.frames)\n")
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "workers 2 frames 45" in p.stdout
    assert marks.read_text() == "ran\n", "the script's top level ran again in a worker"


@pytest.mark.parametrize("reference", ["auto", "first"])
def test_ctrl_c_keeps_what_was_rendered_and_no_empty_file(tmp_path: Path, portrait_file: Path, short_driver: Path,
                                                         monkeypatch: pytest.MonkeyPatch, reference: str) -> None:
    """Ctrl-C (KeyboardInterrupt in the main thread, as SIGINT delivers it) at the driver's
    30th frame: with the auto reference nothing is rendered yet (the whole driver is tracked
    first), so no unplayable file is left; streaming from the first frame, what was rendered
    stays playable."""
    import _thread

    from streamfx.retarget import RetargetSettings
    from streamfx.settings import AnimatorSettings

    admit = Animator.admit

    def admit_then_ctrl_c(self: Animator, frame: object, measured: object) -> object:
        if frame.index == 30:  # type: ignore[attr-defined]
            _thread.interrupt_main()
        return admit(self, frame, measured)  # type: ignore[arg-type]

    monkeypatch.setattr(Animator, "admit", admit_then_ctrl_c)
    out = tmp_path / "o.mp4"
    settings = AnimatorSettings.of(retarget=RetargetSettings(reference=reference))
    with pytest.raises(KeyboardInterrupt):
        render(RenderJob(source=str(portrait_file), driver=str(short_driver), output=str(out), progress=False,
                         settings=settings, jobs=2))
    if reference == "auto":
        assert not out.exists()
    else:
        frames = read_video(out)
        assert 5 <= len(frames) < 45


def test_the_reference_pass_shows_progress_and_its_line_stands_alone(tmp_path: Path, portrait_file: Path,
                                                                     short_driver: Path) -> None:
    """The default reference pass tracks the whole driver before the first frame: a progress bar
    says so (not a render bar stuck at 0 %), and the line naming the reference is not glued
    onto a bar."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    p = subprocess.run([sys.executable, "-m", "streamfx", "render", str(portrait_file), str(short_driver),
                        "-o", str(tmp_path / "o.mp4")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    segments = [x.strip() for x in p.stderr.replace("\r", "\n").split("\n")]
    assert any(x.startswith("tracking the driver:") for x in segments), p.stderr[-2000:]
    assert any(x.startswith("streamfx: reference: driver frame") for x in segments), p.stderr[-2000:]
