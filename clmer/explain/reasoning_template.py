"""The grounded reasoning text: written deterministically from a clip's explanation, in its language.

Every report carries a reasoning text. When no LM explainer is available, or an LM completion fails
its format or grounding check, this one is used: it says only what the evidence holds, so its
quotes are words of the transcript the attribution ranked, its decisive modality is the top
attribution share, its prosody comes from the eGeMAPS z-scores and its expression from the key
frames' cue scores, and it says where the modalities agree with the prediction and where they
conflict. Same output shape as the LM: `<think>...</think><answer>polarity</answer>`.
"""

from __future__ import annotations

from clmer.explain.reasoning_rewards import grounding_score, parse, polarity_ok, scores

NAMES = {"en": {"text": "the words", "audio": "the voice", "vision": "the face"},
         "zh": {"text": "文本", "audio": "语音", "vision": "面部"}}
POLARITY_ZH = {"negative": "消极", "neutral": "中性", "positive": "积极"}
PROSODY_EN = {"pitch_level": "pitch", "pitch_range": "pitch range", "loudness": "loudness",
              "speaking_rate": "speaking rate"}
PROSODY_ZH = {"pitch_level": "音高", "pitch_range": "音域", "loudness": "响度", "speaking_rate": "语速"}
LEVEL_ZH = {"well below average": "远低于平均", "below average": "低于平均", "about average": "接近平均",
            "above average": "高于平均", "well above average": "远高于平均", "no reference": "无参照"}


def _decisive(doc: dict) -> str | None:
    shares = {m: v for m, v in (doc.get("modality_shares") or {}).items() if (doc.get("present") or {}).get(m)}
    return max(shares, key=shares.get) if shares else None


def _quotes(doc: dict, n: int = 3) -> list[str]:
    from clmer.explain.reasoning_prompts import facts

    return facts(doc)["words"][:n]  # ranked by share (else score), in the transcript, not punctuation


def _is_punct(word: str) -> bool:
    return all(not c.isalnum() for c in word)


def _agreement(doc: dict) -> tuple[list[str], list[str]]:
    """Modalities whose own verdict agrees with the prediction, and those that point elsewhere."""
    polarity = doc["prediction"]["polarity"]
    agree, conflict = [], []
    for m, verdict in ((doc.get("decision_path") or {}).get("modality_verdicts") or {}).items():
        (agree if max(verdict, key=verdict.get) == polarity else conflict).append(m)
    return agree, conflict


def _face(doc: dict) -> tuple[str, float, float] | None:
    """(expression, score, time) of the strongest expression over the key frames."""
    best = None
    for kf in doc.get("key_frames") or []:
        for label, score in (kf.get("cues") or {}).items():
            if best is None or score > best[1]:
                # the "neutral" expression is said "calm": "neutral" names a class in the checks
                best = ("calm" if label == "neutral" else label, float(score), float(kf.get("time", 0.0)))
    return best


def _audio_en(doc: dict) -> str | None:
    if doc.get("prosody"):
        parts = [f"{PROSODY_EN.get(k, k)} {v['words']}" for k, v in doc["prosody"].items() if v.get("z") is not None]
        return ("the voice: " + ", ".join(parts) + " for this speaker set") if parts else None
    cues = doc.get("audio_cues") or {}
    if cues:
        top = max(cues, key=cues.get)
        return f"the voice sounds {top} ({cues[top]:.2f})"
    return None


def _audio_zh(doc: dict) -> str | None:
    if doc.get("prosody"):
        parts = [f"{PROSODY_ZH.get(k, k)}{LEVEL_ZH.get(v['words'], v['words'])}" for k, v in doc["prosody"].items()
                 if v.get("z") is not None]
        return ("语音：" + "，".join(parts)) if parts else None
    cues = doc.get("audio_cues") or {}
    if cues:
        top = max(cues, key=cues.get)
        return f"语音听起来偏向 {top}（{cues[top]:.2f}）"  # no quotation marks: quotes are reserved for transcript words
    return None


