"""The reasoning-text LM: a small instruction model reads a clip's evidence (what the fusion model
really used) and writes `<think>...</think><answer>polarity</answer>`, R1-Omni style.

* Prompt: a system message with the format and one worked example, the clip's evidence, and the
  assistant's turn already started with `<think>` (SmolLM2-135M follows the format 87 % of the time
  that way, 0 % without the prefill). Decoding is greedy, stops at `</answer>`, skips special tokens
  (what trl scores during training), and puts the prefilled `<think>` back.
* Training (`train`): trl's GRPOTrainer with a LoRA adapter, on the verifiable rewards of
  `clmer.explain.reasoning_rewards`, bounded by steps and, on a CPU, by a time budget. The LM is loaded
  in float32 and on CUDA trained with bf16 autocast over float32 master weights (a bf16 model with
  bf16=False loses most AdamW updates to rounding). Only the adapter is saved: a registered version
  carries a few MB and names its base model by store name and content hash.
* Use (`Explainer.reason`): the LM's text is shown only when it parses, is grounded (its quotes are in
  the transcript, its decisive modality is the top attribution) and gives the model's prediction;
  otherwise the report carries the grounded template (`clmer.explain.reasoning_template`), and says so.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from clmer import atomic
from clmer.config import Settings
from clmer.explain.reasoning_rewards import accuracy_reward, format_reward, grounding_reward, make_length_reward
from clmer.explain.reasoning_template import checks, template_reasoning

PREFILL = "<think>"
ADAPTER_META = "clmer_explainer.json"
EXAMPLE_EVIDENCE = ('language: en\ntranscript: "This is the best day of my life!"\n'
                    "key words: best (+0.43), life (+0.12), day (+0.05)\n"
                    "modality shares: text 62%, audio 25%, vision 13%\n"
                    "voice: pitch above average, loudness above average\nface: happy 0.61 at 1.5 s\n"
                    "model prediction: positive (confidence 0.90)")
EXAMPLE_REPLY = ('<think>The speaker says "best day", a strongly positive phrase, and the voice is lively. '
                 "Text has the largest share, so decisive: text.</think><answer>positive</answer>")
SYSTEM = ("You explain the emotion of a video clip from its evidence. Reply with exactly one line in this format:\n"
          "<think>one or two sentences that quote words from the transcript and end with decisive: text, audio or "
          "vision</think><answer>negative, neutral or positive</answer>\n"
          "Nothing before <think>, nothing after </answer>.\n\n"
          f"Example evidence:\n{EXAMPLE_EVIDENCE}\nExample reply:\n{EXAMPLE_REPLY}")


def evidence(doc: dict) -> str:
    """The clip's evidence, in the example's order, from an explanation document."""
    p = doc["prediction"]
    words = ", ".join(f"{w['word']} ({w['score']:+.2f})" for w in (doc.get("top_words") or [])[:5]) or "none"
    shares = ", ".join(f"{m} {v:.0%}" for m, v in (doc.get("modality_shares") or {}).items())
    if doc.get("prosody"):
        voice = ", ".join(f"{k.replace('_', ' ')} {v['words']}" for k, v in doc["prosody"].items())
    else:
        cues = sorted((doc.get("audio_cues") or {}).items(), key=lambda kv: -kv[1])[:2]
        voice = ", ".join(f"{k} {v:.2f}" for k, v in cues) or "no audio"
    frames = doc.get("key_frames") or []
    face = "no face"
    if frames and frames[0].get("cues"):
        label, score = max(frames[0]["cues"].items(), key=lambda kv: kv[1])
        face = f"{label} {score:.2f} at {frames[0]['time']:.1f} s"
    return (f"language: {doc.get('language') or 'unknown'}\ntranscript: \"{doc.get('transcript', '')}\"\n"
            f"key words: {words}\nmodality shares: {shares}\nvoice: {voice}\nface: {face}\n"
            f"model prediction: {p['polarity']} (confidence {p['confidence']:.2f})")


def messages(doc: dict) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": evidence(doc)},
            {"role": "assistant", "content": PREFILL}]


def prompt_text(tokenizer, doc: dict) -> str:
    """The prompt as text: the chat template when the tokenizer has one (continuing the prefilled turn)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages(doc), tokenize=False, continue_final_message=True)
    return f"{SYSTEM}\n\n{evidence(doc)}\n{PREFILL}"


