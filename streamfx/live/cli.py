"""``streamfx live``: animate continuously into a virtual camera and WebRTC viewers.

The main CLI (streamfx/cli.py) owns the sub-command; it calls :func:`add_live_arguments`
to build the parser and :func:`run_live` to run it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from streamfx.compositing import FIT_MODES, FRAMES, LAYOUTS, POSITIONS
from streamfx.errors import DeviceUnavailableError, StreamFXError
from streamfx.live.pipeline import LIVE_MAX_SIDE, live_compositor, live_portrait

if TYPE_CHECKING:
    import numpy as np

    from streamfx.group import AnyAnimator

log = logging.getLogger("streamfx.live")

DEFAULT_WEBRTC = "127.0.0.1:8080"
DEFAULT_OBS_STREAM = "127.0.0.1:8091"
#: Built-in motion script used when no webcam opens.
IDLE_SCRIPT = "idle"


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamfx live``."""
    parser.add_argument("--source", metavar="IMAGE", help="portrait to animate (default: the bundled demo portrait)")
    parser.add_argument(
        "--driver", metavar="SPEC",
        help="webcam | a camera's INDEX (0, 1, …) | /dev/videoN | VIDEO file (paced at real time, looped; its own "
        "sound goes to viewers and --record) | motion SCRIPT | "
        "a voice: SOUND file (wav, mp3, m4a: looped) or mic[:DEVICE] — it moves the mouth, idle motion the rest | "
        "webcam+mic: the camera, and the voice's mouth while the camera loses the face "
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
    g = parser.add_argument_group("picture")
    g.add_argument("--background", default="auto", metavar="SPEC",
                   help="behind the portrait: transparent (AnimCam/WebRTC show black; /overlay and the OBS "
                        "stream keep the alpha) | #rrggbb | IMAGE | blur | black | edge (the portrait border's mean colour) | camera (the performer's own camera); "
                        "default auto: the portrait as it is, on a blurred fill")
    g.add_argument("--frame", choices=FRAMES, default="full",
                   help="crop around the portrait's face: full, bust (head and shoulders) or head (default full)")
    g.add_argument("--layout", choices=LAYOUTS, default="full",
                   help="full: the portrait fills the output; corner: in a box over the performer's camera; "
                        "side: camera left, portrait right (default full)")
    g.add_argument("--pip-position", choices=POSITIONS, default="bottom-right", help="--layout corner: which corner")
    g.add_argument("--pip-size", type=float, default=0.35, metavar="0.1..1",
                   help="--layout corner: box height as a part of the output height (default 0.35)")
    g.add_argument("--border", default="0", metavar="PX[:#rrggbb]",
                   help="border around the picture-in-picture box, e.g. 4:#ffffff (default 0: none)")
    parser.add_argument("--obs-stream", metavar="HOST:PORT", default=DEFAULT_OBS_STREAM,
                        help="serve a low-latency stream with alpha (NUT, raw BGRA over TCP) for OBS's Media "
                        f"source here (default {DEFAULT_OBS_STREAM}; `streamfx obs setup` adds it to OBS)")
    parser.add_argument("--no-obs-stream", dest="obs_stream", action="store_const", const=None,
                        help="no stream for OBS's Media source")
    parser.add_argument("--webrtc-loopback", action="store_true",
                        help="also offer 127.0.0.1 ICE candidates (browser on this machine, no other network)")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8", help="WebRTC video codec (default vp8)")
    parser.add_argument("--bitrate", type=_bitrate, metavar="BPS",
                        help="WebRTC bitrate cap, e.g. 2M or 800k (default: receiver-estimated)")
    parser.add_argument("--webrtc-encode", choices=("auto", "per-viewer", "shared"), default="auto",
                        help="per-viewer: own encoder and congestion control per viewer; shared: encode once "
                        "for all (many viewers on a small CPU, one bitrate); auto (default): the first 2 "
                        "viewers get their own, later ones share")
    parser.add_argument("--generator-process", action=argparse.BooleanOptionalAction, default=None,
                        help="generate in a worker process while this one tracks and composites: more frames per "
                        "second, a little more latency where cores are few (default: on for the opencv engine "
                        "with 4 cores or more)")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help="control/viewer token (generated and printed when binding a non-loopback "
                       "address); it shows in the process list: prefer --token-file or $STREAMFX_TOKEN")
    token.add_argument("--token-file", metavar="PATH", help="read the token from the first line of this file")
    parser.add_argument("--stun", metavar="URL",
                        help="STUN server for viewers behind NAT, e.g. stun:stun.example.org:3478 "
                        "(default: none — nothing but the viewers is contacted)")
    parser.add_argument("--whip", metavar="URL",
                        help="also publish to this WHIP endpoint (an SFU such as Janus, LiveKit, MediaMTX or a hosted "
                        "ingest fans the stream out); uses --codec, --bitrate, --stun and --webrtc-loopback")
    parser.add_argument("--whip-overlay", action="store_true",
                        help="publish the transparent overlay over WHIP (colour and alpha side by side, twice as wide, "
                        "as /overlay streams it) for a remote production to key")
    parser.add_argument("--whip-token", metavar="TOKEN", default=os.environ.get("STREAMFX_WHIP_TOKEN"),
                        help="Bearer token for --whip (default: $STREAMFX_WHIP_TOKEN; the option shows in the process list)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (tests, benchmarks)")
    parser.add_argument("--audio", metavar="mic[:DEVICE]|FILE",
                        help="sound for WebRTC/WHEP viewers and --record: a microphone or a sound file (looped); "
                             "a voice driver's or a video driver's own sound is sent without it. The virtual camera "
                             "has no sound: pick the microphone in the meeting app")
    parser.add_argument("--record", metavar="FILE.mp4",
                        help="also record the live output with its sound (.mp4 fragmented, or .webm): "
                             "playable even if the process is killed")
    from streamfx.options import add_motion_options, add_voice_options

    add_motion_options(parser, offline=False)
    add_voice_options(parser)
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


