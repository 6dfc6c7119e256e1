"""Section 3 of `clmer benchmark --ablations`: are the explanations faithful, and by how much?

* Deletion / AOPC: remove the k audio spans (or key frames) the explanation ranks highest, k = 1..3,
  and measure the fall of the explained class's log-odds (the scale the explanations use); the same for k random spans (frames).
  AOPC is the mean fall over k. A faithful ranking beats random by a wide margin (goal: 2x).
* Pathway check: removing every item of a modality equals removing the modality (max |difference|).
* Integrated gradients completeness: sum of token attributions vs the log-odds gap between the clip
  and the baseline, as a relative error.
* Carrier recovery on single-modality variant clips: the top Shapley share vs the top fusion weight.
"""

from __future__ import annotations

import numpy as np
import torch

from clmer.explain.clip import without_items
from clmer.explain.items import audio_windows, ig_gap, integrated_gradients, log_odds, occlusion
from clmer.model.attribution import faithfulness_report
from clmer.model.dataset import FeatureSet, collate
from clmer.model.fusion import MODALITIES

K = 3
RANDOM_DRAWS = 5


def _deletion(model, batch, m: str, units: list[np.ndarray], target: int, rng) -> tuple[float, float] | None:
    """(AOPC of the ranked units, AOPC of random units) for one clip and modality."""
    if len(units) < 2:
        return None
    full = _target_odds(model, batch, target)
    n = int(batch[f"{m}_mask"].shape[1])
    order = np.argsort(-occlusion(model, batch, m, units, n, target))
    ks = range(1, min(K, len(units) - 1) + 1)

    def fall(chosen) -> float:
        idx = np.unique(np.concatenate([units[i] for i in chosen]))
        return full - _target_odds(model, without_items(batch, m, idx), target)

    ranked = np.mean([fall(order[:k]) for k in ks])
    random = np.mean([fall(rng.choice(len(units), k, replace=False)) for k in ks for _ in range(RANDOM_DRAWS)])
    return float(ranked), float(random)


def _pathway_gap(model, batch, m: int) -> float:
    """|p(removing every item) - p(removing the modality)| over the classes."""
    name = MODALITIES[m]
    with torch.no_grad():
        occluded = torch.softmax(model(without_items(batch, name, slice(None)))["logits"], -1)
        present = batch["present"].clone()
        present[:, m] = False
        removed = torch.softmax(model(batch, present=present)["logits"], -1)
    return float((occluded - removed).abs().max())


def _target_odds(model, batch, target: int) -> float:
    with torch.no_grad():
        return float(log_odds(model(batch)["logits"], target)[0])


def _ig_completeness(model, batch, target: int) -> float | None:
    scores = integrated_gradients(model, batch, target)
    gap = ig_gap(model, batch, target)
    if abs(gap) < 1e-3:
        return None
    return float(abs(scores.sum() - gap) / abs(gap))


def explanation_quality(model, data: FeatureSet, seed: int = 0, max_clips: int = 80) -> dict:
    model.eval()
    rng = np.random.default_rng(seed)
    audio, frames, gaps, ig = [], [], [], []
    for i in rng.permutation(len(data))[:max_clips]:
        clip = data.clips[i]
        batch = collate([clip], data.dims, None)
        with torch.no_grad():
            target = int(model(batch)["logits"].argmax(-1)[0])
        if clip.present[1] and len(clip.times.get("audio", [])) > 1:
            windows, _ = audio_windows(clip.times["audio"])
            if (r := _deletion(model, batch, "audio", windows, target, rng)) is not None:
                audio.append(r)
        if clip.present[2]:
            units = [np.array([j]) for j in range(len(clip.seq["vision"]))]
            if (r := _deletion(model, batch, "vision", units, target, rng)) is not None:
                frames.append(r)
        for m in range(3):
            if clip.present[m] and clip.present.sum() >= 2:
                gaps.append(_pathway_gap(model, batch, m))
        if clip.present[0] and (c := _ig_completeness(model, batch, target)) is not None:
            ig.append(c)
    out = {}
    for name, pairs in (("audio", audio), ("frames", frames)):
        ranked, random = (np.mean([p[0] for p in pairs]), np.mean([p[1] for p in pairs])) if pairs else (np.nan, np.nan)
        out |= {f"{name}_aopc_top": float(ranked), f"{name}_aopc_random": float(random),
                f"{name}_aopc_ratio": float(ranked / random) if random > 1e-9 else float("nan"), f"{name}_clips": len(pairs)}
    out["pathway_max_gap"] = float(max(gaps)) if gaps else float("nan")
    out["ig_completeness_rel_error"] = float(np.median(ig)) if ig else float("nan")
    faith = faithfulness_report(model, data)
    out["carrier_by_share"] = faith.get("variant_top_share_is_carrier", float("nan"))
    out["carrier_by_weight"] = faith.get("variant_top_weight_is_carrier", float("nan"))
    return out
