"""Cross-lingual alignment losses on the fused space.

They only act when a batch holds both languages: in the in-language (joint) protocol, or in the
unsupervised adaptation protocol, where the target language's *unlabelled* training clips join
every step. A model trained on one language alone gets nothing from them, and says so (its SupCon
loss is exactly 0).

* Supervised contrastive loss whose positives are clips with the same label in the *other*
  language (for unlabelled target clips: a confident pseudo-label from the model itself);
* language-adversarial loss: a language classifier behind gradient reversal, so the encoders learn
  a fused space from which the language cannot be read;
* CORAL: the second-order statistics (covariances) of the two languages' fused vectors are pulled
  together, plus their means (moment matching).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_lingual_supcon(fused: torch.Tensor, y: torch.Tensor, lang: torch.Tensor, temperature: float,
                         valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over anchors that have at least one positive (same label, other language); 0 if none do.

    `valid` (B,) marks clips whose label may be used (gold or confident pseudo-label)."""
    z = F.normalize(fused, dim=-1)
    sim = z @ z.T / temperature
    n = len(z)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    positives = (y[:, None] == y[None, :]) & (lang[:, None] != lang[None, :])
    if valid is not None:
        positives = positives & valid[:, None] & valid[None, :]
    has_pos = positives.any(1)
    if not has_pos.any():
        return fused.sum() * 0.0
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    mean_pos = (log_prob * positives).sum(1) / positives.sum(1).clamp_min(1)
    return -mean_pos[has_pos].mean()


def language_adversarial(lang_logits: torch.Tensor, lang: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the language head; gradient reversal sits in front of it (fusion.GradReverse)."""
    return F.cross_entropy(lang_logits, lang)


def coral(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Deep CORAL (Sun & Saenko, 2016) plus the squared mean difference, between two sets of vectors."""
    if len(a) < 2 or len(b) < 2:
        return a.sum() * 0.0 + b.sum() * 0.0
    d = a.shape[1]
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    return ((cov_a - cov_b) ** 2).sum() / (4 * d * d) + ((a.mean(0) - b.mean(0)) ** 2).mean()


def pseudo_labels(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, confident) from the model's own predictions on unlabelled clips."""
    probs = torch.softmax(logits.detach(), -1)
    conf, labels = probs.max(-1)
    return labels, conf >= threshold
