"""Decoding in a child process with a hard deadline: a file that hangs the decoder fails alone.

FFmpeg runs in C; a thread stuck in it cannot be stopped, and a crafted file can keep it busy for
minutes (a sparse file of zeros behind a container header makes some demuxers scan gigabytes) or
crash it. So extraction decodes through one `DecodeWorker` per chunk: a child process that gets
the already opened file descriptor (never a path, so it decodes the very file that was checked
and hashed), decodes, and sends the arrays back. When the deadline passes the child is killed,
that file fails with a clear error, and the next file starts a fresh child. The common path pays
one process start per chunk (about 0.3 s), not one per clip.

Run as `python -m clmer.data.decode_worker FD`: FD is its end of a socket pair.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from pathlib import Path

from clmer.data import files, media

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class DecodeWorker:
    """A lazily started decoding child; use as a context manager (the child ends with it)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self.started = 0  # children started so far (one, plus one per kill)

    def __enter__(self) -> "DecodeWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def decode(self, fd: int, display: str, timeout_s: float, **kwargs) -> media.DecodedMedia:
        """`media.decode` of the file behind `fd` (hashed as it is decoded: the result's `sha256` and
        `bytes_read`); `display` names it in errors and results."""
        return self._call("decode", fd, display, timeout_s, kwargs)

    def probe(self, fd: int, display: str, timeout_s: float, **kwargs) -> media.MediaProbe:
        return self._call("probe", fd, display, timeout_s, kwargs)

    def _call(self, op: str, fd: int, display: str, timeout_s: float, kwargs: dict):
        conn = self._start()
        conn.send((op, display, kwargs))
        send_handle(conn, fd, self._proc.pid)
        if not conn.poll(max(0.0, timeout_s)):
            self._kill()
            raise media.LimitExceededError(display, f"decoding ran past the per-file time limit of "
                                                    f"{max(0.0, timeout_s):.1f} s and was stopped")
        try:
            reply = conn.recv()
        except (EOFError, OSError):
            code = self._kill()
            raise media.MediaError(display, f"the decoder crashed on this file (exit status {code})") from None
        return _unpack(reply, display)

    def _start(self) -> Connection:
        if self._proc is not None and self._proc.poll() is None:
            return self._conn
        ours, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p))
        self._proc = subprocess.Popen([sys.executable, "-m", "clmer.data.decode_worker", str(theirs.fileno())],
                                      pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(ours.detach())
        self.started += 1
        return self._conn

    def _kill(self) -> int | None:
        """End the child now (it may be stuck in C code that ignores everything else)."""
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is None:
            return None
        proc.kill()
        return proc.wait()

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None and self._conn is not None:
            try:
                self._conn.send(None)  # a polite end; killed below if it does not take it
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()


def _unpack(reply: tuple, display: str):
    status = reply[0]
    if status == "ok":
        return reply[1]
    if status == "media":
        cls = getattr(media, reply[1], media.MediaError)
        raise cls(display, reply[2])
    raise media.MediaError(display, reply[1])


def _serve(conn: Connection) -> None:
    """The child's loop: one request at a time until told to stop or the parent goes away."""
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        op, display, kwargs = request
        fd = recv_handle(conn)
        conn.send(_run(op, fd, display, kwargs))


def _run(op: str, fd: int, display: str, kwargs: dict) -> tuple:
    """Decode or probe the file behind `fd` (this very file, whatever its name points to now), read
    through one `MediaReader`: a decode comes back with the file's hash and the bytes it read."""
    try:
        result = (media.decode if op == "decode" else media.probe)(files.MediaReader(fd), name=display, **kwargs)
        return ("ok", result)
    except media.MediaError as exc:
        return ("media", type(exc).__name__, exc.reason)
    except Exception as exc:  # anything else the decoder raises is still this file's failure
        return ("error", f"{exc.__class__.__name__}: {exc}")
    finally:
        os.close(fd)


def main() -> None:
    conn = Connection(int(sys.argv[1]))
    try:
        _serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
