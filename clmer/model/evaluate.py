"""Evaluation tables: classification and regression metrics per language, with the majority and
chance baselines and each single modality beside every number, plus the faithfulness figures.

"Single modality" is the fusion model with only that modality present (it was trained with
modality dropout, so it knows how to predict from one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from clmer.data import labels as labels_mod
from clmer.model.attribution import faithfulness_report
from clmer.model.dataset import FeatureSet
from clmer.model.fusion import MODALITIES, FusionModel
from clmer.model.metrics import chance_baseline, classification, majority_baseline, regression
from clmer.model.train import predict


def _scale(data: FeatureSet) -> float:
    flavours = set(data.frame.get("flavour", pd.Series(["chsims2"])).dropna())
    return labels_mod.LABEL_RANGE[flavours.pop()][1] if len(flavours) == 1 else 1.0


def score_predictions(data: FeatureSet, pred: dict, train_classes: np.ndarray) -> dict:
    y = data.frame["class_index"].to_numpy()
    out = {"model": classification(y, pred["probs"].argmax(1)),
           "majority": majority_baseline(train_classes, y), "chance": chance_baseline(y)}
    out["model"].update(regression(data.frame["label"].to_numpy(), pred["reg"], _scale(data)))
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


def evaluate(model: FusionModel, test: FeatureSet, train_classes: np.ndarray, device: str = "cpu",
             shapley: bool = True) -> dict:
    """The full evaluation of one model on one split: overall, per language, faithfulness."""
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
        entry["mean_weights"] = {m: float(pred["weights"][:, i].mean()) for i, m in enumerate(MODALITIES)}
        report["splits"][name] = entry
    if shapley:
        report["faithfulness"] = faithfulness_report(model, test, device)
    return report


def table(report: dict) -> pd.DataFrame:
    """One row per (split, system): WAR, UAR, macro-F1 and the regression metrics where known."""
    rows = []
    for split, entry in report["splits"].items():
        systems = [("model", entry["model"]), ("majority", entry["majority"]), ("chance", entry["chance"])]
        systems += [(f"only {m}", v) for m, v in entry.get("single_modality", {}).items()]
        for name, m in systems:
            rows.append({"split": split, "system": name, "n": m.get("n"), "WAR": m.get("war"), "UAR": m.get("uar"),
                         "macro_F1": m.get("macro_f1"), "MAE": m.get("mae"), "Corr": m.get("corr"),
                         "Acc2_has0": m.get("acc2_has0"), "Acc2_non0": m.get("acc2_non0"),
                         "Acc5": m.get("acc5"), "Acc7": m.get("acc7")})
    return pd.DataFrame(rows)


def retention(cross_war: float, in_language_war: float) -> float:
    """Cross-lingual WAR / in-language WAR: how much of its accuracy a model keeps abroad."""
    return float(cross_war / in_language_war) if in_language_war > 0 else float("nan")
