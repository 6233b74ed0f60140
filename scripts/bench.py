#!/usr/bin/env python3
"""Speed benchmark: ms per frame for each stage, and end-to-end frames per second.

Stages: decode (PyAV), tracking (mediapipe face mesh + optical-flow alignment; the mesh
alone is reported too), appearance (what the appearance layers take from each driver frame:
its inner mouth, its creases), retargeting, generator (driven by the demo motion script, and
by the video with the appearance layers drawing), encode
(libx264), at portrait sizes 256², 512² and 1024². With --render-seconds N it also times a
whole `streamfx render` of an N-second 640×480 30 fps driver (made from the shared media
clips, or a synthetic clip when those are absent).

    python scripts/bench.py                      # table on stdout
    python scripts/bench.py --json out/bench.json
    python scripts/bench.py --render-seconds 90  # the 90-second end-to-end check
    python scripts/bench.py --engines            # every generator engine × size × batch (+ PNG plot)
    python scripts/bench.py --scaling            # live ms/frame vs portrait, output size, viewers (+ PNG plot)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from streamfx.alignment import AlignSettings  # noqa: E402
from streamfx.generator import WarpGenerator  # noqa: E402
from streamfx.generator.appearance import DriverAppearance, extract_appearance  # noqa: E402
from streamfx.imageio import demo_portrait  # noqa: E402
from streamfx.matte import source_matte  # noqa: E402
from streamfx.motion import FaceRig, MotionScript  # noqa: E402
from streamfx.retarget import MotionRetargeter  # noqa: E402
from streamfx.tracking import FaceTracker, find_portrait_landmarks  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "driving"


def time_each(fn: Callable[[Any], object], items: Sequence[Any], warmup: int = 3, passes: int = 3) -> float:
    """Mean ms of fn(item) over items, after a few warm-up calls: the fastest of ``passes``
    passes over them (as timeit takes the fastest repeat: on a shared or throttled machine a
    single pass's mean moved ±15 % between runs; the fastest pass is what the code costs)."""
    for item in items[:warmup]:
        fn(item)
    best = float("inf")
    for _ in range(passes):
        t = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t)
    return best / len(items) * 1e3


