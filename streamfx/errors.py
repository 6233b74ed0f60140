"""User-facing errors: each one is a single line that names the problem and the way out."""

from __future__ import annotations

import os
from pathlib import Path


class StreamFXError(Exception):
    """An error the CLI prints as one line (no traceback) before exiting non-zero."""

    exit_code = 2


class InputError(StreamFXError):
    """A file the user gave us is missing, unreadable, of the wrong kind or too large."""


class UnsupportedImageError(InputError):
    """An uploaded image is not one of the formats the web upload accepts."""


class ImageTooLargeError(InputError):
    """An image is over a byte or pixel limit (refused before decoding it)."""


class NoFaceError(StreamFXError):
    """The tracker found no face in the source portrait."""


class OutputError(StreamFXError):
    """The output path is unwritable or has an unsupported extension."""


class TruncatedInputError(InputError):
    """The driver video stopped decoding part-way; what decoded was still rendered."""

    exit_code = 3


class DeviceUnavailableError(StreamFXError):
    """A device (virtual camera, GPU) is not there; the message says how to set it up."""


class OBSError(StreamFXError):
    """OBS Studio (obs-websocket) refused or could not be reached; the message says what to do."""


class OBSNotRunningError(OBSError):
    """Nothing answers at the obs-websocket address."""


class OBSBusyError(OBSError):
    """OBS took the request but did not answer in time (it is busy or stuck)."""


class OBSAuthError(OBSError):
    """obs-websocket wants a password, or another one."""


class OBSVersionError(OBSError):
    """An obs-websocket that does not speak protocol v5 (OBS 27's plugin 4.x)."""


def require_file(path: str | Path, what: str, hint: str) -> Path:
    """``path`` as a Path if it is an existing file; otherwise a one-line InputError.

    ``what`` names the role ("source image", "driver video"); ``hint`` lists what fits.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} '{path}' does not exist — check the path")
    if p.is_dir():
        raise InputError(f"{what} '{path}' is a directory — pass a file inside it ({hint})")
    return p


def refuse_overwriting_inputs(output: str | Path, *inputs: str | Path | None, flag: str = "-o") -> None:
    """A one-line OutputError if writing ``output`` would overwrite one of ``inputs``.

    Call it before anything is opened. "The same file" is the same path, a symlink to it or
    a hard link to it: both exist and are one inode (``os.path.samefile`` follows links).
    ``None`` inputs and inputs that are not files (a camera, a built-in script name) are
    skipped; ``flag`` names the option that chose the output, for the fix.
    """
    for given in inputs:
        if given is None:
            continue
        try:
            same = os.path.samefile(output, given)
        except OSError:  # either side missing (or unreadable): nothing of the input to destroy
            continue
        if same:
            raise OutputError(
                f"output '{output}' is the same file as the input '{given}' — writing it would "
                f"destroy the input; choose another {flag} path"
            )


class WhipError(StreamFXError):
    """A WHIP server refused the stream or cannot be reached (``status``: its HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason or message.split(" — ")[0]
        """The cause alone ("HTTP 503: Janus unavailable"), for a log line that says what happens next."""
