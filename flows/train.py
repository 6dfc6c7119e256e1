"""Train the fusion model (warm-up + RLVR) on extracted features.

    python -m flows.train CORPUS FEATURES [--out RUN] [--config FILE] [--profile tiny]

Training runs are content-addressed: the run folder is named by a hash of the features table,
the corpus digest, the training settings and a digest of the code, and a finished one is reused
instead of trained again (the folder is the cache, so a deleted run is simply retrained).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, with_profile


@task(name="train-model")
def train_task(corpus: str, features: str, out: str, settings: Settings) -> str:
    from clmer import pipeline

    model_dir = Path(out) / "model"
    if (model_dir / "model.json").exists() and (Path(out) / "history.json").exists():
        get_run_logger().info("same features, corpus and settings were trained before: reusing %s", out)
        return str(model_dir)
    logger = get_run_logger()

    def log(row: dict) -> None:
        keys = [k for k in ("train_ce", "train_reward", "valid_war", "valid_uar") if k in row]
        logger.info("%s epoch %d: %s", row["stage"], row["epoch"], ", ".join(f"{k}={row[k]:.3f}" for k in keys))

    return str(pipeline.train(corpus, features, settings, out, log=log, resume=(Path(out) / "checkpoint.pt").exists()))


@flow(name="train")
def train_flow(corpus: str, features: str, out: str | None = None, config: str | None = None,
               overrides: dict | None = None, fingerprint: dict | None = None) -> str:
    """`fingerprint`: the training fingerprint when the caller (the nightly flow) has it already."""
    from clmer.pipeline import training_run_key

    settings, _ = with_profile(config, overrides, get_run_logger().info)
    out = out or str(settings.paths.runs / f"train-{training_run_key(corpus, features, settings, fingerprint)}")
    return train_task(corpus, features, out, settings)


def main() -> None:
    args, overrides = command_line(__doc__, "corpus", "features")
    print(train_flow(args.corpus, args.features, args.out, args.config, overrides))


if __name__ == "__main__":
    main()
