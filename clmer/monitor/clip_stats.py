"""What a clip looks like to the model, in numbers a person can read: the statistics drift is watched on.

Each comes from what extraction already stored (the ASR record's meta, the audio, vision and text records) and
the prediction row, never from a new decode. Where a record does not carry one (a corpus scored with its manifest
transcripts has no ASR record; SigLIP detects no faces; emotion2vec has no loudness), the value is None and the
report says "not recorded" instead of guessing.

    audio       speech share and ASR confidence (average log-probability, no-speech probability), loudness and
                pitch (the eGeMAPS functionals of the small profile), and a sketch of the audio embedding
    vision      share of frames with a face found, brightness (mean luma), the facial expression mix, and a
                sketch of the frame embedding
    text        transcript length, language, and a sketch of the sentence embedding
    prediction  the predicted class and its confidence (outputs: at most 'watch', see `clmer.monitor.drift`)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from clmer.features.feature_store import FeatureStore

GROUPS = ("audio", "vision", "text", "prediction")


@dataclass(frozen=True)
class Statistic:
    name: str
    group: str  # audio | vision | text | prediction
    kind: str  # scalar | categorical | vector
    label: str
    unit: str = ""
    # The smallest spread that counts, in the statistic's unit: effects are shifts in reference std units,
    # and a reference that hardly varies (every frame has a face) must not turn a tiny change into a huge one.
    floor: float = 0.0


STATISTICS = (
    Statistic("speech_share", "audio", "scalar", "speech share (ASR)", "fraction of the clip", 0.05),
    Statistic("asr_avg_logprob", "audio", "scalar", "ASR average log-probability", "nats per token", 0.05),
    Statistic("asr_no_speech_prob", "audio", "scalar", "ASR no-speech probability", "", 0.02),
    Statistic("loudness", "audio", "scalar", "loudness (mean)", "sone", 0.02),
    Statistic("pitch", "audio", "scalar", "pitch (mean F0)", "semitones above 27.5 Hz", 0.5),
    Statistic("audio_embedding", "audio", "vector", "audio embedding"),
    Statistic("face_rate", "vision", "scalar", "frames with a face found", "fraction of frames", 0.05),
    Statistic("brightness", "vision", "scalar", "brightness (mean luma)", "0 black .. 1 white", 0.02),
    Statistic("expression_mix", "vision", "vector", "facial expression mix"),
    Statistic("vision_embedding", "vision", "vector", "frame embedding"),
    Statistic("transcript_chars", "text", "scalar", "transcript length", "characters", 2.0),
    Statistic("language", "text", "categorical", "language mix"),
    Statistic("text_embedding", "text", "vector", "text embedding"),
    Statistic("predicted_class", "prediction", "categorical", "predicted class mix"),
    Statistic("confidence", "prediction", "scalar", "confidence", "probability of the predicted class", 0.02),
)
BY_NAME = {s.name: s for s in STATISTICS}
LOUDNESS, PITCH = "loudness", "pitch_level"  # the eGeMAPS encoder's prosody cue labels


def clip_statistics(features: pd.DataFrame, predictions: pd.DataFrame, store: FeatureStore) -> list[dict]:
    """One plain dict per features row (predictions in the same order, as `Scorer.predict_features` gives them):
    {file, language, status, values: {statistic: float | str | list | None}}; a clip that failed has no values,
    and one whose records cannot be read says why in `error` (it never stops the others)."""
    return [clip_statistic(feat, pred, store) for (_, feat), (_, pred) in zip(features.iterrows(), predictions.iterrows())]


def clip_statistic(feat: Mapping, pred: Mapping, store: FeatureStore) -> dict:
    """One clip's statistics from its features row (store keys, transcript, language) and its prediction
    (status, polarity, confidence): what scoring's pass puts on each clip's record."""
    row = {"file": str(feat["clip"]), "language": _language(feat), "status": str(pred["status"])}
    if pred["status"] == "failed":
        return row
    try:
        row["values"] = _values(feat, pred, store)
    except Exception as exc:  # noqa: BLE001 - a clip without statistics is left out of the report, not fatal
        row["error"] = f"{feat['clip']}: statistics unreadable ({exc.__class__.__name__}: {exc})"
    return row


def _language(feat: pd.Series) -> str:
    lang = feat.get("language")
    return lang if isinstance(lang, str) and lang else "none"


def _values(feat: pd.Series, pred: pd.Series, store: FeatureStore) -> dict:
    audio = store.get(feat["audio_key"]) if _key(feat, "audio_key") else None
    vision = store.get(feat["vision_key"]) if _key(feat, "vision_key") else None
    text = store.get(feat["text_key"]) if _key(feat, "text_key") else None
    values = _audio(audio) | _vision(vision) | _asr(store, feat, _duration(feat, audio, vision))
    transcript = feat["transcript"] if isinstance(feat.get("transcript"), str) else ""
    values["transcript_chars"] = float(len(transcript.strip()))
    values["language"] = _language(feat)
    values["text_embedding"] = _vector(text.arrays.get("sentence_embedding")) if text is not None and \
        text.status == "ok" else None
    polarity, confidence = pred.get("polarity"), pred.get("confidence")
    values["predicted_class"] = polarity if isinstance(polarity, str) else None
    values["confidence"] = _finite(confidence)
    return values


def _key(feat: pd.Series, column: str) -> bool:
    return isinstance(feat.get(column), str) and bool(feat[column])


def _finite(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return round(x, 6) if math.isfinite(x) else None


def _vector(array) -> list[float] | None:
    if array is None:
        return None
    a = np.asarray(array, np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        return None
    return np.round(a.reshape(-1) if a.ndim == 1 or len(a) == 1 else a.mean(0), 5).tolist()


def _duration(feat: pd.Series, audio, vision) -> float | None:
    """Seconds of the clip, as the stored audio record spans them (the same whether or not the clip was decoded
    now, so a cached clip and a new one measure alike); else the decode's, else the frames'."""
    items = len(audio.arrays.get("frame_embeddings", ())) if audio is not None else 0
    if items and audio.meta.get("frame_rate"):
        return items / float(audio.meta["frame_rate"])
    seconds = _finite(feat.get("duration_s"))
    if seconds:
        return seconds
    times = vision.arrays.get("frame_times") if vision is not None else None
    return float(times[-1]) + float(times[1] - times[0]) if times is not None and len(times) > 1 else None


def _asr(store: FeatureStore, feat: pd.Series, duration: float | None) -> dict:
    """Speech share and ASR confidence from the ASR record: its clip-level fields where the encoder writes them,
    else the segments' (duration-weighted); None without an ASR record (a transcript from the manifest)."""
    out = {"speech_share": None, "asr_avg_logprob": None, "asr_no_speech_prob": None}
    if not _key(feat, "asr_key"):
        return out
    _, meta = store.get_meta(feat["asr_key"])
    segments = meta.get("segments") or []
    lengths = np.array([max(0.0, float(s["end"]) - float(s["start"])) for s in segments])
    speech = meta.get("speech_seconds", float(lengths.sum()))
    if duration:
        out["speech_share"] = round(min(1.0, float(speech) / duration), 6)
    for name, key in (("asr_avg_logprob", "avg_logprob"), ("asr_no_speech_prob", "no_speech_prob")):
        value = meta.get(key)
        if value is None and segments and all(key in s for s in segments):
            value = float(np.average([s[key] for s in segments], weights=lengths + 1e-3))
        out[name] = _finite(value)
    return out


