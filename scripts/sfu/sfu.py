#!/usr/bin/env python3
"""Run a real Janus SFU with a WHIP ingest on this machine: start, stop, status.

    bash scripts/sfu/install.sh                       # once: Janus, simple-whip-server, the shim
    python3 scripts/sfu/sfu.py start                  # prints the WHIP URL to give streamfx live
    streamfx live --whip http://127.0.0.1:7080/whip/endpoint/streamfx --webrtc-loopback
    python3 scripts/sfu/sfu.py stop

What runs (all bound to 127.0.0.1, files under ``--dir``, default build/sfu/run):

* **Janus** (Debian's 1.1.2): HTTP API on ``--http-port`` (viewers subscribe there),
  WebSocket API on ``--ws-port`` (for the WHIP server), only the VideoRoom plugin, and one
  room (``--room``, made in its config so it exists again whenever Janus restarts).
  ICE uses only the addresses of ``--ice-enforce`` (default 127.0.0.1). libnice never
  gathers loopback interfaces, so Janus runs with ``noloopback.so`` preloaded (see
  noloopback.c). For a publisher or viewers on other machines pass e.g.
  ``--ice-enforce eth0``.
* **simple-whip-server** (Debian's, Node.js) on ``--whip-port``, with one WHIP endpoint
  (``--endpoint``, optionally protected by ``--token``) that publishes into the room.

Only the standard library: this runs under any python3 (CI, a user's machine).
Exit status: 0 when everything answered; 1 with one line saying what did not.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOME = Path(os.environ.get("STREAMFX_SFU_HOME", ROOT / "build" / "sfu"))
DEFAULT_RUN = HOME / "run"
UNUSED_PLUGINS = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming",
                  "textroom", "videocall", "voicemail")
UNUSED_TRANSPORTS = ("mqtt", "nanomsg", "pfunix", "rabbitmq")


class SFUError(Exception):
    """The SFU could not be started (the message is one line with the fix)."""


@dataclass
class SFU:
    """Where a started SFU listens; also what ``status`` prints."""

    run_dir: Path
    http_port: int = 8088
    ws_port: int = 8188
    whip_port: int = 7080
    room: int = 1234
    endpoint: str = "streamfx"
    token: str | None = None

    @property
    def janus_url(self) -> str:
        """Janus' HTTP API (subscribers attach here)."""
        return f"http://127.0.0.1:{self.http_port}/janus"

    @property
    def whip_url(self) -> str:
        """The WHIP endpoint to publish to (``streamfx live --whip``)."""
        return f"http://127.0.0.1:{self.whip_port}/whip/endpoint/{self.endpoint}"

    def save(self) -> None:
        (self.run_dir / "sfu.json").write_text(json.dumps({
            "http_port": self.http_port, "ws_port": self.ws_port, "whip_port": self.whip_port,
            "room": self.room, "endpoint": self.endpoint, "token": self.token,
            "janus_url": self.janus_url, "whip_url": self.whip_url,
        }, indent=1))

    @classmethod
    def load(cls, run_dir: Path) -> SFU:
        d = json.loads((run_dir / "sfu.json").read_text())
        return cls(run_dir, d["http_port"], d["ws_port"], d["whip_port"], d["room"], d["endpoint"], d["token"])


# -- configuration -----------------------------------------------------------------------
def _janus_lib() -> Path:
    for d in sorted(glob.glob("/usr/lib/*/janus")) + ["/usr/lib/janus", "/opt/janus/lib/janus"]:
        if Path(d, "plugins", "libjanus_videoroom.so").exists():
            return Path(d)
    raise SFUError("Janus' VideoRoom plugin is not installed — run: bash scripts/sfu/install.sh")


def write_configs(sfu: SFU, ice_enforce: str) -> Path:
    """Janus' configuration folder for ``sfu`` (only what differs from Janus' defaults)."""
    conf = sfu.run_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    lib = _janus_lib()
    (conf / "janus.jcfg").write_text(f"""general: {{
	configs_folder = "{conf}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	debug_level = 4
	server_name = "StreamFX SFU"
}}
nat: {{
	nice_debug = false
	# only these addresses become ICE candidates (noloopback.so lets 127.0.0.1 be one)
	ice_enforce_list = "{ice_enforce}"
	ignore_mdns = true
}}
plugins: {{
	disable = "{','.join(f'libjanus_{p}.so' for p in UNUSED_PLUGINS)}"
}}
transports: {{
	disable = "{','.join(f'libjanus_{t}.so' for t in UNUSED_TRANSPORTS)}"
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
events: {{
	broadcast = false
}}
""")
    (conf / "janus.transport.http.jcfg").write_text(f"""general: {{
	json = "compact"
	base_path = "/janus"
	http = true
	port = {sfu.http_port}
	ip = "127.0.0.1"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
""")
    (conf / "janus.transport.websockets.jcfg").write_text(f"""general: {{
	json = "compact"
	ws = true
	ws_port = {sfu.ws_port}
	ws_ip = "127.0.0.1"
	wss = false
}}
admin: {{
	admin_ws = false
	admin_wss = false
}}
""")
    # The room must exist before anyone publishes; made here it also survives a restart.
    # fir_freq: a keyframe every 2 s, so a viewer who joins mid-stream sees a picture soon.
    (conf / "janus.plugin.videoroom.jcfg").write_text(f"""general: {{
}}
room-{sfu.room}: {{
	description = "StreamFX"
	publishers = 3
	bitrate = 0
	fir_freq = 2
	videocodec = "vp8,h264"
	record = false
	notify_joining = false
}}
""")
    return conf


