#!/usr/bin/env python3
"""Quality evaluation (same as `streamfx eval`): self- and cross-reenactment tables.

    python scripts/eval.py                                   # all of ../shared/media, cross × lp_d10
    python scripts/eval.py --mode self --extra-clips ../shared/cases/driver_zoom_pan.mp4
    python scripts/eval.py --mode cross --cross-driver a.mp4 b.mp4 c.mp4   # a table each + min/mean

The measures (mouth-box SSIM, open frames, teeth error, per-eye and gaze correlations) are
defined in streamfx/evaluation.py's docstring; eval.md holds the tables, eval.json every
number, per frame too. It runs `streamfx eval` itself, so a missing folder or clip is one
line and a non-zero exit, and mediapipe's native log lines stay hidden (``-v`` shows them).
"""

import sys
from pathlib import Path

# this checkout's streamfx, whichever one the virtual environment was installed from
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streamfx.cli import main  # noqa: E402 - after the path fix above

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
