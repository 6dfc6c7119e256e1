"""Log a training run to MLflow and register it behind the champion gate.

    python -m flows.register TRAIN_DIR EVALUATION_JSON CORPUS [--config FILE]
"""

from __future__ import annotations

import argparse
import json

from prefect import flow, get_run_logger, task

from flows.common import cli_overrides, retry_on_io, run_provenance, settings_from


@task(name="register-model", retries=2, retry_delay_seconds=10, retry_condition_fn=retry_on_io)
def register_task(train_dir: str, evaluation: str, corpus: str, split: str, config: str | None, overrides: dict,
                  run_name: str | None = None, tags: dict | None = None, hold: str | None = None) -> dict:
    from clmer import pipeline

    out = pipeline.register(train_dir, evaluation, corpus, settings_from(config, overrides), split=split,
                            run_name=run_name, tags=tags, hold=hold)
    get_run_logger().info("%s v%s: %s", out["name"], out["version"], out["decision"])
    return json.loads(json.dumps(out, default=str))


@flow(name="register")
def register_flow(train_dir: str, evaluation: str, corpus: str, config: str | None = None,
                  overrides: dict | None = None, split: str = "valid", run_name: str | None = None,
                  tags: dict | None = None, hold: str | None = None) -> dict:
    """`run_name` and `tags` name the MLflow run; run on its own, the tags are this flow run's. `hold` (why)
    registers without promoting (the nightly's drift.on_persist=hold)."""
    return register_task(train_dir, evaluation, corpus, split, config, overrides or {}, run_name,
                         tags if tags is not None
                         else run_provenance(settings_from(config, overrides).serve.prefect_public_url), hold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train_dir")
    ap.add_argument("evaluation")
    ap.add_argument("corpus")
    ap.add_argument("--config")
    ap.add_argument("--profile", choices=["auto", "full", "small", "tiny"])
    args = ap.parse_args()
    print(json.dumps(register_flow(args.train_dir, args.evaluation, args.corpus, args.config, cli_overrides(args.profile)),
                     indent=2))


if __name__ == "__main__":
    main()
