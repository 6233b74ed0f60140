"""The streamfx CLI end to end: real renders, real files, and every bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamfx.cli import main
from tests.conftest import media

STREAMFX = [sys.executable, "-m", "streamfx"]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLOG_minloglevel": "2"}
    return subprocess.run([*STREAMFX, *args], capture_output=True, text=True, timeout=timeout, env=env)


def error_line(p: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("streamfx: error:")]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


def probe(path: Path) -> tuple[int, float, tuple[int, int]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return n, float(s.average_rate or 0), (s.width, s.height)


def test_render_video_driver_keeps_frame_count_and_fps(tmp_path: Path, portrait_file: Path) -> None:
    clip = media("driving", "lp_d0.mp4")  # 78 frames @ 25 fps
    out = tmp_path / "out.mp4"
    p = run("render", str(portrait_file), str(clip), "-o", str(out), "--reference", "best", "-q")
    assert p.returncode == 0, p.stderr
    n, fps, size = probe(out)
    assert n == 78 and fps == pytest.approx(25) and size == (512, 512)


def test_render_with_the_plain_mesh(tmp_path: Path, portrait_file: Path) -> None:
    """--no-align animates from the mesh as tracked: a different, still valid, render."""
    clip = media("driving", "lp_d0.mp4")
    aligned, plain = tmp_path / "aligned.mp4", tmp_path / "plain.mp4"
    for out, extra in ((aligned, []), (plain, ["--no-align"])):
        p = run("render", str(portrait_file), str(clip), "-o", str(out), "-q", "--smoothing", "0", *extra)
        assert p.returncode == 0, p.stderr
        assert probe(out)[0] == 78
    with av.open(str(aligned)) as a, av.open(str(plain)) as b:
        fa = [f.to_ndarray(format="rgb24").astype(int) for f in a.decode(video=0)]
        fb = [f.to_ndarray(format="rgb24").astype(int) for f in b.decode(video=0)]
    assert max(np.abs(x - y).mean() for x, y in zip(fa, fb, strict=True)) > 0.05


def test_render_script_to_webm_and_gif(tmp_path: Path, portrait_file: Path) -> None:
    for ext in ("webm", "gif"):
        out = tmp_path / f"nod.{ext}"
        assert main(["render", str(portrait_file), "nod", "-o", str(out), "-q", "--smoothing", "0.5",
                     "--mouth-gain", "1.5", "--mirror", "--sharpen", "0.3"]) == 0
        n, _, size = probe(out)
        assert n == 132 and size == (512, 512)


def test_render_output_actually_animates(tmp_path: Path, portrait_file: Path, portrait: np.ndarray) -> None:
    out = tmp_path / "talk.mp4"
    assert main(["render", str(portrait_file), "talk", "-o", str(out), "-q"]) == 0
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]
    face = [f[100:230, 160:300] for f in frames]
    corner = [f[:40, :40] for f in frames]
    face_change = max(np.abs(a - face[0]).mean() for a in face)
    corner_change = max(np.abs(a - corner[0]).mean() for a in corner)  # codec noise only
    assert face_change > 4 and corner_change < min(3.0, face_change / 3)


def test_demo_writes_mp4_and_gif(tmp_path: Path) -> None:
    assert main(["demo", "--out-dir", str(tmp_path), "-q", "--no-live"]) == 0
    for name in ("demo.mp4", "demo.gif"):
        n, _, size = probe(tmp_path / name)
        assert n == 390 and size == (512, 512)


def test_landmarks_file_route_animates_a_face_the_tracker_cannot_read(tmp_path: Path) -> None:
    # a flat, boxy robot: mediapipe does not read it as a face
    import json

    import cv2

    img = np.full((400, 400, 3), (70, 90, 120), np.uint8)
    cv2.rectangle(img, (90, 90), (310, 330), (160, 170, 180), -1)
    for x in (150, 250):
        cv2.rectangle(img, (x - 25, 160), (x + 25, 190), (40, 220, 255), -1)
    cv2.rectangle(img, (150, 260), (250, 275), (30, 30, 30), -1)
    cv2.rectangle(img, (190, 200), (210, 235), (120, 130, 140), -1)
    src = tmp_path / "robot.png"
    cv2.imwrite(str(src), img[..., ::-1])
    p = run("render", str(src), "talk", "-o", str(tmp_path / "x.mp4"), "-q")
    assert p.returncode != 0
    assert "--landmarks" in error_line(p) and "robot.png" in error_line(p)
    lm = tmp_path / "robot.json"
    lm.write_text(json.dumps({"keypoints": {"right_eye": [150, 175], "left_eye": [250, 175], "nose_tip": [200, 225],
                                            "mouth_right": [152, 267], "mouth_left": [248, 267]}}))
    out = tmp_path / "robot.mp4"
    p = run("render", str(src), "talk", "-o", str(out), "--landmarks", str(lm), "-q")
    assert p.returncode == 0, p.stderr
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]
    mouth = [f[240:300, 140:260] for f in frames]
    assert max(np.abs(m - mouth[0]).mean() for m in mouth) > 5
    assert max(np.abs(f[:60, :60] - frames[0][:60, :60]).mean() for f in frames) < 3


# ---- bad input: one line, no traceback, non-zero exit -----------------------------------
def test_missing_source(tmp_path: Path) -> None:
    p = run("render", str(tmp_path / "nope.jpg"), "idle", "-o", str(tmp_path / "o.mp4"))
    assert p.returncode != 0 and "does not exist" in error_line(p)


def test_source_that_is_not_an_image(tmp_path: Path) -> None:
    f = tmp_path / "notes.jpg"
    f.write_text("hello")
    p = run("render", str(f), "idle", "-o", str(tmp_path / "o.mp4"))
    assert p.returncode != 0 and "notes.jpg" in error_line(p)


def test_driver_that_is_not_a_video(tmp_path: Path, portrait_file: Path) -> None:
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"\x00" * 1000)
    p = run("render", str(portrait_file), str(f), "-o", str(tmp_path / "o.mp4"))
    assert p.returncode != 0 and "clip.mp4" in error_line(p)


def test_missing_driver(tmp_path: Path, portrait_file: Path) -> None:
    p = run("render", str(portrait_file), str(tmp_path / "gone.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert p.returncode != 0 and "gone.mp4" in error_line(p)


def test_image_with_no_face(tmp_path: Path) -> None:
    import cv2

    f = tmp_path / "sky.png"
    cv2.imwrite(str(f), np.tile(np.linspace(0, 255, 300, dtype=np.uint8)[:, None, None], (1, 300, 3)))
    p = run("render", str(f), "idle", "-o", str(tmp_path / "o.mp4"))
    assert p.returncode != 0
    line = error_line(p)
    assert "sky.png" in line and "--landmarks" in line


def test_unsupported_output_extension(tmp_path: Path, portrait_file: Path) -> None:
    p = run("render", str(portrait_file), "idle", "-o", str(tmp_path / "o.avi2"))
    assert p.returncode != 0 and ".mp4" in error_line(p)


def test_unwritable_output_path(tmp_path: Path, portrait_file: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run("render", str(portrait_file), "idle", "-o", str(blocker / "o.mp4"))
    assert p.returncode != 0 and "o.mp4" in error_line(p)


def test_huge_image_is_downscaled_with_a_notice(tmp_path: Path, portrait: np.ndarray) -> None:
    import cv2

    big = cv2.resize(portrait, (10000, 10000), interpolation=cv2.INTER_LINEAR)
    f = tmp_path / "huge.jpg"
    cv2.imwrite(str(f), big[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    del big
    out = tmp_path / "o.mp4"
    p = run("render", str(f), "nod", "-o", str(out), "-q", "--max-size", "1024")
    assert p.returncode == 0, p.stderr
    assert "downscal" in p.stderr.lower()
    assert probe(out)[2] == (1024, 1024)


def _faststart_copy(src: Path, dst: Path) -> Path:
    """Remux with the index up front, as phones and browsers record: a cut keeps its head."""
    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        s_in = i.streams.video[0]
        s_out = o.add_stream_from_template(s_in)
        for pkt in i.demux(s_in):
            if pkt.dts is None:
                continue
            pkt.stream = s_out
            o.mux(pkt)
    return dst


def test_truncated_driver_renders_what_decodes(tmp_path: Path, portrait_file: Path) -> None:
    full = _faststart_copy(media("driving", "lp_d3.mp4"), tmp_path / "full.mp4")
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    p = run("render", str(portrait_file), str(cut), "-o", str(out), "-q")
    assert p.returncode != 0, "a truncated driver must exit non-zero"
    line = error_line(p)
    assert "truncated" in line.lower() and "o.mp4" in line
    n, _, _ = probe(out)
    assert 30 < n < 354  # a playable file with what decoded


def test_driver_cut_before_its_index_is_a_clear_error(tmp_path: Path, portrait_file: Path) -> None:
    clip = media("driving", "lp_d3.mp4")  # index (moov) at the end: a cut leaves nothing decodable
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:500_000])
    p = run("render", str(portrait_file), str(cut), "-o", str(tmp_path / "o.mp4"), "-q")
    assert p.returncode != 0 and "truncated" in error_line(p)


def test_face_lost_for_a_while_holds_and_recovers(tmp_path: Path, portrait_file: Path) -> None:
    clip = media("driving", "lp_d19.mp4")
    lost = tmp_path / "lost.mp4"
    with av.open(str(clip)) as src, av.open(str(lost), "w") as dst:
        st = dst.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 480, 480, "yuv420p"
        for i, f in enumerate(src.decode(video=0)):
            if i >= 120:
                break
            img = f.to_ndarray(format="rgb24")
            if 40 <= i < 80:
                img = np.full_like(img, 128)  # the performer leaves the frame
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                dst.mux(pkt)
        for pkt in st.encode():
            dst.mux(pkt)
    out = tmp_path / "o.mp4"
    p = run("render", str(portrait_file), str(lost), "-o", str(out), "-q")
    assert p.returncode == 0, p.stderr
    assert probe(out)[0] == 120
    assert "lost" in p.stderr


def test_interrupted_render_leaves_a_playable_file(tmp_path: Path, portrait_file: Path) -> None:
    out = tmp_path / "long.mp4"
    env = {**os.environ, "GLOG_minloglevel": "2"}
    proc = subprocess.Popen([*STREAMFX, "render", str(portrait_file), "demo", "-o", str(out), "-q"],
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 50_000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    n, _, _ = probe(out)
    assert 0 < n < 390


def test_bad_option_values_are_one_line_errors(tmp_path: Path, portrait_file: Path) -> None:
    p = run("render", str(portrait_file), "idle", "-o", str(tmp_path / "o.mp4"), "--smoothing", "5")
    assert p.returncode != 0 and "--smoothing" in error_line(p)
