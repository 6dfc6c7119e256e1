"""The model registry and its champion gate.

A new version gets the alias `challenger`. It becomes `champion` only if it beats the current
champion on the validation split (never the test split, which is only reported): both are
(re-)evaluated on that split of the corpus at hand,
each with its own encoders, and the challenger must be at least as good on WAR and on UAR and
better on one of them; with mlflow.gate_min_rating it must also have enough good ratings of its explanations
(`clmer.serving.ratings`), so such a version is gated again once reviewed (`gate_version`, `clmer gate`). The decision and all four numbers are written as tags on the new version,
and as its description, which is what the registry page shows a reviewer.

A version also carries the fingerprint of what made it (data, code, config): training again on
the same three would register a copy of what is there, so `pipeline.register` and the nightly flow
skip it and say which version it matches.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from clmer.config import Settings, flatten
from clmer.model.metrics import classification

FINGERPRINT_TAG = "clmer.fingerprint"
# Settings that change what is trained; where things live, how they are served and on which device do not.
_TRAINING_SECTIONS = ("media.", "models.", "fusion.", "train.", "eval.", "reasoning.")


def split_scores(model_dir: str | Path, corpus, settings: Settings, split: str = "valid") -> dict:
    """WAR/UAR of a model folder on a corpus split (a `Corpus` or its folder), extracting with the
    model's own encoders (cached)."""
    from clmer.data.corpus import corpus_of
    from clmer.features.extract import jobs_from_manifest
    from clmer.serving.scoring import Scorer

    scorer = Scorer(model_dir, settings)
    corpus = corpus_of(corpus, settings.paths.external_media)
    part = corpus.manifest[corpus.manifest["mode"] == split]
    if len(part) == 0:
        raise ValueError(f"{corpus.root}: no clips in split {split!r}")
    text_source = scorer.doc.get("settings", {}).get("train.text_source", "manifest")  # as it was trained
    preds = scorer.predict_features(scorer.extract(jobs_from_manifest(corpus.root, part, text_source)))
    ok = preds["status"] != "failed"
    gold = part["class_index"].to_numpy()[ok.to_numpy()]
    from clmer.data.labels import CLASS_TO_INDEX

    pred = preds.loc[ok, "polarity"].map(CLASS_TO_INDEX).to_numpy()
    m = classification(gold, pred)
    return {"war": m["war"], "uar": m["uar"], "n": int(ok.sum()), "split": split}


def _version_model_dir(name: str, version: str, dest: Path, settings: Settings) -> Path:
    """Local folder with a registered version's fusion weights and model.json, from files checked against
    the version's signed digest.

    Downloads the version's files instead of loading the pyfunc: loading would build a Scorer under
    default settings (another model store than the caller's) just to find a folder."""
    from clmer.serving.signing import verified_download

    local = verified_download(name, version, settings, dest)
    weights = next(local.rglob("fusion.safetensors"), None)
    if weights is None:
        raise FileNotFoundError(f"models:/{name}/{version} holds no fusion.safetensors")
    return weights.parent


def code_digest() -> str:
    """sha256 over the clmer package's Python sources (path and bytes): the code that trains."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def training_fingerprint(corpus, settings: Settings) -> dict:
    """What a training run is made of: the corpus digest (of a `Corpus` or its folder), the code digest
    and the training settings (devices excluded), plus `digest`, one hash of the three."""
    from clmer.data.corpus import corpus_of

    config = {k: v for k, v in sorted(flatten(settings).items())
              if k.startswith(_TRAINING_SECTIONS) and not k.endswith("device")}
    parts = {"data": corpus_of(corpus, settings.paths.external_media).digest(), "code": code_digest(),
             "config": hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()}
    return parts | {"digest": hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()}


def version_with_fingerprint(digest: str, settings: Settings):
    """The newest registered version made from the same data, code and config, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from clmer.serving.tracking import configure

    configure(settings)
    try:
        versions = MlflowClient().search_model_versions(f"name='{settings.mlflow.model_name}'")
    except MlflowException as exc:  # no such model yet; anything else (403, a server error) must not look like it
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None
    same = [v for v in versions if (v.tags or {}).get(FINGERPRINT_TAG) == digest]
    return max(same, key=lambda v: int(v.version), default=None)


def describe(decision: str, split: str, corpus: str, new: dict, old: dict | None, champion_version: str | None) -> str:
    """The model version's description: the gate's decision and the numbers it was made on."""
    lines = [f"**{decision}**", "",
             f"Champion gate on the `{split}` split of `{corpus}` (promoted only if at least as good on WAR and UAR "
             "and better on one):", "",
             "| model | WAR | UAR | clips |", "|---|---|---|---|",
             f"| this version (challenger) | {new['war']:.4f} | {new['uar']:.4f} | {new['n']} |"]
    if old is not None:
        lines.append(f"| champion v{champion_version} | {old['war']:.4f} | {old['uar']:.4f} | {old['n']} |")
    return "\n".join(lines)


def beats(new: dict, old: dict) -> bool:
    return new["war"] >= old["war"] and new["uar"] >= old["uar"] and (new["war"] > old["war"] or new["uar"] > old["uar"])


