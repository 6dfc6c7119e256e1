"""One record per input file, `ClipResult`, and every output of a clip rendered from it.

Scoring builds one `ClipResult` per file (`clmer.serving.scoring.Scorer.score`): the prediction, the
modality shares (the explanation's: what the report shows) and the fusion policy's weights, the key
words, audio moments and key frames (with the frames' pixels, for the report), the transcript and
its segments, the reasoning, where it all came from (content hash, model, what was computed now),
or the failure and its reason. The renderers below turn it into the row of combined_results.csv,
the row of transcription_results.csv, the transcription-log line, the JSON document, the HTML page
(`clmer.explain.report_html`) and the row the MLflow model returns. They compute nothing, so two
outputs of one clip cannot disagree: the CSV's `share_*` are the JSON's `modality_shares`, its
`weight_*` the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clmer import atomic
from clmer.data import safe_csv
from clmer.data.labels import CLASSES
from clmer.names import MODALITIES

PREDICTION_COLUMNS = ["drop", "file", "video_id", "language", "transcript", "polarity", "confidence",
                      *(f"p_{c}" for c in CLASSES), *(f"share_{m}" for m in MODALITIES),
                      *(f"weight_{m}" for m in MODALITIES), "model_version", "status", "error"]
COMBINED_COLUMNS = PREDICTION_COLUMNS + ["scored_at"]  # when the row was scored (ISO 8601 UTC), as in its JSON
NUMERIC_COLUMNS = ["confidence", *(c for c in PREDICTION_COLUMNS if c.startswith(("p_", "share_", "weight_")))]
TRANSCRIPT_COLUMNS = ["drop", "file", "video_id", "language", "transcript", "transcript_source", "segments", "status",
                      "error"]


@dataclass
class Prediction:
    polarity: str
    confidence: float
    probabilities: dict[str, float]  # class -> probability
    regression: float
    weights: dict[str, float]  # modality -> the fusion policy's weight: how the vectors were mixed


@dataclass
class Provenance:
    sha256: str | None = None  # of the bytes that were decoded
    model: dict = field(default_factory=dict)  # uri, alias, version, run id, corpus, profile, encoders
    transcript_source: str | None = None  # manifest | asr
    computed: list[str] = field(default_factory=list)  # extractors that ran now (the rest came from the store)
    duration_s: float | None = None
    bytes_read: int = 0  # read from the file, by the hash and the decode together
    extracted: bool = True  # False: refused or skipped before its file was read


@dataclass
class ClipResult:
    file: str  # as its owner knows it: the path in the drop, or the path given
    video_id: str  # the name of its JSON and HTML
    drop: str | None
    model_version: str
    scored_at: str  # ISO 8601 UTC, the same in every output
    status: str = "ok"  # ok | partial | failed
    error: str | None = None  # why it failed, or for a partial result what was missing or went wrong
    language: str | None = None
    transcript: str = ""
    segments: list[dict] = field(default_factory=list)  # ASR segments (start, end, text, ...)
    prediction: Prediction | None = None
    explanation: dict | None = None  # the explanation document (clmer.explain.clip), reasoning included
    frames: dict[int, np.ndarray] = field(default_factory=dict)  # key frame index -> its pixels, for the report
    warnings: list[str] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    drift: dict | None = None  # what the clip looks like to the model (clmer.monitor.clip_stats), when monitored
    stages: list[tuple[str, int, int]] = field(default_factory=list)  # (stage, start, end) wall-clock ns: its trace

    @classmethod
    def not_read(cls, file: str, video_id: str, drop: str | None, model_version: str, scored_at: str, error: str,
                 sha256: str | None = None) -> "ClipResult":
        """A file that failed before it was read: refused, not a video, over a limit."""
        return cls(file, video_id, drop, model_version, scored_at, status="failed", error=error,
                   provenance=Provenance(sha256=sha256, extracted=False))

    @property
    def shares(self) -> dict[str, float] | None:
        """What each modality contributed to the decision (the explanation's, as the report shows)."""
        return self.explanation.get("modality_shares") if self.explanation else None

    @property
    def weights(self) -> dict[str, float] | None:
        return self.prediction.weights if self.prediction else None

    @property
    def key_words(self) -> list[dict]:
        return (self.explanation or {}).get("top_words") or []

    @property
    def moments(self) -> list[dict]:
        return (self.explanation or {}).get("audio_spans") or []

    @property
    def key_frames(self) -> list[dict]:
        return (self.explanation or {}).get("key_frames") or []

    @property
    def reasoning(self) -> dict | None:
        return (self.explanation or {}).get("reasoning")


def prediction_row(r: ClipResult) -> dict:
    """The row the MLflow model returns for this file (PREDICTION_COLUMNS)."""
    p, shares, weights = r.prediction, r.shares or {}, r.weights or {}
    return {"drop": r.drop, "file": r.file, "video_id": r.video_id, "language": r.language, "transcript": r.transcript,
            "polarity": p.polarity if p else None, "confidence": p.confidence if p else None,
            **{f"p_{c}": p.probabilities[c] if p else None for c in CLASSES},
            **{f"share_{m}": shares.get(m) for m in MODALITIES}, **{f"weight_{m}": weights.get(m) for m in MODALITIES},
            "model_version": r.model_version, "status": r.status, "error": r.error}


def csv_row(r: ClipResult) -> dict:
    """Its row of Test_Results/combined_results.csv (COMBINED_COLUMNS)."""
    return prediction_row(r) | {"scored_at": r.scored_at}


def transcript_row(r: ClipResult) -> dict:
    """Its row of Test_Supplements/transcription_results.csv."""
    return {"drop": r.drop, "file": r.file, "video_id": r.video_id, "language": r.language,
            "transcript": r.transcript if r.provenance.extracted else None,
            "transcript_source": r.provenance.transcript_source,
            "segments": json.dumps(r.segments, ensure_ascii=False) if r.provenance.extracted else None,
            "status": r.status, "error": r.error}


def log_line(r: ClipResult) -> str:
    """Its line of the transcription log: tab-separated, every field escaped so a name holding a
    newline or a tab cannot split or forge a line. The second field (drop/file) is the line's key."""
    fields = [r.error or ""] if not r.provenance.extracted else [
        f"language={r.language}", f"duration={r.provenance.duration_s}", r.error or "", "; ".join(r.warnings)]
    parts = [r.scored_at, f"{r.drop}/{r.file}", r.status, *fields]
    return "\t".join(safe_csv.escape_field(p) for p in parts).rstrip("\t")


def document(r: ClipResult) -> dict:
    """Its JSON document: the explanation, stamped with the file, the time and the status."""
    if r.explanation is None:
        raise ValueError(f"{r.file}: no explanation to write ({r.error or r.status})")
    return r.explanation | {"file": r.file, "scored_at": r.scored_at, "status": r.status, "warnings": list(r.warnings)}


def write_clip_files(r: ClipResult, out_dir: str | Path, html: bool = True, blur: bool = True,
                     reasoning_text: bool = True) -> list[Path]:
    """`<video_id>.json` (+ `.html` with its key frames, + `.reasoning.txt`) under out_dir, atomically.
    Returns the paths written."""
    from clmer.explain.reasoning_template import reasoning_plaintext
    from clmer.explain.report_html import write_report

    out_dir, doc = Path(out_dir), document(r)
    if html:
        paths = list(write_report(doc, out_dir, r.video_id, frames=r.frames, blur=blur))
    else:
        paths = [atomic.write_json(out_dir / f"{r.video_id}.json", doc)]
    if reasoning_text:
        paths.append(atomic.write_text(out_dir / f"{r.video_id}.reasoning.txt", reasoning_plaintext(doc)))
    return paths
