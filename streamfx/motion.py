"""Motion scripts: scripted performances that drive a face with no camera and no video.

A script gives, for every time t, a small set of channels (head pose, mouth, smile, blinks,
brows, gaze). :class:`FaceRig` turns those channels into 478 landmarks by deforming a
neutral face (normally the source portrait's own), so a script drives any portrait.

Built-ins: ``idle`` (blink, breathe, small head sway), ``talk``, ``nod``, ``smile``,
``look-around`` and ``demo`` (idle, talk, smile and a look around). Custom performances are
keyframe files (JSON or TOML, see docs/motion-scripts.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib

from streamfx import landmarks as L
from streamfx.errors import InputError

CHANNELS = ("yaw", "pitch", "roll", "tx", "ty", "mouth_open", "smile", "blink_left",
            "blink_right", "brow_raise", "gaze_x", "gaze_y", "mouth_wide", "mouth_round")
"""Degrees for yaw/pitch/roll; inter-ocular units for tx/ty; 0..1 for mouth_open, smile,
blinks, mouth_wide (corners out, as in "ee") and mouth_round (corners in, as in "oo");
-1..1 for brow_raise and gaze."""

Params = dict[str, float]


# ---- procedural layers -----------------------------------------------------------------
def _blink(t: float, period: float = 3.7, length: float = 0.16) -> float:
    k = math.floor((t - 1.0) / period)
    start = 1.0 + k * period + 0.6 * math.sin(k * 1.7)
    x = (t - start) / length
    return math.sin(math.pi * x) ** 2 if 0 <= x <= 1 else 0.0


def _idle(t: float) -> Params:
    return {
        "blink_left": _blink(t), "blink_right": _blink(t),
        "ty": 0.03 * math.sin(2 * math.pi * t / 4.0),
        "yaw": 3.0 * math.sin(2 * math.pi * t / 7.0),
        "roll": 1.5 * math.sin(2 * math.pi * t / 9.0),
        "pitch": 1.2 * math.sin(2 * math.pi * t / 5.5),
        "gaze_x": 0.15 * math.sin(2 * math.pi * t / 6.0),
    }


def idle_params(t: float) -> Params:
    """The built-in idle motion at ``t`` seconds (blinks, breathing, a small head sway), for
    drivers that only move the mouth (a voice) and keep the rest of the face alive with it."""
    return _idle(t)


def _talk(t: float) -> Params:
    p = _idle(t)
    syllables = abs(math.sin(2 * math.pi * 2.3 * t)) * (0.55 + 0.45 * math.sin(2 * math.pi * 0.7 * t) ** 2)
    phrase = 0.5 - 0.5 * math.cos(2 * math.pi * min(t, 2.5) / 5.0) if t < 2.5 else 1.0
    p["mouth_open"] = 0.75 * syllables * phrase
    p["brow_raise"] = 0.3 * max(0.0, math.sin(2 * math.pi * t / 2.9))
    p["pitch"] = p["pitch"] + 3.0 * math.sin(2 * math.pi * t / 1.9)
    return p


def _nod(t: float) -> Params:
    p = _idle(t)
    p["pitch"] = 9.0 * math.sin(2 * math.pi * t / 1.1) * min(1.0, t / 0.3)
    return p


def _smile(t: float) -> Params:
    p = _idle(t)
    p["smile"] = math.sin(math.pi * min(t / 4.0, 1.0)) ** 2
    return p


def _look_around(t: float) -> Params:
    p = _idle(t)
    p["yaw"] = 18.0 * math.sin(2 * math.pi * t / 6.0)
    p["pitch"] = p["pitch"] + 6.0 * math.sin(2 * math.pi * t / 4.0)
    p["gaze_x"] = 0.6 * math.sin(2 * math.pi * t / 6.0)
    p["gaze_y"] = 0.3 * math.sin(2 * math.pi * t / 4.0)
    return p


def _demo(t: float) -> Params:
    if t < 3.0:
        return _idle(t)
    if t < 8.0:
        return _talk(t - 3.0)
    if t < 10.0:
        return _smile(t - 8.0)
    return _look_around(t - 10.0)


BUILTINS: dict[str, tuple[Callable[[float], Params], float]] = {
    "idle": (_idle, 10.0),
    "talk": (_talk, 8.0),
    "nod": (_nod, 4.4),
    "smile": (_smile, 4.0),
    "look-around": (_look_around, 6.0),
    "demo": (_demo, 13.0),
}


@dataclass
class MotionScript:
    """Channels over time: a procedural base plus keyframed tracks added on top."""

    name: str
    duration: float
    fps: float = 30.0
    base: Callable[[float], Params] | None = None
    tracks: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.fps))

    def params(self, t: float) -> Params:
        p: Params = dict.fromkeys(CHANNELS, 0.0)
        if self.base is not None:
            p.update(self.base(t))
        for ch, (times, values) in self.tracks.items():
            p[ch] += float(np.interp(t, times, values))
        return p

    @classmethod
    def builtin(cls, name: str, fps: float = 30.0) -> MotionScript:
        fn, duration = BUILTINS[name]
        return cls(name=name, duration=duration, fps=fps, base=fn)

    @classmethod
    def load(cls, path: str | Path) -> MotionScript:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"motion script '{p}' does not exist — check the path, or use a built-in: {', '.join(BUILTINS)}")
        try:
            text = p.read_text()
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"motion script '{p}' is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {e} — see docs/motion-scripts.md") from None
        return cls.from_dict(data, name=p.stem, where=str(p))

    @classmethod
    def from_dict(cls, data: dict, name: str = "script", where: str = "script") -> MotionScript:
        if not isinstance(data, dict):
            raise InputError(f"motion script '{where}' must be an object with 'tracks' — see docs/motion-scripts.md")
        base_name = data.get("base")
        if base_name is not None and base_name not in BUILTINS:
            raise InputError(f"motion script '{where}': unknown base {base_name!r}; built-ins: {', '.join(BUILTINS)}")
        tracks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        end = 0.0
        for ch, keys in (data.get("tracks") or {}).items():
            if ch not in CHANNELS:
                raise InputError(f"motion script '{where}': unknown channel {ch!r}; channels: {', '.join(CHANNELS)}")
            try:
                arr = np.asarray(keys, dtype=np.float64).reshape(-1, 2)
            except (TypeError, ValueError):
                raise InputError(f"motion script '{where}': track {ch!r} must be a list of [time, value] pairs") from None
            if len(arr) == 0 or np.any(np.diff(arr[:, 0]) < 0):
                raise InputError(f"motion script '{where}': track {ch!r} needs [time, value] pairs in time order")
            tracks[ch] = (arr[:, 0], arr[:, 1])
            end = max(end, float(arr[-1, 0]))
        duration = float(data.get("duration", end or (BUILTINS[base_name][1] if base_name else 0)))
        if duration <= 0:
            raise InputError(f"motion script '{where}' has no duration — add \"duration\" (seconds) or keyframes")
        fps = float(data.get("fps", 30.0))
        if not 1 <= fps <= 120:
            raise InputError(f"motion script '{where}': fps must be between 1 and 120")
        base = BUILTINS[base_name][0] if base_name else None
        return cls(name=name, duration=duration, fps=fps, base=base, tracks=tracks)


def resolve_script(spec: str, fps: float = 30.0) -> MotionScript:
    """A built-in name or a JSON/TOML file."""
    if spec in BUILTINS:
        return MotionScript.builtin(spec, fps)
    return MotionScript.load(spec)


class FaceRig:
    """Poses a neutral face: channel values → 478 landmarks (pixel coordinates)."""

    def __init__(self, neutral: np.ndarray):
        self.neutral = neutral.astype(np.float32)
        n = self.neutral
        self.io = L.interocular(n)
        er, el = L.eye_centres(n)
        ax = L.eye_axis(n)
        self.rot = np.array([[ax[0], ax[1]], [-ax[1], ax[0]]], np.float32)  # image → face frame
        self.centre = (er + el) / 2
        local = (n[:, :2] - self.centre) @ self.rot.T / self.io  # x right, y down, io units
        self.local = local
        self.z = (n[:, 2] - n[:, 2].mean()) / self.io
        self.mouth_c = local[[61, 291]].mean(axis=0)
        self.mouth_w = float(np.linalg.norm(local[61] - local[291]))
        oval = local[L.FACE_OVAL]
        self.face_hw = float((oval[:, 0].max() - oval[:, 0].min()) / 2)
        self.pivot = np.array([oval[:, 0].mean(), oval[:, 1].mean() + 0.3, 1.2], np.float32)
        mx = local[:, 0] - self.mouth_c[0]
        below = local[:, 1] - self.mouth_c[1]
        self.w_jaw = (np.exp(-(mx / (0.55 * self.face_hw)) ** 2)
                      * np.clip(below / (0.12 * self.mouth_w) + 0.5, 0, 1)).astype(np.float32)
        self.w_jaw[L.INNER_UPPER] = 0.0
        # the lower lip drops most in the middle and hinges at the corners: a lens-shaped opening
        for lip in (L.INNER_LOWER, L.OUTER_LOWER):
            u = np.linspace(0.0, 1.0, len(lip))
            self.w_jaw[lip] = np.sqrt(np.clip(4 * u * (1 - u), 0, 1)).astype(np.float32)
        self.w_corner = [np.exp(-(np.linalg.norm(local - local[c], axis=1) / (0.35 * self.mouth_w)) ** 2).astype(np.float32)
                         for c in L.MOUTH_CORNERS]
        brow_y = local[L.BROWS, 1].mean()
        self.w_brow = np.zeros(len(local), np.float32)
        self.w_brow[L.BROWS] = 1.0
        fore = (local[:, 1] < brow_y) & (np.abs(local[:, 0]) < 1.2)
        self.w_brow[fore & (self.w_brow == 0)] = 0.4

    def pose(self, p: Params) -> np.ndarray:
        loc = self.local.copy()
        z = self.z.copy()
        # blinks: the upper lid comes down to meet the lower one
        for up, low, iris, b in ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_IRIS, p["blink_right"]),
                                 (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_IRIS, p["blink_left"])):
            b = float(np.clip(b, 0, 1))
            if b > 0:
                u, lo = loc[up[1:-1]].copy(), loc[low[1:-1]].copy()
                loc[up[1:-1]] = u + b * 0.85 * (lo - u)
                loc[low[1:-1]] = lo + b * 0.15 * (u - lo)
                loc[iris, 1] += b * 0.3 * float(np.mean(lo[:, 1] - u[:, 1]))
        # gaze: irises slide within the eyes
        gx, gy = float(np.clip(p["gaze_x"], -1, 1)), float(np.clip(p["gaze_y"], -1, 1))
        loc[L.IRISES, 0] += gx * 0.12
        loc[L.IRISES, 1] += gy * 0.06
        # brows
        loc[:, 1] -= self.w_brow * 0.12 * float(np.clip(p["brow_raise"], -1, 1))
        # smile: corners out and up
        s = float(np.clip(p["smile"], 0, 1))
        if s > 0:
            for sign, w in zip((-1.0, 1.0), self.w_corner, strict=True):
                loc[:, 0] += sign * w * 0.14 * self.mouth_w * s
                loc[:, 1] -= w * 0.10 * self.mouth_w * s
        # vowel shape: the corners slide out ("ee") or in ("oo"), along the mouth line
        shape = 0.12 * float(np.clip(p.get("mouth_wide", 0.0), 0, 1)) - 0.16 * float(np.clip(p.get("mouth_round", 0.0), 0, 1))
        if shape:
            for sign, w in zip((-1.0, 1.0), self.w_corner, strict=True):
                loc[:, 0] += sign * w * shape * self.mouth_w
        # mouth: the jaw drops, the upper lip lifts a little, the corners draw in
        a = float(np.clip(p["mouth_open"], 0, 1))
        if a > 0:
            loc[:, 1] += self.w_jaw * 0.4 * self.mouth_w * a
            loc[L.INNER_UPPER[1:-1], 1] -= 0.06 * self.mouth_w * a
            for sign, w in zip((1.0, -1.0), self.w_corner, strict=True):
                loc[:, 0] += sign * w * 0.06 * self.mouth_w * a
        # head pose: a 3-D rotation about a pivot in the neck, then a translation
        yaw, pitch, roll = (math.radians(p[k]) for k in ("yaw", "pitch", "roll"))
        cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        pts = np.concatenate([loc, z[:, None]], axis=1) - self.pivot
        pts = pts @ (rz @ rx @ ry).T.astype(np.float32) + self.pivot
        pts[:, 0] += p["tx"]
        pts[:, 1] += p["ty"]
        out = np.empty_like(self.neutral)
        out[:, :2] = pts[:, :2] * self.io @ self.rot + self.centre
        out[:, 2] = pts[:, 2] * self.io + self.neutral[:, 2].mean()
        return out