def make_driver(path: Path, seconds: float, size: tuple[int, int] = (640, 480), fps: int = 30) -> Path:
    """An N-second 640×480 talking-head driver: the shared clips, letterboxed and looped."""
    clips = sorted(MEDIA.glob("lp_d*.mp4")) if MEDIA.is_dir() else []
    w, h = size
    out = av.open(str(path), "w")
    st = out.add_stream("libx264", rate=fps)
    st.width, st.height, st.pix_fmt = w, h, "yuv420p"
    st.options = {"preset": "ultrafast", "crf": "23"}
    n, total = 0, int(seconds * fps)
    while n < total:
        if clips:
            for clip in clips:
                with av.open(str(clip)) as c:
                    for f in c.decode(video=0):
                        img = f.to_ndarray(format="rgb24")
                        s = min(w / img.shape[1], h / img.shape[0])
                        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)))
                        canvas = np.full((h, w, 3), 40, np.uint8)
                        y0, x0 = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
                        canvas[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
                        for p in st.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                            out.mux(p)
                        n += 1
                        if n >= total:
                            break
                if n >= total:
                    break
        else:  # no shared media: a moving synthetic portrait is enough to time decode/encode
            base = cv2.resize(demo_portrait(), (h, h))
            for i in range(total):
                canvas = np.full((h, w, 3), 40, np.uint8)
                dx = int(20 * np.sin(i / 15))
                canvas[:, (w - h) // 2 + dx:(w - h) // 2 + dx + h] = base
                for p in st.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                    out.mux(p)
            n = total
    for p in st.encode():
        out.mux(p)
    out.close()
    return path


def stage_table(sizes: list[int], frames: int) -> list[dict[str, float | int]]:
    clip = MEDIA / "lp_d9.mp4"
    tmp = Path(tempfile.mkdtemp())
    if not clip.is_file():
        clip = make_driver(tmp / "driver.mp4", 5)
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        t = time.perf_counter()
        decoded = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), c.decode(stream), strict=False)]
        decode_ms = (time.perf_counter() - t) / len(decoded) * 1e3
    # tracking as drivers are tracked: the mesh plus the optical-flow alignment; the mesh
    # alone is timed too, so the table shows what the alignment costs
    with FaceTracker() as plain:
        t = time.perf_counter()
        for f in decoded:
            plain.track(f)
        mesh_ms = (time.perf_counter() - t) / len(decoded) * 1e3
    with FaceTracker(align=AlignSettings()) as tracker:
        t = time.perf_counter()
        driver_lms = [tracker.track(f) for f in decoded]
        track_ms = (time.perf_counter() - t) / len(decoded) * 1e3
    portrait = demo_portrait()
    rows = []
    for size in sizes:
        img = cv2.resize(portrait, (size, size), interpolation=cv2.INTER_AREA if size < 512 else cv2.INTER_CUBIC)
        lm = find_portrait_landmarks(img)
        assert lm is not None
        gen = WarpGenerator()
        gen.prepare(img, lm, person=source_matte(img))
        rig = FaceRig(lm)
        script = MotionScript.builtin("demo")
        targets = [rig.pose(script.params(i / 30)) for i in range(frames)]
        rt = MotionRetargeter(lm)
        valid = [(d, i / 30) for i, d in enumerate(driver_lms) if d is not None]
        def retarget(item: tuple[np.ndarray, float], rt: MotionRetargeter = rt) -> np.ndarray:
            return rt.update(*item)

        retarget_ms = time_each(retarget, valid, passes=1)  # a filter over time: one pass, in order
        gen_ms = time_each(gen.render, targets)
        # driven by the video instead: the appearance layers take the driver's mouth and creases
        # from each frame (in the tracking stage) and draw them (in the generator's)
        tracked = [(f, d) for f, d in zip(decoded, driver_lms, strict=True) if d is not None]
        layers = gen.src.stack.layers if gen.src is not None else ()

        def appearance(item: tuple[np.ndarray, np.ndarray], layers: Sequence[Any] = layers) -> object:
            return extract_appearance(layers, *item)

        def render_driven(item: tuple[np.ndarray, DriverAppearance], gen: WarpGenerator = gen) -> np.ndarray:
            return gen.render(*item)

        appearance_ms = time_each(appearance, tracked)
        rt_video = MotionRetargeter(lm)
        driven: list[tuple[np.ndarray, DriverAppearance]] = []
        for i, (f, d) in enumerate(tracked):
            look = extract_appearance(layers, f, d)
            driven.append((rt_video.update(d, i / 30), look.with_reference(driven[0][1] if driven else look)))
        video_ms = time_each(render_driven, driven)
        outs = [gen.render(tg) for tg in targets[:frames]]
        buf = tmp / f"enc{size}.mp4"
        with av.open(str(buf), "w") as o:
            st = o.add_stream("libx264", rate=Fraction(30))
            st.width, st.height, st.pix_fmt = size, size, "yuv420p"
            st.options = {"preset": "veryfast", "crf": "20"}
            st.thread_type = "AUTO"
            t = time.perf_counter()
            for fr in outs:
                for p in st.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                    o.mux(p)
            for p in st.encode():
                o.mux(p)
            encode_ms = (time.perf_counter() - t) / len(outs) * 1e3
        total = decode_ms + track_ms + appearance_ms + retarget_ms + video_ms + encode_ms
        rows.append({"size": size, "decode_ms": decode_ms, "track_ms": track_ms, "mesh_ms": mesh_ms, "retarget_ms": retarget_ms,
                     "generator_ms": gen_ms, "appearance_ms": appearance_ms, "video_generator_ms": video_ms,
                     "encode_ms": encode_ms, "serial_fps": 1e3 / total})
    return rows


_RENDER_CODE = """
import json, resource, sys, time
from streamfx.render import RenderJob, render
def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
c, t = cpu(), time.perf_counter()
res = render(RenderJob(source=sys.argv[1], driver=sys.argv[2], output=sys.argv[3], progress=False))
wall, c = time.perf_counter() - t, cpu() - c
print("RESULT " + json.dumps({"frames": res.frames, "wall_s": wall, "fps": res.frames / wall, "cpu_s": c,
      "cores_busy": c / wall, "workers": getattr(res, "workers", 0),
      **{k + "_ms": v for k, v in res.stage_ms.items()}}))
"""


