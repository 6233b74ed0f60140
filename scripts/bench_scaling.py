"""How the live cost grows: ms per frame against portrait size, output size and viewer count.

Called by ``scripts/bench.py --scaling`` (it can run on its own too). Every figure is a real
component timed on this machine, one frame after another on one thread:

* **portrait** (256², 512², 1024², 2048²): the Animator's step driven by the ``talk`` motion
  script (retarget + generate; a webcam or video driver adds the tracking, printed once, which
  does not depend on the portrait), and compositing it onto a 1280×720 canvas.
* **output** (480p, 720p, 1080p): compositing a 512² animated portrait at that size, the
  I420 conversion WebRTC does, and one encode: aiortc's VP8 encoder (what a viewer gets) and
  the project's H.264 encoder (``--codec h264``).
* **viewers** (640×480, as ``scripts/bench_live.py`` fans out): the encoders and packetizers
  the server runs for N viewers: ``--webrtc-encode auto`` (the first 2 viewers their own VP8
  encoder, the rest one shared encoder, packetized per viewer) against ``per-viewer`` (N
  encoders). Sending (SRTP, sockets) is not included: ``scripts/bench_live.py`` measures the
  whole fan-out with real viewers.

Each measurement stops after ``--frames`` frames or ``MAX_SECONDS``, whichever comes first.
Writes a markdown table (stdout), JSON and a PNG plot.
"""

from __future__ import annotations

import argparse
import fractions
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamfx.live.pipeline import LIVE_MAX_SIDE  # noqa: E402

PORTRAITS = (256, 512, 1024, 2048)
OUTPUTS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
VIEWERS = (1, 2, 4, 8, 16)
FANOUT_SIZE = (640, 480)
MAX_SECONDS = 3.0
"""Each measurement stops after this long (plus its warm-up), however many frames were asked for."""
BUDGET_MS = 1000 / 30
MEDIA = ROOT.parent / "shared" / "media" / "driving"


def timed(fn: Callable[[Any], object], items: Sequence[Any], warmup: int = 2,
          max_s: float = MAX_SECONDS) -> float:
    """Mean ms of ``fn(item)`` over ``items`` (cycled), after ``warmup`` calls; stops after ``max_s``."""
    for item in itertools.islice(itertools.cycle(items), warmup):
        fn(item)
    n, t0 = 0, time.perf_counter()
    for item in items:
        fn(item)
        n += 1
        if time.perf_counter() - t0 > max_s:
            break
    return (time.perf_counter() - t0) / n * 1e3


class FrameFeed:
    """The I420 VideoFrames a WebRTC track hands its encoders: a new one per call, as the
    track makes them (its copy is part of the cost), pts rising at 30 fps; the pictures cycle
    through a few canvases so a long run holds no more than those in memory."""

    def __init__(self, canvases: Sequence[np.ndarray]) -> None:
        from streamfx.web.webrtc import _to_i420

        self._yuv = [_to_i420(c) for c in canvases]
        self._n = itertools.count()

    def __call__(self) -> av.VideoFrame:
        i = next(self._n)
        f = av.VideoFrame.from_ndarray(self._yuv[i % len(self._yuv)], format="yuv420p")
        f.pts, f.time_base = i * 3000, fractions.Fraction(1, 90_000)
        return f


