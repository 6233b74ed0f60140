"""A face that leaves the frame and comes back, rendered onto real portraits (issue 12, done-when 3).

``../shared/cases/driver_face_leaves_frame.mp4`` (3 s at 30 fps): the performer's face slides
out of the left edge, is gone for ~0.5 s, and slides back in. Once, the mesh's made-up half
face reached the portrait: a tear through the hair, the shoulder smeared into streaks, and
that broken pose held while the face was gone. The track gate (streamfx/track_gate.py) now
counts a cut face as lost, so the retargeter holds the last whole pose, eases it, and blends
the face back in. These tests look at the rendered picture for that, and at the driver's
look (mouth interior, creases), which now comes and goes with the pose instead of switching
in one frame.

Where the phases are comes from the test's own reading of the driver (mediapipe, not the
gate): *cut* frames show no face, or a face oval reaching more than 0.1 inter-ocular
distance beyond the frame; the face is *back* at the first frame after them whose whole
oval is inside again.

Not judged here: the frames where the face, still whole, slides towards the edge (~7
inter-ocular distances a second). The gate rightly lets them through, and the portrait's head
follows them by ~0.7 inter-ocular distances — which the single motion field of the generator
draws with the hair on the trailing side smeared and a dark fold at the leading cheek (a
plain 0.75-distance shift of the source landmarks does the same). That pose is the one held
while the face is gone. It is issue 12 item 1 (the head as one layer over a filled-in
background), not a cut face; a bound on it would fail until that is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.render import RenderJob, load_source, render
from streamfx.retarget import RetargetSettings
from streamfx.tracking import track_portrait
from tests.conftest import case, media
from tests.picture import PortraitCheck, Surround, read_video

CUT_MARGIN = 0.1
"""A face oval reaching this many inter-ocular distances beyond the frame is cut for sure
(the gate's own rule, 15 % of the oval's points, lies between this and fully inside)."""

# Bounds, in grey levels of the blurred ring around the face oval (tests/picture.Surround),
# measured on both portraits with the gate and with it open (TrackGate.check passing every
# tracked face: `scripts/mutants.py --only open-gate`). The head is one layer over a filled-in
# plate, and the fade below its chin lengthens with the chin's move (the neck never folds):
# the ring sees a whole head, and a little of the neck and shoulders, move where it used to
# see a fade, so the same ease changes it ~2× more than before the head layer (1.6 and 1.4
# then) — smoothly, frame by frame, not in a step.
#
#                                   astronaut  gate / open     lp_s1  gate / open
#   held, against the first cut frame        0.19 / 5.9              0.08 / 8.2
#   largest step while cut or gone           3.3  / 10.5             3.6  / 9.4
#   largest step as the face returns         1.8  / 14.1             2.4  / 15.0
#   settled, against the nearest before      3.1  / 3.1              2.7  / 2.7
#
HELD_CHANGE = 1.0
"""While the pose is held the picture is frozen: codec noise only (< 0.2). Cut faces reaching
the portrait keep dragging the head, and the mouth and eyes out of the face (5.9 and more)."""
LOST_STEP = 5.0
"""While the face is cut or gone, no frame changes the ring more than the ease towards the
idle pose does (3.6 at its fastest); each cut face that reaches the portrait is a new torn
pose (9.4 and more). 5.0 lies a factor 1.4 from the one and 1.9 from the other."""
RETURN_STEP = 4.5
"""As the face slides back in, the blend-in and the slide itself move the head (2.4 at most);
cut faces snapping the head between made-up poses change it by 14 and more. 4.5 lies a
factor ~1.9 from the one and 3 from the other."""
SETTLED_CHANGE = 4.0
"""Once back, the ring looks as it did before the face left (2.7 and 3.1: the driver's pose
differs a little). The gate does not change this one; it catches a head that never comes
back: the pose held while the face is gone differs by 9 and more."""


@dataclass(frozen=True)
class Phases:
    cut: int
    """The first frame whose face is cut (or gone)."""
    back: int
    """The first frame after that whose face is whole again."""
    fps: float
    frames: int


@pytest.fixture(scope="module")
def clip() -> Path:
    return case("driver_face_leaves_frame.mp4")


@pytest.fixture(scope="module")
def phases(clip: Path) -> Phases:
    """The driver's phases, read by mediapipe (see the module doc)."""
    from streamfx.sources.video import VideoFileSource
    from streamfx.tracking import FaceTracker

    cut, whole = [], []
    source = VideoFileSource(clip)
    with FaceTracker(static=False) as tracker:
        for f in source:
            assert f.image is not None
            h, w = f.image.shape[:2]
            lm = tracker.track(f.image)
            if lm is None:
                cut.append(True)
                whole.append(False)
                continue
            oval = lm[L.FACE_OVAL, :2]
            beyond = float(np.max([-oval[:, 0].min(), oval[:, 0].max() - w, -oval[:, 1].min(), oval[:, 1].max() - h]))
            cut.append(beyond > CUT_MARGIN * L.interocular(lm))
            whole.append(beyond < 0)
    first_cut = cut.index(True)
    back = next(i for i in range(first_cut, len(whole)) if whole[i])
    # the clip as its README describes it: ~1 s in view, ~0.5 s gone, back for the last ~0.5 s
    assert 25 <= first_cut <= 40 and back - first_cut >= 20 and len(whole) - back >= 12, (first_cut, back)
    return Phases(cut=first_cut, back=back, fps=source.fps, frames=len(whole))


