"""The evaluation's command-line options (``streamfx eval``, ``scripts/eval.py``).

Apart from :mod:`streamfx.evaluation` so that building the CLI's parser (``streamfx --help``)
does not import the evaluation's tracker, models and SciPy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"
"""The shared development media (../shared/media beside the repository)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--driving", type=Path, default=DEFAULT_MEDIA / "driving", help="folder of driving clips (self-reenactment)")
    p.add_argument("--extra-clips", type=Path, nargs="+", default=[], metavar="CLIP",
                   help="more clips for self-reenactment besides --driving's (e.g. ../shared/cases/driver_zoom_pan.mp4)")
    p.add_argument("--sources", type=Path, default=DEFAULT_MEDIA / "source", help="folder of portraits (cross-reenactment)")
    p.add_argument("--cross-driver", type=Path, nargs="+", default=None, metavar="CLIP",
                   help="driver clip(s) for cross-reenactment: one table each, and a min/mean table over them "
                        "(default: lp_d10.mp4 in --driving)")
    p.add_argument("--landmarks-dir", type=Path, default=None, help="landmarks files (<portrait stem>.json) for portraits the tracker can't read")
    p.add_argument("--frames", type=int, default=150, help="frames per clip (default 150)")
    p.add_argument("--cross-frames", type=int, default=None, help="frames of the cross driver (default: all)")
    p.add_argument("--clips", nargs="*", help="only these clip stems (of --driving and --extra-clips)")
    p.add_argument("--mode", choices=("self", "cross", "both"), default="both")
    p.add_argument("--smoothing", type=float, default=0.0, help="smoothing for the animator (default 0: the protocol compares frame by frame)")
    p.add_argument("--no-align", dest="align", action="store_false",
                   help="animate from the driver's mesh as tracked, without optical-flow alignment")
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="folder for eval.md and eval.json")
