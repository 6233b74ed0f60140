"""Group photos: which face is animated is said and can be chosen (--face N), or all are (--face all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import case
from tests.picture import PortraitCheck, read_video

STREAMFX = [sys.executable, "-m", "streamfx"]

# two_faces.jpg is two 512² portraits side by side: a photo (left) and a bigger cartoon face
LEFT = (slice(150, 420), slice(150, 370))
RIGHT = (slice(120, 440), slice(640, 900))
SEAM = (slice(0, 512), slice(470, 550))  # background between the two heads


@pytest.fixture(scope="module")
def two_faces() -> Path:
    return case("two_faces.jpg")


@pytest.fixture(scope="module")
def source(two_faces: Path) -> np.ndarray:
    from streamfx.imageio import load_image

    return load_image(two_faces).astype(np.int16)


@pytest.fixture(scope="module")
def checks(source: np.ndarray) -> list[PortraitCheck]:
    """Where each face (left to right) and the corners far from it land in a render."""
    from streamfx.tracking import find_portrait_faces

    image = source.astype(np.uint8)
    faces = find_portrait_faces(image)
    assert len(faces) == 2
    return [PortraitCheck(image, lm) for lm in faces]


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s at 10 fps: the mouth opens and the head turns, and they stay so at the end."""
    p = tmp_path_factory.mktemp("script") / "open_turn.json"
    p.write_text(json.dumps({"fps": 10, "duration": 1.5, "tracks": {
        "mouth_open": [[0, 0], [0.7, 0.8], [1.5, 0.8]], "yaw": [[0, 0], [1.5, 15]], "pitch": [[0, 0], [1.5, 8]]}}))
    return p


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STREAMFX, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def last_frame(path: Path) -> np.ndarray:
    return read_video(path)[-1].astype(np.int16)


def change(a: np.ndarray, b: np.ndarray, region: tuple[slice, slice]) -> float:
    return float(np.abs(a[region] - b[region]).mean())


def render(two_faces: Path, script: Path, out: Path, *face: str) -> subprocess.CompletedProcess[str]:
    p = run("render", str(two_faces), str(script), "-o", str(out), "-q", *face)
    assert p.returncode == 0, p.stderr
    return p


def test_default_takes_the_largest_face_and_says_so(tmp_path: Path, two_faces: Path, script: Path,
                                                   source: np.ndarray, checks: list[PortraitCheck]) -> None:
    out = tmp_path / "default.mp4"
    p = render(two_faces, script, out)
    assert p.stderr.splitlines() == [
        f"streamfx: found 2 faces in '{two_faces}'; animating face 2 of 2 "
        "(the largest; --face N picks another, --face all animates all)"]
    checks[1].assert_animated(read_video(out))
    last = last_frame(out)
    assert change(last, source, RIGHT) > 6  # the cartoon (right, larger) face moved
    assert change(last, source, LEFT) < 3  # the photo stayed still (codec noise only)


def test_face_number_picks_a_face_from_the_left(tmp_path: Path, two_faces: Path, script: Path,
                                                source: np.ndarray, checks: list[PortraitCheck]) -> None:
    one, two = tmp_path / "one.mp4", tmp_path / "two.mp4"
    assert "animating face 1 of 2 (--face 1)" in render(two_faces, script, one, "--face", "1").stderr
    render(two_faces, script, two, "--face", "2")
    checks[0].assert_animated(read_video(one))
    checks[1].assert_animated(read_video(two))
    a, b = last_frame(one), last_frame(two)
    assert change(a, source, LEFT) > 6 and change(a, source, RIGHT) < 3
    assert change(b, source, RIGHT) > 6 and change(b, source, LEFT) < 3


def test_face_all_animates_every_face_with_no_seam(tmp_path: Path, two_faces: Path, script: Path,
                                                   source: np.ndarray, checks: list[PortraitCheck]) -> None:
    out, single = tmp_path / "all.mp4", tmp_path / "two.mp4"
    assert "animating all 2" in render(two_faces, script, out, "--face", "all").stderr
    render(two_faces, script, single, "--face", "2")
    frames = read_video(out)
    for check in checks:
        check.assert_animated(frames)
    last = last_frame(out)
    assert change(last, source, LEFT) > 6 and change(last, source, RIGHT) > 6
    assert change(last, source, SEAM) < 3  # the background between the heads stays put
    # a face moves as it does alone: working on its crop changes nothing (the script is
    # built around the largest face, face 2, in both runs)
    assert change(last, last_frame(single), RIGHT) < 3
    # no seam: no column between the heads changes more than in the one-face render, where
    # only codec noise (largest at the photos' own hard edge, x = 512) is there
    seam = np.abs(last - source)[SEAM].mean(axis=(0, 2)) - np.abs(last_frame(single) - source)[SEAM].mean(axis=(0, 2))
    assert seam.max() < 1.5, seam.round(1)


