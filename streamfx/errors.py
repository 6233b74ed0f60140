"""User-facing errors: each one is a single line that names the problem and the way out."""

from __future__ import annotations


class StreamFXError(Exception):
    """An error the CLI prints as one line (no traceback) before exiting non-zero."""

    exit_code = 2


class InputError(StreamFXError):
    """A file the user gave us is missing, unreadable, of the wrong kind or too large."""


class NoFaceError(StreamFXError):
    """The tracker found no face in the source portrait."""


class OutputError(StreamFXError):
    """The output path is unwritable or has an unsupported extension."""


class TruncatedInputError(InputError):
    """The driver video stopped decoding part-way; what decoded was still rendered."""

    exit_code = 3


class DeviceUnavailableError(StreamFXError):
    """A device (virtual camera, GPU) is not there; the message says how to set it up."""
