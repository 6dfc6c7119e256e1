"""Train the reasoning-text explainer (SFT cold start, then trl GRPO with verifiable rewards) next to a
trained fusion model, or reuse the champion's adapter.

    python -m flows.reasoning TRAIN_DIR CORPUS FEATURES [--config FILE] [--profile small] [--retrain]

In the nightly flow this stage runs whenever a real explainer LM is in the model store (`reasoning.enabled`
auto). `reasoning.train` auto reuses the registered champion's adapter when it was trained on the same base
LM (name and revision) and trains otherwise; `on` (or --retrain) always trains, within the stages' budgets.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, settings_from


@task(name="train-explainer")
def reasoning_task(train_dir: str, corpus: str, features: str, settings: Settings, retrain: bool = False) -> str:
    from clmer import pipeline

    logger = get_run_logger()
    if not retrain and settings.reasoning.train == "auto":
        reused = pipeline.reuse_registered_explainer(train_dir, settings)
        if reused is not None:
            logger.info("explainer: reusing the champion's adapter (same base LM): %s", reused)
            return str(reused)

    def log(row: dict) -> None:
        if "reward" in row or "loss" in row:
            logger.info("%s step %s: %s", row.get("stage"), row.get("step"),
                        f"reward {row['reward']:.3f}" if "reward" in row else f"loss {row['loss']:.3f}")

    return str(pipeline.train_reasoning(train_dir, corpus, features, settings, log=log))


@flow(name="train-explainer")
def reasoning_flow(train_dir: str, corpus: str, features: str, config: str | None = None,
                   overrides: dict | None = None, retrain: bool = False) -> str:
    return reasoning_task(train_dir, corpus, features, settings_from(config, overrides), retrain)


def main() -> None:
    def more(ap) -> None:
        ap.add_argument("--retrain", action="store_true", help="train even when the champion's adapter could be reused")

    args, overrides = command_line(__doc__, "train_dir", "corpus", "features", out=False, more=more)
    print(reasoning_flow(args.train_dir, args.corpus, args.features, args.config, overrides, args.retrain))


if __name__ == "__main__":
    main()
