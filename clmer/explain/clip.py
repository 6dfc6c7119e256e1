"""Per-clip explanations: what decided, and where in the clip.

* modality shares: the policy's weights (what the model actually fused with), next to exact
  Shapley values (what each modality is worth to the decision);
* key words: integrated gradients over the token embeddings, summed per word (jieba words for
  Chinese, whitespace words for English; never sub-tokens);
* key audio spans: occlusion of 1 s windows of emotion2vec frames, as time ranges, with the
  emotion2vec cue scores;
* key frames: occlusion of each sampled frame, with its time and SigLIP expression cues;
* decision path: features -> per-modality vectors and their own verdicts -> policy logits and
  weights -> fused vector -> class probabilities.

Occlusion and the integrated-gradients baseline replace inputs by the training mean (zero after
the model's standardisation), i.e. "an average clip", not by zeros that mean something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from clmer.model.attribution import explain_batch
from clmer.model.dataset import ClipFeatures, collate
from clmer.model.fusion import MODALITIES, FusionModel
from clmer.data.labels import CLASSES

SCHEMA_VERSION = "1.0"
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


def _target_prob(model: FusionModel, batch: dict, target: int) -> float:
    with torch.no_grad():
        return float(torch.softmax(model(batch)["logits"], -1)[0, target])


def _mean_input(model: FusionModel, m: str) -> torch.Tensor:
    return model.encoders[m].seq_norm.mean


def integrated_gradients(model: FusionModel, batch: dict, target: int, special: list,
                         steps: int = IG_STEPS) -> np.ndarray:
    """Attribution per token (T,) for the target class, along a straight path from the mean token."""
    x = batch["text"][0]
    base = _mean_input(model, "text").expand_as(x)
    alphas = torch.linspace(1.0 / steps, 1.0, steps).view(-1, 1, 1)
    path = (base + alphas * (x - base)).requires_grad_(True)  # (steps, T, d)
    mask = batch["text_mask"].expand(steps, -1)
    rest = {k: v.expand(steps, *v.shape[1:]) for k, v in batch.items() if not k.startswith("text")}
    # The sentence embedding is the mean of the non-special token embeddings: it follows the path too.
    glob = _sentence_along(path, mask, special)
    out = model({**rest, "text": path, "text_mask": mask, "text_global": glob})
    prob = torch.softmax(out["logits"], -1)[:, target].sum()
    (grad,) = torch.autograd.grad(prob, path)
    return ((x - base) * grad.mean(0)).sum(-1).detach().numpy()


def _sentence_along(path: torch.Tensor, mask: torch.Tensor, special: list) -> torch.Tensor:
    sp = torch.zeros_like(mask)
    sp[:, : len(special)] = torch.tensor([bool(x) for x in special], dtype=torch.bool)
    inner = mask & ~sp
    use = torch.where(inner.any(1, keepdim=True), inner, mask).unsqueeze(-1).float()
    return (path * use).sum(1) / use.sum(1).clamp_min(1)


def word_spans(text: str, language: str | None) -> list[tuple[str, int, int]]:
    """(word, start, end) character spans: jieba words for Chinese, word/punctuation runs otherwise."""
    if language == "zh" or re.search(r"[\u4e00-\u9fff]", text or ""):
        import jieba

        jieba.setLogLevel(60)
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


def _occlude(model: FusionModel, batch: dict, m: str, index_sets: list[np.ndarray], target: int) -> np.ndarray:
    """Drop in target probability when the given items of modality m are replaced by the mean."""
    full = _target_prob(model, batch, target)
    drops = []
    for idx in index_sets:
        b = dict(batch)
        seq = batch[m].clone()
        seq[0, idx] = _mean_input(model, m)
        b[m] = seq
        drops.append(full - _target_prob(model, b, target))
    return np.asarray(drops)


def audio_spans(model, batch, clip: ClipFeatures, target: int, top: int = 3) -> list[dict]:
    times = clip.times.get("audio", np.zeros(0))
    if not clip.present[1] or len(times) == 0:
        return []
    rate = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 10.0
    win, stride = max(1, int(AUDIO_WINDOW_S * rate)), max(1, int(AUDIO_STRIDE_S * rate))
    starts = list(range(0, max(1, len(times) - win + 1), stride))
    windows = [np.arange(s, min(len(times), s + win)) for s in starts]
    drops = _occlude(model, batch, "audio", windows, target)
    order = np.argsort(-drops)[:top]
    return [{"start": round(float(times[windows[i][0]]), 2), "end": round(float(times[windows[i][-1]] + 1.0 / rate), 2),
             "score": round(float(drops[i]), 6)} for i in order]


def key_frames(model, batch, clip: ClipFeatures, target: int, attn: np.ndarray, top: int = 3) -> list[dict]:
    times = clip.times.get("vision", np.zeros(0))
    if not clip.present[2] or len(times) == 0:
        return []
    drops = _occlude(model, batch, "vision", [np.array([i]) for i in range(len(times))], target)
    cue = clip.cues.get("vision", {})
    labels, scores = cue.get("labels", []), cue.get("scores", np.zeros((0, 0)))
    out = []
    for i in np.argsort(-drops)[:top]:
        cues = {lb: round(float(scores[i, j]), 4) for j, lb in enumerate(labels)} if len(scores) > i else {}
        out.append({"index": int(i), "time": round(float(times[i]), 2), "score": round(float(drops[i]), 6),
                    "attention": round(float(attn[i]), 4), "cues": cues})
    return out


def explain_clip(model: FusionModel, dims: dict, clip: ClipFeatures, info: ClipInfo, model_info: dict | None = None) -> dict:
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
        scores = integrated_gradients(model, batch, target, special)
        words = words_from_tokens(info.transcript, info.language, clip.offsets, special, scores)
        words = sorted(words, key=lambda w: -w["score"])[:8]
    audio_cues = clip.cues.get("audio", {})
    a_scores = audio_cues.get("scores", np.zeros((0, 0)))
    doc = {
        "schema_version": SCHEMA_VERSION,
        "clip": info.clip, "file": info.file, "language": info.language, "transcript": info.transcript,
        "prediction": {
            "polarity": CLASSES[target], "confidence": round(float(probs[target]), 6),
            "probabilities": {c: round(float(p), 6) for c, p in zip(CLASSES, probs)},
            "regression": round(float(out["reg"][0]), 6),
        },
        "present": {m: bool(p) for m, p in zip(MODALITIES, present)},
        "modality_shares": {m: round(float(w), 6) for m, w in zip(MODALITIES, weights)},
        "shapley": {m: round(float(v), 6) for m, v in zip(MODALITIES, shap["shapley"][0])},
        "top_words": words,
        "audio_spans": audio_spans(model, batch, clip, target),
        "audio_cues": ({lb: round(float(a_scores[0, j]), 4) for j, lb in enumerate(audio_cues.get("labels", []))}
                       if present[1] and len(a_scores) else {}),
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
    return doc


def validate_explanation(doc: dict) -> None:
    """Raise jsonschema.ValidationError if `doc` does not follow the explanation schema."""
    import json

    import jsonschema

    from clmer.data.contracts import contracts_dir

    schema = json.loads((contracts_dir() / "explanation.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
