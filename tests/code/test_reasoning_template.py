"""The grounded reasoning template says only what the evidence holds, in the clip's language, and an
LM completion that fails its checks is replaced by it."""

import pytest

from clmer.explain import reasoning
from clmer.explain.reasoning_rewards import QUOTE, grounding_score, parse
from clmer.explain.reasoning_template import template_reasoning


def doc(language="en", transcript="I am so happy, this is a wonderful day.", words=("happy", "wonderful", "day"),
        shares=(0.6, 0.3, 0.1), polarity="positive", prosody=True, present=(True, True, True)):
    names = ("text", "audio", "vision")
    d = {
        "clip": "c1", "language": language, "transcript": transcript,
        "prediction": {"polarity": polarity, "confidence": 0.81},
        "present": dict(zip(names, present)),
        "modality_shares": dict(zip(names, shares)),
        "top_words": [{"word": w, "score": 0.3 - 0.1 * i} for i, w in enumerate(words)] + [{"word": "the", "score": -0.2}],
        "audio_cues": {}, "key_frames": [{"time": 1.5, "cues": {"happy": 0.7, "neutral": 0.2}}],
        "decision_path": {"modality_verdicts": {
            "text": {"negative": 0.1, "neutral": 0.1, "positive": 0.8},
            "audio": {"negative": 0.2, "neutral": 0.6, "positive": 0.2},
            "vision": {"negative": 0.1, "neutral": 0.2, "positive": 0.7}}},
    }
    if prosody:
        d["prosody"] = {"pitch_level": {"value": 30.1, "z": 1.7, "words": "well above average"},
                        "loudness": {"value": 0.9, "z": -0.8, "words": "below average"}}
    return d


CASES = [doc(), doc("zh", "今天真是太开心了，我们一起去公园吧。", ("开心", "公园")),
         doc(shares=(0.1, 0.2, 0.7), polarity="negative", words=("so",)),
         doc("zh", "这家餐厅的服务太差了。", ("差", "服务"), shares=(0.2, 0.5, 0.3), polarity="negative", prosody=False),
         doc(present=(False, True, True), shares=(0.0, 0.6, 0.4), words=())]


@pytest.mark.parametrize("d", CASES)
def test_the_template_states_only_what_the_evidence_holds(d):
    out = template_reasoning(d)
    think, answer = parse(out["text"])
    assert out["source"] == "template" and out["status"] == "ok" and answer == d["prediction"]["polarity"]
    for quote in QUOTE.findall(think):
        assert quote in d["transcript"]  # every quoted word is in the transcript
    shares = {m: v for m, v in d["modality_shares"].items() if d["present"][m]}
    assert grounding_score(think, d["transcript"], shares) == 1.0  # the decisive modality is the top share
    assert out["checks"]["format"] and out["checks"]["grounding"] == 1.0 and out["checks"]["answer_is_prediction"]
    assert out["checks"]["language"] and out["checks"]["numbers"]


def test_the_template_speaks_the_clips_language_and_reads_prosody_and_faces():
    en, zh = template_reasoning(CASES[0])["think"], template_reasoning(CASES[1])["think"]
    assert "pitch well above average" in en and "happy" in en and "1.5 s" in en
    assert "决定性：文本" in zh and "音高远高于平均" in zh and "“开心”" in zh
    assert "Pointing elsewhere: the voice" in en  # audio's own verdict was neutral: the conflict is named


class _FakeLM(reasoning.Explainer):
    """The acceptance logic alone: `compose` returns a fixed text (the real decoder is tested on a tiny LM)."""

    def __init__(self, text):
        from types import SimpleNamespace

        from clmer.config import load_settings

        self.text, self.name, self.settings = text, "fake-lm", load_settings(None, {})
        self.runtime, self.max_new_tokens = SimpleNamespace(name="fake"), 8

    def compose(self, fs, temperature=None):
        from clmer.explain.reasoning_decode import Composition

        think = parse(self.text)[0] or ""
        return [Composition(text=self.text, think=think, prompt_ids=[], lm_tokens=12) for _ in fs]


OPEN = "The model predicts positive (confidence 0.81); decisive: text (the words, 60% of the decision)."


def test_an_lm_text_that_fails_a_check_falls_back_to_the_template_and_says_which():
    d = CASES[0]
    ungrounded = f"<think>{OPEN} The speaker says “terrible” here.</think><answer>positive</answer>"
    out = _FakeLM(ungrounded).reason(d)
    assert out["source"] == "template" and out["lm"]["text"] == ungrounded and out["rejected"] == ["grounding"]
    assert out["lm"]["checks"]["grounding"] < 1 and out["text"] == template_reasoning(d)["text"]
    looped = f"<think>{OPEN} " + "so happy so happy " * 6 + "</think><answer>positive</answer>"
    assert _FakeLM(looped).reason(d)["rejected"] == ["repetition"]
    nothing = f"<think>{OPEN}</think><answer>positive</answer>"
    assert _FakeLM(nothing).reason(d)["rejected"] == ["lm_wrote"]
    good = f"<think>{OPEN} The speaker says “happy” and “wonderful”, and smiles.</think><answer>positive</answer>"
    kept = _FakeLM(good).reason(d)
    assert kept["source"] == "lm" and kept["answer"] == "positive" and kept["checks"]["failed"] == []
