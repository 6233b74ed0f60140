"""The command line's argument parser: argparse with one-line errors."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import NoReturn


class CommandLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line — what is wrong and where to look — not the usage
    block above it (subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {self._plain(message)} — see `{self.prog} --help`\n")

    def _plain(self, message: str) -> str:
        """argparse's "argument --smoothing: invalid float value: 'abc'" said as what the option
        takes — a number in its range where the option's metavar gives one (0..1) — and an
        unknown option's likely meaning (--size: did you mean --max-size?)."""
        m = re.fullmatch(r"argument (\S+): invalid (float|int) value: (.*)", message)
        if m:
            option, kind, value = m.groups()
            action = next((a for a in self._actions if option in a.option_strings or option == a.dest), None)
            metavar = action.metavar if action is not None and isinstance(action.metavar, str) else None
            what = "a number" if kind == "float" else "a whole number"
            return f"{option} takes {what}{f' ({metavar})' if metavar else ''}, not {value}"
        m = re.fullmatch(r"unrecognized arguments: (.*)", message)
        if m:
            # argparse reports a subcommand's unknown options from the top parser: look them up
            # in the subcommand's own
            parser: argparse.ArgumentParser = self
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction):
                    used = next((w for w in sys.argv[1:] if w in action.choices), None)
                    parser = action.choices[used] if used is not None else parser
            known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
            for word in m.group(1).split():
                if word.startswith("--"):
                    close = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
                    if close:
                        return f"{message} (did you mean {close[0]}?)"
        return message
