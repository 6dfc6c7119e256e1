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
    assert out["checks"] == {"format": True, "grounding": 1.0, "answer_is_prediction": True}


def test_the_template_speaks_the_clips_language_and_reads_prosody_and_faces():
    en, zh = template_reasoning(CASES[0])["think"], template_reasoning(CASES[1])["think"]
    assert "pitch well above average" in en and "happy" in en and "1.5 s" in en
    assert "决定性：文本" in zh and "音高远高于平均" in zh and "“开心”" in zh
    assert "Pointing elsewhere: the voice" in en  # audio's own verdict was neutral: the conflict is named


class _FakeLM(reasoning.Explainer):
    def __init__(self, text):  # no model: only the checks are under test
        self.text, self.name = text, "fake-lm"

    def generate(self, doc):
        return self.text, 12


def test_an_lm_text_that_fails_grounding_falls_back_to_the_template():
    d = CASES[0]
    ungrounded = '<think>The speaker says "terrible". decisive: vision</think><answer>positive</answer>'
    out = _FakeLM(ungrounded).reason(d)
    assert out["source"] == "template" and out["lm"]["text"] == ungrounded and out["lm"]["checks"]["grounding"] < 1
    wrong_answer = '<think>The speaker says "happy". decisive: text</think><answer>negative</answer>'
    assert _FakeLM(wrong_answer).reason(d)["source"] == "template"
    good = '<think>The speaker says "happy" and "wonderful". decisive: text</think><answer>positive</answer>'
    kept = _FakeLM(good).reason(d)
    assert kept["source"] == "lm" and kept["answer"] == "positive" and kept["checks"]["grounding"] == 1.0
