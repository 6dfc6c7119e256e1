"""`clmer benchmark`: the whole protocol on a corpus, over several seeds, mean ± std.

Always: the default pipeline's test WAR/UAR (and the benchmark's own regression metrics) beside the
majority and chance baselines, each single modality and each corruption; with both languages, the
cross-lingual protocols (`clmer.model.cross_lingual`). With `--ablations`, also the studies that decide
what is in the default pipeline (`clmer.model.ablation`, `clmer.explain.quality`). Tables are printed,
written as CSV and Markdown under the run folder and logged to MLflow as one run (`benchmark-<corpus>-<date>`). Models are selected on the validation
split; the test split is only reported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from clmer import pipeline
from clmer.config import Settings
from clmer.data.safe_csv import to_csv_text, write_csv
from clmer.data.validate import validate_corpus


@dataclass
class BenchmarkResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # name -> mean ± std table
    raw: dict[str, pd.DataFrame] = field(default_factory=dict)  # name -> one row per seed
    timing: dict = field(default_factory=dict)  # "start" and "seed<k>" -> (start, end), epoch seconds
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = []
        for name, frame in self.tables.items():
            parts += [f"== {name} ==", frame.to_string(index=False)]
        return "\n".join(parts + [f"note: {n}" for n in self.notes])


def mean_std(rows: pd.DataFrame, by: list[str], digits: int = 3) -> pd.DataFrame:
    """One row per group; each numeric column as 'mean ± std' over the seeds."""
    numeric = [c for c in rows.columns if c not in by + ["seed"] and pd.api.types.is_numeric_dtype(rows[c])]
    out = []
    for key, group in rows.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key)) | {"seeds": len(group)}
        for c in numeric:
            v = group[c].astype(float)
            row[c] = f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.{digits}f}"
        out.append(row)
    return pd.DataFrame(out)


def _features(roots: dict, settings: Settings, out_dir: Path, notes: list[str]) -> dict:
    features = {}
    for name, (path, flavour) in roots.items():
        report = validate_corpus(path, out_dir / f"validate_{name}", flavour=flavour, max_reject_fraction=1.0,
                                 run_contracts=False, external_media=settings.paths.external_media,
                                 timeout_s=settings.limits.decode_timeout_s)
        if report.n_accepted == 0:
            raise ValueError(f"{path}: no usable clips ({report.fatal or 'every row was rejected'})")
        if report.n_rejected:
            notes.append(f"{path}: {report.n_rejected} row(s) rejected, see {report.out_dir / 'quarantine.csv'}")
        features[name] = pipeline.extract(path, settings, out_dir / f"extract_{name}")
    return features


def _splits(roots: dict, features: dict, settings: Settings) -> dict:
    from clmer.model.cross_lingual import concat

    splits = None
    for name, (path, flavour) in roots.items():
        part = pipeline.load_splits(path, features[name], settings, flavour=flavour)
        splits = part if splits is None else {k: concat(splits[k], part[k]) for k in splits}
    return splits


def run(flavour: str, root: Path, settings: Settings, out_dir: Path, other_root: Path | None = None,
        other_flavour: str | None = None, log: Callable[[dict], None] | None = None, seeds: int = 3,
        ablations: bool = False) -> BenchmarkResult:
    from clmer.model import ablation, cross_lingual
    from clmer.model.evaluate import evaluate, table
    from clmer.model.train import train, train_device

    out_dir = Path(out_dir)
    result = BenchmarkResult()
    roots = {"main": (Path(root), flavour)}
    if other_root:
        roots["other"] = (Path(other_root), other_flavour or ("mosei" if flavour == "chsims2" else "chsims2"))
    features = _features(roots, settings, out_dir, result.notes)
    splits = _splits(roots, features, settings)
    device = train_device(settings.train.device)
    default_rows, ablation_rows, cross_rows, quality_rows = [], [], [], []
    result.timing["start"] = time.time()
    for seed in range(seeds):
        seed_start = time.time()
        s = ablation.with_overrides(settings, {}, seed)
        trained = train(splits["train"], splits["valid"], s, out_dir / f"default-seed{seed}", log=log)
        report = evaluate(trained.model, splits["test"], splits["train"].frame["class_index"].to_numpy(), device)
        default_rows.append(table(report).assign(seed=seed))
        result.timing[f"seed{seed}"] = (seed_start, time.time())  # its MLflow child run covers its training
        cross_rows += cross_lingual.run_seed(splits, settings, seed, out_dir / "cross_lingual", log)
        if ablations:
            from clmer.explain.quality import explanation_quality

            ablation_rows += ablation.run_seed(splits, settings, seed, out_dir / "ablation", log)
            quality_rows.append({"seed": seed, "system": f"default ({s.train.policy_stage})"}
                                | explanation_quality(trained.model, splits["test"], seed))
    raw = pd.concat(default_rows, ignore_index=True)
    result.raw["in_language"] = raw
    result.tables["in-language test split: default pipeline vs baselines, single modalities, corruption"] = mean_std(
        raw.drop(columns=["n"]), ["split", "system"])
    if not cross_rows:
        result.notes.append("only one language available: pass --other-root with a corpus of the other language "
                            "for the cross-lingual table")
    for name, rows, by in (("ablation", ablation_rows, ["variant"]),
                           ("cross_lingual", cross_rows, ["train", "test", "protocol"]),
                           ("explanations", quality_rows, ["system"])):
        if rows:
            frame = pd.DataFrame(rows)
            result.raw[name] = frame
            result.tables[name.replace("_", "-")] = mean_std(frame, by)
    _write(result, out_dir)
    _log_to_mlflow(result, settings, Path(root).name, seeds)
    return result


def _write(result: BenchmarkResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in result.raw.items():
        write_csv(frame, out_dir / f"{name}.csv")
    md = []
    for name, frame in result.tables.items():
        md += [f"### {name}", "", frame.to_markdown(index=False), ""]
    (out_dir / "benchmark.md").write_text("\n".join(md + [f"- {n}" for n in result.notes]), encoding="utf-8")


def _log_to_mlflow(result: BenchmarkResult, settings: Settings, corpus: str, seeds: int) -> None:
    """A parent run `benchmark-<corpus>` spanning the benchmark (every table as an artifact, the means as
    metrics) and a child run per seed."""
    import mlflow

    from clmer.serving.tracking import configure

    experiment = configure(settings)
    client = mlflow.MlflowClient()
    start = result.timing.get("start")
    parent = client.create_run(experiment, run_name=f"benchmark-{corpus}",
                               start_time=int(start * 1000) if start else None)
    with mlflow.start_run(run_id=parent.info.run_id):  # spans the whole benchmark, every seed's training included
        mlflow.set_tags({"kind": "benchmark", "corpus": corpus, "profile": settings.models.profile, "seeds": seeds})
        _log_seed_runs(client, experiment, parent.info.run_id, result, corpus)
        metrics = {}
        for table_name, frame in result.raw.items():
            key = {"ablation": "variant", "explanations": "system", "cross_lingual": "protocol"}.get(table_name)
            if key is None:
                continue
            for group, rows in frame.groupby(key):
                for col in rows.select_dtypes("number").columns.drop("seed", errors="ignore"):
                    value = float(np.nanmean(rows[col]))
                    if np.isfinite(value):
                        metrics[f"{table_name}/{_clean(group)}/{col}"] = value
        mlflow.log_metrics(metrics)
        for table_name, frame in result.raw.items():
            mlflow.log_text(to_csv_text(frame), f"benchmark/{_clean(table_name)}.csv")
        mlflow.log_text(json.dumps({k: v.to_dict(orient="records") for k, v in result.tables.items()}, indent=2),
                        "benchmark/tables.json")


def _log_seed_runs(client, experiment: str, parent_id: str, result: BenchmarkResult, corpus: str) -> None:
    """One child run per seed, `benchmark-<corpus>-seed<k>`, with that seed's in-language metrics and
    the start and end of its training, so the runs table compares seeds and shows their durations."""
    from mlflow.entities import Metric
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    frame = result.raw.get("in-language")
    if frame is None:
        return
    for seed, rows in frame.groupby("seed"):
        start, end = result.timing.get(f"seed{seed}", (None, None))
        child = client.create_run(experiment, run_name=f"benchmark-{corpus}-seed{seed}",
                                  start_time=int(start * 1000) if start else None,
                                  tags={MLFLOW_PARENT_RUN_ID: parent_id, "kind": "benchmark-seed", "seed": str(seed)})
        now = int(time.time() * 1000)
        metrics = [Metric(f"{_clean(r['split'])}/{_clean(r['system'])}/{col}", float(r[col]), now, 0)
                   for _, r in rows.iterrows() for col in rows.select_dtypes("number").columns.drop(["seed", "n"], errors="ignore")
                   if np.isfinite(r[col])]
        for i in range(0, len(metrics), 900):
            client.log_batch(child.info.run_id, metrics=metrics[i: i + 900])
        client.set_terminated(child.info.run_id, end_time=int(end * 1000) if end else None)


def _clean(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
