"""Constrained decoding of the reasoning text: facts by construction, connecting sentences by the LM.

The text is `<think>` + scaffold + LM sentences + `</think><answer>prediction</answer>`:

* the scaffold (prediction, confidence, decisive modality and share) and the answer are written from
  the explanation's facts, never sampled;
* while the LM writes, tokens holding a digit, a tag bracket (`<`, `>`: it cannot write `</answer>`
  or open a new tag) or a closing quote are suppressed, so it states no number and closes no quote;
  so are the class names (negative, 消极, ...): the scaffold states the prediction, the LM names no class;
* a token that ends in an opening quote (`"`, `“`, `「`, `『`) stops the LM: the quote is then filled by
  construction with the next of the clip's top words (a one-path prefix trie: the most decisive word
  not yet quoted, then its closing mark) and the LM goes on. With no top word left, opening quotes
  are suppressed too. So every quote is a word of the transcript that the attribution ranked;
* so are the words of a share or a confidence ("decision", "confidence", tokens with "占" or "置信"): only
  the scaffold states those, with their numbers, which the LM cannot write;
* the LM ends at the end of its turn (EOS), at a newline, or after `max_new` tokens (then the text is
  cut back to its last full sentence).

Training's rollouts (`compose(..., temperature=T)`) decode exactly like this, sampled: the same
prompt, stops and constraints; the forced tokens are masked out of the loss (`env_mask`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from clmer.explain.reasoning_prompts import close, prompt_text, scaffold
from clmer.explain.reasoning_rewards import POLARITY_WORDS

OPEN_CLOSE = {'"': '"', "“": "”", "「": "」", "『": "』"}
QUOTE_CHARS = set('"“”「」『』')
SENTENCE_END = ".!?。！？"
SHARE_WORDS = {"decision", "decisions", "confidence", "confident"}


@dataclass
class Composition:
    text: str
    think: str
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)  # 1: the LM chose the token; 0: written by construction
    lm_tokens: int = 0
    quotes: list[str] = field(default_factory=list)


class TokenClasses:
    """The tokenizer's tokens sorted once: suppressed while the LM writes, quote openers, ends."""

    def __init__(self, tokenizer):
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False)
        ends = {tokenizer.eos_token_id}
        for name in ("<|im_end|>", "<|endoftext|>"):
            tid = tokenizer.convert_tokens_to_ids(name)
            if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id:
                ends.add(tid)
        self.ends = {t for t in ends if t is not None}
        self.newlines = {i for i, t in enumerate(texts) if "\n" in t or "\r" in t} - self.ends
        self.openers: dict[int, str] = {}
        suppress = []
        for i, t in enumerate(texts):
            if i in self.ends or i in self.newlines:
                continue
            if t and t[-1] in OPEN_CLOSE and not (QUOTE_CHARS & set(t[:-1])):
                self.openers[i] = OPEN_CLOSE[t[-1]]
            elif _blocked(t):
                suppress.append(i)
        self.suppress = suppress
        # tokens that are a class name (" negative", "消极", ...): the scaffold states the class, the LM's
        # sentences name none (so none contradicts it), and one batch keeps one constraint set
        names = {w for words in POLARITY_WORDS.values() for w in words}
        self.suppress += [i for i, t in enumerate(texts) if t.strip().lower() in names and i not in self.ends]
        # the share phrase ("of the decision", "占判断的"): the scaffold states the decisive share; the LM, which
        # writes no digit, would write it without its number ("语音（占判断的 高度）", seen on the demo)
        self.suppress += [i for i, t in enumerate(texts) if (t.strip().lower() in SHARE_WORDS or "占" in t or "置信" in t)
                          and i not in self.ends]


def _blocked(t: str) -> bool:
    """Numbers (digits, ½, %), control characters, tag brackets, quote marks, bare blanks, lone broken bytes."""
    return (any(unicodedata.category(c) in ("Nd", "No", "Nl", "Cc") or c in "%<>％" for c in t)
            or bool(QUOTE_CHARS & set(t)) or (len(t) > 0 and not t.strip()) or t == "\ufffd")


@lru_cache(maxsize=4)
def _classes(tokenizer) -> TokenClasses:
    return TokenClasses(tokenizer)


def token_classes(tokenizer) -> TokenClasses:
    try:
        return _classes(tokenizer)
    except TypeError:  # an unhashable tokenizer: no cache
        return TokenClasses(tokenizer)


def _trim(text: str) -> str:
    """Cut an LM part that ran out of tokens back to its last full sentence (if it has one)."""
    cut = max(text.rfind(c) for c in SENTENCE_END)
    return text[:cut + 1] if cut >= 0 else text


def compose(runtime, tokenizer, facts_list: list[dict], max_new: int = 48, max_quotes: int = 2,
            repetition_penalty: float = 1.1, temperature: float | None = None, min_first: int = 4) -> list[Composition]:
    """The reasoning texts of a batch of clips (their `facts`), decoded together; the LM writes at least
    `min_first` tokens before it may stop (an empty continuation explains nothing)."""
    classes = token_classes(tokenizer)
    stop_base = classes.ends | classes.newlines
    items = []
    for f in facts_list:
        ids = tokenizer(prompt_text(tokenizer, f), add_special_tokens=False)["input_ids"]
        items.append({"f": f, "prompt": list(ids), "ids": [], "mask": [], "words": list(f["words"][:max_quotes]),
                      "quoted": [], "done": False, "budget": max_new})
    while True:
        active = [it for it in items if not it["done"]]
        if not active:
            break
        groups: dict[tuple, list[dict]] = {}
        for it in active:  # one batch per constraint set
            groups.setdefault((bool(it["words"]), it["budget"] == max_new), []).append(it)
        for (quoting, first), group in groups.items():
            stop = stop_base | (set(classes.openers) if quoting else set())
            suppress = classes.suppress + ([] if quoting else list(classes.openers))
            outs = runtime.generate([it["prompt"] + it["ids"] for it in group], max(it["budget"] for it in group),
                                    stop, suppress, repetition_penalty, temperature, min_new=min_first if first else 0)
            for it, new in zip(group, outs):
                new = new[:it["budget"]]
                it["ids"] += new
                it["mask"] += [1] * len(new)
                it["budget"] -= len(new)
                last = new[-1] if new else None
                if quoting and last in classes.openers and it["budget"] > 0:
                    word = it["words"].pop(0)
                    forced = tokenizer(word + classes.openers[last], add_special_tokens=False)["input_ids"]
                    it["ids"] += forced
                    it["mask"] += [0] * len(forced)
                    it["quoted"].append(word)
                else:
                    it["done"] = True
    return [_finish(tokenizer, classes, it) for it in items]


def _finish(tokenizer, classes: TokenClasses, it: dict) -> Composition:
    ids = it["ids"]
    body_ids = ids[:-1] if ids and (ids[-1] in classes.ends or ids[-1] in classes.newlines) else ids
    written = tokenizer.decode(body_ids, skip_special_tokens=True).strip()
    if it["budget"] <= 0:
        written = _trim(written)
    lead = scaffold(it["f"])
    join = "" if it["f"]["language"] == "zh" or not written else " "
    think = lead + join + written
    return Composition(text=close(it["f"], think), think=think, prompt_ids=it["prompt"], completion_ids=list(ids),
                       mask=list(it["mask"]), lm_tokens=sum(it["mask"]), quotes=it["quoted"])
