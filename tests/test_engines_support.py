"""Shared helpers for the engine tests (no tests here): real targets and the parity measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# parity with the opencv reference, in 1/255 units of a uint8 channel
MAX_ABS = 2
MEAN_ABS = 0.5


def parity(ref: np.ndarray, out: np.ndarray) -> tuple[int, float]:
    """(max, mean) absolute difference between two uint8 frames (or batches)."""
    assert ref.shape == out.shape and out.dtype == np.uint8
    d = np.abs(ref.astype(np.int16) - out.astype(np.int16))
    return int(d.max()), float(d.mean())


def assert_parity(name: str, ref: np.ndarray, out: np.ndarray, beyond: float) -> None:
    """The bound docs/engines.md "Parity" states and justifies.

    Every pixel but a handful per frame is within ±2; the handful sit on high-contrast edges
    where float summation order moved a remap position across a 1/32-pixel step.
    """
    worst, mean = parity(ref, out)
    d = np.abs(ref.astype(np.int16) - out)
    share = float((d > MAX_ABS).mean())
    print(f"{name}: max {worst}/255, mean {mean:.6f}/255, share > {MAX_ABS}: {share:.2e}")
    assert mean <= MEAN_ABS / 10, (name, mean)
    assert share <= beyond, (name, share)
    assert worst <= 16, (name, worst)  # one 1/32-px step in x and in y: ≤ 2 · 255/32


def synthetic_targets(lm: np.ndarray) -> list[np.ndarray]:
    """Poses that exercise every stage: identity, head move, open mouth, blinks, a script."""
    from streamfx import landmarks as L
    from streamfx.motion import FaceRig, MotionScript

    out = [lm.copy()]
    t = lm.copy()
    t[:, 0] += 6.0
    t[:, 1] += 4.0
    out.append(t)
    t = lm.copy()
    drop = 0.5 * np.linalg.norm(t[61, :2] - t[291, :2])
    t[L.OUTER_LOWER[1:-1] + L.INNER_LOWER[1:-1] + L.CHIN, 1] += drop
    out.append(t)
    rig = FaceRig(lm)
    p = MotionScript.builtin("idle").params(0.0)
    p.update(blink_left=1.0, blink_right=0.6, yaw=0.1)
    out.append(rig.pose(p))
    demo = MotionScript.builtin("demo")
    out += [rig.pose(demo.params(s)) for s in (0.7, 1.3, 2.9)]
    return [np.asarray(x, np.float32) for x in out]


def driver_targets(source_lm: np.ndarray, driver: Path, frames: int = 10, stride: int = 12) -> list[np.ndarray]:
    """Real driver landmarks (tracked from the clip) retargeted onto a source portrait."""
    import av

    from streamfx.retarget import MotionRetargeter, RetargetSettings
    from streamfx.tracking import FaceTracker

    tracked: list[np.ndarray] = []
    with av.open(str(driver)) as c, FaceTracker(static=False) as tracker:
        for i, frame in enumerate(c.decode(video=0)):
            lm = tracker.track(frame.to_ndarray(format="rgb24"))  # every frame: video-mode tracking
            if i % stride == 0 and lm is not None:
                tracked.append(lm)
            if len(tracked) >= frames:
                break
    rt = MotionRetargeter(source_lm, RetargetSettings(smoothing=0.0))
    return [rt.update(d, i / 30).astype(np.float32) for i, d in enumerate(tracked)]
