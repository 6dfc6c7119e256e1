"""The stages as plain functions: paths in, paths out. The CLI and the Prefect flows both call these.
Each reads its corpus once (a caller that has read it may pass the `Corpus` instead of its folder).

    extract(corpus) -> features.parquet
    train(corpus, features) -> model/ (fusion.safetensors + model.json) + history.json
    evaluate(model, corpus, features) -> evaluation.json + evaluation.csv
    cross_lingual(corpus, features) -> zero-shot / adaptation / joint per direction, retention
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from clmer import atomic
from clmer.config import Settings, flatten
from clmer.data.corpus import Corpus, corpus_of
from clmer.data.safe_csv import write_csv
from clmer.features.feature_store import FeatureStore
from clmer.model.dataset import FeatureSet, load_feature_set
from clmer.names import folder_stamp

CorpusLike = Corpus | str | Path


def command_overrides(profile: str | None = None, runner: str | None = None) -> dict:
    """The settings overrides a command line's --profile and --runner stand for (the CLI's and the flows')."""
    overrides: dict = {}
    if profile:
        overrides["models"] = {"profile": profile}
    if runner:
        overrides["extract"] = {"task_runner": runner}
    return overrides


def run_folder(settings: Settings, kind: str, out: str | Path | None = None) -> Path:
    """A command's run folder: `out` if given, else a new `<paths.runs>/<kind>-<local time>`; created."""
    path = Path(out) if out else Path(settings.paths.runs) / f"{kind}-{folder_stamp()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def extract(target: str | Path, settings: Settings, out_dir: str | Path, progress=None) -> Path:
    from clmer.features.extract import extract_chunk, plan_jobs, write_features

    jobs, _ = plan_jobs(target, settings)
    store = FeatureStore(settings.paths.feature_store)
    frame = extract_chunk(jobs, settings, store, progress=progress)
    return write_features(frame, out_dir, store)


def encoder_identities(settings: Settings) -> dict:
    """What the model was trained on: scoring must extract with exactly these."""
    from clmer.features.encoders import identity, model_ref

    out = {}
    for role in ("asr", "text", "audio", "vision"):
        ref = model_ref(role, settings)
        out[role] = identity(role, settings) | {"name": ref.name}
    return out


def load_splits(corpus: CorpusLike, features_path: str | Path, settings: Settings,
                languages: list[str] | None = None, dims: dict | None = None, flavour: str | None = None) -> dict[str, FeatureSet]:
    corpus = corpus_of(corpus, settings.paths.external_media, flavour)
    features = pd.read_parquet(features_path)
    data = load_feature_set(features, FeatureStore(settings.paths.feature_store), corpus.manifest, dims=dims)
    splits = {}
    for mode in ("train", "valid", "test"):
        mask = (data.frame["mode"] == mode).to_numpy()
        if languages:
            mask = mask & data.frame["language"].isin(languages).to_numpy()
        splits[mode] = data.subset(mask)
    return splits


def training_run_key(corpus: CorpusLike, features: str | Path, settings: Settings,
                     fingerprint: dict | None = None) -> str:
    """Names a training run's folder, whose finished model a later run reuses: the features file plus
    what a registered version is made of (data, code and training config; `training_fingerprint`,
    computed now unless the caller has it), so a change to any of them, the code included, trains anew."""
    import hashlib

    from clmer.serving.registry import training_fingerprint

    h = hashlib.sha256(Path(features).read_bytes())
    h.update((fingerprint or training_fingerprint(corpus, settings))["digest"].encode())
    return h.hexdigest()[:16]


def train(corpus: CorpusLike, features_path: str | Path, settings: Settings, out_dir: str | Path,
          languages: list[str] | None = None, resume: bool = False, log: Callable[[dict], None] | None = None,
          flavour: str | None = None) -> Path:
    from clmer.model.train import save_model
    from clmer.model.train import train as fit

    out_dir = Path(out_dir)
    corpus = corpus_of(corpus, settings.paths.external_media, flavour)
    splits = load_splits(corpus, features_path, settings, languages)
    if len(splits["train"]) == 0 or len(splits["valid"]) == 0:
        raise ValueError(f"{corpus.root}: need train and valid clips (languages={languages}); "
                         f"got {len(splits['train'])} train, {len(splits['valid'])} valid")
    started_at = time.time()  # MLflow's run for this training starts here (tracking.log_training_run)
    result = fit(splits["train"], splits["valid"], settings, out_dir, resume=resume, log=log)
    model_dir = save_model(result.model, out_dir / "model", {
        "encoders": encoder_identities(settings),
        "profile": settings.models.profile,
        "cue_stats": cue_stats(splits["train"]),
        "train": {"corpus": corpus.name, "corpus_digest": corpus.digest(), "flavour": corpus.flavour,
                  "languages": languages or sorted(splits["train"].frame["language"].unique()),
                  "n_train": len(splits["train"]), "n_valid": len(splits["valid"]), "best": result.best,
                  "n_fit": len(result.fit_clips), "n_calibration": len(result.calib_clips),
                  "seconds": round(result.seconds, 2), "started_at": round(started_at, 3),
                  "finished_at": round(time.time(), 3)},
        "settings": {k: v for k, v in flatten(settings).items() if k.startswith(("train.", "fusion.", "models.", "media."))},
    })
    atomic.write_json(out_dir / "history.json", result.history)
    atomic.write_json(out_dir / "train_classes.json", splits["train"].frame["class_index"].astype(int).tolist(), indent=None)
    return model_dir


