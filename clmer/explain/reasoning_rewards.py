"""Verifiable rewards for the reasoning-text explainer (trl GRPO). No learned judge: each reward is
checked against the clip's data.

* format: the whole completion is `<think>...</think> <answer>...</answer>`;
* accuracy: the answer is the gold polarity;
* grounding: every quoted word occurs in the transcript, and the modality named as decisive
  (`decisive: text|audio|vision`) is the one with the largest share;
* length: the reasoning is between `min_words` and `max_words` words (partial credit outside,
  so even a random model's outputs earn different rewards and the gradient is not zero).

trl calls each with the completions and the dataset's columns as keyword lists.
"""

from __future__ import annotations

import json
import re

FORMAT = re.compile(r"^\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*$", re.DOTALL)
QUOTE = re.compile(r"[\"“”「『']([^\"“”「」『』']{1,40})[\"“”」』']")
DECISIVE = re.compile(r"(?:decisive|决定性)\s*[:=：]?\s*(text|audio|vision|words?|voice|face|visual|文本|语音|声音|面部|画面|视觉)",
                      re.IGNORECASE)
ALIASES = {"word": "text", "words": "text", "voice": "audio", "face": "vision", "visual": "vision", "文本": "text",
           "语音": "audio", "声音": "audio", "面部": "vision", "画面": "vision", "视觉": "vision"}


def _text(completion) -> str:
    """trl passes strings for plain prompts and message lists for conversational ones."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def parse(completion) -> tuple[str | None, str | None]:
    """(think, answer) when the format holds, else (None, None)."""
    m = FORMAT.match(_text(completion))
    return (m.group("think").strip(), m.group("answer").strip()) if m else (None, None)


def format_reward(completions, **_) -> list[float]:
    return [1.0 if parse(c)[0] is not None else 0.0 for c in completions]


def accuracy_reward(completions, gold: list[str], **_) -> list[float]:
    out = []
    for c, g in zip(completions, gold):
        _, answer = parse(c)
        out.append(1.0 if answer is not None and answer.lower().strip(" .") == g else 0.0)
    return out


def grounding_score(think: str, transcript: str, shares: dict) -> float:
    """Mean of: quotes all in the transcript (1 if none quoted), decisive modality is the top share."""
    quotes = [q.strip() for q in QUOTE.findall(think)]
    lower = transcript.lower()
    quoted_ok = all(q.lower() in lower for q in quotes if q)
    named = DECISIVE.search(think)
    decisive_ok = False
    if named and shares:
        modality = ALIASES.get(named.group(1).lower(), named.group(1).lower())
        decisive_ok = modality == max(shares, key=shares.get)
    return (float(quoted_ok) + float(decisive_ok)) / 2


def grounding_reward(completions, transcript: list[str], shares: list[str], **_) -> list[float]:
    out = []
    for c, t, s in zip(completions, transcript, shares):
        think, _ = parse(c)
        out.append(0.0 if think is None else grounding_score(think, t or "", json.loads(s)))
    return out


def length_reward(completions, min_words: int = 8, max_words: int = 60, **_) -> list[float]:
    out = []
    for c in completions:
        think, _ = parse(c)
        words = len((think if think is not None else _text(c)).split())
        if min_words <= words <= max_words:
            score = 1.0
        elif words < min_words:
            score = words / min_words
        else:
            score = max(0.0, 1.0 - (words - max_words) / max_words)
        out.append(score * (1.0 if think is not None else 0.5))
    return out


def make_length_reward(min_words: int, max_words: int):
    def length(completions, **kwargs) -> list[float]:
        return length_reward(completions, min_words, max_words)

    length.__name__ = "length_reward"
    return length
