"""The one compositor on real frames: framing, picture-in-picture over the performer's camera,
the portrait over the camera, through the virtual camera's recording backend.

The recording backend (tests/test_live_vcam.py) stands in for the v4l2loopback device,
which cannot exist here; everything above it is real: the Animator, the video driver
(lp_d10, a real performer), the pipeline and its compositor, pyvirtualcam's Camera.
"""

from __future__ import annotations

import argparse

import av
import numpy as np
import pytest

from streamfx.animator import Animator
from streamfx.compositing import (
    Compositor,
    PictureInPicture,
    cover,
    flatten,
    frame_rect,
)
from streamfx.drivers import open_driver
from streamfx.live.pipeline import LivePipeline, LiveSettings
from streamfx.sinks.vcam import VirtualCameraSink
from streamfx.tracking import track_portrait
from tests.conftest import media
from tests.picture import fitted_face
from tests.test_live_pipeline import wait_until
from tests.test_live_vcam import recording_backend, sent  # noqa: F401 - the fixture

W, H = 640, 360


def driver_pictures(path: str, n: int = 150) -> list[np.ndarray]:
    """The driver video's first ``n`` frames, as the compositor covers the canvas with them."""
    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            out.append(cover(f.to_ndarray(format="rgb24"), W, H).astype(np.int16))
            if len(out) == n:
                break
    return out


def nearest_camera_diff(region: tuple[slice, slice], frame: np.ndarray, cams: list[np.ndarray]) -> float:
    """Mean abs difference of ``frame`` from the best-matching driver picture, in ``region``."""
    return min(float(np.abs(frame[region].astype(np.int16) - c[region]).mean()) for c in cams)


def run_vcam(backend_cls, portrait: np.ndarray, landmarks: np.ndarray, settings: LiveSettings,
             driver: str, n: int = 20) -> list[np.ndarray]:
    anim = Animator(portrait, source_landmarks=landmarks, source_name="portrait")
    drv = open_driver(driver, neutral_landmarks=anim.source_landmarks, realtime=True, loop=True)
    pipe = LivePipeline(anim, drv, settings, source_image=portrait)
    pipe.add_sink(VirtualCameraSink(backend="recording"))
    backend = backend_cls.instances[-1]
    with pipe:
        wait_until(lambda: len(backend.frames) >= n + 10, f"{n + 10} frames sent to the camera", timeout=120)
    anim.close()
    return sent(backend)[10:]  # the first ones may still show the warm-up


