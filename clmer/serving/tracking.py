"""What a training run leaves in MLflow: params, per-epoch metrics, evaluation metrics and tables,
figures, dataset lineage and the model (a models-from-code pyfunc)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from clmer import __version__
from clmer.config import Settings, flatten, redact_uri, split_credentials
from clmer.names import utc_day

MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
_SKIP_PARAMS = ("paths.home", "paths.model_store")  # machine-specific; never credentials either
# MLflow 3's UI opens an experiment without this tag as a GenAI one (traces overview) and asks for its
# type; `custom_model_development` opens the runs table in the "Model training" view.
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    "mlflow.note.content": "CLMER training runs: nightly retrains (`nightly-<date>`), single trainings "
                           "(`train-<corpus>-<date>`) and benchmarks (`benchmark-<corpus>`, one child run per seed). "
                           "Registered versions and their champion-gate decisions are in the Models tab.",
}


def configure(settings: Settings):
    """Point MLflow at the configured store, create it once (before any fan-out), return the experiment id."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    # Credentials in an http(s) URI move to MLflow's own variables: MLflow prints the tracking URI
    # in its "View run at ..." lines, and it must never print a password.
    uri, user, password = split_credentials(settings.mlflow.tracking_uri)
    if user is not None:
        os.environ.setdefault("MLFLOW_TRACKING_USERNAME", user)
    if password is not None:
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", password)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if settings.mlflow.registry_uri:
        mlflow.set_registry_uri(settings.mlflow.registry_uri)
    with _store_init_lock(uri):
        return _experiment_id(settings, uri)


@contextlib.contextmanager
def _store_init_lock(uri: str):
    """Processes creating one fresh SQLite store at once race in its migrations. MLflow's own lock
    lives in the temp folder, which is private per CLMER process; this one sits beside the database."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    db = Path(uri.removeprefix("sqlite:///"))
    with open(db.with_name(db.name + ".init.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _experiment_id(settings: Settings, uri: str) -> str:
    import mlflow

    exp = mlflow.get_experiment_by_name(settings.mlflow.experiment)
    if exp is None:
        location = settings.mlflow.artifact_location
        if location and "://" not in location:
            location = Path(location).resolve().as_uri()
        is_server = uri.startswith(("http://", "https://"))
        return mlflow.create_experiment(settings.mlflow.experiment, artifact_location=None if is_server else location,
                                        tags=EXPERIMENT_TAGS)
    _tag_experiment(exp)
    return exp.experiment_id


def _tag_experiment(exp) -> None:
    """Experiments made before these tags existed get them; a kind someone chose in the UI stays."""
    from mlflow import MlflowClient

    for key, value in EXPERIMENT_TAGS.items():
        if key not in exp.tags:
            MlflowClient().set_experiment_tag(exp.experiment_id, key, value)


def ui_base(settings: Settings) -> str | None:
    """Where people open the MLflow UI, for links: serve.mlflow_public_url, else the tracking server's
    URL without its credentials; None when tracking goes to a local store (no server to link to)."""
    uri = split_credentials(settings.mlflow.tracking_uri)[0]
    if not uri.startswith(("http://", "https://")):
        return None  # a local store: no server has these runs, whatever the public URL says
    return (settings.serve.mlflow_public_url or uri).rstrip("/")


def experiment_url(ui: str, experiment_id: str) -> str:
    """A link that opens the experiment on its runs table. MLflow 3.17's UI keeps a per-browser
    "GenAI" / "Model training" switch, GenAI by default, which wins over the experiment's kind tag;
    only the `workflowType` parameter overrides it (checked in tests/e2e/test_mlflow_ui_browser.py)."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}?workflowType=machine_learning"


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def model_version_url(ui: str, name: str, version: str) -> str:
    return f"{ui.rstrip('/')}/#/models/{name}/versions/{version}?workflowType=machine_learning"


def run_params(settings: Settings) -> dict:
    """The settings as MLflow params: machine paths left out, credentials stripped from every URI."""
    return {k: redact_uri(v) if isinstance(v, str) else v for k, v in flatten(settings).items()
            if not k.startswith(_SKIP_PARAMS)}


