"""Media in and out: images, video/camera sources and the file sink, on real files."""

from __future__ import annotations

import logging
import os
import re
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamfx.errors import InputError, OutputError, StreamFXError, TruncatedInputError
from streamfx.imageio import demo_portrait, load_image, load_image_bytes, save_image
from streamfx.sinks.base import sink_factory
from streamfx.sinks.file import VideoFileSink
from streamfx.sources.base import source_factory
from streamfx.sources.camera import CameraSource
from streamfx.sources.video import VideoFileSource, probe_video
from tests.conftest import ROOT, media

# ---------------------------------------------------------------- helpers


def gradient_frame(i: int, w: int = 128, h: int = 96) -> np.ndarray:
    """A smooth, moving RGB gradient: easy to compress, so codec error stays small."""
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    phase = i / 10.0
    r = 0.5 + 0.4 * np.sin(2 * np.pi * (x + phase))
    g = 0.2 + 0.6 * y + 0.0 * x
    b = 0.5 + 0.4 * np.cos(2 * np.pi * (y * 0.5 + x * 0.5 - phase))
    rgb = np.stack(np.broadcast_arrays(r, g, b), axis=-1)
    return np.ascontiguousarray((rgb * 255).round().astype(np.uint8))


def write_clip(
    path: Path,
    n: int = 48,
    fps: int = 24,
    size: tuple[int, int] = (160, 120),
    *,
    faststart: bool = True,
) -> Path:
    """Encode a real H.264 mp4 with PyAV directly (independent of VideoFileSink)."""
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height = size
        s.pix_fmt = "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(n):
            a = gradient_frame(i, *size)
            # noise keeps every frame a similar size, so cutting bytes cuts frames proportionally
            a = np.clip(a.astype(np.int16) + rng.integers(-20, 20, a.shape), 0, 255).astype(
                np.uint8
            )
            f = av.VideoFrame.from_ndarray(a, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def decode_all(path: Path) -> tuple[list[np.ndarray], Fraction | None, tuple[int, int]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        return frames, s.average_rate, (s.width, s.height)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height (a decompression bomb's shape, without the bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


# ---------------------------------------------------------------- images


def test_load_image_rgb_from_bgr_png(tmp_path: Path) -> None:
    rgb = gradient_frame(0, 64, 48)
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, rgb)


def test_load_image_drops_alpha_and_expands_gray(tmp_path: Path) -> None:
    rgba = np.dstack([gradient_frame(0, 32, 32), np.full((32, 32), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    out = load_image(tmp_path / "a.png")
    assert out.shape == (32, 32, 3)
    np.testing.assert_array_equal(out, rgba[..., :3])

    gray = np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    out = load_image(str(tmp_path / "g.png"))
    assert out.shape == (32, 32, 3)
    np.testing.assert_array_equal(out[..., 0], gray)
    np.testing.assert_array_equal(out[..., 2], gray)


def test_load_image_missing(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"source image '.*nope\.jpg' does not exist — check the path"
    ):
        load_image(tmp_path / "nope.jpg")


def test_load_image_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)


def test_load_image_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(tmp_path / "empty.jpg")


def test_load_image_not_an_image(tmp_path: Path, clip: Path) -> None:
    (tmp_path / "notes.jpg").write_text("this is not a picture\n")
    # a .jpg holding text: the line says the name is not the problem (a new user was told
    # to "use a .jpg file" about a .jpg)
    with pytest.raises(
        InputError,
        match=r"'.*notes\.jpg' is not an image OpenCV can read: it is named \.jpg but holds no picture .* — use a "
              r"\.jpg/\.png/\.webp/\.bmp file that opens in an image viewer$",
    ):
        load_image(tmp_path / "notes.jpg")
    with pytest.raises(InputError, match="is not an image OpenCV can read: it is a video.*second argument"):
        load_image(clip)  # an mp4 given as the portrait
    (tmp_path / "notes.txt").write_text("this is not a picture\n")
    with pytest.raises(InputError, match=r"notes\.txt' is not an image OpenCV can read \(use a \.jpg"):
        load_image(tmp_path / "notes.txt")


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    for bad in (tmp_path / "missing.png", tmp_path):
        with pytest.raises(StreamFXError) as ei:
            load_image(bad)
        assert "\n" not in str(ei.value) and "—" in str(ei.value)


def test_load_image_huge_is_downscaled_with_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    side = 10_000
    # A cheap-to-encode 10000×10000 JPEG: a gradient row repeated (libjpeg handles it in ~1 s).
    row = np.linspace(0, 255, side, dtype=np.float32).astype(np.uint8)
    big = np.broadcast_to(row[None, :, None], (side, side, 3))
    p = tmp_path / "huge.jpg"
    assert cv2.imwrite(str(p), np.ascontiguousarray(big), [cv2.IMWRITE_JPEG_QUALITY, 80])
    del big
    with caplog.at_level(logging.WARNING, logger="streamfx"):
        out = load_image(p)
    assert out.shape == (4096, 4096, 3)
    notices = [r for r in caplog.records if "downscaled" in r.getMessage()]
    assert len(notices) == 1
    msg = notices[0].getMessage()
    assert "10000×10000" in msg and "4096×4096" in msg and "\n" not in msg
    # the gradient survived the reduced decode + INTER_AREA
    assert abs(int(out[0, 0, 0]) - 0) < 8 and abs(int(out[0, -1, 0]) - 255) < 8


def test_a_jpeg_halved_by_its_decoder_alone_still_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 1024×512 at --max-size 512: libjpeg decodes it straight to 512×256, nothing is resized
    # after, and the notice was never given (two_faces.jpg, a new user's find)
    p = tmp_path / "wide.jpg"
    assert cv2.imwrite(str(p), cv2.cvtColor(gradient_frame(0, 1024, 512), cv2.COLOR_RGB2BGR))
    with caplog.at_level(logging.WARNING, logger="streamfx"):
        out = load_image(p, max_side=512)
    assert out.shape == (256, 512, 3)
    notices = [r.getMessage() for r in caplog.records if "downscaled" in r.getMessage()]
    assert len(notices) == 1 and "1024×512; downscaled to 512×256" in notices[0], notices
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamfx"):
        load_image(p, max_side=1024)  # no smaller than it is: nothing to say
    assert not [r for r in caplog.records if "downscaled" in r.getMessage()]


def test_load_image_non_jpeg_downscale(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = save_image(tmp_path / "wide.png", gradient_frame(0, 600, 400))
    with caplog.at_level(logging.WARNING, logger="streamfx"):
        out = load_image(p, max_side=300)
    assert out.shape == (200, 300, 3)
    assert any("downscaled" in r.getMessage() for r in caplog.records)


def test_load_image_refuses_too_many_pixels_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    p.write_bytes(png_header_only(20_000, 20_000))
    with pytest.raises(InputError, match="400 megapixels"):
        load_image(p)


def test_load_image_bytes(tmp_path: Path) -> None:
    rgb = gradient_frame(3, 40, 30)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    np.testing.assert_array_equal(load_image_bytes(buf.tobytes()), rgb)
    with pytest.raises(InputError, match=r"'face\.png' is .* over the .* upload limit"):
        load_image_bytes(buf.tobytes(), max_bytes=100, name="face.png")
    with pytest.raises(InputError, match=r"'upload' is not a JPEG, PNG, WebP or BMP image"):
        load_image_bytes(b"GIF89a? no, just text")
    with pytest.raises(InputError, match="empty"):
        load_image_bytes(b"")
    with pytest.raises(InputError, match="megapixels"):
        load_image_bytes(png_header_only(30_000, 10_000), name="bomb.png")


def test_load_image_bytes_takes_four_formats_by_their_magic_bytes(tmp_path: Path) -> None:
    from streamfx.errors import ImageTooLargeError, UnsupportedImageError

    rgb = gradient_frame(2, 40, 30)
    for ext in (".png", ".jpg", ".webp", ".bmp"):
        ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        assert load_image_bytes(buf.tobytes(), name=f"x{ext}").shape == (30, 40, 3), ext
    ok, tif = cv2.imencode(".tiff", rgb)
    assert ok
    hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 14200 +X 14200\n" + b"\x02" * 64
    for other in (hdr, tif.tobytes(), b"GIF89a" + b"\0" * 32):  # OpenCV reads the first two; uploads may not
        with pytest.raises(UnsupportedImageError, match="not a JPEG, PNG, WebP or BMP image"):
            load_image_bytes(other)
    # 64 MP declared in 100 bytes: refused from the header (load_image's own cap is 200 MP)
    with pytest.raises(ImageTooLargeError, match="8000×8000 .* over the 50-megapixel upload limit"):
        load_image_bytes(png_header_only(8000, 8000), name="bomb.png")
    with pytest.raises(InputError, match="header is damaged"):
        load_image_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)


def test_demo_portrait() -> None:
    img = demo_portrait()
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    assert img.std() > 20  # a real photo, not a blank


def test_save_image_round_trip(tmp_path: Path) -> None:
    rgb = gradient_frame(1, 50, 40)
    p = save_image(tmp_path / "sub" / "out.png", rgb)
    np.testing.assert_array_equal(load_image(p), rgb)
    with pytest.raises(OutputError):
        save_image(tmp_path / "out.xyz", rgb)


# ---------------------------------------------------------------- video source


def test_registries_open_working_sources_and_sinks(tmp_path: Path, clip: Path) -> None:
    """What the registries hand out by name reads and writes real files."""
    source = source_factory("video")(clip, max_frames=3)
    frames = [f.image for f in source if f.image is not None]
    assert len(frames) == 3 and all(f.shape == (120, 160, 3) for f in frames)
    with sink_factory("file")(tmp_path / "copy.mp4", fps=24) as sink:
        for f in frames:
            sink.write(f)
    got, rate, size = decode_all(tmp_path / "copy.mp4")
    assert len(got) == 3 and rate == 24 and size == (160, 120)
    assert np.abs(got[2].astype(np.int16) - frames[2]).mean() < 8
    with pytest.raises(InputError, match="cannot open camera 57"):  # the camera entry is the real one
        source_factory("camera")(57)


def test_video_source_reads_clip(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.width, info.height, info.fps, info.frame_count) == (160, 120, 24.0, 48)
    assert info.duration == pytest.approx(2.0, abs=0.05)

    src = VideoFileSource(clip)
    assert (src.fps, src.frame_count, src.size, src.live) == (24.0, 48, (160, 120), False)
    frames = list(src)
    assert len(frames) == 48 and src.decoded_frames == 48 and not src.truncated
    assert [f.index for f in frames] == list(range(48))
    assert frames[0].timestamp == pytest.approx(0.0)
    assert np.diff([f.timestamp for f in frames]) == pytest.approx(np.full(47, 1 / 24), abs=1e-6)
    img = frames[5].image
    assert img is not None and img.shape == (120, 160, 3) and img.dtype == np.uint8
    # decoded content matches what was encoded (noise ±20 on top of the gradient)
    assert np.abs(img.astype(np.int16) - gradient_frame(5, 160, 120)).mean() < 16
    assert all(f.captured_at <= time.perf_counter() for f in frames)


def test_video_source_max_frames(clip: Path) -> None:
    src = VideoFileSource(clip, max_frames=5)
    assert src.frame_count == 5
    assert len(list(src)) == 5 and not src.truncated


def test_video_source_realtime_pacing(clip: Path) -> None:
    """Frames are released at their media time, never before it. (How *late* they come depends
    on the machine's load, so no upper bound is asserted here: scripts/bench_live.py measures it.)"""
    src = VideoFileSource(clip, realtime=True, max_frames=12)
    assert src.live
    t0 = time.perf_counter()
    frames = list(src)
    elapsed = time.perf_counter() - t0
    assert len(frames) == 12
    # 12 frames at 24 fps: the last is due 11/24 ≈ 0.46 s after the first, so never sooner
    # (the 0.05 s allow for the first frame's own conversion after the clock starts)
    assert elapsed >= 11 / 24 - 0.05
    early = [f.timestamp - (f.captured_at - frames[0].captured_at) for f in frames]
    assert max(early) < 0.05, early


def test_video_source_loop(clip: Path) -> None:
    src = VideoFileSource(clip, loop=True, max_frames=120)
    frames = list(src)
    assert len(frames) == 120
    assert [f.index for f in frames] == list(range(120))
    ts = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(ts) > 0)
    assert ts[48] == pytest.approx(2.0, abs=1e-6)  # first frame of the second pass
    assert ts[-1] == pytest.approx(119 / 24, abs=1e-6)


def test_video_source_close_stops_iteration(clip: Path) -> None:
    src = VideoFileSource(clip)
    got = []
    for f in src:
        got.append(f)
        if len(got) == 3:
            src.close()
    assert len(got) == 3


def test_truncated_mp4_decodes_then_raises(tmp_path: Path, clip: Path) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    src = VideoFileSource(cut)  # the index (moov) is at the front, so it still opens
    assert src.frame_count == 48
    got = []
    with pytest.raises(
        TruncatedInputError,
        match=r"driver video '.*cut\.mp4' is truncated or corrupt after \d+ frames",
    ) as ei:
        for f in src:
            got.append(f)
    assert 0 < len(got) < 48
    assert src.truncated and src.decoded_frames == len(got)
    assert f"after {len(got)} frames" in str(ei.value)
    assert ei.value.exit_code == 3


def test_truncated_mp4_with_loop_keeps_looping(
    tmp_path: Path, clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="streamfx"):
        frames = list(VideoFileSource(cut, loop=True, max_frames=80))
    assert len(frames) == 80
    assert sum("truncated" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("change", ["delete", "rewrite in place", "replace with another clip"])
def test_looping_source_keeps_looping_what_it_read_when_the_file_changes(
    tmp_path: Path, clip: Path, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    live = tmp_path / "driver.mp4"
    live.write_bytes(clip.read_bytes())
    src = VideoFileSource(live, loop=True, max_frames=48 * 3)
    assert src.in_memory
    frames = []
    with caplog.at_level(logging.WARNING, logger="streamfx"):
        for f in src:
            frames.append(f.image)
            if len(frames) == 10:  # mid-way through the first pass
                if change == "delete":
                    live.unlink()
                elif change == "rewrite in place":
                    with live.open("r+b") as fh:  # same inode, contents gone
                        fh.truncate(0)
                        fh.write(b"\0" * 5000)
                else:
                    other = write_clip(tmp_path / "other.mp4", n=12, size=(64, 48))
                    os.replace(other, live)
    # all three passes show the clip that was loaded: nothing froze, nothing else crept in
    assert len(frames) == 48 * 3
    for i in range(48):
        assert np.array_equal(frames[i], frames[48 + i]) and np.array_equal(frames[i], frames[96 + i])
    said = [r.getMessage() for r in caplog.records if "driver.mp4" in r.getMessage()]
    assert len(said) == 1, said  # once, not every pass
    assert "still looping the copy read at start" in said[0]
    assert ("deleted or moved" if change == "delete" else "changed on disk") in said[0]


def test_looping_source_too_large_to_hold_says_when_the_file_is_gone(tmp_path: Path, clip: Path) -> None:
    live = tmp_path / "driver.mp4"
    live.write_bytes(clip.read_bytes())
    src = VideoFileSource(live, loop=True, max_frames=200, in_memory_limit=1000)
    assert not src.in_memory
    got = 0
    with pytest.raises(InputError, match="does not exist"):  # the live pipeline falls back on this
        for _ in src:
            got += 1
            if got == 10:
                live.unlink()
    assert got == 48  # the pass in progress finished from the open file


def test_cut_mp4_without_index_is_input_error(tmp_path: Path) -> None:
    full = write_clip(tmp_path / "moov_at_end.mp4", n=24, faststart=False)
    data = full.read_bytes()
    cut = tmp_path / "cut_moov.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(
        InputError,
        match=r"'.*cut_moov\.mp4' is truncated or corrupt: its index is missing",
    ):
        VideoFileSource(cut)


def test_not_a_video(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"is not a video that can be decoded: it is named \.mp4 but holds no "
                                         r"playable video \(a text file, or a renamed or damaged one\?\)"):
        VideoFileSource(garbage)
    text = tmp_path / "readme.mp4"
    text.write_text("hello\n" * 100)
    with pytest.raises(InputError, match="named .mp4 but holds no playable video") as e:
        VideoFileSource(text)
    assert "PyAV" not in str(e.value)  # no library names at the user
    with pytest.raises(InputError, match="does not exist"):
        VideoFileSource(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe_video(tmp_path / "empty.mp4")
    still = save_image(tmp_path / "still.png", gradient_frame(0, 64, 64))
    with pytest.raises(InputError, match=r"is a still image, not a video .* or a motion script \(.*talk"):
        VideoFileSource(still)
    renamed = tmp_path / "still.mp4"  # a picture renamed .mp4: the name is not what makes it a video
    renamed.write_bytes(still.read_bytes())
    with pytest.raises(InputError, match=r"is a still image named \.mp4, not a video"):
        VideoFileSource(renamed)


def test_shared_driving_clip() -> None:
    src = VideoFileSource(media("driving", "lp_d0.mp4"))
    assert (src.fps, src.frame_count, src.size) == (25.0, 78, (512, 512))
    frames = list(src)
    assert len(frames) == 78 and not src.truncated
    assert frames[-1].timestamp == pytest.approx(77 / 25)
    assert frames[0].image is not None and frames[0].image.shape == (512, 512, 3)


# ---------------------------------------------------------------- camera


def test_camera_missing_device() -> None:
    with pytest.raises(
        InputError,
        match=r"cannot open camera 57 \(no such device\) — use a video file or a motion script \(e.g. idle\)",
    ):
        CameraSource(57)
    with pytest.raises(InputError, match=r"cannot open camera /dev/video57 \(no such device\)"):
        CameraSource("/dev/video57")


def test_camera_not_a_capture_device(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-camera"
    bogus.write_text("x")
    with pytest.raises(InputError, match="cannot open camera .* motion script"):
        CameraSource(str(bogus))


# ---------------------------------------------------------------- file sink


def write_frames(path: Path, frames: list[np.ndarray], fps: float, **kw: object) -> VideoFileSink:
    sink = VideoFileSink(path, fps=fps, **kw)  # type: ignore[arg-type]
    h, w = frames[0].shape[:2]
    sink.open(w, h, fps)
    for f in frames:
        sink.write(f)
    sink.close()
    return sink


def test_sink_mp4_round_trip(tmp_path: Path) -> None:
    frames = [gradient_frame(i) for i in range(30)]
    out = tmp_path / "deep" / "er" / "out.mp4"  # parents are created
    sink = write_frames(out, frames, 24)
    assert sink.frames_written == 30
    got, rate, size = decode_all(out)
    assert len(got) == 30 and rate == 24 and size == (128, 96)
    mae = np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(got, frames, strict=True)])
    assert mae < 8, mae
    sink.close()  # idempotent


def test_sink_mp4_ntsc_rate_and_rgba(tmp_path: Path) -> None:
    frames = [
        np.dstack([gradient_frame(i, 64, 48), np.zeros((48, 64), np.uint8)]) for i in range(12)
    ]
    out = tmp_path / "ntsc.mp4"
    write_frames(out, frames, 30000 / 1001)
    got, rate, size = decode_all(out)
    assert len(got) == 12 and rate == Fraction(30000, 1001) and size == (64, 48)


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_sink_odd_size_is_padded(tmp_path: Path, ext: str) -> None:
    frames = [gradient_frame(i, 101, 75) for i in range(10)]
    out = tmp_path / f"odd{ext}"
    write_frames(out, frames, 25)
    got, rate, size = decode_all(out)
    assert size == (102, 76) and len(got) == 10 and rate == 25
    # the padding replicates the edge, and the picture itself is intact
    assert np.abs(got[4][:75, :101].astype(np.int16) - frames[4]).mean() < 8
    assert np.abs(got[4][:, 101].astype(np.int16) - got[4][:, 100]).mean() < 6


def test_sink_webm_round_trip(tmp_path: Path) -> None:
    frames = [gradient_frame(i) for i in range(20)]
    out = tmp_path / "out.webm"
    write_frames(out, frames, 25)
    got, rate, size = decode_all(out)
    assert len(got) == 20 and rate == 25 and size == (128, 96)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    assert (
        np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(got, frames, strict=True)])
        < 10
    )


def test_sink_gif_round_trip(tmp_path: Path) -> None:
    frames = [gradient_frame(i) for i in range(15)]
    out = tmp_path / "out.gif"
    sink = write_frames(out, frames, 25)
    assert sink.frames_written == 15
    got, rate, size = decode_all(out)
    assert len(got) == 15 and rate == 25 and size == (128, 96)
    colours = np.unique(np.concatenate([g.reshape(-1, 3) for g in got]), axis=0)
    assert len(colours) > 16
    # a global palette + dithering tracks the gradient closely
    assert (
        np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(got, frames, strict=True)])
        < 12
    )


