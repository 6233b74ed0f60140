#!/usr/bin/env python3
"""Soak `streamfx live` with one WebRTC viewer attached: memory must stay flat, fps must hold.

Starts ``streamfx live`` (video driver paced at real time and looping, WebRTC on loopback),
attaches one aiortc WHEP viewer for the whole run and samples every ``--every`` seconds:
server RSS (from /proc), server output fps (/api/stats) and the viewer's received fps.

Pass criteria: RSS growth < 5 % from the end of warm-up to the end (compared as the floor of
the first and last minute: RSS saw-tooths by ~10 % as worker threads' malloc arenas grow and
shrink, a leak lifts the floor), and neither the output fps nor the viewer fps in the last
minute falls below 95 % of the first minute's.

    .venv/bin/python scripts/soak_live.py                 # 10 minutes
    .venv/bin/python scripts/soak_live.py --minutes 1     # quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DRIVER = ROOT.parent / "shared" / "media" / "driving" / "lp_d10.mp4"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def soak(a: argparse.Namespace, base: str, pid: int) -> dict:
    from streamfx.web.client import pull_whep

    duration = a.minutes * 60
    arrivals: list[float] = []
    viewer = asyncio.ensure_future(
        pull_whep(base + "/whep", seconds=duration, on_frame=lambda f: arrivals.append(time.perf_counter()))
    )
    samples = []
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        while not viewer.done():
            await asyncio.sleep(a.every)
            if viewer.done():  # the last partial interval would read as a false fps drop
                break
            now = time.perf_counter()
            try:
                async with http.get(base + "/api/stats") as r:
                    stats = await r.json()
            except aiohttp.ClientError as e:
                stats = {"error": str(e)}
            recent = [t for t in arrivals if t >= now - a.every]
            s = {
                "t": round(now - t0, 1), "rss_mib": round(rss_mib(pid), 1),
                "output_fps": stats.get("output_fps"), "viewer_fps": round(len(recent) / a.every, 1),
                "webrtc_p95_ms": (stats.get("sinks", {}).get("webrtc") or {}).get("latency_p95_ms"),
                "dropped": stats.get("dropped"),
            }
            samples.append(s)
            print(json.dumps(s), flush=True)
    result = await viewer
    return {"samples": samples, "frames": result.frames}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--every", type=float, default=10.0, help="sample interval, seconds")
    p.add_argument("--warmup", type=float, default=60.0, help="RSS baseline is taken after this many seconds")
    p.add_argument("--driver", default=str(DEFAULT_DRIVER))
    p.add_argument("--size", default="1280x720")
    p.add_argument("--json", help="write samples and verdict here")
    a = p.parse_args()
    if not Path(a.driver).exists():
        print(f"driver video {a.driver} not found (needs ../shared/media or --driver)", file=sys.stderr)
        return 2
    a.warmup = min(a.warmup, a.minutes * 60 / 3)

    cmd = [sys.executable, "-m", "streamfx", "live", "--driver", a.driver, "--no-vcam", "--webrtc", "127.0.0.1:0",
           "--webrtc-loopback", "--size", a.size, "--duration", str(a.minutes * 60 + 60)]
    env = {**os.environ, "GLOG_minloglevel": "2"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    base = None
    for line in proc.stdout:
        m = re.match(r"viewer:\s+(http://[^/\s]+)/", line)
        if m:
            base = m.group(1)
            break
    if base is None:
        print("streamfx live did not start", file=sys.stderr)
        return 2
    try:
        out = asyncio.run(soak(a, base, proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    s = out["samples"]
    per_min = max(1, int(60 / a.every))
    # RSS is a sawtooth here (±10 %: glibc arenas of the encoder/decoder threads grabbing and
    # returning frame-sized blocks), so a single end-point reading is luck. A leak raises
    # the floor: compare the lowest RSS of the minute after warm-up with the last minute's.
    after_warmup = [x["rss_mib"] for x in s if x["t"] >= a.warmup][:per_min] or [s[0]["rss_mib"]]
    last_minute = [x["rss_mib"] for x in s[-per_min:]]
    base_rss, end_rss = min(after_warmup), min(last_minute)
    growth = (end_rss - base_rss) / base_rss * 100
    point_base = after_warmup[0]
    point_growth = (s[-1]["rss_mib"] - point_base) / point_base * 100
    first, last = s[:per_min], s[-per_min:]

    def mean(rows: list[dict], key: str) -> float:
        vals = [r[key] for r in rows if isinstance(r.get(key), int | float)]
        return sum(vals) / len(vals) if vals else 0.0

    out_first, out_last = mean(first, "output_fps"), mean(last, "output_fps")
    v_first, v_last = mean(first, "viewer_fps"), mean(last, "viewer_fps")
    ok_rss = growth < 5.0
    ok_fps = out_last >= 0.95 * out_first and v_last >= 0.95 * v_first
    print(f"\nsoak {a.minutes:g} min, {out['frames']} frames to the viewer")
    print(f"  RSS floor {base_rss:.0f} MiB (minute after {a.warmup:.0f} s warm-up) → {end_rss:.0f} MiB (last minute): "
          f"{growth:+.1f} % [{'ok' if ok_rss else '!!'} < 5 %]; end points {point_base:.0f} → "
          f"{s[-1]['rss_mib']:.0f} MiB ({point_growth:+.1f} %), peak {max(x['rss_mib'] for x in s):.0f} MiB")
    print(f"  output fps first/last minute {out_first:.1f}/{out_last:.1f}, viewer fps {v_first:.1f}/{v_last:.1f} "
          f"[{'ok' if ok_fps else '!!'} no decay]")
    if a.json:
        Path(a.json).write_text(json.dumps({**out, "rss_growth_pct": growth, "rss_point_growth_pct": point_growth,
                                            "ok": ok_rss and ok_fps}, indent=1))
    return 0 if ok_rss and ok_fps else 1


if __name__ == "__main__":
    raise SystemExit(main())