def _metrics_from_history(history: list[dict]) -> list:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    out = []
    for row in history:
        for key, value in row.items():
            if key in ("stage", "epoch") or not isinstance(value, (int, float)) or value != value:
                continue
            out.append(Metric(f"{row['stage']}/{key}", float(value), now, int(row["epoch"])))
    return out


def _metrics_from_report(report: dict, prefix: str) -> dict[str, float]:
    out = {}
    for split, entry in report["splits"].items():
        for system, m in [("model", entry["model"]), ("majority", entry["majority"]), ("chance", entry["chance"])] + \
                [(f"only_{k}", v) for k, v in entry.get("single_modality", {}).items()] + \
                [(f"corrupted_{k.replace('/', '_')}", v) for k, v in entry.get("corrupted", {}).items()]:
            for key, value in m.items():
                if key in ("n", "confusion", "class") or not isinstance(value, (int, float)) or value != value:
                    continue
                name = f"{prefix}/{split}/{key}" if system == "model" else f"{prefix}/{split}/{system}_{key}"
                out[name] = float(value)
    for key, value in report.get("faithfulness", {}).items():
        if isinstance(value, float) and value == value:
            out[f"{prefix}/faithfulness/{key}"] = value
    return out


def _log_batch(client, run_id: str, metrics: list, params: dict) -> None:
    """log_batch in chunks (the stores cap a batch at 100 params / 1,000 items): ~55x faster than one call each."""
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i: i + 100])
    for i in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i: i + 900])


def _figures(history: list[dict], report: dict, out: Path) -> list[Path]:
    from clmer.explain import plots

    paths = []
    for split, entry in report["splits"].items():
        paths.append(plots.save(plots.confusion_figure(entry["model"]["confusion"], f"confusion ({split})"),
                                out / f"confusion_{split}.png"))
    paths.append(plots.save(plots.shares_figure(report), out / "modality_shares.png"))
    rewards = ["train_reward"] + sorted({k for r in history if r["stage"] == "rlvr" for k in r if k.startswith("train_reward_")})
    paths.append(plots.save(plots.curves_figure(history, rewards, "RLVR rewards", stage="rlvr"), out / "reward_curves.png"))
    paths.append(plots.save(plots.curves_figure(history, ["train_ce", "train_unimodal", "train_supcon", "train_lang_adv", "valid_ce"],
                                                "warm-up losses", stage="warmup"), out / "loss_curves.png"))
    return paths


