"""``streamfx live``: animate continuously into a virtual camera and WebRTC viewers.

The main CLI (streamfx/cli.py) owns the sub-command; it calls :func:`add_live_arguments`
to build the parser and :func:`run_live` to run it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from streamfx.compositing import FIT_MODES
from streamfx.errors import DeviceUnavailableError, StreamFXError

if TYPE_CHECKING:
    from streamfx.group import AnyAnimator

log = logging.getLogger("streamfx.live")

DEFAULT_WEBRTC = "127.0.0.1:8080"
#: Built-in motion script used when no webcam opens.
IDLE_SCRIPT = "idle"
#: Portraits are regenerated every frame at their own resolution: cap it for real time.
LIVE_MAX_SIDE = 1024


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamfx live``."""
    parser.add_argument("--source", metavar="IMAGE", help="portrait to animate (default: the bundled demo portrait)")
    parser.add_argument(
        "--driver", metavar="SPEC",
        help="webcam | camera INDEX | /dev/videoN | VIDEO file (paced at real time, looped) | motion SCRIPT "
        "(default: the webcam if one opens, else the built-in idle script)",
    )
    parser.add_argument("--vcam", action=argparse.BooleanOptionalAction, default=True,
                        help="send to the AnimCam virtual camera (default: on; skipped with a setup hint if absent)")
    parser.add_argument("--vcam-device", metavar="DEV", help="virtual camera device (default: the one labelled AnimCam)")
    parser.add_argument("--vcam-backend", metavar="NAME", help=argparse.SUPPRESS)  # tests/benchmarks
    parser.add_argument("--webrtc", metavar="HOST:PORT", default=DEFAULT_WEBRTC,
                        help=f"serve the viewer, WHEP, control panel and /metrics here (default {DEFAULT_WEBRTC})")
    parser.add_argument("--no-webrtc", dest="webrtc", action="store_const", const=None, help="no web server")
    parser.add_argument("--size", default="1280x720", help="output WxH (default 1280x720)")
    parser.add_argument("--fps", type=float, default=30.0, help="output frames per second (default 30)")
    parser.add_argument("--fit", choices=FIT_MODES, default="fit",
                        help="how the portrait fills the output frame (default fit)")
    parser.add_argument("--webrtc-loopback", action="store_true",
                        help="also offer 127.0.0.1 ICE candidates (browser on this machine, no other network)")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8", help="WebRTC video codec (default vp8)")
    parser.add_argument("--bitrate", type=_bitrate, metavar="BPS",
                        help="WebRTC bitrate cap, e.g. 2M or 800k (default: receiver-estimated)")
    parser.add_argument("--webrtc-encode", choices=("auto", "per-viewer", "shared"), default="auto",
                        help="per-viewer: own encoder and congestion control per viewer; shared: encode once "
                        "for all (many viewers on a small CPU, one bitrate); auto (default): the first 2 "
                        "viewers get their own, later ones share")
    parser.add_argument("--token", help="control/viewer token (generated and printed when binding a non-loopback address)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (tests, benchmarks)")
    from streamfx.options import add_motion_options

    add_motion_options(parser, offline=False)
    parser.add_argument("--stats-every", type=float, default=0.0, metavar="SECONDS",
                        help="log a one-line stats summary this often (default: never)")


