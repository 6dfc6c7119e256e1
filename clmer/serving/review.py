"""Reviewing a scoring output folder: its explained clips as a reviewer reads them, and recording a rating.

`clmer review RESULTS` is the command (`clmer.cli.review`); this module finds the clips (combined_results.csv and
each clip's JSON report), says what a reviewer should see of each, and records a rating: always in the folder's
ratings file, and as feedback on the clip's MLflow trace when it has one, after which the scoring version's rating
summary on the registry is brought up to date.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from clmer.config import Settings
from clmer.names import COMBINED_CSV, REPORTS_DIR, utc_now
from clmer.serving.ratings import Rating, check_rating, post, save_local, tag_version


@dataclass
class ReviewClip:
    drop: str | None
    file: str
    video_id: str
    model_version: str
    doc: dict  # the clip's JSON report
    report: Path  # its HTML page (or the JSON when no page was written)


def clips(results: str | Path) -> list[ReviewClip]:
    """The clips of a scoring output folder that have an explanation, in the table's order."""
    from clmer.data import safe_csv

    results = Path(results)
    table = results / COMBINED_CSV
    if not table.is_file():
        raise FileNotFoundError(f"{table}: no scoring results here; give the folder `clmer score --out` wrote")
    out = []
    for row in safe_csv.read_csv(table).to_dict("records"):
        stem = row.get("video_id")
        path = results / REPORTS_DIR / f"{stem}.json"
        if row.get("status") not in ("ok", "partial") or not isinstance(stem, str) or not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable report ({exc})") from None
        html = path.with_suffix(".html")
        drop = row.get("drop") if isinstance(row.get("drop"), str) else None
        out.append(ReviewClip(drop, str(row["file"]), stem, str(row.get("model_version")), doc,
                              html if html.is_file() else path))
    return out


def pick(found: list[ReviewClip], name: str) -> ReviewClip:
    """The clip a reviewer named: its file in the drop, or its report's name; two drops' same name is refused."""
    hits = [c for c in found if name in (c.file, c.video_id)]
    if not hits:
        raise LookupError(f"no explained clip {name!r} in these results (clips: "
                          f"{', '.join(c.file for c in found[:8])}{', ...' if len(found) > 8 else ''})")
    if len({(c.drop, c.file) for c in hits}) > 1:
        raise LookupError(f"{name!r} names clips of several drops; give its report name (one of "
                          f"{', '.join(c.video_id for c in hits)})")
    return hits[0]


def summary_lines(c: ReviewClip, words: int = 5) -> list[str]:
    """What a reviewer reads before rating: the prediction, the shares, the key words, the reasoning, the report."""
    doc = c.doc
    p = doc.get("prediction") or {}
    shares = doc.get("modality_shares") or {}
    share_text = ", ".join(f"{m} {v:.0%}" for m, v in shares.items() if isinstance(v, (int, float))) or "none"
    top = [w for w in doc.get("top_words") or [] if isinstance(w, dict) and w.get("word")][:words]
    key = ", ".join(f"{w['word']} ({_item_weight(w)})" for w in top) or "none"
    reasoning = doc.get("reasoning") or {}
    answer = reasoning.get("answer") if isinstance(reasoning, dict) else str(reasoning)
    confidence = p.get("confidence")
    sure = f" ({confidence:.2f})" if isinstance(confidence, (int, float)) else ""
    return [f"{c.file}  (drop {c.drop}, model {c.model_version})", f"  prediction: {p.get('polarity')}{sure}",
            f"  shares: {share_text}", f"  key words: {key}", f"  reasoning: {answer or 'none'}",
            f"  report: {c.report}"]


def _item_weight(word: dict) -> str:
    """A key word's part of the decision when the report gives one, else its raw score."""
    for key in ("share", "score"):
        if isinstance(word.get(key), (int, float)):
            return f"{word[key]:.0%}" if key == "share" else f"{word[key]:.4f}"
    return "?"


def uses_mlflow(settings: Settings, c: ReviewClip) -> bool:
    """A clip scored by a registered version (or with traces on) has a trace to rate; a local model's has none,
    and no MLflow store is touched for it."""
    mode = settings.mlflow.traces
    return mode == "on" or (mode == "auto" and c.model_version.isdigit())


def record(results: str | Path, c: ReviewClip, value, comment: str | None, reviewer: str,
           settings: Settings) -> tuple[Rating, dict | None]:
    """Record a rating of clip `c`: on its trace when there is one (then the version's summary is refreshed and
    returned), and always in the results folder. A tracking server that cannot be reached is a warning."""
    from clmer.serving.clip_traces import find_trace
    from clmer.serving.drift_tracking import model_name

    rating = Rating(c.drop, c.file, c.video_id, check_rating(value), comment or None, reviewer, utc_now(),
                    c.model_version)
    agg = None
    if uses_mlflow(settings, c):
        try:
            trace = find_trace(settings, c.drop, c.file)
            if trace:
                rating.trace_id = trace
                post(rating)
        except Exception as exc:  # noqa: BLE001 - the rating is kept locally whatever MLflow says
            rating.trace_id = None
            _warn(f"{c.file}: rating kept in the results folder only", exc)
    if rating.trace_id and c.model_version.isdigit():
        name = model_name((c.doc.get("model") or {}).get("uri") or "") or settings.mlflow.model_name
        try:
            agg = tag_version(settings, name, c.model_version)
        except Exception as exc:  # noqa: BLE001
            _warn(f"the rating summary of v{c.model_version} was not updated", exc)
    save_local(results, rating)
    return rating, agg


def _warn(what: str, exc: Exception) -> None:
    warnings.warn(f"{what}; MLflow: {exc.__class__.__name__}: {exc}", RuntimeWarning, stacklevel=3)
