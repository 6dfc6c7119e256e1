"""Extraction speed and memory: per stage seconds per minute of video, cold vs. cache-hit,
Prefect overhead as a share of wall time, peak RSS.

    python benchmarks/extract_speed.py [--n 24] [--profile tiny]

Uses the model store of the current settings (CLMER_HOME); with --profile tiny it builds the tiny
profile there first if it is missing.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, kids_kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--profile", default="tiny", choices=["tiny", "small", "full"])
    ap.add_argument("--no-prefect", action="store_true", help="Skip the Prefect overhead measurement.")
    args = ap.parse_args()

    from clmer.data import media
    from clmer.config import load_settings
    from clmer.synthetic.demo_corpus import make_demo_corpus
    from clmer.features.encoders import get_extractor
    from clmer.features.extract import extract_chunk, plan_jobs
    from clmer.features.feature_store import FeatureStore
    from clmer.features.model_store import ModelMissingError, ModelStore
    from clmer.synthetic.tiny import install_tiny_profile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = load_settings(overrides={"models": {"profile": args.profile},
                                            "paths": {"feature_store": str(tmp / "fs"), "runs": str(tmp / "runs")}})
        store = ModelStore(settings.paths.resolved_model_store())
        if args.profile == "tiny":
            try:
                store.resolve("tiny-siglip", "vision")
            except ModelMissingError:
                install_tiny_profile(store)
        corpus = tmp / "corpus"
        make_demo_corpus(corpus, n=args.n, seed=0)
        jobs, _ = plan_jobs(corpus, settings)

        t = time.perf_counter()
        extractors = {r: get_extractor(r, settings) for r in ("asr", "text", "audio", "vision")}
        load_s = time.perf_counter() - t

        stage = {k: 0.0 for k in ("decode", "asr", "text", "audio", "vision")}
        minutes = 0.0
        for job in jobs:
            t = time.perf_counter()
            d = media.decode_for(job.path, settings)
            stage["decode"] += time.perf_counter() - t
            minutes += d.duration_s / 60
            for role, call in (("asr", lambda: extractors["asr"].extract(d.audio)),
                               ("text", lambda: extractors["text"].extract(job.transcript or "")),
                               ("audio", lambda: extractors["audio"].extract(d.audio)),
                               ("vision", lambda: extractors["vision"].extract(d.frames, d.frame_times))):
                t = time.perf_counter()
                call()
                stage[role] += time.perf_counter() - t
        print(f"profile={args.profile} clips={len(jobs)} media={minutes:.2f} min  model load {load_s:.1f} s")
        print("per stage, seconds per minute of video (warm models):")
        for k, v in stage.items():
            print(f"  {k:<7} {v / minutes:8.3f}")

        fs = FeatureStore(settings.paths.feature_store)
        t = time.perf_counter()
        extract_chunk(jobs, settings, fs)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        extract_chunk(jobs, settings, fs)
        hit = time.perf_counter() - t
        print(f"extract (manifest transcripts, no ASR): cold {cold:.2f} s ({cold / minutes:.3f} s/min), "
              f"cache hit {hit:.2f} s ({hit / minutes:.3f} s/min), cold/hit = {cold / hit:.1f}x")

        if args.no_prefect:
            print(f"peak RSS {rss_mb():.0f} MB")
            return
        from flows.extract import extract_flow

        overrides = {"models": {"profile": args.profile},
                     "paths": {"feature_store": str(tmp / "fs2"), "runs": str(tmp / "runs")}}
        direct_settings = load_settings(overrides=overrides)
        t = time.perf_counter()
        extract_chunk(jobs, direct_settings, FeatureStore(direct_settings.paths.feature_store))
        direct = time.perf_counter() - t
        overrides["paths"]["feature_store"] = str(tmp / "fs3")
        t = time.perf_counter()
        extract_flow(str(corpus), str(tmp / "flowrun"), None, overrides)
        flow_s = time.perf_counter() - t
        overrides["paths"]["feature_store"] = str(tmp / "fs4")
        t = time.perf_counter()
        extract_flow(str(corpus), str(tmp / "flowrun2"), None, overrides)
        warm_flow = time.perf_counter() - t
        print(f"prefect, first flow run: {flow_s:.2f} s vs direct {direct:.2f} s -> overhead "
              f"{100 * (flow_s - direct) / flow_s:.0f}% of wall time (includes starting the ephemeral server)")
        print(f"prefect, second flow run (server up): {warm_flow:.2f} s -> overhead "
              f"{100 * (warm_flow - direct) / warm_flow:.0f}% of wall time")
        print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
