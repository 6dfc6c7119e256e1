"""The fusion model: per-modality encoders, a modality policy, a weighted sum, two heads.

    text tokens   --encoder--> h_text   \\
    audio frames  --encoder--> h_audio   }-- policy pi(w | h) --> fused = sum_m w_m h_m --> class, regression
    video frames  --encoder--> h_vision /

Each modality's encoder sees only its items (and utterance-level extras): attention pooling plus the
mean of the items, both over the items still in the mask, and the extras scaled by the share of the
clip's items that remain. So removing items removes everything they contributed, and removing all of
them is exactly removing the modality (the model then treats it as absent).

The policy outputs a Gaussian over three logits; weights are the masked softmax of those logits
over the modalities present in the clip (an absent modality gets weight 0: masked, not zero-filled).
Deterministic use takes the mean; RL samples from it (`clmer.model.rlvr`). `fusion_mode="concat"`
replaces the weighted sum by an MLP over the concatenated vectors (the early-fusion baseline).
`fusion_combine="logits"` weights the modalities' own class logits instead of their vectors
(logits = sum_m w_m l_m), so the weights are the decision's exact additive decomposition.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from clmer.config import FusionConfig
from clmer.names import MODALITIES


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
    def __init__(self, d_seq: int, d_extra: int, cfg: FusionConfig):
        super().__init__()
        self.seq_norm = Standardize(d_seq)
        self.extra_norm = Standardize(d_extra) if d_extra else None
        self.inp = nn.Sequential(nn.Linear(d_seq, cfg.d_model), nn.GELU(), nn.Dropout(cfg.dropout))
        self.pool = AttentionPool(cfg.d_model, cfg.pool_hidden)
        self.mean_proj = nn.Linear(d_seq, cfg.d_model)
        self.extra_proj = nn.Linear(d_extra, cfg.d_model) if d_extra else None
        self.out = nn.Sequential(nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.d_model), nn.LayerNorm(cfg.d_model))

    def forward(self, seq, mask, count, extra) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h (B, D), attention (B, T) and item statistics (B, 2) from the items in `mask`; `count` is how
        many items the clip has."""
        x = self.seq_norm(seq)
        pooled, attn = self.pool(self.inp(x), mask)
        kept = mask.float().sum(-1, keepdim=True)
        mean = (x * mask.unsqueeze(-1)).sum(1) / kept.clamp_min(1.0)
        z = pooled + self.mean_proj(mean) * (kept > 0)
        if self.extra_proj is not None:
            # Utterance-level values belong to all items alike: each remaining item keeps its share.
            share = (kept / count.unsqueeze(-1).clamp_min(1.0)).clamp(0.0, 1.0)
            z = z + self.extra_proj(self.extra_norm(extra)) * share
        return self.out(z), attn, item_stats(x, mask)


