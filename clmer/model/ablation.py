"""Section 1 of `clmer benchmark --ablations`: does the policy stage earn its place?

Same data, same seed, five systems:

    warm-up only      the supervised model on every training clip (no policy stage)
    late fusion       the same model's three single-modality verdicts, averaged
    early fusion      an MLP over the concatenated modality vectors (fusion_mode="concat")
    supervised gate   warm-up on the fit clips, then the policy trained by gradient on the
                      calibration clips with the same corruptions (the honest baseline for RLVR)
    RLVR              warm-up on the fit clips, then GRPO with verifiable rewards on the same

Each is scored on the test split: clean WAR/UAR; WAR/UAR with each modality corrupted in every clip;
on single-modality variant clips, how often the top fusion weight and the top Shapley share fall on
the carrier; weight-Shapley agreement (top-1, Spearman).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clmer.config import Settings
from clmer.model.attribution import faithfulness_report
from clmer.model.dataset import FeatureSet
from clmer.model.evaluate import late_fusion_probs, under_corruption
from clmer.model.metrics import classification
from clmer.model.train import predict, train, train_device

VARIANTS: dict[str, dict] = {
    "warm-up only": {"train": {"policy_stage": "none"}},
    "late fusion": {"train": {"policy_stage": "none"}},  # evaluated from the warm-up-only model
    "early fusion (concat)": {"train": {"policy_stage": "none"}, "fusion": {"fusion_mode": "concat"}},
    "supervised gate": {"train": {"policy_stage": "gate"}},
    "RLVR": {"train": {"policy_stage": "rlvr"}},
}


def with_overrides(settings: Settings, overrides: dict, seed: int) -> Settings:
    data = settings.model_dump(mode="json")
    for section, values in overrides.items():
        data[section].update(values)
    data["train"]["seed"] = seed
    return Settings.model_validate(data)


def corruption_columns(corrupted: dict[str, dict]) -> dict:
    """Per modality and kind, then the means: over every corruption, over swaps (another clip's modality:
    undetectable from the modality alone), over the rest (noise, silence, a frozen frame, a garbled text)."""
    row = {f"{key}_war": v["war"] for key, v in corrupted.items()}
    swaps = [v["war"] for k, v in corrupted.items() if k.endswith("/swap")]
    others = [v["war"] for k, v in corrupted.items() if not k.endswith("/swap")]
    return row | {"corrupted_war": float(np.mean(swaps + others)), "corrupted_uar": float(np.mean([v["uar"] for v in corrupted.values()])),
                  "swap_war": float(np.mean(swaps)), "detectable_war": float(np.mean(others))}


def score_model(model, test: FeatureSet, device: str, probs: np.ndarray | None = None) -> dict:
    """Clean and corrupted accuracy, and (for weighted fusion) what the weights and shares point at."""
    y = test.frame["class_index"].to_numpy()
    probs = predict(model, test, device)["probs"] if probs is None else probs
    clean = classification(y, probs.argmax(1))
    row = {"clean_war": clean["war"], "clean_uar": clean["uar"]} | corruption_columns(under_corruption(model, test, device))
    if model.cfg.fusion_mode == "policy":
        faith = faithfulness_report(model, test, device)
        row |= {"carrier_by_weight": faith.get("variant_top_weight_is_carrier", float("nan")),
                "carrier_by_share": faith.get("variant_top_share_is_carrier", float("nan")),
                "weight_shapley_top1": faith["weight_shapley_top1_agreement"],
                "weight_shapley_spearman": faith["weight_shapley_spearman"]}
    return row


def late_fusion_row(model, test: FeatureSet, device: str) -> dict:
    """Late fusion on clean and corrupted inputs (the same seeded corruptions as every other system)."""
    from clmer.model.evaluate import late_fusion_batch_probs

    y = test.frame["class_index"].to_numpy()
    clean = classification(y, late_fusion_probs(model, test, device).argmax(1))
    return {"clean_war": clean["war"], "clean_uar": clean["uar"]} | corruption_columns(
        under_corruption(model, test, device, combine=late_fusion_batch_probs))


def run_seed(splits: dict[str, FeatureSet], settings: Settings, seed: int, out_dir: Path, log=None) -> list[dict]:
    """Every variant trained and scored once with `seed`; one row per variant."""
    device = train_device(settings.train.device)
    rows, warmup_model = [], None
    for name, overrides in VARIANTS.items():
        if name == "late fusion":
            rows.append({"variant": name, "seed": seed} | late_fusion_row(warmup_model, splits["test"], device))
            continue
        s = with_overrides(settings, overrides, seed)
        result = train(splits["train"], splits["valid"], s, out_dir / f"{_slug(name)}-seed{seed}", log=log)
        if name == "warm-up only":
            warmup_model = result.model
        rows.append({"variant": name, "seed": seed} | score_model(result.model, splits["test"], device))
    return rows


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
