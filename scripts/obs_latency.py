#!/usr/bin/env python3
"""Latency into OBS: how long a frame takes from StreamFX's OBS stream to OBS's own render.

Starts Debian's OBS headless (obs_bridge.headless: Xvfb, obs-websocket on a free port),
serves the NUT stream with alpha (streamfx.sinks.stream.AlphaStreamSink) and lets
``Bridge.setup`` add it as the AnimCam Media source, exactly as ``streamfx obs setup``
does. Frames carry their number as a row of black/white blocks; this script polls
GetSourceScreenshot, reads the number OBS shows and takes

    latency = (middle of the screenshot request) − (when that frame was handed to the sink)

so the screenshot's own round trip counts only half (it is printed too). That is the leg the
OBS bridge adds; ``streamfx live``'s own motion-to-output latency (driver capture → sink)
comes on top and is in its /metrics (sink "obs-stream") and in scripts/bench_live.py.

    .venv/bin/python scripts/obs_latency.py [--seconds 10] [--size 1280x720] [--fps 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from obs_bridge.bridge import INPUT_NAME, Bridge  # noqa: E402 - after the path fix above
from obs_bridge.headless import HeadlessOBS, available  # noqa: E402
from streamfx.errors import OBSError  # noqa: E402
from streamfx.sinks.stream import AlphaStreamSink  # noqa: E402

BITS = 12
BLOCK = 32


def numbered(n: int, w: int, h: int) -> np.ndarray:
    """An RGBA frame showing ``n`` as BITS blocks (white = 1) on a half-transparent field."""
    f = np.zeros((h, w, 4), np.uint8)
    f[..., 3] = 128
    for b in range(BITS):
        x = 8 + b * (BLOCK + 8)
        f[8 : 8 + BLOCK, x : x + BLOCK] = (255, 255, 255, 255) if (n >> b) & 1 else (0, 0, 0, 255)
    return f


def read_number(rgba: np.ndarray, scale: float) -> int:
    n = 0
    for b in range(BITS):
        x = int((8 + b * (BLOCK + 8) + BLOCK / 2) * scale)
        y = int((8 + BLOCK / 2) * scale)
        if rgba[y, x, :3].mean() > 128:
            n |= 1 << b
    return n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--size", default="1280x720", help="stream size (default 1280x720)")
    p.add_argument("--fps", type=float, default=30.0)
    a = p.parse_args()
    missing = available()
    if missing:
        print(f"cannot measure: {missing}", file=sys.stderr)
        return 2
    w, h = (int(v) for v in a.size.split("x"))
    written: dict[int, float] = {}
    stop = threading.Event()
    with HeadlessOBS() as obs:
        sink = AlphaStreamSink("127.0.0.1", 0)
        sink.open(w, h, a.fps)

        def produce() -> None:
            n, t0 = 0, time.perf_counter()
            while not stop.is_set():
                frame = numbered(n % (1 << BITS), w, h)
                now = time.perf_counter()
                written[n % (1 << BITS)] = now
                sink.write(frame, now)
                n += 1
                time.sleep(max(0.0, t0 + n / a.fps - time.perf_counter()))

        threading.Thread(target=produce, daemon=True).start()
        bridge = Bridge.connect(obs.url)
        try:
            print(bridge.setup(stream=sink.url, browser=False))
            t_setup = time.perf_counter()
            bridge.wait_for_frame(INPUT_NAME, timeout=30)
            first = time.perf_counter() - t_setup
            lat, rtt = [], []
            end = time.perf_counter() + a.seconds
            while time.perf_counter() < end:
                t1 = time.perf_counter()
                try:
                    shot = bridge.screenshot(INPUT_NAME, width=320)  # small: a short round trip
                except OBSError:
                    continue
                t2 = time.perf_counter()
                n = read_number(shot, shot.shape[1] / w)
                if n in written and 0 <= (t1 + t2) / 2 - written[n] < 5:
                    lat.append(((t1 + t2) / 2 - written[n]) * 1000)
                    rtt.append((t2 - t1) * 1000)
            alpha_ok = int(shot[shot.shape[0] // 2, shot.shape[1] // 2, 3]) in range(120, 137)
        finally:
            stop.set()
            bridge.close()
            sink.close()
    if not lat:
        print("no frame number could be read from OBS's screenshots", file=sys.stderr)
        return 1
    load = os.getloadavg()
    print(f"OBS Media source on the NUT stream ({w}x{h} @ {a.fps:g} fps, raw BGRA with alpha): "
          f"first frame {first:.2f} s after setup; alpha kept: {alpha_ok}")
    print(f"latency sink → OBS render: p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms "
          f"({len(lat)} screenshots; their round trip p50 {np.percentile(rtt, 50):.0f} ms, counted half)")
    print(f"load average while measuring: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