def cue_stats(data: FeatureSet) -> dict:
    """Training-set mean and std of each named cue (audio prosody, vision expressions), so explanations
    can say "pitch well above this speaker set's average" for new clips."""
    out: dict = {}
    for m in ("audio", "vision"):
        rows, labels = [], []
        for clip in data.clips:
            cue = clip.cues.get(m, {})
            scores = np.asarray(cue.get("scores", np.zeros((0, 0))), float)
            if scores.size and cue.get("labels"):
                labels = list(cue["labels"])
                rows.append(scores.reshape(-1, len(labels)))
        if rows:
            values = np.concatenate(rows)
            out[m] = {"mean": dict(zip(labels, values.mean(0).round(6).tolist())),
                      "std": dict(zip(labels, values.std(0).round(6).tolist()))}
    return out


def evaluate(model_dir: str | Path, corpus_dir: str | Path, features_path: str | Path, settings: Settings,
             out_dir: str | Path, split: str = "test", languages: list[str] | None = None,
             flavour: str | None = None) -> Path:
    from clmer.model.evaluate import evaluate as run_eval
    from clmer.model.evaluate import table
    from clmer.model.train import load_model, train_device

    device = train_device(settings.train.device)
    model, doc = load_model(model_dir, device)
    splits = load_splits(corpus_dir, features_path, settings, languages, dims=doc["dims"], flavour=flavour)
    train_classes = _train_classes(model_dir, splits)
    report = run_eval(model, splits[split], train_classes, device, shapley=settings.eval.shapley)
    report["model"] = str(model_dir)
    report["split"] = split
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out_dir / "evaluation.json", report, default=float)
    write_csv(table(report), out_dir / "evaluation.csv")
    return out_dir / "evaluation.json"


def _train_classes(model_dir: Path, splits: dict[str, FeatureSet]) -> np.ndarray:
    import json

    saved = Path(model_dir).parent / "train_classes.json"
    if saved.exists():
        return np.asarray(json.loads(saved.read_text()), int)
    return splits["train"].frame["class_index"].to_numpy()


Corpora = dict[str, tuple[Path, Path, str | None]]  # language -> (corpus dir, features.parquet, flavour)


def cross_lingual(corpora: Corpora, settings: Settings, out_dir: str | Path,
                  log: Callable[[dict], None] | None = None) -> Path:
    """zh -> en and en -> zh under the three protocols (zero-shot, adaptation with the target's
    unlabelled clips, joint), one seed: `cross_lingual.csv` with retention and its bootstrap interval.

    `corpora` maps each language to where its clips are: one bilingual corpus for both, or a
    CH-SIMS v2 corpus for zh and a MOSEI corpus for en."""
    from clmer.model import cross_lingual as xl

    out_dir = Path(out_dir)
    splits, read = None, {}
    for lang, (c_dir, c_feat, c_flavour) in corpora.items():
        corpus = read.setdefault((str(c_dir), c_flavour), corpus_of(c_dir, settings.paths.external_media, c_flavour))
        part = load_splits(corpus, c_feat, settings, languages=[lang])
        splits = part if splits is None else {k: xl.concat(splits[k], part[k]) for k in splits}
    frame = pd.DataFrame(xl.run_seed(splits, settings, settings.train.seed, out_dir, log))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(frame, out_dir / "cross_lingual.csv")
    return out_dir / "cross_lingual.csv"


