"""Per-clip explanations: what decided, and where in the clip.

* modality shares: the faithful attribution, exact Shapley values over the three modalities
  normalised to shares of the decision (`modality_shares`); the policy's fusion weights are shown
  beside them as what they are (`fusion_weights`: how the vectors were mixed, not what mattered);
* key words: integrated gradients over the token embeddings, summed per word (jieba words for
  Chinese, whitespace words for English; never sub-tokens);
* key audio spans and key frames: occlusion that removes the items from the model's input (their
  attention, their part of the modality's mean and their share of the utterance-level values), so
  a span's score is everything it contributed; frames are chosen among every sampled frame (two per
  second on clips up to a minute);
* prosody in words (small profile): pitch level and range, loudness and speaking rate as z-scores
  against the training set; facial-expression probabilities per key frame;
* decision path: features -> per-modality vectors and their own verdicts -> policy logits and
  weights -> fused vector -> class probabilities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clmer.data.labels import CLASSES
from clmer.model.attribution import explain_batch, shares_from_shapley
from clmer.model.dataset import ClipFeatures, collate
from clmer.model.fusion import MODALITIES, FusionModel

SCHEMA_VERSION = "2.0"
IG_STEPS = 32
AUDIO_WINDOW_S, AUDIO_STRIDE_S = 1.0, 0.5


@dataclass
class ClipInfo:
    clip: str
    file: str
    language: str | None
    transcript: str


def _batch(clip: ClipFeatures, dims: dict) -> dict:
    return collate([clip], dims, None)


def target_prob(model: FusionModel, batch: dict, target: int) -> float:
    with torch.no_grad():
        return float(torch.softmax(model(batch)["logits"], -1)[0, target])


def without_items(batch: dict, m: str, idx) -> dict:
    """The batch with items `idx` of modality m removed from the model's input (clip 0)."""
    out = dict(batch)
    mask = batch[f"{m}_mask"].clone()
    mask[0, idx] = False
    out[f"{m}_mask"] = mask
    return out


def integrated_gradients(model: FusionModel, batch: dict, target: int, steps: int = IG_STEPS) -> np.ndarray:
    """Attribution per token (T,) for the target class, along a straight path from the mean token
    (the training mean: "an average word") to the clip's tokens; the modality's mean follows the path."""
    x = batch["text"][0]
    base = model.encoders["text"].seq_norm.mean.expand_as(x)
    alphas = torch.linspace(1.0 / steps, 1.0, steps).view(-1, 1, 1)
    path = (base + alphas * (x - base)).requires_grad_(True)  # (steps, T, d)
    rest = {k: v.expand(steps, *v.shape[1:]) for k, v in batch.items() if k != "text"}
    prob = torch.softmax(model({**rest, "text": path})["logits"], -1)[:, target].sum()
    (grad,) = torch.autograd.grad(prob, path)
    return ((x - base) * grad.mean(0)).sum(-1).detach().numpy()


def word_spans(text: str, language: str | None) -> list[tuple[str, int, int]]:
    """(word, start, end) character spans: jieba words for Chinese, word/punctuation runs otherwise."""
    if language == "zh" or re.search(r"[\u4e00-\u9fff]", text or ""):
        import jieba

        from clmer.config import PathsConfig

        jieba.setLogLevel(60)
        if jieba.dt.tmp_dir is None:  # its dictionary cache: under CLMER's home, not in /tmp
            jieba.dt.tmp_dir = str(Path(PathsConfig().home) / "cache")
            Path(jieba.dt.tmp_dir).mkdir(parents=True, exist_ok=True)
        return [(w, s, e) for w, s, e in jieba.tokenize(text) if w.strip()]
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"[\w'-]+|[^\w\s]", text or "")]


