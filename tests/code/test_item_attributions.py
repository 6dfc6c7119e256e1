"""Explanations on one scale: log-odds of the predicted class. Integrated gradients are complete, a
modality's items add up to its share, signed shares never present an opposing modality as the largest
contributor, and the per-clip faithfulness numbers are what re-predicting the clip gives."""

import numpy as np
import pytest
import torch

from clmer.config import FusionConfig
from clmer.explain.clip import ClipInfo, explain_clip, validate_explanation, without_items
from clmer.explain.faithfulness import erasure_check, flagged
from clmer.explain.items import ig_gap, integrated_gradients, log_odds, to_shares, words_from_tokens
from clmer.model.attribution import shares_from_shapley, supported
from clmer.model.dataset import ClipFeatures, collate
from clmer.model.fusion import FusionModel

DIMS = {"text": (6, 0), "audio": (5, 7), "vision": (4, 0)}
TEXT = "The film was truly wonderful ."
TOKENS = ["<s>", "query:", "▁The", "▁film", "▁was", "▁tru", "ly", "▁wonderful", "▁.", "</s>"]
OFFSETS = [(0, 0), (-7, -1), (0, 3), (4, 8), (9, 12), (13, 16), (16, 18), (19, 28), (29, 30), (0, 0)]
SPECIAL = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]


def _clip(seed: int = 0) -> ClipFeatures:
    rng = np.random.default_rng(seed)
    seq = {"text": rng.normal(0, 1.5, (len(TOKENS), 6)).astype(np.float32),
           "audio": rng.normal(0, 1.5, (45, 5)).astype(np.float32),
           "vision": rng.normal(0, 1.5, (6, 4)).astype(np.float32)}
    extra = {"text": np.zeros(0, np.float32), "audio": rng.normal(0, 1, 7).astype(np.float32),
             "vision": np.zeros(0, np.float32)}
    times = {"audio": np.arange(45, dtype=np.float32) * 0.1, "vision": np.arange(6, dtype=np.float32) * 0.5}
    return ClipFeatures(seq=seq, extra=extra, present=np.ones(3, bool), times=times, tokens=TOKENS,
                        offsets=OFFSETS, special=SPECIAL)


def _model(seed: int = 0) -> FusionModel:
    torch.manual_seed(seed)
    model = FusionModel(DIMS, FusionConfig(d_model=16, pool_hidden=8, policy_hidden=16))
    clips = [_clip(s) for s in range(8)]
    model.fit_normalizers(collate(clips, DIMS, None))
    with torch.no_grad():  # larger than initial weights, so that the model is decisive as trained ones are
        for p in model.parameters():
            p.mul_(2.0)
    return model.eval()


@pytest.fixture(scope="module", params=[0, 1, 2])
def explained(request):
    model, clip = _model(request.param), _clip(10 + request.param)
    return model, explain_clip(model, DIMS, clip, ClipInfo("v/1", "v1.mp4", "en", TEXT)), clip


def test_integrated_gradients_are_complete_in_log_odds():
    for seed in range(3):
        model, clip = _model(seed), _clip(20 + seed)
        batch = collate([clip], DIMS, None)
        target = int(model(batch)["logits"].argmax(-1)[0])
        scores = integrated_gradients(model, batch, target, SPECIAL)
        gap = ig_gap(model, batch, target, SPECIAL)
        assert abs(gap) > 1e-2
        assert scores.sum() == pytest.approx(gap, rel=0.05)
        assert all(scores[i] == 0 for i, sp in enumerate(SPECIAL) if sp)  # the prefix and [CLS] get nothing


def test_a_modality_s_items_add_up_to_its_share(explained):
    _, doc, _ = explained
    polarity = doc["prediction"]["polarity"]
    validate_explanation({**doc, "reasoning": {"text": "t", "source": "template", "status": "ok", "think": "",
                                               "answer": polarity}})
    items = doc["item_attributions"]
    assert len(items["audio"]) == 5 and len(items["vision"]) == 6  # back-to-back 1 s windows; every frame
    for m in ("text", "audio", "vision"):
        total = sum(it["share"] for it in items[m]) + doc["attribution"]["unplaced"][m]
        assert total == pytest.approx(doc["modality_shares"][m], abs=1e-4)
        # a share stays unplaced only when no item supported the decision (or there are no items)
        assert doc["attribution"]["unplaced"][m] < 1e-4 or not any(it["score"] > 0 for it in items[m])
        for it in items[m]:  # items against the decision, or of a modality against it, are not "part of it"
            assert (it["share"] > 0) == (it["score"] > 0 and doc["modality_shares"][m] > 0)
    shown = {(w["word"], w["start_char"]): w["share"] for w in doc["top_words"]}
    every = {(w["word"], w["start_char"]): w["share"] for w in items["text"]}
    assert shown and all(every[k] == v for k, v in shown.items())  # the report shows the same numbers


def test_shares_come_from_signed_log_odds_shapley(explained):
    _, doc, _ = explained
    phi = np.array([doc["shapley"][m] for m in ("text", "audio", "vision")])
    pos = np.clip(phi, 0, None)
    expected = pos / pos.sum() if pos.sum() > 0 else np.zeros(3)
    assert [doc["modality_shares"][m] for m in ("text", "audio", "vision")] == pytest.approx(expected, abs=1e-5)
    assert doc["attribution"]["supported"] == bool(pos.sum() > 0)
    # efficiency: prior + sum of the signed values = the clip's log-odds
    p = doc["prediction"]["confidence"]
    assert doc["attribution"]["prior"] + phi.sum() == pytest.approx(np.log(p / (1 - p)), abs=1e-3)


