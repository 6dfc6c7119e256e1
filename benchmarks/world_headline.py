"""The demo world's headline figures, one model seed per corpus seed:

* test WAR/UAR per language of the default pipeline trained on ASR text (`train.text_source: asr`, the
  default) and on the manifest's text, both scored on ASR text (what scoring sees);
* per-modality WAR (each modality alone) of the ASR-text model;
* cross-lingual retention (zero-shot, adaptation, joint; both directions) with 95 % bootstrap intervals.

    python benchmarks/world_headline.py CORPUS [CORPUS ...] --out clmer_data/bench/headline [--no-cross]

Each corpus should be a demo corpus of its own seed (`clmer demo-data DIR --seed K`); the models use the
small profile (real whisper-base, e5, eGeMAPS, FER). Tables are printed and written as CSV under --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def _settings(out: Path, text_source: str, seed: int):
    from clmer.config import load_settings

    return load_settings(None, {"paths": {"feature_store": str(out / "features"), "runs": str(out / "runs")},
                                "models": {"profile": "small"}, "train": {"text_source": text_source, "seed": seed}})


def _evaluate(model, test, train_classes, device: str) -> dict:
    from clmer.model.evaluate import evaluate

    report = evaluate(model, test, train_classes, device, shapley=False)
    row = {}
    for split, entry in report["splits"].items():
        row[f"WAR_{split}"] = entry["model"]["war"]
        row[f"UAR_{split}"] = entry["model"]["uar"]
        row[f"majority_WAR_{split}"] = entry["majority"]["war"]
        for m, v in entry.get("single_modality", {}).items():
            row[f"only_{m}_WAR_{split}"] = v.get("war", float("nan"))
    return row


def run_corpus(corpus: Path, out: Path, seed: int, cross: bool) -> tuple[list[dict], list[dict]]:
    from clmer import pipeline
    from clmer.model import cross_lingual
    from clmer.model.train import train, train_device

    work = out / corpus.name
    features = {src: pipeline.extract(corpus, _settings(out, src, seed), work / f"extract_{src}")
                for src in ("asr", "manifest")}
    device = train_device("auto")
    asr_settings = _settings(out, "asr", seed)
    scored_on = pipeline.load_splits(corpus, features["asr"], asr_settings)  # ASR text: what scoring sees
    rows = []
    for src in ("asr", "manifest"):
        s = _settings(out, src, seed)
        splits = pipeline.load_splits(corpus, features[src], s)
        result = train(splits["train"], splits["valid"], s, work / f"train_{src}")
        test = pipeline.load_splits(corpus, features["asr"], asr_settings, dims=result.model.dims)["test"] \
            if src != "asr" else scored_on["test"]
        classes = splits["train"].frame["class_index"].to_numpy()
        rows.append({"corpus": corpus.name, "seed": seed, "training_text": src} | _evaluate(result.model, test, classes, device))
        print(pd.DataFrame([rows[-1]]).round(3).T.to_string(header=False), flush=True)
    cross_rows = cross_lingual.run_seed(scored_on, asr_settings, seed, work / "cross_lingual") if cross else []
    return rows, [r | {"corpus": corpus.name} for r in cross_rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("clmer_data/bench/headline"))
    ap.add_argument("--no-cross", action="store_true", help="skip the cross-lingual protocols")
    ap.add_argument("--tables", type=Path, nargs="*", default=[], help="earlier runs' --out folders to add to the tables")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, cross = [], []
    for folder in args.tables:  # corpora measured by an earlier run (one corpus seed per run spreads the work)
        rows += pd.read_csv(folder / "in_language.csv").to_dict("records")
        if (folder / "cross_lingual.csv").stat().st_size > 1:
            cross += pd.read_csv(folder / "cross_lingual.csv").to_dict("records")
    for corpus in args.corpora:
        seed = int(json.loads((corpus / "corpus.json").read_text(encoding="utf-8")).get("seed", 0))
        r, c = run_corpus(corpus, args.out, seed, not args.no_cross)
        rows += r
        cross += c
        pd.DataFrame(rows).to_csv(args.out / "in_language.csv", index=False)
        pd.DataFrame(cross).to_csv(args.out / "cross_lingual.csv", index=False)
    frame = pd.DataFrame(rows)
    numeric = [c for c in frame.columns if c not in ("corpus", "seed", "training_text")]
    print(f"== in-language test split, {len(args.corpora)} corpus seeds, scored on ASR text (mean ± std) ==")
    summary = frame.groupby("training_text")[numeric].agg(lambda v: f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}")
    print(summary.T.to_string())
    for lang in ("zh", "en"):
        gap = frame.pivot(index="corpus", columns="training_text", values=f"WAR_{lang}")
        diff = gap["asr"] - gap["manifest"]
        print(f"{lang}: fused WAR, ASR-text model minus manifest-text model: {diff.mean():+.3f} ± "
              f"{diff.std(ddof=1) if len(diff) > 1 else 0:.3f} (goal: within 0.03)")
    if cross:
        c = pd.DataFrame(cross)
        cols = ["corpus", "train", "test", "protocol", "in_language_WAR", "cross_WAR", "retention", "retention_lo",
                "retention_hi", "cross_only_text_WAR", "cross_only_audio_WAR", "cross_only_vision_WAR"]
        print("== cross-lingual (ASR text), per corpus seed, 95 % bootstrap interval of retention ==")
        print(c[cols].round(3).to_string(index=False))
        agg = c.groupby(["train", "test", "protocol"])[["retention", "retention_lo", "retention_hi", "cross_WAR"]].mean()
        print("== mean over corpus seeds ==")
        print(agg.round(3).to_string())


if __name__ == "__main__":
    main()