def register(train_dir: str | Path, eval_path: str | Path, corpus: CorpusLike, settings: Settings,
             split: str = "valid", run_name: str | None = None, tags: dict | None = None,
             fingerprint: dict | None = None, hold: str | None = None) -> dict:
    """Log the training run to MLflow (params, metrics, figures, tables, lineage, model) and apply
    the champion gate in the registry. Returns the MLflow run and the registry decision. The model carries
    its drift reference profile (`clmer.serving.drift_watch`); `hold` (why) registers without promoting.

    When a registered version was already made from the same data, code and config, nothing is
    logged or registered: the result names that version, with `unchanged` true. `tags` go on the
    MLflow run (the nightly flow passes the git commit and its Prefect flow run); `fingerprint`:
    `training_fingerprint` of this training, when the caller computed it already."""
    from clmer.serving.registry import register_and_gate, training_fingerprint, version_with_fingerprint
    from clmer.serving.tracking import log_training_run

    corpus = corpus_of(corpus, settings.paths.external_media)
    fingerprint = fingerprint or training_fingerprint(corpus, settings)
    same = version_with_fingerprint(fingerprint["digest"], settings)
    if same is not None:
        out = unchanged_result(same, settings)
    else:
        example = corpus.root / corpus.manifest.iloc[0]["media_path"]
        run_tags = (tags or {}) | {f"clmer.fingerprint.{k}": v for k, v in fingerprint.items()}
        from clmer.serving.drift_watch import build_reference

        reference = build_reference(Path(train_dir) / "model", corpus, settings)  # inside the logged model
        mlflow_run = log_training_run(train_dir, eval_path, corpus, settings, example, run_name=run_name, tags=run_tags)
        decision = register_and_gate(mlflow_run["model_uri"], Path(train_dir) / "model", corpus, settings, split=split,
                                     fingerprint=fingerprint["digest"], hold=hold)
        if reference is not None:
            from clmer.monitor.profile import load_profile
            from clmer.serving.drift_tracking import tag_reference

            tag_reference(settings, decision["version"], load_profile(reference.parent))
        out = mlflow_run | decision | {"unchanged": False}
    atomic.write_json(Path(train_dir) / "registration.json", out, default=str)
    return out


def unchanged_result(version, settings: Settings) -> dict:
    """What register returns when data, code and config match registered `version` (an MLflow ModelVersion)."""
    return {"name": settings.mlflow.model_name, "version": str(version.version), "run_id": version.run_id,
            "model_uri": f"models:/{settings.mlflow.model_name}/{version.version}", "promoted": False, "unchanged": True,
            "decision": f"unchanged: data, code and config match v{version.version}; no new version registered",
            "challenger": None, "champion": None}


def load_scorer(model: str, settings: Settings | None = None):
    """A Scorer for a registry URI (models:/name@alias, models:/name/3) or a local model folder.

    A registered version is loaded from a copy whose files were checked against the digest signed at its
    registration (`clmer.serving.signing`); other MLflow URIs (runs:/...) carry no such digest and are refused."""
    from clmer.serving.scoring import Scorer

    if model.startswith("models:/"):
        return _load_registered(model, settings)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+:/", model):  # runs:/, s3://, mlflow-artifacts:/ (not C:/ on Windows)
        raise ValueError(f"{model}: only a registered version (models:/name@alias or models:/name/N) or a local "
                         f"model folder can be scored; other URIs carry no signed digest of their files")
    path = Path(model)
    return Scorer(path / "model" if (path / "model" / "model.json").exists() else path, settings)


def _load_registered(model: str, settings: Settings | None):
    import tempfile
    import weakref

    import mlflow

    from clmer.config import load_settings
    from clmer.serving.registry import resolve_model
    from clmer.serving.signing import verified_download
    from clmer.serving.tracking import configure

    checking = settings if settings is not None else load_settings()
    if settings is not None:
        configure(settings)
    source = resolve_model(model)
    name = model.removeprefix("models:/").split("@", 1)[0].rsplit("/", 1)[0]
    dest = Path(tempfile.mkdtemp(prefix="clmer-model-"))
    try:
        local = verified_download(name, source["version"], checking, dest)
        scorer = mlflow.pyfunc.load_model(str(local)).unwrap_python_model().scorer
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    weakref.finalize(scorer, shutil.rmtree, str(dest), True)  # the checked copy lives as long as its scorer
    if settings is not None:  # caller's paths and devices; the model keeps its encoders
        scorer.settings = _with_model_encoders(scorer.doc, settings)
        scorer.store = FeatureStore(scorer.settings.paths.feature_store)
    scorer.model_version, scorer.model_alias, scorer.mlflow_run_id = source["version"], source["alias"], source["run_id"]
    scorer.model_uri = model
    return scorer


def _with_model_encoders(doc: dict, settings: Settings) -> Settings:
    from clmer.serving.scoring import check_encoders, settings_for_model

    out = settings_for_model(doc, settings)
    check_encoders(doc, out)
    return out


