"""Section 2 of `clmer benchmark --ablations`: does a model trained on one language hold up on the other?

Three protocols per direction (source -> target), each its own row:

    zero-shot    source labels only
    adaptation   source labels + the target language's *unlabelled* training clips (language
                 adversary, CORAL moment matching, pseudo-label SupCon across languages)
    joint        both languages labelled (the in-language model), tested on the target language

Retention = target WAR / source WAR of the same model, with a bootstrap 95 % interval over the test
clips, and chance-corrected retention = (target - 1/3) / (source - 1/3). Per modality, the
single-modality WAR on the target language says what transfers. Validation (early stopping) only
ever reads labelled languages: the target's labels are never used in zero-shot or adaptation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clmer.config import Settings
from clmer.model.dataset import FeatureSet
from clmer.model.evaluate import chance_corrected_retention, single_modality
from clmer.model.fusion import MODALITIES
from clmer.model.metrics import bootstrap_ci
from clmer.model.train import predict, train, train_device

PROTOCOLS = ("zero-shot", "adaptation", "joint")


def concat(a: FeatureSet, b: FeatureSet) -> FeatureSet:
    return FeatureSet(a.clips + b.clips, pd.concat([a.frame, b.frame], ignore_index=True), a.dims)


def by_language(splits: dict[str, FeatureSet]) -> dict[str, dict[str, FeatureSet]]:
    out: dict[str, dict[str, FeatureSet]] = {}
    for lang in ("zh", "en"):
        out[lang] = {name: s.subset((s.frame["language"] == lang).to_numpy()) for name, s in splits.items()}
    return out


def _correct(model, data: FeatureSet, device: str) -> np.ndarray:
    return (predict(model, data, device)["probs"].argmax(1) == data.frame["class_index"].to_numpy()).astype(float)


def run_direction(langs: dict[str, dict[str, FeatureSet]], source: str, target: str, protocol: str,
                  settings: Settings, out_dir: Path, log=None) -> dict:
    src, tgt = langs[source], langs[target]
    if protocol == "zero-shot":
        result = train(src["train"], src["valid"], settings, out_dir, log=log)
    elif protocol == "adaptation":
        result = train(src["train"], src["valid"], settings, out_dir, log=log, unlabeled=tgt["train"])
    elif protocol == "joint":
        result = train(concat(src["train"], tgt["train"]), concat(src["valid"], tgt["valid"]), settings, out_dir, log=log)
    else:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    device = train_device(settings.train.device)
    a, b = _correct(result.model, src["test"], device), _correct(result.model, tgt["test"], device)
    ind, cross = float(a.mean()), float(b.mean())
    rng = np.random.default_rng(settings.train.seed)

    def ratio(_):  # resample both test sets independently
        ia, ib = rng.integers(0, len(a), len(a)), rng.integers(0, len(b), len(b))
        return b[ib].mean() / a[ia].mean() if a[ia].mean() > 0 else np.nan

    lo, hi = bootstrap_ci(ratio, len(a), seed=settings.train.seed)
    single = single_modality(result.model, tgt["test"], device)
    supcon = [r.get("train_supcon") for r in result.history if r.get("stage") == "warmup" and "train_supcon" in r]
    row = {"train": source, "test": target, "protocol": protocol, "in_language_WAR": ind, "cross_WAR": cross,
           "retention": cross / ind if ind > 0 else float("nan"), "retention_lo": lo, "retention_hi": hi,
           "chance_corrected_retention": chance_corrected_retention(cross, ind),
           "train_supcon": float(np.mean(supcon)) if supcon else 0.0}
    return row | {f"cross_only_{m}_WAR": single[m].get("war", float("nan")) for m in MODALITIES}


def run_seed(splits: dict[str, FeatureSet], settings: Settings, seed: int, out_dir: Path, log=None) -> list[dict]:
    """Every protocol in both directions with `seed` (the policy stage off: this isolates alignment)."""
    data = settings.model_dump(mode="json")
    data["train"].update({"seed": seed, "policy_stage": "none"})
    s = Settings.model_validate(data)
    langs = by_language(splits)
    rows = []
    for source, target in (("zh", "en"), ("en", "zh")):
        if min(len(langs[source]["train"]), len(langs[target]["test"]), len(langs[source]["test"])) == 0:
            continue
        for protocol in PROTOCOLS:
            row = run_direction(langs, source, target, protocol, s, out_dir / f"{source}-{target}-{protocol}-seed{seed}", log)
            rows.append(row | {"seed": seed})
    return rows
