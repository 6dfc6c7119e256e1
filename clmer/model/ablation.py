"""Section 1 of `clmer benchmark --ablations`: does the policy stage earn its place?

Same data, same seed, these systems:

    warm-up only      the supervised model on every training clip (no policy stage)
    late fusion       the same model's three single-modality verdicts, averaged
    early fusion      an MLP over the concatenated modality vectors (fusion_mode="concat")
    supervised gate   warm-up on the fit clips, then the policy trained by gradient on the
                      calibration clips with the same corruptions (the honest baseline for RLVR)
    RLVR              warm-up on the fit clips, then GRPO with verifiable rewards on the same
                      (accuracy, log-odds, reliability); "+ faithful-weight reward" adds the check
                      that the top weight is the modality whose removal moves the prediction most;
                      "(issue-23 recipe)" is the previous RL setup
    ..., logit fusion the same with fusion_combine="logits" (weights times each modality's logits)

Each is scored on the test split (or, to choose a default, on the validation split): clean WAR/UAR;
WAR/UAR with each modality corrupted in every clip; on single-modality variant clips, how often the
top fusion weight and the top Shapley share fall on the carrier (the share also counted only on the
clips the model gets right, explaining the predicted class), their accuracy, the audio carriers'
accuracy; weight-Shapley agreement (top-1, Spearman).
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

LOGITS = {"fusion_combine": "logits"}
VARIANTS: dict[str, dict] = {
    "warm-up only": {"train": {"policy_stage": "none"}, "fusion": {"fusion_combine": "hidden"}},
    "late fusion": {"train": {"policy_stage": "none"}},  # evaluated from the warm-up-only model
    "early fusion (concat)": {"train": {"policy_stage": "none"}, "fusion": {"fusion_mode": "concat"}},
    "supervised gate": {"train": {"policy_stage": "gate"}, "fusion": {"fusion_combine": "hidden"}},
    # The recipe before issue 27: every calibration clip corrupted, GRPO's std-scaled advantages, an
    # entropy bonus (its swaps also took a partner of another label, which is no longer an option).
    "RLVR (issue-23 recipe)": {"train": {"policy_stage": "rlvr", "corrupt_fraction": 1.0, "advantage_scale": "std",
                                         "entropy_bonus": 0.05, "reward_faithfulness": 0.5},
                               "fusion": {"fusion_combine": "hidden"}},
    "RLVR": {"train": {"policy_stage": "rlvr", "reward_faithfulness": 0.0}, "fusion": {"fusion_combine": "hidden"}},
    "RLVR + faithful-weight reward": {"train": {"policy_stage": "rlvr", "reward_faithfulness": 1.0},
                                      "fusion": {"fusion_combine": "hidden"}},
    "warm-up only, logit fusion": {"train": {"policy_stage": "none"}, "fusion": LOGITS},
    "supervised gate, logit fusion": {"train": {"policy_stage": "gate"}, "fusion": LOGITS},
    "RLVR, logit fusion": {"train": {"policy_stage": "rlvr", "reward_faithfulness": 0.0}, "fusion": LOGITS},
    "RLVR + faithful-weight reward, logit fusion": {"train": {"policy_stage": "rlvr", "reward_faithfulness": 1.0},
                                                    "fusion": LOGITS},
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
                "carrier_by_share_correct": faith.get("variant_correct_top_share_is_carrier", float("nan")),
                "carrier_by_weight_correct": faith.get("variant_correct_top_weight_is_carrier", float("nan")),
                "carrier_clip_war": faith.get("variant_accuracy", float("nan")),
                "audio_carrier_war": faith.get("audio_carrier_accuracy", float("nan")),
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


def run_seed(splits: dict[str, FeatureSet], settings: Settings, seed: int, out_dir: Path, log=None,
             names: list[str] | None = None) -> list[dict]:
    """Every variant (or those in `names`) trained and scored once with `seed`; one row per variant."""
    unknown = sorted(set(names or ()) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown ablation variant(s) {unknown}; known: {list(VARIANTS)}")
    if names and "late fusion" in names and "warm-up only" not in names:
        raise ValueError("the 'late fusion' variant is read from the 'warm-up only' model: ask for both")
    device = train_device(settings.train.device)
    rows, warmup_model = [], None
    for name, overrides in VARIANTS.items():
        if names and name not in names:
            continue
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
