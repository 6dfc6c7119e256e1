"""Corpora in the MMSA layout: `label.csv` + `Raw/<video_id>/<clip_id>.<ext>`.

Two flavours: CH-SIMS v2 (labels in [-1, 1], with label_T/A/V; Chinese) and CMU-MOSEI
(labels in [-3, 3]; English). A `language` column, when present, wins over the flavour's
language (the demo corpus and users' own clips carry one). An optional `corpus.json` beside
`label.csv` names the flavour, so a corpus says what it is.

The reader refuses bad corpora with a report that names every bad row and why, instead of
training on a corpus that is quietly wrong. Media reached through a link that leaves the corpus
(`Raw/` itself, a video folder or a clip) is refused like a bad row, unless its folder is listed in
`paths.external_media` (env `CLMER_EXTERNAL_MEDIA`) by a user who keeps media elsewhere: a corpus
cannot make CLMER read files outside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from clmer.data import labels

MODES = ("train", "valid", "test")
REQUIRED_COLUMNS = ("video_id", "clip_id", "text", "label", "mode")
MODALITY_LABEL_COLUMNS = ("label_T", "label_A", "label_V")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".mpg", ".mpeg", ".ts", ".wmv")
# Columns every manifest has after reading, in this order (the manifest data contract checks them).
MANIFEST_COLUMNS = (
    "video_id", "clip_id", "text", "label", "label_T", "label_A", "label_V", "annotation", "mode",
    "language", "polarity", "class_index", "label_norm", "variant", "media_path", "flavour",
)


@dataclass(frozen=True)
class RowIssue:
    """One rejected row: `row` is the 1-based line number in label.csv (the header is line 1)."""

    row: int
    video_id: str
    clip_id: str
    reason: str

    def __str__(self) -> str:
        return f"label.csv line {self.row} ({self.video_id}/{self.clip_id}): {self.reason}"


class CorpusError(ValueError):
    """A corpus that cannot be used as it is; `issues` names every bad row."""

    def __init__(self, root: Path, issues: list[RowIssue], message: str | None = None):
        self.root = root
        self.issues = issues
        head = message or f"corpus {root} has {len(issues)} bad row(s)"
        lines = [head] + [f"  - {issue}" for issue in issues[:50]]
        if len(issues) > 50:
            lines.append(f"  ... and {len(issues) - 50} more")
        super().__init__("\n".join(lines))


@dataclass
class Corpus:
    root: Path
    flavour: labels.Flavour
    manifest: pd.DataFrame  # the accepted rows, with derived columns
    issues: list[RowIssue] = field(default_factory=list)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)  # bad rows + `reason`
    all_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # every row as read (lenient derivation)

    @property
    def name(self) -> str:
        return self.root.name

    def media_file(self, row: pd.Series) -> Path:
        return self.root / row["media_path"]

    def digest(self) -> str:
        """Identity of the labelled data: label.csv bytes plus every media file's path and size."""
        h = hashlib.sha256((self.root / "label.csv").read_bytes())
        for rel in sorted(self.manifest["media_path"]):
            h.update(rel.encode())
            h.update(str((self.root / rel).stat().st_size).encode())
        return h.hexdigest()


def detect_flavour(root: Path, frame: pd.DataFrame | None = None) -> labels.Flavour:
    """`corpus.json` if present; else CH-SIMS v2 if per-modality labels exist (MOSEI has none);
    else by label range (anything beyond +-1 means MOSEI's scale)."""
    sidecar = root / "corpus.json"
    if sidecar.exists():
        flavour = json.loads(sidecar.read_text(encoding="utf-8")).get("flavour")
        if flavour not in labels.LABEL_RANGE:
            raise CorpusError(root, [], f"{sidecar}: unknown flavour {flavour!r}")
        return flavour
    if frame is not None:
        if any(c in frame.columns for c in MODALITY_LABEL_COLUMNS):
            return "chsims2"
        values = pd.to_numeric(frame["label"], errors="coerce")
        if (values.abs() > 1.0).any():
            return "mosei"
    return "chsims2"


