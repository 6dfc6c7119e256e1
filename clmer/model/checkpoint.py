"""Resumable training state: one checkpoint file per training run folder, written atomically,
and the shuffled mini-batches both training stages draw. Shared by the warm-up (`train`) and the
policy stage (`policy_stage`), so neither imports the other."""

from __future__ import annotations

import json
from pathlib import Path

import torch

CHECKPOINT = "checkpoint.pt"


def batches(n: int, size: int, gen: torch.Generator, shuffle: bool = True) -> list[list[int]]:
    order = torch.randperm(n, generator=gen).tolist() if shuffle else list(range(n))
    return [order[i: i + size] for i in range(0, n, size)]


def save_checkpoint(path: Path, model, optimizer, stage: str, epoch: int, best_state, best, history, gen,
                     ref_policy: dict | None = None) -> None:
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "stage": stage, "epoch": epoch,
                "best_state": best_state, "best": json.dumps(best), "history": json.dumps(history),
                "rng": gen.get_state(), "rng_torch": torch.get_rng_state(), "ref_policy": ref_policy or {}},
               path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)  # atomic: a crash mid-write keeps the previous checkpoint


def load_checkpoint(path: Path) -> dict | None:
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
