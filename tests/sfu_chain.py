"""The WHIP chain for tests: a real Janus + simple-whip-server in a network namespace of its own.

:class:`Chain` holds the namespace (scripts/sfu/sfu.py's NetNamespace), starts and kills the
SFU there (scripts/sfu/sfu.py start/kill) and runs ``streamfx live`` and the viewers in it.
Viewers run as child processes of this module (``python -m tests.sfu_chain pull …``) because
a socket belongs to the namespace of the process that opens it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SFU_SCRIPT = ROOT / "scripts" / "sfu" / "sfu.py"


def sfu_module() -> ModuleType:
    """scripts/sfu/sfu.py, imported (it is a script, not a package)."""
    if "streamfx_sfu" in sys.modules:
        return sys.modules["streamfx_sfu"]
    spec = importlib.util.spec_from_file_location("streamfx_sfu", SFU_SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["streamfx_sfu"] = mod
    spec.loader.exec_module(mod)
    return mod


def missing() -> str | None:
    """Why the SFU cannot run here (a reason to skip; a failure in CI), or None."""
    sfu = sfu_module()
    for tool in ("janus", "node", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed — run: bash scripts/sfu/install.sh"
    for path in (sfu.HOME / "simple-whip-server" / "src" / "server.js", sfu.HOME / "noloopback.so"):
        if not path.exists():
            return f"{path} is missing — run: bash scripts/sfu/install.sh"
    try:
        sfu.node_path()
    except sfu.SFUError as e:
        return str(e)
    return None


class Live:
    """``streamfx live`` in the namespace; its output lines, collected as they come."""

    def __init__(self, cmd: list[str]) -> None:
        # A native crash (a codec, the tracker) leaves no Python traceback: faulthandler
        # prints the threads' stacks, so a failure says where it died.
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 120) -> None:
        """Until ``pattern`` (a regex) matched ``count`` output lines; RuntimeError otherwise."""
        end = time.monotonic() + timeout
        with self._cond:
            while sum(1 for line in self.lines if re.search(pattern, line)) < count:
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._cond.wait(0.5)):
                    code = self.proc.poll()
                    how = "still running" if code is None else f"exited with {code}" + (
                        f" ({signal.Signals(-code).name})" if code < 0 and -code in signal.valid_signals() else "")
                    raise RuntimeError(f"no {pattern!r} (×{count}) from streamfx live ({how}) within "
                                       f"{timeout:g} s:\n{self.output[-3000:]}")
                self._cond.wait(min(left, 0.5))

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


class Chain:
    """A namespace with a running SFU; ``run_dir`` holds its configs and logs."""

    def __init__(self, run_dir: Path, *, token: str | None = None) -> None:
        self.sfu = sfu_module()
        self.run_dir = run_dir
        self.token = token
        self.ns = self.sfu.NetNamespace()  # SFUError when namespaces are not allowed
        self.info: dict = {}
        try:
            self.start_sfu()
        except BaseException:
            self.close()
            raise

    @property
    def whip_url(self) -> str:
        return str(self.info["whip_url"])

    @property
    def janus_url(self) -> str:
        return str(self.info["janus_url"])

    @property
    def room(self) -> int:
        return int(self.info["room"])

    def run(self, cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.ns.command(cmd), cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def start_sfu(self) -> None:
        """scripts/sfu/sfu.py start, in the namespace; RuntimeError with its one-line error."""
        cmd = [sys.executable, str(SFU_SCRIPT), "start", "--dir", str(self.run_dir)]
        if self.token:
            cmd += ["--token", self.token]
        p = self.run(cmd, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"the SFU did not start: {(p.stderr or p.stdout).strip()}")
        self.info = json.loads((self.run_dir / "sfu.json").read_text())

    def kill_sfu(self) -> None:
        """SIGKILL Janus and the WHIP server: a crash, no goodbye to anyone."""
        self.run([sys.executable, str(SFU_SCRIPT), "kill", "--dir", str(self.run_dir)], timeout=30)

    def live(self, *args: str) -> Live:
        return Live(self.ns.command([sys.executable, "-m", "streamfx", "live", "--no-vcam", "--webrtc-loopback",
                                     *args]))

    def helper(self, *args: str) -> subprocess.Popen[str]:
        """``python -m tests.sfu_chain ARGS`` in the namespace (a viewer, a second publisher)."""
        return subprocess.Popen(self.ns.command([sys.executable, "-m", "tests.sfu_chain", *args]), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def log(self, name: str) -> str:
        p = self.run_dir / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def close(self) -> None:
        try:
            self.kill_sfu()
        finally:
            self.ns.close()


def result(proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    """The JSON line a helper printed last (RuntimeError with its stderr if none)."""
    out, err = proc.communicate(timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"helper exited {proc.returncode} without a result:\n{err[-3000:]}")


# -- helpers run inside the namespace ------------------------------------------------------
async def _pull(a: argparse.Namespace) -> dict:
    from streamfx.web.client import pull_janus, pull_whep

    kw = {"seconds": a.seconds, "keep": a.keep, "keep_every": a.keep_every, "keep_from": a.keep_from,
          "loopback": True, "connect_timeout": a.connect_timeout}
    if a.janus_room is not None:
        r = await pull_janus(a.url, a.janus_room, **kw)  # type: ignore[arg-type]
    else:
        r = await pull_whep(a.url, **kw)  # type: ignore[arg-type]
    if a.out:
        np.savez_compressed(a.out, frames=np.array(r.images, np.uint8), arrivals=np.array(r.arrivals))
    return {"frames": r.frames, "fps": r.fps(), "sizes": sorted(r.sizes), "first_frame_s": r.first_frame_s,
            "span_s": (r.arrivals[-1] - r.arrivals[0]) if len(r.arrivals) > 1 else 0.0}


def _publish_once(a: argparse.Namespace) -> dict:
    """Open a WhipSink (the endpoint must be free), see it go live, close it (DELETE)."""
    from streamfx.errors import WhipError
    from streamfx.sinks.whip import WhipSink
    from streamfx.web.webrtc import WebRTCSettings

    sink = WhipSink(a.url, token=a.token, settings=WebRTCSettings(loopback=True))
    try:
        sink.open(320, 240, 15)
    except WhipError as e:
        return {"ok": False, "status": e.status, "error": str(e)}
    try:
        end = time.monotonic() + 15
        while sink.state != "live" and time.monotonic() < end:
            sink.write(np.full((240, 320, 3), 128, np.uint8))
            time.sleep(0.05)
        return {"ok": sink.state == "live", "state": sink.state, "status": 201}
    finally:
        sink.close()


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pull = sub.add_parser("pull", help="receive the stream (Janus subscriber or WHEP viewer)")
    pull.add_argument("url")
    pull.add_argument("--janus-room", type=int)
    pull.add_argument("--seconds", type=float, default=5.0)
    pull.add_argument("--keep", type=int, default=0)
    pull.add_argument("--keep-every", type=int, default=1)
    pull.add_argument("--keep-from", type=int, default=0)
    pull.add_argument("--connect-timeout", type=float, default=60.0)
    pull.add_argument("--out")
    pub = sub.add_parser("publish-once", help="publish a grey picture over WHIP, then DELETE")
    pub.add_argument("url")
    pub.add_argument("--token")
    a = p.parse_args()
    out = asyncio.run(_pull(a)) if a.cmd == "pull" else _publish_once(a)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
