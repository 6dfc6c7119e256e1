"""Train the reasoning-text explainer (trl GRPO, verifiable rewards) next to a trained fusion model.

    python -m flows.reasoning TRAIN_DIR CORPUS FEATURES [--config FILE] [--profile tiny]

In the nightly flow this stage runs whenever a real explainer LM is in the model store (`reasoning.enabled`
auto), bounded by `reasoning.time_budget_s` on a CPU; only the LoRA adapter is saved.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, settings_from


@task(name="train-explainer")
def reasoning_task(train_dir: str, corpus: str, features: str, settings: Settings) -> str:
    from clmer import pipeline

    logger = get_run_logger()

    def log(row: dict) -> None:
        if "reward" in row:
            logger.info("step %s: reward %.3f", row.get("step"), row["reward"])

    return str(pipeline.train_reasoning(train_dir, corpus, features, settings, log=log))


@flow(name="train-explainer")
def reasoning_flow(train_dir: str, corpus: str, features: str, config: str | None = None,
                   overrides: dict | None = None) -> str:
    return reasoning_task(train_dir, corpus, features, settings_from(config, overrides))


def main() -> None:
    args, overrides = command_line(__doc__, "train_dir", "corpus", "features", out=False)
    print(reasoning_flow(args.train_dir, args.corpus, args.features, args.config, overrides))


if __name__ == "__main__":
    main()
