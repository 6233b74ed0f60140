"""Live metrics: rates, stage timings, drops and motion-to-output latency.

Everything is measured over a short sliding window (default 5 s) so the numbers describe
*now*, not the average since start; a stall shows up within seconds. All methods are
thread-safe: the capture thread, the worker, sink threads and the event loop all report here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeVar

import numpy as np


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._t: deque[float] = deque()
        self.total = 0

    def mark(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        self._t.append(now)
        self.total += 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._t and self._t[0] < cutoff:
            self._t.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        self._trim(now)
        if len(self._t) < 2:
            return 0.0
        # Rate between the first event in the window and now: a source that stops shows a
        # falling rate instead of freezing at its last value.
        span = max(now - self._t[0], self._t[-1] - self._t[0])
        return (len(self._t) - 1) / span if span > 0 else 0.0


class SampleWindow:
    """Timestamped samples (e.g. milliseconds) over a sliding window, with percentiles."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._s: deque[tuple[float, float]] = deque()

    def add(self, value: float, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        self._s.append((now, value))
        cutoff = now - self.window_s
        while self._s and self._s[0][0] < cutoff:
            self._s.popleft()

    def values(self) -> list[float]:
        cutoff = time.perf_counter() - self.window_s
        while self._s and self._s[0][0] < cutoff:
            self._s.popleft()
        return [v for _, v in self._s]

    def percentile(self, q: float) -> float | None:
        v = self.values()
        return float(np.percentile(v, q)) if v else None

    def mean(self) -> float | None:
        v = self.values()
        return float(np.mean(v)) if v else None


W = TypeVar("W")


def _entry(table: dict[str, W], key: str, make: Callable[[float], W], window_s: float) -> W:
    """``table[key]``, made on first use (setdefault would build a throwaway every frame)."""
    item = table.get(key)
    if item is None:
        item = table[key] = make(window_s)
    return item


class FallingBehind:
    """Notices, once, that the output rate stays below its target: the machine cannot keep up.

    Fed the sliding-window rates (every half second or so, by whoever already reads them);
    :meth:`check` returns True exactly once, when the output has run below ``share`` of the
    target for ``hold_s`` seconds in a row while the driver delivered faster than that (a
    camera that itself gives 15 fps in dim light is not the pipeline's fault, and a smaller
    picture would not help). Not thread-safe: one caller.
    """

    def __init__(self, target_fps: float, hold_s: float = 5.0, share: float = 0.9) -> None:
        self.target_fps = target_fps
        self.hold_s = hold_s
        self.share = share
        self._since: float | None = None
        self.fired = False

    def behind(self, output_fps: float, capture_fps: float) -> bool:
        """This reading alone: output below the target and below what the driver delivers."""
        limit = self.share * self.target_fps
        # 0 fps is no reading (not started, paused, a failing animator): no size advice for that
        return 0 < output_fps < limit and output_fps < self.share * capture_fps

    def check(self, output_fps: float, capture_fps: float, now: float | None = None) -> bool:
        """True the first time the output has been behind for ``hold_s`` s in a row; else False."""
        now = time.monotonic() if now is None else now
        if self.fired:
            return False
        if not self.behind(output_fps, capture_fps):
            self._since = None
            return False
        if self._since is None:
            self._since = now
        if now - self._since >= self.hold_s:
            self.fired = True
            return True
        return False

    def reset(self) -> None:
        """Restart the clock (e.g. while paused: no output is expected)."""
        self._since = None


class LiveMetrics:
    """The live pipeline's numbers: what the panel shows and ``/metrics`` exports."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._lock = threading.Lock()
        self.driver_up: bool | None = None
        """The chosen driver delivers frames (None: not started). A state, so reset() keeps it."""
        self.reset(window_s)

    def reset(self, window_s: float | None = None) -> None:
        """Start afresh (benchmarks: measure after warm-up), optionally with a new window."""
        with self._lock:
            self._reset(self.window_s if window_s is None else window_s)

    def _reset(self, window_s: float) -> None:
        self.window_s = window_s
        self.started = time.perf_counter()
        self.capture = RateMeter(window_s)
        self.output = RateMeter(window_s)
        self.stages: dict[str, SampleWindow] = {}
        self.sink_rates: dict[str, RateMeter] = {}
        self.latency: dict[str, SampleWindow] = {}
        self.dropped: dict[str, int] = {"capture": 0, "output": 0}
        self.sink_errors: dict[str, int] = {}
        self.gauges: dict[str, float] = {}

    # -- reporting -----------------------------------------------------------------------
    def mark_capture(self) -> None:
        with self._lock:
            self.capture.mark()

    def mark_output(self, stage_ms: dict[str, float] | None = None) -> None:
        with self._lock:
            now = time.perf_counter()
            self.output.mark(now)
            for name, ms in (stage_ms or {}).items():
                _entry(self.stages, name, SampleWindow, self.window_s).add(float(ms), now)

    def mark_sink(self, sink: str, captured_at: float | None) -> None:
        """A frame was handed to ``sink``; ``captured_at`` is None for repeated frames."""
        with self._lock:
            now = time.perf_counter()
            _entry(self.sink_rates, sink, RateMeter, self.window_s).mark(now)
            if captured_at is not None:
                _entry(self.latency, sink, SampleWindow, self.window_s).add(
                    (now - captured_at) * 1000.0, now
                )

    def set_dropped(self, where: str, count: int) -> None:
        with self._lock:
            self.dropped[where] = count

    def sink_error(self, sink: str) -> None:
        with self._lock:
            self.sink_errors[sink] = self.sink_errors.get(sink, 0) + 1

    def set_driver_up(self, up: bool) -> None:
        with self._lock:
            self.driver_up = up

    def set_gauge(self, name: str, value: float) -> None:
        with self._lock:
            self.gauges[name] = float(value)

    # -- reading -------------------------------------------------------------------------
    def rates(self) -> tuple[float, float]:
        """(capture fps, output fps) over the window: the cheap part of :meth:`snapshot`."""
        with self._lock:
            now = time.perf_counter()
            return self.capture.rate(now), self.output.rate(now)

    def snapshot(self) -> dict:
        """A JSON-ready dict (the panel polls this)."""
        with self._lock:
            now = time.perf_counter()
            sinks = {}
            for name in sorted(set(self.sink_rates) | set(self.latency)):
                lat = self.latency.get(name)
                rate = self.sink_rates.get(name)
                sinks[name] = {
                    "fps": round(rate.rate(now), 2) if rate else 0.0,
                    "latency_p50_ms": _r(lat.percentile(50)) if lat else None,
                    "latency_p95_ms": _r(lat.percentile(95)) if lat else None,
                    "frames": rate.total if rate else 0,
                }
            return {
                "uptime_s": round(now - self.started, 1),
                "capture_fps": round(self.capture.rate(now), 2),
                "output_fps": round(self.output.rate(now), 2),
                "frames_captured": self.capture.total,
                "frames_output": self.output.total,
                "stage_ms": {k: _r(w.mean()) for k, w in sorted(self.stages.items())},
                "dropped": dict(self.dropped),
                "sink_errors": dict(self.sink_errors),
                "sinks": sinks,
                "gauges": dict(self.gauges),
                "driver_up": self.driver_up,
            }

    def prometheus(self) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        s = self.snapshot()
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, rows: Iterable[tuple[str, float | None]]) -> None:
            out.append(f"# HELP streamfx_{name} {help_}")
            out.append(f"# TYPE streamfx_{name} {kind}")
            for labels, value in rows:
                if value is not None:
                    out.append(f"streamfx_{name}{labels} {value:.6g}")

        metric("uptime_seconds", "gauge", "Seconds since the live pipeline started.", [("", s["uptime_s"])])
        metric("capture_fps", "gauge", "Driver frames read per second (sliding window).", [("", s["capture_fps"])])
        metric("output_fps", "gauge", "Animated frames produced per second (sliding window).", [("", s["output_fps"])])
        metric("frames_captured_total", "counter", "Driver frames read.", [("", s["frames_captured"])])
        metric("frames_output_total", "counter", "Animated frames produced.", [("", s["frames_output"])])
        metric(
            "driver_up", "gauge",
            "1 while the chosen driver delivers frames; 0 once it failed or ended "
            "(the output then runs on the fallback driver or holds the last frame).",
            [("", None if s["driver_up"] is None else int(s["driver_up"]))],
        )
        metric(
            "stage_milliseconds", "gauge", "Mean per-frame time of each pipeline stage.",
            [(f'{{stage="{_esc(k)}"}}', v) for k, v in s["stage_ms"].items()],
        )
        metric(
            "dropped_frames_total", "counter", "Frames overwritten before anyone took them.",
            [(f'{{where="{_esc(k)}"}}', v) for k, v in s["dropped"].items()],
        )
        metric(
            "sink_fps", "gauge", "Frames handed to each sink per second.",
            [(f'{{sink="{_esc(k)}"}}', v["fps"]) for k, v in s["sinks"].items()],
        )
        rows: list[tuple[str, float | None]] = []
        for k, v in s["sinks"].items():
            rows.append((f'{{sink="{_esc(k)}",quantile="0.5"}}', v["latency_p50_ms"]))
            rows.append((f'{{sink="{_esc(k)}",quantile="0.95"}}', v["latency_p95_ms"]))
        metric("motion_to_output_milliseconds", "gauge", "Driver capture to sink hand-off latency.", rows)
        metric(
            "sink_errors_total", "counter", "Errors raised by sinks.",
            [(f'{{sink="{_esc(k)}"}}', v) for k, v in s["sink_errors"].items()],
        )
        for k, v in s["gauges"].items():
            metric(_esc_name(k), "gauge", k.replace("_", " ") + ".", [("", v)])
        return "\n".join(out) + "\n"


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _esc(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _esc_name(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)