class StartupInterrupted(BaseException):
    """Raised once, by :class:`StopSignals`, to abandon a start-up (model loading) on Ctrl-C.

    A BaseException like KeyboardInterrupt, so library code that catches Exception lets it by.
    """


class StopSignals:
    """The one SIGINT/SIGTERM policy of a live run: start-up, serving and cleanup alike.

    1st signal: an orderly stop. While the portrait and models load (``interruptible()``)
    that means abandoning the loading, by raising :class:`StartupInterrupted` once; later it
    wakes the serving loop (``on_stop``), which returns and lets the cleanup run.
    2nd: ignored, with a note. Never another exception: a KeyboardInterrupt in the middle of
    the cleanup used to skip joining the animation thread, and the process then exited while
    mediapipe's C++ threads still ran ("terminate called without an active exception", SIGABRT).
    3rd: exit at once without cleanup (``os._exit``), for a cleanup that hangs.

    Exit status: 130 (128 + SIGINT) after Ctrl-C, 0 after SIGTERM (a service manager's
    normal stop) or ``--duration``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._interruptible = False
        self._wake: Callable[[], object] | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + signal.SIGINT if self.signum == signal.SIGINT else 0

    def install(self) -> bool:
        """Handle SIGINT and SIGTERM from now on; False where that is impossible (not the main thread)."""
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: whoever runs us owns the signals
            self.restore()
            return False
        return True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within this block the first signal raises :class:`StartupInterrupted`."""
        if self.requested:
            raise StartupInterrupted
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def on_stop(self, wake: Callable[[], object] | None) -> None:
        """Call ``wake`` (from the signal handler) when a stop is requested."""
        self._wake = wake

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Runs on the main thread between two bytecodes: no print/logging here (a buffered
        # stream may be mid-write on this very thread), only os.write.
        self.count += 1
        if self.count == 1:
            self.signum = signum
            if self._wake is not None:
                self._wake()
            if self._interruptible:
                self._interruptible = False
                raise StartupInterrupted
        elif self.count == 2:
            os.write(2, b"streamfx: stopping... (once more to quit at once, without cleanup)\n")
        else:
            os.write(2, b"streamfx: quitting without cleanup\n")
            os._exit(128 + signum)


def run_live(args: argparse.Namespace) -> int:
    """Run until Ctrl-C / SIGTERM / --duration. Returns the process exit code.

    0 after SIGTERM or --duration, 130 after Ctrl-C (see :class:`StopSignals`).
    """
    signals = StopSignals()
    installed = signals.install()
    try:
        return _run_live(args, signals)
    finally:
        if installed and not signals.requested:
            signals.restore()  # in-process callers (tests, ``streamfx demo``) get theirs back
        elif installed:
            # Stopped by a signal, cleanup done: the process is on its way out. Python's
            # finalization resets handlers it installed to SIG_DFL (a repeat would then kill
            # it, exit -2, mid-teardown) but leaves SIG_IGN alone.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)


def _run_live(args: argparse.Namespace, signals: StopSignals) -> int:

    settings = live_settings(args)
    if not args.vcam and not _outputs_besides_vcam(args):
        raise StreamFXError("nothing to output: enable --vcam, --webrtc HOST:PORT, --whip URL or --record FILE.mp4")

    # aioice/aiortc log every ICE check at INFO: keep the console to our own lines
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Options first, then the outputs, the seconds of model loading last: a bad token, a
    # busy port or a missing camera is reported at once, not after the wait.
    if args.webrtc:
        web_settings(args)
    if args.driver:
        from streamfx.drivers import check_driver

        check_driver(args.driver)
    if getattr(args, "record", None):
        from streamfx.errors import refuse_overwriting_inputs
        from streamfx.sinks.record import RECORD_EXTENSIONS

        refuse_overwriting_inputs(args.record, args.source, args.driver, getattr(args, "audio", None),
                                  getattr(args, "background", None), flag="--record")
        if not args.record.lower().endswith(RECORD_EXTENSIONS):
            raise StreamFXError(f"--record {args.record}: record to .mp4 or .webm (they carry sound and survive a kill; "
                                ".webm keeps a transparent background)")
    # the portrait's file too (its decoding takes a moment; the face tracker, later, seconds):
    # a picture that does not open is the one line, before any output says it is listening
    portrait = load_portrait(args)
    listener = listen(args.webrtc) if args.webrtc else None
    vcam = obs_stream = whip = None
    pipeline = None
    try:
        vcam = open_vcam(args, settings)
        obs_stream = open_obs_stream(args)
        whip = open_whip(args, settings)
        log.info("loading the portrait and the face tracker...")
        with signals.interruptible():
            pipeline = build_pipeline(args, settings, portrait)
        if vcam is not None:
            pipeline.add_sink(vcam, opened=True)
            vcam = None  # the pipeline closes it now
        if obs_stream is not None:
            pipeline.add_sink(obs_stream)
            obs_stream = None
        if whip is not None:
            whip.metrics = pipeline.metrics
            pipeline.add_sink(whip, opened=True)
            whip = None
        attach_audio(pipeline, args)
        if signals.requested:
            return signals.exit_code
        pipeline.start()
        asyncio.run(_serve(pipeline, args, listener, signals))
        return signals.exit_code
    except StartupInterrupted:
        return signals.exit_code
    finally:
        for sink in (vcam, obs_stream, whip):
            if sink is not None:
                sink.close()  # the WHIP sink DELETEs its resource: the endpoint is free again
        if listener is not None:
            listener.close()  # a no-op once the server closed it
        if pipeline is not None:
            pipeline.stop()
            if pipeline.audio is not None:
                pipeline.audio.close()
        if pipeline is not None and pipeline.started:
            _print_summary(pipeline)
        elif signals.requested:
            print("stopped: interrupted while starting; nothing was streamed", flush=True)


def live_settings(args: argparse.Namespace) -> Any:
    """The output format (size, rate, framing, background, picture-in-picture), validated."""
    from streamfx.compositing import PictureInPicture, parse_background, parse_size
    from streamfx.live.pipeline import LiveSettings

    try:
        width, height = parse_size(args.size)
        background = getattr(args, "background", "auto")
        parse_background(background)  # one line for a bad one, before anything loads
        pip = PictureInPicture(layout=getattr(args, "layout", "full"),
                               position=getattr(args, "pip_position", "bottom-right"),
                               size=getattr(args, "pip_size", 0.35), **_border(getattr(args, "border", "0")))
        return LiveSettings(width=width, height=height, fps=args.fps, fit=getattr(args, "fit", "fit"),
                            background="blur" if background == "auto" else background,
                            frame=getattr(args, "frame", "full"), pip=pip)
    except ValueError as e:
        raise StreamFXError(str(e)) from None


def _border(text: str) -> dict[str, Any]:
    """``--border PX[:#rrggbb]`` → PictureInPicture's border and border_colour."""
    from streamfx.compositing import parse_background

    width, _, colour = text.partition(":")
    try:
        px = int(width)
    except ValueError:
        raise ValueError(f"--border takes PX or PX:#rrggbb (e.g. 4:#ffffff), not {text!r}") from None
    out: dict[str, Any] = {"border": px}
    if colour:
        bg = parse_background(colour if colour.startswith("#") else "#" + colour)
        if bg.kind != "colour":
            raise ValueError(f"--border colour must be #rrggbb, not {colour!r}")
        out["border_colour"] = bg.colour
    return out


def listen(spec: str) -> socket.socket:
    """A socket listening on ``spec`` (HOST:PORT), for the web server to take over later.

    Bound before the models load so that a busy port fails in well under a second.
    Raises StreamFXError (bad address) or DeviceUnavailableError (cannot listen there).
    """
    from streamfx.web.server import parse_hostport

    try:
        host, port = parse_hostport(spec)
    except ValueError as e:
        raise StreamFXError(str(e)) from None
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        # SO_REUSEADDR (create_server's default on POSIX), as aiohttp's own sites set it
        sock = socket.create_server(address, family=family, backlog=128)
    except OSError as e:
        # create_server appends the address to strerror; getaddrinfo's errors are negative
        why = os.strerror(e.errno) if e.errno and e.errno > 0 else (e.strerror or str(e))
        raise DeviceUnavailableError(
            f"cannot listen on {host}:{port} ({why}) — pick another with --webrtc HOST:PORT"
        ) from None
    sock.setblocking(False)
    return sock


def load_portrait(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The portrait (``--source``, or the demo's), its landmarks file's landmarks if given, and
    its name; InputError (one line) for a file that does not open as a picture."""
    from streamfx.imageio import demo_portrait
    from streamfx.render import load_source

    if args.source:
        image, landmarks = load_source(args.source, LIVE_MAX_SIDE, getattr(args, "landmarks", None))
        return image, landmarks, str(args.source)
    return demo_portrait(), None, "demo portrait"


def build_pipeline(args: argparse.Namespace, settings: Any,
                   portrait: tuple[np.ndarray, np.ndarray | None, str] | None = None) -> Any:
    """Portrait (``portrait``: :func:`load_portrait`'s, loaded here if None) + Animator + driver
    → a (not yet started) LivePipeline."""
    from streamfx.group import make_animator
    from streamfx.live.pipeline import LivePipeline
    from streamfx.options import animator_settings

    image, landmarks, name = portrait if portrait is not None else load_portrait(args)
    motion = animator_settings(args)
    # animated at the size the canvas shows it (the loaded one stays for reframing); --face
    # picks its face itself (one of several, or all)
    shown, shown_landmarks = live_portrait(image, landmarks, live_compositor(settings), name,
                                           every_face=getattr(args, "face", None) is not None)
    if shown.shape != image.shape:
        log.info("portrait %dx%d animated at %dx%d, the size the %dx%d output shows it at",
                 image.shape[1], image.shape[0], shown.shape[1], shown.shape[0], settings.width, settings.height)
    # NoFaceError → one line from the main CLI; --face picks a face of a group photo, or all
    animator = make_animator(shown, source_landmarks=shown_landmarks, source_name=name,
                             face=getattr(args, "face", None), settings=motion)
    from streamfx.options import voice_settings

    driver = open_live_driver(args.driver, animator, voice=voice_settings(args))
    log.info("source %s (%dx%d), driver %s", name, image.shape[1], image.shape[0], args.driver or type(driver).__name__.removesuffix("Source").lower())

    def idle_script() -> Any:
        # the driver failed mid-show (camera unplugged, video unreadable): keep the face alive
        from streamfx.drivers import open_driver

        return open_driver(IDLE_SCRIPT, neutral_landmarks=animator.source_landmarks, realtime=True, loop=True)

    return LivePipeline(animator, driver, settings, source_image=image, fallback_driver=idle_script,
                        generator_process=getattr(args, "generator_process", None))


def attach_audio(pipeline: Any, args: argparse.Namespace) -> None:
    """The live sound (``--audio``, else a voice driver's own, else a video driver's own sound
    track, looped with its picture) for viewers and ``--record``.

    A microphone or file that cannot be used is one line; the picture goes on without sound.
    """
    from streamfx.audio import has_audio
    from streamfx.capture import open_capture
    from streamfx.drivers import driver_kind

    capture = getattr(pipeline._driver, "capture", None)  # a voice driver: the sound it hears
    sound = getattr(args, "audio", None)
    driver = getattr(args, "driver", None)
    whose = "the --audio" if sound else "the voice driver's" if capture is not None else ""
    if not sound and capture is None and driver and driver_kind(driver) == "video" and has_audio(driver):
        sound, whose = driver, "the driver video's"  # as `render` keeps a driver video's sound
    if sound:
        try:
            capture = open_capture(sound)
            capture.start()
        except StreamFXError as e:
            log.warning("no sound: %s — the picture goes on without it", e)
            capture = None
    pipeline.audio = capture
    if getattr(args, "record", None):
        from streamfx.sinks.record import LiveRecorder

        # a transparent canvas keeps its alpha in WebM (VP9 alpha); MP4 gets it flattened
        alpha = pipeline.compositor.transparent and args.record.lower().endswith(".webm")
        pipeline.add_sink(LiveRecorder(args.record, fps=pipeline.settings.fps, capture=capture, alpha=alpha),
                          repeat=False)
        log.info("recording to '%s'%s", args.record,
                 f" with {whose} sound" if capture else " silent (--audio FILE or mic adds sound)")


def open_live_driver(spec: str | None, animator: AnyAnimator, voice: Any = None) -> Any:
    """Open ``spec`` (real-time, looping); without one, the webcam or else the idle script.
    A microphone that cannot be used is one line, and the idle script keeps the face alive."""
    from streamfx.drivers import driver_kind, open_driver
    from streamfx.sinks.vcam import find_v4l2_device

    own = find_v4l2_device()  # our own output device: reading it back would be a feedback loop
    if spec and own is not None and spec in (own, own.removeprefix("/dev/video")):
        raise StreamFXError(f"--driver {spec} is the AnimCam output itself — pick your real webcam")
    neutral = animator.source_landmarks  # motion scripts animate around the portrait's own face
    if spec and driver_kind(spec) == "mic":
        try:
            return open_driver(spec, neutral_landmarks=neutral, realtime=True, loop=True, voice=voice)
        except DeviceUnavailableError as e:
            log.warning("%s; driving with the built-in %r motion script meanwhile", e, IDLE_SCRIPT)
            return open_driver(IDLE_SCRIPT, neutral_landmarks=neutral, realtime=True, loop=True)
    if spec:
        return open_driver(spec, neutral_landmarks=neutral, realtime=True, loop=True, voice=voice)
    try:
        if own == "/dev/video0":
            raise StreamFXError("the only camera is AnimCam itself")
        return open_driver("webcam", neutral_landmarks=neutral, realtime=True, loop=True)
    except StreamFXError as e:
        log.warning("no webcam (%s); driving with the built-in %r motion script", e, IDLE_SCRIPT)
        return open_driver(IDLE_SCRIPT, neutral_landmarks=neutral, realtime=True, loop=True)


def open_obs_stream(args: argparse.Namespace) -> Any:
    """The listening OBS stream sink, or None (``--no-obs-stream``, or the port is taken: one warning line)."""
    spec = getattr(args, "obs_stream", None)
    if not spec:
        return None
    from streamfx.sinks.stream import AlphaStreamSink
    from streamfx.web.server import is_loopback, parse_hostport

    try:
        host, port = parse_hostport(spec, default_port=8091)
    except ValueError as e:
        raise StreamFXError(f"--obs-stream: {e}") from None
    if not is_loopback(host):
        # raw TCP has no place for a token: off loopback anyone who can reach the port would
        # get the picture
        raise StreamFXError(f"--obs-stream {spec}: the OBS stream has no token, so it serves loopback only "
                            "(127.0.0.1) — run OBS on this machine, or reach a remote OBS over WebRTC "
                            "(--host with --token, /overlay) or WHIP")
    try:
        sink = AlphaStreamSink(host, port)
    except DeviceUnavailableError as e:
        log.warning("%s", e)
        return None
    # the stream's own address unless it is the one `streamfx obs setup` assumes
    setup = "streamfx obs setup" + ("" if sink.url == f"tcp://{DEFAULT_OBS_STREAM}" else f" --stream {sink.url}")
    print(f"OBS stream: {sink.url} (NUT with alpha, for OBS's Media source: {setup})", flush=True)
    return sink


def _outputs_besides_vcam(args: argparse.Namespace) -> bool:
    """Whether anything but the virtual camera takes the output: WebRTC, WHIP or a recording."""
    return bool(args.webrtc or getattr(args, "whip", None) or getattr(args, "record", None))


def open_vcam(args: argparse.Namespace, settings: Any) -> Any:
    """The opened virtual camera sink, or None (``--no-vcam``, or absent: one warning line).

    Absent with ``--no-webrtc`` there is nothing to output: a DeviceUnavailableError that
    carries the setup command.
    """
    if not args.vcam:
        return None
    from streamfx.sinks.vcam import VirtualCameraSink

    sink = VirtualCameraSink(device=getattr(args, "vcam_device", None), backend=getattr(args, "vcam_backend", None))
    try:
        sink.open(settings.width, settings.height, settings.fps)
    except DeviceUnavailableError as e:
        if not _outputs_besides_vcam(args):
            raise DeviceUnavailableError(
                f"nothing to output: --no-webrtc is set and {e}; or drop --no-webrtc to watch in a browser"
            ) from None
        # one line with the setup command; WebRTC keeps running without it
        log.warning("%s", e)
        return None
    print(f"virtual camera: {sink.device_name} ({settings.width}x{settings.height} @ {settings.fps:g} fps)",
          flush=True)
    return sink


def open_whip(args: argparse.Namespace, settings: Any) -> Any:
    """The WHIP sink, published once (before the models load), or None without ``--whip``.

    A refusal (401/403/404/5xx) or an unreachable server is a one-line WhipError here;
    once streaming, a lost session is logged and published again with back-off.
    """
    url = getattr(args, "whip", None)
    if not url:
        return None
    from streamfx.sinks.whip import WhipSink, check_whip_url
    from streamfx.web.webrtc import WebRTCSettings

    check_whip_url(url)
    try:
        rtc = WebRTCSettings(codec=args.codec, bitrate=args.bitrate, loopback=args.webrtc_loopback,
                             stun=getattr(args, "stun", None))
    except ValueError as e:
        raise StreamFXError(str(e)) from None
    overlay = bool(getattr(args, "whip_overlay", False))
    sink = WhipSink(url, token=getattr(args, "whip_token", None), settings=rtc, overlay=overlay)
    sink.open(settings.width, settings.height, settings.fps)
    print(f"WHIP:    publishing {'the overlay (colour | alpha) ' if overlay else ''}to {sink.info()['url']} "
          f"({rtc.codec})", flush=True)
    return sink


async def _serve(pipeline: Any, args: argparse.Namespace, listener: socket.socket | None = None,
                 signals: StopSignals | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if signals is not None:
        signals.on_stop(lambda: loop.call_soon_threadsafe(stop.set))
        if signals.requested:
            stop.set()

    server = None
    try:
        if stop.is_set():
            return  # stopped while starting: nothing to serve
        if args.webrtc:
            server = await start_server(pipeline, args, listener)
            _print_urls(server, args)
        print("live: press Ctrl-C to stop", flush=True)
        await _wait(stop, pipeline, args)
    finally:
        if signals is not None:
            signals.on_stop(None)
        if server is not None:
            await server.stop()


def _print_urls(server: Any, args: argparse.Namespace) -> None:
    print(f"viewer:  {server.url('/')}", flush=True)
    print(f"panel:   {server.url('/panel')}", flush=True)
    print(f"overlay: {server.url('/overlay')}", flush=True)
    print(f"WHEP:    {server.url('/whep')}", flush=True)
    print(f"metrics: {server.url('/metrics')}", flush=True)
    if server.settings.token_generated:
        print(f"token:   {server.settings.token}", flush=True)


async def _wait(stop: asyncio.Event, pipeline: Any, args: argparse.Namespace) -> None:
    """Until ``stop`` or --duration; the periodic stats line in between, and one warning
    with the fix if the output stays below its frame rate (:class:`FallingBehind`)."""
    from streamfx.live.metrics import FallingBehind

    started = time.monotonic()
    next_stats = started + args.stats_every if args.stats_every else None
    behind = FallingBehind(pipeline.settings.fps)
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
        if pipeline.paused:
            behind.reset()  # a frozen output is asked for, not a slow machine
        elif not behind.fired:
            capture_fps, output_fps = pipeline.metrics.rates()
            if behind.check(output_fps, capture_fps):
                log.warning("%s", falling_behind_advice(pipeline, output_fps, behind.hold_s, capture_fps))


#: Smaller output sizes to suggest, largest first (16:9, like the default).
SMALLER_SIZES = ((1920, 1080), (1280, 720), (854, 480), (640, 360))
#: A portrait side that animates in real time on a small machine (``scripts/bench.py --scaling``).
LIGHT_PORTRAIT_SIDE = 512


def falling_behind_advice(pipeline: Any, output_fps: float, held_s: float, capture_fps: float | None = None) -> str:
    """One line: the output is below its target rate, what a frame costs, and the fix — a
    smaller portrait and/or a smaller ``--size``, the bigger cost first. The target is
    ``--fps``, or the driver's own rate where that is lower (a 25 fps video gives no more)."""
    s = pipeline.settings
    target = f"the {s.fps:g} fps target"
    if capture_fps is not None and 0 < capture_fps < 0.95 * s.fps:
        target = f"the {capture_fps:.0f} fps the driver gives"
    stages = pipeline.metrics.snapshot()["stage_ms"]
    animate, composite = stages.get("animate") or 0.0, stages.get("composite") or 0.0
    fixes: list[str] = []
    pw, ph = pipeline.animator.size
    if max(pw, ph) > LIGHT_PORTRAIT_SIDE:
        # the generator's cost grows with the pixels it animates: the portrait at the size the
        # output shows it (a head framing shows it larger), so a smaller portrait, or crop
        fixes.append(f"a smaller portrait (this one is animated at {pw}x{ph}: a head-and-shoulders crop of "
                     f"--source, about {LIGHT_PORTRAIT_SIDE} px)")
    smaller = next(((w, h) for w, h in SMALLER_SIZES if w * h < s.width * s.height), None)
    if smaller is not None:
        size_fix = f"a smaller --size (e.g. --size {smaller[0]}x{smaller[1]})"
        fixes.insert(0 if composite > animate else len(fixes), size_fix)
    fix = " or ".join(fixes) if fixes else "fewer viewers or other programs, or a lower --fps"
    return (f"the output runs at {output_fps:.1f} fps, below {target}, for {held_s:g} s: this "
            f"machine cannot keep up (animate {animate:.0f} ms + composite {composite:.0f} ms a frame) — try {fix}")


def web_settings(args: argparse.Namespace) -> tuple[Any, Any]:
    """(ServerSettings, WebRTCSettings) from the options, validated before anything starts."""
    from streamfx.web.server import ServerSettings, load_token, parse_hostport
    from streamfx.web.webrtc import WebRTCSettings

    try:
        host, port = parse_hostport(args.webrtc)
        token = load_token(args.token, getattr(args, "token_file", None))
        server = ServerSettings(host=host, port=port, token=token)
        rtc = WebRTCSettings(codec=args.codec, bitrate=args.bitrate, loopback=args.webrtc_loopback,
                             encode=getattr(args, "webrtc_encode", "auto"), stun=getattr(args, "stun", None))
    except ValueError as e:
        raise StreamFXError(str(e)) from None
    return server, rtc


async def start_server(pipeline: Any, args: argparse.Namespace, listener: socket.socket | None = None) -> Any:
    """Start the web server, on ``listener`` when it is already listening (see :func:`listen`)."""
    from streamfx.web.server import LiveServer
    from streamfx.web.webrtc import WebRTCHub

    ssettings, rtc_settings = web_settings(args)
    s = pipeline.settings
    audio = getattr(pipeline, "audio", None)
    rtc = WebRTCHub(pipeline.hub, s.fps, rtc_settings, pipeline.metrics, size=(s.width, s.height), audio=audio)
    # the overlay page (OBS's Browser source) stays silent: OBS takes the sound from its own
    # audio sources, and a second copy there would echo
    overlay = WebRTCHub(pipeline.hub, s.fps, rtc_settings, pipeline.metrics, size=(s.width, s.height), packed=True)
    server = LiveServer(pipeline, ssettings, rtc, overlay)
    try:
        await server.start(listener)
    except OSError as e:
        raise DeviceUnavailableError(
            f"cannot listen on {ssettings.host}:{ssettings.port} ({e.strerror or e}) — pick another with --webrtc HOST:PORT"
        ) from None
    return server


def _one_line_stats(pipeline: Any) -> str:
    s = pipeline.metrics.snapshot()
    dropped = ", ".join(f"{n} {where}" for where, n in s["dropped"].items())
    parts = [f"capture {s['capture_fps']:.1f} fps", f"output {s['output_fps']:.1f} fps", f"dropped {dropped}"]
    # a sink with no fresh frame in the window (a viewer that left) has no latency: "–"
    parts += [f"{k} {v['fps']:.1f} fps, latency p50 {_ms(v['latency_p50_ms'])} p95 {_ms(v['latency_p95_ms'])}"
              for k, v in s["sinks"].items()]
    return " · ".join(parts)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _run_totals(pipeline: Any) -> str:
    """The whole run, for the line printed at the end: the last seconds' rates (``_one_line_stats``)
    read 0 fps for a viewer who had left before the stop."""
    s = pipeline.metrics.snapshot()
    parts = [f"{s['uptime_s']:.0f} s", f"{s['frames_output']} frames animated"]
    parts += [f"{k} {v['frames']} frames" for k, v in s["sinks"].items()]
    return ", ".join(parts)


def _print_summary(pipeline: Any) -> None:
    with contextlib.suppress(Exception):
        print(f"stopped after {_run_totals(pipeline)} · last {pipeline.metrics.window_s:.0f} s: "
              + _one_line_stats(pipeline), flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m streamfx.live.cli``: the same as ``streamfx live`` (handy while developing)."""
    from streamfx.argparsing import CommandLineParser

    parser = CommandLineParser(prog="streamfx live", description=__doc__)
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
