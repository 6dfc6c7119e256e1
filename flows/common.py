"""What every flow shares: its settings, built once per flow run from its parameters and handed to
its tasks as a value; the task runner by config; the --profile option; MLflow tags of provenance."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Callable

from clmer.config import PROFILE_CHOICES, Settings, load_settings
from clmer.scratch import use_private_tmp


def settings_from(config: str | None = None, overrides: dict | None = None) -> Settings:
    """A flow run's settings, built once at its start: flow parameters carry a config *path* and small
    overrides (never a settings object, which would put every setting, the environment's URIs
    included, into the flow run's parameters); its tasks get the settings themselves. (Also gives
    the flow's process a private temp folder that goes when it ends.)"""
    use_private_tmp()
    return load_settings(config, overrides)


def with_profile(config: str | None, overrides: dict | None, log=print) -> tuple:
    """The one profile rule (`clmer.pipeline.prepare_profile`, the demo's and serve's too), said at the
    start of the run; returns the settings and overrides that carry the concrete profile on to subflows."""
    from clmer.pipeline import prepare_profile

    settings, message = prepare_profile(settings_from(config, overrides))
    log(message)
    overrides = dict(overrides or {})
    overrides["models"] = dict(overrides.get("models") or {}) | {"profile": settings.models.profile}
    return settings, overrides


def task_process() -> None:
    """At the start of a task that may run in a worker process of its own (Dask, Ray): its temp folder."""
    use_private_tmp()


def task_runner(settings: Settings):
    """Threads in-process by default; Dask or Ray to scale extraction out (one task per chunk)."""
    cfg = settings.extract
    if cfg.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if cfg.dask_address:
            return DaskTaskRunner(address=cfg.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": cfg.max_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    if cfg.task_runner == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as exc:  # optional extra
            raise RuntimeError("extract.task_runner=ray needs `pip install clmer[ray]`") from exc
        import os

        if os.environ.get("RAY_ADDRESS"):  # an existing cluster
            return RayTaskRunner()
        return RayTaskRunner(init_kwargs={"num_cpus": cfg.max_workers, "include_dashboard": False})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=cfg.max_workers)


def command_line(doc: str, *positionals: str, out: bool = True, profile: bool = True,
                 more: Callable[[argparse.ArgumentParser], None] | None = None) -> tuple[argparse.Namespace, dict]:
    """A flow's own command line (`python -m flows.X`): its positional arguments, then --out, --config
    and --profile, and `more`; returns the arguments and the settings overrides they stand for."""
    from clmer.pipeline import command_overrides

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in positionals:
        ap.add_argument(name)
    if out:
        ap.add_argument("--out")
    ap.add_argument("--config")
    if profile:
        ap.add_argument("--profile", choices=PROFILE_CHOICES, help="model profile (default: models.profile)")
    if more:
        more(ap)
    args = ap.parse_args()
    return args, command_overrides(getattr(args, "profile", None), getattr(args, "runner", None))


_TRANSIENT = (OSError, ConnectionError, TimeoutError)


def retry_on_io(task, task_run, state) -> bool:
    """Retry only what a retry can fix: I/O, network, timeouts; never a deterministic failure."""
    try:
        state.result()
    except _TRANSIENT:
        return True
    except Exception as exc:  # MLflow/boto wrap transient HTTP trouble in their own types
        text = f"{type(exc).__name__}: {exc}"
        return any(s in text for s in ("Connection", "Timeout", "503", "502", "500 ", "Throttl", "temporarily"))
    return False


def provenance_tags(public_ui: str | None = None) -> dict:
    """MLflow tags that tie a training run to the code and the Prefect run that made it: the git
    commit (MLflow's own `mlflow.source.git.commit`, shown in the runs table), whether the work tree
    had uncommitted changes, and the flow run's id, name and UI link (under `public_ui`,
    serve.prefect_public_url, when set: where people open the UI). Computed here because clmer/
    never imports Prefect."""
    from prefect.runtime import flow_run

    tags = {"prefect.flow_run.id": flow_run.get_id(), "prefect.flow_run.name": flow_run.get_name()}
    url = flow_run.get_flow_run_ui_url()
    if public_ui and tags["prefect.flow_run.id"]:
        url = f"{public_ui.rstrip('/')}/flow-runs/flow-run/{tags['prefect.flow_run.id']}"
    if url and url.startswith(("http://", "https://")):  # an ephemeral server has no UI address
        tags["prefect.flow_run.url"] = url
    repo = Path(__file__).resolve().parents[1]
    commit = _git(repo, "rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["git.dirty"] = "true" if _git(repo, "status", "--porcelain", "--untracked-files=no") else "false"
    return {k: v for k, v in tags.items() if v}


def _git(repo: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
