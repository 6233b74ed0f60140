#!/usr/bin/env python3
"""Quality evaluation (same as `streamfx eval`): self- and cross-reenactment tables.

    python scripts/eval.py                                   # all of ../shared/media, cross × lp_d10
    python scripts/eval.py --mode self --extra-clips ../shared/cases/driver_zoom_pan.mp4
    python scripts/eval.py --mode cross --cross-driver a.mp4 b.mp4 c.mp4   # a table each + min/mean

The measures (mouth-box SSIM, open frames, teeth error, per-eye and gaze correlations) are
defined in streamfx/evaluation.py's docstring; eval.md holds the tables, eval.json every
number, per frame too.
"""

import argparse
import logging
import sys

from streamfx.eval_options import add_arguments  # noqa: E402
from streamfx.evaluation import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="eval: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
