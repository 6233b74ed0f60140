"""Does the suite see the picture? Apply deliberate bugs to a scratch copy and run the tests.

Each mutant is one small edit that breaks what a user sees while the program still runs:
the still portrait rendered for every frame, black WebRTC frames, the hub keeping the
oldest frame instead of the newest, swapped colour channels in an engine, a track gate
that lets a face cut by the frame edge through, a traceback instead of the one-line error.
For each one, a scratch copy of the working tree gets the edit and the test suite runs
there; the mutant counts as *caught* when at least ``--need`` tests fail that pass without
it (a baseline run on an unmutated copy tells which those are).

    .venv/bin/python scripts/mutants.py                  # every mutant, whole suite (~25 min on 2 cores)
    .venv/bin/python scripts/mutants.py --only black-webrtc --tests tests/test_live_web.py

Exit status 0 when every mutant is caught by ``--need`` tests, 1 otherwise. The scratch
copies live in a temporary folder beside a link to ``../shared`` (the media the tests read)
and are removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    path: str
    old: str
    new: str


MUTANTS = [
    Mutant("still-render", "render writes the still portrait for every frame",
           "streamfx/render.py",
           "            out = animator.step(item)\n",
           "            animator.step(item)\n            out = animator.source_image.copy()\n"),
    Mutant("black-webrtc", "WebRTC viewers get black frames",
           "streamfx/web/webrtc.py",
           "self._yuv = _to_i420(lf.image)",
           "self._yuv = _to_i420(np.zeros_like(lf.image))"),
    Mutant("oldest-frame", "the live hub keeps the oldest unread frame instead of the newest",
           "streamfx/live/hub.py",
           "            self._seq += 1\n            self._item = item\n",
           "            if not self._taken and self._item is not None:\n"
           "                item = self._item  # keep what nobody took yet: a queue, not a latest slot\n"
           "            self._seq += 1\n            self._item = item\n"),
    Mutant("swapped-channels", "the onnxruntime engine returns BGR instead of RGB",
           "engines/onnxruntime_engine.py",
           "        return np.asarray(out)\n",
           "        return np.ascontiguousarray(np.asarray(out)[..., ::-1])\n"),
    Mutant("open-gate", "the track gate lets every tracked face through (a face cut by the frame edge too)",
           "streamfx/track_gate.py",
           '        """``lm`` if it is a pose the tracker can have seen at time ``t`` (seconds), else None."""\n',
           '        """``lm`` if it is a pose the tracker can have seen at time ``t`` (seconds), else None."""\n'
           "        return lm\n"),
    Mutant("traceback", "a user error escapes as a traceback instead of one line",
           "streamfx/cli.py",
           '    except StreamFXError as e:\n        print(f"streamfx: error: {e}", file=sys.stderr)\n'
           "        return e.exit_code\n",
           "    except StreamFXError:\n        raise\n"),
]


@dataclass
class Outcome:
    mutant: str
    what: str
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def caught(self, need: int) -> bool:
        return self.error is None and len(self.failed) >= need


def tracked_files(root: Path) -> list[str]:
    """The working tree as git sees it: tracked plus untracked-but-not-ignored files."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (root / p).is_file()]


def scratch_copy(base: Path, name: str) -> Path:
    """A copy of the working tree at base/name/repo, with base/name/shared → ../shared."""
    home = base / name
    repo = home / "repo"
    for rel in tracked_files(ROOT):
        dst = repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (home / "shared").symlink_to(shared.resolve())
    return repo


def apply(repo: Path, m: Mutant) -> None:
    p = repo / m.path
    text = p.read_text()
    n = text.count(m.old)
    if n != 1:
        raise RuntimeError(f"mutant {m.name}: the code to change occurs {n} times in {m.path} (stale mutant)")
    p.write_text(text.replace(m.old, m.new))


def run_tests(repo: Path, tests: list[str], timeout: float) -> tuple[list[str], str]:
    """Run pytest in ``repo``; return (ids of failed or errored tests, the summary line)."""
    report = repo / "junit.xml"
    env = {**os.environ, "PYTHONPATH": str(repo), "CI": ""}  # a skip is not a catch: no CI rule here
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests]
    try:
        p = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        summary = (p.stdout.strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        summary = f"timed out after {timeout:.0f} s"
    failed: list[str] = []
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname')}::{case.get('name')}")
    return failed, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=[m.name for m in MUTANTS],
                    help="run only this mutant (repeatable)")
    ap.add_argument("--tests", nargs="+", default=["tests"], help="pytest paths (default: the whole suite)")
    ap.add_argument("--need", type=int, default=2, help="failing tests that make a mutant caught (default 2)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per suite run (default 1800)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]

    base = Path(tempfile.mkdtemp(prefix="streamfx-mutants-"))
    try:
        t0 = time.perf_counter()
        baseline_failed, summary = run_tests(scratch_copy(base, "baseline"), args.tests, args.timeout)
        print(f"baseline ({time.perf_counter() - t0:.0f} s): {summary}", flush=True)
        if baseline_failed:
            print(f"  failing without any mutant (not counted): {', '.join(baseline_failed)}", flush=True)
        outcomes: list[Outcome] = []
        for m in chosen:
            out = Outcome(m.name, m.what)
            t0 = time.perf_counter()
            try:
                repo = scratch_copy(base, m.name)
                apply(repo, m)
                failed, summary = run_tests(repo, args.tests, args.timeout)
                out.failed = [f for f in failed if f not in baseline_failed]
            except (RuntimeError, OSError) as e:
                out.error, summary = str(e), "not run"
            out.seconds = time.perf_counter() - t0
            outcomes.append(out)
            verdict = "CAUGHT" if out.caught(args.need) else "MISSED"
            print(f"{verdict:6} {m.name} ({m.what}): {len(out.failed)} tests fail — {summary}", flush=True)
            for f in out.failed:
                print(f"         {f}", flush=True)
            if out.error:
                print(f"         error: {out.error}", flush=True)
    finally:
        if args.keep:
            print(f"scratch copies kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"| mutant | what it breaks | failing tests (need ≥ {args.need}) | caught |")
    print("|---|---|---|---|")
    for o in outcomes:
        print(f"| {o.mutant} | {o.what} | {len(o.failed)} | {'yes' if o.caught(args.need) else 'NO'} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    return 0 if all(o.caught(args.need) for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
