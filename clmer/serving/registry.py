"""The model registry and its champion gate.

A new version gets the alias `challenger`. It becomes `champion` only if it beats the current
champion on the validation split (never the test split, which is only reported): both are
(re-)evaluated on that split of the corpus at hand,
each with its own encoders, and the challenger must be at least as good on WAR and on UAR and
better on one of them. The decision and all four numbers are written as tags on the new version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from clmer.config import Settings
from clmer.model.metrics import classification


def split_scores(model_dir: str | Path, corpus_dir: str | Path, settings: Settings, split: str = "valid") -> dict:
    """WAR/UAR of a model folder on a corpus split, extracting with the model's own encoders (cached)."""
    from clmer.data.corpus import read_corpus
    from clmer.features.extract import jobs_from_manifest
    from clmer.serving.scoring import Scorer

    scorer = Scorer(model_dir, settings)
    corpus = read_corpus(corpus_dir, strict=False)
    part = corpus.manifest[corpus.manifest["mode"] == split]
    if len(part) == 0:
        raise ValueError(f"{corpus_dir}: no clips in split {split!r}")
    preds = scorer.predict_features(scorer.extract(jobs_from_manifest(corpus_dir, part)))
    ok = preds["status"] != "failed"
    gold = part["class_index"].to_numpy()[ok.to_numpy()]
    from clmer.data.labels import CLASS_TO_INDEX

    pred = preds.loc[ok, "polarity"].map(CLASS_TO_INDEX).to_numpy()
    m = classification(gold, pred)
    return {"war": m["war"], "uar": m["uar"], "n": int(ok.sum()), "split": split}


def _version_model_dir(name: str, version: str, dest: Path) -> Path:
    """Local folder with a registered version's fusion weights and model.json.

    Downloads the version's files instead of loading the pyfunc: loading would build a Scorer under
    default settings (another model store than the caller's) just to find a folder."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest)))
    weights = next(local.rglob("fusion.safetensors"), None)
    if weights is None:
        raise FileNotFoundError(f"models:/{name}/{version} holds no fusion.safetensors")
    return weights.parent


def beats(new: dict, old: dict) -> bool:
    return new["war"] >= old["war"] and new["uar"] >= old["uar"] and (new["war"] > old["war"] or new["uar"] > old["uar"])


def register_and_gate(model_uri: str, model_dir: str | Path, corpus_dir: str | Path, settings: Settings,
                      split: str = "valid") -> dict:
    """Register `model_uri` as a new version of the configured model name and apply the gate."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from clmer.serving.tracking import configure

    configure(settings)
    client = MlflowClient()
    name = settings.mlflow.model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="CLMER fusion model (models-from-code pyfunc)")
    version = str(mlflow.register_model(model_uri, name).version)
    client.set_registered_model_alias(name, "challenger", version)
    new = split_scores(model_dir, corpus_dir, settings, split)
    tags = {"eval.split": split, "eval.corpus": Path(corpus_dir).name, "challenger.war": f"{new['war']:.4f}",
            "challenger.uar": f"{new['uar']:.4f}"}
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        champion = None
    if champion is None:
        decision, old = "promoted: no champion yet", None
    else:
        with tempfile.TemporaryDirectory() as tmp:
            old = split_scores(_version_model_dir(name, champion.version, Path(tmp)), corpus_dir, settings, split)
        tags.update({"champion.version": champion.version, "champion.war": f"{old['war']:.4f}",
                     "champion.uar": f"{old['uar']:.4f}"})
        decision = (f"promoted: beats champion v{champion.version}" if beats(new, old)
                    else f"kept champion v{champion.version}: challenger does not beat it on WAR and UAR")
    promoted = decision.startswith("promoted")
    tags["decision"] = decision
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promoted:
        client.set_registered_model_alias(name, "champion", version)
    return {"name": name, "version": version, "promoted": promoted, "decision": decision, "challenger": new,
            "champion": old}


def resolve_version(model_uri: str) -> str:
    """`models:/clmer@champion` -> its version number (for output rows); other URIs as they are."""
    from mlflow import MlflowClient

    if model_uri.startswith("models:/") and "@" in model_uri:
        name, alias = model_uri.removeprefix("models:/").split("@", 1)
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    if model_uri.startswith("models:/"):
        return model_uri.rsplit("/", 1)[-1]
    return model_uri
