"""Modality corruptions: what real videos do to one modality, made on purpose so a check can be verified.

Music over speech, no face in frame, a frozen camera, a failed transcription: one modality stops
telling the truth while the others still do. A per-clip modality policy exists for exactly this,
and since we corrupt the modality ourselves we *know* which one is unreliable. The reliability
reward (`clmer.model.rewards`) checks that the policy gives it no more than its fair weight, and the
evaluation reports accuracy with each modality corrupted in every test clip.

Kinds (all on stored features, so a policy stage costs no re-extraction):

* swap    the modality comes from another clip (a dubbed or mismatched track); in evaluation a clip
          with a different label (conflicting evidence), in training any other clip, since a partner
          chosen by label teaches the policy to demote whichever modality disagrees with the rest,
          which on a clip where one modality alone carries the label is the carrier;
* noise   items and extras replaced by Gaussian noise at the batch's feature scale (music, static);
* flat    every item set to the batch's mean item (silence, a blank or black frame);
* garble  half of the text tokens replaced by tokens of other clips (a bad transcription);
* frozen  every frame replaced by one frame of another clip (a frozen camera on the wrong scene).
"""

from __future__ import annotations

import torch

from clmer.names import MODALITIES

KINDS = {"text": ("swap", "garble"), "audio": ("swap", "noise", "flat"), "vision": ("swap", "noise", "frozen")}


def _partner(batch: dict, i: int, m: int, gen: torch.Generator, other_label: bool = True) -> int | None:
    """Another clip with the modality present; with `other_label`, preferably one with a different label."""
    present = batch["present"][:, m].clone().cpu()
    present[i] = False
    candidates = torch.nonzero(present).flatten()
    if other_label and "y" in batch:
        y = batch["y"].cpu()
        other = candidates[y[candidates] != y[i]]
        candidates = other if len(other) else candidates
    if not len(candidates):
        return None
    return int(candidates[torch.randint(len(candidates), (1,), generator=gen)])


def _stats(batch: dict, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    items = batch[name][batch[f"{name}_mask"]]
    if len(items) < 2:
        d = batch[name].shape[-1]
        return torch.zeros(d, device=batch[name].device), torch.ones(d, device=batch[name].device)
    return items.mean(0), items.std(0).clamp_min(1e-4)


def corrupt_one(batch: dict, source: dict, i: int, m: int, kind: str, gen: torch.Generator,
                other_label: bool = True) -> bool:
    """Corrupt modality m of clip i of `batch` in place, taking partners and statistics from the
    untouched `source` (with `other_label`, a partner of another label where there is one); False when
    it cannot be done (no partner clip)."""
    name = MODALITIES[m]
    seq, mask = batch[name], batch[f"{name}_mask"]
    if kind in ("swap", "frozen", "garble"):
        j = _partner(source, i, m, gen, other_label)
        if j is None:
            return False
        if kind == "swap":
            for key in (name, f"{name}_mask", f"{name}_count", f"{name}_extra"):
                batch[key][i] = source[key][j].clone()
        elif kind == "frozen":
            seq[i, mask[i]] = source[name][j, 0].clone()
        else:  # garble: each token replaced, with probability 1/2, by a random token of the batch
            pool = source[name][source[f"{name}_mask"]]
            hit = mask[i] & (torch.rand(mask.shape[1], generator=gen) < 0.5).to(mask.device)
            seq[i, hit] = pool[torch.randint(len(pool), (int(hit.sum()),), generator=gen).to(pool.device)].clone()
        return True
    mean, std = _stats(source, name)
    if kind == "noise":
        seq[i, mask[i]] = mean + std * torch.randn((int(mask[i].sum()), seq.shape[-1]), generator=gen).to(seq.device)
    elif kind == "flat":
        seq[i, mask[i]] = mean
    else:
        raise ValueError(f"unknown corruption {kind!r}")
    extra, src_extra = batch[f"{name}_extra"], source[f"{name}_extra"]
    if extra.shape[-1] and len(extra) > 1:
        e_mean, e_std = src_extra.mean(0), src_extra.std(0).clamp_min(1e-4)
        extra[i] = e_mean if kind == "flat" else e_mean + e_std * torch.randn(extra.shape[-1], generator=gen).to(extra.device)
    return True


def corrupt_batch(batch: dict, gen: torch.Generator, fraction: float, modality: int | None = None,
                  kinds: dict[str, tuple[str, ...]] | None = None,
                  partners: str = "other_label") -> tuple[dict, torch.Tensor]:
    """A copy of the batch where a `fraction` of the clips (with at least two modalities) have one
    modality corrupted. Returns (batch, corrupted): corrupted[i] is the modality index, or -1.

    `modality` fixes which modality is corrupted (evaluation); otherwise one is drawn per clip.
    `partners`: 'other_label' (evaluation: a swapped-in modality contradicts the clip) or 'any'
    (training: the partner is any other clip, blind to the label)."""
    if partners not in ("other_label", "any"):
        raise ValueError(f"partners must be 'other_label' or 'any', not {partners!r}")
    kinds = kinds or KINDS
    out = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in batch.items()}
    b = len(out["present"])
    corrupted = torch.full((b,), -1, dtype=torch.long)
    chosen = torch.rand(b, generator=gen) < fraction
    for i in torch.nonzero(chosen).flatten().tolist():
        present = torch.nonzero(out["present"][i].cpu()).flatten().tolist()
        if len(present) < 2 or (modality is not None and modality not in present):
            continue
        m = modality if modality is not None else present[int(torch.randint(len(present), (1,), generator=gen))]
        options = kinds[MODALITIES[m]]
        kind = options[int(torch.randint(len(options), (1,), generator=gen))]
        if corrupt_one(out, batch, i, m, kind, gen, partners == "other_label"):
            corrupted[i] = m
    return out, corrupted.to(out["present"].device)
