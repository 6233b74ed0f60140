#!/usr/bin/env python3
"""Measure publishing over WHIP to a real Janus SFU: fan-out, StreamFX's CPU, glass-to-glass latency.

Everything runs in a network namespace of its own (scripts/sfu/sfu.py: Janus + the WHIP
server, only ``lo``): a StreamFX server (this script with ``--serve``: built like
``streamfx live --whip … --webrtc …``, a video driver paced at real time) and viewer
processes (this script with ``--viewers``).

Phases (one StreamFX server for all of them)
  janus-1     1 Janus subscriber (decoding)                — StreamFX's CPU with one viewer
  janus-N     N Janus subscribers (2 decode, the others     — frames each one is served (fps),
              count the complete frames Janus delivers,       StreamFX's CPU with N viewers,
              without decoding: see below)                    Janus' CPU
  latency     1 Janus subscriber and 1 WHEP viewer of the   — glass-to-glass p50/p95 of both paths
              built-in server, both decoding, at once

Glass to glass: the server stamps each output frame with the time its driver frame was read
(``captured_at``, CLOCK_MONOTONIC, a 28-block barcode in the top-left corner); a decoding
viewer reads the stamp back from the decoded picture and subtracts it from the time of
decoding. Same machine, same clock: no synchronisation error.

Why counting viewers: on a 2-core machine 30 Python VP8 decoders would measure Python, not
the SFU. A counting viewer is a full aiortc subscriber (ICE, DTLS, SRTP, RTCP, jitter
buffer: every frame reassembled from Janus' packets) whose decoder only records the time.

    python3 scripts/sfu/sfu.py …  # not needed: this script starts its own SFU
    .venv/bin/python scripts/bench_whip.py                       # ~2 min
    .venv/bin/python scripts/bench_whip.py --subscribers 30 --seconds 15 --json out/bench_whip.json

These are the numbers the tests do not assert. The machine's load is part of the result:
the script prints the load average and the whole machine's CPU use beside each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "sfu"))
import sfu as sfu_mod  # noqa: E402 - scripts/sfu/sfu.py, after the path fix above

MEDIA = ROOT.parent / "shared"
DEFAULT_DRIVER = MEDIA / "cases" / "driver_short.mp4"
WHEP_PORT = 8090

# -- the stamp: captured_at in ms (24 bits) as black/white blocks, after a 1010 guard -----
BLOCK = 16
GUARD = (1, 0, 1, 0)
BITS = 24


def draw_stamp(image: np.ndarray, t: float) -> None:
    value = int(t * 1000) % (1 << BITS)
    bits = GUARD + tuple((value >> (BITS - 1 - i)) & 1 for i in range(BITS))
    for i, b in enumerate(bits):
        image[0:BLOCK, i * BLOCK:(i + 1) * BLOCK] = 255 if b else 0


def read_stamp(rgb: np.ndarray, now: float) -> tuple[int, float] | None:
    """(the stamp, seconds since the stamped capture time), or None if the stamp does not read."""
    y = BLOCK // 2
    grey = rgb[y, :, :].mean(axis=1)
    bits = [int(grey[i * BLOCK + BLOCK // 2] > 128) for i in range(len(GUARD) + BITS)]
    if tuple(bits[:4]) != GUARD:
        return None
    value = 0
    for b in bits[4:]:
        value = (value << 1) | b
    now_ms = int(now * 1000)
    # unwrap: the stamp holds the low 24 bits of the capture time in ms
    stamped = now_ms - ((now_ms - value) % (1 << BITS))
    return value, (now_ms - stamped) / 1000.0


# -- child: the StreamFX server --------------------------------------------------------------
def serve(a: argparse.Namespace) -> int:
    import logging

    from streamfx.live import cli as live_cli
    from streamfx.live.hub import LiveFrame
    from streamfx.live.pipeline import LiveSettings

    logging.basicConfig(level=logging.WARNING, format="server: %(message)s")
    parser = argparse.ArgumentParser()
    live_cli.add_live_arguments(parser)
    args = parser.parse_args(["--driver", a.driver, "--no-vcam", "--webrtc", f"127.0.0.1:{WHEP_PORT}",
                              "--webrtc-loopback", "--whip", a.whip, "--codec", a.codec,
                              "--webrtc-encode", "per-viewer"])
    w, h = (int(x) for x in a.size.split("x"))
    settings = LiveSettings(width=w, height=h, fps=a.fps)
    whip = live_cli.open_whip(args, settings)
    pipe = live_cli.build_pipeline(args, settings)
    publish = pipe.hub.publish

    def stamped(lf: LiveFrame) -> int:
        draw_stamp(lf.image, lf.captured_at)  # the worker's own copy (compose returns a new frame)
        return publish(lf)

    pipe.hub.publish = stamped  # type: ignore[method-assign]
    whip.metrics = pipe.metrics
    pipe.add_sink(whip, opened=True)
    pipe.start()
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await live_cli.start_server(pipe, args)
        print("READY", flush=True)
        await stop.wait()
        snap = pipe.metrics.snapshot()
        await server.stop()
        print("RESULT " + json.dumps({"whip": whip.info(), "metrics": snap}), flush=True)

    try:
        asyncio.run(main())
    finally:
        pipe.stop()
    return 0


# -- child: viewers --------------------------------------------------------------------------
class CountingDecoder:
    """Stands in for aiortc's decoder: records when each complete frame came, decodes nothing."""

    instances: list[CountingDecoder] = []

    def __init__(self) -> None:
        self.times: list[float] = []
        CountingDecoder.instances.append(self)

    def decode(self, encoded_frame: object) -> list:
        self.times.append(time.perf_counter())
        return []


