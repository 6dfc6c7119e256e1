"""`clmer serve` / `clmer stop`: the local services of a CLMER installation.

Starts a Prefect server and the MLflow server (mlflow/server.sh), recovers runs orphaned by an earlier
stop, deploys prefect.yaml into a process work pool, then starts a worker for that pool and the drop
watcher. Ports are checked first; beyond loopback, logins are required (clmer/ops/auth.py).
`serve` remembers the settings it started with (`serve.json` in serve.run_dir): called again with
other settings it restarts what depends on them. This module launches programs; it imports neither
Prefect nor MLflow.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from clmer import atomic
from clmer.config import Settings
from clmer.names import utc_now
from clmer.ops import auth as auth_mod
from clmer.ops import processes as proc
from clmer.ops.prefect_api import PrefectAPI
from clmer.scratch import detached_env

PROJECT = Path(__file__).resolve().parents[2]
SERVERS = ("prefect-server", "mlflow")
RUNNERS = ("worker", "watcher")
SERVICES = ("watcher", "worker", "mlflow", "prefect-server")  # stop order: reverse of start
STATE = "serve.json"


def run_dir_of(settings: Settings) -> Path:
    path = Path(settings.serve.run_dir)
    return path if path.is_absolute() else PROJECT / path


def urls(settings: Settings) -> dict[str, str]:
    s = settings.serve
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host  # where this machine reaches them
    return {"prefect_api": f"http://{host}:{s.prefect_port}/api", "prefect_ui": f"http://{host}:{s.prefect_port}",
            "mlflow": f"http://{host}:{s.mlflow_port}"}


def public_urls(settings: Settings) -> dict[str, str]:
    """Where people open the two UIs (the links they are given): the public URLs when set."""
    s, u = settings.serve, urls(settings)
    return {"prefect_ui": (s.prefect_public_url or u["prefect_ui"]).rstrip("/"),
            "mlflow_ui": (s.mlflow_public_url or u["mlflow"]).rstrip("/")}


def _env(settings: Settings, extra: dict | None = None, auth: auth_mod.Auth | None = None) -> dict:
    """A client's environment (worker, watcher, flows, deploy): the stack's addresses and, with auth on,
    the Prefect auth string and the pipeline's MLflow account; never a server-only secret."""
    s = settings.serve
    u = urls(settings)
    # the services outlive this process and its temp folder
    env = auth_mod.client_env_without_server_secrets(detached_env(dict(os.environ)) | (extra or {}))
    env.update({
        "PREFECT_API_URL": u["prefect_api"],
        "PREFECT_HOME": env.get("PREFECT_HOME", str(PROJECT / ".prefect")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": str(s.worker_poll_seconds),
        "MLFLOW_TRACKING_URI": u["mlflow"],
        "CLMER_PROJECT_DIR": str(PROJECT),
        "CLMER_WORK_POOL": s.work_pool,
        "CLMER_CORPUS": s.corpus,
        "CLMER_PROFILE": settings.models.profile,
        "GX_ANALYTICS_ENABLED": "False",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
    })
    if s.prefect_public_url:  # flow-run links (the MLflow tag, the prefect CLI's output) point there
        env["PREFECT_UI_URL"] = s.prefect_public_url.rstrip("/")
    if auth is not None:
        env.update(auth.client_env())
    return env


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def _project_path(value: str) -> str:
    """A relative sqlite:/// path or folder means relative to the project (where mlflow/server.sh lives)."""
    if value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        return "sqlite:///" + str((PROJECT / value.removeprefix("sqlite:///")).resolve())
    return value if "://" in value else str((PROJECT / value).resolve())


def _fingerprints(settings: Settings, auth: auth_mod.Auth, watcher: bool, config: str | None = None) -> dict[str, str]:
    """What each group of services was started with: a change means a restart of that group."""
    s = settings.serve
    servers = {"host": s.host, "ports": [s.prefect_port, s.mlflow_port], "auth": auth.enabled,
               "backend": os.environ.get("MLFLOW_BACKEND_STORE_URI", s.mlflow_backend_store),
               "artifacts": os.environ.get("MLFLOW_ARTIFACTS_DESTINATION", s.mlflow_artifacts)}
    runners = {"settings": settings.model_dump(mode="json"), "watcher": watcher,
               "config": config}
    digest = lambda d: hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"servers": digest(servers), "runners": digest(runners)}


