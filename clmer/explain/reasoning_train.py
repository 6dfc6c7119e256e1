"""The explainer's training recipe (R1-Omni style): SFT cold start with LoRA, then GRPO, on one adapter.

`train(docs, base, settings, out_dir)` runs the stages within their budgets (steps and seconds each),
on a CPU or a GPU, resumably (the work folder beside `out_dir` keeps each stage's checkpoints: run it
again to go on), and saves the adapter after each stage: `<out_dir>-sft/` after SFT, `<out_dir>/`
after the last stage. Only adapters are saved, each naming its base LM by store name and revision.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from clmer import atomic
from clmer.config import Settings
from clmer.explain.reasoning import ADAPTER_META
from clmer.explain.reasoning_prompts import facts

STAGES = ("sft", "grpo")


def work_dir(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}-work")


def save_adapter(model, out_dir: Path, base_name: str, base_revision: str, stages: list[str], rank: int) -> Path:
    tmp = out_dir.with_name(f".{out_dir.name}.saving")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    atomic.write_json(tmp / ADAPTER_META, {"base_name": base_name, "base_revision": base_revision,
                                           "lora_rank": rank, "stages": stages})
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def train(docs: list[dict], base_model: str | Path, settings: Settings, out_dir: str | Path,
          log: Callable[[dict], None] | None = None, base_name: str = "", base_revision: str = "",
          stages: tuple[str, ...] = STAGES, fresh: bool = False) -> dict:
    """SFT then GRPO on the training clips' explanation documents; returns each stage's statistics."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from clmer.explain.reasoning_grpo import train_grpo
    from clmer.explain.reasoning_sft import lora_model, sft_rows, train_sft

    cfg = settings.reasoning
    out_dir = Path(out_dir)
    work = work_dir(out_dir)
    if fresh:
        shutil.rmtree(work, ignore_errors=True)
    cuda = torch.cuda.is_available() and settings.models.device != "cpu"
    if cfg.threads and not cuda:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # float32 master weights: a bf16 checkpoint trained with bf16 weights loses most AdamW updates to rounding;
    # on CUDA the GRPO stage uses bf16 autocast over them.
    model = AutoModelForCausalLM.from_pretrained(str(base_model), local_files_only=True, dtype=torch.float32)
    torch.manual_seed(settings.train.seed)  # the LoRA init and the sampled rollouts: same data + seed = same adapter
    model = lora_model(model.to("cuda" if cuda else "cpu"), cfg.lora_rank)
    fs = [facts(d) for d in docs]
    stats: dict = {"device": "cuda" if cuda else "cpu", "clips": len(fs), "stages": []}
    grpo_started = any((work / "grpo").glob("checkpoint-*"))
    if "sft" in stages and cfg.sft_steps and not grpo_started:
        rows = sft_rows(fs, tokenizer, cfg.sft_phrasings, settings.train.seed)
        stats["sft"] = train_sft(model, rows, work / "sft", cfg.sft_steps, cfg.sft_time_budget_s,
                                 cfg.sft_learning_rate, cfg.checkpoint_every, log)
        stats["stages"].append("sft")
        save_adapter(model, out_dir.with_name(out_dir.name + "-sft"), base_name, base_revision, ["sft"],
                     cfg.lora_rank)
    if "grpo" in stages and cfg.max_steps:
        stats["grpo"] = train_grpo(model, tokenizer, fs, settings, work / "grpo", log)
        stats["stages"].append("grpo")
    save_adapter(model, out_dir, base_name, base_revision, stats["stages"], cfg.lora_rank)
    grpo = stats.get("grpo") or {}
    sft = stats.get("sft") or {}
    stats["history"] = grpo.get("history", []) + [{"step": h["step"], "loss_sft": h["loss"]}
                                                  for h in sft.get("history", [])]
    stats["steps"] = grpo.get("steps", 0) + sft.get("steps", 0)
    stats["seconds"] = grpo.get("seconds", 0.0) + sft.get("seconds", 0.0)
    stats["seconds_per_step"] = stats["seconds"] / stats["steps"] if stats["steps"] else float("nan")
    return stats
