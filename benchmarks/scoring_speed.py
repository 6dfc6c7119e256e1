"""Scoring speed: per-clip time of scoring a drop (extract with ASR, predict, explain, HTML), and the
Prefect overhead share of the score_drop flow (ephemeral server) against the same work without it.

    python benchmarks/scoring_speed.py --model RUN_OR_MODEL_DIR [--n 12]

Needs a trained model folder (e.g. clmer_data/demo/runs/train-*/model after `make demo`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=12)
    args = ap.parse_args()

    from clmer import pipeline
    from clmer.config import load_settings
    from clmer.synthetic.demo_corpus import make_demo_corpus
    from clmer.serving.drop_scoring import score_drop

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_demo_corpus(tmp / "src", n=args.n, seed=4242, variant_fraction=0.0)
        drops = {}
        for name in ("direct", "flow"):
            drops[name] = tmp / f"drop_{name}"
            drops[name].mkdir()
            for i, clip in enumerate(sorted((tmp / "src" / "Raw").rglob("*.mp4"))):
                (drops[name] / f"c{i:03d}.mp4").write_bytes(clip.read_bytes())
        overrides = {"paths": {"feature_store": str(tmp / "fs_direct")}}
        settings = load_settings(None, overrides)
        t = time.perf_counter()
        scorer = pipeline.load_scorer(args.model, settings)
        load = time.perf_counter() - t
        warm = tmp / "warmup"
        warm.mkdir()
        (warm / "w.mp4").write_bytes(next(drops["direct"].iterdir()).read_bytes())
        t = time.perf_counter()
        score_drop(str(warm), scorer, tmp / "out_warm", scorer.settings)  # loads the four encoders
        load += time.perf_counter() - t
        t = time.perf_counter()
        score_drop(str(drops["direct"]), scorer, tmp / "out_direct", scorer.settings)
        cold = time.perf_counter() - t
        print(f"model + encoders load {load:.1f} s; scoring {args.n} new clips (ASR, features, prediction, "
              f"explanation, HTML): {cold:.1f} s = {cold / args.n:.2f} s/clip")

        from flows.score_drop import score_drop as flow

        overrides = {"paths": {"feature_store": str(tmp / "fs_flow")}}
        t = time.perf_counter()
        flow(str(drops["flow"]), args.model, str(tmp / "out_flow"), None, overrides)
        flow_s = time.perf_counter() - t
        print(f"score_drop flow on as many new clips: {flow_s:.1f} s (ephemeral Prefect server start included; "
              f"encoders already loaded) -> Prefect overhead {100 * (flow_s - cold) / flow_s:.0f}% of wall time")
        t = time.perf_counter()
        flow(str(drops["flow"]), args.model, str(tmp / "out_flow"), None, overrides)
        print(f"same drop again (all skipped): {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