def test_sink_auto_opens_on_first_write(tmp_path: Path) -> None:
    out = tmp_path / "auto.mp4"
    with VideoFileSink(out, fps=10) as sink:
        for i in range(5):
            sink.write(gradient_frame(i, 32, 32))
        with pytest.raises(ValueError, match="opened at 32×32"):
            sink.write(gradient_frame(0, 16, 16))
    got, rate, size = decode_all(out)
    assert len(got) == 5 and rate == 10 and size == (32, 32)


def test_fragmented_mp4_survives_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "crash.mp4"
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from streamfx.sinks.file import VideoFileSink
        sink = VideoFileSink({str(out)!r}, fps=25)
        for i in range(60):
            a = np.zeros((96, 128, 3), np.uint8); a[..., 0] = i * 4; a[:, : i * 2, 1] = 255
            sink.write(a)
        os._exit(1)  # no close(): no trailer, no encoder flush
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 1, proc.stderr.decode()
    got, rate, size = decode_all(out)
    # frames still inside x264's lookahead are lost; everything in a finished fragment plays
    assert len(got) >= 15, len(got)
    assert rate == 25 and size == (128, 96)


def test_sink_unsupported_extension(tmp_path: Path) -> None:
    with pytest.raises(
        OutputError,
        match=r"unsupported output extension '\.xyz' for '.*out\.xyz' — use \.mp4, \.webm, \.mov, \.gif "
              r"or a PNG sequence",
    ):
        VideoFileSink(tmp_path / "out.xyz", fps=25)
    with pytest.raises(OutputError, match="unsupported output extension"):
        VideoFileSink(tmp_path / "noext", fps=25)


