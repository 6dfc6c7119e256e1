"""The reasoning-text explainer: a small instruction LM that reads a clip's evidence (what the fusion
model really used) and writes `<think>...</think><answer>polarity</answer>`, R1-Omni style.

Trained with trl's GRPOTrainer on verifiable rewards only (`clmer.explain.reasoning_rewards`). Scoring uses
it when the model carries one; when it is absent or fails, the report says so and everything else
is written as usual.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from clmer.config import Settings
from clmer.explain.reasoning_rewards import (
    accuracy_reward,
    format_reward,
    grounding_reward,
    make_length_reward,
    parse,
)


def build_prompt(doc: dict) -> str:
    """The evidence, in a fixed order, from an explanation document (see explain.explain_clip)."""
    p = doc["prediction"]
    words = ", ".join(f"{w['word']} ({w['score']:+.3f})" for w in doc.get("top_words", [])[:5]) or "none"
    shares = ", ".join(f"{m} {v:.0%}" for m, v in doc["modality_shares"].items())
    audio = ", ".join(f"{k} {v:.2f}" for k, v in sorted(doc.get("audio_cues", {}).items(), key=lambda kv: -kv[1])[:3])
    frames = doc.get("key_frames", [])
    visual = ", ".join(f"{k} {v:.2f}" for k, v in sorted(frames[0]["cues"].items(), key=lambda kv: -kv[1])[:3]) \
        if frames and frames[0].get("cues") else "none"
    return (
        "Clip evidence.\n"
        f"language: {doc.get('language') or 'unknown'}\n"
        f"transcript: \"{doc.get('transcript', '')}\"\n"
        f"top words: {words}\n"
        f"modality shares: {shares}\n"
        f"audio cues: {audio or 'none'}\n"
        f"visual cues: {visual}\n"
        f"model prediction: {p['polarity']} (confidence {p['confidence']:.2f})\n"
        "Explain the emotional polarity, quote the words that matter and name the decisive modality "
        "(decisive: text|audio|vision). Answer as <think>...</think><answer>negative|neutral|positive</answer>.\n"
    )


class Explainer:
    """A causal LM folder (the tiny profile's or a real Qwen-class model), loaded once."""

    def __init__(self, path: str | Path, device: str = "cpu", max_new_tokens: int = 96):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True).eval().to(device)
        self.device = device
        self.max_new_tokens = max_new_tokens

    def generate(self, prompt: str) -> str:
        """Greedy continuation of the prompt (deterministic: the same clip gets the same text)."""
        import torch

        enc = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=False)
        return text.replace(self.tokenizer.eos_token or "", "").strip()

    def reason(self, doc: dict) -> dict:
        text = self.generate(build_prompt(doc))
        think, answer = parse(text)
        result = {"text": text, "source": f"explainer:{self.path.name}", "status": "ok" if think is not None else "unparsed"}
        if think is not None:
            result.update(think=think, answer=answer)
        return result


def absent(reason: str) -> dict:
    return {"text": "", "source": "none", "status": "absent", "think": reason}


def failed(exc: Exception) -> dict:
    return {"text": "", "source": "explainer", "status": "failed", "think": f"{exc.__class__.__name__}: {exc}"}


def enabled(settings: Settings) -> bool:
    mode = settings.reasoning.enabled
    if mode != "auto":
        return mode == "on"
    import torch

    return torch.cuda.is_available()  # CPU training of a real LM is days; the tiny one proves plumbing


def examples(scorer, features, manifest, limit: int) -> list[dict]:
    """Prompts with their checkable facts, from the training split's explanations."""
    rows = []
    keyed = manifest.assign(clip=manifest["video_id"].astype(str) + "/" + manifest["clip_id"].astype(str))
    gold = dict(zip(keyed["clip"], keyed["class_index"]))
    from clmer.data.labels import CLASSES

    for r in features.itertuples():
        if r.status == "failed" or r.clip not in gold or len(rows) >= limit:
            continue
        doc = scorer.explain_row(r)
        rows.append({"prompt": build_prompt(doc), "gold": CLASSES[int(gold[r.clip])], "transcript": doc["transcript"],
                     "shares": json.dumps(doc["modality_shares"])})
    return rows


def train(rows: list[dict], base_model: str | Path, settings: Settings, out_dir: str | Path,
          log: Callable[[dict], None] | None = None) -> dict:
    """GRPO on the explainer; saves the trained model into out_dir; returns history and timing."""
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    cfg = settings.reasoning
    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(base_model), local_files_only=True)
    cuda = torch.cuda.is_available() and settings.models.device != "cpu"

    class Forward(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if log and logs:
                log({"step": state.global_step, **logs})

    with tempfile.TemporaryDirectory() as work:
        args = GRPOConfig(
            output_dir=work, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
            per_device_train_batch_size=cfg.batch_size * cfg.num_generations, num_generations=cfg.num_generations,
            max_completion_length=cfg.max_completion_length, beta=cfg.beta, temperature=cfg.temperature,
            reward_weights=cfg.reward_weights, logging_steps=1, save_strategy="no", report_to="none",
            use_cpu=not cuda, bf16=False, disable_tqdm=True, seed=settings.train.seed, dataloader_num_workers=0,
        )
        trainer = GRPOTrainer(
            model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
            reward_funcs=[format_reward, accuracy_reward, grounding_reward,
                          make_length_reward(cfg.min_words, cfg.max_words)],
            callbacks=[Forward()],
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        trainer.save_model(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
    history = [h for h in trainer.state.log_history if "reward" in h]
    return {"history": history, "seconds": seconds, "steps": cfg.max_steps,
            "steps_per_second": cfg.max_steps / seconds if seconds else float("nan")}