def portrait_of(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The demo portrait at ``size``², and its landmarks (found on that image, as live does)."""
    from streamfx.imageio import demo_portrait
    from streamfx.tracking import find_portrait_landmarks

    base = demo_portrait()
    img = cv2.resize(base, (size, size), interpolation=cv2.INTER_AREA if size < base.shape[0] else cv2.INTER_CUBIC)
    lm = find_portrait_landmarks(img)
    if lm is None:
        raise RuntimeError(f"no face found in the {size}² demo portrait")
    return img, lm


def portrait_rows(sizes: Sequence[int], frames: int) -> list[dict[str, float | int]]:
    from streamfx.animator import Animator
    from streamfx.compositing import Compositor
    from streamfx.drivers import open_driver

    rows: list[dict[str, float | int]] = []
    for size in sizes:
        img, lm = portrait_of(size)
        anim = Animator(img, source_landmarks=lm, source_name=f"demo {size}", track_drivers=False)
        driver = open_driver("talk", neutral_landmarks=anim.source_landmarks, realtime=False, loop=True)
        try:
            drv = list(itertools.islice(driver, frames))
        finally:
            driver.close()
        animate_ms = timed(anim.step, drv)
        comp = Compositor(*OUTPUTS["720p"], background="blur")
        comp.set_source(img, lm)
        outs = [anim.step(f) for f in drv[:10]]
        composite_ms = timed(comp.compose, outs)
        total = animate_ms + composite_ms
        rows.append({"portrait": size, "animate_ms": animate_ms, "composite_720p_ms": composite_ms,
                     "total_ms": total, "fps_ceiling": 1e3 / total})
        print(f"  portrait {size}²: animate {animate_ms:.1f} ms, composite 720p {composite_ms:.1f} ms", flush=True)
    return rows


def tracking_ms(frames: int) -> float | None:
    """Tracking (mesh + alignment) per driver frame of lp_d9, or None without the shared media."""
    from streamfx.alignment import AlignSettings
    from streamfx.tracking import FaceTracker

    clip = MEDIA / "lp_d9.mp4"
    if not clip.is_file():
        return None
    with av.open(str(clip)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in itertools.islice(c.decode(video=0), frames)]
    with FaceTracker(align=AlignSettings()) as tracker:
        return timed(tracker.track, decoded)


def animated_512(frames: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The 512² demo portrait, its landmarks and ``min(frames, 30)`` animated frames of it."""
    from streamfx.animator import Animator
    from streamfx.drivers import open_driver

    img, lm = portrait_of(512)
    anim = Animator(img, source_landmarks=lm, source_name="demo 512", track_drivers=False)
    driver = open_driver("talk", neutral_landmarks=anim.source_landmarks, realtime=False, loop=True)
    try:
        outs = [anim.step(f) for f in itertools.islice(driver, min(frames, 30))]
    finally:
        driver.close()
    return img, lm, outs


def encode_ms(encoder: Any, canvases: Sequence[np.ndarray], frames: int) -> float:
    """Mean ms of one aiortc-style ``encoder.encode(frame)`` (encode + packetize) per frame."""
    feed = FrameFeed(canvases)
    return timed(lambda _: encoder.encode(feed()), range(frames))


def output_rows(names: Sequence[str], frames: int, portrait: tuple[np.ndarray, np.ndarray, list[np.ndarray]]
                ) -> list[dict[str, Any]]:
    from aiortc.codecs.vpx import Vp8Encoder

    from streamfx.compositing import Compositor
    from streamfx.web.h264 import LeveledH264Encoder, h264_level
    from streamfx.web.webrtc import _to_i420

    img, lm, outs = portrait
    rows: list[dict[str, Any]] = []
    for name in names:
        w, h = OUTPUTS[name]
        comp = Compositor(w, h, background="blur")
        comp.set_source(img, lm)
        composite_ms = timed(comp.compose, outs)
        canvases = [comp.compose(o) for o in outs]
        i420_ms = timed(_to_i420, canvases)
        vp8_ms = encode_ms(Vp8Encoder(), canvases, frames)
        h264_ms = encode_ms(LeveledH264Encoder(h264_level(w, h, 30.0)), canvases, frames)
        rows.append({"output": name, "width": w, "height": h, "composite_ms": composite_ms, "i420_ms": i420_ms,
                     "vp8_ms": vp8_ms, "h264_ms": h264_ms, "total_vp8_ms": composite_ms + i420_ms + vp8_ms,
                     "total_h264_ms": composite_ms + i420_ms + h264_ms})
        print(f"  output {name}: composite {composite_ms:.1f} ms, VP8 {vp8_ms:.1f} ms, H.264 {h264_ms:.1f} ms",
              flush=True)
    return rows


def fanout_ms(n: int, per_viewer_limit: int, canvases: Sequence[np.ndarray], frames: int) -> float:
    """ms/frame of the encoders and packetizers N viewers need (``per_viewer_limit`` own encoders)."""
    from aiortc.codecs.vpx import Vp8Encoder

    from streamfx.web.shared_encoder import SharedEncoder

    own = [Vp8Encoder() for _ in range(min(n, per_viewer_limit))]
    packers = [Vp8Encoder() for _ in range(n - len(own))]  # each shared viewer's sender packetizes
    shared = SharedEncoder("vp8") if packers else None

    feed = FrameFeed(canvases)

    def one(_: int) -> None:
        frame = feed()  # one frame object for all, as aiortc's relay hands it out
        for enc in own:
            enc.encode(frame)
        if shared is not None:
            packet = shared.encode(frame)
            if packet is not None:
                for p in packers:
                    p.pack(packet)

    return timed(one, range(frames))


def viewer_rows(counts: Sequence[int], frames: int, portrait: tuple[np.ndarray, np.ndarray, list[np.ndarray]]
                ) -> list[dict[str, Any]]:
    from streamfx.compositing import Compositor
    from streamfx.web.webrtc import WebRTCSettings, _to_i420

    img, lm, outs = portrait
    comp = Compositor(*FANOUT_SIZE, background="blur")
    comp.set_source(img, lm)
    composite_ms = timed(comp.compose, outs)
    canvases = [comp.compose(o) for o in outs]
    i420_ms = timed(_to_i420, canvases)
    limit = WebRTCSettings().per_viewer_limit
    rows: list[dict[str, Any]] = []
    for n in counts:
        auto = fanout_ms(n, limit, canvases, frames)
        own = fanout_ms(n, n, canvases, frames)
        base = composite_ms + i420_ms
        rows.append({"viewers": n, "composite_ms": composite_ms, "i420_ms": i420_ms, "encode_auto_ms": auto,
                     "encode_per_viewer_ms": own, "total_auto_ms": base + auto, "total_per_viewer_ms": base + own})
        print(f"  {n} viewers: auto {auto:.1f} ms, per-viewer {own:.1f} ms", flush=True)
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [f"machine: {result['machine']}", ""]
    track = result.get("tracking_ms")
    lines += ["**Portrait size** (script driver; output 1280×720)" + (
        f" — a webcam/video driver adds tracking, {track:.1f} ms/frame at any portrait size" if track else "")
        + f"; `streamfx live` scales a portrait down to {LIVE_MAX_SIDE} px, bigger ones are for `streamfx render`", "",
        "| portrait | animate ms | composite 720p ms | total ms | fps ceiling |", "|---|---|---|---|---|"]
    lines += [f"| {r['portrait']}² | {r['animate_ms']:.1f} | {r['composite_720p_ms']:.1f} | {r['total_ms']:.1f} "
              f"| {r['fps_ceiling']:.0f} |" for r in result["portraits"]]
    lines += ["", "**Output size** (512² portrait; add its animate ms above)", "",
              "| output | composite ms | I420 ms | VP8 encode ms | H.264 encode ms | total (VP8) ms | total (H.264) ms |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['output']} ({r['width']}×{r['height']}) | {r['composite_ms']:.1f} | {r['i420_ms']:.1f} "
              f"| {r['vp8_ms']:.1f} | {r['h264_ms']:.1f} | {r['total_vp8_ms']:.1f} | {r['total_h264_ms']:.1f} |"
              for r in result["outputs"]]
    w, h = FANOUT_SIZE
    lines += ["", f"**Viewers** ({w}×{h} VP8, encoders + packetizing; sending not included — "
              "scripts/bench_live.py measures it)", "",
              "| viewers | --webrtc-encode auto ms | per-viewer ms | total auto ms | total per-viewer ms |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['viewers']} | {r['encode_auto_ms']:.1f} | {r['encode_per_viewer_ms']:.1f} "
              f"| {r['total_auto_ms']:.1f} | {r['total_per_viewer_ms']:.1f} |" for r in result["viewers"]]
    lines += ["", f"A frame every {BUDGET_MS:.1f} ms is 30 fps: animate + composite + encodes must fit in it "
              f"(over {os.cpu_count()} cores; the stages run on separate threads)."]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))  # own y scales: a 2048² portrait dwarfs the rest
    p, o, v = result["portraits"], result["outputs"], result["viewers"]
    ax = axes[0]
    xs = [r["portrait"] for r in p]
    for key, label in (("animate_ms", "animate"), ("composite_720p_ms", "composite 720p"), ("total_ms", "total")):
        ax.plot(xs, [r[key] for r in p], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [f"{x}²" for x in xs])
    ax.set_xlabel("portrait")
    ax.set_ylabel("ms per frame")
    ax = axes[1]
    xs = [r["height"] for r in o]
    for key, label in (("composite_ms", "composite"), ("vp8_ms", "VP8 encode"), ("h264_ms", "H.264 encode"),
                       ("total_vp8_ms", "composite + I420 + VP8")):
        ax.plot(xs, [r[key] for r in o], marker="o", label=label)
    ax.set_xticks(xs, [r["output"] for r in o])
    ax.set_xlabel("output (512² portrait)")
    ax = axes[2]
    xs = [r["viewers"] for r in v]
    for key, label in (("total_auto_ms", "--webrtc-encode auto"), ("total_per_viewer_ms", "per-viewer")):
        ax.plot(xs, [r[key] for r in v], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel(f"viewers ({FANOUT_SIZE[0]}×{FANOUT_SIZE[1]}, composite + encodes)")
    for ax in axes:
        ax.axhline(BUDGET_MS, color="grey", linestyle="--", linewidth=1, label="30 fps budget")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"StreamFX live cost on {result['machine']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(portraits: Sequence[int], outputs: Sequence[str], viewers: Sequence[int], frames: int) -> dict[str, Any]:
    """Measure everything; the JSON-ready result."""
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"measuring on {machine} (load {load:.2f}), {frames} frames or {MAX_SECONDS:g} s each:", flush=True)
    result: dict[str, Any] = {"machine": machine, "load_1min_before": load, "frames": frames,
                              "portraits": portrait_rows(portraits, frames), "tracking_ms": tracking_ms(frames)}
    needs_512 = bool(outputs) or bool(viewers)
    animated = animated_512(frames) if needs_512 else None
    result["outputs"] = output_rows(outputs, frames, animated) if animated else []
    result["viewers"] = viewer_rows(viewers, frames, animated) if animated else []
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--json", type=Path, default=Path("out/bench_scaling.json"))
    return run_cli(ap.parse_args(argv))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The scaling options (shared with scripts/bench.py)."""
    ap.add_argument("--portraits", type=int, nargs="*", default=list(PORTRAITS), metavar="SIDE",
                    help="--scaling: portrait sides (default 256 512 1024 2048)")
    ap.add_argument("--outputs", nargs="*", default=list(OUTPUTS), choices=list(OUTPUTS),
                    help="--scaling: output sizes (default 480p 720p 1080p)")
    ap.add_argument("--viewers", type=int, nargs="*", default=list(VIEWERS), metavar="N",
                    help="--scaling: viewer counts at 640x480 (default 1 2 4 8 16)")
    ap.add_argument("--plot", type=Path, default=Path("out/bench_scaling.png"), help="--scaling: PNG plot here")


def run_cli(args: argparse.Namespace) -> int:
    if not args.portraits or any(s < 64 for s in args.portraits):
        print("--portraits: give sides of at least 64 px", file=sys.stderr)
        return 2
    result = run(args.portraits, args.outputs, args.viewers, args.frames)
    print()
    print(markdown(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    plot(result, args.plot)
    print(f"\nwrote {args.json} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
