"""The nightly retrain: validate -> extract -> train -> evaluate -> [reasoning explainer] -> register
(champion gate).

    python -m flows.nightly CORPUS [--config FILE] [--profile tiny]

Each stage is its own flow (a subflow here, a deployment of its own in prefect.yaml). Paths go
from one to the next; nothing else does.

The MLflow run is named `nightly-<UTC date>` and tagged with the git commit and this flow run (id,
name, UI link). When a registered version was made from the same data, code and config, the
night ends after validation: nothing is trained or registered, and the summary names that version.
With drift.on_persist=hold, a night after drift persisted on the champion's drops (drift.persist_drops
in a row) registers its model without promoting it, and says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger

from clmer import atomic
from clmer.names import utc_day
from flows.common import command_line, provenance_tags, task_runner, with_profile
from flows.evaluate import evaluate_flow
from flows.extract import extract_flow
from flows.reasoning import reasoning_flow
from flows.register import register_flow
from flows.reporting import gate_artifact
from flows.train import train_flow
from flows.validate import validate_flow


@flow(name="nightly-retrain")
def nightly_retrain(corpus: str, config: str | None = None, overrides: dict | None = None,
                    cross_lingual: bool = True) -> dict:
    logger = get_run_logger()
    settings, overrides = with_profile(config, overrides, logger.info)
    from clmer import pipeline
    from clmer.serving.registry import training_fingerprint, version_with_fingerprint

    folder = pipeline.run_folder(settings, "nightly")
    validate_flow(corpus, str(folder / "validate"), config, overrides)
    fingerprint = training_fingerprint(corpus, settings)  # once a night: train and register are given it
    same = version_with_fingerprint(fingerprint["digest"], settings)
    if same is not None:
        registration = pipeline.unchanged_result(same, settings)
        logger.info("nightly retrain skipped: %s", registration["decision"])
        summary = {"corpus": corpus, "registration": registration}
        atomic.write_json(folder / "summary.json", summary, default=str)
        gate_artifact(registration, settings, summary)  # the run page says why nothing happened
        return summary
    features = extract_flow.with_options(task_runner=task_runner(settings))(corpus, str(folder / "extract"), config,
                                                                            overrides)
    model_dir = train_flow(corpus, features, None, config, overrides, fingerprint=fingerprint)
    evaluation = evaluate_flow(model_dir, corpus, features, str(folder / "evaluate"), config, overrides,
                               cross_lingual=cross_lingual)
    train_dir = str(Path(model_dir).parent)
    from clmer.explain import reasoning

    if reasoning.enabled(settings) and settings.reasoning.train != "off":  # the adapter is registered with the model
        reasoning_flow(train_dir, corpus, features, config, overrides)
    else:
        logger.info("reasoning LM training: off (reasoning.enabled=%s, reasoning.train=%s): reports carry the %s",
                    settings.reasoning.enabled, settings.reasoning.train,
                    "untrained LM's text where it passes its checks, else the template" if reasoning.enabled(settings)
                    else "grounded template")
    from clmer.serving.drift_tracking import hold_reason

    hold = hold_reason(settings)  # drift persists on the champion's drops: no automatic promotion
    if hold:
        logger.warning(hold)
    registration = register_flow(train_dir, evaluation, corpus, config, overrides, run_name=f"nightly-{utc_day()}",
                                 tags=provenance_tags(settings.serve.prefect_public_url) | {"kind": "nightly"},
                                 fingerprint=fingerprint, hold=hold)
    summary = {"corpus": corpus, "features": features, "model_dir": model_dir, "evaluation": evaluation,
               "registration": registration}
    atomic.write_json(folder / "summary.json", summary, default=str)
    gate_artifact(registration, settings, summary)
    logger.info("nightly retrain done: %s", registration.get("decision"))
    return summary


def main() -> None:
    args, overrides = command_line(__doc__, "corpus", out=False, more=lambda ap: ap.add_argument(
        "--no-cross-lingual", action="store_true"))
    out = nightly_retrain(args.corpus, args.config, overrides, not args.no_cross_lingual)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
