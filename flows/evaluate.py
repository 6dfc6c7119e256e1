"""Evaluate a model in-language (per language, baselines, faithfulness) and, optionally, across
languages (train on zh -> test en and back, retention).

    python -m flows.evaluate MODEL_DIR CORPUS FEATURES [--out RUN] [--cross-lingual] [--config FILE]
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, settings_from


@task(name="evaluate-model")
def evaluate_task(model_dir: str, corpus: str, features: str, out: str, split: str, settings: Settings) -> str:
    from clmer import pipeline

    return str(pipeline.evaluate(model_dir, corpus, features, settings, out, split=split))


@task(name="cross-lingual")
def cross_lingual_task(corpus: str, features: str, out: str, settings: Settings) -> str:
    from clmer import pipeline
    from clmer.data.corpus import corpus_of

    read = corpus_of(corpus, settings.paths.external_media)  # read once: for its languages and the study
    languages = set(read.manifest["language"])
    if not {"zh", "en"} <= languages:
        get_run_logger().info("one language only (%s): no cross-lingual table", ",".join(sorted(languages)))
        return ""
    corpora = {lang: (read, Path(features), None) for lang in ("zh", "en")}
    return str(pipeline.cross_lingual(corpora, settings, out))


@flow(name="evaluate")
def evaluate_flow(model_dir: str, corpus: str, features: str, out: str | None = None, config: str | None = None,
                  overrides: dict | None = None, split: str = "test", cross_lingual: bool = False) -> str:
    from clmer.pipeline import run_folder

    settings = settings_from(config, overrides)
    folder = run_folder(settings, "evaluate", out)
    report = evaluate_task(model_dir, corpus, features, str(folder), split, settings)
    if cross_lingual:
        cross_lingual_task(corpus, features, str(folder / "cross_lingual"), settings)
    return report


def main() -> None:
    def more(ap) -> None:
        ap.add_argument("--split", default="test")
        ap.add_argument("--cross-lingual", action="store_true")

    args, overrides = command_line(__doc__, "model_dir", "corpus", "features", more=more)
    print(evaluate_flow(args.model_dir, args.corpus, args.features, args.out, args.config, overrides, args.split,
                        args.cross_lingual))


if __name__ == "__main__":
    main()
