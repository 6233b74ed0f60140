#!/usr/bin/env python3
"""Benchmark `streamfx live`: frame rate, motion-to-output latency and WebRTC fan-out.

Each phase runs a live server in a child process (this script with ``--serve``) built the
same way as ``streamfx live`` (build_pipeline + start_server), with a 512² portrait, a video
driver paced at real time, and two sinks: the virtual camera (through a recording backend
registered in pyvirtualcam's registry: there is no v4l2loopback here) and WebRTC. This
process plays the viewers (aiortc WHEP clients) so their decoding is not charged to the
server's numbers... though on a 2-core box they share the CPU, as a real machine would.

These numbers are what the tests deliberately do not assert (a loaded 2-core CI machine
would fail them): the tests check that frames are right and never queue up; this script
measures how fast and how soon they arrive.

Phases
  rt-720p     1 viewer, 1280×720: output fps, vcam fps, p50/p95 motion-to-output per sink
  max-720p    driver unpaced (each frame decoded as soon as the animator took the last):
              where the pipeline itself tops out
  paced-720p  the talk script driving at 60 fps, camera at 30: the virtual camera must be
              paced at its own 30 fps (frame interval p50/p95), the extra frames skipped
  alpha-720p  as rt-720p with ``--background transparent``: the subject cut out (RGBA from
              the animator, alpha composited on the 720p canvas, flattened for the camera
              and WebRTC, raw BGRA to an OBS-stream client this script reads)
  alphamax-720p the same, driver unpaced: where the alpha pipeline tops out
  fanout-N    N viewers at 640×480, default ``--webrtc-encode auto`` (first 2 viewers
              have their own encoder, the rest share one), N = 1 8 16: per-viewer fps
  perview-N   the same with ``--webrtc-encode per-viewer`` (one encode per viewer), N = 4 8
  shared-N    the same with ``--webrtc-encode shared`` (one encode for all), N = 24

    .venv/bin/python scripts/bench_live.py            # all phases (~4 min)
    .venv/bin/python scripts/bench_live.py --quick    # shorter windows, fewer phases (~1.5 min)
    .venv/bin/python scripts/bench_live.py --quick --driver talk   # no ../shared/media needed
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from streamfx.drivers import driver_kind  # noqa: E402 - after the path fix above

MEDIA = ROOT.parent / "shared" / "media"
DEFAULT_DRIVER = MEDIA / "driving" / "lp_d10.mp4"


# -- child: the server -------------------------------------------------------------------
class RecordingBackend:
    """pyvirtualcam backend that checks and times frames instead of showing them."""

    last: RecordingBackend | None = None

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.times: list[float] = []
        self.bad_shape = 0
        RecordingBackend.last = self

    def send(self, frame) -> None:  # noqa: ANN001 - 1-D uint8 array from pyvirtualcam
        if frame.size != self.width * self.height * 3:
            self.bad_shape += 1
        self.times.append(time.perf_counter())

    def device(self) -> str:
        return "AnimCam (recording)"

    def native_fourcc(self) -> int:
        return self.fourcc

    def close(self) -> None:
        pass


def serve(a: argparse.Namespace) -> int:
    import logging

    import numpy as np
    from pyvirtualcam import camera as pvc_camera
    from pyvirtualcam.util import decode_fourcc

    from streamfx.live import cli as live_cli
    from streamfx.live.pipeline import LivePipeline, LiveSettings
    from streamfx.sinks.vcam import VirtualCameraSink

    logging.basicConfig(level=logging.WARNING)
    pvc_camera.register_backend("recording", RecordingBackend)
    w, h = (int(x) for x in a.size.split("x"))
    live_parser = argparse.ArgumentParser()
    live_cli.add_live_arguments(live_parser)
    argv = ["--driver", a.driver, "--webrtc", "127.0.0.1:0", "--webrtc-loopback", "--codec", a.codec,
            "--webrtc-encode", a.encode]
    if a.generator_process != "auto":
        argv.append("--generator-process" if a.generator_process == "on" else "--no-generator-process")
    args = live_parser.parse_args(argv + (["--source", a.source] if a.source else []))
    settings = LiveSettings(width=w, height=h, fps=a.fps, background=a.background)
    pipe: LivePipeline = live_cli.build_pipeline(args, settings)
    from streamfx.drivers import open_driver

    neutral = pipe.animator.source_landmarks  # type: ignore[attr-defined]
    if not a.realtime:
        pipe.set_driver(open_driver(a.driver, neutral_landmarks=neutral, realtime=False, loop=True))
    if a.driver_fps:
        # a motion script can drive at any rate (a video only at its own): talk unless one was given
        script = a.driver if driver_kind(a.driver) == "script" else "talk"
        pipe.set_driver(open_driver(script, neutral_landmarks=neutral, realtime=True, loop=True, fps=a.driver_fps))
    pipe.add_sink(VirtualCameraSink(backend="recording"))
    obs_reader = None
    if a.background == "transparent":
        obs_reader = _obs_stream_reader(pipe)
    pipe.start()

    async def main() -> dict:
        server = await live_cli.start_server(pipe, args)
        print(f"READY {server.port}", flush=True)
        await asyncio.sleep(a.warmup)
        pipe.metrics.reset(window_s=a.seconds)  # a fresh window for the measurement
        rec = RecordingBackend.last
        assert rec is not None
        n0 = len(rec.times)
        await asyncio.sleep(a.seconds)
        snap = pipe.metrics.snapshot()
        t = rec.times[n0:]
        snap["vcam_backend"] = {
            "fps": (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0,
            "interval_ms_p50": float(np.percentile(np.diff(t), 50) * 1000) if len(t) > 2 else None,
            "interval_ms_p95": float(np.percentile(np.diff(t), 95) * 1000) if len(t) > 2 else None,
            "pixel_format": decode_fourcc(rec.fourcc), "size": [rec.width, rec.height], "bad_shape": rec.bad_shape,
        }
        snap["viewers"] = server.webrtc.info() if server.webrtc else []
        if obs_reader is not None:
            snap["obs_stream"] = obs_reader()
        await server.stop()
        return snap

    snap = asyncio.run(main())
    pipe.stop()
    print("RESULT " + json.dumps(snap), flush=True)
    return 0


def _obs_stream_reader(pipe) -> object:  # noqa: ANN001
    """Serve the OBS stream and read it back as OBS would (PyAV, NUT over TCP): returns a
    function giving the frames read, their rate and whether they carried alpha."""
    import threading

    import av

    from streamfx.sinks.stream import AlphaStreamSink

    sink = AlphaStreamSink("127.0.0.1", 0)
    pipe.add_sink(sink)
    got: dict = {"frames": 0, "times": [], "alpha": False}

    def read() -> None:
        try:
            with av.open(sink.url, format="nut", options={"fflags": "nobuffer"}) as c:
                for f in c.decode(video=0):
                    got["frames"] += 1
                    got["times"].append(time.perf_counter())
                    if got["frames"] % 30 == 1:
                        got["alpha"] = got["alpha"] or bool((f.to_ndarray()[..., 3] < 255).any())
        except Exception as e:  # noqa: BLE001 - the server going away ends the read
            got["error"] = str(e)

    threading.Thread(target=read, daemon=True).start()

    def result() -> dict:
        t = got["times"][-300:]
        return {"frames": got["frames"], "alpha": got["alpha"],
                "fps": (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0}

    return result


# -- parent: phases and viewers ----------------------------------------------------------
def start_server(a: argparse.Namespace, size: str, realtime: bool, seconds: float,
                 encode: str = "auto", driver_fps: float | None = None,
                 background: str = "blur") -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, __file__, "--serve", "--size", size, "--fps", str(a.fps), "--driver", a.driver,
           "--codec", a.codec, "--seconds", str(seconds), "--warmup", str(a.warmup), "--encode", encode,
           "--background", background, "--generator-process", a.generator_process]
    if driver_fps:
        cmd += ["--driver-fps", str(driver_fps)]
    if a.source:
        cmd += ["--source", a.source]
    if not realtime:
        cmd.append("--unpaced")
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            return proc, int(line.split()[1])
    raise RuntimeError("bench server did not start")


def finish(proc: subprocess.Popen) -> dict:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            proc.wait(30)
            return json.loads(line[7:])
    proc.wait(30)
    raise RuntimeError("bench server gave no result")


async def viewers(port: int, n: int, seconds: float, warmup: float) -> list[dict]:
    from streamfx.web.client import pull_whep

    url = f"http://127.0.0.1:{port}/whep"
    results = await asyncio.gather(*(pull_whep(url, seconds=seconds + warmup) for _ in range(n)),
                                   return_exceptions=True)
    out = []
    for r in results:
        if isinstance(r, BaseException):
            out.append({"error": str(r), "fps": 0.0, "frames": 0})
        else:
            out.append({"fps": r.fps(skip_s=warmup), "frames": r.frames, "sizes": sorted(r.sizes),
                        "first_frame_s": r.first_frame_s})
    return out


def run_phase(a: argparse.Namespace, name: str, size: str, n_viewers: int, realtime: bool = True,
              encode: str = "auto", driver_fps: float | None = None, background: str = "blur") -> dict:
    proc, port = start_server(a, size, realtime, a.seconds, encode, driver_fps, background)
    try:
        # viewers join during the server's warm-up and stay through its measurement window
        v = asyncio.run(viewers(port, n_viewers, a.seconds, a.warmup - 1.0)) if n_viewers else []
    finally:
        snap = finish(proc)
    snap["clients"] = v
    snap["phase"] = name
    return snap


def fmt(v: object, d: int = 1) -> str:
    return "–" if v is None else f"{v:.{d}f}" if isinstance(v, float | int) else str(v)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--unpaced", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--source", help="portrait (default: the 512² demo portrait)")
    p.add_argument("--driver", default=str(DEFAULT_DRIVER), help="driver video (default ../shared/media lp_d10.mp4)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--codec", default="vp8", choices=("vp8", "h264"))
    p.add_argument("--seconds", type=float, help="measurement window per phase (default 12, --quick 6)")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--fanout", type=int, nargs="*", default=[1, 8, 16],
                   help="viewer counts at 640x480 (--webrtc-encode auto, the default)")
    p.add_argument("--per-viewer-fanout", type=int, nargs="*", default=[4, 8],
                   help="viewer counts at 640x480 with --webrtc-encode per-viewer")
    p.add_argument("--shared-fanout", type=int, nargs="*", default=[24],
                   help="viewer counts at 640x480 with --webrtc-encode shared")
    p.add_argument("--encode", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--driver-fps", type=float, help=argparse.SUPPRESS)
    p.add_argument("--background", default="blur", help=argparse.SUPPRESS)
    p.add_argument("--only-alpha", action="store_true",
                   help="only the alpha phases (alpha-720p, alphamax-720p) after an opaque max-720p baseline")
    p.add_argument("--quick", action="store_true",
                   help="6 s windows (unless --seconds is given), fan-out 8 and shared 4 only")
    p.add_argument("--json", help="also write all results here")
    p.add_argument("--generator-process", choices=("auto", "on", "off"), default="auto",
                   help="generate in a worker process (streamfx live --generator-process); default: as live decides")
    a = p.parse_args()
    a.realtime = not a.unpaced
    if a.serve:
        a.seconds = a.seconds or 12.0
        return serve(a)
    if driver_kind(a.driver) == "video" and not Path(a.driver).exists():
        print(f"driver video {a.driver} not found (needs ../shared/media, or --driver talk)", file=sys.stderr)
        return 2
    if a.quick:
        a.seconds = a.seconds or 6.0
        a.fanout, a.per_viewer_fanout, a.shared_fanout = [8], [], [4]
    a.seconds = a.seconds or 12.0

    if a.only_alpha:
        # the opaque pipeline under the same load first: what alpha costs on top of it
        base = run_phase(a, "max-720p", a.size, 1, realtime=False)
        print(f"opaque baseline (max-720p, same machine, now): {base['output_fps']:.1f} fps, animate "
              f"{fmt(base['stage_ms'].get('animate'))} ms + composite {fmt(base['stage_ms'].get('composite'))} ms")
        return alpha_report(a, [run_phase(a, "alpha-720p", a.size, 1, background="transparent"),
                                run_phase(a, "alphamax-720p", a.size, 1, realtime=False, background="transparent")])
    results = [run_phase(a, "rt-720p", a.size, 1), run_phase(a, "max-720p", a.size, 1, realtime=False),
               run_phase(a, "paced-720p", a.size, 0, driver_fps=2 * a.fps)]
    alpha = [run_phase(a, "alpha-720p", a.size, 1, background="transparent"),
             run_phase(a, "alphamax-720p", a.size, 1, realtime=False, background="transparent")]
    for n in a.fanout:
        results.append(run_phase(a, f"fanout-{n}", "640x480", n))
    for n in a.per_viewer_fanout:
        results.append(run_phase(a, f"perview-{n}", "640x480", n, encode="per-viewer"))
    for n in a.shared_fanout:
        results.append(run_phase(a, f"shared-{n}", "640x480", n, encode="shared"))

    print(f"\nstreamfx live benchmark · {os.cpu_count()} CPUs · driver {Path(a.driver).name} · codec {a.codec} · "
          f"{a.seconds:g} s windows\n")
    hdr = (f"{'phase':<11} {'capture':>7} {'output':>7} {'vcam':>6} {'vcam p50/p95 ms':>16} "
           f"{'webrtc p50/p95 ms':>18} {'viewers fps min/mean':>21} {'stage ms (track/gen/total)':>27}")
    print(hdr)
    print("-" * len(hdr))
    ok = True
    for r in results:
        sinks = r["sinks"]
        vc, wr = sinks.get("vcam", {}), sinks.get("webrtc", {})
        fps = [c["fps"] for c in r["clients"]]
        st = r["stage_ms"]
        print(f"{r['phase']:<11} {r['capture_fps']:>7.1f} {r['output_fps']:>7.1f} {r['vcam_backend']['fps']:>6.1f} "
              f"{fmt(vc.get('latency_p50_ms')):>7}/{fmt(vc.get('latency_p95_ms')):<8} "
              f"{fmt(wr.get('latency_p50_ms')):>8}/{fmt(wr.get('latency_p95_ms')):<9} "
              f"{(min(fps) if fps else 0):>10.1f}/{(sum(fps) / len(fps) if fps else 0):<10.1f} "
              f"{fmt(st.get('track')):>9}/{fmt(st.get('generate'))}/{fmt(st.get('animate'))}")
    print()
    rt = results[0]
    vc = rt["sinks"].get("vcam", {})
    checks = [
        ("rt-720p output ≥ 29.5 fps (30 fps driver)", rt["output_fps"] >= 29.5),
        ("rt-720p virtual camera ≥ 29.5 fps, RGB 1280x720",
         rt["vcam_backend"]["fps"] >= 29.5 and rt["vcam_backend"]["pixel_format"].strip() == "raw"
         and rt["vcam_backend"]["bad_shape"] == 0),
        ("rt-720p motion-to-output p95 ≤ 50 ms (every sink)",
         all((s.get("latency_p95_ms") or 1e9) <= 50 for s in rt["sinks"].values())),
        ("max-720p pipeline throughput ≥ 30 fps", results[1]["output_fps"] >= 30),
    ]
    paced = results[2]["vcam_backend"]
    print(f"paced-720p: virtual camera {paced['fps']:.1f} fps from a {2 * a.fps:g} fps driver, frame interval "
          f"p50 {fmt(paced['interval_ms_p50'])} ms / p95 {fmt(paced['interval_ms_p95'])} ms "
          f"({results[2]['dropped']['output']} frames skipped, none queued)")
    checks.append((f"paced-720p virtual camera paced at {a.fps:g} fps (±10%) by a {2 * a.fps:g} fps driver",
                   0.9 * a.fps <= paced["fps"] <= 1.1 * a.fps))
    for r in results[3:]:
        n = len(r["clients"])
        checks.append((f"{r['phase']}: all {n} viewers ≥ 25 fps", all(c["fps"] >= 25 for c in r["clients"])))
    for text, good in checks:
        ok &= good or not text.startswith(("rt-", "max-", "paced-", "fanout-8"))
        print(f"  [{'ok' if good else '!!'}] {text}")
    for prefix, why in (("fanout-", "auto: 2 own encoders + 1 shared"), ("perview-", "one encode per viewer"),
                        ("shared-", "one encode for all, packetized per viewer")):
        tried = [r for r in results if r["phase"].startswith(prefix)]
        tops = [r for r in tried if all(c["fps"] >= 25 for c in r["clients"])]
        if tops:
            best = len(max(tops, key=lambda r: len(r["clients"]))["clients"])
            counts = [len(r["clients"]) for r in tried]
            verdict = (f"held ≥ 25 fps up to the largest tried, {best} viewers" if best == max(counts)
                       else f"tops out at {best} viewers ≥ 25 fps")
            print(f"{prefix.rstrip('-')}: {verdict} (640x480; tried {counts}; {why}; CPU-bound).")
    print(f"pipeline tops out at {results[1]['output_fps']:.0f} fps at {a.size} with the driver unpaced "
          f"(animate {fmt(results[1]['stage_ms'].get('animate'))} ms + composite "
          f"{fmt(results[1]['stage_ms'].get('composite'))} ms per frame).")
    alpha_ok = alpha_report(a, alpha)
    if a.json:
        Path(a.json).write_text(json.dumps(results + alpha, indent=1))
    return 0 if ok and alpha_ok == 0 else 1


def alpha_report(a: argparse.Namespace, phases: list[dict]) -> int:
    """The alpha phases: output rate, stage times and what an OBS-stream reader got."""
    print(f"\nalpha on (--background transparent), {a.size}, 512² portrait unless --source:")
    for r in phases:
        st, obs = r["stage_ms"], r.get("obs_stream", {})
        lat = r["sinks"].get("obs-stream", {})
        print(f"  {r['phase']:<14} output {r['output_fps']:5.1f} fps · vcam {r['vcam_backend']['fps']:5.1f} fps · "
              f"OBS stream read {obs.get('fps', 0):5.1f} fps (alpha {'kept' if obs.get('alpha') else 'LOST'}) · "
              f"motion-to-OBS-stream p50/p95 {fmt(lat.get('latency_p50_ms'))}/{fmt(lat.get('latency_p95_ms'))} ms · "
              f"animate {fmt(st.get('animate'))} ms + composite {fmt(st.get('composite'))} ms")
    good = phases[0]["output_fps"] >= 29.5 and phases[-1]["output_fps"] >= 30
    print(f"  [{'ok' if good else '!!'}] alpha at {a.size} ≥ 30 fps (paced output and unpaced throughput)")
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
