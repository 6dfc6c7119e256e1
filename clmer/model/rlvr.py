"""GRPO-style reinforcement learning with verifiable rewards on the modality policy.

For each clip, G weightings are sampled from the policy; each earns the verifiable rewards of
`clmer.model.rewards`. Advantages are taken within the clip's group (r - mean(r), Dr-GRPO: no
division by the group's std, which turned 1e-3 likelihood noise into +-1 advantages), the policy
ratio is clipped as in PPO, and a KL to the warm-up policy (exact, between the two Gaussians) keeps
it close to what supervision taught. An entropy bonus on the mean weights is available but off by
default: it pulls the weights to uniform. Only the policy learns: encoders and heads are frozen, so
a reward can only be earned by choosing better weights.

It runs on the calibration clips, which the frozen heads never trained on (`clmer.model.train`),
clean and with one modality of about half of them corrupted on purpose (`clmer.model.corruption`,
swap partners blind to the label): on the clips the heads fit, every weighting is right and the
accuracy reward says nothing.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from clmer.config import TrainConfig
from clmer.model.corruption import corrupt_batch
from clmer.model.fusion import FusionModel
from clmer.model.rewards import accuracy_reward, faithfulness_reward, log_odds, reliability_reward


def group_advantages(rewards: torch.Tensor, scale: str = "none", eps: float = 1e-4) -> torch.Tensor:
    """(G, B) rewards -> advantages over the G samples of each clip (0 where all agree): r - mean(r),
    divided by the group's std only with scale='std'."""
    centred = rewards - rewards.mean(0, keepdim=True)
    if scale == "none":
        return centred
    if scale != "std":
        raise ValueError(f"advantage scale must be 'none' or 'std', not {scale!r}")
    return centred / (rewards.std(0, unbiased=False, keepdim=True) + eps)


