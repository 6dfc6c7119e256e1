"""Per-clip explanations: what decided, and where in the clip.

One scale throughout: the log-odds of the predicted class (a probability at .99 hardly moves; its
log-odds do).
* modality shares: exact Shapley values over the three modalities (`shapley`, signed), their
  positive parts normalised to shares of the decision (`modality_shares`); a modality that spoke
  against the decision gets 0, and when none supported it `attribution.supported` is false. The
  policy's fusion weights are shown beside them as what they are (`fusion_weights`);
* items (clmer/explain/items.py): words by integrated gradients, audio windows and frames by
  occlusion; each item's `share` is its part of its modality's share, so a modality's items add up
  to it (`item_attributions` holds every item; `top_words`, `audio_spans`, `key_frames` the few a
  report shows, function words left out of the shown words only);
* faithfulness per clip (clmer/explain/faithfulness.py): removing / keeping only the top items
  against random ones, and the modalities whose explanation is no better than random;
* prosody in words (small profile): pitch level and range, loudness and speaking rate as z-scores
  against the training set; facial-expression probabilities per key frame;
* decision path: features -> per-modality vectors and their own verdicts -> policy logits and
  weights -> fused vector -> class probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clmer.data.labels import CLASSES
from clmer.explain.cues import mark_agreement
from clmer.explain.faithfulness import erasure_check, flagged
from clmer.explain.items import (audio_windows, ig_gap, integrated_gradients, is_word, occlusion, to_shares,
                                 words_from_tokens)
from clmer.explain.stopwords import is_stop_word
from clmer.model.attribution import explain_batch, shares_from_shapley, supported
from clmer.model.dataset import ClipFeatures, collate
from clmer.model.fusion import MODALITIES, FusionModel

SCHEMA_VERSION = "2.0"
SHOWN = {"words": 8, "audio": 3, "frames": 3}


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


def word_items(model: FusionModel, batch: dict, clip: ClipFeatures, info: ClipInfo, target: int) -> tuple[list, dict]:
    """Every word of the transcript with its raw IG score, and IG's completeness on this clip."""
    if not clip.present[0] or not clip.tokens:
        return [], {}
    special = clip.special or [0] * len(clip.tokens)
    scores = integrated_gradients(model, batch, target, special)
    gap = ig_gap(model, batch, target, special)
    words = [w for w in words_from_tokens(info.transcript, info.language, clip.offsets, special, scores)
             if is_word(w["word"]) and w["tokens"]]
    total = float(np.sum(scores))  # special tokens sit on the baseline: their attribution is exactly 0
    completeness = {"sum": round(total, 6), "gap": round(gap, 6),
                    "relative_error": round(abs(total - gap) / abs(gap), 6) if abs(gap) > 1e-6 else None}
    return words, completeness


def audio_items(model: FusionModel, batch: dict, clip: ClipFeatures, target: int) -> tuple[list, list]:
    """Back-to-back audio windows with their occlusion scores, and their item-index sets."""
    times = clip.times.get("audio", np.zeros(0))
    if not clip.present[1] or len(times) == 0:
        return [], []
    windows, rate = audio_windows(times)
    drops = occlusion(model, batch, "audio", windows, len(times), target)
    items = [{"start": round(float(times[w[0]]), 2), "end": round(float(times[w[-1]] + 1.0 / rate), 2),
              "score": float(d)} for w, d in zip(windows, drops)]
    return items, windows


def frame_items(model: FusionModel, batch: dict, clip: ClipFeatures, target: int, attn: np.ndarray) -> list:
    """Every sampled frame with its occlusion score, attention, expression cues and face box."""
    times = clip.times.get("vision", np.zeros(0))
    if not clip.present[2] or len(times) == 0:
        return []
    drops = occlusion(model, batch, "vision", [np.array([i]) for i in range(len(times))], len(times), target)
    cue = clip.cues.get("vision", {})
    labels, scores, boxes = cue.get("labels", []), cue.get("scores", np.zeros((0, 0))), cue.get("boxes")
    out = []
    for i, d in enumerate(drops):
        cues = {lb: round(float(scores[i, j]), 4) for j, lb in enumerate(labels)} if len(scores) > i else {}
        frame = {"index": int(i), "time": round(float(times[i]), 2), "score": float(d),
                 "attention": round(float(attn[i]), 4) if i < len(attn) else 0.0, "cues": cues}
        if boxes is not None and len(boxes) > i and boxes[i][0] >= 0:
            frame["face_box"] = [int(v) for v in boxes[i]]
        out.append(frame)
    return out


