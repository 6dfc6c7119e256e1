"""Score a drop (a folder or an S3 prefix) with the registered champion.

    python -m flows.score_drop DROP [--model URI] [--out DIR] [--config FILE]

The model defaults to the registered champion (models:/<mlflow.model_name>@champion).

Triggered by the `clmer.drop.ready` event (prefect.yaml). Files whose content was scored before
are skipped, so a repeated event or a re-run changes nothing. A run where some files failed ends in
a Completed state named "Partial" (with a message saying how many); every run publishes a summary
and a results table as artifacts.
"""

from __future__ import annotations

import json

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, retry_on_io, settings_from, task_process
from flows.reporting import drop_artifacts, drop_state

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
    return drop_state(summary)


def main() -> None:
    def more(ap) -> None:
        ap.add_argument("--model", help="registry URI or model folder (default: the champion)")
        ap.add_argument("--rescore", action="store_true")

    args, _ = command_line(__doc__, "drop", profile=False, more=more)
    print(json.dumps(score_drop(args.drop, args.model, args.out, args.config, {}, args.rescore), indent=2, default=str))


if __name__ == "__main__":
    main()
