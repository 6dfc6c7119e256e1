"""GRPO speed of the reasoning explainer on CPU with the tiny profile: steps per second.

    python benchmarks/explainer_grpo.py [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()

    from clmer.explain import reasoning
    from clmer.config import load_settings
    from clmer.features.model_store import ModelMissingError, ModelStore
    from clmer.synthetic.tiny import install_tiny_profile

    settings = load_settings(None, {"reasoning": {"max_steps": args.steps, "num_generations": 4, "batch_size": 2,
                                                  "max_completion_length": 64}})
    store = ModelStore(settings.paths.resolved_model_store())
    try:
        base = store.resolve("tiny-explainer", "explainer").path
    except ModelMissingError:
        install_tiny_profile(store)
        base = store.resolve("tiny-explainer", "explainer").path
    doc = {"prediction": {"polarity": "positive", "confidence": 0.7}, "language": "en",
           "transcript": "I am so happy today", "top_words": [{"word": "happy", "score": 0.2}],
           "modality_shares": {"text": 0.5, "audio": 0.3, "vision": 0.2}, "audio_cues": {"happy": 0.4}, "key_frames": []}
    rows = [{"prompt": reasoning.build_prompt(doc), "gold": g, "transcript": doc["transcript"],
             "shares": json.dumps(doc["modality_shares"])} for g in ("positive", "neutral", "negative", "positive")] * 4
    with tempfile.TemporaryDirectory() as tmp:
        out = reasoning.train(rows, base, settings, Path(tmp) / "explainer")
    print(f"{args.steps} GRPO steps, {settings.reasoning.batch_size} prompts x {settings.reasoning.num_generations} "
          f"completions x {settings.reasoning.max_completion_length} tokens: {out['seconds']:.1f} s = "
          f"{out['steps_per_second']:.2f} steps/s on CPU (tiny Qwen2, hidden 32, 2 layers)")


if __name__ == "__main__":
    main()
