"""Live sound and picture in sync? An aiortc viewer pulls both from ``streamfx live`` and
measures their offset over time.

Starts ``streamfx live --driver VOICE`` (a sound file standing in for a microphone: the mouth
moves with it and it is the sound sent), pulls video + audio over WHEP, and in each window
of ``--window`` seconds finds the lag that best lines up the mouth openness the tracker reads
on the received frames with the envelope of the received sound, both on the viewer's arrival
clock. Prints one offset per window (+ = picture after the sound). This includes the voice
mapping's own smoothing (live has no lookahead), i.e. what a viewer actually sees.

    .venv/bin/python scripts/av_sync_live.py speech.wav --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamfx.web.client import PullResult, pull_whep  # noqa: E402

FPS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_live(voice: str, port: int, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLOG_minloglevel": "2"}
    return subprocess.Popen([sys.executable, "-m", "streamfx", "live", "--driver", voice, "--no-vcam",
                             "--webrtc", f"127.0.0.1:{port}", "--webrtc-loopback", "--size", "512x512",
                             *(extra or [])], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_port(port: int, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"streamfx live did not listen on {port}")


def pull(port: int, seconds: float) -> tuple[PullResult, list[tuple[float, np.ndarray]]]:
    frames: list[tuple[float, np.ndarray]] = []

    def keep(frame: object) -> None:  # a small copy with its arrival time, for the tracker later
        img = frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
        frames.append((time.perf_counter(), cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)))

    res = asyncio.run(pull_whep(f"http://127.0.0.1:{port}/whep", seconds=seconds, audio=True, on_frame=keep))
    return res, frames


def offsets(res: PullResult, frames: list[tuple[float, np.ndarray]], window: float,
            max_lag_s: float = 0.3) -> list[tuple[float, float, float]]:
    """(window start s, offset ms, correlation) per window: the lag of the mouth behind the sound."""
    from tests.picture import mouth_openness

    times = np.array([t for t, _ in frames])
    mouth = mouth_openness([f for _, f in frames])
    # the sound on the arrival clock: each block's samples end when it arrived
    t_end = np.array([t for t, _ in res.sound])
    blocks = [x for _, x in res.sound]
    s_t = np.concatenate([te - np.arange(len(x))[::-1] / 48_000 for te, x in zip(t_end, blocks, strict=True)])
    s_x = np.concatenate(blocks)
    order = np.argsort(s_t)
    s_t, s_x = s_t[order], s_x[order]

    def env_at(ts: np.ndarray) -> np.ndarray:
        out = np.empty(len(ts))
        for i, t in enumerate(ts):
            a, b = np.searchsorted(s_t, [t - 0.02, t + 0.02])
            seg = s_x[a:b]
            out[i] = float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0
        return out

    lags = np.arange(-max_lag_s, max_lag_s + 1e-9, 0.005)
    result = []
    t0 = times[0]
    w = t0
    while w + window <= times[-1] + 1e-6:
        sel = (times >= w) & (times < w + window) & ~np.isnan(mouth)
        best = (0.0, -1.0)
        for lag in lags:  # picture lags the sound by `lag`: compare mouth(t) with sound(t - lag)
            e = env_at(times[sel] - lag)
            if np.std(e) == 0:
                continue
            c = float(np.corrcoef(mouth[sel], e)[0, 1])
            if c > best[1]:
                best = (float(lag), c)
        result.append((w - t0, best[0] * 1000, best[1]))
        w += window
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("voice", help="a sound file with speech (it drives the mouth and is the sound)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--window", type=float, default=5.0)
    args = ap.parse_args()
    port = free_port()
    proc = start_live(args.voice, port)
    try:
        wait_port(port)
        res, frames = pull(port, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"received {len(frames)} video frames, {sum(len(x) for _, x in res.sound) / 48_000:.1f} s of sound")
    for start, off, corr in offsets(res, frames, args.window):
        print(f"{start:5.1f}–{start + args.window:.1f} s: offset {off:+5.0f} ms (r = {corr:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