def think_en(doc: dict) -> str:
    p = doc["prediction"]
    parts = [f"The model predicts {p['polarity']} (confidence {p['confidence']:.2f})."]
    decisive = _decisive(doc)
    if decisive:
        parts.append(f"decisive: {decisive} ({NAMES['en'][decisive]}, {doc['modality_shares'][decisive]:.0%} of the "
                     "decision).")
    if quotes := _quotes(doc):
        parts.append("Key words: " + ", ".join(f"“{q}”" for q in quotes) + ".")
    if audio := _audio_en(doc):
        parts.append(audio[0].upper() + audio[1:] + ".")
    if face := _face(doc):
        parts.append(f"The face looks {face[0]} ({face[1]:.2f}) at {face[2]:.1f} s.")
    agree, conflict = _agreement(doc)
    if agree:
        parts.append("Agreeing with the prediction: " + ", ".join(NAMES["en"][m] for m in agree) + ".")
    if conflict:
        parts.append("Pointing elsewhere: " + ", ".join(NAMES["en"][m] for m in conflict) + ".")
    return " ".join(parts)


def think_zh(doc: dict) -> str:
    p = doc["prediction"]
    parts = [f"模型判断为{POLARITY_ZH[p['polarity']]}（置信度 {p['confidence']:.2f}）。"]
    decisive = _decisive(doc)
    if decisive:
        parts.append(f"决定性：{NAMES['zh'][decisive]}（占判断的 {doc['modality_shares'][decisive]:.0%}）。")
    if quotes := _quotes(doc):
        parts.append("关键词：" + "、".join(f"“{q}”" for q in quotes) + "。")
    if audio := _audio_zh(doc):
        parts.append(audio + "。")
    if face := _face(doc):
        parts.append(f"第 {face[2]:.1f} 秒的面部表情偏向 {face[0]}（{face[1]:.2f}）。")
    agree, conflict = _agreement(doc)
    if agree:
        parts.append("与判断一致：" + "、".join(NAMES["zh"][m] for m in agree) + "。")
    if conflict:
        parts.append("与判断不一致：" + "、".join(NAMES["zh"][m] for m in conflict) + "。")
    return "".join(parts)


def template_reasoning(doc: dict) -> dict:
    """The reasoning document for a clip, from its evidence alone (source "template")."""
    think = (think_zh if doc.get("language") == "zh" else think_en)(doc)
    answer = doc["prediction"]["polarity"]
    text = f"<think>{think}</think><answer>{answer}</answer>"
    return {"text": text, "think": think, "answer": answer, "source": "template", "status": "ok",
            "checks": checks(text, doc)}


CHECKS = ("format", "grounding", "answer_is_prediction", "language", "numbers", "repetition")


def checks(text: str, doc: dict, min_words: int = 12, max_words: int = 70) -> dict:
    """The verifiable checks a reasoning text must pass to be shown; `failed` names those it did not pass."""
    from clmer.explain.reasoning_prompts import facts

    f = facts(doc)
    think, answer = parse(text)
    s = scores(text, f, min_words, max_words)
    grounded = grounding_score(think, f["transcript"], f["shares"]) if think is not None else 0.0
    out = {"format": think is not None, "grounding": grounded,
           "answer_is_prediction": think is not None and polarity_ok(think, answer, f["polarity"]),
           "language": bool(s["language"]), "numbers": s["numbers"] == 1.0,
           "repetition": s["repetition"] >= 0.8}  # 1 - repeated n-gram share: below .8 is a loop
    out["failed"] = [k for k in CHECKS if (out[k] < 1.0 if k == "grounding" else not out[k])]
    return out


def reasoning_plaintext(doc: dict) -> str:
    """`<clip>.reasoning.txt`: the reasoning beside the JSON, for people who grep."""
    r = doc.get("reasoning") or {}
    p = doc.get("prediction") or {}
    return (f"clip: {doc.get('clip')}\nfile: {doc.get('file')}\nprediction: {p.get('polarity')} "
            f"(confidence {p.get('confidence', 0):.2f})\nsource: {r.get('source')}\n"
            f"think: {r.get('think', '')}\nanswer: {r.get('answer', '')}\n")
