"""Quality evaluation: the self-reenactment protocol and cross-reenactment statistics.

Self-reenactment (see ../shared/media/README.md): frame 0 of a clip is the source and the
clip is the driver, so each output frame t can be compared with real frame t — SSIM and
PSNR over the full frame and the face box, and landmark distance (AKD) in inter-ocular
units — for StreamFX and two baselines computed in the same run: ``identity`` (the source,
unanimated) and ``affine`` (a similarity transform of the source fitted to the landmarks).

Cross-reenactment: every portrait in a folder driven by one clip; the share of output
frames where a face is found, and how well the output's mouth and eye openness follow the
driver's (Pearson correlation).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from streamfx import landmarks as L
from streamfx.animator import Animator
from streamfx.errors import InputError, NoFaceError
from streamfx.retarget import RetargetSettings, fit_similarity
from streamfx.sources.base import DriverFrame
from streamfx.sources.video import VideoFileSource
from streamfx.tracking import FaceTracker

log = logging.getLogger("streamfx")

METHODS = ("identity", "affine", "streamfx")
DEFAULT_MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"


@dataclass
class ClipScores:
    clip: str
    frames: int = 0
    metrics: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {m: {"ssim": [], "ssim_face": [], "psnr": [], "psnr_face": [], "akd": []} for m in METHODS})
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for m, d in self.metrics.items():
            out[m] = {k: float(np.mean(v)) if v else math.nan for k, v in d.items()}
            out[m]["face_found"] = self.found[m] / max(self.frames, 1)
        return out


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as defined by Wang et al. (2004): 11-tap Gaussian window, σ = 1.5, mean over RGB."""
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB, capped at 100 so identical frames (frame 0 of identity) stay finite."""
    if np.array_equal(a, b):
        return 100.0
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def read_frames(path: Path, limit: int | None) -> Iterator[DriverFrame]:
    src = VideoFileSource(path)
    try:
        for i, f in enumerate(src):
            if limit is not None and i >= limit:
                break
            yield f
    finally:
        src.close()


def _affine_baseline(source: np.ndarray, lm0: np.ndarray, lm_t: np.ndarray) -> np.ndarray:
    a, b = fit_similarity(lm0[:, :2], lm_t[:, :2])
    m = np.concatenate([a, b[:, None]], axis=1)
    return cv2.warpAffine(source, m, (source.shape[1], source.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def self_reenactment(clip: Path, frames: int = 150, smoothing: float = 0.0, align: bool = True) -> ClipScores:
    scores = ClipScores(clip=clip.stem)
    it = read_frames(clip, frames)
    first = next(it)
    assert first.image is not None
    source = first.image
    animator = Animator(source, source_name=str(clip), retarget=RetargetSettings(smoothing=smoothing), align=align)
    # the measuring instrument is the plain mesh, for the truth and for every method alike
    truth_tracker = FaceTracker()
    judges = {m: FaceTracker() for m in METHODS}
    lm0: np.ndarray | None = None
    h, w = source.shape[:2]
    try:
        for frame in [first, *it]:
            real = frame.image
            assert real is not None
            truth = truth_tracker.track(real)
            drv = animator.track(frame)  # the animator's own video-mode tracker
            frame.landmarks = drv
            frame.image = None
            anim = animator.step(frame)
            if truth is None:
                continue  # no ground truth to score against
            if lm0 is None:
                lm0 = truth
            outputs = {"identity": source, "affine": _affine_baseline(source, lm0, truth), "streamfx": anim}
            x0, y0, x1, y1 = L.face_box(truth, w, h)
            io = L.interocular(truth)
            scores.frames += 1
            for m, out in outputs.items():
                d = scores.metrics[m]
                d["ssim"].append(ssim(real, out))
                d["ssim_face"].append(ssim(real[y0:y1, x0:x1], out[y0:y1, x0:x1]))
                d["psnr"].append(psnr(real, out))
                d["psnr_face"].append(psnr(real[y0:y1, x0:x1], out[y0:y1, x0:x1]))
                found = judges[m].track(np.ascontiguousarray(out))
                if found is not None:
                    scores.found[m] += 1
                    d["akd"].append(float(np.linalg.norm(found[:, :2] - truth[:, :2], axis=1).mean() / io))
    finally:
        animator.close()
        truth_tracker.close()
        for j in judges.values():
            j.close()
    return scores


def _pearson(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def cross_reenactment(portrait: Path, driver: Path, frames: int | None = None,
                      landmarks_dir: Path | None = None, align: bool = True) -> dict[str, object]:
    from streamfx.imageio import load_image
    from streamfx.landmarks import load_landmarks

    image = load_image(portrait, max_side=1024)
    lm = None
    route = "tracker"
    if landmarks_dir is not None and (landmarks_dir / f"{portrait.stem}.json").is_file():
        lm = load_landmarks(landmarks_dir / f"{portrait.stem}.json")
        route = "landmarks-file"
    try:
        animator = Animator(image, source_landmarks=lm, source_name=str(portrait), align=align)
    except NoFaceError as e:
        return {"portrait": portrait.name, "error": str(e)}
    judge = FaceTracker()
    drv_mouth: list[float] = []
    out_mouth: list[float] = []
    drv_eye: list[float] = []
    out_eye: list[float] = []
    n = found = 0
    try:
        for frame in read_frames(driver, frames):
            d = animator.track(frame)
            frame.landmarks, frame.image = d, None
            out = animator.step(frame)
            n += 1
            o = judge.track(np.ascontiguousarray(out))
            if o is None:
                continue
            found += 1
            if d is not None:
                drv_mouth.append(L.mouth_openness(d))
                out_mouth.append(L.mouth_openness(o))
                drv_eye.append(L.eye_openness(d))
                out_eye.append(L.eye_openness(o))
    finally:
        animator.close()
        judge.close()
    return {"portrait": portrait.name, "route": route, "frames": n, "face_found": found / max(n, 1),
            "mouth_corr": _pearson(drv_mouth, out_mouth), "eye_corr": _pearson(drv_eye, out_eye)}


# ---- reporting ---------------------------------------------------------------------------
def self_table(results: list[ClipScores]) -> str:
    cols = ["ssim_face", "ssim", "psnr_face", "psnr", "akd"]
    head = "| clip | method | face SSIM | full SSIM | face PSNR | full PSNR | AKD | face found |"
    lines = [head, "|" + "---|" * 8]
    sums = [r.summary() for r in results]
    for r, s in zip(results, sums, strict=True):
        for m in METHODS:
            v = s[m]
            lines.append(f"| {r.clip} | {m} | " + " | ".join(f"{v[c]:.3f}" if c != "psnr" and c != "psnr_face" else f"{v[c]:.2f}" for c in cols) + f" | {v['face_found']:.0%} |")
    for m in METHODS:
        mean = {c: float(np.nanmean([s[m][c] for s in sums])) for c in cols + ["face_found"]}
        lines.append(f"| **mean** | {m} | " + " | ".join(f"{mean[c]:.3f}" if "psnr" not in c else f"{mean[c]:.2f}" for c in cols) + f" | {mean['face_found']:.0%} |")
    wins = [r.clip for r, s in zip(results, sums, strict=True)
            if all(s["streamfx"]["ssim_face"] > s[b]["ssim_face"] and s["streamfx"]["akd"] < s[b]["akd"] for b in ("identity", "affine"))]
    lines.append("")
    lines.append(f"StreamFX beats identity and affine on face SSIM and AKD in {len(wins)}/{len(results)} clips.")
    return "\n".join(lines)


def cross_table(rows: list[dict[str, object]]) -> str:
    lines = ["| portrait | route | frames | face found | mouth corr | eye corr |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['portrait']} | — | — | no face: clear error | — | — |")
        else:
            lines.append(f"| {r['portrait']} | {r['route']} | {r['frames']} | {r['face_found']:.1%} | {r['mouth_corr']:.2f} | {r['eye_corr']:.2f} |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--driving", type=Path, default=DEFAULT_MEDIA / "driving", help="folder of driving clips (self-reenactment)")
    p.add_argument("--sources", type=Path, default=DEFAULT_MEDIA / "source", help="folder of portraits (cross-reenactment)")
    p.add_argument("--cross-driver", type=Path, default=None, help="driver clip for cross-reenactment (default: lp_d10.mp4 in --driving)")
    p.add_argument("--landmarks-dir", type=Path, default=None, help="landmarks files (<portrait stem>.json) for portraits the tracker can't read")
    p.add_argument("--frames", type=int, default=150, help="frames per clip (default 150)")
    p.add_argument("--cross-frames", type=int, default=None, help="frames of the cross driver (default: all)")
    p.add_argument("--clips", nargs="*", help="only these clip stems")
    p.add_argument("--mode", choices=("self", "cross", "both"), default="both")
    p.add_argument("--smoothing", type=float, default=0.0, help="smoothing for the animator (default 0: the protocol compares frame by frame)")
    p.add_argument("--no-align", dest="align", action="store_false",
                   help="animate from the driver's mesh as tracked, without optical-flow alignment")
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="folder for eval.md and eval.json")


def main(args: argparse.Namespace) -> int:
    report: dict[str, object] = {}
    md: list[str] = []
    if args.mode in ("self", "both"):
        if not args.driving.is_dir():
            raise InputError(f"driving folder '{args.driving}' does not exist — pass --driving DIR")
        clips = sorted(p for p in args.driving.iterdir() if p.suffix.lower() in (".mp4", ".mov", ".avi", ".webm"))
        if args.clips:
            clips = [c for c in clips if c.stem in args.clips]
        results = []
        for c in clips:
            log.info("self-reenactment: %s", c.name)
            results.append(self_reenactment(c, args.frames, args.smoothing, args.align))
        md += ["## Self-reenactment", "", self_table(results), ""]
        report["self"] = {r.clip: r.summary() for r in results}
        print(self_table(results), flush=True)
    if args.mode in ("cross", "both"):
        if not args.sources.is_dir():
            raise InputError(f"sources folder '{args.sources}' does not exist — pass --sources DIR")
        driver = args.cross_driver or args.driving / "lp_d10.mp4"
        rows = []
        for p in sorted(args.sources.iterdir()):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp"):
                log.info("cross-reenactment: %s", p.name)
                rows.append(cross_reenactment(p, driver, args.cross_frames, args.landmarks_dir, args.align))
        md += [f"## Cross-reenactment (driver: {driver.name})", "", cross_table(rows), ""]
        report["cross"] = rows
        print(cross_table(rows), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.md").write_text("\n".join(md))
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {args.out / 'eval.md'} and {args.out / 'eval.json'}")
    return 0