def _restart_changed(run_dir: Path, new: dict, log) -> list[str]:
    """Stop the groups whose fingerprint changed since the last serve; returns what was stopped."""
    path = run_dir / STATE
    old = json.loads(path.read_text()) if path.exists() else {}
    if not old:
        return []
    if old.get("servers") != new["servers"] and any(proc.running(run_dir, n) for n in SERVERS):
        log("server settings (host, ports, stores or auth) changed since the last serve: restarting every service")
        return [n for n in SERVICES if proc.stop(run_dir, n, 30)]
    if old.get("runners") != new["runners"] and any(proc.running(run_dir, n) for n in RUNNERS):
        log("settings or model profile changed since the last serve: restarting the worker and the watcher")
        return [n for n in ("watcher", "worker") if proc.stop(run_dir, n, 30)]
    return []


def _run(cmd: list[str], env: dict, what: str) -> None:
    done = subprocess.run(cmd, env=env, cwd=PROJECT, capture_output=True, text=True)
    if done.returncode != 0:
        raise proc.ServiceError(f"{what} failed ({' '.join(cmd[:4])} ...):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _prefect_server_env(env: dict) -> dict:
    """The UI asks its API at PREFECT_UI_API_URL, which Prefect otherwise takes from PREFECT_API_URL:
    127.0.0.1 here, i.e. each teammate's own machine once `host` is 0.0.0.0. A relative URL works
    under whatever address or proxy the UI is opened by; a value already set (a path prefix behind a
    proxy) wins."""
    return env | {"PREFECT_UI_API_URL": env.get("PREFECT_UI_API_URL") or "/api"}


def _start_servers(settings: Settings, env: dict, auth: auth_mod.Auth, run_dir: Path) -> dict[str, float]:
    """Prefect server and MLflow server (ports checked before either starts); returns health times."""
    s = settings.serve
    need = [n for n in SERVERS if not proc.running(run_dir, n)]
    ports = {"prefect-server": (s.prefect_port, "serve.prefect_port"), "mlflow": (s.mlflow_port, "serve.mlflow_port")}
    for name in need:
        proc.check_port_free(s.host, ports[name][0], name, ports[name][1])
    if "prefect-server" in need:
        proc.start("prefect-server", [_bin("prefect"), "server", "start", "--host", s.host, "--port", str(s.prefect_port)],
                   _prefect_server_env(auth_mod.server_env(env, "prefect-server")) | auth.prefect_server_env(),
                   run_dir, PROJECT)
    if "mlflow" in need:
        mlflow_env = auth_mod.server_env(env, "mlflow") | {"MLFLOW_HOST": s.host, "MLFLOW_PORT": str(s.mlflow_port), "PYTHON": sys.executable,
                            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job-runner pool: CLMER runs no MLflow jobs
        mlflow_env.setdefault("MLFLOW_BACKEND_STORE_URI", _project_path(s.mlflow_backend_store))
        mlflow_env.setdefault("MLFLOW_ARTIFACTS_DESTINATION", _project_path(s.mlflow_artifacts))
        if auth.enabled:
            ini = auth_mod.write_mlflow_auth_config(run_dir / "mlflow_auth.ini", _project_path(s.mlflow_auth_store))
            mlflow_env |= auth.mlflow_server_env(ini) | {"MLFLOW_APP_NAME": "basic-auth"}
        proc.start("mlflow", ["bash", str(PROJECT / "mlflow" / "server.sh")], mlflow_env, run_dir, PROJECT)
    u = urls(settings)
    timings = {}
    for name, url, port in (("prefect-server", f"{u['prefect_api']}/health", s.prefect_port),
                            ("mlflow", f"{u['mlflow']}/health", s.mlflow_port)):
        pid = proc.running(run_dir, name)
        if pid is None:
            raise proc.ServiceError(f"{name} is not running; its log ends:\n{proc.log_tail(run_dir, name)}")
        timings[name] = round(proc.wait_healthy(url, pid, port, s.startup_timeout_s, name, run_dir), 1)
    return timings


def serve(settings: Settings, extra_env: dict | None = None, watcher: bool = True, log=print) -> dict:
    """Start what is not running; returns the addresses, timings and what was recovered. Idempotent."""
    t0 = time.monotonic()
    s = settings.serve
    auth = auth_mod.resolve(settings, dict(os.environ) | (extra_env or {}))  # before anything starts
    run_dir = run_dir_of(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = _env(settings, extra_env, auth)
    fingerprints = _fingerprints(settings, auth, watcher, env.get("CLMER_CONFIG"))
    restarted = _restart_changed(run_dir, fingerprints, log)
    timings = _start_servers(settings, env, auth, run_dir)
    accounts = auth_mod.ensure_mlflow_accounts(urls(settings)["mlflow"], auth)
    recovered = {"crashed": [], "resent": []}
    if not proc.running(run_dir, "worker"):
        prefect = _bin("prefect")
        _run([prefect, "work-pool", "create", s.work_pool, "--type", "process", "--overwrite"], env, "creating the work pool")
        _run([prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(PROJECT / "prefect.yaml")], env, "deploying")
        recovered = recover_orphans(settings, auth)
        proc.start("worker", [prefect, "worker", "start", "--pool", s.work_pool, "--type", "process"], env, run_dir, PROJECT)
    if watcher and not proc.running(run_dir, "watcher"):
        cmd = [sys.executable, "-m", "flows.watcher", "--state", str(run_dir / "watcher_state.json"),
               "--settle", str(settings.scoring.settle_seconds), "--attempts", str(s.drop_attempts),
               "--grace", str(s.drop_run_grace_s), "--interval", str(s.watch_interval_s),
               "--exclude", str(settings.scoring.out_dir)]
        for folder in s.watch_folders:
            cmd += ["--folder", folder]
        for prefix in s.watch_s3:
            cmd += ["--s3", prefix]
        proc.start("watcher", cmd, env, run_dir, PROJECT)
    atomic.write_json(run_dir / STATE, fingerprints | {"profile": settings.models.profile, "auth": auth.enabled,
                                                       "started": utc_now()}, indent=None)
    return {**public_urls(settings), "prefect_api": urls(settings)["prefect_api"], "run_dir": str(run_dir),
            "auth": auth.enabled,
            "accounts": accounts, "recovered": recovered, "restarted": restarted, "health_s": timings,
            "seconds": round(time.monotonic() - t0, 1), "profile": settings.models.profile,
            "exports": exports(settings, env, auth)}


def recover_orphans(settings: Settings, auth: auth_mod.Auth) -> dict:
    from clmer.ops.recovery import recover

    return recover(PrefectAPI(urls(settings)["prefect_api"], auth.client_env().get(auth_mod.PREFECT_AUTH)),
                   settings.serve.work_pool)


def exports(settings: Settings, env: dict, auth: auth_mod.Auth) -> str:
    """The shell line that points the `prefect` and `mlflow` CLIs at this stack (never a secret)."""
    line = (f"export PREFECT_API_URL={env['PREFECT_API_URL']} PREFECT_HOME={env['PREFECT_HOME']} "
            f"MLFLOW_TRACKING_URI={env['MLFLOW_TRACKING_URI']}")
    if auth.enabled:
        line += (f"\n# logins on: also export {auth_mod.PREFECT_AUTH}, {auth_mod.WRITER_USER} and "
                 f"{auth_mod.WRITER_PASSWORD} (or your own account) from your secrets file")
    return line


def stop(settings: Settings, timeout: float = 30.0) -> list[str]:
    """End exactly the processes `serve` started (by pid file), their children with them. Runs the
    stopped worker left active are marked crashed while the server still answers; the next serve
    sends their drops again."""
    run_dir = run_dir_of(settings)
    stopped = []
    for name in SERVICES:
        if name == "mlflow" and "worker" in stopped and proc.running(run_dir, "prefect-server"):
            _crash_left_runs(settings)
        if proc.stop(run_dir, name, timeout):
            stopped.append(name)
    return stopped


def _crash_left_runs(settings: Settings) -> None:
    from clmer.ops.recovery import crash_orphans

    try:
        auth = auth_mod.resolve(settings)
        crash_orphans(PrefectAPI(urls(settings)["prefect_api"], auth.client_env().get(auth_mod.PREFECT_AUTH)),
                      settings.serve.work_pool)
    except Exception as exc:  # the next serve recovers them anyway
        print(f"could not mark the stopped worker's runs crashed now ({type(exc).__name__}); the next serve will")