# -- processes ---------------------------------------------------------------------------
def _get(url: str, timeout: float = 1.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def _wait(what: str, url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise SFUError(f"{what} exited with {proc.returncode} ({' / '.join(tail)}) — see {log}")
        try:
            _get(url)
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise SFUError(f"{what} did not answer at {url} within {timeout:g} s — see {log}")


def _spawn(cmd: list[str], log: Path, pidfile: Path, **kw: object) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 - handed to the child, which outlives this process
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, **kw)  # type: ignore[call-overload]
    pidfile.write_text(str(proc.pid))
    return proc


def node_path() -> str | None:
    """NODE_PATH for simple-whip-server: None when npm installed its modules, else Debian's
    unpacked node-* packages (install.sh's fallback); SFUError when neither is there."""
    if (HOME / "simple-whip-server" / "node_modules" / ".streamfx-installed").exists():
        return None
    debian = HOME / "debian-node"
    if (debian / ".streamfx-installed").exists():
        return os.pathsep.join(str(d) for d in [debian / "usr/share/nodejs", *sorted(debian.glob("usr/lib/*/nodejs"))])
    raise SFUError("simple-whip-server's Node.js modules are missing — run: bash scripts/sfu/install.sh")


def start(sfu: SFU, *, ice_enforce: str = "127.0.0.1", timeout: float = 30.0) -> SFU:
    """Start Janus and the WHIP server (detached), create the WHIP endpoint, return ``sfu``.

    Raises SFUError (one line) when something is missing or does not come up; whatever did
    start is stopped again.
    """
    sws = HOME / "simple-whip-server"
    shim = HOME / "noloopback.so"
    for path in (sws / "src" / "server.js", shim):
        if not path.exists():
            raise SFUError(f"{path} is missing — run: bash scripts/sfu/install.sh")
    modules = node_path()
    janus, node = shutil.which("janus"), shutil.which("node")
    if janus is None or node is None:
        raise SFUError(f"{'janus' if janus is None else 'node'} is not installed — run: bash scripts/sfu/install.sh")
    sfu.run_dir.mkdir(parents=True, exist_ok=True)
    if running(sfu.run_dir):
        raise SFUError(f"an SFU from {sfu.run_dir} is already running — stop it first: sfu.py stop --dir {sfu.run_dir}")
    conf = write_configs(sfu, ice_enforce)
    sfu.save()
    try:
        jlog = sfu.run_dir / "janus.log"
        jp = _spawn([janus, "-C", str(conf / "janus.jcfg"), "-F", str(conf), "-o"], jlog,
                    sfu.run_dir / "janus.pid", env={**os.environ, "LD_PRELOAD": str(shim)})
        _wait("Janus", f"{sfu.janus_url}/info", jp, jlog, timeout)
        wlog = sfu.run_dir / "whip.log"
        env = {**os.environ, "STREAMFX_JANUS_WS": f"ws://127.0.0.1:{sfu.ws_port}",
               "STREAMFX_WHIP_HOST": "127.0.0.1", "STREAMFX_WHIP_PORT": str(sfu.whip_port),
               "DEBUG": "whip:*,-whip:debug", "DEBUG_COLORS": "0", "NODE_ENV": "production"}
        if modules is not None:
            env["NODE_PATH"] = modules
        wp = _spawn([node, "src/server.js"], wlog, sfu.run_dir / "whip.pid", cwd=sws, env=env)
        _wait("simple-whip-server", f"http://127.0.0.1:{sfu.whip_port}/whip/healthcheck", wp, wlog, timeout)
        create_endpoint(sfu)
    except BaseException:
        stop(sfu.run_dir)
        raise
    return sfu


def create_endpoint(sfu: SFU) -> None:
    """The WHIP endpoint ``sfu.endpoint`` → VideoRoom ``sfu.room`` (simple-whip-server's own API)."""
    body = {"id": sfu.endpoint, "room": sfu.room, "label": "StreamFX"}
    if sfu.token:
        body["token"] = sfu.token
    req = urllib.request.Request(f"http://127.0.0.1:{sfu.whip_port}/whip/create", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5):
            pass
    except urllib.error.HTTPError as e:
        raise SFUError(f"creating the WHIP endpoint failed (HTTP {e.code}: {e.read().decode(errors='replace')})") from None


def _pid(run_dir: Path, name: str) -> int | None:
    try:
        pid = int((run_dir / f"{name}.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def running(run_dir: Path) -> dict[str, int]:
    return {n: p for n in ("janus", "whip") if (p := _pid(run_dir, n)) is not None}


def stop(run_dir: Path, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop what ``start`` started in ``run_dir`` (SIGKILL: a crash, for tests). Never raises."""
    for name in ("whip", "janus"):
        pid = _pid(run_dir, name)
        if pid is None:
            continue
        try:
            os.kill(pid, sig)
        except OSError:
            continue
        end = time.monotonic() + timeout
        while time.monotonic() < end and _pid(run_dir, name) is not None:
            _reap(pid)
            time.sleep(0.05)
        if _pid(run_dir, name) is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            _reap(pid)
        (run_dir / f"{name}.pid").unlink(missing_ok=True)


def _reap(pid: int) -> None:
    # a child of this very process (tests call start() in-process) stays a zombie until waited
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# -- a network namespace of its own (tests, measurements) --------------------------------
_LO_UP = """
import fcntl, signal, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
print("up", flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
signal.pause()
"""


class NetNamespace:
    """A new network namespace with only ``lo`` (brought up), held open by a sleeping child.

    The whole chain (Janus, the WHIP server, ``streamfx live``, the viewers) runs in it:
    no port collides with anything on the host, no candidate but 127.0.0.1 exists, and
    nothing can leave the machine. Commands enter it with ``nsenter`` (util-linux); both
    need root (CAP_SYS_ADMIN). Raises SFUError when namespaces are not allowed here.
    """

    def __init__(self) -> None:
        if shutil.which("unshare") is None or shutil.which("nsenter") is None:
            raise SFUError("unshare/nsenter are missing — install util-linux")
        self.holder = subprocess.Popen(["unshare", "-n", sys.executable, "-c", _LO_UP], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "up":
            err = (self.holder.stderr.read() if self.holder.stderr else "").strip().splitlines()
            self.holder.kill()
            self.holder.wait()
            raise SFUError(f"cannot make a network namespace ({' / '.join(err[-2:]) or 'unshare -n failed'}) "
                           "— run as root, or in a container with CAP_SYS_ADMIN")

    def command(self, cmd: list[str]) -> list[str]:
        """``cmd`` run inside the namespace."""
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *cmd]

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.terminate()
            try:
                self.holder.wait(5)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()

    def __enter__(self) -> NetNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("start", "stop", "kill", "status"))
    p.add_argument("--dir", type=Path, default=DEFAULT_RUN, help=f"configs, logs and pids (default {DEFAULT_RUN})")
    p.add_argument("--http-port", type=int, default=8088, help="Janus HTTP API (default 8088)")
    p.add_argument("--ws-port", type=int, default=8188, help="Janus WebSocket API (default 8188)")
    p.add_argument("--whip-port", type=int, default=7080, help="WHIP server (default 7080)")
    p.add_argument("--room", type=int, default=1234, help="VideoRoom room (default 1234)")
    p.add_argument("--endpoint", default="streamfx", help="WHIP endpoint id (default streamfx)")
    p.add_argument("--token", help="Bearer token the WHIP endpoint requires (default: none)")
    p.add_argument("--ice-enforce", default="127.0.0.1",
                   help="interfaces/addresses Janus offers as ICE candidates (default 127.0.0.1)")
    a = p.parse_args(argv)
    run_dir = a.dir.resolve()
    try:
        if a.command == "start":
            sfu = start(SFU(run_dir, a.http_port, a.ws_port, a.whip_port, a.room, a.endpoint, a.token),
                        ice_enforce=a.ice_enforce)
            print(f"WHIP:  {sfu.whip_url}" + (" (Bearer token required)" if sfu.token else ""), flush=True)
            print(f"Janus: {sfu.janus_url} (VideoRoom room {sfu.room})", flush=True)
        elif a.command in ("stop", "kill"):
            stop(run_dir, sig=signal.SIGTERM if a.command == "stop" else signal.SIGKILL)
        else:
            procs = running(run_dir)
            print(json.dumps({"running": procs, **(json.loads((run_dir / "sfu.json").read_text())
                                                    if (run_dir / "sfu.json").exists() else {})}))
            return 0 if len(procs) == 2 else 1
    except SFUError as e:
        print(f"sfu.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
