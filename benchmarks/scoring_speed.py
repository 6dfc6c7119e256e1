"""Scoring speed: seconds per clip of scoring a drop (extract with ASR, predict, explain, HTML) with an
empty and with a warm feature store, and the Prefect overhead share of the score_drop flow (ephemeral
server) against the same work without it.

    python benchmarks/scoring_speed.py --model RUN_OR_MODEL_DIR [--drop DIR] [--n 12] [--no-flow]

Needs a trained model folder (e.g. clmer_data/demo/runs/train-*/model after `make demo`). `--drop`:
score that folder (e.g. the demo drop, clmer_data/demo/Test_Data; it is only read) instead of `--n`
new clips. The encoders are loaded first, on a clip of its own, so the times are scoring only.
Everything is written under a temp folder that goes at the end. The script uses only
`pipeline.load_scorer` and `drop_scoring.score_drop`, so the same file measures older versions too.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--drop", type=Path, help="score this folder of videos (read only)")
    ap.add_argument("--n", type=int, default=12, help="without --drop: this many new demo clips")
    ap.add_argument("--no-flow", action="store_true", help="skip the score_drop flow measurement")
    args = ap.parse_args()

    from clmer import pipeline
    from clmer.config import load_settings
    from clmer.serving.drop_scoring import score_drop
    from clmer.synthetic.demo_corpus import make_demo_corpus

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_demo_corpus(tmp / "src", n=max(3, 1 if args.drop else args.n), seed=4242, variant_fraction=0.0)
        made = sorted((tmp / "src" / "Raw").rglob("*.mp4"))
        drop = args.drop
        if drop is None:
            drop = tmp / "drop"
            drop.mkdir()
            for i, clip in enumerate(made[: args.n]):
                shutil.copyfile(clip, drop / f"c{i:03d}.mp4")
        n = sum(1 for p in drop.rglob("*") if p.is_file() and not p.name.startswith("."))
        settings = load_settings(None, {"paths": {"feature_store": str(tmp / "fs_direct")}})
        t = time.perf_counter()
        scorer = pipeline.load_scorer(args.model, settings)
        warm = tmp / "warmup"
        warm.mkdir()
        shutil.copyfile(made[-1], warm / "w.mp4")  # not one of the drop's clips: the store stays empty for them
        score_drop(str(warm), scorer, tmp / "out_warmup", scorer.settings)  # loads the four encoders
        load = time.perf_counter() - t
        print(f"model + encoders load {load:.1f} s")
        for case in ("empty feature store", "warm feature store"):
            t = time.perf_counter()
            summary = score_drop(str(drop), scorer, tmp / f"out_{case.split()[0]}", scorer.settings)
            s = time.perf_counter() - t
            print(f"scoring {summary['scored']} clip(s) of {drop} ({case}; ASR, features, prediction, explanation, "
                  f"HTML): {s:.1f} s = {s / max(summary['scored'], 1):.2f} s/clip")
        if args.no_flow:
            return
        from flows.score_drop import score_drop as flow

        overrides = {"paths": {"feature_store": str(tmp / "fs_flow")}}
        t = time.perf_counter()
        flow(str(drop), args.model, str(tmp / "out_flow"), None, overrides)
        flow_s = time.perf_counter() - t
        print(f"score_drop flow on the {n} clip(s), empty store: {flow_s:.1f} s (ephemeral Prefect server start "
              "included; encoders already loaded)")
        t = time.perf_counter()
        flow(str(drop), args.model, str(tmp / "out_flow"), None, overrides)
        print(f"same drop again (all skipped): {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
