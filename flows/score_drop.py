"""Score a drop (a folder or an S3 prefix) with the registered champion.

    python -m flows.score_drop DROP [--model URI] [--out DIR] [--config FILE]

The model defaults to the registered champion (models:/<mlflow.model_name>@champion).

Triggered by the `clmer.drop.ready` event (prefect.yaml). Files whose content was scored before
are skipped, so a repeated event or a re-run changes nothing. A run where some files failed ends in
a Completed state named "Partial" (with a message saying how many); every run publishes a summary
and a results table as artifacts.

The clips scored now are compared with the model's reference profile (`clmer.monitor.drift`): the
report goes to Test_Supplements/drift_report.json and drop_summary.html, to a markdown and a table
artifact (`drift-summary`, `drift-report`) and to the drop's MLflow run. A `drift` verdict ends the
run in a Completed state named "Drift" whose message says what moved; the state message of any other
run carries its verdict. With drift.on_persist=retrain, the drop that makes drift persist
(drift.persist_drops in a row) starts the nightly-retrain deployment.
"""

from __future__ import annotations

import json

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, provenance_tags, retry_on_io, settings_from, task_process
from flows.reporting import drop_artifacts, drop_state

NIGHTLY_DEPLOYMENT = "nightly-retrain/nightly-retrain"  # flow name / deployment name (prefect.yaml)

_scorers: dict = {}


def _scorer(model: str, settings: Settings):
    """One scorer (model + encoders) per worker process, model URI and settings."""
    from clmer import pipeline

    key = (model, settings.model_dump_json())
    if key not in _scorers:
        _scorers[key] = pipeline.load_scorer(model, settings)
    return _scorers[key]


@task(name="plan-drop", retries=3, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def plan_task(drop: str, out: str, rescore: bool, settings: Settings) -> dict:
    from clmer.serving.drop_scoring import plan, plan_to_dict

    return plan_to_dict(plan(drop, out, settings, rescore=rescore))


@task(name="score-chunk", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def score_chunk_task(items: list[dict], model: str, out: str, settings: Settings) -> dict:
    from clmer.serving.drop_scoring import score_chunk

    task_process()
    scorer = _scorer(model, settings)
    s = scorer.settings.scoring
    return score_chunk(items, scorer, out, blur=s.blur_faces, html=s.html)


@task(name="publish-results")
def publish_task(plan_dict: dict, chunks: list[dict], out: str, model: str, settings: Settings) -> dict:
    from clmer.serving.drop_scoring import plan_from_dict, publish

    version = _scorer(model, settings).model_version if plan_dict["todo"] else "-"
    return publish(plan_from_dict(plan_dict), chunks, out, version)


@task(name="drift-report")  # no retries: a second try would log the drop's MLflow run twice
def drift_task(drop: str, chunks: list[dict], out: str, model: str, settings: Settings, tags: dict) -> dict | None:
    from pathlib import Path

    from clmer.names import SUPPLEMENTS_DIR
    from clmer.serving.drift_watch import drop_drift

    scorer = _scorer(model, settings)
    return drop_drift(drop, chunks, scorer, Path(out) / SUPPLEMENTS_DIR, scorer.settings, tags=tags)


def drift_artifacts(report: dict) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from clmer.monitor.drift_html import markdown, table_rows

    links = {"drop summary (HTML)": report["paths"]["html"]}
    if report.get("mlflow_run_url"):
        links["MLflow run"] = report["mlflow_run_url"]
    create_markdown_artifact(markdown(report, links), key="drift-summary", description="drift against the reference")
    rows = table_rows(report)
    if rows:
        create_table_artifact(rows, key="drift-report", description="one row per statistic and analysis")


def with_drift(state, report: dict | None, note: str = ""):
    """The run's state says the verdict: "Drift" (still Completed: the drop was scored) naming what moved."""
    from prefect.states import Completed

    if report is not None and report["verdict"] == "drift":
        return Completed(name="Drift", data=state.data, message=f"{report['reason']}; {state.message}{note}")
    verdict = f"; drift {report['verdict']}" if report is not None else ""
    if not verdict and not note:
        return state
    return Completed(name=state.name, data=state.data, message=f"{state.message}{verdict}{note}")


def retrain_early(report: dict, settings: Settings, logger) -> str:
    """drift.on_persist=retrain: the drop that makes drift persist starts the nightly deployment (once a streak)."""
    if settings.drift.on_persist != "retrain" or report.get("streak") != settings.drift.persist_drops:
        return ""
    from prefect.deployments import run_deployment

    try:
        run = run_deployment(NIGHTLY_DEPLOYMENT, timeout=0, tags=["clmer-drift"], as_subflow=False)
    except Exception as exc:  # no such deployment (flows run by hand): say so, the drop stays scored
        logger.warning("drift persisted over %d drops, but the nightly retrain could not start: %s",
                       report["streak"], exc)
        return f"; nightly retrain NOT started ({exc.__class__.__name__})"
    logger.warning("drift persisted over %d drops: nightly retrain %s started early", report["streak"], run.name)
    return f"; nightly retrain {run.name} started early"


@flow(name="score-drop")
def score_drop(drop: str, model: str | None = None, out: str | None = None, config: str | None = None,
               overrides: dict | None = None, rescore: bool = False) -> dict:
    from clmer.features.extract import chunked

    settings = settings_from(config, overrides)
    model = model or settings.mlflow.champion_uri
    out = out or str(settings.scoring.out_dir)
    logger = get_run_logger()
    p = plan_task(drop, out, rescore, settings)
    logger.info("drop %s: %d file(s) to score, %d scored before", p["drop"], len(p["todo"]), len(p["skipped"]))
    futures = [score_chunk_task.submit(c, model, out, settings) for c in chunked(p["todo"], settings.extract.chunk_size)]
    chunks = [f.result() for f in futures]
    summary = publish_task(p, chunks, out, model, settings)
    logger.info("drop %s: %s", p["drop"], summary["status_counts"])
    drop_artifacts(summary, chunks, out)
    drift, note = None, ""
    if p["todo"]:
        try:
            drift = drift_task(p["drop"], chunks, out, model, settings, provenance_tags(settings.serve.prefect_public_url))
        except Exception as exc:  # the results are published; the run says monitoring failed
            logger.error("drift report failed: %s: %s", exc.__class__.__name__, exc)
            note = f"; drift report failed ({exc.__class__.__name__})"
    if drift:
        logger.info("drop %s: %s", p["drop"], drift["reason"])
        drift_artifacts(drift)
        note += retrain_early(drift, settings, logger)
    return with_drift(drop_state(summary), drift, note)


def main() -> None:
    def more(ap) -> None:
        ap.add_argument("--model", help="registry URI or model folder (default: the champion)")
        ap.add_argument("--rescore", action="store_true")

    args, _ = command_line(__doc__, "drop", profile=False, more=more)
    print(json.dumps(score_drop(args.drop, args.model, args.out, args.config, {}, args.rescore), indent=2, default=str))


if __name__ == "__main__":
    main()
