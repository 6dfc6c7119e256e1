"""Drift in MLflow: one run per scored drop, how long drift has lasted for a model version, and the reference
profile's tags on a registered version.

A drop's run lives in the experiment `drift.experiment` (beside the training runs' experiment, so its charts
compare drops), is named `drop-<folder>-<UTC time>` and tagged with the drop, the model name, version and URI
and the verdict; its metrics are the report's numbers (`drift/<analysis>/<statistic>/effect`, `.../p_adjusted`,
`.../distance`, `drift/verdict` as -1 unknown, 0 ok, 1 watch, 2 drift); its artifacts the report and the page.
Runs are the drift history: `streak` counts the latest runs of one model version judged 'drift' in a row, which is
what `drift.on_persist` acts on.
"""

from __future__ import annotations

import time
from pathlib import Path

from clmer.config import Settings
from clmer.monitor.drift import level_number

VERSION_TAG, NAME_TAG, VERDICT_TAG = "clmer.model_version", "clmer.model_name", "drift.verdict"
REFERENCE_TAG = "drift.reference"
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development",
                   "mlflow.note.content": "CLMER drift monitoring: one run per scored drop, with the drift verdict "
                                          "against the scoring model's reference profile and each statistic's effect "
                                          "and p-value as metrics (`drift/...`)."}


def model_name(uri: str) -> str | None:
    """`models:/clmer@champion`, `models:/clmer/3` -> `clmer`; other URIs have no registered name."""
    if not uri.startswith("models:/"):
        return None
    rest = uri.removeprefix("models:/")
    return rest.split("@", 1)[0] if "@" in rest else rest.rsplit("/", 1)[0]


def experiment_id(settings: Settings) -> str:
    """The drops' experiment, created on first use (artifacts beside the training runs' for a local store)."""
    import mlflow

    from clmer.config import split_credentials
    from clmer.serving.tracking import configure

    configure(settings)
    exp = mlflow.get_experiment_by_name(settings.drift.experiment)
    if exp is not None:
        return exp.experiment_id
    location = None
    if not split_credentials(settings.mlflow.tracking_uri)[0].startswith(("http://", "https://")):
        location = (Path(settings.mlflow.artifact_location).resolve() / "drops").as_uri() \
            if "://" not in settings.mlflow.artifact_location else settings.mlflow.artifact_location.rstrip("/") + "/drops"
    return mlflow.create_experiment(settings.drift.experiment, artifact_location=location, tags=EXPERIMENT_TAGS)


def _runs(settings: Settings, name: str | None, version: str, limit: int = 100) -> list:
    from mlflow import MlflowClient

    query = f"tags.`{VERSION_TAG}` = '{version}'" + (f" and tags.`{NAME_TAG}` = '{name}'" if name else "")
    return MlflowClient().search_runs([experiment_id(settings)], filter_string=query, max_results=limit,
                                      order_by=["attributes.start_time DESC"])


def streak(runs: list) -> int:
    """'drift' verdicts in a row among `runs` (newest first); a drop too small to tell neither counts nor breaks."""
    count = 0
    for run in runs:
        verdict = run.data.tags.get(VERDICT_TAG)
        if verdict == "drift":
            count += 1
        elif verdict in ("ok", "watch"):
            break
    return count


def streak_after(report: dict, settings: Settings) -> int:
    """The streak this drop makes for its model version (the drops before it, then this one)."""
    model = report["model"]
    before = streak(_runs(settings, model_name(model["uri"]), model["version"]))
    return before + 1 if report["verdict"] == "drift" else (0 if report["verdict"] in ("ok", "watch") else before)


def version_streak(settings: Settings, version: str) -> int:
    return streak(_runs(settings, settings.mlflow.model_name, version))


def _metrics(report: dict) -> dict[str, float]:
    out = {"drift/verdict": level_number(report["verdict"]), "drift/n_clips": float(report["n_clips"]),
           "drift/n_failed": float(report["n_failed"]), "drift/streak": float(report.get("streak", 0))}
    for a in report.get("analyses", []):
        key = a["language"] or "all"
        out[f"drift/{key}/verdict"] = level_number(a["verdict"])
        for group, level in a.get("groups", {}).items():
            out[f"drift/{key}/{group}"] = level_number(level)
        for s in a.get("statistics", []):
            for field in ("effect", "p_adjusted", "distance", "psi"):
                if isinstance(s.get(field), (int, float)):
                    out[f"drift/{key}/{s['name']}/{field}"] = float(s[field])
    return out


def start_drop_run(report: dict, settings: Settings, tags: dict | None = None) -> dict:
    """Create the drop's run with its tags and metrics; returns {run_id, experiment_id, url}."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from clmer.monitor.drift_html import markdown
    from clmer.serving.tracking import _log_batch, run_url, ui_base

    exp = experiment_id(settings)
    model = report["model"]
    folder = Path(str(report["drop"]).rstrip("/")).name or "drop"
    run_tags = {"kind": "score-drop", "clmer.drop": report["drop"], NAME_TAG: model_name(model["uri"]) or "",
                VERSION_TAG: model["version"], "clmer.model_uri": model["uri"], VERDICT_TAG: report["verdict"],
                "drift.moved": ",".join(report["moved"]), "drift.reason": str(report.get("reason", ""))[:4000],
                "mlflow.note.content": markdown(report)[:20000], **(tags or {})}
    client = MlflowClient()
    run = client.create_run(exp, run_name=f"drop-{folder}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}",
                            tags={k: str(v) for k, v in run_tags.items() if v not in (None, "")})
    now = int(time.time() * 1000)
    _log_batch(client, run.info.run_id, [Metric(k, v, now, 0) for k, v in _metrics(report).items()], {})
    ui = ui_base(settings)
    return {"run_id": run.info.run_id, "experiment_id": exp, "url": run_url(ui, exp, run.info.run_id) if ui else None}


def finish_drop_run(run_id: str, report: dict, paths: list[Path], settings: Settings) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path="drift")
    client.set_terminated(run_id, "FINISHED")


def tag_reference(settings: Settings, version: str, profile: dict) -> None:
    """Say on the registered version what its reference profile holds (the profile itself is in the model)."""
    from mlflow import MlflowClient

    from clmer.monitor.profile import FILE_NAME, describe

    client = MlflowClient()
    client.set_model_version_tag(settings.mlflow.model_name, version, REFERENCE_TAG, describe(profile))
    client.set_model_version_tag(settings.mlflow.model_name, version, f"{REFERENCE_TAG}.clips", str(profile["n_clips"]))
    client.set_model_version_tag(settings.mlflow.model_name, version, f"{REFERENCE_TAG}.file", f"fusion/{FILE_NAME}")


def hold_reason(settings: Settings) -> str | None:
    """Why the nightly must not promote (drift.on_persist 'hold' and the champion's drift streak at
    drift.persist_drops or more), or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from clmer.serving.tracking import configure

    if settings.drift.on_persist != "hold":
        return None
    configure(settings)
    try:
        champion = MlflowClient().get_model_version_by_alias(settings.mlflow.model_name, "champion")
    except MlflowException:
        return None  # no champion yet: nothing has drifted
    n = version_streak(settings, champion.version)
    if n < settings.drift.persist_drops:
        return None
    return (f"held: drift persisted over {n} drops scored by champion v{champion.version} (drift.on_persist=hold); "
            "review the drift reports, then promote by hand")
