#!/usr/bin/env python3
"""Contact sheets: a portrait's hardest moments under a driver, on one PNG to look at.

The driver is tracked once, and five moments are picked from its landmarks
(:func:`streamfx.evaluation.pick_moments`): the widest mouth, a wink, raised brows, a gaze
change and the most neutral frame — or, with ``--moments head``, the largest head moves
(:func:`streamfx.evaluation.pick_head_moments`: yaw, pitch, roll, nearest, farthest) — or,
with ``--at``, the driver frames given (say, around a face leaving the frame; each row then
says whether the driver's face was in use or lost there). The portrait is animated
in-process by the Animator over the whole driver (the retargeter's smoothing depends on the
frames before), and for each moment one row shows the driver frame, the output frame, and
the output's mouth and eyes cut out and zoomed 2× (relative to the output frame beside
them). Rows are labelled with the frame index and what the moment is.

    python scripts/contact_sheet.py portrait.jpg driver.mp4           # out/contact/portrait__driver.png
    python scripts/contact_sheet.py --sheet-all ../shared/media/source driver.mp4
    python scripts/contact_sheet.py portrait.jpg driver.mp4 --reference best --mouth-gain 1.5
    python scripts/contact_sheet.py portrait.jpg driver.mp4 --at 30-35,40,72-76

Every motion, generator and engine option of ``streamfx render`` is taken as well.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamfx import landmarks as L  # noqa: E402
from streamfx.drivers import check_driver, driver_kind  # noqa: E402
from streamfx.errors import InputError, NoFaceError, StreamFXError  # noqa: E402
from streamfx.evaluation import (  # noqa: E402
    IMAGE_SUFFIXES,
    Moment,
    choose_reference,
    crop,
    mouth_box,
    pick_head_moments,
    pick_moments,
    read_frames,
)
from streamfx.group import AnyAnimator, FaceChoice, make_animator  # noqa: E402
from streamfx.native_logs import native_logs_filtered  # noqa: E402
from streamfx.options import add_motion_options, animator_settings  # noqa: E402
from streamfx.render import load_source  # noqa: E402
from streamfx.settings import AnimatorSettings  # noqa: E402
from streamfx.sources.base import DriverFrame  # noqa: E402
from streamfx.tracking import FaceTracker  # noqa: E402

log = logging.getLogger("streamfx")

FRAME_HEIGHT = 360
"""Driver and output frames are shown this tall (pixels); the crops at twice that scale."""
ZOOM = 2.0
LABEL_HEIGHT = 26
GAP = 6
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Shot:
    """One moment as rendered: the driver frame, the output, and the output's landmarks."""

    moment: Moment
    driver: np.ndarray
    output: np.ndarray
    landmarks: np.ndarray


def track_driver(animator: AnyAnimator, driver: Path, frames: int | None) -> list[DriverFrame]:
    """The driver's frames with the animator's own landmarks (images dropped: memory stays
    small; :func:`render_moments` decodes the driver again for the frames it shows)."""
    tracked = []
    for f in read_frames(driver, frames):
        f.landmarks, f.image = animator.track(f), None
        tracked.append(f)
    return tracked


def render_moments(animator: AnyAnimator, driver: Path, tracked: list[DriverFrame],
                   moments: Sequence[Moment]) -> list[Shot]:
    """Animate every tracked frame in order and keep the picked ones (with their driver frames).

    The output's landmarks come from tracking the output frame (a still image); where the
    tracker cannot read it (a statue, a cartoon), the portrait's own landmarks stand in.
    """
    wanted = {m.index for m in moments}  # positions in ``tracked``
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, (frame, raw) in enumerate(zip(tracked, read_frames(driver, len(tracked)), strict=False)):
        out = animator.step(frame)  # landmarks only: the animator does not track it again
        if i in wanted:
            assert raw.image is not None
            kept[i] = (raw.image, out)
    shots = []
    with FaceTracker(static=True) as judge:
        for m in moments:
            drv, out = kept[m.index]
            lm = judge.track(np.ascontiguousarray(out))
            shots.append(Shot(m, drv, out, lm if lm is not None else animator.source_landmarks))
    return shots