def words_from_tokens(text: str, language: str | None, offsets: list, special: list, scores: np.ndarray) -> list[dict]:
    """Sum token attributions into the words whose characters they cover."""
    words = word_spans(text, language)
    totals = np.zeros(len(words))
    for (start, end), sp, score in zip(offsets, special, scores):
        if sp or end <= start:
            continue
        for i, (_, ws, we) in enumerate(words):
            if start < we and end > ws:
                totals[i] += score
                break
    return [{"word": w, "start_char": s, "end_char": e, "score": round(float(t), 6)}
            for (w, s, e), t in zip(words, totals)]


def occlusion_drops(model: FusionModel, batch: dict, m: str, index_sets: list[np.ndarray], target: int) -> np.ndarray:
    """Drop in the target probability when each set of items of modality m is removed."""
    full = target_prob(model, batch, target)
    return np.asarray([full - target_prob(model, without_items(batch, m, idx), target) for idx in index_sets])


def audio_windows(times: np.ndarray) -> tuple[list[np.ndarray], float]:
    """1 s windows every 0.5 s over the audio items, and the item rate."""
    rate = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 10.0
    win, stride = max(1, int(AUDIO_WINDOW_S * rate)), max(1, int(AUDIO_STRIDE_S * rate))
    starts = list(range(0, max(1, len(times) - win + 1), stride))
    return [np.arange(s, min(len(times), s + win)) for s in starts], rate


def audio_spans(model, batch, clip: ClipFeatures, target: int, top: int = 3) -> list[dict]:
    times = clip.times.get("audio", np.zeros(0))
    if not clip.present[1] or len(times) == 0:
        return []
    windows, rate = audio_windows(times)
    drops = occlusion_drops(model, batch, "audio", windows, target)
    order = np.argsort(-drops)[:top]
    return [{"start": round(float(times[windows[i][0]]), 2), "end": round(float(times[windows[i][-1]] + 1.0 / rate), 2),
             "score": round(float(drops[i]), 6)} for i in order]


def key_frames(model, batch, clip: ClipFeatures, target: int, attn: np.ndarray, top: int = 3) -> list[dict]:
    times = clip.times.get("vision", np.zeros(0))
    if not clip.present[2] or len(times) == 0:
        return []
    drops = occlusion_drops(model, batch, "vision", [np.array([i]) for i in range(len(times))], target)
    cue = clip.cues.get("vision", {})
    labels, scores, boxes = cue.get("labels", []), cue.get("scores", np.zeros((0, 0))), cue.get("boxes")
    out = []
    for i in np.argsort(-drops)[:top]:
        cues = {lb: round(float(scores[i, j]), 4) for j, lb in enumerate(labels)} if len(scores) > i else {}
        frame = {"index": int(i), "time": round(float(times[i]), 2), "score": round(float(drops[i]), 6),
                 "attention": round(float(attn[i]), 4), "cues": cues}
        if boxes is not None and len(boxes) > i and boxes[i][0] >= 0:
            frame["face_box"] = [int(v) for v in boxes[i]]
        out.append(frame)
    return out


def prosody(clip: ClipFeatures, stats: dict | None) -> dict:
    """Readable prosody from the audio cues, as z-scores against the training set (small profile)."""
    cue = clip.cues.get("audio", {})
    if cue.get("kind") != "prosody" or not clip.present[1] or not len(cue.get("scores", [])):
        return {}
    stats = stats or {}
    out = {}
    for j, name in enumerate(cue["labels"]):
        value = float(np.asarray(cue["scores"]).reshape(-1)[j])
        mean, std = stats.get("mean", {}).get(name), stats.get("std", {}).get(name)
        z = (value - mean) / std if mean is not None and std else None
        out[name] = {"value": round(value, 4), "z": None if z is None else round(z, 3), "words": describe_z(z)}
    return out


def describe_z(z: float | None) -> str:
    if z is None:
        return "no reference"
    for bound, words in ((-1.5, "well below average"), (-0.5, "below average"), (0.5, "about average"),
                         (1.5, "above average")):
        if z < bound:
            return words
    return "well above average"