@pytest.mark.parametrize("layout", ["corner", "side"])
def test_picture_in_picture_over_the_performers_camera(recording_backend, portrait: np.ndarray,  # noqa: F811
                                                       portrait_landmarks: np.ndarray, layout: str) -> None:
    driver = str(media("driving", "lp_d10.mp4"))
    pip = PictureInPicture(layout=layout, position="bottom-right", size=0.6, border=4,
                           border_colour=(255, 255, 0))
    frames = run_vcam(recording_backend, portrait, portrait_landmarks,
                      LiveSettings(width=W, height=H, fps=30, pip=pip), driver)
    cams = driver_pictures(driver)
    bx, by, bw, bh = pip.box(W, H)
    # the portrait's box as it is placed, from the still portrait (the animation moves the face a little)
    comp = Compositor(bw, bh, mode="cover" if layout == "side" else "fit")
    comp.set_source(portrait)
    still_box = comp.compose(portrait).astype(np.int16)
    camera_part = (slice(0, H // 3), slice(0, W // 3))  # top left: far from the box either way
    box = (slice(by, by + bh), slice(bx, bx + bw))
    for f in frames[::4]:
        assert nearest_camera_diff(camera_part, f, cams) < 12, "the camera shows outside the box"
        inside = float(np.abs(f[box].astype(np.int16) - still_box).mean())
        assert inside < 14, f"the portrait fills its box ({inside:.1f})"
        assert nearest_camera_diff(box, f, cams) > 2 * inside + 10, "not the camera inside the box"
        if layout == "corner":
            assert (f[by - 2, bx + bw // 2] == (255, 255, 0)).all() and (f[by + bh // 2, bx - 2] == (255, 255, 0)).all()
    # the face in the box is animated (the performer talks)
    face = (slice(by + bh // 4, by + bh // 2), slice(bx + bw // 4, bx + 3 * bw // 4))
    assert max(float(np.abs(f[face].astype(np.int16) - frames[0][face]).mean()) for f in frames) > 1.5


def test_the_cut_out_portrait_over_the_camera(recording_backend, portrait: np.ndarray,  # noqa: F811
                                              portrait_landmarks: np.ndarray) -> None:
    driver = str(media("driving", "lp_d10.mp4"))
    frames = run_vcam(recording_backend, portrait, portrait_landmarks,
                      LiveSettings(width=W, height=H, fps=30, background="camera"), driver)
    cams = driver_pictures(driver)
    # the astronaut's top corners are background (sky, flag): they show the camera now; the
    # letterbox margins too. The face shows the portrait.
    x0, face = fitted_face(portrait, portrait_landmarks, W, H)
    margin = (slice(0, H), slice(0, x0 - 2))
    corner = (slice(0, 30), slice(x0 + 4, x0 + 34))
    still = Compositor(W, H)
    still.set_source(portrait)
    expected_face = still.compose(portrait).astype(np.int16)[face]
    face_colour = expected_face.reshape(-1, 3).mean(axis=0)
    for f in frames[::4]:
        assert nearest_camera_diff(margin, f, cams) < 12
        assert nearest_camera_diff(corner, f, cams) < 25, "the portrait's own background is cut away"
        # the face shows the portrait, moving with the driver: its colours (a moving face's
        # pixels leave a fixed box, its colour does not), and not the camera's pixels there
        colour = np.abs(f[face].reshape(-1, 3).mean(axis=0) - face_colour).max()
        camera = nearest_camera_diff(face, f, cams)
        assert colour < 20, f"the face is not the portrait's (its colour is off by {colour:.1f})"
        assert camera > 20, f"the camera shows on the face ({camera:.1f})"


def test_frame_head_fills_the_virtual_camera_with_the_face(recording_backend) -> None:  # noqa: F811
    from streamfx.live.cli import add_live_arguments, run_live

    src = media("source", "lp_s9.jpg")  # a half-length painting: the face is small in it
    p = argparse.ArgumentParser()
    add_live_arguments(p)
    args = p.parse_args(["--source", str(src), "--driver", "talk", "--frame", "head", "--vcam-backend", "recording",
                         "--no-webrtc", "--size", f"{W}x{H}", "--duration", "4"])
    assert run_live(args) == 0
    frames = sent(recording_backend.instances[-1])
    assert len(frames) >= 10
    shares = []
    for f in (frames[5], frames[-1]):
        lm = track_portrait(np.ascontiguousarray(f), "vcam frame")[:, 1]
        shares.append((lm.max() - lm.min()) / H)
    assert min(shares) >= 0.40, shares
    # …where the whole painting, fitted, shows the same face at a fraction of that
    from streamfx.imageio import load_image

    image = load_image(src, max_side=1024)
    lm_src = track_portrait(image, "lp_s9")[:, 1]
    assert (lm_src.max() - lm_src.min()) / image.shape[0] < 0.2


def test_the_framing_crop_follows_the_source_not_the_motion(portrait: np.ndarray,
                                                          portrait_landmarks: np.ndarray) -> None:
    comp = Compositor(W, H, frame="head")
    comp.set_source(portrait, portrait_landmarks)
    crop = comp.crop
    assert crop == frame_rect(portrait_landmarks, (512, 512), "head", W / H)
    shifted = np.roll(portrait, 20, axis=1)  # a frame where the head moved: the crop stays
    comp.compose(shifted)
    assert comp.crop == crop
    x, y, w, h = crop
    lm = portrait_landmarks[:, :2]
    assert x <= lm[:, 0].min() and lm[:, 0].max() <= x + w and y <= lm[:, 1].min() and lm[:, 1].max() <= y + h
    bust = frame_rect(portrait_landmarks, (512, 512), "bust", W / H)
    assert bust[3] > h  # head and shoulders: more of the portrait


def test_a_transparent_canvas_reaches_opaque_sinks_over_black(portrait: np.ndarray) -> None:
    comp = Compositor(W, H, background="transparent")
    comp.set_source(portrait)
    rgba = np.dstack([portrait, np.zeros(portrait.shape[:2], np.uint8)])
    rgba[100:400, 100:400, 3] = 255
    canvas = comp.compose(rgba)
    assert canvas.shape == (H, W, 4)
    flat = flatten(canvas)
    assert (flat[canvas[..., 3] == 0] == 0).all()
    assert (canvas[..., 3] == 255).sum() > 0


async def test_the_panel_reframes_the_running_output(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    import asyncio

    import aiohttp

    from tests.test_live_pipeline import next_frames
    from tests.test_live_web import SIZE, real_server

    async with real_server(portrait, portrait_landmarks) as live, aiohttp.ClientSession() as http:
        before = (await asyncio.to_thread(next_frames, live.pipe.hub, 3))[-1].image
        async with http.post(live.url("/api/frame"), json={"frame": "head"}) as r:
            assert r.status == 200 and (await r.json()) == {"frame": "head"}
        async with http.get(live.url("/api/settings")) as r:
            assert (await r.json())["output"]["frame"] == "head"
        for bad in ({"frame": "feet"}, {"frame": 1}, [], {"frame": "head", "x": 1}):
            async with http.post(live.url("/api/frame"), json=bad) as r:
                assert r.status == 400, bad
        after = (await asyncio.to_thread(next_frames, live.pipe.hub, 3))[-1].image
        async with http.get(live.url("/panel")) as r:
            assert 'id="frame"' in await r.text()
    assert live.pipe.compositor.crop == frame_rect(portrait_landmarks, (512, 512), "head", SIZE[0] / SIZE[1])
    # the face now fills the height: the picture is a different one, not the letterboxed portrait
    assert float(np.abs(after.astype(int) - before).mean()) > 20


# -- the size a live portrait is animated at ----------------------------------------------
def test_the_canvas_says_how_large_it_shows_the_portrait(portrait_landmarks: np.ndarray) -> None:
    """Compositor.shown_scale: the fitted, covered, corner-boxed and cropped portrait's scale,
    and shown_portrait's image and landmarks at that size (never below LIVE_MIN_SIDE, the
    image itself where the saving would be under a tenth)."""
    from streamfx.live.pipeline import LIVE_MIN_SIDE, shown_portrait

    assert Compositor(1280, 720).shown_scale(1024, 1024) == pytest.approx(720 / 1024)
    assert Compositor(1280, 720, mode="cover").shown_scale(1024, 1024) == pytest.approx(1280 / 1024)
    corner = Compositor(1280, 720, pip=PictureInPicture(layout="corner", size=0.5))
    assert corner.shown_scale(1024, 1024) == pytest.approx(corner.pip.box(1280, 720)[2] / 1024)
    head = Compositor(1280, 720, frame="head")
    assert head.shown_scale(1024, 1024) == 1.0  # its crop needs landmarks
    lm = portrait_landmarks * 2.0  # the demo portrait's face, in a 1024² picture
    _, _, cw, ch = frame_rect(lm, (1024, 1024), "head", 1280 / 720)
    assert head.shown_scale(1024, 1024, lm) == pytest.approx(min(1280 / cw, 720 / ch), rel=0.01)

    big = np.zeros((1024, 1024, 4), np.uint8)  # RGBA: the alpha comes along
    big[200:800, 300:700] = (200, 100, 50, 255)
    image, shown_lm = shown_portrait(big, lm, Compositor(1280, 720))
    assert image.shape == (720, 720, 4) and image[350, 350].tolist() == [200, 100, 50, 255]
    assert shown_lm is not None and np.allclose(shown_lm, lm * (720 / 1024), atol=1e-3)
    tiny = shown_portrait(big, None, Compositor(320, 180))[0]
    assert tiny.shape[:2] == (LIVE_MIN_SIDE, LIVE_MIN_SIDE)  # 180 px would starve the face of pixels
    for kept in (big[:760, :760], big[:600, :600]):  # shown at 0.95, or at more than its size
        assert shown_portrait(kept, lm, Compositor(1280, 720))[0] is kept
    # lp_s10's 874×1024 fills the 720 px height exactly (rounding once made it 721 px tall,
    # resampled to 720 every frame)
    assert shown_portrait(big[:, :874], None, Compositor(1280, 720))[0].shape[:2] == (720, 615)


def test_live_animates_a_large_portrait_at_the_size_the_canvas_shows_it(
        tmp_path, portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """`streamfx live` with a 1024² portrait on a 1280×720 canvas animates it at 720² (half the
    pixels to generate, the same picture: the canvas shows no more); framing the head shows
    less of it larger, so it is animated again at that size, and back to 720² for the full
    portrait. Each re-animation is a portrait swap (source_version), and the output stays the
    portrait, animated, where the canvas puts it."""
    import cv2

    from streamfx.live.cli import add_live_arguments, build_pipeline
    from tests.picture import PortraitCheck
    from tests.test_live_pipeline import WAIT, next_frames

    big = cv2.resize(portrait, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    p = argparse.ArgumentParser()
    add_live_arguments(p)
    args = p.parse_args(["--source", str(path), "--driver", "talk", "--no-webrtc"])
    pipe = build_pipeline(args, LiveSettings(width=1280, height=720))
    anim = pipe.animator
    assert anim.size == (720, 720)
    assert pipe.compositor.shown_scale(720, 720) == pytest.approx(1.0)
    check = PortraitCheck(big, portrait_landmarks * 2.0, out_size=(1280, 720))
    with pipe:
        check.assert_animated([lf.image for lf in next_frames(pipe.hub, 20)])
        version = pipe.source_version
        pipe.set_frame("head").result(WAIT)
        head = anim.size
        assert head[0] > 720 and pipe.source_version == version + 1
        lm = anim.source_landmarks
        assert pipe.compositor.crop == frame_rect(lm, head, "head", 1280 / 720)
        framed = next_frames(pipe.hub, 5)[-1].image
        face = track_portrait(np.ascontiguousarray(framed), "head-framed frame")[:, 1]
        assert (face.max() - face.min()) / 720 >= 0.40  # the face fills the canvas
        pipe.set_frame("full").result(WAIT)
        assert anim.size == (720, 720) and pipe.source_version == version + 2
        check.assert_animated([lf.image for lf in next_frames(pipe.hub, 20)])


def test_a_portrait_swapped_in_while_framed_is_animated_at_the_size_its_crop_shows(
        portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    """A portrait uploaded (no landmarks) while the output shows a bust crop: its face is
    tracked first, so its crop, and the size the canvas shows it at, are known — it was
    animated at its full 1024² (found by a fresh user: 25 ms a frame where 15 would do)."""
    import cv2

    from streamfx.live.pipeline import shown_portrait
    from tests.test_live_pipeline import WAIT, next_frames, real_pipeline

    big = cv2.resize(portrait, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    pipe = real_pipeline(portrait, portrait_landmarks, width=640, height=360)
    with pipe:
        pipe.set_frame("bust").result(WAIT)
        pipe.set_source(big, name="big").result(WAIT)
        expected = shown_portrait(big, portrait_landmarks * 2.0, pipe.compositor)[0].shape
        assert pipe.animator.size[0] < 1024
        assert abs(pipe.animator.size[0] - expected[1]) <= 2 and abs(pipe.animator.size[1] - expected[0]) <= 2
        framed = next_frames(pipe.hub, 5)[-1].image
        assert framed.shape == (360, 640, 3) and float(framed.std()) > 20  # a picture, not a blank
