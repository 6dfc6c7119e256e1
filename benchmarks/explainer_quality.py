"""How good is the reasoning LM's text? Per split and language: accepted rate (it passes every display
check), each reward's mean, distinct-2 of what the LM wrote, seconds per report; for the zero-shot LM
and for trained adapters (after SFT, after GRPO).

    python benchmarks/explainer_quality.py --run TRAIN_RUN --corpus CORPUS --features FEATURES.parquet \
        [--feature-store DIR] [--docs CACHE_DIR] [--model zero-shot] [--model sft=ADAPTER] [--model grpo=ADAPTER] \
        [--splits valid,test] [--limit N] [--runtime ctranslate2]

TRAIN_RUN is a `clmer train` folder (its `model/` explains the clips). The explanation documents are
computed once per split and kept in CACHE_DIR (`docs-<split>.json`), so each model is measured on the
same documents. `--dump train` writes the training split's documents too (for `--train-docs` below).
`--train-docs FILE --train-out DIR` runs the training recipe on those documents (SFT then GRPO within
the settings' budgets, resumable), so a long CPU run can be done without a trained run folder to write in.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def docs_for(run: Path, corpus: Path, features: Path, split: str, settings, cache: Path, limit: int) -> list[dict]:
    import pandas as pd

    from clmer.data.corpus import read_corpus
    from clmer.explain.reasoning import examples
    from clmer.serving.scoring import Scorer

    path = cache / f"docs-{split}.json"
    if path.exists():
        docs = json.loads(path.read_text(encoding="utf-8"))
        return [d for lang in ("en", "zh") for d in [x for x in docs if x.get("language") == lang][:limit]]
    scorer = Scorer(run / "model", settings)
    scorer.use_lm = False
    manifest = read_corpus(corpus, strict=False).manifest
    part, frame = manifest[manifest["mode"] == split], pd.read_parquet(features)
    docs = []
    for lang in sorted(part["language"].dropna().unique()):  # `limit` per language, so both are measured
        docs += examples(scorer, frame, part[part["language"] == lang], limit)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(docs, ensure_ascii=False, default=str), encoding="utf-8")
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--features", type=Path)
    ap.add_argument("--feature-store", type=Path, default=None)
    ap.add_argument("--docs", type=Path, default=Path("benchmark-explainer-docs"))
    ap.add_argument("--model", action="append", default=[], help="label=adapter dir, or zero-shot (the store's LM)")
    ap.add_argument("--splits", default="valid,test")
    ap.add_argument("--limit", type=int, default=10_000, help="clips per language")
    ap.add_argument("--runtime", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", default="", help="also compute these splits' documents (e.g. train)")
    ap.add_argument("--train-docs", type=Path, default=None)
    ap.add_argument("--train-out", type=Path, default=None)
    ap.add_argument("--set", action="append", default=[], help="reasoning.KEY=VALUE overrides (JSON values)")
    args = ap.parse_args()

    import torch

    from clmer.config import load_settings
    from clmer.explain import reasoning
    from clmer.features.encoders import model_ref, quiet_loading

    torch.set_num_threads(args.threads)
    overrides: dict = {"models": {"profile": "small"}, "reasoning": {"threads": args.threads}}
    if args.feature_store:
        overrides["paths"] = {"feature_store": str(args.feature_store)}
    if args.runtime:
        overrides["reasoning"]["runtime"] = args.runtime
    for item in args.set:
        key, value = item.split("=", 1)
        overrides["reasoning"][key] = json.loads(value)
    settings = load_settings(None, overrides)
    for split in [s for s in args.dump.split(",") if s]:
        print(f"{split}: {len(docs_for(args.run, args.corpus, args.features, split, settings, args.docs, args.limit))} docs")
    if args.train_docs:
        from clmer.explain.reasoning_train import train

        base = model_ref("explainer", settings)
        docs = json.loads(args.train_docs.read_text(encoding="utf-8"))[:settings.reasoning.max_examples]
        stats = train(docs, base.path, settings, args.train_out, base_name=base.name, base_revision=base.revision,
                      log=lambda r: print({k: r[k] for k in ("stage", "step", "loss", "reward", "frac_reward_zero_std")
                                           if k in r}, flush=True))
        print(json.dumps({k: v for k, v in stats.items() if k != "history"}, default=str)[:3000])
    rows = []
    for spec in args.model:
        label, _, path = spec.partition("=")
        with quiet_loading():
            explainer = reasoning.Explainer(Path(path) if path else None, settings=settings, name=label)
        for split in args.splits.split(","):
            docs = docs_for(args.run, args.corpus, args.features, split, settings, args.docs, args.limit)
            start = time.perf_counter()
            m = reasoning.measure(explainer, docs)
            m["wall_s"] = time.perf_counter() - start
            rows.append((label, split, m))
            print(json.dumps({"model": label, "split": split} | m, ensure_ascii=False), flush=True)
    if rows:
        from clmer.explain.reasoning_rewards import REWARDS

        head = f"{'model':10} {'split':6} {'lang':4} {'n':>3} {'accepted':>8} {'mean':>6} {'d-2':>5} " + " ".join(
            f"{r[:6]:>6}" for r in REWARDS) + f" {'s/rep':>6}"
        print("\n" + head)
        for label, split, m in rows:
            for lang in ("en", "zh"):
                if lang in m:
                    x = m[lang]
                    print(f"{label:10} {split:6} {lang:4} {x['clips']:3d} {x['accepted']:8.2f} {x['mean_reward']:6.3f} "
                          f"{x['distinct_2']:5.2f} " + " ".join(f"{x[r]:6.2f}" for r in REWARDS)
                          + f" {m['seconds_per_report']:6.2f}")
            fails = {lang: m[lang]["failed"] for lang in ("en", "zh") if lang in m}
            print(f"{'':10} failed checks: {fails}")


if __name__ == "__main__":
    main()