MediaKey = tuple[str, str]


def _index_media(root: Path, external: Sequence[str | Path]) -> tuple[dict[MediaKey, str], dict[MediaKey, str]]:
    """One listing of Raw/ instead of a glob per row: ((video_id, clip stem) -> media path,
    (video_id, clip stem) -> why it is refused). A clip reached through links is recorded by where
    it really is: relative to the corpus if inside it (then opened there without links), absolute
    if inside an allowed external folder; anywhere else it is refused."""
    index: dict[MediaKey, str] = {}
    refused: dict[MediaKey, str] = {}
    raw = root / "Raw"
    if not raw.is_dir():
        return index, refused
    real_root = Path(os.path.realpath(root))
    allowed = [Path(os.path.realpath(p)) for p in external]
    for video_dir in sorted(p for p in raw.iterdir() if p.is_dir()):
        for f in sorted(video_dir.iterdir()):
            if f.suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            key, shown = (video_dir.name, f.stem), f"Raw/{video_dir.name}/{f.name}"
            real = Path(os.path.realpath(f))
            if not f.is_file():
                refused.setdefault(key, f"media {shown} is not a regular file; only regular files are read")
            elif real.is_relative_to(real_root):
                index.setdefault(key, real.relative_to(real_root).as_posix())
            elif any(real.is_relative_to(a) for a in allowed):
                index.setdefault(key, str(real))
            else:
                refused.setdefault(key, f"media {shown} links out of the corpus (to {real}); refused "
                                        "(list its folder in paths.external_media / CLMER_EXTERNAL_MEDIA to allow it)")
    return index, refused


def read_corpus(root: str | Path, flavour: labels.Flavour | None = None, strict: bool = True,
                external_media: Sequence[str | Path] | None = None) -> Corpus:
    """Read and check an MMSA-layout corpus.

    With `strict`, any bad row raises `CorpusError` naming all of them. Otherwise bad rows move to
    `Corpus.rejected` (with a `reason` column) and the rest is returned. `external_media`: folders
    outside the corpus its media links may point into (`settings.paths.external_media`; default none).
    """
    root = Path(root)
    label_csv = root / "label.csv"
    if not label_csv.is_file():
        raise CorpusError(root, [], f"{label_csv}: no label.csv (expected the MMSA layout)")
    frame = pd.read_csv(label_csv, dtype=str, keep_default_na=False, encoding="utf-8")
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing_cols:
        raise CorpusError(root, [], f"{label_csv}: missing column(s) {missing_cols}")
    flavour = flavour or detect_flavour(root, frame)
    if flavour not in labels.LABEL_RANGE:
        raise CorpusError(root, [], f"unknown flavour {flavour!r}")

    frame = _normalise_columns(frame, flavour)
    media, refused = _index_media(root, external_media or [])
    frame["media_path"] = [media.get(key, "") for key in zip(frame["video_id"], frame["clip_id"])]
    reasons = _row_reasons(frame, flavour, refused)
    issues = [
        RowIssue(int(i) + 2, frame.at[i, "video_id"], frame.at[i, "clip_id"], "; ".join(rs))
        for i, rs in sorted(reasons.items())
    ]
    bad = sorted(reasons)
    rejected = frame.loc[bad].assign(reason=["; ".join(reasons[i]) for i in bad])
    if strict and issues:
        raise CorpusError(root, issues)
    good = _derive(frame.drop(index=bad), flavour).reset_index(drop=True)
    return Corpus(root=root, flavour=flavour, manifest=good, issues=issues, rejected=rejected,
                  all_rows=_derive(frame, flavour))


def corpus_of(corpus: "Corpus | str | Path", external_media: Sequence[str | Path] | None = None,
              flavour: labels.Flavour | None = None) -> Corpus:
    """`corpus` itself, or the corpus in that folder read now (leniently): a caller that has read it
    passes it on, so one call reads it once."""
    if isinstance(corpus, Corpus):
        return corpus
    return read_corpus(corpus, flavour=flavour, strict=False, external_media=external_media)


