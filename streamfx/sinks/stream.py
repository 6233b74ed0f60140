"""A low-latency stream with alpha for OBS's Media source: NUT + raw BGRA over TCP on loopback.

OBS's Media source (``ffmpeg_source``) exists in every OBS build, unlike the Browser
source (absent from Linux distribution builds). It plays any FFmpeg input, and maps raw
BGRA frames to its own BGRA textures: the alpha arrives untouched. Raw video costs no
encoding at all (a 720p frame is 3.7 MB; 30 fps is ~110 MB/s, which loopback carries
without effort), and NUT needs no probing, so OBS shows the first frame within a second
and then stays a frame or two behind (``fflags=nobuffer``).

Each client (OBS, ffplay, ``ffprobe tcp://…``) gets its own muxer on its own thread, fed
the newest frame through a one-slot hub: a slow client skips frames, it never delays the
others or the pipeline. Timestamps are wall-clock milliseconds, so OBS shows each frame
when it was made even when the pipeline's rate varies.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from streamfx.errors import DeviceUnavailableError
from streamfx.live.hub import LatestFrameHub
from streamfx.sinks.base import FrameSink, register_sink

log = logging.getLogger("streamfx.live")

DEFAULT_STREAM = "127.0.0.1:8091"
#: players served at once (each has its own thread and ~110 MB/s of raw 720p); more are refused
MAX_CLIENTS = 4
#: What OBS's Media source is told about the stream (obs_bridge puts these in its settings).
STREAM_FORMAT = "nut"
FFMPEG_OPTIONS = "fflags=nobuffer"
_MS = Fraction(1, 1000)


def stream_url(host: str, port: int) -> str:
    """The URL a player opens: ``tcp://HOST:PORT``."""
    return f"tcp://{host}:{port}"


@register_sink("obs-stream")
class AlphaStreamSink(FrameSink):
    """Serve frames as NUT (raw BGRA, alpha kept) to every TCP client of ``host``:``port``.

    ``port`` 0 picks a free one (see :attr:`port`). RGB frames go out opaque. Raises
    DeviceUnavailableError (one line) when it cannot listen there.
    """

    name = "obs-stream"
    accepts_alpha = True

    def __init__(self, host: str = "127.0.0.1", port: int = 8091) -> None:
        self.host = host
        try:
            self._server = socket.create_server((host, port), backlog=8)
        except OSError as e:
            raise DeviceUnavailableError(
                f"cannot serve the OBS stream on {host}:{port} ({e.strerror or e}) — pick another with "
                "--obs-stream HOST:PORT, or --no-obs-stream"
            ) from None
        self.port: int = self._server.getsockname()[1]
        self.width = self.height = 0
        self.fps = 30.0
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._start = time.perf_counter()
        self._accepting = threading.Thread(target=self._accept, name="streamfx-obs-stream", daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return stream_url(self.host, self.port)

    @property
    def clients(self) -> int:
        with self._lock:
            return sum(1 for c in self._clients if c.alive)

    def open(self, width: int, height: int, fps: float = 30.0) -> None:
        self.width, self.height, self.fps = width, height, fps

    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        with self._lock:
            self._clients = [c for c in self._clients if c.alive]
            clients = list(self._clients)
        if not clients:
            return
        # one conversion for every client; BGRA is what OBS uploads as is
        code = cv2.COLOR_RGBA2BGRA if frame.shape[2] == 4 else cv2.COLOR_RGB2BGRA
        bgra = cv2.cvtColor(np.ascontiguousarray(frame), code)
        t = (timestamp if timestamp is not None else time.perf_counter()) - self._start
        for c in clients:
            c.hub.publish((max(0, round(t * 1000)), bgra))

    def close(self) -> None:
        self._closed.set()
        try:
            self._server.close()
        except OSError:
            pass
        with self._lock:
            clients, self._clients = self._clients, []
        for c in clients:
            c.close()

    # -- clients -------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, addr = self._server.accept()
            except OSError:
                return  # closed
            if self.width == 0:
                conn.close()  # not open yet: nothing to say what size the stream is
                continue
            with self._lock:
                full = sum(1 for c in self._clients if c.alive) >= MAX_CLIENTS
            if full:
                log.warning("OBS stream: refused %s:%d — already %d players", addr[0], addr[1], MAX_CLIENTS)
                conn.close()
                continue
            log.info("OBS stream: client %s:%d connected", addr[0], addr[1])
            client = _Client(conn, self.width, self.height)
            with self._lock:
                self._clients.append(client)


class _SocketWriter(io.RawIOBase):
    """A socket as the file PyAV's muxer writes to: every write is sent whole.

    ``socket.makefile("wb", buffering=0)`` returns ``send()``'s count, which may be short
    (a signal during the send, a socket with a timeout); PyAV hands that count to FFmpeg,
    whose AVIO does not send the rest, and the player would get a truncated frame.
    ``sendall`` sends all or raises OSError (the player is gone).
    """

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = memoryview(b)
        self._conn.sendall(data)
        return data.nbytes


class _Client:
    """One connected player: its own NUT muxer, fed the newest frame on its own thread."""

    def __init__(self, conn: socket.socket, width: int, height: int) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = conn
        self.width, self.height = width, height
        self.hub: LatestFrameHub[tuple[int, np.ndarray]] = LatestFrameHub()
        self.alive = True
        self.thread = threading.Thread(target=self._run, name="streamfx-obs-client", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import av  # here, not at the top: `streamfx obs …` and `--help` import this module for its constants

        out: Any = None
        try:
            out = av.open(_SocketWriter(self.conn), mode="w", format=STREAM_FORMAT,
                          # NUT calls raw BGRA "experimental"; FFmpeg and OBS read it fine
                          options={"strict": "experimental"})
            stream = out.add_stream("rawvideo", rate=30)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "bgra"
            stream.codec_context.time_base = _MS
            seq, last_pts = 0, -1
            while self.alive:
                got = self.hub.wait_newer(seq, timeout=0.5)
                if self.hub.closed:
                    break
                if got is None:
                    continue
                seq, (pts, bgra) = got
                if pts <= last_pts:
                    continue
                last_pts = pts
                vf = av.VideoFrame.from_ndarray(bgra, format="bgra")
                vf.pts, vf.time_base = pts, _MS
                for packet in stream.encode(vf):
                    out.mux(packet)
        except (OSError, av.FFmpegError, ValueError) as e:
            log.info("OBS stream: client gone (%s)", e)
        finally:
            self.alive = False
            if out is not None:
                try:
                    out.close()
                except Exception:  # noqa: BLE001 - the peer is gone; nothing to flush to
                    pass
            self.conn.close()

    def close(self) -> None:
        self.alive = False
        self.hub.close()
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(2)
