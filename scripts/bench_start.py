"""How soon `streamfx live` shows its first frame to a viewer (issue 16, fast start).

Starts `streamfx live` as a user would (a fresh interpreter, its own imports, the portrait
prepared, the driver opened) with the web server on 127.0.0.1 and no virtual camera, and
one WHEP viewer (aiortc, streamfx.web.client) that connects as soon as the port answers.
Reports seconds from the process start to: the port answering, and the viewer's first
decoded frame. Also times `streamfx --help`. Everything stays on 127.0.0.1.

    .venv/bin/python scripts/bench_start.py                   # talk script, built-in portrait, 3 runs
    .venv/bin/python scripts/bench_start.py --driver ../shared/media/driving/lp_d10.mp4 \\
        --source ../shared/media/source/lp_s1.jpg
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def one_start(driver: str, source: str | None, timeout: float = 60.0) -> dict[str, float]:
    from streamfx.web.client import pull_whep

    port = free_port()
    cmd = [sys.executable, "-m", "streamfx", "live", "--driver", driver, "--no-vcam", "--no-obs-stream",
           "--webrtc", f"127.0.0.1:{port}", "--webrtc-loopback"]
    if source:
        cmd += ["--source", source]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLOG_minloglevel": "2"}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(port, t0 + timeout):
            raise RuntimeError("streamfx live did not listen")
        t_port = time.monotonic() - t0
        t_view = time.monotonic()
        r = asyncio.run(pull_whep(f"http://127.0.0.1:{port}/whep", seconds=3.0, loopback=True))
        if r.first_frame_s is None:
            raise RuntimeError("the viewer got no frame")
        return {"port_s": t_port, "first_frame_s": (t_view - t0) + r.first_frame_s}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", default="talk")
    ap.add_argument("--source", help="portrait (default: the built-in one)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    helps = []
    for _ in range(3):
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "streamfx", "--help"], cwd=ROOT, capture_output=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        helps.append(time.monotonic() - t)
    print(f"streamfx --help: {min(helps):.2f} s (best of 3), {statistics.median(helps):.2f} s median")
    runs = [one_start(a.driver, a.source) for _ in range(a.runs)]
    for i, r in enumerate(runs):
        print(f"live run {i + 1}: listening after {r['port_s']:.2f} s, first frame at the viewer after "
              f"{r['first_frame_s']:.2f} s")
    print(f"median first frame: {statistics.median(r['first_frame_s'] for r in runs):.2f} s "
          f"({os.cpu_count()} CPUs, driver {a.driver})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
