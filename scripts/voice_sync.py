"""How closely a voice-driven render's mouth follows its sound (the figure for the voice driver).

Renders ``portrait`` driven by ``voice`` (any sound file), reads the mouth openness of every
output frame with the tracker, and correlates it with the sound's envelope (RMS over 40 ms
around each frame's time) at lags of ±4 frames. Prints the table, the best lag (refined
between frames by a parabola) and, with ``--plot``, saves both curves and the lag table.

    .venv/bin/python scripts/voice_sync.py portrait.jpg speech.wav [--plot out/voice_sync.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamfx.audio import read_mono  # noqa: E402
from streamfx.render import RenderJob, render  # noqa: E402


def envelope(samples: np.ndarray, rate: int, times: np.ndarray, window: float = 0.04) -> np.ndarray:
    """RMS of ``samples`` over ``window`` seconds centred on each of ``times``."""
    out = []
    for t in times:
        a, b = max(0, round((t - window / 2) * rate)), max(0, round((t + window / 2) * rate))
        seg = samples[a:b]
        out.append(float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0)
    return np.array(out)


def lag_table(mouth: np.ndarray, env: np.ndarray, max_lag: int = 4) -> dict[int, float]:
    """Pearson correlation of ``mouth`` against ``env`` for each lag in frames (+ = mouth late)."""
    table = {}
    for lag in range(-max_lag, max_lag + 1):
        a = mouth[max(0, lag):len(mouth) + min(0, lag)]
        b = env[max(0, -lag):len(env) - max(0, lag)]
        ok = ~np.isnan(a)
        table[lag] = float(np.corrcoef(a[ok], b[ok])[0, 1])
    return table


def best_lag(table: dict[int, float]) -> tuple[float, float]:
    """(lag in frames refined by a parabola through the peak and its neighbours, peak correlation)."""
    k = max(table, key=lambda lag: table[lag])
    if k - 1 in table and k + 1 in table:
        lo, mid, hi = table[k - 1], table[k], table[k + 1]
        den = lo - 2 * mid + hi
        if den < 0:
            return k + 0.5 * (lo - hi) / den, mid
    return float(k), table[k]


def measure(output: Path, voice: Path, fps: float) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    from tests.picture import mouth_openness, read_video  # the tests' own measuring tools

    mouth = mouth_openness(read_video(output))
    rate = 16_000
    env = envelope(read_mono(voice, rate=rate), rate, np.arange(len(mouth)) / fps)
    return mouth, env, lag_table(mouth, env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("portrait")
    ap.add_argument("voice")
    ap.add_argument("--plot", help="save a PNG of the curves and the lag table here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "voice.mp4"
        res = render(RenderJob(source=args.portrait, driver=args.voice, output=str(out), max_size=512,
                               progress=False))
        mouth, env, table = measure(out, Path(args.voice), res.fps)
    for lag, c in table.items():
        print(f"lag {lag:+d} frames ({lag * 1000 / res.fps:+6.0f} ms): r = {c:.3f}")
    lag, peak = best_lag(table)
    print(f"best: r = {peak:.3f} at {lag * 1000 / res.fps:+.0f} ms (+ = mouth after the sound); "
          f"{np.isnan(mouth).sum()} of {len(mouth)} frames without a face read")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(2, 1, figsize=(9, 6))
        t = np.arange(len(mouth)) / res.fps
        a.plot(t, (mouth - np.nanmin(mouth)) / np.nanmax(mouth - np.nanmin(mouth)), label="mouth openness (tracked on output)")
        a.plot(t, env / env.max(), label="sound envelope (RMS, 40 ms)", alpha=0.7)
        a.set_xlabel("s")
        a.legend()
        lags = np.array(list(table)) * 1000 / res.fps
        b.plot(lags, list(table.values()), "o-")
        b.set_xlabel("lag, ms (+ = mouth after the sound)")
        b.set_ylabel("Pearson r")
        fig.tight_layout()
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
