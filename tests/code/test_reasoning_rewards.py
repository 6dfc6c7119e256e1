"""The explainer's verifiable rewards on hand-written texts: each one passes the right text and fails
the one it is about (wrong language, polarity, decisive modality, invented quote or number, a loop)."""

import json

import pytest

from clmer.explain.reasoning_prompts import facts
from clmer.explain.reasoning_rewards import QUOTE, REWARDS, parse, reward_functions, scores
from tests.code.test_reasoning_template import CASES

EN, ZH = facts(CASES[0]), facts(CASES[1])  # en: positive, text decisive (60 %); zh: positive, text decisive
OPEN = "The model predicts positive (confidence 0.81); decisive: text (the words, 60% of the decision)."
RIGHT = f"<think>{OPEN} The speaker says “happy” and sounds lively, and the face smiles.</think><answer>positive</answer>"
ZH_RIGHT = ("<think>模型判断为积极（置信度 0.81），决定性：文本（占判断的 60%）。说话人提到“开心”，语气轻快，面部也在微笑。</think>"
            "<answer>positive</answer>")


def test_the_right_text_earns_every_reward():
    assert scores(RIGHT, EN) == dict.fromkeys(REWARDS, 1.0)
    assert scores(ZH_RIGHT, ZH) == dict.fromkeys(REWARDS, 1.0)


@pytest.mark.parametrize("text,reward", [
    ("<think>positive because happy</think> positive", "format"),
    (RIGHT.replace("The speaker says “happy” and sounds lively, and the face smiles.", "说话人很开心，面部在微笑。"), "language"),
    (RIGHT.replace("<answer>positive</answer>", "<answer>negative</answer>"), "polarity"),
    (RIGHT.replace("sounds lively", "sounds negative"), "polarity"),
    (RIGHT.replace("decisive: text", "decisive: vision"), "decisive"),
    (RIGHT.replace("“happy”", "“terrible”"), "quotes"),
    (RIGHT.replace("sounds lively", "sounds 73% lively"), "numbers"),
    (RIGHT.replace("and the face smiles.", "and the face smiles and the face smiles and the face smiles."), "repetition"),
    ("<think>decisive: text “happy”</think><answer>positive</answer>", "length"),
])
def test_each_reward_fails_the_text_it_is_about(text, reward):
    got = scores(text, EN)
    assert got[reward] < 1.0, got


def test_a_chinese_clip_answered_in_english_fails_language_only():
    english = ZH_RIGHT.replace("说话人提到“开心”，语气轻快，面部也在微笑。", "The speaker says “开心” and smiles at the camera happily.")
    got = scores(english, ZH)
    assert got["language"] == 0.0 and got["format"] == got["polarity"] == got["decisive"] == 1.0


def test_the_apostrophe_of_im_is_not_a_quote():
    think = "I'm sure it's the speaker's tone: “happy” is what they say"
    assert QUOTE.findall(think) == ["happy"]
    assert parse("<think>x</think><answer>neutral</answer>") == ("x", "neutral")


def test_trl_reward_functions_read_the_rollout_text_and_the_facts_column():
    funcs = reward_functions(12, 70)
    assert [f.__name__ for f in funcs] == [f"{r}_reward" for r in REWARDS]
    bad = RIGHT.replace("“happy”", "“terrible”")
    out = {f.__name__: f(["ignored"] * 2, text=[RIGHT, bad], facts=[json.dumps(EN)] * 2) for f in funcs}
    assert out["quotes_reward"] == [1.0, 0.0] and out["format_reward"] == [1.0, 1.0]


def test_echoing_the_instruction_counts_as_repetition():
    echo = ZH_RIGHT.replace("说话人提到“开心”，语气轻快，面部也在微笑。", "说话人说了什么，语音和面部表情如何支持这个判断。")
    assert scores(echo, ZH)["repetition"] < 0.8 <= scores(ZH_RIGHT, ZH)["repetition"]


def test_a_share_phrase_must_state_that_modalitys_own_share():
    """Seen on the Kokoro demo: "语音（占判断的 高度）" and "面部表情（占判断的 第一…）" passed every check."""
    no_number = ZH_RIGHT.replace("说话人提到", "语音（占判断的 高度）支持这个判断。说话人提到")
    assert scores(no_number, ZH)["numbers"] < 1.0
    other = {m: v for m, v in ZH["shares"].items() if m != "text"}
    wrong_owner = max(other, key=lambda m: abs(other[m] - ZH["shares"]["text"]))
    swapped = ZH_RIGHT.replace("文本（占判断的 60%）", f"{ {'audio': '语音', 'vision': '面部'}[wrong_owner]}（占判断的 60%）")
    assert scores(swapped, ZH)["numbers"] < 1.0  # 60 % is text's share, not this modality's
    en_no_number = RIGHT.replace("and the face smiles.", "and the face, much of the decision, smiles.")
    assert scores(en_no_number, EN)["numbers"] < 1.0
    assert scores(RIGHT, EN)["numbers"] == scores(ZH_RIGHT, ZH)["numbers"] == 1.0


def test_a_half_written_character_is_in_no_language():
    assert scores(ZH_RIGHT.replace("开心", "开\ufffd"), ZH)["language"] == 0.0


def test_a_confidence_without_its_number_fails_numbers():
    vague = ZH_RIGHT.replace("说话人提到", "语音（置信度：语音的准确率）一般。说话人提到")
    assert scores(vague, ZH)["numbers"] < 1.0
    assert scores(RIGHT.replace("and the face smiles.", "and the face smiles with confidence."), EN)["numbers"] < 1.0
