"""Starting, checking and ending the long-running processes of `clmer serve`, by pid file.

Each process gets its own session (so its children end with it), a pid file (`<name>.pid`, one line)
and a log. Ports are checked before anything starts, and a health check only counts when the
listener on the port belongs to the process this serve started: a port answered by someone else's
server must never pass for ours.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil


_EXCEPTION = re.compile(r"^[\w.]+(Error|Exception|Exit|Interrupt|Warning)\b.*")  # "ValueError: ..." in a log


class ServiceError(RuntimeError):
    """A service could not start or is not ours; the message says which and what to do."""


def read_pid(run_dir: Path, name: str) -> int | None:
    try:
        return int((run_dir / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def running(run_dir: Path, name: str) -> int | None:
    """The pid of a service this serve started and that still runs, else None."""
    pid = read_pid(run_dir, name)
    return pid if pid is not None and alive(pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours is not alive
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def start(name: str, cmd: list[str], env: dict, run_dir: Path, cwd: Path) -> int:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (run_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def port_holder(port: int) -> str | None:
    """Who listens on `port`: 'pid N (command)', 'a process of another user', or None if nobody."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        conns = []
    for c in conns:
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN:
            if c.pid is None:
                return "a process of another user"
            try:
                cmd = " ".join(psutil.Process(c.pid).cmdline()[:4])
            except psutil.Error:
                cmd = "?"
            return f"pid {c.pid} ({cmd[:120]})"
    return None


def check_port_free(host: str, port: int, what: str, setting: str) -> None:
    """Fail before starting anything if `port` is taken, naming its holder and the setting to change."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # as the servers do: connections of a just-stopped server in TIME_WAIT must not count as taken
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return
        except OSError:
            pass
    holder = port_holder(port) or "another process"
    raise ServiceError(f"port {port} on {host} ({what}) is already taken by {holder}: stop it, or choose a free "
                       f"port with {setting} in your settings file")


def listens(pid: int, port: int) -> bool:
    """True if `pid` or one of its descendants listens on `port`."""
    try:
        family = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return False
    for proc in family:
        try:
            if any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in proc.net_connections(kind="tcp")):
                return True
        except psutil.Error:
            continue
    return False


def wait_healthy(url: str, pid: int, port: int, seconds: float, name: str, run_dir: Path) -> float:
    """Until `url` answers and the answer comes from `pid`'s own listener; returns the seconds it took.
    Fails at once if the process died (its log tail says why)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if not alive(pid):
            raise ServiceError(f"{name} (pid {pid}) exited while starting; its log ends:\n{log_tail(run_dir, name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500 and listens(pid, port):
                    return time.monotonic() - t0
                if resp.status < 500:
                    holder = port_holder(port) or "another process"
                    raise ServiceError(f"{url} answers, but from {holder}, not from the {name} this serve started "
                                       f"(pid {pid}): free port {port} or choose another")
        except OSError:
            pass
        time.sleep(0.5)
    raise ServiceError(f"{name} did not answer at {url} within {seconds:.0f} s; its log ends:\n{log_tail(run_dir, name)}")


def log_tail(run_dir: Path, name: str, chars: int = 2000) -> str:
    path = run_dir / f"{name}.log"
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def last_error(run_dir: Path, name: str) -> str | None:
    """Why a service died: its log's last exception line (else its last line), when its pid file is
    still there but the process is gone; `stop` removes the pid file, so a service stopped on purpose
    has none. None when it runs, was stopped, or left no log."""
    pid = read_pid(run_dir, name)
    path = run_dir / f"{name}.log"
    if pid is None or alive(pid) or not path.exists():
        return None
    lines = [line.strip() for line in log_tail(run_dir, name, 20_000).splitlines() if line.strip()]
    if not lines:
        return None
    after = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Traceback")), None)
    # the exception is the first line after the traceback's frames (indented "File ..." lines and code)
    tail = [ln for ln in lines[after + 1:] if not ln.startswith(("File ", "^", "~"))] if after is not None else []
    found = next((ln for ln in tail if _EXCEPTION.match(ln)), None) or lines[-1]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime))
    return f"{found[:300]} (at {when}; log: {path})"


def stop(run_dir: Path, name: str, timeout: float) -> bool:
    """End a service, its process group and every descendant (a Prefect worker starts each flow run in
    a session of its own, which a group signal would miss). Returns whether it was running."""
    pid = read_pid(run_dir, name)
    was_running = pid is not None and alive(pid)
    if was_running:
        try:
            family = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            family = []
        _signal_group(pid, signal.SIGTERM)
        for child in family:
            _signal(child, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):  # the Prefect worker waits ~20 s on the first SIGTERM; a second signal ends it
            _signal_group(pid, signal.SIGKILL)
        _, left = psutil.wait_procs(family, timeout=5)
        for child in left:
            _signal(child, signal.SIGKILL)
    (run_dir / f"{name}.pid").unlink(missing_ok=True)
    return was_running


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
