"""Attributions to the items of one clip: words, audio spans and frames.

Everything is measured in the log-odds of the explained class, log p / (1 - p): at confidence .99 a
probability hardly moves when a word is removed (that is why round-2 key words scored ~0), while its
log-odds still do. Raw scores are kept as `score`; for readers, the positive scores of a modality are
rescaled to sum to that modality's share of the decision (`share`), so "“thrilled” 31 %" and "text
48 %" are on one scale.

* words: integrated gradients along a straight path from the training set's average token to the
  clip's tokens. Special tokens and the encoder's prompt prefix stay fixed at their own values, so
  all of the attribution lands on the transcript's words (IG's completeness then holds for them);
  sub-word pieces are summed into their word (jieba words for Chinese, word runs otherwise); a
  piece straddling two words is split by the characters it covers.
* audio spans and frames: occlusion, i.e. the item removed from the model's input. Audio windows
  do not overlap, so their shares add up.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from clmer.model.attribution import class_log_odds
from clmer.model.fusion import FusionModel

IG_STEPS = 64
AUDIO_WINDOW_S = 1.0


def log_odds(logits: torch.Tensor, target: int) -> torch.Tensor:
    """log p_t - log(1 - p_t) of class `target` for logits (B, C)."""
    return class_log_odds(logits)[:, target]


def expand(batch: dict, k: int) -> dict:
    """k copies of a one-clip batch (views, no copy)."""
    return {key: v.expand(k, *v.shape[1:]) for key, v in batch.items()}


@torch.no_grad()
def keep_values(model: FusionModel, batch: dict, m: str, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-odds, probabilities) of every class for each row of `keep` (K, n): the one-clip batch with
    only the kept items of modality m in the model's input."""
    k, n = keep.shape
    mask = batch[f"{m}_mask"].expand(k, -1).clone()
    mask[:, :n] &= torch.from_numpy(np.ascontiguousarray(keep))
    logits = model({**expand(batch, k), f"{m}_mask": mask})["logits"]
    return class_log_odds(logits).numpy(), torch.softmax(logits, -1).numpy()


def text_baseline(model: FusionModel, batch: dict, special: list) -> torch.Tensor:
    """The IG baseline (T, d): the training set's average token where the clip has words, the clip's own
    token where it has a special or prompt-prefix token."""
    x = batch["text"][0]
    base = model.encoders["text"].seq_norm.mean.expand_as(x).clone()
    fixed = torch.zeros(len(x), dtype=torch.bool)
    fixed[: len(special)] = torch.as_tensor([bool(s) for s in special], dtype=torch.bool)
    base[fixed] = x[fixed]
    return base


def integrated_gradients(model: FusionModel, batch: dict, target: int, special: list | None = None,
                         steps: int = IG_STEPS) -> np.ndarray:
    """Attribution per token (T,) to the target's log-odds (midpoint rule over `steps` points); the scores
    sum to log-odds(clip) - log-odds(baseline) up to the quadrature error."""
    x = batch["text"][0]
    base = text_baseline(model, batch, special or [])
    alphas = ((torch.arange(steps, dtype=x.dtype) + 0.5) / steps).view(-1, 1, 1)
    path = (base + alphas * (x - base)).requires_grad_(True)  # (steps, T, d)
    rest = {k: v.expand(steps, *v.shape[1:]) for k, v in batch.items() if k != "text"}
    value = log_odds(model({**rest, "text": path})["logits"], target).sum()
    (grad,) = torch.autograd.grad(value, path)
    return ((x - base) * grad.mean(0)).sum(-1).detach().numpy()


@torch.no_grad()
def ig_gap(model: FusionModel, batch: dict, target: int, special: list | None = None) -> float:
    """log-odds(clip) - log-odds(baseline): what the token attributions must add up to."""
    base = {**batch, "text": text_baseline(model, batch, special or []).unsqueeze(0)}
    return float(log_odds(model(batch)["logits"], target)[0] - log_odds(model(base)["logits"], target)[0])


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
    """Token attributions summed into the words whose characters they cover (a token over two words is
    split by characters). Each word also lists its token indices (`tokens`), so it can be removed."""
    words = word_spans(text, language)
    totals = np.zeros(len(words))
    members: list[list[int]] = [[] for _ in words]
    for t, ((start, end), sp, score) in enumerate(zip(offsets, special, scores)):
        if sp or end <= start:
            continue
        for i, (_, ws, we) in enumerate(words):
            overlap = min(end, we) - max(start, ws)
            if overlap > 0:
                totals[i] += float(score) * overlap / (end - start)
                members[i].append(t)
    return [{"word": w, "start_char": s, "end_char": e, "score": float(t), "tokens": idx}
            for (w, s, e), t, idx in zip(words, totals, members)]


def is_word(word: str) -> bool:
    """Punctuation is never a key word."""
    return bool(re.search(r"\w", word))


def occlusion(model: FusionModel, batch: dict, m: str, units: list[np.ndarray], n: int, target: int) -> np.ndarray:
    """Fall of the target's log-odds when each unit (a set of item indices of modality m) is removed."""
    keep = np.ones((len(units) + 1, n), bool)
    for i, idx in enumerate(units):
        keep[i + 1, idx] = False
    odds, _ = keep_values(model, batch, m, keep)
    return odds[0, target] - odds[1:, target]


def audio_windows(times: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Back-to-back 1 s windows over the audio items (no overlap: their shares add up), and the item rate."""
    rate = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 10.0
    win = max(1, int(round(AUDIO_WINDOW_S * rate)))
    return [np.arange(s, min(len(times), s + win)) for s in range(0, len(times), win)], rate


def to_shares(scores: np.ndarray, share: float) -> np.ndarray:
    """The positive scores rescaled to sum to the modality's share; items against the decision get 0."""
    pos = np.clip(np.nan_to_num(np.asarray(scores, float)), 0.0, None)
    total = pos.sum()
    return share * pos / total if total > 0 else np.zeros(len(pos))