def viewers(a: argparse.Namespace) -> int:
    from streamfx.web.client import pull_janus, pull_whep

    if not a.decode:
        import aiortc.rtcrtpreceiver

        aiortc.rtcrtpreceiver.get_decoder = lambda codec: CountingDecoder()  # type: ignore[assignment]

    async def main() -> dict:
        stop = asyncio.Event()
        lat: list[list[float]] = [[] for _ in range(a.n)]
        times: list[list[float]] = [[] for _ in range(a.n)]
        unread = [0] * a.n
        seen: list[set[int]] = [set() for _ in range(a.n)]
        distinct: list[list[float]] = [[] for _ in range(a.n)]

        def on_frame(i: int):  # noqa: ANN202
            def cb(frame) -> None:  # noqa: ANN001 - av.VideoFrame
                now = time.perf_counter()
                times[i].append(now)
                got = read_stamp(frame.to_ndarray(format="rgb24")[:BLOCK], now)
                if got is None:
                    unread[i] += 1
                elif got[0] not in seen[i]:
                    # a repeated frame (the sender fills in when the animator is late) is not
                    # a new picture: only a stamp's first showing counts for latency
                    seen[i].add(got[0])
                    lat[i].append(got[1])
                    distinct[i].append(now)
            return cb

        kw = {"stop": stop, "loopback": True, "connect_timeout": 60.0}
        if a.via == "janus":
            pulls = [pull_janus(a.url, a.room, on_frame=on_frame(i), **kw) for i in range(a.n)]  # type: ignore[arg-type]
        else:
            pulls = [pull_whep(a.url, on_frame=on_frame(i), **kw) for i in range(a.n)]  # type: ignore[arg-type]
        tasks = [asyncio.ensure_future(p) for p in pulls]
        await asyncio.sleep(a.warmup)
        print(f"WINDOW {time.perf_counter()}", flush=True)
        t0 = time.perf_counter()
        await asyncio.sleep(a.seconds)
        t1 = time.perf_counter()
        print(f"WINDOW_END {t1}", flush=True)
        stop.set()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [str(r) for r in done if isinstance(r, BaseException)]
        if a.decode:
            series = times
        else:
            series = [d.times for d in CountingDecoder.instances]
        fps = [sum(1 for t in s if t0 <= t <= t1) / (t1 - t0) for s in series]
        new_fps = [sum(1 for t in s if t0 <= t <= t1) / (t1 - t0) for s in distinct] if a.decode else []
        lat_window = [x for i in range(a.n) for x in lat[i]]
        return {"fps": fps, "distinct_fps": new_fps, "errors": errors,
                "latencies_ms": [round(x * 1000, 1) for x in lat_window], "unread_stamps": sum(unread)}

    print("RESULT " + json.dumps(asyncio.run(main())), flush=True)
    return 0