def explain_clip(model: FusionModel, dims: dict, clip: ClipFeatures, info: ClipInfo, model_info: dict | None = None,
                 cue_stats: dict | None = None) -> dict:
    """The explanation document for one clip (see data_contracts/explanation.schema.json)."""
    model.eval()
    batch = _batch(clip, dims)
    with torch.no_grad():
        out = model(batch)
        probs = torch.softmax(out["logits"], -1)[0].numpy()
        unimodal = torch.softmax(model.classifier(out["h"]), -1)[0].numpy()
    target = int(probs.argmax())
    shap = explain_batch(model, batch)
    present = clip.present.astype(bool)
    weights = out["weights"][0].numpy()
    words = []
    if present[0] and clip.tokens:
        special = clip.special or [0] * len(clip.tokens)
        scores = integrated_gradients(model, batch, target)
        words = words_from_tokens(info.transcript, info.language, clip.offsets, special, scores)
        # punctuation is never a key word (IG gives it small scores that would crowd out words in short clips)
        words = sorted((w for w in words if re.search(r"\w", w["word"])), key=lambda w: -w["score"])[:8]
    audio_cues = clip.cues.get("audio", {})
    a_scores = np.asarray(audio_cues.get("scores", np.zeros((0, 0))))
    emotion_cues = (audio_cues.get("kind") != "prosody" and present[1] and a_scores.size > 0)
    return {
        "schema_version": SCHEMA_VERSION,
        "clip": info.clip, "file": info.file, "language": info.language, "transcript": info.transcript,
        "prediction": {
            "polarity": CLASSES[target], "confidence": round(float(probs[target]), 6),
            "probabilities": {c: round(float(p), 6) for c, p in zip(CLASSES, probs)},
            "regression": round(float(out["reg"][0]), 6),
        },
        "present": {m: bool(p) for m, p in zip(MODALITIES, present)},
        "modality_shares": {m: round(float(s), 6) for m, s in zip(MODALITIES, shares_from_shapley(shap["shapley"][0], present))},
        "shapley": {m: round(float(v), 6) for m, v in zip(MODALITIES, shap["shapley"][0])},
        "fusion_weights": {m: round(float(w), 6) for m, w in zip(MODALITIES, weights)},
        "top_words": words,
        "audio_spans": audio_spans(model, batch, clip, target),
        "audio_cues": ({lb: round(float(a_scores.reshape(-1)[j]), 4) for j, lb in enumerate(audio_cues.get("labels", []))}
                       if emotion_cues else {}),
        "prosody": prosody(clip, (cue_stats or {}).get("audio")),
        "key_frames": key_frames(model, batch, clip, target, out["attn"]["vision"][0].numpy()),
        "decision_path": {
            "features": {m: {"items": int(batch[f"{m}_mask"][0].sum()), "dim": int(dims[m][0]), "present": bool(p)}
                         for m, p in zip(MODALITIES, present)},
            "modality_verdicts": {m: {c: round(float(v), 6) for c, v in zip(CLASSES, unimodal[i])}
                                  for i, m in enumerate(MODALITIES) if present[i]},
            "policy_logits": {m: round(float(v), 6) for m, v in zip(MODALITIES, out["mu"][0].numpy())},
            "weights": {m: round(float(w), 6) for m, w in zip(MODALITIES, weights)},
            "fused_norm": round(float(out["fused"][0].norm()), 6),
            "class_probabilities": {c: round(float(p), 6) for c, p in zip(CLASSES, probs)},
        },
        "reasoning": None,
        "model": model_info or {},
    }


def validate_explanation(doc: dict) -> None:
    """Raise jsonschema.ValidationError if `doc` does not follow the explanation schema."""
    import json

    import jsonschema

    from clmer.data.contracts import contracts_dir

    schema = json.loads((contracts_dir() / "explanation.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
