"""Transparency end to end: a portrait's own alpha (or its cut-out matte) through every file output.

``rgba_hidden_colour.png`` is a portrait with an elliptical alpha whose hidden pixels are
magenta (editors store anything under alpha = 0). That colour must never show: not in
files that keep the alpha (decoded back here with PyAV, alpha read per pixel), not in
opaque files (which composite over the chosen background). Renders are real (the Animator,
mediapipe, the encoders); a 1.2 s keyframe script and a small --max-size keep them short.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from streamfx.errors import InputError, OutputError
from streamfx.imageio import load_image
from streamfx.render import RenderJob, render
from tests.conftest import case

SCRIPT = '{"fps": 10, "duration": 1.2, "base": "idle", "tracks": {"yaw": [[0, 0], [1.2, 12]], "mouth_open": [[0, 0], [0.6, 0.8], [1.2, 0]]}}'


def magenta(rgb: np.ndarray) -> np.ndarray:
    """Where a picture is (close to) the hidden magenta (255, 0, 255); lossy codecs shift it a little."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 180) & (b > 180) & (g < 90)


def decode_rgba(path: Path) -> list[np.ndarray]:
    """Every frame of a file (or a PNG sequence folder) as H×W×4 RGBA, alpha as stored.

    VP9's alpha is a second stream in WebM's BlockAdditional that only libvpx's decoder reads
    (FFmpeg's own vp9 decoder drops it), so VP9 goes through libvpx-vp9.
    """
    if path.is_dir():
        return [f for p in sorted(path.glob("*.png")) for f in decode_rgba(p)]
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        ctx = av.CodecContext.create("libvpx-vp9", "r") if st.codec_context.name == "vp9" else None
        out = []
        for pkt in c.demux(st):
            for f in (ctx.decode(pkt) if ctx is not None else pkt.decode()):
                out.append(f.to_ndarray(format="rgba"))
        return out


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("script") / "turn.json"
    p.write_text(SCRIPT)
    return p


def test_the_colour_under_alpha_zero_is_neutralised_when_loading() -> None:
    src = case("rgba_hidden_colour.png")
    from PIL import Image

    raw = np.asarray(Image.open(src).convert("RGBA"))
    assert magenta(raw[raw[..., 3] == 0]).mean() > 0.9  # the case still is what it says
    rgba = load_image(src, keep_alpha=True)
    assert rgba.shape[2] == 4
    assert np.array_equal(rgba[..., 3], raw[..., 3])  # the alpha itself is kept exactly
    assert not magenta(rgba[..., :3]).any()
    assert np.array_equal(rgba[raw[..., 3] > 0][:, :3], raw[raw[..., 3] > 0][:, :3])  # visible colours untouched
    small = load_image(src, max_side=200)  # downscaled and without alpha: nothing mixed in either
    assert small.shape == (200, 200, 3) and not magenta(small).any()


def _ellipse_regions(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outside, inside) masks from the source's alpha: far outside the ellipse, and its core."""
    import cv2

    hidden = (alpha == 0).astype(np.uint8)
    outside = cv2.erode(hidden, np.ones((15, 15), np.uint8)) > 0
    inside = cv2.erode((alpha == 255).astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
    return outside, inside


@pytest.mark.parametrize("output", ["out.webm", "out.mov", "out.gif", "frames/%04d.png", "seq/"])
def test_transparent_outputs_keep_the_portraits_alpha(tmp_path: Path, script: Path, output: str) -> None:
    src = case("rgba_hidden_colour.png")
    out = f"{tmp_path}/{output}"  # as typed: a trailing / says "a folder of PNGs"
    res = render(RenderJob(source=str(src), driver=str(script), output=out, max_size=256,
                           progress=False, background="transparent"))
    assert res.frames == 12
    frames = decode_rgba(Path(out).parent if "%" in output else Path(out))
    assert len(frames) == 12
    alpha_src = load_image(src, max_side=256, keep_alpha=True)[..., 3]
    outside, inside = _ellipse_regions(alpha_src)
    for f in frames:
        assert f.shape[:2] == alpha_src.shape
        a = f[..., 3]
        assert a[outside].max() <= 8, "the hidden area must stay transparent"
        assert a[inside].min() >= 240, "the portrait must stay opaque"
        assert not magenta(f[..., :3][a > 0]).any()
        assert not magenta(f[..., :3]).any(), "not even under alpha 0"
    # it is animated: the face moves between the first and the last frame
    assert np.abs(frames[0][inside, :3].astype(int) - frames[-1][inside, :3]).mean() > 2


@pytest.mark.parametrize("output", ["out.mp4", "out.webm"])
def test_opaque_outputs_show_the_chosen_background_never_the_hidden_colour(tmp_path: Path, script: Path,
                                                                          output: str) -> None:
    src = case("rgba_hidden_colour.png")
    out = tmp_path / output
    render(RenderJob(source=str(src), driver=str(script), output=str(out), max_size=256, progress=False,
                     background="#20c040"))
    frames = decode_rgba(out)
    outside, inside = _ellipse_regions(load_image(src, max_side=256, keep_alpha=True)[..., 3])
    for f in frames:
        assert (f[..., 3] == 255).all()
        assert np.abs(f[outside][:, :3].astype(int) - (0x20, 0xC0, 0x40)).max() <= 24
        assert not magenta(f[..., :3]).any()


def test_an_mp4_of_a_portrait_with_alpha_composites_over_its_blurred_self(tmp_path: Path, script: Path) -> None:
    out = tmp_path / "auto.mp4"
    render(RenderJob(source=str(case("rgba_hidden_colour.png")), driver=str(script), output=str(out),
                     max_size=256, progress=False))
    frames = decode_rgba(out)
    assert frames and not any(magenta(f[..., :3]).any() for f in frames)


def test_a_plain_portrait_is_cut_out_with_its_person_matte(tmp_path: Path, script: Path, portrait_file: Path,
                                                           portrait_landmarks: np.ndarray) -> None:
    out = tmp_path / "astronaut.webm"
    render(RenderJob(source=str(portrait_file), driver=str(script), output=str(out), max_size=512,
                     progress=False, background="transparent"))
    frames = decode_rgba(out)
    lm = portrait_landmarks[:, :2]
    (x0, y0), (x1, y1) = lm.min(axis=0), lm.max(axis=0)
    mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)  # the inner face (the box's corners are not face)
    inner = (slice(int(y0 + my), int(y1 - my)), slice(int(x0 + mx), int(x1 - mx)))
    for f in frames[::4]:
        a = f[..., 3]
        assert a[inner].min() >= 200, "the face is opaque"
        # the astronaut photo's top corners are background (a flag, the sky)
        assert np.median(a[:60, :60]) <= 16 and np.median(a[:60, -60:]) <= 16


def test_transparency_into_an_mp4_is_refused_in_one_line(tmp_path: Path, script: Path) -> None:
    with pytest.raises(OutputError) as e:
        render(RenderJob(source=str(case("rgba_hidden_colour.png")), driver=str(script),
                         output=str(tmp_path / "x.mp4"), max_size=128, progress=False, background="transparent"))
    assert "\n" not in str(e.value) and ".webm" in str(e.value)
    assert not (tmp_path / "x.mp4").exists()


def test_a_bad_background_is_one_line(tmp_path: Path, script: Path) -> None:
    with pytest.raises(InputError) as e:
        render(RenderJob(source=str(case("rgba_hidden_colour.png")), driver=str(script),
                         output=str(tmp_path / "x.webm"), max_size=128, progress=False, background="nope.png"))
    assert "\n" not in str(e.value) and "#rrggbb" in str(e.value)