def with_shares(items: list[dict], share: float) -> list[dict]:
    """Items with `share` (their part of the modality's share) and rounded raw scores."""
    shares = to_shares(np.array([it["score"] for it in items]), share) if items else []
    return [{**it, "score": round(float(it["score"]), 6), "share": round(float(sh), 6)} for it, sh in zip(items, shares)]


def top(items: list[dict], n: int) -> list[dict]:
    return sorted(items, key=lambda it: -it["score"])[:n]


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
    shap = explain_batch(model, batch, scale="logodds")
    phi, present = shap["shapley"][0], shap["present"][0].astype(bool)
    shares = dict(zip(MODALITIES, shares_from_shapley(phi, present)))
    weights = out["weights"][0].numpy()
    words, completeness = word_items(model, batch, clip, info, target)
    spans, windows = audio_items(model, batch, clip, target)
    frames = frame_items(model, batch, clip, target, out["attn"]["vision"][0].numpy())
    words, spans, frames = (with_shares(words, shares["text"]), with_shares(spans, shares["audio"]),
                            with_shares(frames, shares["vision"]))
    rng = np.random.default_rng(0)  # the same clip gets the same random baseline every time
    n_items = {m: int(batch[f"{m}_mask"].shape[1]) for m in MODALITIES}
    checks = {
        "text": erasure_check(model, batch, "text", [np.array(w["tokens"]) for w in words], n_items["text"],
                              np.array([w["score"] for w in words]), target, rng) if words else None,
        "audio": erasure_check(model, batch, "audio", windows, n_items["audio"],
                               np.array([x["score"] for x in spans]), target, rng) if spans else None,
        "vision": erasure_check(model, batch, "vision", [np.array([i]) for i in range(len(frames))], n_items["vision"],
                                np.array([f["score"] for f in frames]), target, rng) if frames else None,
    }
    verdicts = {m: {c: round(float(v), 6) for c, v in zip(CLASSES, unimodal[i])}
                for i, m in enumerate(MODALITIES) if present[i]}
    for w in words:
        w.pop("tokens")
        w["stop_word"] = is_stop_word(w["word"])
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
        "present": {m: bool(p) for m, p in zip(MODALITIES, clip.present.astype(bool))},
        "modality_shares": {m: round(float(v), 6) for m, v in shares.items()},
        "shapley": {m: round(float(v), 6) for m, v in zip(MODALITIES, phi)},
        "attribution": {
            "scale": "log-odds of the predicted class",
            "supported": supported(phi, present),
            "prior": round(float(shap["p_target"][0] - phi.sum()), 6),
            "text_completeness": completeness,
            # a share that no single item carries: no item moved the decision its way (e.g. audio whose support is
            # in the utterance-level voice measures, not in any one moment)
            "unplaced": {m: round(max(0.0, float(shares[m]) - sum(it["share"] for it in items)), 6)
                         for m, items in (("text", words), ("audio", spans), ("vision", frames))},
        },
        "fusion_weights": {m: round(float(w), 6) for m, w in zip(MODALITIES, weights)},
        "top_words": top([w for w in words if not w["stop_word"]], SHOWN["words"]),
        "audio_spans": top(spans, SHOWN["audio"]),
        "audio_cues": ({lb: round(float(a_scores.reshape(-1)[j]), 4) for j, lb in enumerate(audio_cues.get("labels", []))}
                       if emotion_cues else {}),
        "prosody": prosody(clip, (cue_stats or {}).get("audio")),
        "key_frames": mark_agreement(top(frames, SHOWN["frames"]), verdicts.get("vision")),
        "item_attributions": {"text": words, "audio": spans, "vision": frames},
        "faithfulness": {**checks, "flagged": flagged(checks, shares)},
        "decision_path": {
            "features": {m: {"items": int(batch[f"{m}_mask"][0].sum()), "dim": int(dims[m][0]), "present": bool(p)}
                         for m, p in zip(MODALITIES, clip.present.astype(bool))},
            "modality_verdicts": verdicts,
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
