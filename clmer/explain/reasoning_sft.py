"""The SFT cold start: LoRA on grounded targets, so the LM learns the shape before RL (R1-Omni's recipe).

Targets are the template's facts as the teacher, phrased several ways per fact and language, and
written as the constrained decoder would let the LM write them: no digits, no class names, quotes opened with “ and
filled with the clip's top words in rank order, closed by ”, the turn ended with EOS. The prompt is
exactly the inference prompt (system, evidence, `<think>` + scaffold), and the loss is on the target.

`train_sft` is a plain loop (batch 1, AdamW on the adapter), bounded by steps and seconds and
resumable: every `checkpoint_every` steps it saves the adapter, the optimiser and the step count.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Callable

from clmer import atomic
from clmer.explain.reasoning_prompts import prompt_text

FACE_ZH = {"calm": "平静", "happy": "开心", "sad": "难过", "angry": "生气", "neutral": "平静", "surprise": "惊讶", "fear": "害怕",
           "disgust": "厌恶", "surprised": "惊讶", "fearful": "害怕", "disgusted": "厌恶"}
LEVEL_ZH = {"well below average": "明显偏低", "below average": "偏低", "about average": "接近平常",
            "above average": "偏高", "well above average": "明显偏高"}
PROSODY_EN = {"pitch_level": "pitch", "pitch_range": "pitch range", "loudness": "loudness", "speaking_rate": "pace"}
PROSODY_ZH = {"pitch_level": "音高", "pitch_range": "音域", "loudness": "音量", "speaking_rate": "语速"}


def _voice_en(f: dict) -> str:
    if f["prosody"]:
        k, v = next(iter(f["prosody"].items()))
        return f"the {PROSODY_EN.get(k, k.replace('_', ' '))} of the voice is {v}"
    return "the voice adds little" if f["decisive"] != "audio" else "the voice carries most of the signal"


def _voice_zh(f: dict) -> str:
    if f["prosody"]:
        k, v = next(iter(f["prosody"].items()))
        return f"{PROSODY_ZH.get(k, '语音')}{LEVEL_ZH.get(v, v)}"
    return "语音的作用不大" if f["decisive"] != "audio" else "语音承载了主要信号"


def targets(f: dict, n: int, seed: int = 0) -> list[str]:
    """`n` different connecting texts for one clip's facts, in its language (what SFT teaches)."""
    rng = random.Random(f"{seed}:{f['transcript']}")
    words = f["words"]
    face = f["face"]["label"] if f["face"] else None
    if face == "neutral":  # an expression, not the class: the decoder lets the LM name no class
        face = "calm"
    if f["language"] == "zh":
        q = "“" + "”和“".join(words[:2]) + "”" if words else ""
        face_zh = FACE_ZH.get(face or "", face or "")
        options = [
            (f"说话人提到{q}，" if q else "说话人的话没有明显的情感词，") + f"{_voice_zh(f)}"
            + (f"，面部看起来{face_zh}" if face else "") + "，整体符合模型的判断。",
            (f"关键词{q}" if q else "文本线索较弱") + "支持这个判断，" + _voice_zh(f) + "，" +
            (f"面部表情偏{face_zh}，" if face else "") + "几种线索共同支持这个判断。",
            (f"从面部看，表情偏{face_zh}；" if face else "") + (f"从文本看，说话人用了{q}；" if q else "") +
            f"{_voice_zh(f)}，所以模型作出了这个判断。",
        ]
    else:
        q = " and ".join(f"“{w}”" for w in words[:2])
        options = [
            (f"The speaker says {q}, which fits the prediction" if q else "The words carry little sentiment on their own")
            + f"; {_voice_en(f)}" + (f", and the face looks {face}." if face else "."),
            (f"Words such as {q} point the same way" if q else "The transcript gives only weak cues")
            + (f", the face looks {face}" if face else "") + f", and {_voice_en(f)}.",
            (f"The face looks {face}, " if face else "") + (f"the speaker uses {q}, " if q else "")
            + f"and {_voice_en(f)}, so the model settles on this reading.",
        ]
    rng.shuffle(options)
    return options[:n]


def sft_rows(fs: list[dict], tokenizer, phrasings: int, seed: int = 0) -> list[dict]:
    """(prompt ids, target ids) pairs: the inference prompt, and a target ended by EOS."""
    eos = tokenizer.eos_token or ""
    rows = []
    for f in fs:
        prompt = tokenizer(prompt_text(tokenizer, f), add_special_tokens=False)["input_ids"]
        for text in targets(f, phrasings, seed):
            lead = "" if f["language"] == "zh" else " "
            target = tokenizer(lead + text + eos, add_special_tokens=False)["input_ids"]
            rows.append({"prompt_ids": list(prompt), "target_ids": list(target), "language": f["language"]})
    random.Random(seed).shuffle(rows)
    return rows


def lora_model(model, rank: int):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, bias="none",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def train_sft(model, rows: list[dict], work: Path, steps: int, seconds: float, lr: float, checkpoint_every: int,
              log: Callable[[dict], None] | None = None) -> dict:
    """LoRA SFT of a peft model for at most `steps` steps and `seconds` (resumes from `work`)."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from peft import get_peft_model_state_dict

    work.mkdir(parents=True, exist_ok=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    state_file, done = work / "sft_state.json", 0
    if state_file.exists():  # resume: adapter, optimiser, step
        set_peft_model_state_dict(model, load_file(str(work / "sft_adapter.safetensors")))
        optim.load_state_dict(torch.load(work / "sft_optim.pt", weights_only=True))
        done = json.loads(state_file.read_text())["step"]
    history = json.loads((work / "sft_history.json").read_text()) if (work / "sft_history.json").exists() else []

    def save(step: int) -> None:
        save_file({k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()},
                  str(work / "sft_adapter.safetensors"))
        torch.save(optim.state_dict(), work / "sft_optim.pt")
        atomic.write_json(work / "sft_history.json", history)
        atomic.write_json(state_file, {"step": step})  # last: a resume never finds a step without its files

    model.train()
    start, step = time.perf_counter(), done
    device = next(model.parameters()).device
    while step < steps and rows:
        elapsed = time.perf_counter() - start
        if step > done and elapsed + elapsed / (step - done) > seconds:
            break  # the next step would end past the budget
        row = rows[step % len(rows)]
        ids = torch.tensor([row["prompt_ids"] + row["target_ids"]], device=device)
        labels = ids.clone()
        labels[:, :len(row["prompt_ids"])] = -100  # the loss is on the target only
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        step += 1
        history.append({"step": step, "loss": float(loss.detach())})
        if log:
            log({"stage": "sft", "step": step, "loss": float(loss.detach())})
        if step % checkpoint_every == 0:
            save(step)
    if step > done:
        save(step)
    model.eval()
    return {"steps": step, "resumed_from": done, "seconds": time.perf_counter() - start, "history": history}
