"""The stage commands: demo-data, validate, decode, extract, train, evaluate, register, gate,
explain, score, benchmark (serve, stop and status are in `ops`). Every heavy import happens inside a command;
what a user typed is checked first (clmer/cli/errors.py), so a wrong path is one line, not a traceback."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from clmer.cli.common import (app, command_overrides, console, err_console, one_line, plain, profile_option,
                              run_folder, settings)
from clmer.cli.errors import UserError, need_corpus, need_path
from clmer.config import redact_uri
from clmer.names import REPORTS_DIR


@app.command("demo-data")
def demo_data(
    out: Path = typer.Argument(..., help="Directory to write the corpus into (MMSA layout)."),
    n: int | None = typer.Option(None, "--n", help="Number of clips (balanced over zh/en x negative/neutral/positive); "
                                 "default demo.n (120)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed: the same seed writes the same corpus; default demo.seed."),
    variant_fraction: float | None = typer.Option(None, help="Share of single-modality variant clips; default "
                                                  "demo.variant_fraction."),
) -> None:
    """Write a bilingual demo corpus of real mp4 videos (Kokoro or eSpeak NG voice + drawn face)."""
    from rich.progress import Progress

    from clmer.synthetic.demo_corpus import make_demo_corpus

    cfg = settings().demo
    n, seed = cfg.n if n is None else n, cfg.seed if seed is None else seed
    variant_fraction = cfg.variant_fraction if variant_fraction is None else variant_fraction
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("writing clips", total=n)
        frame = make_demo_corpus(out, n=n, seed=seed, variant_fraction=variant_fraction, width=cfg.width,
                                 height=cfg.height, fps=cfg.fps, progress=lambda i, _: bar.update(task, completed=i),
                                 speech=cfg.speech, workers=cfg.workers or None)
    counts = frame.groupby(["language", "annotation"]).size().to_dict()
    console.print(f"[green]wrote {len(frame)} clips[/] to {out}  " + ", ".join(f"{k[0]}/{k[1]}: {v}" for k, v in counts.items()))


@app.command()
def validate(
    corpus: Path = typer.Argument(..., help="Corpus root (label.csv + Raw/)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder for reports (default: a new one under paths.runs)."),
    flavour: Optional[str] = typer.Option(None, help="chsims2 | mosei (default: corpus.json or label range)."),
    max_reject: float = typer.Option(0.0, help="Tolerated share of rejected rows before the corpus counts as unusable."),
) -> None:
    """Check a corpus: manifest rules, media probes, data contracts. Exit 1 if unusable."""
    from clmer.data.validate import validate_corpus

    need_path(corpus, "a corpus folder (label.csv + Raw/)")
    folder = run_folder("validate", out)
    cfg = settings()
    report = validate_corpus(corpus, folder, flavour=flavour, max_reject_fraction=max_reject,
                             max_bytes=cfg.limits.max_file_bytes, external_media=cfg.paths.external_media,
                             timeout_s=cfg.limits.decode_timeout_s)
    if report.fatal:
        console.print(f"[red]unusable corpus[/]: {report.fatal}")
    table = Table(title=f"validate {corpus}")
    for col in ("rows", "accepted", "rejected", "flavour"):
        table.add_column(col)
    table.add_row(str(report.n_rows), str(report.n_accepted), str(report.n_rejected), str(report.flavour))
    console.print(table)
    for _, row in report.quarantine.head(30).iterrows():
        where = f"line {int(row['row'])}" if row["row"] == row["row"] and row["row"] is not None else "media"
        console.print(f"  [yellow]rejected[/] {where} {row['video_id']}/{row['clip_id']}: {row['reason']}")
    for c in report.contracts:
        console.print(("[green]" if c.success else "[red]") + c.summary() + "[/]")
    console.print(f"reports: {folder}  (quarantine.csv, data_docs/index.html, summary.json)")
    if not report.usable:
        console.print("[red]corpus is not usable[/]")
        raise typer.Exit(1)
    console.print("[green]corpus is usable[/]")


@app.command()
def decode(
    target: Path = typer.Argument(..., help="A media file, or a corpus root (decodes every clip)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write a per-file CSV summary here."),
) -> None:
    """Decode media once (16 kHz mono audio + a frame every 2 s) and print what was found."""
    import pandas as pd

    from clmer.data.decode_worker import DecodeWorker
    from clmer.features.extract import ClipJob, ClipPass, close_stage, decode_stage, open_stage

    cfg = settings()
    need_path(target, "a media file or a corpus folder")
    files = [target] if target.is_file() else sorted(
        p for p in (target / "Raw").rglob("*") if p.suffix.lower() in cfg.scoring.video_extensions)
    if not files:
        raise UserError(f"{target}: no video files under {target / 'Raw'}; give a media file or a corpus folder")
    rows = []
    t0 = time.perf_counter()
    with DecodeWorker() as worker:  # the stages extraction runs: opened, checked, decoded in a child, time-limited
        for f in files:
            start = time.perf_counter()
            p = ClipPass.of(ClipJob(clip=f.name, path=str(f)))
            try:
                open_stage(p, cfg)
                d = decode_stage(p, cfg, worker)
                rows.append({"file": str(f), "status": "ok" if not d.missing else "partial",
                             "duration_s": round(d.duration_s, 2), "audio_s": round(d.audio_seconds, 2),
                             "frames": len(d.frames), "missing": ",".join(d.missing), "warnings": "; ".join(d.warnings),
                             "decode_s": round(time.perf_counter() - start, 3)})
            except Exception as exc:  # noqa: BLE001 - one file fails alone, named, with its reason
                reason = getattr(exc, "reason", None) or f"{exc.__class__.__name__}: {exc}"
                rows.append({"file": str(f), "status": "failed", "error": f"{f}: {reason}",
                             "decode_s": round(time.perf_counter() - start, 3)})
            finally:
                close_stage(p)
    frame = pd.DataFrame(rows)
    total = time.perf_counter() - t0
    media_s = frame.get("duration_s", pd.Series(dtype=float)).fillna(0).sum()
    console.print(frame.to_string(index=False, max_colwidth=60))
    console.print(f"decoded {len(files)} file(s), {media_s:.1f} s of media in {total:.2f} s "
                  f"({total / max(media_s / 60, 1e-9):.2f} s per minute of media)")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        from clmer.data.safe_csv import write_csv

        write_csv(frame, out)
    if len(frame) and (frame["status"] == "failed").all():
        raise typer.Exit(1)


@app.command()
def extract(
    target: Path = typer.Argument(..., help="A corpus root (label.csv), a folder of videos, or one file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: a new one under paths.runs)."),
    profile: Optional[str] = profile_option(),
) -> None:
    """Extract features into the store (what is already there is reused), one row per clip."""
    from rich.progress import Progress

    from clmer.features.extract import extract_chunk, plan_jobs, write_features
    from clmer.features.feature_store import FeatureStore

    cfg = settings(command_overrides(profile))
    need_path(target, "a corpus folder, a folder of videos or a video file")
    jobs, kind = plan_jobs(target, cfg)
    if not jobs:
        raise UserError(f"{target}: no videos found (extensions {', '.join(cfg.scoring.video_extensions[:4])}, ...)")
    store = FeatureStore(cfg.paths.feature_store)
    folder = run_folder("extract", out)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"extracting {len(jobs)} clip(s) from {kind}", total=len(jobs))
        frame = extract_chunk(jobs, cfg, store, progress=lambda r: bar.advance(task))
    path = write_features(frame, folder, store)
    from clmer.features.extract import summarise

    s = summarise(frame)
    console.print(f"{s['clips']} clip(s): {s['ok']} ok, {s['partial']} partial, {s['failed']} failed, "
                  f"{s['cached']} entirely from the store; {s['seconds']:.1f} s")
    for _, row in frame[frame["status"] == "failed"].iterrows():
        console.print(f"  [red]failed[/] {plain(row['clip'])}: {plain(row['error'])}")
    console.print(f"features: {path}  store: {store}")
    if len(frame) and (frame["status"] == "failed").all():
        raise typer.Exit(1)


def _features_for(corpus: Path, features: Optional[Path], cfg, folder: Path) -> Path:
    """Given features, or extract them now (cheap when the store already has them)."""
    if features:
        return features
    from clmer import pipeline

    return pipeline.extract(corpus, cfg, folder / "extract")


def _print_history_row(row: dict) -> None:
    keys = [k for k in ("train_ce", "train_reward", "train_kl", "valid_war", "valid_uar", "valid_faithfulness") if k in row]
    console.print(f"  {row['stage']:>6} epoch {row['epoch']:>3}  " + "  ".join(f"{k}={row[k]:.3f}" for k in keys))


@app.command()
def train(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus root (MMSA layout)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: a new one under paths.runs)."),
    features: Optional[Path] = typer.Option(None, help="features.parquet from `clmer extract` (default: extract now)."),
    profile: Optional[str] = profile_option(),
    language: Optional[list[str]] = typer.Option(None, help="Train on these languages only (zh, en)."),
    resume: bool = typer.Option(False, help="Continue from the run folder's checkpoint."),
    quiet: bool = typer.Option(False, help="Do not print per-epoch lines."),
) -> None:
    """Train the fusion model: supervised warm-up + cross-lingual alignment, then RLVR on the policy."""
    from clmer import pipeline

    need_corpus(corpus)
    cfg = settings(command_overrides(profile))
    folder = run_folder("train", out)
    feats = _features_for(corpus, features, cfg, folder)
    model_dir = pipeline.train(corpus, feats, cfg, folder, languages=language, resume=resume,
                               log=None if quiet else _print_history_row)
    console.print(f"[green]model[/]: {model_dir}")


@app.command()
def evaluate(
    model: Path = typer.Option(..., "--model", help="Model folder (with model.json) or a train run folder."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus root."),
    features: Optional[Path] = typer.Option(None, help="features.parquet (default: extract now)."),
    split: str = typer.Option("test", help="train | valid | test."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write evaluation.json/.csv."),
    profile: Optional[str] = profile_option(),
) -> None:
    """Evaluate a model: WAR/UAR/F1 + MMSA metrics per language, baselines, faithfulness."""
    import json as _json

    from clmer import pipeline
    from clmer.model.evaluate import table

    need_corpus(corpus)
    need_path(model, "a model folder (with model.json) or a train run folder")
    cfg = settings(command_overrides(profile))
    model_dir = model / "model" if (model / "model" / "model.json").exists() else model
    folder = run_folder("evaluate", out)
    feats = _features_for(corpus, features, cfg, folder)
    path = pipeline.evaluate(model_dir, corpus, feats, cfg, folder, split=split)
    report = _json.loads(path.read_text())
    console.print(table(report).round(3).to_string(index=False))
    if "faithfulness" in report:
        console.print("faithfulness: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                   for k, v in report["faithfulness"].items() if not isinstance(v, dict)))
    console.print(f"report: {path}")


@app.command()
def register(
    train_folder: Path = typer.Option(..., "--run", help="A train run folder (from `clmer train`)."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus whose split the champion gate compares on."),
    evaluation: Optional[Path] = typer.Option(None, help="evaluation.json (default: evaluate now)."),
    split: str = typer.Option("valid", help="Split the gate compares on (validation: test is only reported)."),
    profile: Optional[str] = profile_option(),
) -> None:
    """Log a training run to MLflow and register it: challenger, champion only if it beats the champion."""
    from clmer import pipeline

    need_corpus(corpus)
    if not (train_folder / "model" / "model.json").exists():
        raise UserError(f"{train_folder}: not a train run folder (no model/model.json); give the folder `clmer train` wrote")
    cfg = settings(command_overrides(profile))
    if evaluation is None:
        feats = _features_for(corpus, None, cfg, train_folder)
        evaluation = pipeline.evaluate(train_folder / "model", corpus, feats, cfg, train_folder / "evaluate", split=split)
    out = pipeline.register(train_folder, evaluation, corpus, cfg, split=split)
    console.print(f"run {out['run_id']}  model {out['name']} v{out['version']}: {out['decision']}")
    from clmer.serving.tracking import model_version_url, run_url, ui_base

    ui = ui_base(cfg)
    if ui:  # a server: links that open the right views (never the tracking URI's credentials)
        if out.get("experiment_id"):
            console.print(f"run:   {run_url(ui, out['experiment_id'], out['run_id'])}")
        console.print(f"model: {model_version_url(ui, out['name'], out['version'])}")
    if out["challenger"]:  # None when data, code and config match a registered version
        console.print(f"challenger WAR/UAR {out['challenger']['war']:.3f}/{out['challenger']['uar']:.3f}"
                      + (f"; champion {out['champion']['war']:.3f}/{out['champion']['uar']:.3f}" if out["champion"] else ""))


@app.command()
def gate(
    version: str = typer.Argument(..., help="A registered version number of mlflow.model_name."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus whose split the champion gate compares on."),
    split: str = typer.Option("valid", help="Split the gate compares on (validation: test is only reported)."),
) -> None:
    """Apply the champion gate again to a registered version, e.g. once its explanations are rated
    (mlflow.gate_min_rating); it becomes champion only if the gate says so."""
    from clmer.serving.registry import gate_version

    need_corpus(corpus)
    if not version.isdigit():
        raise UserError(f"{version!r}: give a version number (e.g. 3); `clmer status` names the champion")
    try:
        out = gate_version(version, corpus, settings(), split=split)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    console.print(f"model {out['name']} v{out['version']}: {out['decision']}", markup=False)


@app.command()
def explain(
    clip: Path = typer.Argument(..., help="A video file."),
    model: Optional[str] = typer.Option(None, "--model", help="Registry URI or a local model folder (default: the "
                                        "champion, models:/<mlflow.model_name>@champion)."),
    out: Path = typer.Option(Path(REPORTS_DIR), "--out", help="Folder for <clip>.json/.html."),
    transcript: Optional[str] = typer.Option(None, help="Use this transcript instead of ASR."),
    language: Optional[str] = typer.Option(None, help="zh | en (default: detected)."),
) -> None:
    """Explain one clip: JSON (valid against its schema) and an HTML page with plots, faces blurred."""
    from clmer import pipeline
    from clmer.features.extract import ClipJob
    from clmer.serving.clip_result import write_clip_files
    from clmer.serving.scoring import ClipName

    need_path(clip, "a video file")
    cfg = settings()
    scorer = pipeline.load_scorer(model or cfg.mlflow.champion_uri, cfg)
    job = ClipJob(clip=clip.name, path=str(clip), transcript=transcript, language=language)
    rec = next(scorer.score([job], [ClipName(str(clip), Path(clip).stem)]))  # one pass; its key frames kept
    if rec.explanation is None:
        console.print(f"[red]{rec.status}[/]: {plain(rec.error)}")
        raise typer.Exit(1)
    json_path, html_path = write_clip_files(rec, out, html=True, blur=cfg.scoring.blur_faces, reasoning_text=False)
    p = rec.prediction
    console.print(f"{plain(clip.name)}: {p.polarity} ({p.confidence:.2f}); shares " +
                  ", ".join(f"{m} {v:.0%}" for m, v in rec.shares.items()))
    console.print(f"json: {json_path}\nhtml: {html_path}")


def progress_line(done: int, total: int, rel: str, elapsed_s: float) -> str:
    """One finished file, for a log: `[2/5] day1/clip.mp4 (3.4 s elapsed, 3 left)`."""
    return f"[{done}/{total}] {one_line(rel)} ({elapsed_s:.1f} s elapsed, {total - done} left)"


@contextlib.contextmanager
def _score_progress():
    """Files done / total and the file at hand: a live bar on a terminal, one line per finished file
    otherwise (logs, CI), like `extract`."""
    if not console.is_terminal:
        start = time.monotonic()
        yield lambda done, total, rel, what: console.print(
            progress_line(done, total, rel, time.monotonic() - start), markup=False) if what == "done" else None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=None)

        def update(done: int, total: int, rel: str, what: str) -> None:
            bar.update(task, total=total, completed=done, description=f"{done}/{total} {what} {plain(rel)}")

        yield update


@app.command()
def score(
    path: str = typer.Argument(..., help="A folder of videos, one video, or an s3://bucket/prefix."),
    model: Optional[str] = typer.Option(None, "--model", help="Registry URI or a local model folder (default: the "
                                        "champion, models:/<mlflow.model_name>@champion)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output root (default: scoring.out_dir)."),
    rescore: bool = typer.Option(False, help="Score files again even if their content was scored before."),
) -> None:
    """Score a drop without Prefect: Test_Results/ and Test_Supplements/ as the original system wrote them."""
    from clmer import pipeline
    from clmer.serving.drop_scoring import score_drop

    need_path(path, "a folder of videos, a video file or an s3://bucket/prefix")
    cfg = settings()
    out_dir = out or cfg.scoring.out_dir
    scorer = pipeline.load_scorer(model or cfg.mlflow.champion_uri, cfg)
    with _score_progress() as progress:
        summary = score_drop(path, scorer, out_dir, scorer.settings, rescore=rescore, chunk_size=cfg.extract.chunk_size,
                             progress=progress)
    console.print(f"{summary['scored']} file(s) scored, {summary['skipped']} already scored; "
                  + ", ".join(f"{k}: {v}" for k, v in summary["status_counts"].items()))
    console.print(f"results: {summary['combined_results']}")
    if summary.get("drift"):  # the clips scored now against the model's reference profile
        console.print(f"drift check: {summary['drift']['reason']} ({summary['drift']['paths']['html']})", markup=False)
    counts = summary["status_counts"]
    if summary["scored"] and not (counts.get("ok") or counts.get("partial")):  # as `clmer extract` does
        err_console.print(f"no file of {summary['scored']} could be scored: see the error column of "
                          f"{summary['combined_results']}", markup=False)
        raise typer.Exit(1)


@app.command()
def benchmark(
    dataset: str = typer.Option(..., help="chsims2 | mosei: the flavour of --root."),
    root: Path = typer.Option(..., "--root", help="Corpus root in the MMSA layout."),
    other_root: Optional[Path] = typer.Option(None, "--other-root", help="A corpus of the other language (cross-lingual)."),
    other_dataset: Optional[str] = typer.Option(None, help="Flavour of --other-root (default: the other one)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder."),
    profile: Optional[str] = profile_option(),
    seeds: int = typer.Option(3, min=1, help="Seeds per system; tables show mean ± std."),
    ablations: bool = typer.Option(False, "--ablations", help="Also the ablation, cross-lingual and explanation studies."),
    quiet: bool = typer.Option(True, "--quiet/--verbose", help="Hide per-epoch training lines."),
) -> None:
    """The whole protocol on a corpus over several seeds: validate, extract, train, evaluate (mean ± std)."""
    from clmer import benchmark as bench
    from clmer.pipeline import prepare_profile

    cfg, message = prepare_profile(settings(command_overrides(profile)))
    console.print(message)
    folder = run_folder("benchmark", out)
    result = bench.run(dataset, root, cfg, folder, other_root=other_root, other_flavour=other_dataset,
                       log=None if quiet else _print_history_row, seeds=seeds, ablations=ablations)
    console.print(result.render())
    console.print(f"tables: {folder} (benchmark.md, *.csv); logged to MLflow at {redact_uri(cfg.mlflow.tracking_uri)}")
