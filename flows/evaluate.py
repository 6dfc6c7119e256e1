"""Evaluate a model in-language (per language, baselines, faithfulness) and, optionally, across
languages (train on zh -> test en and back, retention).

    python -m flows.evaluate MODEL_DIR CORPUS FEATURES [--out RUN] [--cross-lingual] [--config FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, get_run_logger, task

from flows.common import cli_overrides, run_folder, settings_from


@task(name="evaluate-model")
def evaluate_task(model_dir: str, corpus: str, features: str, out: str, split: str, config: str | None,
                  overrides: dict) -> str:
    from clmer import pipeline

    return str(pipeline.evaluate(model_dir, corpus, features, settings_from(config, overrides), out, split=split))


@task(name="cross-lingual")
def cross_lingual_task(corpus: str, features: str, out: str, config: str | None, overrides: dict) -> str:
    from clmer import pipeline
    from clmer.data.corpus import read_corpus

    languages = set(read_corpus(corpus, strict=False).manifest["language"])
    if not {"zh", "en"} <= languages:
        get_run_logger().info("one language only (%s): no cross-lingual table", ",".join(sorted(languages)))
        return ""
    corpora = {lang: (Path(corpus), Path(features), None) for lang in ("zh", "en")}
    return str(pipeline.cross_lingual(corpora, settings_from(config, overrides), out))


@flow(name="evaluate")
def evaluate_flow(model_dir: str, corpus: str, features: str, out: str | None = None, config: str | None = None,
                  overrides: dict | None = None, split: str = "test", cross_lingual: bool = False) -> str:
    overrides = overrides or {}
    run = run_folder(settings_from(config, overrides), "evaluate", out)
    report = evaluate_task(model_dir, corpus, features, str(run), split, config, overrides)
    if cross_lingual:
        cross_lingual_task(corpus, features, str(run / "cross_lingual"), config, overrides)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("corpus")
    ap.add_argument("features")
    ap.add_argument("--out")
    ap.add_argument("--config")
    ap.add_argument("--profile", choices=["auto", "full", "small", "tiny"])
    ap.add_argument("--split", default="test")
    ap.add_argument("--cross-lingual", action="store_true")
    args = ap.parse_args()
    print(evaluate_flow(args.model_dir, args.corpus, args.features, args.out, args.config, cli_overrides(args.profile),
                        args.split, args.cross_lingual))


if __name__ == "__main__":
    main()