# -- parent ----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (and its reaped children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = v[3] + v[4]
    return float(sum(v) - idle), float(sum(v))


def start_viewers(ns: sfu_mod.NetNamespace, a: argparse.Namespace, via: str, url: str, n: int, decode: bool,
                  room: int = 1234) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--viewers", "--via", via, "--url", url, "--n", str(n), "--room", str(room),
           "--seconds", str(a.seconds), "--warmup", str(a.warmup)]
    if decode:
        cmd.append("--decode")
    return subprocess.Popen(ns.command(cmd), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 180) -> str:
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith(prefix):
            return line[len(prefix):].strip()
        if time.monotonic() > end:
            break
    err = proc.stderr.read() if proc.stderr else ""
    raise RuntimeError(f"no {prefix!r} from {proc.args[-8:]}:\n{err[-2000:]}")


def phase(name: str, ns: sfu_mod.NetNamespace, a: argparse.Namespace, server: subprocess.Popen[str],
          janus_pid: int, groups: list[tuple[str, str, int, bool]]) -> dict:
    """Run viewer groups (via, url, n, decode) at once; CPU of StreamFX, Janus, the machine in their window."""
    procs = [start_viewers(ns, a, via, url, n, dec) for via, url, n, dec in groups]
    for p in procs:
        wait_line(p, "WINDOW ")
    s0, j0, m0, t0 = cpu_seconds(server.pid), cpu_seconds(janus_pid), machine_busy(), time.monotonic()
    load0 = os.getloadavg()[0]
    for p in procs:
        wait_line(p, "WINDOW_END")
    s1, j1, m1, t1 = cpu_seconds(server.pid), cpu_seconds(janus_pid), machine_busy(), time.monotonic()
    results = [json.loads(wait_line(p, "RESULT ")) for p in procs]
    for p in procs:
        p.wait(30)
    wall = t1 - t0
    out = {
        "phase": name,
        "streamfx_cpu_pct": round(100 * (s1 - s0) / wall, 1),
        "janus_cpu_pct": round(100 * (j1 - j0) / wall, 1),
        "machine_busy_pct": round(100 * (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1]), 1),
        "loadavg_1m": round(max(load0, os.getloadavg()[0]), 2),
        "groups": [],
    }
    for (via, _url, n, dec), r in zip(groups, results, strict=True):
        fps = r["fps"]
        lat = r["latencies_ms"]
        out["groups"].append({
            "via": via, "n": n, "decode": dec, "connected": len(fps),
            "fps_min": round(min(fps), 1) if fps else 0.0, "fps_median": round(float(np.median(fps)), 1) if fps else 0.0,
            "at_least_25fps": sum(1 for f in fps if f >= 25), "errors": r["errors"][:3],
            "new_pictures_fps_median": round(float(np.median(r["distinct_fps"])), 1) if r["distinct_fps"] else None,
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
            "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
            "latency_samples": len(lat), "unread_stamps": r["unread_stamps"],
        })
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--viewers", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--via", default="janus", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--room", type=int, default=1234, help=argparse.SUPPRESS)
    p.add_argument("--decode", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--whip", help=argparse.SUPPRESS)
    p.add_argument("--driver", default=str(DEFAULT_DRIVER), help="driver video (default ../shared/cases/driver_short.mp4)")
    p.add_argument("--size", default="640x360", help="output size (default 640x360)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--codec", default="vp8", choices=("vp8", "h264"))
    p.add_argument("--subscribers", type=int, default=30, help="Janus subscribers in the fan-out phase (default 30)")
    p.add_argument("--processes", type=int, default=3, help="viewer processes for the counting subscribers")
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window per phase (default 10)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds for viewers to connect first (default 5)")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args()
    if a.serve:
        return serve(a)
    if a.viewers:
        return viewers(a)
    if not Path(a.driver).exists():
        print(f"driver {a.driver} not found (../shared is evaluation media outside the project)", file=sys.stderr)
        return 1

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    results: list[dict] = []
    with sfu_mod.NetNamespace() as ns, tempfile.TemporaryDirectory(prefix="bench-whip-") as tmp:
        run_dir = Path(tmp)
        started = subprocess.run(ns.command([sys.executable, str(ROOT / "scripts/sfu/sfu.py"), "start",
                                             "--dir", str(run_dir)]), capture_output=True, text=True)
        if started.returncode != 0:
            print(started.stderr.strip(), file=sys.stderr)
            return 1
        info = json.loads((run_dir / "sfu.json").read_text())
        janus_pid = int((run_dir / "janus.pid").read_text())
        server = subprocess.Popen(ns.command([sys.executable, __file__, "--serve", "--whip", info["whip_url"],
                                              "--driver", a.driver, "--size", a.size, "--fps", str(a.fps),
                                              "--codec", a.codec]),
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "GLOG_minloglevel": "2"})
        try:
            wait_line(server, "READY")
            janus, whep = info["janus_url"], f"http://127.0.0.1:{WHEP_PORT}/whep"
            results.append(phase("janus-1", ns, a, server, janus_pid, [("janus", janus, 1, True)]))
            n = a.subscribers
            counting = max(0, n - 2)
            per = [counting // a.processes + (1 if i < counting % a.processes else 0) for i in range(a.processes)]
            groups = [("janus", janus, 2, True)] + [("janus", janus, k, False) for k in per if k]
            results.append(phase(f"janus-{n}", ns, a, server, janus_pid, groups))
            results.append(phase("latency", ns, a, server, janus_pid,
                                 [("janus", janus, 1, True), ("whep", whep, 1, True)]))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                summary = json.loads(wait_line(server, "RESULT ", timeout=60))
            except RuntimeError as e:
                summary = {"error": str(e)}
            server.wait(30)
            subprocess.run(ns.command([sys.executable, str(ROOT / "scripts/sfu/sfu.py"), "stop", "--dir",
                                       str(run_dir)]), capture_output=True)

    for r in results:
        print(f"\n{r['phase']}: StreamFX {r['streamfx_cpu_pct']} % CPU, Janus {r['janus_cpu_pct']} %, whole machine "
              f"{r['machine_busy_pct']} % busy, load {r['loadavg_1m']}")
        for g in r["groups"]:
            kind = "decoding" if g["decode"] else "counting"
            lat = (f", glass-to-glass p50 {g['latency_p50_ms']} ms p95 {g['latency_p95_ms']} ms "
                   f"({g['latency_samples']} frames)") if g["latency_p50_ms"] is not None else ""
            err = f", errors: {g['errors']}" if g["errors"] else ""
            new = (f" (new pictures {g['new_pictures_fps_median']} fps)"
                   if g["new_pictures_fps_median"] is not None else "")
            print(f"  {g['n']} {kind} via {g['via']}: {g['connected']} connected, {g['at_least_25fps']} at ≥ 25 fps, "
                  f"fps min {g['fps_min']} median {g['fps_median']}{new}{lat}{err}")
    whip_info = summary.get("whip", {})
    sinks = summary.get("metrics", {}).get("sinks", {})
    print(f"\nWHIP publisher: {whip_info}; sinks: " +
          ", ".join(f"{k} {v.get('fps', 0):.1f} fps" for k, v in sinks.items()))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"phases": results, "server": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
