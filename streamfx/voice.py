"""A voice moves the mouth: sound → mouth openness, width and rounding, frame by frame.

The mapping (documented in docs/live.md, "Audio drivers"):

* **openness** — the loudness of the last 40 ms (RMS, dBFS) above the noise gate, scaled
  by how loud the voice has been lately (a peak that follows it up at once and eases down
  3 dB a second), times ``gain``: quieter than the gate is a closed mouth, the voice's own
  loud syllables open it fully, whatever the recording level.
* **vowel shape** — the spectral tilt: energy in 1.5–4 kHz against 250–900 Hz. Bright
  vowels ("ee", "eh") have strong upper formants and widen the mouth; dark ones ("oo",
  "oh") have almost none and round it. Both scale with the openness (silence is neutral).
* **smoothing** — the lips open fast (20 ms) and close slower (70 ms), as they do, and the
  sound is read ``lead`` seconds ahead (40 ms) so the smoothing doesn't make them lag.

Everything is computed from float32 mono samples at any rate; no decoding here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamfx.errors import StreamFXError

#: How much sound each frame's measure looks at (seconds): two pitch periods of a low voice.
WINDOW_S = 0.04


@dataclass
class VoiceSettings:
    """How the voice drives the mouth (CLI ``--voice-gain``/``--voice-gate``, and the panel)."""

    gain: float = 1.0
    """Openness multiplier, 0–3."""
    gate_db: float = -50.0
    """Noise gate, dBFS: sound quieter than this keeps the mouth closed (-90 … -10)."""
    lead: float = 0.04
    """Seconds the mouth moves ahead of the sound it is measured from."""

    def validate(self) -> None:
        if not 0 <= self.gain <= 3:
            raise StreamFXError(f"--voice-gain must be between 0 and 3, not {self.gain:g}")
        if not -90 <= self.gate_db <= -10:
            raise StreamFXError(f"--voice-gate must be between -90 and -10 dBFS, not {self.gate_db:g}")
        if not 0 <= self.lead <= 0.2:
            raise StreamFXError(f"the voice lead must be between 0 and 0.2 s, not {self.lead:g}")


def level_db(window: np.ndarray) -> float:
    """RMS level of ``window`` in dBFS (-120 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64)))) if window.size else 0.0
    return 20 * math.log10(max(rms, 1e-6))


def spectral_tilt(window: np.ndarray, rate: int) -> float:
    """dB of energy in 1.5–4 kHz relative to 250–900 Hz: high for "ee", low for "oo"."""
    if window.size < 16:
        return 0.0
    spec = np.abs(np.fft.rfft(window * np.hanning(window.size))) ** 2
    freqs = np.fft.rfftfreq(window.size, 1 / rate)
    low = spec[(freqs >= 250) & (freqs < 900)].sum()
    high = spec[(freqs >= 1500) & (freqs < 4000)].sum()
    return 10 * math.log10((high + 1e-12) / (low + 1e-12))


