#!/usr/bin/env python3
"""Generator-engine benchmark: ms/frame of every engine that works here, by resolution and batch.

Resolutions 256², 512², 1024² (the demo portrait, resized), batches 1, 4 and 8 (B poses of one
portrait per call; ms/frame = call time / B). Writes a table to stdout, JSON, and a PNG plot
of ms/frame by resolution (one line per engine and batch). ``scripts/bench.py --engines``
runs this.

    python scripts/bench_engines.py                         # out/bench_engines.{json,png}
    python scripts/bench_engines.py --engines opencv onnxruntime --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines import EngineSettings, available_engines, create_engine  # noqa: E402
from streamfx.generator import prepare_source  # noqa: E402
from streamfx.imageio import demo_portrait  # noqa: E402
from streamfx.matte import source_matte  # noqa: E402
from streamfx.motion import FaceRig, MotionScript  # noqa: E402
from streamfx.tracking import track_portrait  # noqa: E402

SIZES = (256, 512, 1024)
BATCHES = (1, 4, 8)


def poses(lm: np.ndarray, n: int) -> np.ndarray:
    rig = FaceRig(lm)
    script = MotionScript.builtin("demo")
    return np.stack([rig.pose(script.params(i * script.duration / n)) for i in range(n)]).astype(np.float32)


def bench(names: list[str], repeats: int, threads: int) -> list[dict[str, object]]:
    base = demo_portrait()
    base_lm = track_portrait(base, "astronaut")
    rows: list[dict[str, object]] = []
    for size in SIZES:
        image = cv2.resize(base, (size, size), interpolation=cv2.INTER_AREA if size < 512 else cv2.INTER_CUBIC)
        lm = base_lm * np.float32(size / base.shape[0])
        src = prepare_source(image, lm, person=source_matte(image))  # as the Animator prepares it
        targets = poses(lm, max(BATCHES) * 2)
        for name in names:
            engine = create_engine(name, EngineSettings(threads=threads), fallback=False)
            t0 = time.perf_counter()
            engine.prepare(src)
            prep_ms = (time.perf_counter() - t0) * 1e3
            for b in BATCHES:
                engine.render_batch(targets[:b])  # warm-up (graph capture, allocations)
                times = []
                for r in range(repeats):
                    batch = targets[(r % 2) * b:(r % 2) * b + b]
                    t = time.perf_counter()
                    engine.render_batch(batch)
                    times.append((time.perf_counter() - t) * 1e3 / b)
                row = {"engine": engine.describe(), "name": name, "size": size, "batch": b,
                       "ms_per_frame": round(statistics.median(times), 3),
                       "ms_per_frame_min": round(min(times), 3), "prepare_ms": round(prep_ms, 1)}
                rows.append(row)
                print(f"{name:<12} {size:>5}² batch {b}: {row['ms_per_frame']:>8.2f} ms/frame "
                      f"(min {row['ms_per_frame_min']:.2f}, prepare {prep_ms:.0f} ms)", flush=True)
            engine.close()
    return rows


def table(rows: list[dict[str, object]]) -> str:
    names = list(dict.fromkeys(str(r["name"]) for r in rows))
    head = "| engine | batch | " + " | ".join(f"{s}²" for s in SIZES) + " |"
    lines = [head, "|" + " --- |" * (2 + len(SIZES))]
    for n in names:
        for b in BATCHES:
            cells = [next((f"{r['ms_per_frame']:.2f}" for r in rows
                           if r["name"] == n and r["batch"] == b and r["size"] == s), "–") for s in SIZES]
            lines.append(f"| {n} | {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {1: "-", 4: "--", 8: ":"}
    for i, n in enumerate(dict.fromkeys(str(r["name"]) for r in rows)):
        for b in BATCHES:
            pts = [(int(r["size"]), float(r["ms_per_frame"])) for r in rows  # type: ignore[call-overload, arg-type]
                   if r["name"] == n and r["batch"] == b]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, styles[b], marker="o", color=f"C{i}", label=f"{n}, batch {b}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(SIZES), [f"{s}²" for s in SIZES])
    ax.set_xlabel("portrait resolution")
    ax.set_ylabel("ms per frame (median)")
    ax.set_title(f"generator engines on {platform.node() or 'this machine'} ({os.cpu_count()} cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", nargs="*", help="engines to run (default: every one that works here)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0 = its default)")
    ap.add_argument("--json", default="out/bench_engines.json")
    ap.add_argument("--plot", default="out/bench_engines.png")
    args = ap.parse_args(argv)
    status = available_engines()
    for s in status:
        print(f"{'ok ' if s.ok else 'no '} {s.name:<12} {s.reason}")
    names = args.engines or [s.name for s in status if s.ok]
    rows = bench(names, args.repeats, args.threads)
    print()
    print(table(rows))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                               "engines": [s.__dict__ for s in status], "results": rows}, indent=2))
    plot(rows, Path(args.plot))
    print(f"\nwrote {out} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