def _normalise_columns(frame: pd.DataFrame, flavour: labels.Flavour) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("video_id", "clip_id", "text", "mode"):
        frame[col] = frame[col].astype(str).str.strip() if col != "text" else frame[col].astype(str)
    for col in MODALITY_LABEL_COLUMNS:
        if col not in frame.columns:
            frame[col] = ""
    if "annotation" not in frame.columns:
        frame["annotation"] = ""
    if "language" not in frame.columns:
        frame["language"] = labels.DEFAULT_LANGUAGE[flavour]
    frame["language"] = frame["language"].replace("", labels.DEFAULT_LANGUAGE[flavour]).str.lower()
    if "variant" not in frame.columns:
        frame["variant"] = "all"
    frame["variant"] = frame["variant"].replace("", "all")
    return frame


def _row_reasons(frame: pd.DataFrame, flavour: labels.Flavour, refused: dict[MediaKey, str]) -> dict[int, list[str]]:
    lo, hi = labels.LABEL_RANGE[flavour]
    reasons: dict[int, list[str]] = {}

    def add(i: int, reason: str) -> None:
        reasons.setdefault(i, []).append(reason)

    for col in ("label",) + MODALITY_LABEL_COLUMNS:
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        for i in frame.index:
            if col != "label" and raw[i] == "":
                continue  # modality labels are optional (MOSEI has none)
            v = values[i]
            if pd.isna(v):
                add(i, f"{col} {raw[i]!r} is not a number")
            elif not lo <= v <= hi:
                add(i, f"{col} {v:g} outside [{lo:g}, {hi:g}] for {flavour}")
    for i in frame.index[~frame["mode"].isin(MODES)]:
        add(i, f"unknown mode {frame.at[i, 'mode']!r} (expected one of {', '.join(MODES)})")
    for i in frame.index[~frame["language"].isin(labels.LANGUAGES)]:
        add(i, f"unknown language {frame.at[i, 'language']!r} (expected zh or en)")
    for i in frame.index[(frame["video_id"] == "") | (frame["clip_id"] == "")]:
        add(i, "empty video_id or clip_id")
    dup = frame.duplicated(["video_id", "clip_id"], keep=False)
    for i in frame.index[dup]:
        add(i, f"duplicate (video_id, clip_id) = ({frame.at[i, 'video_id']}, {frame.at[i, 'clip_id']})")
    known = frame[frame["mode"].isin(MODES)]
    splits = known.groupby("video_id")["mode"].agg(lambda s: sorted(set(s)))
    for video_id, modes in splits.items():
        if len(modes) > 1:
            for i in known.index[known["video_id"] == video_id]:
                add(i, f"split leakage: video_id {video_id!r} appears in {' and '.join(modes)}")
    for i in frame.index[frame["media_path"] == ""]:
        key = (frame.at[i, "video_id"], frame.at[i, "clip_id"])
        add(i, refused.get(key) or f"missing media file Raw/{key[0]}/{key[1]}.<video extension>")
    return reasons


def _derive(frame: pd.DataFrame, flavour: labels.Flavour) -> pd.DataFrame:
    """Typed labels and derived columns; unparsable labels become NaN (and polarity <NA>)."""
    frame = frame.copy()
    frame["label"] = pd.to_numeric(frame["label"], errors="coerce").astype(float)
    for col in MODALITY_LABEL_COLUMNS:
        frame[col] = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce").astype(float)
    finite = np.isfinite(frame["label"].to_numpy())
    pol = pd.array([pd.NA] * len(frame), dtype="Int64")
    pol[finite] = labels.polarity(frame["label"].to_numpy()[finite], flavour)
    frame["polarity"] = pol.astype("int64") if finite.all() else pol
    frame["class_index"] = frame["polarity"] + 1
    frame["label_norm"] = labels.normalised(frame["label"].to_numpy(), flavour)
    frame["flavour"] = flavour
    return frame[list(MANIFEST_COLUMNS)]
