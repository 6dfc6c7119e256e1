"""Training speed of the reasoning LM: seconds per SFT step and per GRPO step with a LoRA adapter, on the
store's explainer (Qwen2.5-Coder-0.5B with the small profile, the random tiny one otherwise).

    python benchmarks/explainer_grpo.py [--sft-steps 3] [--steps 2] [--profile auto|small|tiny]

The prompts are the product's own (system message and evidence in the clip's language, `<think>` and the
constructed opening) over a few hand-written clips of both languages; GRPO decodes as inference does.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

CLIPS = [("en", "This is the best day of my life, I love it.", "positive", "happy"),
         ("en", "I am so tired of waiting, this is terrible.", "negative", "angry"),
         ("zh", "今天的天气还可以，我们下午去开会。", "neutral", "neutral"),
         ("zh", "这个结果让我非常失望，太糟糕了。", "negative", "sad")]


def rows() -> list[dict]:
    out = []
    for language, transcript, gold, face in CLIPS:
        split = transcript.replace(",", " ").split() if language == "en" else [transcript[2:4], transcript[-4:-2]]
        words = [{"word": w, "score": 0.3} for w in split[:3]]
        doc = {"language": language, "transcript": transcript, "top_words": words,
               "prediction": {"polarity": gold, "confidence": 0.8},
               "modality_shares": {"text": 0.55, "audio": 0.25, "vision": 0.2},
               "key_frames": [{"time": 1.0, "cues": {face: 0.6}}]}
        out.append(doc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sft-steps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--profile", default="auto", choices=["auto", "small", "tiny"])
    args = ap.parse_args()

    from clmer.config import load_settings
    from clmer.explain.reasoning_train import train
    from clmer.features.encoders import model_ref
    from clmer.pipeline import prepare_profile

    settings, message = prepare_profile(load_settings(overrides={
        "models": {"profile": args.profile},
        "reasoning": {"sft_steps": args.sft_steps, "max_steps": args.steps, "time_budget_s": 1e9,
                      "sft_time_budget_s": 1e9, "num_generations": 4, "prompts_per_step": 1}}))
    ref = model_ref("explainer", settings)
    cfg = settings.reasoning
    print(f"{message}\nexplainer: {ref.name}; {args.sft_steps} SFT steps, {args.steps} GRPO steps of 1 prompt x "
          f"{cfg.num_generations} completions x {cfg.generate_max_new_tokens} tokens at most")
    with tempfile.TemporaryDirectory() as tmp:
        out = train(rows() * 2, ref.path, settings, Path(tmp) / "explainer", base_name=ref.name)
    sft, grpo = out.get("sft") or {}, out.get("grpo") or {}
    if sft.get("steps"):
        print(f"  SFT  LoRA r={cfg.lora_rank}: {sft['seconds'] / sft['steps']:7.1f} s/step on {out['device']}")
    if grpo.get("steps"):
        last = grpo["history"][-1] if grpo["history"] else {}
        print(f"  GRPO LoRA r={cfg.lora_rank}: {grpo['seconds_per_step']:7.1f} s/step on {out['device']}; "
              f"last step reward {last.get('reward', float('nan'))}, frac_reward_zero_std "
              f"{last.get('frac_reward_zero_std', float('nan'))}")


if __name__ == "__main__":
    main()
