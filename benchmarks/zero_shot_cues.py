"""Zero-shot sanity for the small profile's real models: no training, fixed rules, the demo test split.

* FER alone: each clip's mean expression probabilities; happy -> positive, neutral -> neutral,
  angry + disgust + fear + sad -> negative; the largest of the three wins.
* eGeMAPS pitch alone: the clip's mean F0 (semitones) as a z-score against the training clips
  (the only statistic used); above +0.5 -> positive, below -0.5 -> negative, else neutral.

    python benchmarks/zero_shot_cues.py --corpus DIR --features features.parquet
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--features", required=True)
    args = ap.parse_args()

    from clmer import pipeline
    from clmer.config import load_settings
    from clmer.model.metrics import classification, majority_baseline

    settings = load_settings()
    splits = pipeline.load_splits(args.corpus, args.features, settings)
    test, train = splits["test"], splits["train"]
    y = test.frame["class_index"].to_numpy()

    def fer_rule(clip) -> int:
        cue = clip.cues["vision"]
        probs = np.asarray(cue["scores"]).mean(0)
        lab = list(cue["labels"])
        neg = sum(probs[lab.index(k)] for k in ("angry", "disgust", "fear", "sad"))
        return int(np.argmax([neg, probs[lab.index("neutral")], probs[lab.index("happy")]]))

    def pitch(clip) -> float:
        cue = clip.cues["audio"]
        return float(np.asarray(cue["scores"]).reshape(-1)[list(cue["labels"]).index("pitch_level")])

    ref = np.array([pitch(c) for c in train.clips if c.present[1]])
    mean, std = ref.mean(), ref.std()

    def pitch_rule(clip) -> int:
        z = (pitch(clip) - mean) / std
        return 2 if z > 0.5 else 0 if z < -0.5 else 1

    has_v = np.array([c.present[2] for c in test.clips])
    has_a = np.array([c.present[1] for c in test.clips])
    fer = classification(y[has_v], np.array([fer_rule(c) for c, h in zip(test.clips, has_v) if h]))
    pit = classification(y[has_a], np.array([pitch_rule(c) for c, h in zip(test.clips, has_a) if h]))
    maj = majority_baseline(train.frame["class_index"].to_numpy(), y)
    print(f"test clips: {len(y)}")
    print(f"FER expressions alone:  WAR {fer['war']:.3f}  UAR {fer['uar']:.3f}")
    print(f"eGeMAPS pitch alone:    WAR {pit['war']:.3f}  UAR {pit['uar']:.3f}")
    print(f"majority baseline:      WAR {maj['war']:.3f}  UAR {maj['uar']:.3f}   (chance 0.333)")
    for name, mask in (("label_V", "vision"), ("label_A", "audio")):
        carried = test.frame["variant"].isin(["all", mask]).to_numpy()
        if carried.any():
            idx = np.flatnonzero(carried & (has_v if mask == "vision" else has_a))
            rule = fer_rule if mask == "vision" else pitch_rule
            m = classification(y[idx], np.array([rule(test.clips[i]) for i in idx]))
            print(f"  on clips whose {mask} carries the label: WAR {m['war']:.3f}")


if __name__ == "__main__":
    main()
