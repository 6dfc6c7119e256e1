"""Verifiable rewards (and display checks) for the reasoning text. No learned judge: each one is checked
against the clip's facts (`clmer.explain.reasoning_prompts.facts`).

| reward     | 1.0 when                                                                                   |
|------------|--------------------------------------------------------------------------------------------|
| format     | the whole text is `<think>...</think><answer>...</answer>`                                  |
| language   | the think is in the clip's language (Chinese characters for zh, none for en)                |
| polarity   | the answer, and every polarity word in the think, is the MODEL's prediction (an explainer   |
|            | explains the model, not the gold label)                                                    |
| decisive   | the modality named after `decisive:` / `决定性：` is the one with the top share              |
| quotes     | every quoted span is in the transcript (0.5 when nothing is quoted)                        |
| numbers    | every number in the think is one of the evidence's numbers as the scaffold writes them,    |
|            | and every "N% of the decision" / "占判断的 N%" states one, that modality's own share, and   |
|            | every "confidence" / "置信度" its number                                                    |
| repetition | no word n-gram (character n-gram for Chinese) occurs twice or echoes the system prompt       |
| length     | the think has between min and max words (Chinese: characters / 2), partial credit outside |

Quotes are double quotes only (ASCII `"`, “”, 「」, 『』): the apostrophe of "I'm" is not a quote.
trl calls each reward with the completions and the dataset's columns as keyword lists; the rollout
passes the whole composed text as `text` and the facts as a JSON string `facts`.
"""

from __future__ import annotations

import json
import re

FORMAT = re.compile(r"^\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*$", re.DOTALL)
QUOTE = re.compile(r"[\"“「『]([^\"“”「」『』\n]{1,40})[\"”」』]")
DECISIVE = re.compile(r"(?:decisive|决定性)\s*[:=：]?\s*(text|audio|vision|words?|voice|face|visual|文本|语音|声音|面部|画面|视觉)",
                      re.IGNORECASE)
ALIASES = {"word": "text", "words": "text", "voice": "audio", "face": "vision", "visual": "vision", "文本": "text",
           "语音": "audio", "声音": "audio", "面部": "vision", "画面": "vision", "视觉": "vision"}
NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")
# A share as the scaffold states it: "(the voice, 12% of the decision)" / "语音（占判断的 12%）". The LM has
# written "语音（占判断的 高度）" (no number) and a 0-share face "占判断的 第一": a share phrase must carry the number.
SHARE_EN = re.compile(r"(?P<who>[A-Za-z ]{0,20}?),?\s*(?P<n>\d+(?:\.\d+)?%)?\s*of the decision", re.IGNORECASE)
SHARE_ZH = re.compile(r"(?P<who>[\u3400-\u9fff]{0,6})[（(]?\s*占判断的\s*(?P<n>\d+(?:\.\d+)?%)?")
# ... and so must a confidence: "（置信度：文本的准确率）" passed until this was checked
CONFIDENCE = {"en": re.compile(r"confidence(?P<rest>[^.;,)]{0,12})", re.IGNORECASE),
              "zh": re.compile(r"置信度(?P<rest>[^。，；）)]{0,8})")}
SHARE_NAMES = {"en": {"words": "text", "text": "text", "voice": "audio", "audio": "audio", "face": "vision",
                      "vision": "vision"},
               "zh": {"文本": "text", "语音": "audio", "声音": "audio", "面部": "vision", "画面": "vision"}}
POLARITY_WORDS = {"negative": ("negative", "消极", "负面"), "neutral": ("neutral", "中性"),
                  "positive": ("positive", "积极", "正面")}
REWARDS = ("format", "language", "polarity", "decisive", "quotes", "numbers", "repetition", "length")


def _text(completion) -> str:
    """trl passes strings for plain prompts and message lists for conversational ones."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def parse(completion) -> tuple[str | None, str | None]:
    """(think, answer) when the format holds, else (None, None)."""
    m = FORMAT.match(_text(completion))
    return (m.group("think").strip(), m.group("answer").strip()) if m else (None, None)


def _unquoted(think: str) -> str:
    return QUOTE.sub(" ", think)


def language_ok(think: str, language: str) -> bool:
    """zh: at least 70 % of the letters outside quotes are Chinese; en: none are."""
    if "\ufffd" in think:  # a character the LM left half-written (byte-level tokens) is in no language
        return False
    rest = _unquoted(think)
    cjk, latin = len(CJK.findall(rest)), len(LATIN.findall(rest))
    if language == "zh":
        return cjk > 0 and cjk >= 0.7 * (cjk + latin / 4)  # ~4 Latin letters weigh like one character
    return cjk == 0 and latin > 0


def polarity_ok(think: str, answer: str | None, prediction: str) -> bool:
    if answer is None or answer.strip(" .").lower() != prediction:
        return False
    lower = _unquoted(think).lower()
    return not any(w in lower for p, words in POLARITY_WORDS.items() if p != prediction for w in words)


def decisive_ok(think: str, shares: dict) -> bool:
    named = DECISIVE.search(think)
    if not named or not shares:
        return False
    modality = ALIASES.get(named.group(1).lower(), named.group(1).lower())
    return modality == max(shares, key=shares.get)


def quotes_score(think: str, transcript: str) -> float:
    quotes = [q.strip() for q in QUOTE.findall(think) if q.strip()]
    if not quotes:
        return 0.5
    lower = transcript.lower()
    return 1.0 if all(q.lower() in lower for q in quotes) else 0.0


def allowed_numbers(f: dict) -> set[str]:
    """The evidence's numbers as the scaffold and the template write them."""
    out = {f"{f['confidence']:.2f}"} | {f"{v:.0%}" for v in f["shares"].values()} | {f"{v:.0%}"[:-1] for v in f["shares"].values()}
    if f.get("face"):
        out |= {f"{f['face']['time']:.1f}", f"{f['face']['score']:.2f}"}
    if f.get("voice"):
        out |= {f"{f['voice']['start']:.1f}", f"{f['voice']['end']:.1f}"}
    return out