def test_sink_unwritable_paths(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(
        OutputError, match=r"cannot create folder .*file\.txt.* choose a writable output path"
    ):
        VideoFileSink(blocker / "out.mp4", fps=25)
    folder = tmp_path / "already_a_dir.mp4"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        VideoFileSink(folder, fps=25)
    # the checks leave nothing behind
    VideoFileSink(tmp_path / "probe.mp4", fps=25).close()
    assert not (tmp_path / "probe.mp4").exists()


def test_sink_permission_denied(tmp_path: Path) -> None:
    """An unwritable folder is one clear OutputError — also in CI, which runs as root.

    Root ignores file permissions, so as root the check runs in a forked child that first
    drops to the unprivileged ``nobody`` user (everything it needs is already imported).
    """
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(OutputError, match="cannot write output .*Permission denied"):
                VideoFileSink(ro / "out.mp4", fps=25)
        finally:
            ro.chmod(0o700)
        return
    import pwd
    import tempfile

    nobody = pwd.getpwnam("nobody")
    # a root-owned folder nobody may enter but not write (pytest's tmp_path is root-only)
    ro = Path(tempfile.mkdtemp(prefix="streamfx-ro-"))
    try:
        ro.chmod(0o755)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: drop privileges, try, report one line, never return into pytest
            code = 1
            try:
                os.close(read)
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                try:
                    VideoFileSink(ro / "out.mp4", fps=25)
                    msg = "no error"
                except OutputError as e:
                    msg, code = f"OutputError: {e}", 0
                os.write(write, msg.encode())
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read) as f:
            msg = f.read()
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, msg
        assert re.search(r"cannot write output .*Permission denied", msg), msg
        assert "\n" not in msg and not (ro / "out.mp4").exists()
    finally:
        ro.rmdir()
