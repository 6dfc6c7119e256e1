"""Extract a corpus or a drop into the feature store: one task per chunk of clips.

    python -m flows.extract TARGET [--out RUN] [--config FILE] [--profile tiny] [--runner dask]
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, get_run_logger, task

from clmer.config import Settings
from flows.common import command_line, retry_on_io, settings_from, task_process, task_runner, with_profile


@task(name="extract-chunk", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def extract_chunk_task(jobs: list[dict], settings: Settings, out_path: str) -> str:
    """Extract one chunk (models load once per worker process) and write its rows; returns the path.

    Per-clip failures are rows, not exceptions; only I/O trouble (OSError) is worth a retry.
    """
    from clmer.features.extract import extract_chunk, summarise

    task_process()
    frame = extract_chunk(jobs, settings)
    frame.to_parquet(out_path, index=False)
    s = summarise(frame)
    get_run_logger().info("chunk %s: %d clips, %d ok, %d partial, %d failed, %d from the store",
                          out_path.rsplit("/", 1)[-1], s["clips"], s["ok"], s["partial"], s["failed"], s["cached"])
    return out_path


@flow(name="extract", log_prints=True)
def extract_flow(target: str, out: str | None = None, config: str | None = None, overrides: dict | None = None) -> str:
    """Plan clips, extract chunk by chunk on the task runner, merge; returns features.parquet's path."""
    from dataclasses import asdict

    from clmer.features.extract import chunked, plan_jobs, summarise, write_features
    from clmer.features.feature_store import FeatureStore
    from clmer.pipeline import run_folder

    logger = get_run_logger()
    settings, _ = with_profile(config, overrides, logger.info)
    folder = run_folder(settings, "extract", out)
    jobs, kind = plan_jobs(target, settings)
    chunks = chunked([asdict(j) for j in jobs], settings.extract.chunk_size)
    (folder / "chunks").mkdir(exist_ok=True)
    logger.info("extracting %d clips from a %s in %d chunks", len(jobs), kind, len(chunks))
    futures = [extract_chunk_task.submit(c, settings, str(folder / "chunks" / f"chunk-{i:05d}.parquet"))
               for i, c in enumerate(chunks)]
    paths = [f.result() for f in futures]
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    path = write_features(frame, folder, FeatureStore(settings.paths.feature_store)) if len(frame) \
        else folder / "features.parquet"
    logger.info("extracted: %s", summarise(frame) if len(frame) else {})
    return str(path)


def extract_on_runner(target: str, out: str | None = None, config: str | None = None,
                      overrides: dict | None = None) -> str:
    """The flow on the task runner the settings ask for (chosen before the flow starts)."""
    settings = settings_from(config, overrides)
    return extract_flow.with_options(task_runner=task_runner(settings))(target, out, config, overrides)


def main() -> None:
    args, overrides = command_line(__doc__, "target", more=lambda ap: ap.add_argument(
        "--runner", choices=["thread", "dask", "ray"]))
    print(extract_on_runner(args.target, args.out, args.config, overrides))


if __name__ == "__main__":
    main()