def base_for(adapter: Path, settings: Settings | None) -> Path:
    """The adapter's base LM, resolved by name in the model store and checked by content hash."""
    from clmer.config import load_settings
    from clmer.features.model_store import ModelStore

    meta = json.loads((adapter / ADAPTER_META).read_text(encoding="utf-8"))
    ref = ModelStore((settings or load_settings()).paths.resolved_model_store()).resolve(meta["base_name"], "explainer")
    if meta.get("base_revision") and ref.revision != meta["base_revision"]:
        raise ValueError(f"the explainer adapter was trained on {meta['base_name']} revision {meta['base_revision']}, "
                         f"but the model store holds revision {ref.revision}; import the same model or retrain")
    return ref.path


def load_lm(path: str | Path, device: str = "cpu", settings: Settings | None = None):
    """(tokenizer, model) in float32; a LoRA adapter folder loads its base model from the model store."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if (path / ADAPTER_META).exists():
        from peft import PeftModel

        base = base_for(path, settings)
        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True, dtype=torch.float32)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.eval().to(device)


class Explainer:
    """A causal LM (with its LoRA adapter, if trained), loaded once; `reason` gives the report's section."""

    def __init__(self, path: str | Path, device: str = "cpu", max_new_tokens: int = 80, name: str | None = None,
                 settings: Settings | None = None):
        self.path = Path(path)
        self.name = name or self.path.name
        self.tokenizer, self.model = load_lm(path, device, settings)
        self.device = device
        self.max_new_tokens = max_new_tokens

    def generate(self, doc: dict) -> tuple[str, int]:
        """Greedy completion (the same clip gets the same text) and its token count."""
        import torch

        enc = self.tokenizer(prompt_text(self.tokenizer, doc), return_tensors="pt", add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        stop = {"stop_strings": ["</answer>"], "tokenizer": self.tokenizer} if self.tokenizer.chat_template else {}
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id, **stop)
        new = out[0, enc["input_ids"].shape[1]:]
        return PREFILL + self.tokenizer.decode(new, skip_special_tokens=True).strip(), int(len(new))

    def reason(self, doc: dict) -> dict:
        start = time.perf_counter()
        text, tokens = self.generate(doc)
        result = checks(text, doc)
        timing = {"seconds": round(time.perf_counter() - start, 2), "tokens": tokens}
        if result["format"] and result["grounding"] >= 1.0 and result["answer_is_prediction"]:
            think, answer = text.split("</think>", 1)
            return {"text": text, "think": think.removeprefix(PREFILL).strip(),
                    "answer": answer.replace("<answer>", "").replace("</answer>", "").strip(),
                    "source": "lm", "status": "ok", "checks": result, "lm": {"model": self.name} | timing}
        # The LM's text failed a check: the grounded template stands in, and the attempt is kept for review.
        return template_reasoning(doc) | {"lm": {"model": self.name, "text": text, "checks": result} | timing}


def enabled(settings: Settings) -> bool:
    """On when configured, or (auto) whenever a real explainer model is in the store (the tiny one is random)."""
    mode = settings.reasoning.enabled
    if mode != "auto":
        return mode == "on"
    from clmer.features.encoders import model_ref
    from clmer.features.model_store import ModelMissingError

    try:
        ref = model_ref("explainer", settings)
    except ModelMissingError:
        return False
    return not ref.name.startswith("tiny-")


def is_trained(path: Path) -> bool:
    """A trained explainer folder: a LoRA adapter (its base named in ADAPTER_META) or a whole LM."""
    return (path / ADAPTER_META).exists() or (path / "config.json").exists()


def examples(scorer, features, manifest, limit: int) -> list[dict]:
    """Evidence prompts with their checkable facts, from a split's explanations."""
    from clmer.data.labels import CLASSES

    rows = []
    keyed = manifest.assign(clip=manifest["video_id"].astype(str) + "/" + manifest["clip_id"].astype(str))
    gold = dict(zip(keyed["clip"], keyed["class_index"]))
    for r in features.itertuples():
        if r.status == "failed" or r.clip not in gold or len(rows) >= limit:
            continue
        doc = scorer.explain_row(r)
        shares = {m: v for m, v in doc["modality_shares"].items() if doc["present"].get(m)}
        rows.append({"prompt": messages(doc), "doc": doc, "gold": CLASSES[int(gold[r.clip])],
                     "transcript": doc["transcript"], "shares": json.dumps(shares)})
    return rows


