"""Evaluation tables: classification and the benchmark's own regression metrics per language, with
the majority and chance baselines and each single modality beside every number; accuracy with each
modality corrupted; the faithfulness figures.

"Single modality" is the fusion model with only that modality present (it was trained with
modality dropout, so it knows how to predict from one). "m corrupted by k" applies corruption k
(`clmer.model.corruption`: swap, noise, flat, garble, frozen; seeded) to modality m of every clip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from clmer.model.attribution import faithfulness_report
from clmer.model.corruption import corrupt_batch
from clmer.model.dataset import FeatureSet
from clmer.model.fusion import MODALITIES, FusionModel
from clmer.model.metrics import chance_baseline, classification, majority_baseline, regression
from clmer.model.train import predict

from clmer.model.corruption import KINDS  # noqa: E402


def flavour_of(data: FeatureSet) -> str:
    flavours = set(data.frame.get("flavour", pd.Series(["chsims2"])).dropna())
    return flavours.pop() if len(flavours) == 1 else "chsims2"


def score_predictions(data: FeatureSet, pred: dict, train_classes: np.ndarray) -> dict:
    y = data.frame["class_index"].to_numpy()
    out = {"model": classification(y, pred["probs"].argmax(1)),
           "majority": majority_baseline(train_classes, y), "chance": chance_baseline(y)}
    out["model"].update(regression(data.frame["label"].to_numpy(), pred["reg"], flavour_of(data)))
    return out


def single_modality(model: FusionModel, data: FeatureSet, device: str) -> dict[str, dict]:
    out = {}
    y = data.frame["class_index"].to_numpy()
    full_present = torch.from_numpy(np.stack([c.present for c in data.clips]))
    for i, m in enumerate(MODALITIES):
        only = torch.zeros_like(full_present)
        only[:, i] = full_present[:, i]
        usable = only.any(1).numpy()
        pred = predict(model, data, device, present_override=only)
        out[m] = classification(y[usable], pred["probs"].argmax(1)[usable])
    return out


def fused_probs(model: FusionModel, batch: dict) -> torch.Tensor:
    return torch.softmax(model(batch)["logits"], -1)


def late_fusion_batch_probs(model: FusionModel, batch: dict) -> torch.Tensor:
    """The late-fusion baseline: the mean of each present modality's own class probabilities."""
    h, _, _ = model.encode(batch)
    present = model.effective_present(batch, batch["present"]).float()
    p = torch.softmax(model.classifier(h), -1)  # (B, 3, C)
    return (p * present.unsqueeze(-1)).sum(1) / present.sum(1, keepdim=True).clamp_min(1)


@torch.no_grad()
def split_probs(model: FusionModel, data: FeatureSet, device: str, modality: int | None = None, seed: int = 0,
                combine=fused_probs, kind: str = "swap") -> np.ndarray:
    """Class probabilities over a split; with `modality`, corruption `kind` is applied to that modality of
    every clip (swap partners have a different label and are drawn within blocks of 256 clips; seeded)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 101 * (modality or 0) + 7 * sorted(set(sum(KINDS.values(), ()))).index(kind))
    probs = []
    for start in range(0, len(data), 256):
        batch = data.batch(list(range(start, min(len(data), start + 256))), device)
        if modality is not None:
            batch, _ = corrupt_batch(batch, gen, 1.0, modality=modality, kinds={m: (kind,) for m in MODALITIES})
        probs.append(combine(model, batch).cpu())
    return torch.cat(probs).numpy()


def under_corruption(model: FusionModel, data: FeatureSet, device: str, seed: int = 0,
                     combine=fused_probs) -> dict[str, dict]:
    """Scores with each modality corrupted by each of its kinds: keys like "text/swap", "audio/noise"."""
    y = data.frame["class_index"].to_numpy()
    return {f"{m}/{k}": classification(y, split_probs(model, data, device, i, seed, combine, k).argmax(1))
            for i, m in enumerate(MODALITIES) for k in KINDS[m]}


def late_fusion_probs(model: FusionModel, data: FeatureSet, device: str) -> np.ndarray:
    return split_probs(model, data, device, combine=late_fusion_batch_probs)


def evaluate(model: FusionModel, test: FeatureSet, train_classes: np.ndarray, device: str = "cpu",
             shapley: bool = True) -> dict:
    """The full evaluation of one model on one split: overall, per language, corrupted, faithfulness."""
    report: dict = {"splits": {}}
    groups = {"all": np.ones(len(test), bool)}
    for lang in sorted(test.frame["language"].dropna().unique()):
        groups[lang] = (test.frame["language"] == lang).to_numpy()
    for name, mask in groups.items():
        part = test.subset(mask)
        if len(part) == 0:
            continue
        pred = predict(model, part, device)
        entry = score_predictions(part, pred, train_classes)
        entry["single_modality"] = single_modality(model, part, device)
        entry["corrupted"] = under_corruption(model, part, device)
        entry["mean_weights"] = {m: float(pred["weights"][:, i].mean()) for i, m in enumerate(MODALITIES)}
        report["splits"][name] = entry
    if shapley:
        report["faithfulness"] = faithfulness_report(model, test, device)
    return report


def table(report: dict) -> pd.DataFrame:
    """One row per (split, system): WAR, UAR, F1s and the benchmark's regression metrics where known."""
    rows = []
    keys = ("mae", "corr", "acc2", "acc3", "acc5", "f1", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7")
    for split, entry in report["splits"].items():
        systems = [("model", entry["model"]), ("majority", entry["majority"]), ("chance", entry["chance"])]
        systems += [(f"only {m}", v) for m, v in entry.get("single_modality", {}).items()]
        systems += [(f"{m} corrupted", v) for m, v in entry.get("corrupted", {}).items()]
        for name, m in systems:
            rows.append({"split": split, "system": name, "n": m.get("n"), "WAR": m.get("war"), "UAR": m.get("uar"),
                         "macro_F1": m.get("macro_f1"), "weighted_F1": m.get("weighted_f1"),
                         **{k.upper() if k in ("mae",) else k: m.get(k) for k in keys if k in m}})
    return pd.DataFrame(rows)


def retention(cross_war: float, in_language_war: float) -> float:
    """Cross-lingual WAR / in-language WAR: how much of its accuracy a model keeps abroad."""
    return float(cross_war / in_language_war) if in_language_war > 0 else float("nan")


def chance_corrected_retention(cross: float, in_language: float, chance: float = 1.0 / 3) -> float:
    """(cross - chance) / (in-language - chance): 1 keeps everything above chance, 0 falls to chance."""
    return float((cross - chance) / (in_language - chance)) if in_language - chance > 1e-9 else float("nan")
