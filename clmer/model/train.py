"""Training: stage 1 supervised warm-up (+ cross-lingual alignment), stage 2 the policy stage.

    train split --(calibration_fraction of its videos)--> fit clips   : warm-up (encoders, heads, policy)
                                                       \-> calib clips : policy stage (RLVR or the
                                                                        supervised gate), heads frozen

The policy stage's rewards come from clips the heads never fitted (see `clmer.model.rlvr`). With
`policy_stage="none"` the whole train split goes to the warm-up. An optional unlabelled set (the
target language's training clips in the adaptation protocol) joins every warm-up step for the
alignment losses; its labels are never read. Seeds are fixed; epochs are chosen on the validation
split; a checkpoint (weights-only torch file: tensors and plain numbers, nothing pickled) is written
every few epochs and `resume=True` continues from it.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from clmer import atomic
from clmer.model.alignment import coral, cross_lingual_supcon, language_adversarial, pseudo_labels
from clmer.config import Settings
from clmer.model.dataset import FeatureSet
from clmer.model.fusion import MODALITIES, FusionModel, build_model
from clmer.data.labels import CLASSES
from clmer.model.checkpoint import CHECKPOINT, batches, load_checkpoint, save_checkpoint
from clmer.model.metrics import classification

def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_device(setting: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if setting == "auto" else setting


@dataclass
class TrainResult:
    model: FusionModel
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)  # stage -> {"epoch", "score"}
    seconds: float = 0.0
    fit_clips: list[str] = field(default_factory=list)  # what the encoders and heads trained on
    calib_clips: list[str] = field(default_factory=list)  # what the policy stage's rewards were computed on


def drop_modalities(present: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Mask each present modality with probability p, always leaving at least one."""
    if p <= 0:
        return present
    drop = (torch.rand(present.shape, generator=gen) < p).to(present.device) & present
    kept = present & ~drop
    empty = ~kept.any(-1)
    kept[empty] = present[empty]
    return kept


def _noisy(batch: dict, scale: float, gen: torch.Generator) -> dict:
    out = dict(batch)
    for m in MODALITIES:
        for key in (m, f"{m}_extra"):
            x = batch[key]
            if x.numel() < 2:  # no utterance-level values for this modality
                continue
            std = x.detach().std().clamp_min(1e-6)
            out[key] = x + torch.randn(x.shape, generator=gen).to(x.device) * std * scale
    return out


def _fgsm(model: FusionModel, batch: dict, present: torch.Tensor, y: torch.Tensor, eps: float) -> dict:
    """Adversarial copy of the inputs: one signed-gradient step of size eps x feature std."""
    keys = [k for m in MODALITIES for k in (m, f"{m}_extra")]
    adv = {k: batch[k].detach().clone().requires_grad_(True) for k in keys}
    loss = F.cross_entropy(model(dict(batch) | adv, present=present)["logits"], y)
    grads = torch.autograd.grad(loss, [adv[k] for k in keys])
    out = dict(batch)
    for k, g in zip(keys, grads):
        out[k] = (batch[k] + eps * batch[k].detach().std().clamp_min(1e-6) * g.sign()).detach()
    return out


