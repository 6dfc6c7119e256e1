"""Log a training run to MLflow and register it behind the champion gate.

    python -m flows.register TRAIN_DIR EVALUATION_JSON CORPUS [--config FILE]
"""

from __future__ import annotations

import json

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, provenance_tags, retry_on_io, settings_from


@task(name="register-model", retries=2, retry_delay_seconds=10, retry_condition_fn=retry_on_io)
def register_task(train_dir: str, evaluation: str, corpus: str, split: str, settings: Settings,
                  run_name: str | None = None, tags: dict | None = None, fingerprint: dict | None = None,
                  hold: str | None = None) -> dict:
    from clmer import pipeline

    out = pipeline.register(train_dir, evaluation, corpus, settings, split=split, run_name=run_name, tags=tags,
                            fingerprint=fingerprint, hold=hold)
    get_run_logger().info("%s v%s: %s", out["name"], out["version"], out["decision"])
    return json.loads(json.dumps(out, default=str))


@flow(name="register")
def register_flow(train_dir: str, evaluation: str, corpus: str, config: str | None = None,
                  overrides: dict | None = None, split: str = "valid", run_name: str | None = None,
                  tags: dict | None = None, fingerprint: dict | None = None, hold: str | None = None) -> dict:
    """`run_name` and `tags` name the MLflow run; run on its own, the tags are this flow run's.
    `fingerprint`: the training fingerprint when the caller (the nightly flow) has it already; `hold`
    (why) registers without promoting (the nightly's drift.on_persist=hold)."""
    settings = settings_from(config, overrides)
    return register_task(train_dir, evaluation, corpus, split, settings, run_name,
                         tags if tags is not None else provenance_tags(settings.serve.prefect_public_url), fingerprint,
                         hold)


def main() -> None:
    args, overrides = command_line(__doc__, "train_dir", "evaluation", "corpus", out=False)
    print(json.dumps(register_flow(args.train_dir, args.evaluation, args.corpus, args.config, overrides), indent=2))


if __name__ == "__main__":
    main()