def _against_champion(name: str, champion: str, new: dict, corpus, settings: Settings, split: str,
                      tags: dict) -> tuple[str, dict | None]:
    """The gate's decision against champion version `champion` (and its scores, None when it cannot be scored).
    A champion trained on encoders this machine no longer gives (an upgraded extractor, another model
    revision) cannot score anything here, and one whose files fail their signed digest (written to in the artifact
    store, or registered before models were signed) must not be loaded: either way the challenger replaces it, and
    the decision says why."""
    from clmer.serving.scoring import EncoderMismatchError
    from clmer.serving.signing import ModelIntegrityError

    tags["champion.version"] = champion
    with tempfile.TemporaryDirectory() as tmp:
        try:
            old = split_scores(_version_model_dir(name, champion, Path(tmp), settings), corpus, settings, split)
        except EncoderMismatchError as exc:
            tags["champion.unscoreable"] = str(exc)[:500]
            return f"promoted: champion v{champion} cannot be scored on this machine ({exc})", None
        except ModelIntegrityError as exc:
            tags["champion.unscoreable"] = str(exc)[:500]
            return f"promoted: champion v{champion} is not loaded ({exc})", None
    tags.update({"champion.war": f"{old['war']:.4f}", "champion.uar": f"{old['uar']:.4f}"})
    if not beats(new, old):
        return f"kept champion v{champion}: challenger does not beat it on WAR and UAR", old
    refusal = rating_refusal(name, tags["challenger.version"], settings)
    if refusal:
        return f"kept champion v{champion}: challenger beats it on WAR and UAR, but {refusal}", old
    return f"promoted: beats champion v{champion}", old


def rating_refusal(name: str, version: str, settings: Settings) -> str | None:
    """The rating part of the gate (mlflow.gate_min_rating): why `version` may not replace the champion, or None.
    Off by default; the version's rating summary is put on it either way when the gate asks."""
    from clmer.serving import ratings

    if settings.mlflow.gate_min_rating is None:
        return None
    return ratings.gate_refusal(ratings.tag_version(settings, name, version), settings.mlflow)


def register_and_gate(model_uri: str, model_dir: str | Path, corpus, settings: Settings,
                      split: str = "valid", fingerprint: str | None = None, hold: str | None = None) -> dict:
    """Register `model_uri` as a new version of the configured model name and apply the gate on
    `corpus` (a `Corpus` or its folder). `hold` (a reason, e.g. drift that persists: drift.on_persist)
    keeps the champion whatever the gate says."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from clmer.data.corpus import corpus_of
    from clmer.serving.signing import sign_version
    from clmer.serving.tracking import configure

    corpus = corpus_of(corpus, settings.paths.external_media)
    configure(settings)
    client = MlflowClient()
    name = settings.mlflow.model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=(
            "CLMER fusion model (models-from-code pyfunc). Alias `champion`: the version scoring serves; "
            "`challenger`: the newest candidate. Each version's description holds its gate decision."))
    version = str(mlflow.register_model(model_uri, name).version)
    with tempfile.TemporaryDirectory() as tmp:  # signed as the registry serves it, before anything may load it
        sign_version(name, version, settings, Path(tmp))
    client.set_registered_model_alias(name, "challenger", version)
    return _gate(name, version, model_dir, corpus, settings, split, fingerprint, hold)


def gate_version(version: str, corpus, settings: Settings, split: str = "valid") -> dict:
    """Apply the gate again to a registered version (e.g. once reviewers have rated the explanations of a
    drop it scored, for mlflow.gate_min_rating); the champion is kept when the gate says so."""
    from clmer.data.corpus import corpus_of
    from clmer.serving.tracking import configure

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    corpus = corpus_of(corpus, settings.paths.external_media)
    configure(settings)
    name = settings.mlflow.model_name
    MlflowClient().get_model_version(name, str(version))  # a version that does not exist fails here, by name
    try:
        champion = MlflowClient().get_model_version_by_alias(name, "champion").version
    except MlflowException:
        champion = None
    if str(champion) == str(version):
        raise ValueError(f"{name} v{version} is the champion already; gate a challenger")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = _version_model_dir(settings.mlflow.model_name, str(version), Path(tmp), settings)
        return _gate(settings.mlflow.model_name, str(version), model_dir, corpus, settings, split)


def _gate(name: str, version: str, model_dir: str | Path, corpus, settings: Settings, split: str,
          fingerprint: str | None = None, hold: str | None = None) -> dict:
    """Score version `version` and the champion on `split`, decide, and write the decision on the version."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    new = split_scores(model_dir, corpus, settings, split)
    tags = {"eval.split": split, "eval.corpus": corpus.name, "challenger.version": version,
            "challenger.war": f"{new['war']:.4f}",
            "challenger.uar": f"{new['uar']:.4f}"}
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        champion = None
    if champion is None:
        decision, old = "promoted: no champion yet", None
    else:
        decision, old = _against_champion(name, champion.version, new, corpus, settings, split, tags)
    if hold and decision.startswith("promoted"):
        decision = f"{hold} (the gate said: {decision})"
    promoted = decision.startswith("promoted")
    tags["decision"] = decision
    if fingerprint:
        tags[FINGERPRINT_TAG] = fingerprint
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.update_model_version(name, version, description=describe(
        decision, split, corpus.name, new, old, champion.version if champion is not None else None))
    if promoted:
        client.set_registered_model_alias(name, "champion", version)
    return {"name": name, "version": version, "promoted": promoted, "decision": decision, "challenger": new,
            "champion": old, "champion_version": champion.version if champion is not None else None}


def resolve_model(model_uri: str) -> dict:
    """{version, alias, run_id} of a registry URI (`models:/name@alias`, `models:/name/3`); for other
    URIs the version is the URI itself and the rest None. Reports and output rows name the model so."""
    from mlflow import MlflowClient

    if not model_uri.startswith("models:/"):
        return {"version": model_uri, "alias": None, "run_id": None}
    client = MlflowClient()
    if "@" in model_uri:
        name, alias = model_uri.removeprefix("models:/").split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    else:
        name, number = model_uri.removeprefix("models:/").rsplit("/", 1)
        alias, version = None, client.get_model_version(name, number)
    return {"version": str(version.version), "alias": alias, "run_id": version.run_id}
