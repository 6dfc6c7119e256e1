"""GRPO-style reinforcement learning with verifiable rewards on the modality policy.

For each clip, G weightings are sampled from the policy; each earns verifiable rewards
(`clmer.model.rewards`). Advantages are normalised within the clip's group, the policy ratio is
clipped as in PPO, and a KL to the warm-up policy (the k3 estimator, exp(d) - d - 1 with
d = log pi_ref - log pi) keeps it close to what supervision taught. Only the policy learns here;
encoders and heads are frozen, so a reward can only be earned by choosing better weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from clmer.config import TrainConfig
from clmer.model.fusion import FusionModel
from clmer.model.rewards import accuracy_reward, combined_reward, faithfulness_reward


def group_advantages(rewards: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """(G, B) rewards -> advantages normalised over the G samples of each clip (0 where all agree)."""
    mean = rewards.mean(0, keepdim=True)
    std = rewards.std(0, unbiased=False, keepdim=True)
    return (rewards - mean) / (std + eps)


def kl_k3(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Unbiased, non-negative estimator of KL(pi || pi_ref) on samples from pi (Schulman's k3)."""
    d = logp_ref - logp
    return torch.exp(d) - d - 1.0


def clipped_objective(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    ratio = torch.exp(logp - logp_old)
    return torch.min(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)


@dataclass
class GroupRewards:
    z: torch.Tensor  # (G, B, 3) sampled logits
    accuracy: torch.Tensor  # (G, B)
    faithfulness: torch.Tensor  # (G, B)
    total: torch.Tensor  # (G, B)


@torch.no_grad()
def score_samples(model: FusionModel, h: torch.Tensor, present: torch.Tensor, y: torch.Tensor, z: torch.Tensor,
                  cfg: TrainConfig) -> GroupRewards:
    """Rewards for sampled logits z (G, B, 3), with modality vectors h (B, 3, D) fixed."""
    w = model.policy.weights(z, present)
    logits = model.classifier(torch.einsum("gbm,bmd->gbd", w, h))
    p_full = torch.softmax(logits, -1).gather(-1, y.expand(z.shape[0], -1).unsqueeze(-1)).squeeze(-1)
    p_without = []
    for m in range(3):
        keep = present.clone()
        keep[:, m] = False
        w_m = model.policy.weights(z, keep)
        lg = model.classifier(torch.einsum("gbm,bmd->gbd", w_m, h))
        p = torch.softmax(lg, -1).gather(-1, y.expand(z.shape[0], -1).unsqueeze(-1)).squeeze(-1)
        # Removing the only modality leaves nothing to classify: the gold probability falls to chance.
        p_without.append(torch.where(keep.any(-1), p, torch.full_like(p, 1.0 / logits.shape[-1])))
    acc = accuracy_reward(logits, y)
    faith = faithfulness_reward(p_full, torch.stack(p_without, -1), w, present)
    return GroupRewards(z, acc, faith, combined_reward(acc, faith, cfg.reward_accuracy, cfg.reward_faithfulness))


class PolicyTrainer:
    """Holds the frozen reference policy and the optimiser; `step` does one GRPO update on a batch."""

    def __init__(self, model: FusionModel, cfg: TrainConfig):
        self.model = model
        self.cfg = cfg
        self.ref = copy.deepcopy(model.policy).eval()
        for p in self.ref.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(model.policy.parameters(), lr=cfg.rl_lr, weight_decay=0.0)

    def step(self, batch: dict) -> dict:
        model, cfg = self.model, self.cfg
        model.eval()  # dropout off: rewards must be a function of the weights alone
        with torch.no_grad():
            h, _ = model.encode(batch)
            present = batch["present"]
            mu_old = model.policy(h, present)
            z = model.policy.sample(mu_old, cfg.group_size)
            rewards = score_samples(model, h, present, batch["y"], z, cfg)
            adv = group_advantages(rewards.total)
            logp_old = model.policy.log_prob(z, mu_old, present)
            logp_ref = self.ref.log_prob(z, self.ref(h, present), present)
        stats = {}
        for _ in range(cfg.rl_inner_steps):
            mu = model.policy(h, present)
            logp = model.policy.log_prob(z, mu, present)
            objective = clipped_objective(logp, logp_old, adv, cfg.clip_eps)
            kl = kl_k3(logp, logp_ref)
            loss = -(objective.mean()) + cfg.kl_beta * kl.mean()
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.policy.parameters(), 1.0)
            self.optimizer.step()
            stats = {"rl_loss": loss.item(), "kl": kl.mean().item()}
        stats.update({"reward": float(rewards.total.mean()), "reward_accuracy": float(rewards.accuracy.mean()),
                      "reward_faithfulness": float(rewards.faithfulness.mean()),
                      "policy_std": model.policy.log_std.exp().mean().item()})
        return stats