def item_stats(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, 2): how much the standardised items vary over time (log of the mean per-feature std) and how
    far from the training set's average item they sit (log of the mean |z|). A frozen camera or silence
    does not vary; noise sits far from every real item: signs of an unreliable modality that its
    vector alone may not show."""
    m = mask.unsqueeze(-1).float()
    n = m.sum(1).clamp_min(1.0)
    mean = (x * m).sum(1) / n
    var = (((x - mean.unsqueeze(1)) ** 2) * m).sum(1) / n
    spread = torch.log(var.sqrt().mean(-1) + 1e-3)
    typical = torch.log((x.abs() * m).sum(1).mean(-1) / n.squeeze(-1) + 1e-3)
    return torch.stack([spread, typical], -1) * (mask.any(-1, keepdim=True)).float()


class ModalityPolicy(nn.Module):
    """pi(z | h, v): a diagonal Gaussian over modality logits z; weights = masked softmax(z / T).

    It reads the modality vectors h and each modality's own verdict v (its class log-probabilities
    from the shared classifier): whether a modality agrees with the others is the plainest sign that
    it can be trusted, and the verdicts make that comparison one layer deep."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.temperature = cfg.policy_temperature
        self.inputs = cfg.policy_inputs
        width = (3 * cfg.d_model if cfg.policy_inputs == "vectors+verdicts" else 0) + 3 + 3 * cfg.n_classes + 3 * 2
        self.net = nn.Sequential(nn.Linear(width, cfg.policy_hidden), nn.GELU(), nn.Linear(cfg.policy_hidden, 3))
        self.log_std = nn.Parameter(torch.full((3,), math.log(cfg.policy_init_std)))

    def forward(self, h: torch.Tensor, present: torch.Tensor, verdicts: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """Mean logits (B, 3) from the modality vectors (B, 3, D), presence flags (B, 3), the modalities'
        own class log-probabilities (B, 3, C) and their item statistics (B, 3, 2)."""
        keep = present.unsqueeze(-1).float()
        parts = [present.float(), (verdicts * keep).flatten(1), (stats * keep).flatten(1)]
        if self.inputs == "vectors+verdicts":
            parts.insert(0, (h * keep).flatten(1))
        return self.net(torch.cat(parts, dim=-1))

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
        self.concat_head = (nn.Sequential(nn.Linear(3 * cfg.d_model + 3, cfg.d_model), nn.GELU(), nn.Dropout(cfg.dropout))
                            if cfg.fusion_mode == "concat" else None)
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
                if self.encoders[m].extra_norm is not None:
                    self.encoders[m].extra_norm.fit(batch[f"{m}_extra"][has])

    def encode(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Modality vectors (B, 3, D), the attention weights over each sequence, item statistics (B, 3, 2)."""
        hs, attn, stats = [], {}, []
        for m in MODALITIES:
            h, a, s = self.encoders[m](batch[m], batch[f"{m}_mask"], batch[f"{m}_count"], batch[f"{m}_extra"])
            hs.append(h)
            attn[m] = a
            stats.append(s)
        return torch.stack(hs, dim=1), attn, torch.stack(stats, dim=1)

    @staticmethod
    def effective_present(batch: dict, present: torch.Tensor) -> torch.Tensor:
        """A modality whose items were all masked out (occluded) is absent, exactly as if removed."""
        has_items = torch.stack([batch[f"{m}_mask"].any(-1) for m in MODALITIES], dim=-1)
        return present.bool() & has_items

    def heads(self, h: torch.Tensor, w: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.concat_head is not None:
            present = (w > 0).float()
            fused = self.concat_head(torch.cat([(h * present.unsqueeze(-1)).flatten(-2), present], dim=-1))
        else:
            fused = torch.einsum("...m,...md->...d", w, h)
        if self.concat_head is None and self.cfg.fusion_combine == "logits":
            logits = self.logit_contributions(h, w).sum(-2)
        else:
            logits = self.classifier(fused)
        return {"fused": fused, "logits": logits, "reg": torch.tanh(self.regressor(fused).squeeze(-1))}

    def logit_contributions(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(..., 3, C): w_m l_m, each modality's own class logits scaled by its weight. Under
        fusion_combine='logits' they sum to the fused logits exactly (an absent modality adds 0)."""
        return w.unsqueeze(-1) * self.classifier(h)

    def forward(self, batch: dict, present: torch.Tensor | None = None, z: torch.Tensor | None = None) -> dict:
        """Deterministic pass (policy mean) unless logits `z` are given; `present` overrides presence."""
        present = self.effective_present(batch, batch["present"] if present is None else present)
        h, attn, stats = self.encode(batch)
        mu = self.policy_mean(h, present, stats)
        w = self.policy.weights(mu if z is None else z, present)
        out = self.heads(h, w)
        out.update({"h": h, "mu": mu, "weights": w, "attn": attn, "present": present, "stats": stats})
        return out

    def verdicts(self, h: torch.Tensor) -> torch.Tensor:
        """Each modality's own class log-probabilities (B, 3, C) from the shared classifier."""
        return torch.log_softmax(self.classifier(h), -1)

    def policy_mean(self, h: torch.Tensor, present: torch.Tensor, stats: torch.Tensor,
                    policy: "ModalityPolicy | None" = None) -> torch.Tensor:
        """The policy's mean logits (B, 3); `policy` lets a frozen reference copy read the same inputs."""
        return (policy or self.policy)(h, present, self.verdicts(h), stats)

    def language_logits(self, fused: torch.Tensor, lam: float) -> torch.Tensor:
        return self.lang_head(GradReverse.apply(fused, lam))

    def describe(self) -> dict:
        return {"dims": {m: list(d) for m, d in self.dims.items()}, "fusion": self.cfg.model_dump()}


def build_model(description: dict) -> FusionModel:
    return FusionModel({m: tuple(d) for m, d in description["dims"].items()}, FusionConfig(**description["fusion"]))
