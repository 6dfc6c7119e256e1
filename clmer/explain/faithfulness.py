"""Is this clip's explanation faithful? ERASER-style checks, per clip and modality.

For the k items an explanation ranks highest (words, audio spans or frames; k = 3, fewer on short
clips) the model re-predicts the clip twice: without them (comprehensiveness: how far the explained
class falls) and with only them left of that modality (sufficiency: how far it falls; small is good).
The same is done for k items drawn at random, many times. An explanation whose top items remove
no more than random ones is flagged: for that clip it is no better than pointing anywhere.

Falls are measured in the explained class's log-odds (the flag) and in its probability (the words
a reader sees: "removing these three words lowers the positive probability from .91 to .40").
"""

from __future__ import annotations

import numpy as np

from clmer.explain.items import keep_values
from clmer.model.fusion import FusionModel

TOP_K = 3
RANDOM_DRAWS = 24


def erasure_check(model: FusionModel, batch: dict, m: str, units: list[np.ndarray], n: int, scores: np.ndarray,
                  target: int, rng: np.random.Generator) -> dict | None:
    """Comprehensiveness and sufficiency of the top-k units of modality m against k random units.
    `units` are item-index sets (a word's tokens, a window's frames); `n` the modality's item count."""
    if len(units) < 2:
        return None  # one unit: "the top item" and "a random item" are the same thing
    k = min(TOP_K, len(units) - 1)
    top = np.argsort(-np.asarray(scores, float), kind="stable")[:k]
    draws = [rng.choice(len(units), k, replace=False) for _ in range(RANDOM_DRAWS)]
    rows = [np.ones(n, bool)]
    for chosen in [top, *draws]:
        idx = np.unique(np.concatenate([units[i] for i in chosen])).astype(int)
        without, only = np.ones(n, bool), np.zeros(n, bool)
        without[idx], only[idx] = False, True
        rows += [without, only]
    odds, probs = keep_values(model, batch, m, np.stack(rows))
    odds, probs = odds[:, target], probs[:, target]
    comp, suff = odds[0] - odds[1::2], odds[0] - odds[2::2]
    comp_p = probs[0] - probs[1::2]
    better = bool(comp[0] > np.mean(comp[1:]) + 1e-6)
    return {
        "k": int(k), "items": [int(i) for i in top],
        "p_full": round(float(probs[0]), 6), "p_without_top": round(float(probs[1]), 6),
        "p_only_top": round(float(probs[2]), 6), "p_without_random": round(float(np.mean(probs[3::2])), 6),
        "comprehensiveness": round(float(comp[0]), 6), "random_comprehensiveness": round(float(np.mean(comp[1:])), 6),
        "sufficiency": round(float(suff[0]), 6), "random_sufficiency": round(float(np.mean(suff[1:])), 6),
        "comprehensiveness_p": round(float(comp_p[0]), 6),
        "random_comprehensiveness_p": round(float(np.mean(comp_p[1:])), 6),
        "better_than_random": better,
    }


def flagged(checks: dict[str, dict | None], shares: dict[str, float]) -> list[str]:
    """Modalities that carry part of the decision but whose top items are no better than random ones."""
    return [m for m, c in checks.items() if c is not None and shares.get(m, 0.0) > 0 and not c["better_than_random"]]
