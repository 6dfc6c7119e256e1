"""The nightly retrain: validate -> extract -> train -> evaluate -> [reasoning explainer] -> register
(champion gate).

    python -m flows.nightly CORPUS [--config FILE] [--profile tiny]

Each stage is its own flow (a subflow here, a deployment of its own in prefect.yaml). Paths go
from one to the next; nothing else does.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from prefect import flow, get_run_logger

from flows.common import cli_overrides, task_runner, with_profile, write_json
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
    run = settings.paths.runs / f"nightly-{time.strftime('%Y%m%d-%H%M%S')}"
    validate_flow(corpus, str(run / "validate"), config, overrides)
    features = extract_flow.with_options(task_runner=task_runner(settings))(corpus, str(run / "extract"), config, overrides)
    model_dir = train_flow(corpus, features, None, config, overrides)
    evaluation = evaluate_flow(model_dir, corpus, features, str(run / "evaluate"), config, overrides,
                               cross_lingual=cross_lingual)
    train_dir = str(Path(model_dir).parent)
    from clmer.explain import reasoning

    if reasoning.enabled(settings):  # registered beside the fusion model when trained
        reasoning_flow(train_dir, corpus, features, config, overrides)
    else:
        logger.info("reasoning explainer: off (reasoning.enabled=%s, no GPU here)", settings.reasoning.enabled)
    registration = register_flow(train_dir, evaluation, corpus, config, overrides)
    summary = {"corpus": corpus, "features": features, "model_dir": model_dir, "evaluation": evaluation,
               "registration": registration}
    write_json(run / "summary.json", summary)
    gate_artifact(registration, settings.mlflow.tracking_uri, summary)
    logger.info("nightly retrain done: %s", registration.get("decision"))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--config")
    ap.add_argument("--profile", choices=["full", "tiny"])
    ap.add_argument("--no-cross-lingual", action="store_true")
    args = ap.parse_args()
    out = nightly_retrain(args.corpus, args.config, cli_overrides(args.profile), not args.no_cross_lingual)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
