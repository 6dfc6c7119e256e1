"""`clmer serve` / `clmer stop`: the local services of a CLMER installation, on 127.0.0.1.

Starts a Prefect server, the MLflow server (mlflow/server.sh), deploys prefect.yaml into a process
work pool, then starts a worker for that pool and the drop watcher. Each process gets its own
session (so stop ends its children too), a pid file and a log under `serve.run_dir`.
This module launches programs; it imports neither Prefect nor MLflow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from clmer.config import Settings
from clmer.scratch import detached_env

PROJECT = Path(__file__).resolve().parents[2]
SERVICES = ("watcher", "worker", "mlflow", "prefect-server")  # stop order: reverse of start


def _env(settings: Settings, extra: dict | None = None) -> dict:
    s = settings.serve
    env = detached_env(dict(os.environ))  # the services outlive this process and its temp folder
    env.update({
        "PREFECT_API_URL": f"http://{s.host}:{s.prefect_port}/api",
        "PREFECT_HOME": env.get("PREFECT_HOME", str(PROJECT / ".prefect")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": str(s.worker_poll_seconds),
        "MLFLOW_TRACKING_URI": f"http://{s.host}:{s.mlflow_port}",
        "CLMER_PROJECT_DIR": str(PROJECT),
        "CLMER_WORK_POOL": s.work_pool,
        "CLMER_CORPUS": s.corpus,
        "GX_ANALYTICS_ENABLED": "False",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
    })
    env.update(extra or {})
    return env


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def _project_sqlite(uri: str) -> str:
    """A relative sqlite:/// path means relative to the project (where mlflow/server.sh lives)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((PROJECT / uri.removeprefix("sqlite:///")).resolve())
    return uri


def _start(name: str, cmd: list[str], env: dict, run_dir: Path) -> int:
    run_dir.mkdir(parents=True, exist_ok=True)
    pid_file = run_dir / f"{name}.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        return int(pid_file.read_text())
    log = open(run_dir / f"{name}.log", "ab")
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours is not alive
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _wait_http(url: str, seconds: float, name: str, run_dir: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except OSError:
            time.sleep(0.5)
    log = (run_dir / f"{name}.log").read_text(errors="replace")[-2000:] if (run_dir / f"{name}.log").exists() else ""
    raise RuntimeError(f"{name} did not answer at {url} within {seconds:.0f} s\n{log}")


def _run(cmd: list[str], env: dict, what: str) -> None:
    proc = subprocess.run(cmd, env=env, cwd=PROJECT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def serve(settings: Settings, extra_env: dict | None = None, watcher: bool = True) -> dict:
    """Start everything; returns the addresses. Idempotent: running services are left alone."""
    s = settings.serve
    run_dir = PROJECT / s.run_dir if not Path(s.run_dir).is_absolute() else Path(s.run_dir)
    env = _env(settings, extra_env)
    prefect = _bin("prefect")
    _start("prefect-server", [prefect, "server", "start", "--host", s.host, "--port", str(s.prefect_port)], env, run_dir)
    mlflow_env = env | {"MLFLOW_HOST": s.host, "MLFLOW_PORT": str(s.mlflow_port), "PYTHON": sys.executable}
    mlflow_env.setdefault("MLFLOW_BACKEND_STORE_URI", _project_sqlite(s.mlflow_backend_store))
    mlflow_env.setdefault("MLFLOW_ARTIFACTS_DESTINATION", str((PROJECT / s.mlflow_artifacts).resolve())
                          if "://" not in s.mlflow_artifacts else s.mlflow_artifacts)
    _start("mlflow", ["bash", str(PROJECT / "mlflow" / "server.sh")], mlflow_env, run_dir)
    _wait_http(f"http://{s.host}:{s.prefect_port}/api/health", 120, "prefect-server", run_dir)
    _wait_http(f"http://{s.host}:{s.mlflow_port}/health", 120, "mlflow", run_dir)
    _run([prefect, "work-pool", "create", s.work_pool, "--type", "process", "--overwrite"], env, "creating the work pool")
    _run([prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(PROJECT / "prefect.yaml")], env, "deploying")
    _start("worker", [prefect, "worker", "start", "--pool", s.work_pool, "--type", "process"], env, run_dir)
    if watcher:
        cmd = [sys.executable, "-m", "flows.watcher", "--state", str(run_dir / "watcher_state.json"),
               "--settle", str(settings.scoring.settle_seconds), "--exclude", str(settings.scoring.out_dir)]
        for folder in s.watch_folders:
            cmd += ["--folder", folder]
        for prefix in s.watch_s3:
            cmd += ["--s3", prefix]
        _start("watcher", cmd, env, run_dir)
    return {"prefect_ui": f"http://{s.host}:{s.prefect_port}", "mlflow_ui": f"http://{s.host}:{s.mlflow_port}",
            "run_dir": str(run_dir)}


def stop(settings: Settings, timeout: float = 30.0) -> list[str]:
    """End exactly the processes `serve` started (by pid file), their children with them."""
    s = settings.serve
    run_dir = PROJECT / s.run_dir if not Path(s.run_dir).is_absolute() else Path(s.run_dir)
    stopped = []
    for name in SERVICES:
        pid_file = run_dir / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        if _alive(pid):
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):  # the Prefect worker waits ~20 s on the first SIGTERM; a second ends it
                _signal_group(pid, signal.SIGKILL)
            stopped.append(name)
        pid_file.unlink(missing_ok=True)
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
