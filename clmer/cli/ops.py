"""`clmer serve`, `clmer stop`, `clmer status`: the local services and what they are doing."""

from __future__ import annotations

from typing import Optional

import typer

from clmer.cli.common import app, config_path, console, one_line, settings


@app.command()
def serve(
    s3: Optional[list[str]] = typer.Option(None, "--s3", metavar="S3_URI", help="Also watch these S3 prefixes (s3://bucket/prefix)."),
    no_watcher: bool = typer.Option(False, "--no-watcher", help="Do not start the drop watcher."),
) -> None:
    """Start Prefect server + worker, MLflow server and the drop watcher; deploy prefect.yaml.

    Ports are checked first; beyond 127.0.0.1 logins are required (serve.auth). Runs a stop left
    behind are marked crashed and their drops sent again. Run again after changing the settings or
    the model profile: it restarts what depends on them."""
    from clmer.pipeline import prepare_profile
    from clmer.ops import auth, services

    cfg = settings({"serve": {"watch_s3": s3}} if s3 else None)
    auth.resolve(cfg)  # refuse an open non-loopback bind before anything is built or started
    cfg, message = prepare_profile(cfg)
    console.print(message)
    # the worker's flows and the watcher read the same file (they take their settings from CLMER_CONFIG)
    extra = {"CLMER_CONFIG": str(config_path())} if config_path() else None
    info = services.serve(cfg, extra_env=extra, watcher=not no_watcher, log=console.print)
    rec = info["recovered"]
    if rec["crashed"] or rec["resent"]:
        console.print(f"recovered: {len(rec['crashed'])} orphaned run(s) marked crashed; drops sent again: "
                      + (", ".join(rec["resent"]) or "none"))
    console.print(f"Prefect UI: {info['prefect_ui']}\nMLflow UI:  {info['mlflow_ui']}"
                  + ("  (logins on)" if info["auth"] else "") + f"\nlogs and pid files: {info['run_dir']}\n"
                  f"drop videos into: {', '.join(cfg.serve.watch_folders + cfg.serve.watch_s3)}\n"
                  f"ready in {info['seconds']:.0f} s; stop with: clmer stop\n"
                  f"point the prefect and mlflow CLIs at this stack:\n{info['exports']}", highlight=False)


@app.command()
def stop() -> None:
    """Stop exactly the processes `clmer serve` started (by pid file), and the flow runs of its worker."""
    from clmer.ops import services

    stopped = services.stop(settings())
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status() -> None:
    """What runs (services, pids, ports), the champion model, the last nightly retrain and the last drop."""
    from clmer.ops.status import status as read_status

    st = read_status(settings())
    for name, svc in st["services"].items():
        where = f"pid {svc['pid']}" + (f", port {svc['port']}" if svc["port"] else "") if svc["running"] else "not running"
        console.print(f"{name:>15}: {where}")
        if svc.get("last_error"):  # it died: say why, instead of a silent "not running"
            console.print(f"{'':>15}  died: {one_line(svc['last_error'])}", markup=False, highlight=False)
    console.print(f"{'profile':>15}: {st.get('profile') or '-'}    logins: {'on' if st.get('auth') else 'off'}")
    if st.get("error"):
        console.print(f"{'error':>15}: {st['error']}")
    for name, line in (st.get("prefect") or {}).items():
        console.print(f"{name:>15}: {line}", highlight=False)
    for key, line in (st.get("mlflow") or {}).items():
        console.print(f"{key:>15}: {line}", highlight=False)
