"""Drift monitoring where it meets the product: the reference profile made at registration, and the report of
each scored drop written beside its results.

    build_reference(model_dir, corpus, settings)   -> <model_dir>/drift_reference.json (inside the registered model)
    drop_drift(drop, chunks, scorer, supplements, settings) -> Test_Supplements/drift_report.json and
                                       drop_summary.html, and the drop's MLflow run (`clmer.serving.drift_tracking`)

The reference's clips are extracted the way scoring extracts a drop (ASR transcript, language detected), not with
the manifest's transcripts: the profile must describe what the model meets when it scores. Features are cached
by content, so this costs the ASR of clips that training read from the manifest, once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from clmer import atomic
from clmer.config import Settings
from clmer.data.corpus import Corpus

REPORT, SUMMARY_PAGE = "drift_report.json", "drop_summary.html"  # in the output's Test_Supplements/
REGISTRY_SCHEMES = ("models:/", "runs:/")


def reference_jobs(corpus: Corpus, settings: Settings) -> tuple[list, list[str]]:
    """The clips a profile is made of: validation clips first (the only ones whose predictions count: the model
    fit the training clips), then training clips, at most drift.reference_max_clips, never the test split.
    Jobs carry no transcript, so extraction runs ASR as scoring does."""
    import pandas as pd

    from clmer.features.extract import jobs_from_manifest

    cap = settings.drift.reference_max_clips
    manifest = corpus.manifest
    valid = manifest[manifest["mode"] == "valid"]
    valid = valid.sample(min(len(valid), cap), random_state=0)
    train = manifest[manifest["mode"] == "train"]
    train = train.sample(min(len(train), cap - len(valid)), random_state=0)
    chosen = pd.concat([valid, train])
    jobs = [replace(j, transcript=None, language=None) for j in jobs_from_manifest(corpus.root, chosen, "asr")]
    return jobs, chosen["mode"].tolist()


def build_reference(model_dir: str | Path, corpus: "Corpus | str | Path", settings: Settings) -> Path | None:
    """Write the model's reference profile beside its weights; None when drift.reference_max_clips is 0.
    Vision records stored before brightness was recorded have none, and the profile says "not recorded"
    for it rather than decoding those clips a second time."""
    from clmer.data.corpus import corpus_of
    from clmer.features.extract import chunked
    from clmer.monitor.clip_stats import clip_statistics
    from clmer.monitor.profile import build_profile, save_profile
    from clmer.serving.scoring import Scorer

    if settings.drift.reference_max_clips == 0:
        return None
    corpus = corpus_of(corpus, settings.paths.external_media)
    scorer = Scorer(model_dir, settings)
    jobs, splits = reference_jobs(corpus, settings)
    rows: list[dict] = []
    for chunk in chunked(jobs, settings.extract.chunk_size):
        features = scorer.extract(chunk)
        rows += clip_statistics(features, scorer.predict_features(features), scorer.store)
    info = {"corpus": corpus.name, "corpus_digest": corpus.digest(), "profile": scorer.doc.get("profile"),
            "encoders": {r: e.get("name") for r, e in scorer.doc.get("encoders", {}).items()},
            "n_failed": sum(r.get("status") == "failed" or "error" in r for r in rows)}
    return save_profile(build_profile(rows, splits, info), model_dir)


def drop_drift(drop: str, chunks: list[dict], scorer, supplements: str | Path, settings: Settings,
               tags: dict | None = None) -> dict | None:
    """The drift report of the clips scored now (None when nothing was): written as JSON and as the drop's HTML
    summary, and, for a model from the registry, logged as the drop's MLflow run. A tracking server that cannot
    be reached is recorded in the report (`mlflow_error`), never raised: the drop's results are already out."""
    from clmer.monitor import drift_html
    from clmer.monitor.drift import drift_report
    from clmer.monitor.profile import load_profile
    from clmer.serving import drift_tracking

    rows = [r for c in chunks for r in c.get("drift", [])]
    if not rows:
        return None
    model = {"version": str(scorer.model_version), "uri": str(scorer.model_uri), "alias": scorer.model_alias}
    report = drift_report(load_profile(scorer.model_dir), rows, settings.drift, drop, model)
    registered = model["uri"].startswith(REGISTRY_SCHEMES)
    run = None
    if registered:
        try:
            report["streak"] = drift_tracking.streak_after(report, settings)
            run = drift_tracking.start_drop_run(report, settings, tags)
            report["mlflow_run_id"], report["mlflow_run_url"] = run["run_id"], run["url"]
            _link_traces(chunks, run["run_id"])
        except Exception as exc:  # noqa: BLE001 - monitoring must not undo a published drop
            report["mlflow_error"] = f"{exc.__class__.__name__}: {exc}"
    clips = [r for c in chunks for r in c.get("predictions", [])]
    json_path, html_path = Path(supplements) / REPORT, Path(supplements) / SUMMARY_PAGE
    atomic.write_json(json_path, report, indent=1)
    atomic.write_text(html_path, drift_html.page(report, clips))
    if run is not None:
        try:
            drift_tracking.finish_drop_run(run["run_id"], report, [json_path, html_path], settings)
        except Exception as exc:  # noqa: BLE001
            report["mlflow_error"] = f"{exc.__class__.__name__}: {exc}"
    report["paths"] = {"json": str(json_path), "html": str(html_path)}
    return report


def _link_traces(chunks: list[dict], run_id: str) -> None:
    """The drop's clip traces on its run's page; a failure is a warning (the traces stand on their own)."""
    from clmer.serving import clip_traces

    ids = [t for c in chunks for t in c.get("traces", [])]
    try:
        if ids:
            clip_traces.link_to_run(ids, run_id)
    except Exception as exc:  # noqa: BLE001
        clip_traces.warn("traces not linked to the drop's run", exc)


def brief(report: dict | None) -> dict | None:
    """What a summary line needs: the verdict, why, what moved, where the report is."""
    if report is None:
        return None
    return {k: report.get(k) for k in ("verdict", "reason", "moved", "watching", "n_clips", "streak", "paths",
                                       "mlflow_run_id", "mlflow_run_url", "mlflow_error")}