def _audio(record) -> dict:
    out = {"loudness": None, "pitch": None, "audio_embedding": None}
    if record is None or record.status != "ok":
        return out
    labels, cues = list(record.meta.get("cue_labels") or []), record.arrays.get("cue_scores")
    if cues is not None and cues.size and cues.shape[-1] == len(labels):
        first = np.asarray(cues, np.float64).reshape(-1, len(labels)).mean(0)
        for name, label in (("loudness", LOUDNESS), ("pitch", PITCH)):
            if label in labels:
                out[name] = _finite(first[labels.index(label)])
    items = _vector(record.arrays.get("frame_embeddings"))
    extras = record.arrays.get("extras")
    if extras is None:  # emotion2vec: its utterance embedding
        extras = record.arrays.get("utterance_embedding")
    if items is not None:
        extra = _vector(extras) if extras is not None and extras.size else []
        out["audio_embedding"] = items + (extra or [])
    return out


def _vision(record) -> dict:
    out = {"face_rate": None, "brightness": None, "expression_mix": None, "vision_embedding": None}
    if record is None or record.status != "ok":
        return out
    boxes = record.arrays.get("face_boxes")
    if boxes is not None and len(boxes):
        out["face_rate"] = round(float(np.mean(boxes[:, 0] >= 0)), 6)
    if record.meta.get("brightness"):
        out["brightness"] = _finite(np.mean(record.meta["brightness"]))
    out["expression_mix"] = _vector(record.arrays.get("cue_scores"))
    out["vision_embedding"] = _vector(record.arrays.get("frame_embeddings"))
    return out
