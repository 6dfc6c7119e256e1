"""Modality attributions and their faithfulness checks.

* Exact Shapley values over the three modalities: the value of a subset S is the probability of
  the explained class when only S is present, or (scale="logodds", what reports show) its
  log-odds, log p / (1 - p), which still moves when p is .99 (the policy re-weights what is left;
  the empty set is the classifier's answer to a zero fused vector). Three players -> 8 subsets,
  computed exactly.
* Rank agreement between the policy's weights and the Shapley values.
* Deletion test: remove one modality at a time; a faithful attribution ranks first the modality
  whose removal hurts the explained class most.
"""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import torch

from clmer.model.dataset import FeatureSet
from clmer.model.fusion import FusionModel

N = 3
SUBSETS = [tuple(s) for r in range(N + 1) for s in itertools.combinations(range(N), r)]


@torch.no_grad()
def subset_logits(model: FusionModel, batch: dict) -> dict[tuple, torch.Tensor]:
    """Class logits (B, C) for every subset of modalities (intersected with what is present)."""
    model.eval()
    h, _, stats = model.encode(batch)
    available = model.effective_present(batch, batch["present"])
    out = {}
    for s in SUBSETS:
        keep = torch.zeros_like(available)
        keep[:, list(s)] = True
        present = available & keep
        w = model.policy.weights(model.policy_mean(h, present, stats), present)
        out[s] = model.heads(h, w)["logits"]
    return out


def subset_probs(model: FusionModel, batch: dict) -> dict[tuple, torch.Tensor]:
    """Class probabilities (B, C) for every subset of modalities."""
    return {s: torch.softmax(v, -1) for s, v in subset_logits(model, batch).items()}


def class_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """log p_c - log(1 - p_c) for every class c (B, C), stably from the logits."""
    c = logits.shape[-1]
    eye = torch.eye(c, dtype=torch.bool, device=logits.device)
    others = logits.unsqueeze(-2).expand(*logits.shape[:-1], c, c).masked_fill(eye, float("-inf"))
    return logits - torch.logsumexp(others, dim=-1)


def shares_from_shapley(phi: np.ndarray, present: np.ndarray) -> np.ndarray:
    """What users see as "how much each modality contributed": the positive Shapley values (support for
    the explained class) normalised to sum to 1. A modality that spoke against the decision gets 0 (its
    signed value stays in `shapley`); when none supported it, every share is 0 and `supported` says so,
    instead of presenting the least-opposed modality as the largest contributor. Absent modalities get 0."""
    pos = np.clip(np.where(present, phi, 0.0), 0.0, None)
    total = pos.sum()
    return pos / total if total > 1e-12 else np.zeros_like(pos, dtype=float)


def supported(phi: np.ndarray, present: np.ndarray) -> bool:
    """Did any present modality move the decision towards the explained class?"""
    return bool(np.clip(np.where(present, phi, 0.0), 0.0, None).sum() > 1e-12)


def shapley_from_values(values: dict[tuple, np.ndarray], present: np.ndarray) -> np.ndarray:
    """(B, 3) Shapley values from subset values (B,), players restricted to present modalities."""
    b = present.shape[0]
    phi = np.zeros((b, N))
    for i in range(b):
        players = [m for m in range(N) if present[i, m]]
        n = len(players)
        for m in players:
            others = [p for p in players if p != m]
            for r in range(len(others) + 1):
                for s in itertools.combinations(others, r):
                    weight = factorial(len(s)) * factorial(n - len(s) - 1) / factorial(n)
                    with_m = tuple(sorted(s + (m,)))
                    phi[i, m] += weight * (values[with_m][i] - values[tuple(sorted(s))][i])
    return phi


@torch.no_grad()
def explain_batch(model: FusionModel, batch: dict, target: torch.Tensor | None = None,
                  scale: str = "prob") -> dict[str, np.ndarray]:
    """Shapley values, single-removal drops and weights for the target class (default: predicted), on the
    probability scale or (scale="logodds") the target's log-odds."""
    logits = subset_logits(model, batch)
    present = model.effective_present(batch, batch["present"]).cpu().numpy()
    target = logits[tuple(range(N))].argmax(-1) if target is None else target
    idx = target.view(-1, 1)
    to_value = class_log_odds if scale == "logodds" else (lambda v: torch.softmax(v, -1))
    values = {s: to_value(v).gather(1, idx).squeeze(1).cpu().numpy() for s, v in logits.items()}
    phi = shapley_from_values(values, present)
    full_v = values[tuple(range(N))]
    drops = np.stack([full_v - values[tuple(x for x in range(N) if x != m)] for m in range(N)], 1)
    drops = np.where(present, drops, -np.inf)
    weights = model(batch)["weights"].cpu().numpy()
    return {"shapley": phi, "drops": drops, "weights": weights, "present": present,
            "target": target.cpu().numpy(), "p_target": full_v}


