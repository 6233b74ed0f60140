"""Shared helpers for the engine tests (no tests here): real targets and the parity measure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Parity with the ``opencv`` reference, in 1/255 units of a uint8 channel: the one bound
    every engine meets on every layer (docs/engines.md, "Parity").

    Engines sum the motion field's matmuls in different orders (OpenBLAS, MLAS, MKL,
    cuBLAS); the ~1e-5 px that moves a remap coordinate across one of OpenCV's 1/32-px
    steps on a sharp edge changes that pixel by up to contrast/32 — rarely, hence the share.
    Everything after the matmuls is reproduced op for op.
    """

    mean: float = 0.005
    beyond: int = 2
    share: float = 1e-4  # of values more than ``beyond`` off
    max: int = 16  # one 1/32-px step in x and in y at full contrast: 2 · 255/32

    def check(self, name: str, ref: np.ndarray, out: np.ndarray) -> None:
        assert out.shape == ref.shape and out.dtype == np.uint8, (name, out.shape, out.dtype)
        d = np.abs(ref.astype(np.int16) - out.astype(np.int16))
        mean, share, worst = float(d.mean()), float((d > self.beyond).mean()), int(d.max())
        print(f"{name}: max {worst}/255, mean {mean:.6f}/255, share > {self.beyond}: {share:.1e}")
        assert mean <= self.mean and share <= self.share and worst <= self.max, (name, worst, mean, share)


TOLERANCE = Tolerance()


def parity(ref: np.ndarray, out: np.ndarray) -> tuple[int, float]:
    """(max, mean) absolute difference between two uint8 frames (or batches)."""
    assert ref.shape == out.shape and out.dtype == np.uint8
    d = np.abs(ref.astype(np.int16) - out.astype(np.int16))
    return int(d.max()), float(d.mean())


def assert_parity(name: str, ref: np.ndarray, out: np.ndarray) -> None:
    """Within :data:`TOLERANCE`."""
    TOLERANCE.check(name, ref, out)


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