def eyes_box(lm: np.ndarray, w: int, h: int, pad: float = 0.15) -> tuple[int, int, int, int]:
    """Both eyes with their brows, padded by ``pad`` × the box's width on every side."""
    pts = lm[L.EYES + L.BROWS + L.IRISES, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    p = pad * float(x1 - x0)
    return max(0, int(x0 - p)), max(0, int(y0 - p)), min(w, int(np.ceil(x1 + p))), min(h, int(np.ceil(y1 + p)))


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    if image.size == 0:
        return np.zeros((8, 8, 3), np.uint8)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _label(width: int, text: str, height: int = LABEL_HEIGHT, scale: float = 0.55) -> np.ndarray:
    strip = np.full((height, width, 3), BACKGROUND, np.uint8)
    cv2.putText(strip, text, (6, height - 8), FONT, scale, TEXT, 1, cv2.LINE_AA)
    return strip


def _hstack(tiles: Sequence[np.ndarray]) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    padded = []
    for i, t in enumerate(tiles):
        t = cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, GAP if i < len(tiles) - 1 else 0,
                               cv2.BORDER_CONSTANT, value=BACKGROUND)
        padded.append(t)
    return np.concatenate(padded, axis=1)


def _vstack(rows: Sequence[np.ndarray]) -> np.ndarray:
    w = max(r.shape[1] for r in rows)
    return np.concatenate([cv2.copyMakeBorder(r, 0, GAP, 0, w - r.shape[1], cv2.BORDER_CONSTANT, value=BACKGROUND)
                           for r in rows], axis=0)


IN_USE, LOST = "driver face in use", "driver face lost (pose held or eased)"
"""What an ``--at`` row says about its frame: the animator's own tracking and track gate."""


