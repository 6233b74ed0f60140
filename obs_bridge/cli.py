"""``streamfx obs setup|status|remove``: the AnimCam input in OBS Studio."""

from __future__ import annotations

import argparse
import os

from obs_bridge.bridge import (
    DEFAULT_OVERLAY,
    DEFAULT_STREAM,
    DEFAULT_URL,
    INPUT_NAME,
    MODES,
    Bridge,
)

PASSWORD_ENV = "OBS_WEBSOCKET_PASSWORD"


def add_obs_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="obs_command", required=True, metavar="ACTION")
    for name, text in (("setup", f"create or update the {INPUT_NAME} input in an OBS scene"),
                       ("status", f"is {INPUT_NAME} in OBS, and does it show frames"),
                       ("remove", f"remove the {INPUT_NAME} input from OBS")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--url", default=DEFAULT_URL, help=f"obs-websocket address (default {DEFAULT_URL})")
        s.add_argument("--password", help=f"obs-websocket password (default: ${PASSWORD_ENV}; it shows in the "
                       "process list, the environment does not)")
        if name == "setup":
            s.add_argument("--scene", help="scene to put it in (default: the program scene)")
            s.add_argument("--mode", choices=MODES, default="overlay",
                           help="overlay: on top of the scene, transparent around the portrait; camera: at the "
                                "bottom, like a camera picture (default overlay)")
            s.add_argument("--stream", default=DEFAULT_STREAM,
                           help=f"the stream `streamfx live --obs-stream` serves (default {DEFAULT_STREAM})")
            s.add_argument("--overlay", default=DEFAULT_OVERLAY,
                           help=f"the overlay page, where OBS has a Browser source (default {DEFAULT_OVERLAY})")
            s.add_argument("--source", choices=("auto", "browser", "media"), default="auto",
                           help="auto: a Browser source where OBS has one, else a Media source (default auto)")
            s.add_argument("--watch", action="store_true",
                           help=f"keep running and re-create {INPUT_NAME} if it is removed (Ctrl-C stops)")


def run_obs(args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else os.environ.get(PASSWORD_ENV)
    bridge = Bridge.connect(args.url, password)
    try:
        if args.obs_command == "setup":
            kw = {"scene": args.scene, "mode": args.mode, "stream": args.stream, "overlay": args.overlay,
                  "browser": {"auto": None, "browser": True, "media": False}[args.source]}
            print(bridge.setup(**kw), flush=True)  # type: ignore[arg-type]
            if args.watch:
                print(f"watching: {INPUT_NAME} is re-created if removed (Ctrl-C stops)", flush=True)
                bridge.watch(**kw)
            return 0
        if args.obs_command == "status":
            obs_v, ws_v = bridge.version()
            st = bridge.status()
            print(f"OBS {obs_v}, obs-websocket {ws_v}")
            if not st.exists:
                print(f"{INPUT_NAME}: not in OBS (streamfx obs setup adds it)")
                return 1
            scenes = ", ".join(repr(s) for s in st.scenes) or "no scene"
            shows = f"showing {st.size[0]}x{st.size[1]}" if st.showing and st.size else "no frame (is streamfx live running?)"
            print(f"{INPUT_NAME}: {st.kind} on {st.url}, in {scenes}; {shows}")
            return 0
        removed = bridge.remove()
        print(f"removed {INPUT_NAME}" if removed else f"{INPUT_NAME} was not in OBS")
        return 0
    finally:
        bridge.close()
