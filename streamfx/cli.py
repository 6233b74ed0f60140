"""The ``streamfx`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from streamfx import __version__
from streamfx.argparsing import CommandLineParser
from streamfx.errors import NoFaceError, StreamFXError, refuse_overwriting_inputs
from streamfx.native_logs import native_logs_filtered

log = logging.getLogger("streamfx")

Handler = Callable[[argparse.Namespace], int]


def _cmd_render(args: argparse.Namespace) -> int:
    from streamfx.options import animator_settings, voice_settings
    from streamfx.render import RenderJob, render

    settings = animator_settings(args)
    voice = voice_settings(args)
    if args.max_size < 64:
        raise StreamFXError(f"--max-size must be at least 64, not {args.max_size}")
    job = RenderJob(source=args.source, driver=args.driver, output=args.output, landmarks=args.landmarks,
                    max_size=args.max_size, settings=settings, progress=not args.quiet, face=args.face,
                    background=args.background, audio=args.audio, keep_audio=args.keep_audio, voice=voice,
                    jobs=args.jobs)
    res = render(job)
    from streamfx.sinks.file import is_image_sequence

    if res.variable_rate and is_image_sequence(args.output):
        rate = f"from a variable-rate driver, {res.fps:.1f} fps on average: PNG frames carry no times"
    elif res.variable_rate:
        rate = f"at the driver's variable frame rate, {res.fps:.1f} fps on average"
    else:
        rate = f"@ {res.fps:g} fps"
    size = f"{res.size[0]}×{res.size[1]}"
    if res.file_size is not None:
        size = f"{res.file_size[0]}×{res.file_size[1]}: the portrait's {size} padded to even for the video codec,"
    print(f"wrote {res.output} ({res.frames} frames, {size} {rate}) in {res.seconds:.1f} s")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from streamfx.imageio import demo_portrait, save_image
    from streamfx.render import RenderJob, render

    out = Path(args.out_dir)
    portrait = out / "demo_portrait.png"
    for name in ("demo_portrait.png", "demo.mp4", "demo.gif"):
        refuse_overwriting_inputs(out / name, args.script, flag="--out-dir")
    out.mkdir(parents=True, exist_ok=True)
    save_image(portrait, demo_portrait())
    print("demo: scikit-image's public-domain astronaut portrait, driven by the built-in 'demo' script")
    for name in ("demo.mp4", "demo.gif"):
        job = RenderJob(source=str(portrait), driver=args.script, output=str(out / name), progress=not args.quiet)
        res = render(job)
        print(f"wrote {res.output} ({res.frames} frames @ {res.fps:g} fps) in {res.seconds:.1f} s")
    if not args.live:
        return 0
    # then the main job itself: the same portrait live on AnimCam and WebRTC, script-driven
    from streamfx.live.cli import add_live_arguments, run_live

    live = CommandLineParser(prog="streamfx live")
    add_live_arguments(live)
    live_argv = ["--source", str(portrait), "--driver", args.script, "--webrtc", args.webrtc]
    if args.duration:
        live_argv += ["--duration", str(args.duration)]
    print(f"demo: going live — open http://{args.webrtc}/ (viewer) and http://{args.webrtc}/panel "
          "(controls), or pick AnimCam in Zoom/Meet/OBS; Ctrl-C stops")
    return run_live(live.parse_args(live_argv))


def _cmd_landmarks(args: argparse.Namespace) -> int:
    from streamfx.imageio import load_image
    from streamfx.landmarks import save_landmarks
    from streamfx.tracking import track_portrait

    refuse_overwriting_inputs(args.output, args.image)
    image = load_image(args.image, max_side=100_000)
    try:
        lm = track_portrait(image, args.image, args.face, how_to_choose="--face N picks another",
                            verb="writing the landmarks of")
    except NoFaceError:
        # the tracker's own hint ("pass --landmarks face.json") is for render and live
        raise NoFaceError(
            f"no readable face in '{args.image}', so no landmarks to write — for a face the tracker "
            "cannot read, write its 5 keypoints by hand (docs/landmarks.md) and pass that file to "
            "render or live with --landmarks"
        ) from None
    save_landmarks(args.output, lm, (image.shape[1], image.shape[0]))
    print(f"wrote {args.output} (478 landmarks of '{args.image}')")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from streamfx.evaluation import main as eval_main

    return eval_main(args)


def build_parser() -> argparse.ArgumentParser:
    # deferred: the options pull in the generator (numpy, OpenCV), and a Ctrl-C
    # while they load must land in main()'s handler, not in a traceback at import time
    from streamfx.options import add_motion_options, add_voice_options, face_number

    parser = CommandLineParser(prog="streamfx", description="Bring a still portrait to life.")
    parser.add_argument("--version", action="version", version=f"streamfx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="animate a portrait from a video or motion script into MP4/WebM/GIF")
    p.add_argument("source", help="portrait image (jpg, png, webp, bmp)")
    p.add_argument("driver", help="driver video (mp4, avi, mov, webm), motion script (built-in name or .json/.toml) "
                                  "or a voice (wav, mp3, m4a: it moves the mouth, and is the soundtrack)")
    p.add_argument("-o", "--output", required=True,
                   help="output: .mp4, .webm, .mov (ProRes 4444), .gif, or a PNG sequence (a folder/ or frames/%%05d.png)")
    p.add_argument("--background", default="auto", metavar="SPEC",
                   help="behind the portrait: transparent (webm/mov/gif/png keep the alpha) | #rrggbb | IMAGE | "
                        "blur | black | edge (the portrait border's mean colour) | camera (the driver video); default auto: the portrait as it is (one with its own "
                        "alpha: transparent where the output carries it, else over its blurred self)")
    p.add_argument("--max-size", type=int, default=2048, help="downscale the portrait's longer side to this (default 2048)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="generator worker processes (0: none, on the render's own thread; default: one per core "
                        "for drivers of 150 frames or more); the output is the same either way")
    sound = p.add_mutually_exclusive_group()
    sound.add_argument("--audio", metavar="FILE",
                       help="soundtrack for the output instead of the driver's own sound (any file with audio)")
    sound.add_argument("--no-audio", dest="keep_audio", action="store_false",
                       help="a silent output (by default MP4, WebM and MOV keep the driver's sound)")
    add_motion_options(p)
    add_voice_options(p)
    p.set_defaults(handler=_cmd_render)

    p = sub.add_parser("demo", help="the main job on built-in defaults: out/demo.mp4, out/demo.gif (and the portrait, out/demo_portrait.png), then live")
    p.add_argument("--out-dir", default="out", help="folder for demo.mp4, demo.gif and demo_portrait.png (default: out)")
    p.add_argument("--script", default="demo", help="motion script (default: the built-in 'demo')")
    p.add_argument("--no-live", dest="live", action="store_false",
                   help="only write the files; don't go live afterwards")
    p.add_argument("--webrtc", default="127.0.0.1:8080", help="where the live viewer is served (default 127.0.0.1:8080)")
    p.add_argument("--duration", type=float, help="stop the live part after this many seconds")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser("landmarks", help="write a portrait's 478 tracked landmarks to a JSON file (to edit)")
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--face", type=face_number, metavar="N",
                   help="which face of a group photo, counted from the left (default: the largest)")
    p.set_defaults(handler=_cmd_landmarks)

    p = sub.add_parser("eval", help="score quality: self-reenactment and cross-reenactment")
    from streamfx.eval_options import add_arguments as add_eval_arguments

    add_eval_arguments(p)
    p.set_defaults(handler=_cmd_eval)

    for module, name, help_text, add, run in _EXTENSIONS:
        try:
            mod = __import__(module, fromlist=[add, run])
        except ImportError as e:
            if e.name and module.startswith(e.name):
                continue  # that subsystem is not part of this build
            raise
        p = sub.add_parser(name, help=help_text)
        getattr(mod, add)(p)
        p.set_defaults(handler=getattr(mod, run))
    return parser


# subcommands whose code lives with the subsystem they drive
_EXTENSIONS: list[tuple[str, str, str, str, str]] = [
    ("streamfx.live.cli", "live", "go live: AnimCam virtual camera + WebRTC + control panel",
     "add_live_arguments", "run_live"),
    ("engines.cli", "export-onnx", "export the generator for a portrait as one ONNX graph",
     "add_export_arguments", "run_export"),
    ("engines.cli", "build-engine", "build (and cache) a TensorRT engine ahead of time",
     "add_build_arguments", "run_build"),
    ("streamfx.doctor", "doctor", "which engines, virtual camera, browser and OBS work here, and why not",
     "add_doctor_arguments", "run_doctor"),
    ("engines.cli", "engines", "list the generator engines and whether each works here",
     "add_engines_arguments", "run_engines"),
    ("obs_bridge.cli", "obs", "put the animated portrait into OBS Studio (setup, status, remove)",
     "add_obs_arguments", "run_obs"),
]


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        # inside the try: building the parser imports the tracker (a second or so), and a
        # Ctrl-C then must not end in a traceback
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="streamfx: %(message)s", stream=sys.stderr)
        # mediapipe's C++ INFO/WARNING lines would bury our one-line messages; -v shows them
        with native_logs_filtered(enabled=not args.verbose):
            return int(args.handler(args) or 0)
    except StreamFXError as e:
        print(f"streamfx: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # we are stopping: a second Ctrl-C changes nothing
        if args is not None and args.command in ("render", "demo"):
            print("streamfx: interrupted — output files were closed and hold what was done", file=sys.stderr)
        else:
            print("streamfx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os._exit(1)