def _share_statements(think: str, f: dict) -> list[bool]:
    """One entry per share phrase: does it state a number, and, where it names its modality, that one's share?"""
    lang = f.get("language", "en")
    pattern = SHARE_ZH if lang == "zh" else SHARE_EN
    out = []
    for m in pattern.finditer(_unquoted(think)):
        if not m.group("n"):
            out.append(False)
            continue
        who = m.group("who").lower()
        named = [mod for word, mod in SHARE_NAMES[lang].items() if word in who]
        own = {f"{f['shares'][mod]:.0%}" for mod in named if mod in f["shares"]}
        out.append(not own or m.group("n") in own)
    out += [bool(re.search(r"\d", m.group("rest"))) for m in CONFIDENCE[lang].finditer(_unquoted(think))]
    return out


def numbers_score(think: str, f: dict) -> float:
    stated = NUMBER.findall(_unquoted(think))
    verdicts = [n in allowed_numbers(f) for n in stated] + _share_statements(think, f)
    return sum(verdicts) / len(verdicts) if verdicts else 1.0


def _units(text: str, language: str) -> list[str]:
    rest = _unquoted(text)
    if language == "zh":
        return [c for c in rest if CJK.match(c) or c.isalnum()]
    return re.findall(r"[a-z0-9']+", rest.lower())


def _grams(units: list[str], n: int) -> list[tuple]:
    return [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]


def repetition_score(think: str, language: str) -> float:
    """(1 - the fraction of n-grams, 3 words or 4 Chinese characters, that repeat an earlier one) x (1 - the
    fraction of 5-word / 6-character spans copied from the system prompt): a loop, or the instruction
    echoed back, explains nothing."""
    from clmer.explain.reasoning_prompts import SYSTEM

    units = _units(think, language)
    n, m = (4, 6) if language == "zh" else (3, 5)
    grams = _grams(units, n)
    if not grams:
        return 1.0
    echo = set(_grams(_units(SYSTEM[language], language), m))
    spans = _grams(units, m)
    copied = sum(g in echo for g in spans) / len(spans) if spans else 0.0
    return len(set(grams)) / len(grams) * (1.0 - copied)


def length_score(think: str, language: str, min_words: int = 12, max_words: int = 70) -> float:
    units = _units(think, language)
    words = len(units) / 2 if language == "zh" else len(units)
    if min_words <= words <= max_words:
        return 1.0
    if words < min_words:
        return words / min_words
    return max(0.0, 1.0 - (words - max_words) / max_words)


def scores(text: str, f: dict, min_words: int = 12, max_words: int = 70) -> dict[str, float]:
    """Every reward of one text against its clip's facts."""
    think, answer = parse(text)
    if think is None:
        return dict.fromkeys(REWARDS, 0.0)
    lang = f["language"]
    return {"format": 1.0, "language": float(language_ok(think, lang)),
            "polarity": float(polarity_ok(think, answer, f["polarity"])),
            "decisive": float(decisive_ok(think, f["shares"])), "quotes": quotes_score(think, f["transcript"]),
            "numbers": numbers_score(think, f), "repetition": repetition_score(think, lang),
            "length": length_score(think, lang, min_words, max_words)}


def grounding_score(think: str, transcript: str, shares: dict) -> float:
    """Mean of: quotes all in the transcript (1 if none quoted), decisive modality is the top share."""
    quotes = [q.strip() for q in QUOTE.findall(think)]
    quoted_ok = all(q.lower() in transcript.lower() for q in quotes if q)
    return (float(quoted_ok) + float(decisive_ok(think, shares))) / 2


def reward_functions(min_words: int, max_words: int) -> list:
    """One trl reward function per entry of REWARDS, reading the rollout's `text` and the `facts` column."""
    def make(name):
        def reward(completions, text=None, facts=None, **_) -> list[float]:
            texts = text if text is not None else [_text(c) for c in completions]
            return [scores(t, json.loads(fj), min_words, max_words)[name] for t, fj in zip(texts, facts)]
        reward.__name__ = f"{name}_reward"
        return reward
    return [make(name) for name in REWARDS]