class VoiceMouth:
    """Turns successive windows of sound into mouth channels (``mouth_open``, ``mouth_wide``,
    ``mouth_round``, plus a little brow lift on loud syllables). One per voice; not thread-safe."""

    def __init__(self, rate: int, settings: VoiceSettings | None = None) -> None:
        self.rate = rate
        self.settings = settings or VoiceSettings()
        self.settings.validate()
        self._peak = -120.0
        self._floor: float | None = None
        self._open = 0.0
        self._shape = 0.0

    def window(self, samples: np.ndarray, t: float) -> np.ndarray:
        """The ``WINDOW_S`` of ``samples`` (time 0 = sample 0) ending at ``t`` + the lead."""
        end = round((t + self.settings.lead) * self.rate)
        start = end - round(WINDOW_S * self.rate)
        return samples[max(0, start):max(0, min(end, len(samples)))]

    def update(self, window: np.ndarray, dt: float) -> dict[str, float]:
        """The mouth for the newest ``window`` of sound, ``dt`` seconds after the previous one."""
        s = self.settings
        db = level_db(window)
        # the room's noise floor: follows the level down at once, creeps up 2 dB a second
        # (steady noise or music under the voice then counts as silence)
        # (digital silence before the first sound does not count: the gate is the floor then)
        heard = max(db, s.gate_db)
        if self._floor is None:
            self._floor = heard if db > s.gate_db else None
        else:
            self._floor = min(heard, self._floor + 2.0 * dt)
        # never below the gate: it can be raised live (the panel), above the floor learned so far
        floor = s.gate_db if self._floor is None else max(self._floor, s.gate_db)
        self._peak = max(db, self._peak - 3.0 * dt, floor + 15.0)
        target = float(np.clip((db - floor) / (self._peak - floor), 0, 1))
        target = min(1.0, target ** 1.5 * s.gain)  # soft sounds barely part the lips
        tau = 0.02 if target > self._open else 0.07
        self._open += (target - self._open) * (1 - math.exp(-dt / tau))
        if target > 0:
            shape = float(np.clip((spectral_tilt(window, self.rate) + 18.0) / 10.0, -1, 1))
            self._shape += (shape - self._shape) * (1 - math.exp(-dt / 0.05))
        a = self._open
        return {"mouth_open": 0.85 * a, "mouth_wide": max(self._shape, 0.0) * a,
                "mouth_round": max(-self._shape, 0.0) * a, "brow_raise": 0.3 * max(0.0, a - 0.6)}


def mouth_track(samples: np.ndarray, rate: int, times: np.ndarray,
                settings: VoiceSettings | None = None) -> list[dict[str, float]]:
    """The mouth channels at each of ``times`` (seconds) for a whole recording (offline)."""
    voice = VoiceMouth(rate, settings)
    out, prev = [], None
    for t in times:
        dt = 1 / 30 if prev is None else max(1e-3, float(t - prev))
        out.append(voice.update(voice.window(samples, float(t)), dt))
        prev = t
    return out


#: ``webcam+mic``: how long the mouth takes to pass from the camera to the voice and back.
HANDOVER_S = 0.1
#: The voice channels that take over the mouth (the camera keeps the brows, eyes and head).
MOUTH_CHANNELS = ("mouth_open", "mouth_wide", "mouth_round")


class MouthHandover:
    """``--driver webcam+mic``: the camera drives everything it tracks; while it has lost the
    face the voice's openness and vowel shape take over the mouth, faded in and out over
    ``HANDOVER_S``. The voice's mouth is added as the displacement it makes on the portrait's
    resting face (FaceRig), on top of whatever the camera's side gives then (the held last
    pose, easing to the idle motion)."""

    def __init__(self) -> None:
        self.weight = 0.0
        """0: the camera's mouth, 1: the voice's."""
        self._last_t: float | None = None

    def apply(self, target: np.ndarray, rig: Any, voice: dict[str, float], face_found: bool,
              t: float) -> np.ndarray:
        """``target`` (the retargeted landmarks) with the voice's ``mouth_*`` channels blended in."""
        dt = 1 / 30 if self._last_t is None or not 0 < t - self._last_t < 1 else t - self._last_t
        self._last_t = t
        step = dt / HANDOVER_S
        self.weight = max(0.0, self.weight - step) if face_found else min(1.0, self.weight + step)
        if self.weight == 0:
            return target
        from streamfx.motion import CHANNELS

        rest = dict.fromkeys(CHANNELS, 0.0)
        mouth = {**rest, **{k: voice.get(k, 0.0) for k in MOUTH_CHANNELS}}
        return target + self.weight * (rig.pose(mouth) - rig.pose(rest))


__all__ = ["HANDOVER_S", "MOUTH_CHANNELS", "MouthHandover", "VoiceMouth", "VoiceSettings", "WINDOW_S", "level_db", "mouth_track", "spectral_tilt"]
