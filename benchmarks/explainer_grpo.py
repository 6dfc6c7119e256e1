"""GRPO speed of the reasoning LM: seconds per step with a LoRA adapter (what the product trains) against a
full fine-tune, on the store's explainer (SmolLM2-135M with the small profile, the random tiny one otherwise).

    python benchmarks/explainer_grpo.py [--steps 3] [--profile auto|small|tiny]

The prompts are the product's own (system message, one example, evidence, prefilled `<think>`) over a few
hand-written clips of both languages; the demo's 90 s CPU budget divided by seconds per step is how many
steps the demo buys.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

CLIPS = [("en", "This is the best day of my life, I love it.", "positive", "happy"),
         ("en", "I am so tired of waiting, this is terrible.", "negative", "angry"),
         ("zh", "今天的天气还可以，我们下午去开会。", "neutral", "neutral"),
         ("zh", "这个结果让我非常失望，太糟糕了。", "negative", "sad")]


def rows() -> list[dict]:
    from clmer.explain.reasoning import messages

    out = []
    for language, transcript, gold, face in CLIPS:
        words = [{"word": w, "score": 0.3} for w in transcript.replace(",", " ").split()[:3]]
        doc = {"language": language, "transcript": transcript, "top_words": words,
               "prediction": {"polarity": gold, "confidence": 0.8},
               "modality_shares": {"text": 0.55, "audio": 0.25, "vision": 0.2},
               "key_frames": [{"time": 1.0, "cues": {face: 0.6}}]}
        shares = json.dumps(doc["modality_shares"])
        out.append({"prompt": messages(doc), "doc": doc, "gold": gold, "transcript": transcript, "shares": shares})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--profile", default="auto", choices=["auto", "small", "tiny"])
    args = ap.parse_args()

    from clmer.config import load_settings
    from clmer.explain import reasoning
    from clmer.features.encoders import model_ref
    from clmer.pipeline import prepare_profile

    settings, message = prepare_profile(load_settings(overrides={
        "models": {"profile": args.profile},
        "reasoning": {"max_steps": args.steps, "time_budget_s": 1e9, "num_generations": 4, "prompts_per_step": 1}}))
    ref = model_ref("explainer", settings)
    print(f"{message}\nexplainer: {ref.name}; {args.steps} GRPO steps of 1 prompt x 4 completions x "
          f"{settings.reasoning.max_completion_length} tokens at most")
    data = rows() * 2
    budget = 90.0
    with tempfile.TemporaryDirectory() as tmp:
        for lora in (True, False):
            out = reasoning.train(data, ref.path, settings, Path(tmp) / "explainer", base_name=ref.name, lora=lora)
            per_step = out["seconds_per_step"]
            print(f"  {'LoRA r=%d' % settings.reasoning.lora_rank if lora else 'full fine-tune':<16} "
                  f"{per_step:7.1f} s/step on {out['device']} -> {int(budget // per_step)} steps in the demo's "
                  f"{budget:.0f} s budget; mean reward of the last step {out['history'][-1].get('reward', float('nan')):.2f}")


if __name__ == "__main__":
    main()