def test_face_out_of_range_and_with_landmarks_are_one_line_errors(tmp_path: Path, two_faces: Path) -> None:
    p = run("render", str(two_faces), "idle", "-o", str(tmp_path / "o.mp4"), "--face", "5")
    assert p.returncode != 0 and p.stderr.splitlines() == [
        f"streamfx: error: --face 5: '{two_faces}' has 2 faces — pick 1 to 2 (numbered left to right)"]
    lm = tmp_path / "lm.json"
    lm.write_text(json.dumps({"keypoints": {"right_eye": [220, 250], "left_eye": [300, 250], "nose_tip": [260, 300],
                                            "mouth_right": [225, 340], "mouth_left": [295, 340]}}))
    p = run("render", str(two_faces), "idle", "-o", str(tmp_path / "o.mp4"), "--face", "all", "--landmarks", str(lm))
    assert p.returncode != 0 and len(p.stderr.splitlines()) == 1 and "--landmarks" in p.stderr
    p = run("render", str(two_faces), "idle", "-o", str(tmp_path / "o.mp4"), "--face", "0")
    assert p.returncode != 0 and "--face" in p.stderr.splitlines()[-1]
    # a video driver without sound: its notice waits for the portrait's checks, so the error
    # is still the one line (it printed first, a new user found)
    p = run("render", str(two_faces), str(case("driver_vfr.mp4")), "-o", str(tmp_path / "o.mp4"), "--face", "3")
    assert p.returncode != 0 and p.stderr.splitlines() == [
        f"streamfx: error: --face 3: '{two_faces}' has 2 faces — pick 1 to 2 (numbered left to right)"], p.stderr


def test_landmarks_command_takes_face_n(tmp_path: Path, two_faces: Path) -> None:
    from streamfx.landmarks import load_landmarks

    p = run("landmarks", str(two_faces), "-o", str(tmp_path / "a.json"), "--face", "1")
    assert p.returncode == 0, p.stderr
    assert "writing the landmarks of face 1 of 2" in p.stderr
    assert load_landmarks(tmp_path / "a.json")[:, 0].mean() < 512  # the left face


def test_face_regions_split_between_faces(source: np.ndarray) -> None:
    from streamfx.group import face_regions
    from streamfx.tracking import face_centre, find_portrait_faces

    faces = find_portrait_faces(source.astype(np.uint8))
    assert len(faces) == 2 and face_centre(faces[0])[0] < face_centre(faces[1])[0]  # left to right
    regions = face_regions((1024, 512), faces)
    total = np.zeros((512, 1024), np.float32)
    for r in regions:
        total[r.y0:r.y1, r.x0:r.x1] += r.weight[..., 0]
    assert total.max() < 1.0 + 1e-4  # a convex mix of animated faces and the source
    left, right = regions
    assert left.x1 < 768 - 100 and right.x0 > 261 + 100  # no crop reaches the other face
    for r, f in zip(regions, faces, strict=True):
        cx, cy = face_centre(f).astype(int)
        assert r.weight[cy - r.y0, cx - r.x0, 0] > 0.99


def test_group_animator_in_live_has_the_animator_interface(two_faces: Path, portrait: np.ndarray,
                                                           checks: list[PortraitCheck]) -> None:
    """`live --face all`: the pipeline gets a GroupAnimator; settings, calibration and a
    portrait swap reach every face."""
    import argparse

    from streamfx.drivers import open_driver
    from streamfx.group import GroupAnimator
    from streamfx.live.cli import add_live_arguments, build_pipeline
    from streamfx.live.pipeline import LiveSettings

    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    args = parser.parse_args(["--source", str(two_faces), "--face", "all", "--driver", "talk", "--no-vcam"])
    # a canvas that shows the 1024×512 photo at its own size (a smaller one animates it smaller)
    pipe = build_pipeline(args, LiveSettings(width=1280, height=720))
    animator = pipe.animator
    driver = open_driver("talk", neutral_landmarks=animator.source_landmarks)
    try:
        assert isinstance(animator, GroupAnimator) and len(animator.members) == 2
        assert animator.size == (1024, 512)
        frames = iter(driver)
        outs = [animator.step(next(frames)) for _ in range(40)]
        assert outs[-1].shape == (512, 1024, 3) and animator.face_found
        for check in checks:  # both faces talk, the backdrop stays
            check.assert_animated(outs)
        assert set(animator.timings) == {"track", "retarget", "generate"}
        animator.update_settings(head_gain=2.0, sharpen=0.5)
        assert animator.settings_dict()["head_gain"] == 2.0
        assert all(m.retargeter.settings.head_gain == 2.0 and m.generator_settings.sharpen == 0.5
                   for m in animator.members)
        with pytest.raises(Exception, match="between 0 and 3"):
            animator.update_settings(mouth_gain=9)
        animator.calibrate()
        animator.step(next(frames))
        animator.set_source(portrait, name="astronaut")  # one face: one member, settings kept
        assert len(animator.members) == 1 and animator.members[0].retargeter.settings.head_gain == 2.0
        assert animator.step(next(frames)).shape == portrait.shape
    finally:
        driver.close()
        animator.close()
