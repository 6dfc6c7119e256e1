"""`clmer status`: what runs, the champion, the last nightly retrain, the last drop and its drift verdict, in one look.

Reads the pid files `serve` wrote, then asks the two servers over HTTP (with the stack's logins when
they are on). Anything it cannot reach is reported as such, never raised: status is what an operator
runs when something is wrong.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from clmer.config import Settings
from clmer.ops import auth as auth_mod
from clmer.ops import processes as proc
from clmer.ops.prefect_api import ACTIVE, FINISHED, PrefectAPI
from clmer.ops.services import RUNNERS, SERVERS, STATE, run_dir_of, urls


def status(settings: Settings) -> dict:
    run_dir = run_dir_of(settings)
    s = settings.serve
    ports = {"prefect-server": s.prefect_port, "mlflow": s.mlflow_port}
    services = {}
    for name in SERVERS + RUNNERS:
        pid = proc.running(run_dir, name)
        services[name] = {"running": pid is not None, "pid": pid, "port": ports.get(name),
                          "last_error": None if pid is not None else proc.last_error(run_dir, name)}
    state = json.loads((run_dir / STATE).read_text()) if (run_dir / STATE).exists() else {}
    out = {"services": services, "profile": state.get("profile"), "auth": state.get("auth"), "run_dir": str(run_dir)}
    try:
        auth = auth_mod.resolve(settings)
    except auth_mod.AuthError as exc:
        out["error"] = str(exc)
        return out
    u = urls(settings)
    out["prefect"] = _prefect(u["prefect_api"], auth) if services["prefect-server"]["running"] else None
    if services["mlflow"]["running"]:
        out["mlflow"] = _champion(u["mlflow"], settings.mlflow.model_name, auth)
        out["mlflow"]["last drift"] = last_drift(u["mlflow"], settings.drift.experiment, auth)
    else:
        out["mlflow"] = None
    return out


def _prefect(api_url: str, auth: auth_mod.Auth) -> dict:
    try:
        api = PrefectAPI(api_url, auth.client_env().get(auth_mod.PREFECT_AUTH), timeout=10)
        deployments = api.deployments(["nightly-retrain", "score-drop"])
        out = {}
        for name, dep in deployments.items():
            runs = api.flow_runs([dep["id"]], ACTIVE + FINISHED, limit=1)  # not the next scheduled one
            out[name] = _run_line(runs[0]) if runs else "no runs yet"
        return out
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return {"error": f"cannot read the Prefect API ({type(exc).__name__})"}


def _run_line(run: dict) -> str:
    when = (run.get("start_time") or run.get("expected_start_time") or "")[:19].replace("T", " ")
    drop = run.get("parameters", {}).get("drop")
    message = ((run.get("state") or {}).get("message") or "")[:120]
    return (f"{run['name']}: {run.get('state_name')} {when} UTC" + (f", drop {drop}" if drop else "")
            + (f" ({message})" if message else ""))


def _champion(mlflow_url: str, model_name: str, auth: auth_mod.Auth) -> dict:
    query = urllib.parse.urlencode({"name": model_name, "alias": "champion"})
    req = urllib.request.Request(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias?{query}", headers=_headers(auth))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            mv = json.loads(resp.read())["model_version"]
    except urllib.error.HTTPError as exc:
        # MLflow answers 403 instead of 404 for a model that does not exist yet when logins are on
        return {"champion": "none yet" if exc.code in (403, 404) else f"cannot read (HTTP {exc.code})"}
    except (OSError, urllib.error.URLError) as exc:
        return {"champion": f"cannot read the MLflow API ({type(exc).__name__})"}
    tags = {t["key"]: t["value"] for t in mv.get("tags", [])}
    return {"champion": f"{model_name} v{mv['version']} (run {mv.get('run_id', '')[:8]})",
            "decision": tags.get("decision", "")}


def _headers(auth: auth_mod.Auth) -> dict:
    if not auth.enabled:
        return {}
    return {"Authorization": auth_mod.basic_header(auth.secrets[auth_mod.WRITER_USER],
                                                   auth.secrets[auth_mod.WRITER_PASSWORD])}


def last_drift(mlflow_url: str, experiment: str, auth: auth_mod.Auth) -> str:
    """The newest drop run's verdict and why (`clmer.serving.drift_tracking` writes them as tags)."""
    query = urllib.parse.urlencode({"experiment_name": experiment})
    try:
        with urllib.request.urlopen(urllib.request.Request(
                f"{mlflow_url}/api/2.0/mlflow/experiments/get-by-name?{query}", headers=_headers(auth)), timeout=10) as r:
            exp_id = json.loads(r.read())["experiment"]["experiment_id"]
        body = json.dumps({"experiment_ids": [exp_id], "max_results": 1,
                           "order_by": ["attributes.start_time DESC"]}).encode()
        req = urllib.request.Request(f"{mlflow_url}/api/2.0/mlflow/runs/search", data=body, method="POST",
                                     headers=_headers(auth) | {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            runs = json.loads(r.read()).get("runs", [])
    except urllib.error.HTTPError as exc:
        return "no drop scored yet" if exc.code in (403, 404) else f"cannot read (HTTP {exc.code})"
    except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
        return f"cannot read the MLflow API ({type(exc).__name__})"
    if not runs:
        return "no drop scored yet"
    tags = {t["key"]: t["value"] for t in runs[0]["data"].get("tags", [])}
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(int(runs[0]["info"]["start_time"]) / 1000))
    return (f"{tags.get('drift.verdict', '?')}: {tags.get('drift.reason', '')} (drop {tags.get('clmer.drop', '?')}, "
            f"model v{tags.get('clmer.model_version', '?')}, {when} UTC)")
