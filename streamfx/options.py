"""Command-line options shared by ``render`` and ``live``: motion, generator and engine.

Parsed once, at the edge, into one validated :class:`~streamfx.settings.AnimatorSettings`.
"""

from __future__ import annotations

import argparse
from typing import Literal

from streamfx.generator import GeneratorSettings
from streamfx.retarget import REFERENCES, RetargetSettings
from streamfx.settings import ENGINE_CHOICES, AnimatorSettings
from streamfx.voice import VoiceSettings


def face_number(text: str) -> int:
    """``--face N``: a face counted from the left, 1, 2, …"""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"takes a face number counted from the left (1, 2, …), not {text!r}")
    return n


def face_choice(text: str) -> int | Literal["all"]:
    """``--face N|all``: a face counted from the left, or every face."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return face_number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"takes a face number counted from the left (1, 2, …) or 'all', not {text!r}") from None


def add_motion_options(p: argparse.ArgumentParser, *, offline: bool = True) -> None:
    g = p.add_argument_group("motion")
    g.add_argument("--face", type=face_choice, metavar="N|all",
                   help="which face of a group photo: N counts from the left (default: the largest); "
                        "all animates every face with the same driver")
    if offline:
        g.add_argument("--reference", choices=REFERENCES, default="auto",
                       help="neutral driver frame: auto = the most neutral of the whole driver (mouth closed, "
                            "eyes open, head at rest), first = the first frame, best = the one closest to the "
                            "source's pose (default: auto)")
    else:
        g.add_argument("--reference", choices=("auto", "first"), default="auto",
                       help="neutral driver frame until you calibrate: auto = the most neutral seen so far, "
                            "eased in; first = the first face (default: auto)")
    g.add_argument("--smoothing", type=float, default=0.3, metavar="0..1", help="0 (raw) … 1 (heavy) One Euro smoothing of the motion (default 0.3; blinks and glances pass unsmoothed)")
    for region in ("head", "eye", "brow", "mouth"):
        g.add_argument(f"--{region}-gain", type=float, default=1.0, metavar="0..3", help=f"{region} motion gain, 0–3 (default 1)")
    g.add_argument("--mirror", action="store_true", help="mirror the driver (as a selfie view does)")
    g.add_argument("--no-align", dest="align", action="store_false",
                   help="use the driver's mesh as tracked, without aligning it to the image by optical flow")
    g.add_argument("--landmarks", help="landmarks file for faces the tracker cannot read (docs/landmarks.md)")
    g = p.add_argument_group("generator")
    g.add_argument("--no-mouth", dest="mouth_synthesis", action="store_false",
                   help="no mouth layer: the warp alone moves the lips, nothing is drawn between them (the eyelids stay)")
    g.add_argument("--no-driver-mouth", dest="driver_mouth", action="store_false",
                   help="don't put the driver's own mouth interior between the lips (video and camera drivers)")
    g.add_argument("--no-eyelids", dest="eyelids", action="store_false",
                   help="no eyelid layer (the eyes then keep the portrait's opening: no blinks)")
    g.add_argument("--no-gaze", dest="gaze", action="store_false",
                   help="no iris layer (the irises then keep the portrait's gaze)")
    g.add_argument("--detail", type=float, default=GeneratorSettings.detail, metavar="0..1",
                   help="the driver's expression detail (creases, from its image) carried over, "
                        f"0 (off) … 1 (default {GeneratorSettings.detail:g})")
    g.add_argument("--color-match", action="store_true", help="match the face colour statistics to the source")
    g.add_argument("--sharpen", type=float, default=0.0, metavar="0..2", help="unsharp-mask amount, 0–2 (default 0)")
    g.add_argument("--engine", choices=ENGINE_CHOICES, default="opencv",
                   help="generator runtime (default opencv); 'auto' picks the fastest that works here, "
                        "falling back to opencv if it fails mid-stream (see `streamfx engines`)")
    g.add_argument("--device", default="cuda:0", help="torch device of the cuda engine (default cuda:0)")
    g.add_argument("--threads", type=int, default=0, help="CPU threads of ONNX Runtime (default 0: one per core)")
    g.add_argument("--fp16", action="store_true", help="tensorrt: FP16 for the colour layers (the warp stays FP32)")


def add_voice_options(p: argparse.ArgumentParser) -> None:
    """How a voice (a sound file or microphone driver) moves the mouth: see streamfx/voice.py."""
    g = p.add_argument_group("voice (sound-file and microphone drivers)")
    g.add_argument("--voice-gain", type=float, default=1.0, metavar="0..3",
                   help="how wide the voice opens the mouth (default 1)")
    g.add_argument("--voice-gate", type=float, default=-50.0, metavar="DBFS",
                   help="noise gate: sound quieter than this keeps the mouth closed, -90 … -10 (default -50)")


def voice_settings(args: argparse.Namespace) -> VoiceSettings:
    """The options of :func:`add_voice_options`, validated (one-line error when out of range)."""
    vs = VoiceSettings(gain=getattr(args, "voice_gain", 1.0), gate_db=getattr(args, "voice_gate", -50.0))
    vs.validate()
    return vs


def animator_settings(args: argparse.Namespace) -> AnimatorSettings:
    """The options of :func:`add_motion_options` as one validated AnimatorSettings."""
    rs = RetargetSettings(reference=getattr(args, "reference", "auto"), smoothing=args.smoothing,
                          head_gain=args.head_gain, eye_gain=args.eye_gain, brow_gain=args.brow_gain,
                          mouth_gain=args.mouth_gain, mirror=args.mirror)
    gs = GeneratorSettings(mouth_synthesis=args.mouth_synthesis, driver_mouth=args.driver_mouth, eyelids=args.eyelids,
                           gaze=args.gaze, detail=args.detail, color_match=args.color_match, sharpen=args.sharpen)
    return AnimatorSettings.of(rs, gs, engine=args.engine, align=args.align, device=args.device,
                               threads=args.threads, fp16=args.fp16)
