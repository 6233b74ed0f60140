"""Run Debian's OBS Studio headless (under Xvfb) with obs-websocket on: for tests and measurements.

What a trial of obs-studio 29 (obs-websocket 5.1) showed, and this follows: OBS needs an
X server (``QT_QPA_PLATFORM=offscreen`` makes it exit), so it runs under Xvfb; a fresh
``HOME`` whose ``global.ini`` switches off the first-run wizard, the updater and the exit
confirmation, and switches the WebSocket server on (OBS 29 keeps those settings in
global.ini); the socket answers within a second. It is stopped with SIGINT to its own PID,
and a clean shutdown is judged by the last line of its log, not by its exit status.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

OBS = "obs"
XVFB = "Xvfb"
#: The last line of OBS's log after a clean shutdown (29: the leak report; older: the context freed)
LEAK_REPORT = "Number of memory leaks"
CLEAN_EXIT = "Freeing OBS context data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_display() -> int:
    for n in range(90, 400):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number between :90 and :399")


def available() -> str | None:
    """None when OBS and Xvfb are installed, else what is missing (for a skip or an error)."""
    missing = [exe for exe in (OBS, XVFB) if shutil.which(exe) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed (apt-get install obs-studio xvfb; "
                "scripts/install_system_deps.sh does it)")
    return None


class HeadlessOBS:
    """OBS + Xvfb, started by :meth:`start` (or ``with``), obs-websocket on 127.0.0.1:``port``.

    ``password`` switches authentication on. :meth:`start` raises RuntimeError, with the
    end of OBS's log, when OBS does not come up.
    """

    def __init__(self, port: int | None = None, password: str | None = None, *, size: tuple[int, int] = (1280, 720),
                 timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.password = password
        self.size = size
        self.timeout = timeout
        self.home = Path(tempfile.mkdtemp(prefix="streamfx-obs-"))
        self.log = self.home / "obs.log"
        self.display = 0
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.obs: subprocess.Popen[bytes] | None = None
        self.last_log = ""
        """The end of OBS's log, kept by :meth:`stop` (the log itself goes with the temporary HOME)."""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        cfg = self.home / ".config" / "obs-studio"
        cfg.mkdir(parents=True, exist_ok=True)
        auth = "true" if self.password else "false"
        lines = ["[General]", "FirstRun=true", "EnableAutoUpdates=false", "ConfirmOnExit=false", "",
                 "[OBSWebSocket]", "FirstLoad=false", "ServerEnabled=true", f"ServerPort={self.port}",
                 "AlertsEnabled=false", f"AuthRequired={auth}"]
        if self.password:
            lines.append(f"ServerPassword={self.password}")
        (cfg / "global.ini").write_text("\n".join(lines) + "\n")
        # the base canvas: a profile of our own at the wanted size
        prof = cfg / "basic" / "profiles" / "StreamFX"
        prof.mkdir(parents=True, exist_ok=True)
        w, h = self.size
        (prof / "basic.ini").write_text(f"[General]\nName=StreamFX\n\n[Video]\nBaseCX={w}\nBaseCY={h}\n"
                                        f"OutputCX={w}\nOutputCY={h}\nFPSType=0\nFPSCommon=30\n")
        with (cfg / "global.ini").open("a") as f:
            f.write("\n[Basic]\nProfile=StreamFX\nProfileDir=StreamFX\n")

    def start(self) -> HeadlessOBS:
        missing = available()
        if missing:
            raise RuntimeError(missing)
        self._write_config()
        self.display = _free_display()
        self.xvfb = subprocess.Popen([XVFB, f":{self.display}", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{self.display}").exists():
            if self.xvfb.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Xvfb :{self.display} did not start")
            time.sleep(0.05)
        # no QT_* from this process: importing OpenCV points QT_QPA_PLATFORM_PLUGIN_PATH at its
        # own Qt's plugins, which OBS's Qt cannot load; and QT_QPA_PLATFORM=offscreen makes OBS exit
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
        env.update(HOME=str(self.home), DISPLAY=f":{self.display}")
        with self.log.open("wb") as out:
            self.obs = subprocess.Popen([OBS, "--multi", "--disable-updater", "--disable-missing-files-check"],
                                        env=env, cwd=self.home, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.obs.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"OBS exited with status {self.obs.returncode} while starting:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise RuntimeError(f"obs-websocket did not answer on port {self.port} within "
                                       f"{self.timeout:g} s:\n{tail}") from None
                time.sleep(0.1)
        return self

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGINT to OBS, then Xvfb down; True when OBS's log ends as a clean shutdown ends."""
        clean = False
        if self.obs is not None and self.obs.poll() is None:
            self.obs.send_signal(signal.SIGINT)
            try:
                self.obs.wait(timeout)
            except subprocess.TimeoutExpired:
                self.obs.kill()
                self.obs.wait(5)
        if self.obs is not None:
            self.last_log = self.log_tail()
            last = self.last_log.splitlines()[-1] if self.last_log else ""
            clean = CLEAN_EXIT in last or LEAK_REPORT in last
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
            try:
                self.xvfb.wait(5)
            except subprocess.TimeoutExpired:
                self.xvfb.kill()
        shutil.rmtree(self.home, ignore_errors=True)
        return clean

    def __enter__(self) -> HeadlessOBS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
