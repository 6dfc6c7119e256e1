"""The fusion model: per-modality encoders, a modality policy, a weighted sum, two heads.

    text tokens   --attention pool--> h_text   \\
    audio frames  --attention pool--> h_audio   }-- policy pi(w | h) --> fused = sum_m w_m h_m --> class, regression
    video frames  --attention pool--> h_vision /

The policy outputs a Gaussian over three logits; weights are the masked softmax of those logits
over the modalities present in the clip (an absent modality gets weight 0: masked, not zero-filled).
Deterministic use takes the mean; RL samples from it (`clmer.model.rlvr`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from clmer.config import FusionConfig

MODALITIES = ("text", "audio", "vision")


class AttentionPool(nn.Module):
    """Additive attention over a masked sequence; also returns the weights (explanations use them)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.score(x).squeeze(-1).masked_fill(~mask, -1e9)
        attn = torch.softmax(logits, dim=-1) * mask  # rows with no items stay all-zero
        return torch.einsum("bt,btd->bd", attn, x), attn


class Standardize(nn.Module):
    """Per-feature z-score with statistics of the training set, kept as buffers (saved with the weights).

    Backbone features differ in scale by orders of magnitude between dimensions; per-sample
    LayerNorm would also wipe out overall level (e.g. loudness), which can be the signal.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-4) if len(x) > 1 else torch.ones_like(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).clamp(-8.0, 8.0)


class ModalityEncoder(nn.Module):
    def __init__(self, d_seq: int, d_glob: int, cfg: FusionConfig):
        super().__init__()
        self.seq_norm, self.glob_norm = Standardize(d_seq), Standardize(d_glob)
        self.inp = nn.Sequential(nn.Linear(d_seq, cfg.d_model), nn.GELU(), nn.Dropout(cfg.dropout))
        self.pool = AttentionPool(cfg.d_model, cfg.pool_hidden)
        self.glob = nn.Linear(d_glob, cfg.d_model)
        self.out = nn.Sequential(nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.d_model), nn.LayerNorm(cfg.d_model))

    def forward(self, seq, mask, glob) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, attn = self.pool(self.inp(self.seq_norm(seq)), mask)
        return self.out(pooled + self.glob(self.glob_norm(glob))), attn


class ModalityPolicy(nn.Module):
    """pi(z | h): a diagonal Gaussian over modality logits z; weights = masked softmax(z / T)."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.temperature = cfg.policy_temperature
        self.net = nn.Sequential(nn.Linear(3 * cfg.d_model + 3, cfg.policy_hidden), nn.GELU(),
                                 nn.Linear(cfg.policy_hidden, 3))
        self.log_std = nn.Parameter(torch.full((3,), math.log(cfg.policy_init_std)))

    def forward(self, h: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Mean logits (B, 3) from the modality vectors (B, 3, D) and presence flags (B, 3)."""
        h = h * present.unsqueeze(-1)
        return self.net(torch.cat([h.flatten(1), present.float()], dim=-1))

    def weights(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return masked_softmax(z / self.temperature, present)

    def log_prob(self, z: torch.Tensor, mu: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """log pi(z) summed over present modalities (an absent one's logit changes nothing)."""
        std = self.log_std.exp()
        lp = -0.5 * ((z - mu) / std) ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)
        return (lp * present).sum(-1)

    def sample(self, mu: torch.Tensor, n: int) -> torch.Tensor:
        """(n, B, 3) logits drawn from the policy."""
        eps = torch.randn((n,) + tuple(mu.shape), device=mu.device)
        return mu.unsqueeze(0) + eps * self.log_std.exp()


def masked_softmax(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    masked = logits.masked_fill(~present.bool(), -1e9)
    w = torch.softmax(masked, dim=-1) * present
    return w / w.sum(-1, keepdim=True).clamp_min(1e-9)


class GradReverse(torch.autograd.Function):
    """Identity forward; gradient times -lambda backward (domain-adversarial training)."""

    @staticmethod
    def forward(ctx, x, lam: float):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lam * grad, None


class FusionModel(nn.Module):
    def __init__(self, dims: dict[str, tuple[int, int]], cfg: FusionConfig):
        super().__init__()
        self.cfg = cfg
        self.dims = {m: tuple(dims[m]) for m in MODALITIES}
        self.encoders = nn.ModuleDict({m: ModalityEncoder(*self.dims[m], cfg) for m in MODALITIES})
        self.policy = ModalityPolicy(cfg)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(),
                                        nn.Linear(cfg.d_model, cfg.n_classes))
        self.regressor = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model // 2), nn.GELU(), nn.Linear(cfg.d_model // 2, 1))
        self.lang_head = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model // 2), nn.GELU(), nn.Linear(cfg.d_model // 2, 2))

    @torch.no_grad()
    def fit_normalizers(self, batch: dict) -> None:
        """Set each encoder's input statistics from a batch holding the whole training set."""
        for m in MODALITIES:
            mask = batch[f"{m}_mask"]
            has = batch["present"][:, MODALITIES.index(m)]
            if has.any():
                self.encoders[m].seq_norm.fit(batch[m][mask])
                self.encoders[m].glob_norm.fit(batch[f"{m}_global"][has])

    def encode(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Modality vectors (B, 3, D) and the attention weights over each sequence."""
        hs, attn = [], {}
        for m in MODALITIES:
            h, a = self.encoders[m](batch[m], batch[f"{m}_mask"], batch[f"{m}_global"])
            hs.append(h)
            attn[m] = a
        return torch.stack(hs, dim=1), attn

    def heads(self, h: torch.Tensor, w: torch.Tensor) -> dict[str, torch.Tensor]:
        fused = torch.einsum("bm,bmd->bd", w, h)
        return {"fused": fused, "logits": self.classifier(fused), "reg": torch.tanh(self.regressor(fused).squeeze(-1))}

    def forward(self, batch: dict, present: torch.Tensor | None = None, z: torch.Tensor | None = None) -> dict:
        """Deterministic pass (policy mean) unless logits `z` are given; `present` overrides presence."""
        present = batch["present"] if present is None else present
        h, attn = self.encode(batch)
        mu = self.policy(h, present)
        w = self.policy.weights(mu if z is None else z, present)
        out = self.heads(h, w)
        out.update({"h": h, "mu": mu, "weights": w, "attn": attn, "present": present})
        return out

    def language_logits(self, fused: torch.Tensor, lam: float) -> torch.Tensor:
        return self.lang_head(GradReverse.apply(fused, lam))

    def describe(self) -> dict:
        return {"dims": {m: list(d) for m, d in self.dims.items()}, "fusion": self.cfg.model_dump()}


def build_model(description: dict) -> FusionModel:
    return FusionModel({m: tuple(d) for m, d in description["dims"].items()}, FusionConfig(**description["fusion"]))
