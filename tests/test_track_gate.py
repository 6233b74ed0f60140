"""Track gating: a face cut by the frame edge or a pose jump counts as lost (issue 12, item 4)."""

from __future__ import annotations

import numpy as np

from streamfx import landmarks as L
from streamfx.track_gate import TrackGate, inside_frame
from tests.conftest import case


def _face(shift_x: float = 0.0, shift_y: float = 0.0) -> np.ndarray:
    """The template face, 120 px between the eyes, centred in a 512² frame, then shifted."""
    lm = L.template_landmarks().astype(np.float32).copy()
    io = L.interocular(lm)
    lm[:, :2] = (lm[:, :2] - lm[:, :2].mean(axis=0)) * (120.0 / io) + 256.0
    lm[:, 0] += shift_x
    lm[:, 1] += shift_y
    return lm


def test_a_face_sliding_out_of_the_frame_is_not_inside_it() -> None:
    assert inside_frame(_face(), 512, 512)
    left = float(_face()[L.FACE_OVAL, 0].min())  # the oval's leftmost x
    assert inside_frame(_face(shift_x=-left - 2), 512, 512)  # touching the edge: fine
    assert not inside_frame(_face(shift_x=-left - 60), 512, 512)  # a slice of the cheek outside
    # a chin cut by the bottom edge (a close webcam) still counts as inside
    bottom = _face()[L.FACE_OVAL, 1].max()
    chin_cut = _face(shift_y=512 - bottom + 8)
    assert 0 < (chin_cut[L.FACE_OVAL, 1] >= 512).mean() <= 0.15
    assert inside_frame(chin_cut, 512, 512)
    # a performer leaning into a 2:1 webcam: forehead and chin cropped by both edges, the
    # features in view (the face oval 40 % outside)
    io = L.interocular(_face())
    lean = _face()
    lean[:, :2] = (lean[:, :2] - 256.0) * (240.0 / io) + 256.0
    lean[:, 0] += 256.0
    assert ((lean[L.FACE_OVAL, 1] < 0) | (lean[L.FACE_OVAL, 1] >= 512)).mean() > 0.35
    assert inside_frame(lean, 1024, 512)
    # the same face sliding out sideways by as much is not
    assert not inside_frame(_face(shift_x=-left - 100), 512, 512)


def test_a_one_frame_jump_is_lost_and_a_lasting_one_is_real() -> None:
    gate = TrackGate()
    dt = 1 / 30
    # a fast real slide (4 inter-ocular distances per second) is always accepted
    for i in range(10):
        assert gate.check(_face(shift_x=-4 * 120 * dt * i / 2), 1024, 1024, i * dt) is not None
    t = 10 * dt
    base = -4 * 120 * dt * 9 / 2
    assert gate.check(_face(shift_x=base + 60), 1024, 1024, t) is not None  # half a distance in a frame: real
    t += dt
    assert gate.check(_face(shift_x=base + 300), 1024, 1024, t) is None  # 2 io in one frame: a glitch
    assert gate.check(_face(shift_x=base + 60), 1024, 1024, t + dt) is not None  # back where it was
    # a cut: the face is somewhere else from now on — accepted once three frames agree
    seen = [gate.check(_face(shift_x=base + 360, shift_y=20), 1024, 1024, t + (2 + k) * dt) is not None for k in range(4)]
    assert seen == [False, False, True, True]
    assert gate.rejected == 3
    # after a long loss anything is reachable again
    assert gate.check(_face(shift_x=-60), 1024, 1024, t + 3.0) is not None


def test_the_face_leaving_the_frame_counts_as_lost_while_it_is_cut() -> None:
    from streamfx.animator import Animator
    from streamfx.sources.video import VideoFileSource

    clip = case("driver_face_leaves_frame.mp4")
    frames = list(VideoFileSource(clip))
    first = frames[0].image
    assert first is not None
    animator = Animator(first, source_name="frame 0")
    try:
        found = []
        for f in frames:
            assert f.image is not None
            h, w = f.image.shape[:2]
            lm = animator.track(f)
            found.append(lm is not None)
            if lm is not None:  # whatever passes the gate lies inside the frame
                assert inside_frame(lm, w, h)
        # the clip: in the frame for ~1.1 s, sliding out, gone for ~0.5 s, back
        found_arr = np.array(found)
        assert found_arr[:30].all() and found_arr[-15:].all()
        gone = np.flatnonzero(~found_arr)
        assert len(gone) > 0.5 * 30
        # every frame around the gap where the mesh still answered but the face was cut is lost too
        assert animator.gate.rejected >= 4
    finally:
        animator.close()
