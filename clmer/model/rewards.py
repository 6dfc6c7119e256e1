"""Verifiable rewards for the modality policy: computed from data and the model, no learned judge.

* accuracy: the prediction under the sampled weights is the gold class;
* faithfulness: removing the modality with the largest weight lowers the gold-class probability
  at least as much as removing any other present modality (the weight points at what mattered).
"""

from __future__ import annotations

import torch


def accuracy_reward(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(..., B, C) logits, (B,) gold -> (..., B) in {0, 1}."""
    return (logits.argmax(-1) == y).float()


def faithfulness_reward(p_full: torch.Tensor, p_without: torch.Tensor, weights: torch.Tensor,
                        present: torch.Tensor) -> torch.Tensor:
    """1 where the top-weighted modality's removal hurts the gold class most (ties count as faithful).

    p_full (..., B) gold probability with every present modality; p_without (..., B, 3) with one
    modality removed; weights (..., B, 3); present (B, 3). A clip with a single modality is
    trivially faithful.
    """
    present = present.bool().expand_as(weights)
    drop = (p_full.unsqueeze(-1) - p_without).masked_fill(~present, float("-inf"))
    top = weights.masked_fill(~present, float("-inf")).argmax(-1, keepdim=True)
    top_drop = drop.gather(-1, top).squeeze(-1)
    others = drop.scatter(-1, top, float("-inf")).amax(-1)
    single = present.sum(-1) <= 1
    return ((top_drop >= others - 1e-6) | single).float()


def combined_reward(acc: torch.Tensor, faith: torch.Tensor, w_acc: float, w_faith: float) -> torch.Tensor:
    return w_acc * acc + w_faith * faith
