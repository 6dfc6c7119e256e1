"""Cross-lingual alignment losses on the fused space.

* Supervised contrastive loss whose positives are clips with the same label in the *other*
  language: it pulls a Chinese positive clip toward English positive clips, and so on, so a model
  trained mostly on one language places the other language's clips where their labels are.
* Language-adversarial loss: a language classifier behind gradient reversal; the encoders learn a
  fused space from which the language cannot be read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_lingual_supcon(fused: torch.Tensor, y: torch.Tensor, lang: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over anchors that have at least one positive (same label, other language); 0 if none do."""
    z = F.normalize(fused, dim=-1)
    sim = z @ z.T / temperature
    n = len(z)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    positives = (y[:, None] == y[None, :]) & (lang[:, None] != lang[None, :])
    has_pos = positives.any(1)
    if not has_pos.any():
        return fused.sum() * 0.0
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    mean_pos = (log_prob * positives).sum(1) / positives.sum(1).clamp_min(1)
    return -mean_pos[has_pos].mean()


def language_adversarial(lang_logits: torch.Tensor, lang: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the language head; gradient reversal sits in front of it (fusion.GradReverse)."""
    return F.cross_entropy(lang_logits, lang)
