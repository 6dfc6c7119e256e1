"""Validate a corpus against its rules and data contracts; the run fails if the corpus is unusable.

    python -m flows.validate CORPUS [--out RUN] [--config FILE]
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy

from clmer.config import Settings
from flows.common import command_line, settings_from


def _corpus_key(context, parameters) -> str:
    """Same corpus bytes + same options + same task code -> the cached report is still true. The
    corpus's identity is its label.csv and the listing of its media (path, size), taken without
    reading the corpus: the task reads it, once."""
    from clmer.data import files

    root = Path(parameters["corpus"])
    h = hashlib.sha256((root / "label.csv").read_bytes() if (root / "label.csv").is_file() else b"")
    for entry in files.walk(root / "Raw"):
        size = os.stat(root / "Raw" / entry.rel).st_size if entry.kind == "symbolic link" and \
            (root / "Raw" / entry.rel).exists() else entry.size  # a link to external media: its target's size
        h.update(f"{entry.rel}\0{entry.kind}\0{size}\n".encode())
    return f"validate-{h.hexdigest()}-{parameters['max_reject']}-{parameters['out']}"


@task(name="validate-corpus", cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_corpus_key), persist_result=True)
def validate_task(corpus: str, out: str, max_reject: float, settings: Settings) -> dict:
    from clmer.data.validate import validate_corpus

    report = validate_corpus(corpus, out, max_reject_fraction=max_reject, max_bytes=settings.limits.max_file_bytes,
                             external_media=settings.paths.external_media, timeout_s=settings.limits.decode_timeout_s)
    return report.summary_dict() | {"out": out}


@flow(name="validate")
def validate_flow(corpus: str, out: str | None = None, config: str | None = None, overrides: dict | None = None,
                  max_reject: float = 0.0) -> str:
    from clmer.pipeline import run_folder

    settings = settings_from(config, overrides)
    folder = run_folder(settings, "validate", out)
    summary = validate_task(corpus, str(folder), max_reject, settings)
    logger = get_run_logger()
    logger.info("%s: %s rows, %s accepted, %s rejected", corpus, summary["rows"], summary["accepted"], summary["rejected"])
    if not summary["usable"]:
        raise ValueError(f"corpus {corpus} is not usable: {summary.get('fatal') or json.dumps(summary['contracts'])[:500]}"
                         f"; see {folder}/quarantine.csv")
    return str(folder / "manifest.parquet")


def main() -> None:
    args, _ = command_line(__doc__, "corpus", profile=False, more=lambda ap: ap.add_argument(
        "--max-reject", type=float, default=0.0))
    print(validate_flow(args.corpus, args.out, args.config, {}, args.max_reject))


if __name__ == "__main__":
    main()
