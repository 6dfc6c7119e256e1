"""Verifiable rewards for the modality policy: each is computed from the label, a corruption we made
ourselves, or the model's own deletion test. No learned judge.

* accuracy:     the prediction under the sampled weights is the gold class (0/1);
* likelihood:   the gold class's log-odds log p - log(1 - p) under the sampled weights, clipped
                (dense: it tells two correct weightings apart; in probability it saturates, so on
                clips where the modalities agree every weighting earned the same 0.99);
* reliability:  on a clip where we corrupted modality c, the weight on c is no more than its fair
                share 1 / (modalities present). Known true or false, because we did the corrupting;
* faithfulness: the top-weighted modality is the one whose removal lowers the predicted class's
                log-odds most (the modality that decided), removal meaning what the evaluation
                means by it: the modality is absent and the policy re-weights the rest. Measured
                on calibration clips, which the heads never fitted.
"""

from __future__ import annotations

import torch


def accuracy_reward(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(..., B, C) logits, (B,) gold -> (..., B) in {0, 1}."""
    return (logits.argmax(-1) == y).float()


def likelihood_reward(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(..., B, C) logits -> (..., B) probability of the gold class."""
    probs = torch.softmax(logits, -1)
    return probs.gather(-1, y.expand(probs.shape[:-1]).unsqueeze(-1)).squeeze(-1)


def log_odds(logits: torch.Tensor, target: torch.Tensor, clip: float | None = None) -> torch.Tensor:
    """(..., B, C) logits, (B,) class -> (..., B) log p(target) - log(1 - p(target)), computed from
    log-probabilities (stable where p is within 1e-9 of 0 or 1), clipped to +-clip if given."""
    logp = torch.log_softmax(logits, -1)
    idx = target.expand(logp.shape[:-1]).unsqueeze(-1)
    own = logp.gather(-1, idx).squeeze(-1)
    rest = torch.logsumexp(logp.scatter(-1, idx, float("-inf")), -1)
    out = own - rest
    return out.clamp(-clip, clip) if clip is not None else out


def reliability_reward(weights: torch.Tensor, corrupted: torch.Tensor, present: torch.Tensor,
                       tol: float = 1e-6) -> torch.Tensor:
    """1 where the corrupted modality's weight is at most its fair share, 0 where above; 0 on clean clips.

    weights (..., B, 3); corrupted (B,) modality index or -1; present (B, 3)."""
    fair = 1.0 / present.float().sum(-1).clamp_min(1.0)  # (B,)
    idx = corrupted.clamp_min(0).view(*([1] * (weights.dim() - 2)), -1, 1).expand(*weights.shape[:-1], 1)
    w_c = weights.gather(-1, idx).squeeze(-1)
    ok = (w_c <= fair + tol).float()
    return torch.where(corrupted >= 0, ok, torch.zeros_like(ok))


def faithfulness_reward(weights: torch.Tensor, drops: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """1 where the top-weighted modality has the largest removal drop (ties count as faithful).

    weights (..., B, 3); drops (B, 3) = how much removing m lowers the explained class (`removal_drops`),
    -inf for absent ones.
    A clip with a single modality is trivially faithful."""
    present = present.bool()
    w = weights.masked_fill(~present, float("-inf"))
    top = w.argmax(-1, keepdim=True)
    best = drops.masked_fill(~present, float("-inf")).amax(-1)  # (B,)
    top_drop = drops.expand(*weights.shape).gather(-1, top).squeeze(-1)
    single = present.sum(-1) <= 1
    return ((top_drop >= best - 1e-6) | single).float()