def time_render(checkout: Path, portrait: Path, driver: Path, output: Path) -> dict[str, float]:
    """``streamfx render`` of ``checkout`` (any version of this repository) on the given files,
    in a fresh interpreter: wall time of the render itself (not the imports), fps, and CPU
    time of the process and its worker processes (``cores_busy`` = CPU / wall)."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(checkout)}
    p = subprocess.run([sys.executable, "-c", _RENDER_CODE, str(portrait), str(driver), str(output)],
                       cwd=checkout, env=env, capture_output=True, text=True, check=False)
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    if p.returncode or line is None:
        raise RuntimeError(f"the render in {checkout} failed: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(line.removeprefix("RESULT "))


def render_check(seconds: float, against: Path | None = None) -> dict[str, Any]:
    """An N-second 640×480 driver → the 512² demo portrait, rendered by this checkout and,
    if given, by ``against`` (another checkout, e.g. a ``git worktree`` of main), one after
    the other on the same files."""
    tmp = Path(tempfile.mkdtemp())
    drv = make_driver(tmp / "driver_640x480.mp4", seconds)
    portrait = tmp / "portrait.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(demo_portrait(), cv2.COLOR_RGB2BGR))
    res: dict[str, Any] = {"driver_seconds": seconds,
                           **time_render(ROOT, portrait, drv, tmp / "out.mp4")}
    if against is not None:
        base = time_render(against.resolve(), portrait, drv, tmp / "out_against.mp4")
        res["against"] = {"checkout": str(against), **base}
        res["speedup"] = res["fps"] / base["fps"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024])
    ap.add_argument("--frames", type=int, default=150,
                    help="frames per measurement (--scaling: each also stops after a few seconds)")
    ap.add_argument("--render-seconds", type=float, default=0, help="also time an end-to-end render of an N-second driver")
    ap.add_argument("--against", type=Path, metavar="CHECKOUT",
                    help="with --render-seconds: also time the same render by another checkout (e.g. a git worktree "
                         "of main) and print the speed-up")
    ap.add_argument("--json", type=Path, help="write results as JSON here")
    ap.add_argument("--engines", nargs="*", metavar="ENGINE",
                    help="instead: benchmark generator engines (all that work here, or those named) at "
                    "256²/512²/1024² × batch 1/4/8, with a table, JSON and a PNG plot (scripts/bench_engines.py)")
    ap.add_argument("--scaling", action="store_true",
                    help="instead: how the live cost grows with portrait size, output size and viewer count — "
                    "a markdown table, JSON (--json, default out/bench_scaling.json) and a PNG plot "
                    "(scripts/bench_scaling.py)")
    from bench_scaling import add_arguments as add_scaling_arguments

    add_scaling_arguments(ap)
    args = ap.parse_args()
    if args.scaling:
        from bench_scaling import run_cli as bench_scaling

        args.json = args.json or Path("out/bench_scaling.json")
        return bench_scaling(args)
    if args.engines is not None:
        from bench_engines import main as bench_engines

        argv = ["--engines", *args.engines] if args.engines else []
        if args.json:
            argv += ["--json", str(args.json)]
        return bench_engines(argv)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}")
    rows = stage_table(args.sizes, args.frames)
    cols = ["size", "decode_ms", "track_ms", "mesh_ms", "appearance_ms", "retarget_ms", "generator_ms",
            "video_generator_ms", "encode_ms", "serial_fps"]
    print("| portrait | decode ms | tracking ms | (mesh only) | appearance ms | retarget ms | generator ms (script) "
          "| generator ms (video) | encode ms | serial fps |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']}² | " + " | ".join(f"{r[c]:.2f}" for c in cols[1:]) + " |")
    result: dict[str, object] = {"machine": machine, "stages": rows}
    if args.render_seconds:
        rc = render_check(args.render_seconds, args.against)
        result["render"] = rc
        print(f"\nend-to-end render of a {rc['driver_seconds']:.0f}-s 640×480 30 fps driver → 512² portrait: "
              f"{rc['frames']} frames in {rc['wall_s']:.1f} s ({rc['fps']:.1f} fps, {rc['cores_busy']:.2f} cores busy, "
              f"{rc['workers']} generator workers)")
        if "against" in rc:
            b = rc["against"]
            print(f"{b['checkout']}: {b['frames']} frames in {b['wall_s']:.1f} s ({b['fps']:.1f} fps, "
                  f"{b['cores_busy']:.2f} cores busy) → speed-up {rc['speedup']:.2f}×")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