def spearman3(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two length-3 vectors (ties get average ranks); nan if constant."""
    ra, rb = _ranks(a), _ranks(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x)
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x):
        ranks[x == v] = ranks[x == v].mean()
    return ranks


def faithfulness_report(model: FusionModel, data: FeatureSet, device: str = "cpu", use_gold: bool = False) -> dict:
    """Shapley/weight agreement and deletion test over a data set; carrier recovery on variants."""
    rows = []
    for start in range(0, len(data), 64):
        idx = list(range(start, min(len(data), start + 64)))
        batch = data.batch(idx, device)
        ex = explain_batch(model, batch, batch["y"] if use_gold and "y" in batch else None)
        for j in range(len(idx)):
            rows.append({k: v[j] for k, v in ex.items()})
    multi = [r for r in rows if r["present"].sum() >= 2]
    rho = [spearman3(r["weights"][r["present"]], r["shapley"][r["present"]]) for r in multi if r["present"].sum() == 3]
    rho = [x for x in rho if not np.isnan(x)]

    def top(x, r):
        return int(np.argmax(np.where(r["present"], x, -np.inf)))

    report = {
        "clips": len(rows),
        "clips_multimodal": len(multi),
        "weight_shapley_spearman": float(np.mean(rho)) if rho else float("nan"),
        "weight_shapley_top1_agreement": _share([top(r["weights"], r) == top(r["shapley"], r) for r in multi]),
        "deletion_top_weight_hurts_most": _share([top(r["weights"], r) == top(r["drops"], r) for r in multi]),
        "deletion_top_shapley_hurts_most": _share([top(r["shapley"], r) == top(r["drops"], r) for r in multi]),
        "mean_shapley": {m: float(np.mean([r["shapley"][i] for r in rows])) for i, m in enumerate(("text", "audio", "vision"))},
    }
    if "variant" in data.frame.columns and "class_index" in data.frame.columns:
        # Which modality supports the *gold* label most: that is the one the clip was built to carry it in.
        gold = _gold_rows(model, data, device) if not use_gold else rows
        carriers = {"text": 0, "audio": 1, "vision": 2}
        var = [(carriers[v], r) for v, r in zip(data.frame["variant"], gold) if v in carriers and r["present"].sum() >= 2]
        report["variant_clips"] = len(var)
        report["variant_top_shapley_is_carrier"] = _share([top(r["shapley"], r) == c for c, r in var])
        report["variant_top_weight_is_carrier"] = _share([top(r["weights"], r) == c for c, r in var])
        report["variant_top_share_is_carrier"] = _share(
            [top(shares_from_shapley(r["shapley"], r["present"]), r) == c for c, r in var])
        # On the variant clips the model gets right, explaining what it predicted (which is then the
        # gold class): a share that names the carrier of a wrong answer would credit the explanation
        # for a decision the model did not make.
        y = data.frame["class_index"].to_numpy()
        right = [(carriers[v], r) for v, r, g in zip(data.frame["variant"], rows, y)
                 if v in carriers and r["present"].sum() >= 2 and int(r["target"]) == int(g)]
        report["variant_clips_correct"] = len(right)
        report["variant_accuracy"] = _share([int(r["target"]) == int(g) for v, r, g in zip(data.frame["variant"], rows, y)
                                             if v in carriers and r["present"].sum() >= 2])
        report["variant_correct_top_share_is_carrier"] = _share(
            [top(shares_from_shapley(r["shapley"], r["present"]), r) == c for c, r in right])
        report["variant_correct_top_weight_is_carrier"] = _share([top(r["weights"], r) == c for c, r in right])
        for name, c in carriers.items():
            report[f"{name}_carrier_accuracy"] = _share(
                [int(r["target"]) == int(g) for v, r, g in zip(data.frame["variant"], rows, y) if v == name])
    return report


def _gold_rows(model: FusionModel, data: FeatureSet, device: str) -> list[dict]:
    rows = []
    for start in range(0, len(data), 64):
        idx = list(range(start, min(len(data), start + 64)))
        batch = data.batch(idx, device)
        ex = explain_batch(model, batch, batch["y"])
        rows += [{k: v[j] for k, v in ex.items()} for j in range(len(idx))]
    return rows


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else float("nan")
