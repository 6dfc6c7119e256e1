"""What the reasoning LM is told, and the facts it may not change, in the clip's language.

`facts(doc)` is the one place that reads the explanation document (contract keys only: prediction,
modality_shares, top_words, audio_spans, key_frames, language, transcript; `present` and `prosody`
when a document has them). Everything else here renders those facts:

* `messages(f)`: a short system prompt and the evidence, both in the clip's language (a Chinese clip
  gets a Chinese prompt: with an English one Qwen answers in English);
* `scaffold(f)`: the opening of `<think>` written by construction: the model's prediction, its
  confidence and the decisive modality with its share. Every number of the text is in it, so the LM's
  connecting sentences carry no digits (they are suppressed while it writes) and the numbers, the
  answer and the decisive modality are right by construction.
"""

from __future__ import annotations

MODALITIES = ("text", "audio", "vision")
POLARITY = {"en": {"negative": "negative", "neutral": "neutral", "positive": "positive"},
            "zh": {"negative": "消极", "neutral": "中性", "positive": "积极"}}
MODALITY_WORDS = {"en": {"text": "the words", "audio": "the voice", "vision": "the face"},
                  "zh": {"text": "文本", "audio": "语音", "vision": "面部"}}
# The checker reads `decisive: <modality>` (en) / `决定性：<文本|语音|面部>` (zh).
DECISIVE_NAME = {"en": {m: m for m in MODALITIES}, "zh": MODALITY_WORDS["zh"]}
SYSTEM = {
    "en": ("You explain why an emotion-recognition model made its decision about a video clip. Continue the "
           "explanation in English with one or two short, plain sentences that connect the evidence: what the "
           "speaker says (quote a key word in double quotes), how the voice and the face fit the prediction. "
           "Do not repeat yourself and do not give numbers."),
    "zh": ("你负责解释情感识别模型对一段视频的判断。请用中文接着写一两句简短、通顺的话，把证据联系起来："
           "说话人说了什么（用“”引用一个关键词），语音和面部表情如何支持这个判断。不要重复，不要写数字。"),
}


def language_of(doc: dict) -> str:
    return "zh" if str(doc.get("language") or "").lower().startswith("zh") else "en"


def _present(doc: dict, shares: dict) -> dict:
    present = doc.get("present") or {}
    return {m: float(v) for m, v in shares.items() if present.get(m, True)}


def _rank(item: dict) -> float:
    """Items are ranked by their share of the decision (contract), else by their raw score."""
    value = item.get("share")
    return float(value if value is not None else item.get("score") or 0.0)


def _is_word(word: str) -> bool:
    return any(c.isalnum() for c in word)


def facts(doc: dict) -> dict:
    """The checkable facts of one clip, read from its explanation document."""
    lang = language_of(doc)
    pred = doc["prediction"]
    shares = _present(doc, doc.get("modality_shares") or {})
    decisive = max(shares, key=shares.get) if shares else "text"
    transcript = str(doc.get("transcript") or "")
    words, seen = [], set()
    for item in sorted(doc.get("top_words") or [], key=_rank, reverse=True):
        word = str(item.get("word") or "").strip()
        if _rank(item) > 0 and _is_word(word) and word in transcript and word.lower() not in seen:
            seen.add(word.lower())
            words.append(word)
    spans = sorted(doc.get("audio_spans") or [], key=_rank, reverse=True)
    frames = sorted(doc.get("key_frames") or [], key=_rank, reverse=True)
    face = None
    for frame in frames[:1]:
        cues = frame.get("cues") or {}
        if cues:
            label = max(cues, key=cues.get)
            face = {"label": label, "score": float(cues[label]), "time": float(frame.get("time") or 0.0)}
    voice = None
    if spans:
        voice = {"start": float(spans[0].get("start") or 0.0), "end": float(spans[0].get("end") or 0.0)}
    prosody = {k: v.get("words") for k, v in (doc.get("prosody") or {}).items()
               if isinstance(v, dict) and v.get("words") and v.get("z") is not None}
    return {"language": lang, "polarity": pred["polarity"], "confidence": float(pred.get("confidence") or 0.0),
            "shares": shares, "decisive": decisive, "decisive_share": shares.get(decisive, 0.0),
            "transcript": transcript, "words": words[:3], "voice": voice, "face": face, "prosody": prosody}


EVIDENCE = {  # the evidence block's lines, per language
    "en": {"transcript": 'transcript: "{}"', "words": "key words: {}", "shares": "shares: {}", "voice": "voice: {}",
           "face": "face: {} at {:.1f} s", "prediction": "model prediction: {}", "sep": ", ", "none": "none"},
    "zh": {"transcript": "说话内容：“{}”", "words": "关键词：{}", "shares": "各模态占比：{}", "voice": "语音：{}",
           "face": "面部：{}（第 {:.1f} 秒）", "prediction": "模型判断：{}", "sep": "，", "none": "无"},
}


def evidence_text(f: dict) -> str:
    """The evidence block of the user turn, in the clip's language (numbers rounded as the scaffold says)."""
    lang = f["language"]
    e, names = EVIDENCE[lang], MODALITY_WORDS[lang] if lang == "zh" else {m: m for m in MODALITIES}
    words_sep = "、" if lang == "zh" else ", "
    lines = [e["transcript"].format(f["transcript"]), e["words"].format(words_sep.join(f["words"]) or e["none"]),
             e["shares"].format(e["sep"].join(f"{names[m]} {v:.0%}" for m, v in f["shares"].items()))]
    if f["prosody"]:
        key = (lambda k: k) if lang == "zh" else (lambda k: k.replace("_", " "))
        lines.append(e["voice"].format(e["sep"].join(f"{key(k)} {v}" for k, v in f["prosody"].items())))
    if f["face"]:
        lines.append(e["face"].format(f["face"]["label"], f["face"]["time"]))
    lines.append(e["prediction"].format(POLARITY[lang][f["polarity"]]))
    return "\n".join(lines)


def scaffold(f: dict) -> str:
    """The constructed opening of `<think>`: prediction, confidence, decisive modality and its share."""
    lang, share = f["language"], f["decisive_share"]
    if lang == "zh":
        return (f"模型判断为{POLARITY['zh'][f['polarity']]}（置信度 {f['confidence']:.2f}），"
                f"决定性：{DECISIVE_NAME['zh'][f['decisive']]}（占判断的 {share:.0%}）。")
    return (f"The model predicts {f['polarity']} (confidence {f['confidence']:.2f}); decisive: {f['decisive']} "
            f"({MODALITY_WORDS['en'][f['decisive']]}, {share:.0%} of the decision).")


def messages(f: dict) -> list[dict]:
    return [{"role": "system", "content": SYSTEM[f["language"]]}, {"role": "user", "content": evidence_text(f)}]


def prompt_text(tokenizer, f: dict) -> str:
    """The prompt up to and including the scaffold: the chat template when the tokenizer has one, with the
    assistant's turn opened and `<think>` + scaffold already written."""
    opening = "<think>" + scaffold(f)
    if getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template(messages(f), tokenize=False, add_generation_prompt=True)
        return head + opening
    return f"{SYSTEM[f['language']]}\n\n{evidence_text(f)}\n{opening}"


def close(f: dict, think: str) -> str:
    """The whole reasoning text from a finished `<think>` body: the answer is the model's prediction."""
    return f"<think>{think}</think><answer>{f['polarity']}</answer>"