def _with_prefill(reward):
    """trl scores the completion without the prefilled `<think>`, which belongs to the prompt: put it back."""
    def wrapped(completions, **kwargs):
        texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
        return reward([PREFILL + t for t in texts], **kwargs)
    wrapped.__name__ = reward.__name__
    return wrapped


def measure(explainer: Explainer, rows: list[dict]) -> dict:
    """On held-out clips: share of completions that parse, are grounded, name the gold polarity; the mean
    total reward; tokens and seconds per report."""
    from clmer.explain.reasoning_rewards import length_reward

    if not rows:
        return {}
    parsed = grounded = right = 0
    reward = tokens = seconds = 0.0
    for row in rows:
        start = time.perf_counter()
        text, n = explainer.generate(row["doc"])
        seconds += time.perf_counter() - start
        tokens += n
        c = checks(text, row["doc"])
        parsed += c["format"]
        grounded += c["grounding"] >= 1.0
        right += accuracy_reward([text], gold=[row["gold"]])[0]
        reward += (format_reward([text])[0] + accuracy_reward([text], gold=[row["gold"]])[0]
                   + grounding_reward([text], transcript=[row["transcript"]], shares=[row["shares"]])[0]
                   + 0.5 * length_reward([text])[0])
    n = len(rows)
    return {"parsed": parsed / n, "grounded": grounded / n, "right_polarity": right / n, "mean_reward": reward / n,
            "tokens_per_report": tokens / n, "seconds_per_report": seconds / n, "clips": n}


def train(rows: list[dict], base_model: str | Path, settings: Settings, out_dir: str | Path,
          log: Callable[[dict], None] | None = None, base_name: str = "", base_revision: str = "",
          lora: bool = True) -> dict:
    """GRPO with a LoRA adapter; saves the adapter (and where its base is) into out_dir.

    `lora=False` times a full fine-tune for `benchmarks/explainer_grpo.py` and saves nothing: a registered
    version must never carry a copy of the LM."""
    import tempfile

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    cfg = settings.reasoning
    out_dir = Path(out_dir)
    cuda = torch.cuda.is_available() and settings.models.device != "cpu"
    if cfg.threads and not cuda:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(base_model), local_files_only=True, dtype=torch.float32)
    start = time.perf_counter()

    class Budget(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if log and logs:
                log({"step": state.global_step, **logs})

        def on_step_end(self, args, state, control, **kwargs):
            elapsed = time.perf_counter() - start
            # a CPU gets a bounded number of steps: stop before a step that would end past the budget
            if not cuda and elapsed + elapsed / max(state.global_step, 1) > cfg.time_budget_s:
                control.should_training_stop = True

    chat = bool(getattr(tokenizer, "chat_template", None))
    data = [{"prompt": r["prompt"] if chat else prompt_text(tokenizer, r["doc"]), "gold": r["gold"],
             "transcript": r["transcript"], "shares": r["shares"]} for r in rows]
    with tempfile.TemporaryDirectory() as work:
        args = GRPOConfig(
            output_dir=work, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
            per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations, num_generations=cfg.num_generations,
            max_completion_length=cfg.max_completion_length, beta=cfg.beta, temperature=cfg.temperature,
            reward_weights=cfg.reward_weights, logging_steps=1, save_strategy="no", report_to="none",
            use_cpu=not cuda, bf16=cuda, gradient_checkpointing=False, disable_tqdm=True, seed=settings.train.seed,
            dataloader_num_workers=0,
        )
        peft = LoraConfig(r=cfg.lora_rank, lora_alpha=2 * cfg.lora_rank, lora_dropout=0.0, bias="none",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
        rewards = [format_reward, accuracy_reward, grounding_reward, make_length_reward(cfg.min_words, cfg.max_words)]
        trainer = GRPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tokenizer,
                              reward_funcs=[_with_prefill(r) if chat else r for r in rewards],
                              peft_config=peft if lora else None,
                              callbacks=[Budget()])
        trainer.train()
        seconds = time.perf_counter() - start
        history = [h for h in trainer.state.log_history if "reward" in h]
        steps = trainer.state.global_step
        stats = {"history": history, "seconds": seconds, "steps": steps, "device": "cuda" if cuda else "cpu",
                 "seconds_per_step": seconds / steps if steps else float("nan")}
        if not lora:
            return stats
        out_dir.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(str(out_dir))
    # The base is named, never copied or pointed at by path: it resolves through the model store.
    atomic.write_json(out_dir / ADAPTER_META, {"base_name": base_name, "base_revision": base_revision,
                                               "lora_rank": cfg.lora_rank})
    return stats