def _bitrate(text: str) -> int:
    t = text.strip().lower().rstrip("bps").rstrip("/")
    mult = 1
    if t.endswith("k"):
        mult, t = 1000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    try:
        value = int(float(t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bitrate must look like 2M, 800k or 1500000, not {text!r}") from None
    if not 50_000 <= value <= 50_000_000:
        raise argparse.ArgumentTypeError("bitrate must be between 50k and 50M")
    return value


def run_live(args: argparse.Namespace) -> int:
    """Run until Ctrl-C / SIGTERM / --duration. Returns the process exit code."""
    from streamfx.compositing import parse_size
    from streamfx.live.pipeline import LiveSettings

    try:
        width, height = parse_size(args.size)
        settings = LiveSettings(width=width, height=height, fps=args.fps, fit=getattr(args, "fit", "fit"))
    except ValueError as e:
        raise StreamFXError(str(e)) from None
    if not args.vcam and not args.webrtc:
        raise StreamFXError("nothing to output: enable --vcam or --webrtc HOST:PORT")

    # aioice/aiortc log every ICE check at INFO: keep the console to our own lines
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    pipeline = build_pipeline(args, settings)
    try:
        vcam_ok = _attach_vcam(pipeline, args)
        if not vcam_ok and not args.webrtc:
            return DeviceUnavailableError.exit_code
        pipeline.start()
        return asyncio.run(_serve(pipeline, args))
    finally:
        pipeline.stop()
        _print_summary(pipeline)


def build_pipeline(args: argparse.Namespace, settings: Any) -> Any:
    """Portrait + Animator + driver → a (not yet started) LivePipeline."""
    from streamfx.group import make_animator
    from streamfx.imageio import demo_portrait
    from streamfx.live.pipeline import LivePipeline
    from streamfx.options import motion_settings
    from streamfx.render import load_source

    landmarks = None
    if args.source:
        image, landmarks = load_source(args.source, LIVE_MAX_SIDE, getattr(args, "landmarks", None))
        name = str(args.source)
    else:
        image, name = demo_portrait(), "demo portrait"
    retarget, generator = motion_settings(args)
    # NoFaceError → one line from the main CLI; --face picks a face of a group photo, or all
    animator = make_animator(image, source_landmarks=landmarks, source_name=name, face=getattr(args, "face", None),
                             retarget=retarget, generator=generator, engine=args.engine, align=args.align)
    driver = open_live_driver(args.driver, animator)
    log.info("source %s (%dx%d), driver %s", name, image.shape[1], image.shape[0], type(driver).__name__)
    return LivePipeline(animator, driver, settings, source_image=image)


def open_live_driver(spec: str | None, animator: AnyAnimator) -> Any:
    """Open ``spec`` (real-time, looping); without one, the webcam or else the idle script."""
    from streamfx.drivers import open_driver
    from streamfx.sinks.vcam import find_v4l2_device

    own = find_v4l2_device()  # our own output device: reading it back would be a feedback loop
    if spec and own is not None and spec in (own, own.removeprefix("/dev/video")):
        raise StreamFXError(f"--driver {spec} is the AnimCam output itself — pick your real webcam")
    neutral = animator.source_landmarks  # motion scripts animate around the portrait's own face
    if spec:
        return open_driver(spec, neutral_landmarks=neutral, realtime=True, loop=True)
    try:
        if own == "/dev/video0":
            raise StreamFXError("the only camera is AnimCam itself")
        return open_driver("webcam", neutral_landmarks=neutral, realtime=True, loop=True)
    except StreamFXError as e:
        log.warning("no webcam (%s); driving with the built-in %r motion script", e, IDLE_SCRIPT)
        return open_driver(IDLE_SCRIPT, neutral_landmarks=neutral, realtime=True, loop=True)


def _attach_vcam(pipeline: Any, args: argparse.Namespace) -> bool:
    if not args.vcam:
        return False
    from streamfx.sinks.vcam import VirtualCameraSink

    sink = VirtualCameraSink(device=getattr(args, "vcam_device", None), backend=getattr(args, "vcam_backend", None))
    try:
        pipeline.add_sink(sink)
    except DeviceUnavailableError as e:
        # one line with the setup command; WebRTC keeps running without it
        log.warning("%s", e)
        return False
    print(f"virtual camera: {sink.device_name} ({pipeline.settings.width}x{pipeline.settings.height} "
          f"@ {pipeline.settings.fps:g} fps)", flush=True)
    return True


async def _serve(pipeline: Any, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows / non-main thread
            loop.add_signal_handler(sig, stop.set)

    server = None
    if args.webrtc:
        server = await start_server(pipeline, args)
        print(f"viewer:  {server.url('/')}", flush=True)
        print(f"panel:   {server.url('/panel')}", flush=True)
        print(f"WHEP:    {server.url('/whep')}", flush=True)
        print(f"metrics: {server.url('/metrics')}", flush=True)
        if server.settings.token and not args.token:
            print(f"token:   {server.settings.token}", flush=True)
    print("live: press Ctrl-C to stop", flush=True)

    started = time.monotonic()
    next_stats = started + args.stats_every if args.stats_every else None
    try:
        while not stop.is_set():
            timeout = 0.5
            if args.duration is not None:
                left = started + args.duration - time.monotonic()
                if left <= 0:
                    break
                timeout = min(timeout, left)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout)
            if next_stats is not None and time.monotonic() >= next_stats:
                next_stats += args.stats_every
                print(_one_line_stats(pipeline), flush=True)
    finally:
        if server is not None:
            await server.stop()
    return 0


async def start_server(pipeline: Any, args: argparse.Namespace) -> Any:
    from streamfx.web.server import LiveServer, ServerSettings, parse_hostport
    from streamfx.web.webrtc import WebRTCHub, WebRTCSettings

    try:
        host, port = parse_hostport(args.webrtc)
        ssettings = ServerSettings(host=host, port=port, token=args.token)
        rtc_settings = WebRTCSettings(codec=args.codec, bitrate=args.bitrate, loopback=args.webrtc_loopback,
                                      encode=getattr(args, "webrtc_encode", "auto"))
    except ValueError as e:
        raise StreamFXError(str(e)) from None
    s = pipeline.settings
    rtc = WebRTCHub(pipeline.hub, s.fps, rtc_settings, pipeline.metrics, size=(s.width, s.height))
    server = LiveServer(pipeline, ssettings, rtc)
    try:
        await server.start()
    except OSError as e:
        raise DeviceUnavailableError(
            f"cannot listen on {host}:{port} ({e.strerror or e}) — pick another with --webrtc HOST:PORT"
        ) from None
    return server


def _one_line_stats(pipeline: Any) -> str:
    s = pipeline.metrics.snapshot()
    lat = " ".join(
        f"{k}:{v['fps']:.1f}fps p50={v['latency_p50_ms']}ms p95={v['latency_p95_ms']}ms"
        for k, v in s["sinks"].items()
    )
    return (f"capture {s['capture_fps']:.1f} fps · output {s['output_fps']:.1f} fps · "
            f"dropped {s['dropped']} · {lat}")


def _print_summary(pipeline: Any) -> None:
    with contextlib.suppress(Exception):
        print("stopped: " + _one_line_stats(pipeline), flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m streamfx.live.cli``: the same as ``streamfx live`` (handy while developing)."""
    parser = argparse.ArgumentParser(prog="streamfx live", description=__doc__)
    add_live_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="streamfx: %(message)s", stream=sys.stderr)
    try:
        return run_live(args)
    except StreamFXError as e:
        print(f"streamfx: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
