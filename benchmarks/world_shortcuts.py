"""Shortcut audit of a demo corpus: can a trivial statistic of the clip read its label?

For each statistic (clip duration, loudness, mean pitch, mean face colour and brightness, the share of
near-white pixels, the speaker's identity, the sentence's length) a depth-2 decision tree is fitted on
the train split and scored on the test split (WAR, overall and per language), beside the majority
baseline (the train split's most common class). A believable world keeps every one within 10 points
of the majority: the label must be read from what the clip says and shows, not from who or how long.

    python benchmarks/world_shortcuts.py CORPUS [CORPUS ...]

With several corpora (e.g. three corpus seeds), each is audited alone and the mean and spread printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

STATISTICS = ("duration", "loudness", "mean_pitch", "face_red", "face_green", "face_blue", "brightness",
              "white_pixels", "sentence_length")


def clip_statistics(path: Path, text: str) -> dict[str, float]:
    """The trivial statistics of one clip, from its decoded audio and frames."""
    import parselmouth

    from clmer.data import media

    d = media.decode(path)
    audio = d.audio.astype(np.float64)
    pitch = parselmouth.Sound(audio, sampling_frequency=d.sample_rate).to_pitch().selected_array["frequency"]
    voiced = pitch[pitch > 0]
    frames = np.stack(d.frames).astype(np.float32) if d.frames else np.zeros((1, 2, 2, 3), np.float32)
    return {
        "duration": d.duration_s,
        "loudness": float(20 * np.log10(np.sqrt(np.mean(audio ** 2)) + 1e-9)),
        "mean_pitch": float(12 * np.log2(np.mean(voiced) / 100.0)) if len(voiced) else 0.0,
        "face_red": float(frames[..., 0].mean()), "face_green": float(frames[..., 1].mean()),
        "face_blue": float(frames[..., 2].mean()), "brightness": float(frames.mean()),
        "white_pixels": float((frames.min(axis=-1) > 220).mean()),
        "sentence_length": float(len(text.replace(" ", ""))),
    }


def _war(gold: np.ndarray, pred: np.ndarray) -> float:
    return float((gold == pred).mean()) if len(gold) else float("nan")


def audit(corpus: Path) -> pd.DataFrame:
    from sklearn.tree import DecisionTreeClassifier

    from clmer.data.corpus import read_corpus

    c = read_corpus(corpus, strict=False)
    m = c.manifest
    labels = pd.read_csv(corpus / "label.csv", keep_default_na=False, dtype=str)
    speakers = dict(zip(labels["video_id"] + "/" + labels["clip_id"], labels.get("speaker", labels["video_id"])))
    stats = pd.DataFrame([clip_statistics(c.root / r.media_path, r.text) for r in m.itertuples()])
    frame = pd.concat([m[["video_id", "clip_id", "mode", "language", "class_index"]].reset_index(drop=True), stats], axis=1)
    frame["speaker"] = (frame["video_id"] + "/" + frame["clip_id"]).map(speakers)
    train, test = frame[frame["mode"] == "train"], frame[frame["mode"] == "test"]
    majority = int(train["class_index"].mode()[0])
    rows = [{"predictor": "majority", **_scores(test, np.full(len(test), majority))}]
    for name in STATISTICS:
        tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(train[[name]], train["class_index"])
        rows.append({"predictor": name, **_scores(test, tree.predict(test[[name]]))})
    colour = ["face_red", "face_green", "face_blue", "brightness", "white_pixels"]
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(train[colour], train["class_index"])
    rows.append({"predictor": "face colour + white pixels (depth 3)", **_scores(test, tree.predict(test[colour]))})
    # Speaker identity: the class a speaker mostly had in training (test speakers are new: the majority).
    by_speaker = train.groupby("speaker")["class_index"].agg(lambda s: int(s.mode()[0]))
    rows.append({"predictor": "speaker id", **_scores(test, test["speaker"].map(by_speaker).fillna(majority).to_numpy())})
    out = pd.DataFrame(rows)
    out["vs_majority"] = out["war"] - out.loc[0, "war"]
    return out


def _scores(test: pd.DataFrame, pred: np.ndarray) -> dict[str, float]:
    gold = test["class_index"].to_numpy()
    out = {"war": _war(gold, pred), "n": len(gold)}
    for lang in ("zh", "en"):
        mask = (test["language"] == lang).to_numpy()
        out[f"war_{lang}"] = _war(gold[mask], np.asarray(pred)[mask])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+", type=Path)
    args = ap.parse_args()
    tables = []
    for corpus in args.corpora:
        table = audit(corpus).assign(corpus=corpus.name)
        print(f"== {corpus} (test split, n={int(table.loc[0, 'n'])}) ==")
        print(table.drop(columns=["corpus", "n"]).round(3).to_string(index=False))
        tables.append(table)
    if len(tables) > 1:
        all_rows = pd.concat(tables)
        summary = all_rows.groupby("predictor", sort=False)[["war", "vs_majority"]].agg(["mean", "std"]).round(3)
        print(f"== over {len(tables)} corpora ==")
        print(summary.to_string())
    worst = max(float(t["vs_majority"].iloc[1:].max()) for t in tables)
    print(f"largest gain of a trivial predictor over the majority: {worst:+.3f} "
          f"({'within' if worst <= 0.10 else 'ABOVE'} the 10-point goal)")


if __name__ == "__main__":
    main()