def _signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from clmer.serving.clip_result import NUMERIC_COLUMNS, PREDICTION_COLUMNS

    numeric = set(NUMERIC_COLUMNS)
    inputs = Schema([ColSpec("string", "video_path"), ColSpec("string", "transcript", required=False),
                     ColSpec("string", "language", required=False)])
    outputs = Schema([ColSpec("double" if c in numeric else "string", c, required=c in ("file", "status", "model_version"))
                      for c in PREDICTION_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_training_run(train_dir: str | Path, eval_path: str | Path, corpus, settings: Settings,
                     example_clip: str | Path, run_name: str | None = None, tags: dict | None = None) -> dict:
    """Log one training run on `corpus` (a `Corpus` or its folder) as an MLflow run; returns {run_id,
    model_uri, experiment_id}."""
    import mlflow
    from mlflow import MlflowClient

    from clmer.data.corpus import corpus_of

    experiment_id = configure(settings)
    train_dir, eval_path = Path(train_dir), Path(eval_path)
    history = json.loads((train_dir / "history.json").read_text())
    report = json.loads(eval_path.read_text())
    model_doc = json.loads((train_dir / "model" / "model.json").read_text())
    corpus = corpus_of(corpus, settings.paths.external_media)
    digest = corpus.digest()
    client = MlflowClient()
    run_name = run_name or f"train-{corpus.name}-{utc_day()}"
    started = _training_start_ms(model_doc)
    created = client.create_run(experiment_id, start_time=started, run_name=run_name)
    with mlflow.start_run(run_id=created.info.run_id) as run:  # the run spans training, evaluation and logging
        run_id = run.info.run_id
        params = run_params(settings)
        metrics = _metrics_from_history(history)
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics += [Metric(k, v, now, 0) for k, v in _metrics_from_report(report, report.get("split", "test")).items()]
        seconds = (model_doc.get("train") or {}).get("seconds")
        if isinstance(seconds, (int, float)):
            metrics.append(Metric("train/seconds", float(seconds), now, 0))
        _log_batch(client, run_id, metrics, params)
        mlflow.set_tags({"clmer.version": __version__, "corpus": corpus.name, "corpus.digest": digest,
                         "profile": settings.models.profile, "eval.split": report.get("split", "test"), **(tags or {})})
        manifest = corpus.manifest.drop(columns=["media_path"])
        dataset = mlflow.data.from_pandas(manifest, source=corpus.root.resolve().as_uri(), name=corpus.name,
                                          digest=digest[:36],
                                          targets="class_index")
        mlflow.log_input(dataset, context="training")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for fig in _figures(history, report, tmp):
                mlflow.log_artifact(str(fig), artifact_path="figures")
        mlflow.log_artifact(str(eval_path), artifact_path="evaluation")
        csv = eval_path.with_suffix(".csv")
        if csv.exists():
            mlflow.log_artifact(str(csv), artifact_path="evaluation")
            mlflow.log_table(pd.read_csv(csv), artifact_file="evaluation/table.json")
        mlflow.log_artifact(str(train_dir / "history.json"), artifact_path="training")
        _log_reasoning(client, run_id, train_dir)
        info = _log_model(train_dir / "model", example_clip, run_id, model_doc)
    return {"run_id": run_id, "model_uri": info.model_uri, "experiment_id": experiment_id}


def _training_start_ms(model_doc: dict) -> int | None:
    """When training began (model.json records it), so the run's duration covers training; None: now."""
    started = (model_doc.get("train") or {}).get("started_at")
    return int(float(started) * 1000) if isinstance(started, (int, float)) else None


def _log_reasoning(client, run_id: str, train_dir: Path) -> None:
    """The explainer's GRPO reward curves (per step) and sample outputs as a table."""
    import mlflow
    from mlflow.entities import Metric

    path = train_dir / "reasoning.json"
    if not path.exists():
        return
    doc = json.loads(path.read_text())
    now = int(time.time() * 1000)
    metrics = [Metric(f"explainer/{k.replace('/', '_')}", float(v), now, int(h.get("step", i)))
               for i, h in enumerate(doc["history"]) for k, v in h.items()
               if k.startswith(("reward", "rewards/", "kl", "loss", "frac_reward_zero_std")) and isinstance(v, (int, float))]
    metrics.append(Metric("explainer/seconds_per_step", float(doc["seconds_per_step"]), now, 0))
    metrics.append(Metric("explainer/steps", float(doc["steps"]), now, 0))
    for when, measured in (doc.get("held_out") or {}).items():  # before / after GRPO, on validation clips
        metrics += [Metric(f"explainer/{when}_{k}", float(v), now, 0) for k, v in measured.items()
                    if isinstance(v, (int, float))]
    _log_batch(client, run_id, metrics, {})
    if doc.get("samples"):
        mlflow.log_table(pd.DataFrame(doc["samples"]), artifact_file="explainer/samples.json")


def _log_model(model_dir: Path, example_clip: str | Path, run_id: str, model_doc: dict):
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        examples = Path(tmp) / "examples"
        examples.mkdir()
        shutil.copy(example_clip, examples / "example.mp4")
        artifacts = {"fusion": str(model_dir), "examples": str(examples)}
        from clmer.explain.reasoning import is_trained

        explainer = Path(model_dir).parent / "explainer"
        if is_trained(explainer):
            artifacts["explainer"] = str(explainer)
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(MODEL_CODE), artifacts=artifacts,
            signature=_signature(), input_example=pd.DataFrame({"video_path": ["example.mp4"]}),
            model_config={"model_version": f"run:{run_id[:8]}"},
            pip_requirements=[f"clmer=={__version__}", "torch>=2.5,<2.14", "safetensors", "transformers", "funasr",
                              "faster-whisper", "av", "pandas", "mlflow"],
            metadata={"labels": model_doc.get("labels"), "encoders": model_doc.get("encoders")},
        )
