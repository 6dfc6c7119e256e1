"""Are the explanations faithful and readable? The numbers issue 25 asks for, on a trained run's clips.

    python benchmarks/explanation_faithfulness.py --run TRAIN_RUN --corpus CORPUS --features FEATURES.parquet \
        [--feature-store DIR] [--splits valid,test]

Per split (and per language where it matters), over the clips the run's model explains:
* emotion word in the top-3 words: on text-carrier clips (variant "text": the words carry the emotion,
  voice and face are neutral), how often one of the sentence's emotion words (label.csv's
  `emotion_words`) is among the three highest-scoring words, ranked over every word (no stop-word filter);
* comprehensiveness / sufficiency of the top-3 items vs 3 random items, per modality (log-odds falls),
  and the ratio of the means;
* share of clips flagged "no better than random" (any modality with a share whose top items remove no
  more than random ones);
* key words summing to the text share: the shown words' shares against the text share (within 15 %);
* stop words among the top-3 words (ranked over every word).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def explain(run: Path, corpus: Path, features: Path, split: str, settings) -> list[tuple[dict, dict]]:
    import pandas as pd

    from clmer.data.corpus import read_corpus
    from clmer.serving.scoring import Scorer

    scorer = Scorer(run / "model", settings)
    scorer.use_lm = False
    manifest = read_corpus(corpus, strict=False).manifest
    part = manifest[manifest["mode"] == split].assign(clip=lambda d: d["video_id"].astype(str) + "/" + d["clip_id"].astype(str))
    labels = pd.read_csv(corpus / "label.csv", dtype={"video_id": str, "clip_id": str})
    labels["clip"] = labels["video_id"] + "/" + labels["clip_id"]
    meta = labels.set_index("clip").to_dict("index")
    frame = pd.read_parquet(features)
    out = []
    for r in frame.itertuples():
        if r.status != "failed" and r.clip in set(part["clip"]):
            out.append((scorer.explain_row(r), meta.get(r.clip, {})))
    return out


def measure(pairs: list[tuple[dict, dict]]) -> dict:
    from clmer.explain.stopwords import is_stop_word

    res: dict = {"clips": len(pairs)}
    for lang in ("en", "zh"):
        hits = []
        for doc, meta in pairs:
            if meta.get("variant") != "text" or doc.get("language") != lang or not isinstance(meta.get("emotion_words"), str):
                continue
            ranked = sorted(doc["item_attributions"]["text"], key=lambda w: -w["score"])[:3]
            wanted = meta["emotion_words"].split("|")
            hits.append(any(any(e in w["word"] or w["word"] in e for e in wanted) and len(w["word"]) > 0
                            for w in ranked))
        res[f"emotion_word_top3_{lang}"] = (float(np.mean(hits)) if hits else float("nan"), len(hits))
    for m in ("text", "audio", "vision"):
        checks = [d["faithfulness"][m] for d, _ in pairs if d["faithfulness"].get(m)]
        if checks:
            comp, rcomp = np.mean([c["comprehensiveness"] for c in checks]), np.mean([c["random_comprehensiveness"] for c in checks])
            res[f"{m}_comprehensiveness"] = round(float(comp), 4)
            res[f"{m}_random_comprehensiveness"] = round(float(rcomp), 4)
            res[f"{m}_comprehensiveness_ratio"] = round(float(comp / rcomp), 2) if rcomp > 1e-9 else float("nan")
            res[f"{m}_sufficiency"] = round(float(np.mean([c["sufficiency"] for c in checks])), 4)
            res[f"{m}_random_sufficiency"] = round(float(np.mean([c["random_sufficiency"] for c in checks])), 4)
            res[f"{m}_better_than_random"] = round(float(np.mean([c["better_than_random"] for c in checks])), 3)
    res["flagged_share"] = round(float(np.mean([bool(d["faithfulness"]["flagged"]) for d, _ in pairs])), 3)
    sums = []
    for d, _ in pairs:
        share = d["modality_shares"]["text"]
        if share > 0.05 and d["top_words"]:
            sums.append(abs(sum(w["share"] for w in d["top_words"]) - share) <= 0.15 * share)
    res["key_words_sum_within_15pct"] = (round(float(np.mean(sums)), 3) if sums else float("nan"), len(sums))
    top3 = [w for d, _ in pairs for w in sorted(d["item_attributions"]["text"], key=lambda w: -w["score"])[:3]]
    res["stop_words_in_top3"] = round(float(np.mean([is_stop_word(w["word"]) for w in top3])), 3) if top3 else float("nan")
    res["unsupported_share"] = round(float(np.mean([not d["attribution"]["supported"] for d, _ in pairs])), 3)
    ig = [d["attribution"]["text_completeness"].get("relative_error") for d, _ in pairs]
    ig = [x for x in ig if x is not None]
    res["ig_completeness_median_rel_error"] = round(float(np.median(ig)), 4) if ig else float("nan")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--feature-store", type=Path, default=None)
    ap.add_argument("--splits", default="valid,test")
    args = ap.parse_args()

    from clmer.config import load_settings

    overrides: dict = {"models": {"profile": "small"}}
    if args.feature_store:
        overrides["paths"] = {"feature_store": str(args.feature_store)}
    settings = load_settings(None, overrides)
    for split in args.splits.split(","):
        print(json.dumps({"split": split, **measure(explain(args.run, args.corpus, args.features, split, settings))}))


if __name__ == "__main__":
    main()
