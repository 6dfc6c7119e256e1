"""Reasoning-LM runtimes on a CPU: tokens/s, seconds per report (one at a time and as a drop's batch),
peak RSS, and whether each reproduces the float32 transformers greedy output token for token.

    python benchmarks/explainer_runtime.py DOCS_DIR [--model NAME_OR_DIR] [--threads 2] [--batch 8]

DOCS_DIR holds explanation JSONs (e.g. a drop's `Test_Supplements/video_emotion_results/`). Each runtime
runs in its own process (so its peak RSS is its own); the first one (transformers float32) is the
reference whose token ids the others are compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

KINDS = ("transformers", "transformers-int8", "ctranslate2-int8", "ctranslate2-float32")


def one(kind: str, docs_dir: Path, model: str | None, threads: int, batch: int, ref: Path | None) -> dict:
    import torch

    from clmer.config import load_settings
    from clmer.explain.reasoning import load_runtime
    from clmer.explain.reasoning_decode import compose
    from clmer.explain.reasoning_prompts import facts

    torch.set_num_threads(threads)
    settings = load_settings(None, {"reasoning": {"threads": threads}})
    runtime_kind, _, compute = kind.partition("-")
    if runtime_kind == "ctranslate2":
        settings.reasoning.runtime, settings.reasoning.ct2_compute_type = "ctranslate2", compute
    else:
        settings.reasoning.runtime = kind
    start = time.perf_counter()
    runtime, tokenizer, name = load_runtime(model, settings)
    load_s = time.perf_counter() - start
    fs = [facts(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(docs_dir.glob("*.json"))]
    cfg = settings.reasoning
    kw = {"max_new": cfg.generate_max_new_tokens, "max_quotes": cfg.max_quotes, "repetition_penalty": cfg.repetition_penalty}
    compose(runtime, tokenizer, fs[:1], **kw)  # warm-up (first-call allocations)
    start = time.perf_counter()
    singles = [compose(runtime, tokenizer, [f], **kw)[0] for f in fs]
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = []
    for i in range(0, len(fs), batch):
        batched += compose(runtime, tokenizer, fs[i:i + batch], **kw)
    batch_s = time.perf_counter() - start
    tokens = sum(c.lm_tokens for c in singles)
    ids = [c.completion_ids for c in singles]
    out = {"runtime": kind, "model": name, "clips": len(fs), "load_s": round(load_s, 1),
           "tokens_per_s": round(tokens / single_s, 2), "s_per_report": round(single_s / len(fs), 2),
           "s_per_report_batched": round(batch_s / len(fs), 2), "batch": batch,
           "batch_equals_single": sum(a.completion_ids == b.completion_ids for a, b in zip(singles, batched)),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "texts": [c.text for c in singles[:3]], "ids": ids}
    if ref is not None and ref.exists():
        reference = json.loads(ref.read_text())["ids"]
        out["equal_to_reference"] = sum(a == b for a, b in zip(ids, reference))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("docs", type=Path)
    ap.add_argument("--model", default=None, help="explainer name in the store, a model dir or an adapter dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ref", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        result = one(args.one, args.docs, args.model, args.threads, args.batch, args.ref)
        args.out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        return
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "transformers.json"
        for kind in args.kinds.split(","):
            out = Path(tmp) / f"{kind}.json"
            cmd = [sys.executable, __file__, str(args.docs), "--one", kind, "--threads", str(args.threads),
                   "--batch", str(args.batch), "--out", str(out), "--ref", str(ref)] + (
                ["--model", args.model] if args.model else [])
            subprocess.run(cmd, check=True, env=os.environ | {"OMP_NUM_THREADS": str(args.threads)})
            row = json.loads(out.read_text())
            if kind == "transformers":
                ref.write_text(json.dumps(row))
            rows.append(row)
    print(f"{'runtime':22} {'tok/s':>7} {'s/report':>9} {'s/report@batch':>15} {'peak RSS MB':>12} {'= fp32 greedy':>14}")
    for r in rows:
        same = r["clips"] if r["runtime"] == "transformers" else r.get("equal_to_reference")
        same = f"{same}/{r['clips']}" if same is not None else "n/a (no fp32 run)"
        print(f"{r['runtime']:22} {r['tokens_per_s']:7.1f} {r['s_per_report']:9.2f} {r['s_per_report_batched']:15.2f} "
              f"{r['peak_rss_mb']:12d} {same:>14}")
    for r in rows:
        print(f"\n[{r['runtime']}] {r['model']}, load {r['load_s']} s, batch {r['batch']} equal to single: "
              f"{r['batch_equals_single']}/{r['clips']}")
        for t in r["texts"]:
            print("  " + t)


if __name__ == "__main__":
    main()
