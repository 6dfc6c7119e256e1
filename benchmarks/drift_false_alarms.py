"""Drift monitoring on the demo: two drops made for the test (one from the training distribution, one shifted:
white noise at 0 dB SNR, frames at 15 % brightness, one language only) and the false-alarm rate on in-distribution
drops of new clips the model never saw.

    python benchmarks/drift_false_alarms.py --corpus clmer_data/demo/corpus --model clmer_data/demo/runs/train-*/model \\
        [--work clmer_data/bench-drift] [--drops 20] [--size 8] [--seed 2000] [--seed-store clmer_data/features]

The model folder is copied into --work and given its reference profile there (as registration would), so the
source is never written; --seed-store copies an existing feature store first, so the corpus clips' audio and
vision features are not computed again. New clips come from the demo generator with another seed (`--seed`):
`--drops` x `--size` clips for the in-distribution drops, one more drop's worth for the test drop and one for the
shifted drop. Each drop goes through extraction as scoring runs it (ASR included) and the same per-clip statistics
and report as `clmer score`; explanations are skipped (they do not enter the report).

In-distribution drops are drawn two ways: at random from the new clips (what the false-alarm rate is about),
and as runs of consecutive clips in the generator's order, where a drop holds a few speakers of one language
(a harder case: such a drop is not a random sample of the training distribution). Prints each drop's verdict
and what moved, then the false-alarm rates ('drift', and 'watch' or worse) of both.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np


def drop_rows(scorer, clips: list[Path]) -> list[dict]:
    from clmer.features.extract import ClipJob
    from clmer.monitor.clip_stats import clip_statistics

    features = scorer.extract([ClipJob(clip=c.name, path=str(c), root=str(c.parent)) for c in clips])
    return clip_statistics(features, scorer.predict_features(features), scorer.store)


def show(name: str, report: dict) -> None:
    langs = ", ".join(f"{k} {v}" for k, v in report["languages"].items())
    print(f"{name}: {report['verdict']:>7}  [{langs}]  {report['reason']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--model", required=True, type=Path, help="a trained model folder (fusion.safetensors + model.json)")
    ap.add_argument("--work", type=Path, default=Path("clmer_data/bench-drift"))
    ap.add_argument("--drops", type=int, default=20)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--seed-store", type=Path, help="a feature store to start from (copied, never written)")
    args = ap.parse_args()

    from clmer.config import load_settings
    from clmer.features.extract import chunked
    from clmer.monitor.drift import drift_report
    from clmer.monitor.profile import load_profile
    from clmer.serving.drift_watch import build_reference
    from clmer.serving.scoring import Scorer
    from clmer.synthetic.demo_corpus import make_demo_corpus
    from clmer.synthetic.shift import shift_clip

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    store = work / "features"
    if args.seed_store and not store.exists():
        shutil.copytree(args.seed_store, store)
    settings = load_settings(None, {"paths": {"feature_store": str(store)}})
    model = work / "model"
    if not (model / "model.json").exists():
        shutil.copytree(args.model, model)
    t = time.perf_counter()
    if load_profile(model) is None:
        build_reference(model, args.corpus, settings)
    profile = load_profile(model)
    print(f"reference: {profile['n_clips']} clips {profile['languages']} in {time.perf_counter() - t:.0f} s "
          f"(not recorded: {[s['name'] for s in profile['statistics'] if not any(v is not None for v in profile['values'].get(s['name'], [1]))]})",
          flush=True)

    n_new = (args.drops + 2) * args.size
    new = work / f"new-{args.seed}-{n_new}"
    if not (new / "label.csv").exists():
        t = time.perf_counter()
        make_demo_corpus(new, n=n_new, seed=args.seed, variant_fraction=0.25)
        print(f"{n_new} new clips (seed {args.seed}) in {time.perf_counter() - t:.0f} s", flush=True)
    import pandas as pd

    labels = pd.read_csv(new / "label.csv")
    paths = [new / "Raw" / str(r.video_id) / f"{int(r.clip_id):04d}.mp4" for r in labels.itertuples()]
    languages = labels["language"].tolist()
    scorer = Scorer(model, settings, model_version="benchmark")
    model_info = {"version": "benchmark", "uri": str(model), "alias": None}

    # The shifted drop: one language only, noise at 0 dB, frames at 15 % brightness, from clips of its own.
    lang = languages[0]
    pool = [p for p, la in zip(paths, languages) if la == lang]
    shift_src = pool[-args.size:]
    used = set(shift_src)
    in_order = [p for p in paths if p not in used]  # the generator's order: clips of one speaker side by side
    shuffled = [in_order[i] for i in np.random.default_rng(args.seed).permutation(len(in_order))]
    test_in = shuffled[:args.size]
    random_drops = [shuffled[args.size + i * args.size: args.size + (i + 1) * args.size] for i in range(args.drops)]
    rest = [p for p in in_order if p not in set(test_in)]
    speaker_drops = [rest[i * args.size: (i + 1) * args.size] for i in range(args.drops)]
    shifted = work / f"shifted-{args.seed}"
    shifted.mkdir(exist_ok=True)
    shifted_clips = []
    for i, src in enumerate(shift_src):
        dst = shifted / f"shifted_{i}.mp4"
        if not dst.exists():
            shift_clip(src, dst, snr_db=0.0, brightness=0.15, seed=i)
        shifted_clips.append(dst)

    t = time.perf_counter()
    rows: dict[Path, dict] = {}
    for chunk in chunked(shifted_clips + in_order, 16):  # every clip extracted once, as scoring would
        rows.update(zip(chunk, drop_rows(scorer, chunk)))
    print(f"{len(rows)} clips extracted in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    show("test drop, training distribution", drift_report(profile, [rows[c] for c in test_in], settings.drift,
                                                          "test-in", model_info))
    report = drift_report(profile, [rows[c] for c in shifted_clips], settings.drift, "test-shifted", model_info)
    show(f"test drop, shifted ({lang} only, 0 dB noise, 15 % brightness)", report)
    for a in report["analyses"]:
        moved = [f"{s['group']}/{s['name']} {s['effect']:.1f}" for s in a["statistics"] if s.get("level") == "drift"]
        print(f"    {a['name']}: {a['verdict']}; at drift (effect): {', '.join(moved) or '-'}")
    for kind, drops in (("random", random_drops), ("one-speaker-run (generator order)", speaker_drops)):
        verdicts = []
        for i, clips in enumerate(drops):
            rep = drift_report(profile, [rows[c] for c in clips], settings.drift, f"in-{i}", model_info)
            verdicts.append(rep["verdict"])
            show(f"{kind} in-distribution drop {i + 1:2d}", rep)
        n = len(verdicts)
        drift = sum(v == "drift" for v in verdicts)
        watch = sum(v in ("watch", "drift") for v in verdicts)
        print(f"false alarms on {n} {kind} in-distribution drops of {args.size} clips: drift {drift}/{n} = "
              f"{drift / n:.0%}, watch or drift {watch}/{n} = {watch / n:.0%}; unknown "
              f"{sum(v == 'unknown' for v in verdicts)}", flush=True)
    print(f"{(time.perf_counter() - t) / (2 * args.drops + 2):.2f} s per report")

if __name__ == "__main__":
    main()
