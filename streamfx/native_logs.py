"""Quiet native logging: mediapipe's C++ INFO and WARNING lines never reach the terminal.

mediapipe, TensorFlow Lite and absl log from C++ straight to file descriptor 2 — "INFO:
Created TensorFlow Lite XNNPACK delegate for CPU.", "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR", "W0000 00:00:… 123
inference_feedback_manager.cc:114] …", the GL context's "I0000 … gl_context.cc …]" — six to
nine lines per command, before a one-line error too. Neither ``GLOG_minloglevel`` nor
``TF_CPP_MIN_LOG_LEVEL`` reaches them (absl reads no environment variable and TFLite's
minimal logger has no switch), so :func:`native_logs_filtered` makes fd 2 a pipe and a
thread copies it to the real stderr, dropping lines in those native formats at INFO and
WARNING severity. Everything else passes unchanged and in order: our own logging and
errors (``sys.stderr`` writes to fd 2 too, so they share the one ordered stream), tqdm's
progress bar (partial lines are passed on at once, not held for a newline), and native
ERROR/FATAL lines.

``-v`` leaves stderr alone. If the process is killed outright (SIGKILL, a native crash),
the last few stderr bytes may still sit in the pipe and be lost: run with ``-v`` to see
everything as written.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

# A complete line at native INFO/WARNING severity, from the start of the line:
#   absl / glog:  "I0000 00:00:1795941559.608124    4682 file.cc:114] message"   (I, W)
#   TFLite:       "INFO: message", "WARNING: message", "VERBOSE: message"
# E (error) and F (fatal) lines, and TFLite's "ERROR: ", pass.
_NOISE = re.compile(
    rb"[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\s\]]+:\d+\] "
    rb"|(?:INFO|WARNING|VERBOSE): "
)
_TFLITE_PREFIXES = (b"INFO: ", b"WARNING: ", b"VERBOSE: ")
# lines end in \n; tqdm redraws its bar after \r, so \r also starts a fresh "line"
_SEGMENT = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r)")

_active = threading.Lock()  # one filter per process: nested CLI calls reuse the outer one


def is_native_noise(line: bytes) -> bool:
    """True for one line (or line start) in a native INFO/WARNING format."""
    return _NOISE.match(line) is not None


def filter_chunk(data: bytes) -> tuple[bytes, bytes]:
    """Split ``data`` into (bytes to pass on now, an unfinished tail to hold).

    Complete segments in a native INFO/WARNING format are dropped. An unfinished tail is
    held only while it could still turn out to be one; otherwise it goes out at once.
    """
    out: list[bytes] = []
    end = 0
    for m in _SEGMENT.finditer(data):
        seg = m.group()
        if not is_native_noise(seg):
            out.append(seg)
        end = m.end()
    tail = data[end:]
    if tail and not _may_become_noise(tail):
        out.append(tail)
        tail = b""
    return b"".join(out), tail


def _may_become_noise(tail: bytes) -> bool:
    """Whether an unfinished line could still turn out to be native INFO/WARNING output.

    Native loggers write a line in one ``write`` (whole in one pipe read), so this is
    rare; it keeps a line split across reads from slipping through.
    """
    if re.match(rb"[IW]\d{4} ", tail) or tail.startswith(_TFLITE_PREFIXES):
        return True
    return bool(re.fullmatch(rb"[IW]\d{0,4}", tail)) or any(p.startswith(tail) for p in _TFLITE_PREFIXES)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:  # the terminal went away: nothing left to tell
            return
        view = view[n:]


class _Filter:
    """fd 2 → pipe → filtering thread → a duplicate of the original fd 2."""

    def __init__(self) -> None:
        sys.stderr.flush()
        self.real = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._read = read
        self._thread = threading.Thread(target=self._pump, name="native-logs", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        held = b""
        while True:
            try:
                chunk = os.read(self._read, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            out, held = filter_chunk(held + chunk)
            if out:
                _write_all(self.real, out)
        if held and not is_native_noise(held):
            _write_all(self.real, held)
        os.close(self._read)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        # fd 2 was the pipe's only write end (unless a child process inherited it): putting
        # the real stderr back ends the pipe, and the thread drains what is left and stops
        os.dup2(self.real, 2)
        # a child process that inherited fd 2 (multiprocessing's resource tracker outlives
        # the render's generator workers) keeps the pipe open: the thread then forwards
        # whatever it still writes until exit, and the command does not wait for it
        self._thread.join(timeout=0.25)
        if not self._thread.is_alive():
            os.close(self.real)


@contextlib.contextmanager
def native_logs_filtered(enabled: bool = True) -> Iterator[None]:
    """While inside, native INFO/WARNING log lines on fd 2 are dropped (see the module doc)."""
    if not enabled or not _active.acquire(blocking=False):
        yield
        return
    try:
        try:
            filt = _Filter()
        except OSError:  # no fd 2 to filter (a closed stderr): run unfiltered
            yield
            return
        try:
            yield
        finally:
            filt.close()
    finally:
        _active.release()
