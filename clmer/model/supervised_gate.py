"""The honest baseline for RLVR: the same policy network trained by gradient instead of reinforcement.

Same calibration clips, same corruptions, same frozen encoders and heads as `clmer.model.rlvr`; the
deterministic weights are trained on cross-entropy of the fused prediction plus a differentiable
form of the reliability check (a hinge on the corrupted modality's weight above its fair share) and
the same entropy bonus. Whatever RLVR does better than this, it does because of the reinforcement
learning, not because of the data or the corruptions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clmer.config import TrainConfig
from clmer.model.corruption import corrupt_batch
from clmer.model.fusion import FusionModel
from clmer.model.rlvr import weight_entropy


class GateTrainer:
    def __init__(self, model: FusionModel, cfg: TrainConfig, gen: torch.Generator):
        self.model, self.cfg, self.gen = model, cfg, gen
        self.optimizer = torch.optim.AdamW(model.policy.parameters(), lr=cfg.gate_lr, weight_decay=1e-4)

    def step(self, batch: dict) -> dict:
        model, cfg = self.model, self.cfg
        model.eval()  # frozen encoders and heads, no dropout: only the weights change the prediction
        batch, corrupted = corrupt_batch(batch, self.gen, cfg.corrupt_fraction, partners="any")
        with torch.no_grad():
            h, _, stats = model.encode(batch)
            present = model.effective_present(batch, batch["present"])
        w = model.policy.weights(model.policy_mean(h, present, stats), present)
        ce = F.cross_entropy(model.heads(h, w)["logits"], batch["y"])
        hit = corrupted >= 0
        fair = 1.0 / present.float().sum(-1).clamp_min(1.0)
        excess = F.relu(w.gather(-1, corrupted.clamp_min(0).unsqueeze(-1)).squeeze(-1) - fair)
        reliability = (excess * hit).sum() / hit.sum().clamp_min(1)
        entropy = weight_entropy(w).mean()
        loss = ce + cfg.reward_reliability * reliability - cfg.entropy_bonus * entropy
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.policy.parameters(), 1.0)
        self.optimizer.step()
        return {"gate_loss": loss.item(), "gate_ce": ce.item(), "gate_reliability_excess": reliability.item(),
                "weight_entropy": entropy.item()}