def _portrait(which: str, request: pytest.FixtureRequest) -> Path:
    if which == "astronaut":
        path: Path = request.getfixturevalue("portrait_file")
        return path
    return media("source", "lp_s1.jpg")  # a photo with hair beside the face and a shoulder


@pytest.mark.parametrize("which", ["astronaut", "lp_s1"])
def test_a_face_leaving_the_frame_never_tears_the_portrait(which: str, request: pytest.FixtureRequest,
                                                            tmp_path: Path, clip: Path, phases: Phases) -> None:
    """While the face is cut, gone and coming back, no frame differs from its neighbour by a
    tear: the pose is held (frozen), eased (small steps) and blended back (no jump), and the
    head ends up as it was; while the face is in view the portrait is animated."""
    portrait = _portrait(which, request)
    out = tmp_path / "out.mp4"
    # 512 px keeps it quick (lp_s1 is 1145²); jobs=0: no worker processes on a shared machine
    render(RenderJob(source=str(portrait), driver=str(clip), output=str(out), max_size=512, progress=False, jobs=0))
    frames = read_video(out)
    assert len(frames) == phases.frames
    image, _ = load_source(str(portrait), 512)
    source = np.ascontiguousarray(image[..., :3])
    landmarks = track_portrait(source, which)
    ring = Surround(landmarks, (source.shape[1], source.shape[0]))
    check = PortraitCheck(source, landmarks)
    retarget = RetargetSettings()
    cut, back = phases.cut, phases.back
    blend_end = back + round(retarget.blend_in_seconds * phases.fps) + 4

    # while the face is in view the portrait is animated: not the still picture, the face
    # moves and the corners don't (a render that froze, or showed the source, fails here)
    check.assert_animated(frames[:cut - 4] + frames[blend_end:])

    # the face is cut: the last whole pose is held for hold_seconds (the first cut frame
    # shows it already) — the face and the ring around it frozen
    held = range(cut, cut + round(retarget.hold_seconds * phases.fps) - 1)
    held_change = max(ring.change(frames[i], frames[cut]) for i in held)
    assert held_change < HELD_CHANGE, f"the head moves while its pose should be held ({held_change:.1f})"
    check.assert_held(frames, held)

    steps = ring.steps(frames)
    # cut or gone: the held pose, then the ease towards the idle pose — no torn step
    lost = steps[cut:back]
    assert lost.max() < LOST_STEP, (
        f"frame {cut + int(lost.argmax())} tears the head while the face is cut or gone "
        f"(the ring changes by {lost.max():.1f} in one frame)")
    # back: blended in, without a jump
    returning = steps[back:blend_end]
    assert returning.max() < RETURN_STEP, (
        f"frame {back + int(returning.argmax())} jumps as the face comes back ({returning.max():.1f})")
    # and then it looks as it did before the face left (nothing torn is left behind)
    before = frames[:cut - 6]
    settled = max(min(ring.change(f, b) for b in before) for f in frames[blend_end + 3:])
    assert settled < SETTLED_CHANGE, f"after the return the head is not back to itself ({settled:.1f})"


def test_the_look_comes_and_goes_with_the_pose(portrait: np.ndarray, clip: Path) -> None:
    """The driver's look (its mouth interior, its creases) is held with the held pose, fades
    as the pose eases away and fades in as the returning face blends in: the frames on either
    side of the loss and of the return are the same picture.

    Once, it switched in one frame: as the face came back, the portrait's smile with teeth
    turned into the driver's dark, half-open mouth from one frame to the next (the pose was
    blended in, its look was not), and creases vanished the moment the face was cut.
    """
    from streamfx.animator import Animator
    from streamfx.evaluation import mouth_box
    from streamfx.sources.video import VideoFileSource

    animator = Animator(portrait, source_name="astronaut")
    try:
        outs, found = [], []
        for f in VideoFileSource(clip):
            outs.append(animator.step(f).astype(np.int16))
            found.append(animator.face_found)
    finally:
        animator.close()
    lost = found.index(False)
    back = found.index(True, lost)
    h, w = portrait.shape[:2]
    x0, y0, x1, y1 = mouth_box(animator.source_landmarks, w, h)

    def change(i: int) -> float:  # frame i against frame i − 1, around the mouth (grey levels)
        return float(np.abs(outs[i][y0:y1, x0:x1] - outs[i - 1][y0:y1, x0:x1]).mean())

    # the same pose, and now the same look too: the same picture (measured 0.00 and 0.01; with
    # the look switched off at the loss 0.68, switched on at the return 9.7)
    assert change(lost) < 0.1, f"the look changes as the face is lost ({change(lost):.2f})"
    assert change(back) < 0.1, f"the look jumps in as the face comes back ({change(back):.2f})"
    # and it does come back: the mouth changes over the blend-in (measured 21)
    assert max(change(i) for i in range(back + 1, back + 8)) > 3.0


def test_worker_processes_fade_the_look_as_one_thread_does(tmp_path: Path, portrait_file: Path, clip: Path) -> None:
    """The look's weight reaches the generator workers: the same bytes as a render on one thread."""
    outs = []
    for jobs in (0, 2):
        out = tmp_path / f"jobs{jobs}.mp4"
        assert render(RenderJob(source=str(portrait_file), driver=str(clip), output=str(out), progress=False,
                                jobs=jobs)).workers == jobs
        outs.append(out.read_bytes())
    assert outs[0] == outs[1], "worker processes changed the output"