def train_reasoning(train_dir: str | Path, corpus_dir: str | Path, features_path: str | Path, settings: Settings,
                    log: Callable[[dict], None] | None = None, fresh: bool = False) -> Path:
    """Train the reasoning-text LM (SFT cold start, then GRPO; LoRA) on the training split's explanations; the
    adapter is saved as `<train_dir>/explainer` (scoring and registration pick it up from there).
    `<train_dir>/reasoning.json` holds the stages' histories, the LM measured on validation clips before and
    after (per language: accepted rate, each reward, distinct-2), and samples beside the template's text."""
    from clmer.explain import reasoning
    from clmer.explain.reasoning_template import template_reasoning
    from clmer.explain.reasoning_train import train
    from clmer.features.encoders import model_ref, quiet_loading
    from clmer.serving.scoring import Scorer

    train_dir = Path(train_dir)
    base = model_ref("explainer", settings)
    corpus = corpus_of(corpus_dir, settings.paths.external_media)
    features = pd.read_parquet(features_path)
    scorer = Scorer(train_dir / "model", settings)
    scorer.use_lm = False  # prompts are built from evidence, never from an LM
    split = lambda mode: corpus.manifest[corpus.manifest["mode"] == mode]  # noqa: E731
    docs = reasoning.examples(scorer, features, split("train"), settings.reasoning.max_examples)
    held_out = reasoning.examples(scorer, features, split("valid"), settings.reasoning.eval_examples)
    with quiet_loading():
        before = reasoning.measure(reasoning.Explainer(base.path, name=base.name, settings=settings), held_out)
        result = train(docs, base.path, settings, train_dir / "explainer", log=log, base_name=base.name,
                       base_revision=base.revision, fresh=fresh)
        trained = reasoning.Explainer(train_dir / "explainer", name=f"{base.name}+lora", settings=settings)
        after = reasoning.measure(trained, held_out)
        samples = trained.reason_batch(held_out[:5])
    result["held_out"] = {"before": reasoning.flat(before), "after": reasoning.flat(after)}
    result["by_language"] = {"before": before, "after": after}
    result["samples"] = [{"clip": d["clip"], "language": d["language"], "source": r["source"],
                          "lm": (r.get("lm") or {}).get("text") or r["text"], "template": template_reasoning(d)["text"]}
                         for d, r in zip(held_out, samples)]
    result["base_model"] = {"name": base.name, "revision": base.revision}
    atomic.write_json(train_dir / "reasoning.json", result, default=str)
    return train_dir / "explainer"


def reuse_registered_explainer(train_dir: str | Path, settings: Settings) -> Path | None:
    """Copy the champion's explainer adapter into `<train_dir>/explainer` when it was trained on the base LM the
    store holds now (same name and revision); None when there is no champion, no adapter or another base."""
    import json
    import shutil
    import tempfile

    import mlflow

    from clmer.explain.reasoning import ADAPTER_META
    from clmer.features.encoders import model_ref
    from clmer.serving.signing import ModelIntegrityError, verified_download
    from clmer.serving.tracking import configure

    configure(settings)
    base = model_ref("explainer", settings)
    name = settings.mlflow.model_name
    try:
        champion = mlflow.MlflowClient().get_model_version_by_alias(name, "champion")
    except Exception:  # no registered model or no champion yet: nothing to reuse
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = verified_download(name, str(champion.version), settings, Path(tmp))
        except ModelIntegrityError as exc:  # its adapter is not trusted either: train one
            logging.getLogger(__name__).warning("not reusing the champion's explainer: %s", exc)
            return None
        meta_file = next(local.rglob(ADAPTER_META), None)
        if meta_file is None:
            return None
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("base_name") != base.name or meta.get("base_revision") != base.revision:
            return None
        target = Path(train_dir) / "explainer"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(meta_file.parent, target)
    return target


def prepare_profile(settings: Settings, build: bool = True) -> tuple[Settings, str]:
    """The one rule for which model profile runs, used by the demo, `serve`, the nightly flow and scoring.

    An explicit profile (setting or CLMER_PROFILE) is used as it is, after making sure its models are
    in the store (importing the small profile from installed packages, building the tiny one). `auto`
    follows the one rule, `model_store.auto_profile`: full if all its models are in the store, else
    small if its packages are installed, else tiny.
    Returns settings with a concrete profile and one line saying which one and why."""
    from clmer.features import importers
    from clmer.features.model_store import ModelMissingError, ModelStore, auto_profile, complete

    store = ModelStore(settings.paths.resolved_model_store())
    if settings.models.profile == "auto":
        profile, why = auto_profile(store, small_installed=all(importers.available(r) for r in importers.MODULES))
    else:
        profile, why = settings.models.profile, "set in the settings (models.profile or CLMER_PROFILE)"
    if build and profile == "small":
        importers.import_profile(store)
    elif build and profile == "tiny" and not complete(store, "tiny"):
        from clmer.synthetic.tiny import install_tiny_profile

        install_tiny_profile(store)
    elif profile == "full" and not complete(store, "full"):
        raise ModelMissingError(f"the full profile's models are not all in the model store at {store.root}: "
                                "`clmer models pull --profile full`")
    out = settings.model_copy(deep=True)
    out.models.profile = profile
    return out, f"model profile: {profile} ({why})"