def parse_frames(text: str) -> list[int]:
    """``--at``: comma-separated driver frame indices and inclusive ranges ("30-35,40") → sorted
    indices, each once. A malformed list is an InputError."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            a = int(lo)
            b = int(hi) if hi else a
            if a < 0 or b < a:
                raise ValueError(part)
            out.update(range(a, b + 1))
    except ValueError:
        raise InputError(f"--at '{text}' is not a list of frames — give indices and ranges, e.g. --at 30-35,40") from None
    return sorted(out)


def at_frames(tracked: Sequence[DriverFrame], frames: Sequence[int]) -> list[Moment]:
    """``--at``: the given driver frames as moments, each saying whether the face was in use."""
    if frames[-1] >= len(tracked):
        raise InputError(f"--at {frames[-1]}: the driver has {len(tracked)} frames (0–{len(tracked) - 1})")
    return [Moment(i, IN_USE if tracked[i].landmarks is not None else LOST, 0.0) for i in frames]


def _units(what: str) -> str:
    return {"widest mouth": "lip gap {:.2f} io", "wink": "eye openness R-L {:.2f}",
            "raised brows": "brows +{:.3f} io over median", "gaze change": "iris offset {:.2f} eye widths",
            "most neutral": "score {:.3f}"}.get(what, "{:.3f}")


def sheet(shots: Sequence[Shot], title: str) -> np.ndarray:
    """The contact sheet (RGB): a title, then per moment a label and driver | output | mouth 2× | eyes 2×."""
    rows = []
    for s in shots:
        drv = _scaled(s.driver, FRAME_HEIGHT / s.driver.shape[0])
        k = FRAME_HEIGHT / s.output.shape[0]
        out = _scaled(s.output, k)
        h, w = s.output.shape[:2]
        mouth = _scaled(crop(s.output, mouth_box(s.landmarks, w, h)), k * ZOOM)
        eyes = _scaled(crop(s.output, eyes_box(s.landmarks, w, h)), k * ZOOM)
        tiles = [np.concatenate([_label(t.shape[1], name, 20, 0.45), t], axis=0)
                 for t, name in ((drv, "driver"), (out, "output"), (mouth, "mouth 2x"), (eyes, "eyes 2x"))]
        body = _hstack(tiles)
        text = f"frame {s.moment.index}: {s.moment.what}"
        if s.moment.what not in (IN_USE, LOST):
            text += f" ({_units(s.moment.what).format(s.moment.value)})"
        rows.append(np.concatenate([_label(body.shape[1], text), body], axis=0))
    if not rows:
        rows = [_label(640, "the driver shows no face: nothing to pick")]
    width = max(r.shape[1] for r in rows)
    return _vstack([_label(width, title, 32, 0.6), *rows])


def make_sheet(portrait: Path, driver: Path, output: Path, settings: AnimatorSettings, *, max_size: int = 1024,
               landmarks: str | None = None, face: FaceChoice = None, frames: int | None = None,
               tracked: list[DriverFrame] | None = None, head: bool = False,
               at: Sequence[int] | None = None) -> list[DriverFrame]:
    """Render one portrait's sheet to ``output`` (PNG); returns the tracked driver so that
    further portraits with the same settings skip tracking it again."""
    image, lm = load_source(str(portrait), max_size, landmarks)
    animator = make_animator(image, source_landmarks=lm, source_name=str(portrait), face=face,
                             settings=settings.copy())
    try:
        if tracked is None:
            tracked = track_driver(animator, driver, frames)
        if at:
            moments = at_frames(tracked, at)
        else:
            moments = (pick_head_moments if head else pick_moments)([f.landmarks for f in tracked])
        ref = choose_reference(animator, [f.landmarks for f in tracked], settings.retarget.reference,
                               [f.appearance for f in tracked])
        shots = render_moments(animator, driver, tracked, moments)
    finally:
        animator.close()
    title = f"{portrait.name} x {driver.name}  ({len(tracked)} frames"
    title += f", reference: frame {ref})" if ref is not None else f", reference: {settings.retarget.reference})"
    output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(output), cv2.cvtColor(sheet(shots, title), cv2.COLOR_RGB2BGR)):
        raise InputError(f"could not write '{output}' — check that its folder is writable")
    for s in shots:
        if at:
            log.info("%s: frame %d, %s", portrait.name, s.moment.index, s.moment.what)
        else:
            log.info("%s: frame %d, %s (%.3f)", portrait.name, s.moment.index, s.moment.what, s.moment.value)
    print(f"wrote {output}", flush=True)
    return tracked


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="[PORTRAIT] DRIVER",
                   help="a portrait and a driver video; with --sheet-all only the driver")
    p.add_argument("--sheet-all", type=Path, metavar="DIR", help="one sheet per portrait in DIR")
    p.add_argument("-o", "--output", type=Path, help="the PNG (one portrait; default: --out-dir/<portrait>__<driver>.png)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "out" / "contact", help="folder for the sheets (default out/contact)")
    p.add_argument("--frames", type=int, help="only the driver's first N frames")
    p.add_argument("--max-size", type=int, default=1024, help="downscale the portrait's longer side to this (default 1024)")
    p.add_argument("--moments", choices=("face", "head"), default="face",
                   help="face: widest mouth, wink, raised brows, gaze, neutral (default); head: the largest yaw, "
                        "pitch and roll, the nearest and farthest face, neutral")
    p.add_argument("--at", metavar="FRAMES",
                   help="show these driver frames instead of picked moments: indices and ranges, e.g. 30-35,40")
    add_motion_options(p)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    want = 1 if args.sheet_all else 2
    if len(args.inputs) != want:
        parser.error("give PORTRAIT DRIVER, or --sheet-all DIR DRIVER")
    logging.basicConfig(level=logging.INFO, format="contact sheet: %(message)s", stream=sys.stderr)
    try:
        with native_logs_filtered(enabled=True):
            return run(args)
    except StreamFXError as e:
        print(f"contact sheet: error: {e}", file=sys.stderr)
        return e.exit_code


def run(args: argparse.Namespace) -> int:
    driver = Path(args.inputs[-1])
    if driver_kind(str(driver)) != "video":
        raise InputError(f"driver '{driver}' is not a video file — a contact sheet shows the driver's frames")
    check_driver(str(driver))
    settings = animator_settings(args)
    settings.validate()
    at = parse_frames(args.at) if args.at else None
    if args.sheet_all:
        if args.landmarks:
            raise InputError("--landmarks gives one portrait's face — leave it out with --sheet-all")
        if not args.sheet_all.is_dir():
            raise InputError(f"'{args.sheet_all}' is not a folder — pass --sheet-all DIR of portraits")
        portraits = sorted(p for p in args.sheet_all.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not portraits:
            raise InputError(f"no portraits ({', '.join(IMAGE_SUFFIXES)}) in '{args.sheet_all}'")
    else:
        portraits = [Path(args.inputs[0])]
        if not portraits[0].is_file():
            raise InputError(f"portrait '{portraits[0]}' does not exist — check the path")
    tracked: list[DriverFrame] | None = None
    skipped = 0
    for p in portraits:
        out = args.output if args.output and not args.sheet_all else args.out_dir / f"{p.stem}__{driver.stem}.png"
        try:
            tracked = make_sheet(p, driver, out, settings, max_size=args.max_size, landmarks=args.landmarks,
                                 face=args.face, frames=args.frames, tracked=tracked, head=args.moments == "head",
                                 at=at)
        except NoFaceError as e:
            if not args.sheet_all:
                raise
            skipped += 1
            print(f"skipped {p.name}: {e}", file=sys.stderr)
    return 1 if skipped == len(portraits) else 0


if __name__ == "__main__":
    sys.exit(main())
