"""The command line's argument parser: argparse with one-line errors."""

from __future__ import annotations

import argparse
from typing import NoReturn


class CommandLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line — what is wrong and where to look — not the usage
    block above it (subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} — see `{self.prog} --help`\n")
