"""GRPO (trl) on the reasoning LM with verifiable rewards only, decoding exactly as inference does.

trl's `rollout_func` hands generation to `clmer.explain.reasoning_decode.compose`, sampled at
`reasoning.temperature`: the same prompt in the clip's language, the same scaffold, suppressed tokens,
quote filling and stops as scoring, so no sample fails the format for want of a stop string. The
tokens written by construction (the quotes' words) are masked out of the loss (`env_mask`); the
rewards (`clmer.explain.reasoning_rewards.REWARDS`) read the whole composed text and the clip's
facts. trl logs `frac_reward_zero_std` (the share of groups whose rewards all tie: no gradient).

Bounded by `max_steps` and `time_budget_s`; checkpoints every `checkpoint_every` steps into the work
folder and resumes from the last one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from clmer.config import Settings
from clmer.explain.reasoning_decode import compose
from clmer.explain.reasoning_rewards import reward_functions
from clmer.explain.reasoning_runtime import TransformersRuntime


def _key(f: dict) -> str:
    return json.dumps([f["language"], f["transcript"], f["polarity"], f["decisive"]], ensure_ascii=False)


def make_rollout(tokenizer, by_key: dict[str, dict], settings: Settings):
    cfg = settings.reasoning

    def rollout(prompts: list, trainer) -> dict:
        fs = [by_key[p] for p in prompts]  # the prompts are keys; trl already repeated each num_generations times
        runtime = TransformersRuntime(trainer.model, tokenizer)
        comps = compose(runtime, tokenizer, fs, max_new=cfg.generate_max_new_tokens, max_quotes=cfg.max_quotes,
                        repetition_penalty=cfg.repetition_penalty, temperature=cfg.temperature)
        return {"prompt_ids": [c.prompt_ids for c in comps],
                "completion_ids": [c.completion_ids or [tokenizer.eos_token_id] for c in comps],
                "logprobs": None, "env_mask": [c.mask or [1] for c in comps], "text": [c.text for c in comps]}
    return rollout


def train_grpo(model, tokenizer, fs: list[dict], settings: Settings, work: Path,
               log: Callable[[dict], None] | None = None) -> dict:
    """GRPO steps on a peft model (trained in place); returns the history and timings."""
    import os

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    cfg = settings.reasoning
    cuda = next(model.parameters()).device.type == "cuda"
    by_key = {_key(f): f for f in fs}
    data = Dataset.from_list([{"prompt": k, "facts": json.dumps(f, ensure_ascii=False)} for k, f in by_key.items()])
    start = time.perf_counter()
    first_step: list[int] = []

    class Budget(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if log and logs:
                log({"stage": "grpo", "step": state.global_step, **logs})

        def on_step_end(self, args, state, control, **kwargs):
            if not first_step:
                first_step.append(state.global_step - 1)
            done = state.global_step - first_step[0]
            elapsed = time.perf_counter() - start
            if elapsed + elapsed / max(done, 1) > cfg.time_budget_s:  # the next step would end past the budget
                control.should_training_stop = True
                control.should_save = True

    work.mkdir(parents=True, exist_ok=True)
    args = GRPOConfig(
        output_dir=str(work), max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations, num_generations=cfg.num_generations,
        max_completion_length=cfg.generate_max_new_tokens + 16, beta=cfg.beta, temperature=cfg.temperature,
        reward_weights=cfg.reward_weights, logging_steps=1, save_strategy="steps", save_steps=cfg.checkpoint_every,
        save_total_limit=1, report_to="none", use_cpu=not cuda, bf16=cuda, gradient_checkpointing=False,
        disable_tqdm=True, seed=settings.train.seed, dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                          reward_funcs=reward_functions(cfg.min_words, cfg.max_words),
                          rollout_func=make_rollout(tokenizer, by_key, settings), callbacks=[Budget()])
    resume = any(work.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume else None)
    model.eval()
    history = [h for h in trainer.state.log_history if "reward" in h]
    steps = trainer.state.global_step
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"steps": steps, "resumed": resume, "seconds": seconds, "history": history,
            "seconds_per_step": seconds / max(steps - (first_step[0] if first_step else 0), 1),
            "frac_reward_zero_std": [h.get("frac_reward_zero_std") for h in history]}
