"""Live sound in: a microphone (``sounddevice``/PortAudio), or a sound file played at real
time in its place. Mono float32 at 48 kHz, in 20 ms blocks.

Consumers either read the newest samples (:meth:`AudioCapture.latest`: the voice driver)
or listen to every block as it arrives (:meth:`AudioCapture.listen`: the WebRTC audio track
and the recorder), each block stamped with the ``time.perf_counter()`` of its last sample.
Devices that cannot be used are one-line :class:`~streamfx.errors.DeviceUnavailableError`s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from streamfx.audio import AudioFeed, require_audio
from streamfx.errors import DeviceUnavailableError

log = logging.getLogger("streamfx")

CAPTURE_RATE = 48_000
BLOCK = 960  # 20 ms: one Opus frame
_HISTORY = CAPTURE_RATE  # the newest second is kept for latest()

Listener = Callable[[np.ndarray, float], None]


class AudioCapture:
    """Mono sound arriving in real time. ``start()`` is idempotent; ``close()`` stops it."""

    rate = CAPTURE_RATE
    name = "audio"

    def __init__(self) -> None:
        self._ring = np.zeros(_HISTORY, np.float32)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._started = False
        self.blocks = 0
        """Blocks received so far."""

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._start()

    def _start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def listen(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(block, t)`` for every block from now on; returns the function that stops it."""
        with self._lock:
            self._listeners.append(fn)

        def stop() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)
        return stop

    def latest(self, n: int) -> np.ndarray:
        """The newest ``n`` samples (zeros before the first)."""
        with self._lock:
            return self._ring[-n:].copy()

    def _push(self, block: np.ndarray, t: float) -> None:
        block = np.asarray(block, np.float32).reshape(-1)
        with self._lock:
            self._ring = np.concatenate([self._ring[len(block):], block])
            listeners = list(self._listeners)
        self.blocks += 1
        for fn in listeners:
            fn(block, t)


class FileCapture(AudioCapture):
    """A sound file played at real time as if a microphone heard it (looping when ``loop``).

    For live audio drivers and ``--audio FILE`` live, and for the tests: there is no
    microphone on a test machine, and this feeds the same consumers the same way.
    """

    def __init__(self, path: str | Path, *, loop: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = str(path)
        self.loop = loop
        require_audio(path, "sound file")  # one line now if it has no sound
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audio-file", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        sent = 0
        while not self._stop.is_set():
            feed = AudioFeed(self.path, rate=self.rate, channels=1, what="audio driver", align_to_video=False)
            try:
                while not self._stop.is_set():
                    block = feed.take(BLOCK)[0]
                    if feed.ended and feed.position > BLOCK and not block.any():
                        break
                    sent += BLOCK
                    due = start + sent / self.rate
                    if self._stop.wait(max(0.0, due - time.perf_counter())):
                        return
                    self._push(block, due)
            finally:
                feed.close()
            if not self.loop:
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError:  # the package is there but PortAudio is not
        raise DeviceUnavailableError(
            "no microphone support: the PortAudio library is missing — install it "
            "(Debian/Ubuntu: sudo apt install libportaudio2) or use --driver voice.wav") from None
    except ImportError:
        raise DeviceUnavailableError(
            "no microphone support: the 'sounddevice' package is missing — pip install sounddevice") from None
    return sounddevice


class MicCapture(AudioCapture):
    """A microphone through PortAudio (``device``: a name fragment or index; None = the default)."""

    def __init__(self, device: str | int | None = None) -> None:
        super().__init__()
        sd = _sounddevice()
        self.device = device
        try:
            info = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            which = f"'{device}'" if device is not None else "(the default input)"
            raise DeviceUnavailableError(
                f"no microphone {which}: {exc} — plug one in, pick another with --driver mic:NAME "
                "(python -m sounddevice lists them), or use a sound file") from None
        self.name = str(info.get("name", device))
        self._stream: Any = None
        self._sd = sd

    def _start(self) -> None:
        sd = self._sd

        def callback(indata: np.ndarray, frames: int, t: Any, status: Any) -> None:
            self._push(indata[:, 0].copy(), time.perf_counter())

        try:
            self._stream = sd.InputStream(device=self.device, channels=1, samplerate=self.rate,
                                          blocksize=BLOCK, dtype="float32", callback=callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceUnavailableError(
                f"microphone '{self.name}' cannot be opened ({exc}) — is another program using it? "
                "Close it or pick another with --driver mic:NAME") from None

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception as exc:  # noqa: BLE001 - closing must not mask what stopped us
                log.debug("closing the microphone: %s", exc)
            self._stream = None


def open_capture(spec: str) -> AudioCapture:
    """``mic`` / ``mic:DEVICE`` → a microphone; anything else is a sound file played live."""
    if spec == "mic" or spec.startswith("mic:"):
        dev = spec[4:] or None
        return MicCapture(int(dev) if dev is not None and dev.isdigit() else dev)
    return FileCapture(spec)


__all__ = ["BLOCK", "CAPTURE_RATE", "AudioCapture", "FileCapture", "MicCapture", "open_capture"]