def class_weights(y: np.ndarray) -> torch.Tensor:
    counts = np.bincount(np.asarray(y, int), minlength=len(CLASSES)).astype(float)
    w = np.where(counts > 0, counts.sum() / (len(CLASSES) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def supervised_loss(model: FusionModel, batch: dict, present: torch.Tensor, cfg, weights: torch.Tensor,
                    unlabeled: dict | None = None, pseudo: bool = False) -> tuple[torch.Tensor, dict]:
    """Labelled losses on `batch`; alignment losses on it together with an unlabelled batch (if any)."""
    out = model(batch, present=present)
    y = batch["y"]
    parts = {"ce": F.cross_entropy(out["logits"], y, weight=weights.to(y.device)),
             "reg": F.l1_loss(out["reg"], batch["reg"])}
    loss = cfg.ce_weight * parts["ce"] + cfg.regression_weight * parts["reg"]
    if cfg.unimodal_weight > 0:
        # Each modality vector alone must already point at its own label: this keeps the three
        # vectors in one class space, so weights, single-modality predictions and Shapley mean something.
        logits_m = model.classifier(out["h"])  # (B, 3, C)
        ce_m = F.cross_entropy(logits_m.flatten(0, 1), batch["y_modality"].flatten(), weight=weights.to(y.device),
                               reduction="none").view(y.shape[0], 3)
        mask = out["present"].float()
        parts["unimodal"] = (ce_m * mask).sum() / mask.sum().clamp_min(1)
        loss = loss + cfg.unimodal_weight * parts["unimodal"]
    fused, labels, lang, valid = out["fused"], y, batch["lang"], torch.ones_like(y, dtype=torch.bool)
    if unlabeled is not None:
        u_out = model(unlabeled)
        u_labels, confident = pseudo_labels(u_out["logits"], cfg.pseudo_label_threshold)
        fused = torch.cat([fused, u_out["fused"]])
        labels, lang = torch.cat([labels, u_labels]), torch.cat([lang, unlabeled["lang"]])
        valid = torch.cat([valid, confident & pseudo])
        parts["pseudo_labelled"] = float((confident & pseudo).float().mean())
    if cfg.supcon:
        parts["supcon"] = cross_lingual_supcon(fused, labels, lang, cfg.supcon_temperature, valid)
        loss = loss + cfg.supcon_weight * parts["supcon"]
    if cfg.lang_adversary and len(torch.unique(lang)) > 1:
        parts["lang_adv"] = language_adversarial(model.language_logits(fused, cfg.grl_lambda), lang)
        loss = loss + cfg.lang_adversary_weight * parts["lang_adv"]
    if cfg.coral_weight > 0 and len(torch.unique(lang)) > 1:
        parts["coral"] = coral(fused[lang == 0], fused[lang == 1])
        loss = loss + cfg.coral_weight * parts["coral"]
    return loss, {k: (v.item() if torch.is_tensor(v) else v) for k, v in parts.items()}


@torch.no_grad()
def predict(model: FusionModel, data: FeatureSet, device: str, batch_size: int = 64,
            present_override: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Deterministic predictions: class probabilities, regression, modality weights."""
    model.eval()
    probs, reg, weights = [], [], []
    for start in range(0, len(data), batch_size):
        idx = list(range(start, min(len(data), start + batch_size)))
        batch = data.batch(idx, device)
        present = batch["present"] if present_override is None else present_override[idx].to(device)
        out = model(batch, present=present)
        probs.append(torch.softmax(out["logits"], -1).cpu())
        reg.append(out["reg"].cpu())
        weights.append(out["weights"].cpu())
    return {"probs": torch.cat(probs).numpy(), "reg": torch.cat(reg).numpy(), "weights": torch.cat(weights).numpy()}


def validation_score(model: FusionModel, data: FeatureSet, device: str) -> dict:
    """Early stopping watches the validation cross-entropy: on small validation splits accuracy
    moves in steps of one clip and picks epochs by luck; the loss moves smoothly."""
    pred = predict(model, data, device)
    y = data.frame["class_index"].to_numpy()
    m = classification(y, pred["probs"].argmax(1))
    ce = float(-np.log(np.clip(pred["probs"][np.arange(len(y)), y], 1e-9, 1.0)).mean())
    return {"war": m["war"], "uar": m["uar"], "macro_f1": m["macro_f1"], "ce": ce, "score": -ce}


def train(train_set: FeatureSet, valid_set: FeatureSet, settings: Settings, out_dir: str | Path,
          resume: bool = False, log: Callable[[dict], None] | None = None,
          unlabeled: FeatureSet | None = None) -> TrainResult:
    """Warm-up on the fit clips, then the policy stage on the calibration clips (see the module doc)."""
    from clmer.model.policy_stage import run_policy_stage, split_calibration

    cfg = settings.train
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = train_device(cfg.device)
    gen = seed_everything(cfg.seed)
    fit, calib = split_calibration(train_set, cfg)
    model = FusionModel(train_set.dims, settings.fusion).to(device)
    stats_from = fit if unlabeled is None else _concat(fit, unlabeled)  # target statistics are unsupervised
    model.fit_normalizers(stats_from.batch(range(len(stats_from)), device))
    t0 = time.perf_counter()
    history: list[dict] = []
    best: dict = {}
    state = load_checkpoint(out_dir / CHECKPOINT) if resume else None
    if state:
        history, best = json.loads(state["history"]), json.loads(state["best"])
        gen.set_state(state["rng"])
        torch.set_rng_state(state["rng_torch"])  # dropout draws from the global generator
    emit = (lambda row: (history.append(row), log(row) if log else None))

    start_stage = state["stage"] if state else "warmup"
    if start_stage == "warmup":
        _warmup(model, fit, valid_set, settings, device, gen, out_dir, state, history, best, emit, unlabeled)
        state = None
    elif state:
        model.load_state_dict(state["model"])
    if calib is not None and cfg.policy_stage != "none":
        run_policy_stage(model, calib, valid_set, settings, device, gen, out_dir, state, history, best, emit)
    (out_dir / CHECKPOINT).unlink(missing_ok=True)
    result = TrainResult(model=model, history=history, best=best, seconds=time.perf_counter() - t0)
    result.fit_clips = fit.frame["clip"].tolist()
    result.calib_clips = calib.frame["clip"].tolist() if calib is not None else []
    return result


def _concat(a: FeatureSet, b: FeatureSet) -> FeatureSet:
    import pandas as pd

    return FeatureSet(a.clips + b.clips, pd.concat([a.frame, b.frame], ignore_index=True), a.dims)


def _warmup(model, train_set, valid_set, settings, device, gen, out_dir, state, history, best, emit,
            unlabeled: FeatureSet | None = None) -> None:
    cfg = settings.train
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    weights = class_weights(train_set.frame["class_index"].to_numpy())
    first = 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best.setdefault("warmup", {"epoch": -1, "score": -float("inf")})
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        best_state, first = state["best_state"], state["epoch"] + 1
    stale = 0 if not state else first - 1 - best["warmup"]["epoch"]
    for epoch in range(first, cfg.warmup_epochs):
        model.train()
        started = time.perf_counter()
        totals: dict[str, float] = {}
        for idx in batches(len(train_set), cfg.batch_size, gen):
            batch = train_set.batch(idx, device)
            present = drop_modalities(batch["present"], cfg.modality_dropout, gen)
            if cfg.feature_noise == "gaussian" and cfg.noise_scale > 0:
                batch = _noisy(batch, cfg.noise_scale, gen)
            elif cfg.feature_noise == "fgsm" and cfg.noise_scale > 0:
                batch = _fgsm(model, batch, present, batch["y"], cfg.noise_scale)
            u_batch = None
            if unlabeled is not None and len(unlabeled):
                u_idx = torch.randint(len(unlabeled), (min(cfg.batch_size, len(unlabeled)),), generator=gen).tolist()
                u_batch = unlabeled.batch(u_idx, device)
            loss, parts = supervised_loss(model, batch, present, cfg, weights, u_batch,
                                          pseudo=epoch >= cfg.pseudo_label_after)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx) / len(train_set)
        seconds = time.perf_counter() - started
        val = validation_score(model, valid_set, device)
        emit({"stage": "warmup", "epoch": epoch, "epoch_seconds": seconds, **{f"train_{k}": v for k, v in totals.items()},
              **{f"valid_{k}": v for k, v in val.items()}})
        if val["score"] > best["warmup"]["score"] + 1e-9:
            best["warmup"] = {"epoch": epoch, "score": val["score"]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            stale = 0
        else:
            stale += 1
        if (epoch + 1) % cfg.checkpoint_every == 0:
            save_checkpoint(out_dir / CHECKPOINT, model, optimizer, "warmup", epoch, best_state, best, history, gen)
        if stale >= cfg.patience:
            break
    model.load_state_dict(best_state)


def save_model(model: FusionModel, out_dir: str | Path, extra: dict) -> Path:
    """fusion.safetensors (weights) + model.json (shape, label map, encoders, ...): no pickle."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out_dir / "fusion.safetensors"))
    doc = model.describe() | {"labels": list(CLASSES)} | extra
    atomic.write_json(out_dir / "model.json", doc)
    return out_dir


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[FusionModel, dict]:
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    doc = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    model = build_model(doc)
    model.load_state_dict(load_file(str(model_dir / "fusion.safetensors"), device=device))
    return model.to(device).eval(), doc