def kl_k3(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Unbiased, non-negative estimator of KL(pi || pi_ref) on samples from pi (Schulman's k3)."""
    d = logp_ref - logp
    return torch.exp(d) - d - 1.0


def gaussian_kl(mu: torch.Tensor, log_std: torch.Tensor, mu_ref: torch.Tensor, log_std_ref: torch.Tensor,
                present: torch.Tensor) -> torch.Tensor:
    """Exact KL(pi || pi_ref) per clip (B,) between the diagonal Gaussians over the present modalities'
    logits. The policy is Gaussian, so the sampled k3 estimate (whose exp blows up once the policies
    part) is not needed."""
    var, var_ref = (2 * log_std).exp(), (2 * log_std_ref).exp()
    kl = log_std_ref - log_std + (var + (mu - mu_ref) ** 2) / (2 * var_ref) - 0.5
    return (kl * present.float()).sum(-1)


def clipped_objective(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    ratio = torch.exp(logp - logp_old)
    return torch.min(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)


def weight_entropy(w: torch.Tensor) -> torch.Tensor:
    """Entropy of each clip's modality weights (B,), natural log."""
    return -(w * torch.log(w.clamp_min(1e-9))).sum(-1)


@dataclass
class GroupRewards:
    z: torch.Tensor  # (G, B, 3) sampled logits
    accuracy: torch.Tensor  # (G, B)
    likelihood: torch.Tensor
    reliability: torch.Tensor
    faithfulness: torch.Tensor
    total: torch.Tensor


@torch.no_grad()
def removal_drops(model: FusionModel, h: torch.Tensor, stats: torch.Tensor, present: torch.Tensor,
                  target: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 3): how much removing modality m lowers the log-odds of the explained class (`target`, by
    default the class the deterministic policy predicts with everything present), the policy
    re-weighting what is left (the evaluation's semantics); -inf for modalities not present. Log-odds,
    not probability: where the modalities agree p is ~.99 with or without any one of them, and the
    differences in probability are noise."""
    def logits_with(keep: torch.Tensor) -> torch.Tensor:
        w = model.policy.weights(model.policy_mean(h, keep, stats), keep)
        return model.heads(h, w)["logits"]

    full_logits = logits_with(present)
    target = full_logits.argmax(-1) if target is None else target

    def value(logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        v = log_odds(logits, target)
        chance = math.log(1.0 / (model.cfg.n_classes - 1))  # nothing left: every class equally likely
        return torch.where(keep.any(-1), v, torch.full_like(v, chance))

    full = value(full_logits, present)
    drops = []
    for m in range(3):
        keep = present.clone()
        keep[:, m] = False
        drops.append(full - value(logits_with(keep), keep))
    return torch.stack(drops, -1).masked_fill(~present.bool(), float("-inf"))


@torch.no_grad()
def score_samples(model: FusionModel, h: torch.Tensor, stats: torch.Tensor, present: torch.Tensor, y: torch.Tensor,
                  z: torch.Tensor, corrupted: torch.Tensor, cfg: TrainConfig) -> GroupRewards:
    """Rewards for sampled logits z (G, B, 3), with modality vectors h (B, 3, D) fixed."""
    w = model.policy.weights(z, present)
    logits = model.heads(h, w)["logits"]
    acc, lik = accuracy_reward(logits, y), log_odds(logits, y, cfg.reward_log_odds_clip)
    rel = reliability_reward(w, corrupted, present)
    faith = (faithfulness_reward(w, removal_drops(model, h, stats, present), present) if cfg.reward_faithfulness > 0
             else torch.zeros_like(acc))
    total = (cfg.reward_accuracy * acc + cfg.reward_likelihood * lik + cfg.reward_reliability * rel
             + cfg.reward_faithfulness * faith)
    return GroupRewards(z, acc, lik, rel, faith, total)


class PolicyTrainer:
    """Holds the frozen reference policy and the optimiser; `step` does one GRPO update on a batch."""

    def __init__(self, model: FusionModel, cfg: TrainConfig, gen: torch.Generator):
        self.model, self.cfg, self.gen = model, cfg, gen
        self.ref = copy.deepcopy(model.policy).eval()
        for p in self.ref.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(model.policy.parameters(), lr=cfg.rl_lr, weight_decay=0.0)

    def step(self, batch: dict) -> dict:
        model, cfg = self.model, self.cfg
        model.eval()  # dropout off: rewards must be a function of the weights alone
        batch, corrupted = corrupt_batch(batch, self.gen, cfg.corrupt_fraction, partners="any")
        with torch.no_grad():
            h, _, item_stats = model.encode(batch)
            present = model.effective_present(batch, batch["present"])
            mu_old = model.policy_mean(h, present, item_stats)
            z = model.policy.sample(mu_old, cfg.group_size)
            rewards = score_samples(model, h, item_stats, present, batch["y"], z, corrupted, cfg)
            adv = group_advantages(rewards.total, cfg.advantage_scale)
            logp_old = model.policy.log_prob(z, mu_old, present)
            mu_ref = model.policy_mean(h, present, item_stats, self.ref)
        stats = {}
        for _ in range(cfg.rl_inner_steps):
            mu = model.policy_mean(h, present, item_stats)
            logp = model.policy.log_prob(z, mu, present)
            objective = clipped_objective(logp, logp_old, adv, cfg.clip_eps)
            kl = gaussian_kl(mu, model.policy.log_std, mu_ref, self.ref.log_std, present)
            entropy = weight_entropy(model.policy.weights(mu, present))
            loss = -objective.mean() + cfg.kl_beta * kl.mean() - cfg.entropy_bonus * entropy.mean()
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.policy.parameters(), 1.0)
            self.optimizer.step()
            stats = {"rl_loss": loss.item(), "kl": kl.mean().item(), "weight_entropy": entropy.mean().item()}
        varies = (rewards.total.std(0) > 1e-6).float().mean().item()
        stats.update({"reward": float(rewards.total.mean()), "reward_accuracy": float(rewards.accuracy.mean()),
                      "reward_likelihood": float(rewards.likelihood.mean()),
                      "reward_reliability": _mean_where(rewards.reliability, corrupted >= 0),
                      "reward_faithfulness": float(rewards.faithfulness.mean()), "reward_varies": varies,
                      "policy_std": model.policy.log_std.exp().mean().item()})
        return stats


def _mean_where(values: torch.Tensor, mask: torch.Tensor) -> float:
    return float(values[:, mask].mean()) if mask.any() else float("nan")
