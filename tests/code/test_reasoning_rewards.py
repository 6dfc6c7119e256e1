"""The explainer's verifiable rewards on hand-written completions: right, wrong, malformed, ungrounded."""

import json

import pytest

from clmer.explain.reasoning_rewards import (
    accuracy_reward,
    format_reward,
    grounding_reward,
    length_reward,
    make_length_reward,
    parse,
)

TRANSCRIPT = "I am so happy, this is a wonderful day."
SHARES = json.dumps({"text": 0.6, "audio": 0.3, "vision": 0.1})

RIGHT = ('<think>The speaker says "happy" and "wonderful day"; the voice is lively. decisive: text</think>'
         "<answer>positive</answer>")
WRONG = "<think>The speaker sounds flat and tired, nothing stands out. decisive: text</think> <answer>negative</answer>"
MALFORMED = "<think>positive because happy</think> positive"
UNGROUNDED = ('<think>The speaker says "terrible" and "awful", a clear complaint here today. decisive: vision</think>'
              "<answer>positive</answer>")


def test_format():
    assert format_reward([RIGHT, WRONG, MALFORMED, UNGROUNDED, "", "<answer>positive</answer>"]) == [1, 1, 0, 1, 0, 0]
    assert parse(RIGHT)[1] == "positive" and parse(MALFORMED) == (None, None)


def test_accuracy():
    gold = ["positive"] * 4
    assert accuracy_reward([RIGHT, WRONG, MALFORMED, UNGROUNDED], gold=gold) == [1.0, 0.0, 0.0, 1.0]
    assert accuracy_reward(["<think>x</think><answer> Positive. </answer>"], gold=["positive"]) == [1.0]


def test_grounding():
    r = grounding_reward([RIGHT, WRONG, MALFORMED, UNGROUNDED], transcript=[TRANSCRIPT] * 4, shares=[SHARES] * 4)
    assert r[0] == 1.0  # quotes are in the transcript, decisive = text = largest share
    assert r[1] == 1.0  # wrong answer, but grounded: nothing quoted falsely, decisive text is the top share
    assert r[2] == 0.0  # malformed earns nothing
    assert r[3] == 0.0  # quotes not in the transcript, decisive modality wrong


def test_grounding_counts_the_decisive_modality():
    no_claim = "<think>nothing said about modalities at all, just words here</think><answer>positive</answer>"
    wrong = '<think>"happy" decisive: audio</think><answer>positive</answer>'
    r = grounding_reward([no_claim, wrong], transcript=[TRANSCRIPT] * 2, shares=[SHARES] * 2)
    assert r == [0.5, 0.5]


def test_length_varies_so_the_gradient_is_not_zero():
    short = "<think>ok</think><answer>neutral</answer>"
    good = "<think>" + " ".join(["word"] * 20) + "</think><answer>neutral</answer>"
    long = "<think>" + " ".join(["word"] * 100) + "</think><answer>neutral</answer>"
    garbage = "zz qq rr"
    scores = length_reward([short, good, long, garbage], min_words=8, max_words=60)
    assert scores[1] == 1.0 and 0 < scores[0] < 1 and 0 < scores[2] < 1 and 0 < scores[3] < 0.5
    assert len(set(scores)) == 4
    assert make_length_reward(8, 60)([good]) == [1.0]


@pytest.mark.parametrize("completion", [[{"role": "assistant", "content": RIGHT}]])
def test_conversational_completions(completion):
    assert format_reward([completion]) == [1.0]
