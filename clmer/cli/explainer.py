"""`clmer explainer ...`: the reasoning-text LM's training recipe (SFT cold start, then GRPO), with budgets,
resumable, logged to MLflow with the LM measured on validation clips before and after.
`clmer train-explainer` is the same command under its older name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from clmer.cli.common import app, console, settings
from clmer.cli.errors import need_corpus

explainer_app = typer.Typer(help="The reasoning-text LM: train (SFT + GRPO) beside a trained model.",
                            no_args_is_help=True, rich_markup_mode=None)
app.add_typer(explainer_app, name="explainer")


def run_training(run: Path, corpus: Path, features: Optional[Path], profile: Optional[str], sft_steps: Optional[int],
                 grpo_steps: Optional[int], seconds: Optional[float], fresh: bool, mlflow_log: bool = True) -> Path:
    from clmer import pipeline
    from clmer.cli.commands import _features_for, _profile_overrides

    budget: dict = {}
    if sft_steps is not None:
        budget["sft_steps"] = sft_steps
    if grpo_steps is not None:
        budget["max_steps"] = grpo_steps
    if seconds is not None:
        budget |= {"sft_time_budget_s": seconds, "time_budget_s": seconds}
    overrides = _profile_overrides(profile) | ({"reasoning": budget} if budget else {})
    cfg = settings(overrides)
    need_corpus(corpus)
    feats = _features_for(corpus, features, cfg, run)

    def log(r: dict) -> None:
        if "reward" in r:
            console.print(f"  grpo step {r.get('step')}: reward {float(r['reward']):.3f}, "
                          f"frac_reward_zero_std {float(r.get('frac_reward_zero_std', float('nan'))):.2f}")
        elif r.get("stage") == "sft":
            console.print(f"  sft step {r['step']}: loss {r['loss']:.3f}")

    path = pipeline.train_reasoning(run, corpus, feats, cfg, log=log, fresh=fresh)
    doc = json.loads((run / "reasoning.json").read_text(encoding="utf-8"))
    console.print(f"explainer adapter: {path}  (stages {', '.join(doc['stages']) or 'none'}, {doc['steps']} steps, "
                  f"{doc['seconds']:.0f} s)")
    for when in ("before", "after"):
        for lang, m in doc["by_language"][when].items():
            if isinstance(m, dict):
                console.print(f"  {when} [{lang}]: accepted {m['accepted']:.0%}, mean reward {m['mean_reward']:.3f}, "
                              f"distinct-2 {m['distinct_2']:.2f}, failed {m['failed']}")
    if mlflow_log:
        _log_to_mlflow(run, cfg)
    return path


def _log_to_mlflow(run: Path, cfg) -> None:
    """One MLflow run per training: parameters, the stages' curves, before/after metrics, samples."""
    import mlflow

    from clmer.config import flatten
    from clmer.serving.tracking import _log_reasoning, configure

    configure(cfg)
    with mlflow.start_run(run_name=f"explainer-{run.name}") as active:
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(cfg.model_dump(mode="json")).items()
                           if k.startswith("reasoning.") or k.startswith("models.")})
        mlflow.set_tag("kind", "explainer-train")
        _log_reasoning(mlflow.MlflowClient(), active.info.run_id, run)
        console.print(f"MLflow run: {active.info.run_id}")


@explainer_app.command("train")
def train(
    run: Path = typer.Option(..., "--run", help="A train run folder (from `clmer train`)."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus the model was trained on."),
    features: Optional[Path] = typer.Option(None, help="features.parquet (default: extract now)."),
    profile: Optional[str] = typer.Option(None, help="Model profile: auto | full | small | tiny."),
    sft_steps: Optional[int] = typer.Option(None, help="SFT steps (default: reasoning.sft_steps; 0 skips SFT)."),
    steps: Optional[int] = typer.Option(None, "--steps", "--grpo-steps",
                                        help="GRPO steps (default: reasoning.max_steps; 0 skips GRPO)."),
    seconds: Optional[float] = typer.Option(None, help="Time budget per stage in seconds (default: the settings')."),
    fresh: bool = typer.Option(False, help="Discard the checkpoints of an earlier, unfinished run instead of resuming."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log the training to MLflow."),
) -> None:
    """Train the reasoning-text LM: SFT cold start then GRPO (verifiable rewards), LoRA, within budgets."""
    run_training(run, corpus, features, profile, sft_steps, steps, seconds, fresh, not no_mlflow)


@app.command("train-explainer")
def train_explainer(
    run: Path = typer.Option(..., "--run", help="A train run folder (from `clmer train`)."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus the model was trained on."),
    features: Optional[Path] = typer.Option(None, help="features.parquet (default: extract now)."),
    profile: Optional[str] = typer.Option(None, help="Model profile: auto | full | small | tiny."),
    steps: Optional[int] = typer.Option(None, help="GRPO steps (default: reasoning.max_steps)."),
) -> None:
    """The older name of `clmer explainer train` (SFT then GRPO on the reasoning-text LM)."""
    run_training(run, corpus, features, profile, None, steps, None, False, mlflow_log=False)