def test_no_supporting_modality_is_said_not_hidden():
    present = np.array([True, True, True])
    opposed = np.array([-0.4, -0.1, -0.2])
    assert shares_from_shapley(opposed, present).tolist() == [0.0, 0.0, 0.0]  # not |phi| normalised
    assert not supported(opposed, present)
    mixed = np.array([0.6, -0.3, 0.2])
    assert shares_from_shapley(mixed, present) == pytest.approx([0.75, 0.0, 0.25])
    assert supported(mixed, present)
    assert shares_from_shapley(np.array([0.5, 0.5, 0.9]), np.array([True, True, False])) == pytest.approx([0.5, 0.5, 0])


def test_faithfulness_numbers_are_what_re_predicting_gives(explained):
    model, doc, clip = explained
    batch = collate([clip], DIMS, None)
    target = ["negative", "neutral", "positive"].index(doc["prediction"]["polarity"])
    check = doc["faithfulness"]["vision"]
    assert check is not None and check["k"] == 3
    with torch.no_grad():
        full = float(log_odds(model(batch)["logits"], target)[0])
        without = float(log_odds(model(without_items(batch, "vision", check["items"]))["logits"], target)[0])
    assert check["comprehensiveness"] == pytest.approx(full - without, abs=1e-4)
    frames = sorted(doc["item_attributions"]["vision"], key=lambda f: -f["score"])
    assert check["items"] == [f["index"] for f in frames[:3]]
    for m in ("text", "audio", "vision"):
        c = doc["faithfulness"][m]
        assert c["better_than_random"] == (c["comprehensiveness"] > c["random_comprehensiveness"] + 1e-6)


def test_top_items_beat_random_when_one_item_decides():
    # A modality whose single frame carries everything: its top-1 removal is the whole effect.
    model = _model(0)
    clip = _clip(3)
    batch = collate([clip], DIMS, None)
    target = int(model(batch)["logits"].argmax(-1)[0])
    units = [np.array([i]) for i in range(6)]
    rng = np.random.default_rng(0)
    scores = np.array([5.0, 0, 0, 0, 0, 0])
    check = erasure_check(model, batch, "vision", units, 6, scores, target, rng)
    assert check["k"] == 3 and check["items"][0] == 0
    assert flagged({"vision": {**check, "better_than_random": False}, "text": None}, {"vision": 0.5}) == ["vision"]
    assert flagged({"vision": {**check, "better_than_random": False}}, {"vision": 0.0}) == []  # no share: nothing claimed
    assert erasure_check(model, batch, "vision", units[:1], 6, scores[:1], target, rng) is None


def test_stop_words_are_hidden_from_the_shown_words_only(explained):
    _, doc, _ = explained
    every = [w["word"] for w in doc["item_attributions"]["text"]]
    assert every == ["The", "film", "was", "truly", "wonderful"]  # pieces summed into words, no punctuation
    assert {"The", "was"}.isdisjoint(w["word"] for w in doc["top_words"])


def test_a_token_over_two_words_is_split_by_characters():
    words = words_from_tokens("ab cd", "en", [(0, 2), (1, 5)], [0, 0], np.array([1.0, 0.8]))
    # the second token covers "b cd": 1 char of "ab", 2 of "cd" (and the space) -> 0.2 and 0.4
    assert [round(w["score"], 6) for w in words] == [1.2, 0.4]
    assert to_shares(np.array([2.0, -1.0, 2.0]), 0.5).tolist() == [0.25, 0.0, 0.25]


def test_the_report_shows_the_record_s_shares_and_its_faithfulness_in_words(explained):
    from clmer.explain.report_html import render_html

    _, doc, _ = explained
    page = render_html(doc)
    for w in doc["top_words"]:
        assert f"{100 * w['share']:.0f} %" in page
    c = doc["faithfulness"]["vision"]
    assert f"removing the top {c['k']} frames lowers the {doc['prediction']['polarity']} probability" in page
    assert ("no better than random for this clip" in page) == bool(doc["faithfulness"]["flagged"])
    unsupported = {**doc, "attribution": {**doc["attribution"], "supported": False}}
    assert "No modality moved the decision towards the predicted class" in render_html(unsupported)


def test_a_face_label_that_disagrees_with_the_vision_verdict_is_said():
    from clmer.explain.cues import mark_agreement
    from clmer.explain.report_html import render_html

    frames = [{"index": 0, "time": 1.0, "score": 0.3, "share": 0.2, "cues": {"neutral": 0.91, "sad": 0.05}},
              {"index": 1, "time": 2.0, "score": 0.1, "share": 0.1, "cues": {"sad": 0.8, "neutral": 0.1}},
              {"index": 2, "time": 3.0, "score": 0.1, "share": 0.1, "cues": {"a cat": 0.8}}]
    marked = mark_agreement(frames, {"negative": 0.99, "neutral": 0.01, "positive": 0.0})
    assert [(f["cue_polarity"], f["cue_agrees"]) for f in marked] == [("neutral", False), ("negative", True), (None, None)]
    model, clip = _model(0), _clip(10)
    doc = explain_clip(model, DIMS, clip, ClipInfo("v/1", "v1.mp4", "en", TEXT))
    doc["decision_path"]["modality_verdicts"]["vision"] = {"negative": 0.99, "neutral": 0.01, "positive": 0.0}
    doc["key_frames"] = marked
    page = render_html(doc)
    assert page.count("the expression label reads neutral, the vision pathway's own verdict is negative") == 1
