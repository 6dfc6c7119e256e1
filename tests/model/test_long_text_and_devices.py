"""A model trained under one compute type scores under another (from the same feature cache), and a long
transcript is encoded whole: words at its end carry attribution and can be key words."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_train_with_one_compute_type_score_with_another(trained_demo):
    from clmer.features.encoders import MODEL_CALLS
    from clmer.serving.scoring import Scorer
    from tests.model.test_reasoning_explainer import _jobs

    s = trained_demo["settings"].model_copy(deep=True)
    s.models.asr_compute_type = "float32"  # trained with "auto" (int8 on a CPU, float16 on a GPU)
    scorer = Scorer(trained_demo["model_dir"], s)  # no EncoderMismatchError
    jobs = _jobs(trained_demo, 3)
    scorer.extract(jobs)  # the corpus clips were extracted in training: the cache answers
    before = dict(MODEL_CALLS)
    rows = scorer.predict_features(scorer.extract(jobs))
    assert dict(MODEL_CALLS) == before and (rows["status"] != "failed").all()


def test_a_2000_character_transcript_is_encoded_whole_and_its_end_can_be_key_words(trained_demo):
    from clmer.explain.clip import ClipInfo, explain_clip
    from clmer.explain.items import integrated_gradients, words_from_tokens
    from clmer.features.encoders import get_extractor
    from clmer.model.train import load_model

    s = trained_demo["settings"]
    text = ("我们今天去了公园，天气很好，大家都很开心。" * 100)[:1950] + "最后的结局实在太糟糕了。"
    assert len(text) >= 1950
    rec = get_extractor("text", s).extract(text)
    assert rec.meta["windows"] > 1 and max(e for _, e in rec.meta["offsets"]) >= len(text) - 1  # to the last character
    model, doc = load_model(trained_demo["model_dir"])
    clip = _clip_with_text(trained_demo, rec)
    info = ClipInfo("long", "long.mp4", "zh", text)
    from clmer.model.dataset import collate

    batch = collate([clip], model.dims, None)
    scores = integrated_gradients(model, batch, 0)
    words = words_from_tokens(text, "zh", clip.offsets, clip.special, scores)
    tail = [w for w in words if w["start_char"] >= len(text) - 12]
    assert tail and any(abs(w["score"]) > 0 for w in tail)  # the ending has attribution like any other word
    explained = explain_clip(model, model.dims, clip, info)
    assert explained["decision_path"]["features"]["text"]["items"] == len(rec.meta["tokens"])


def _clip_with_text(trained_demo, rec):
    from clmer.model.dataset import load_clip
    import pandas as pd
    from clmer.features.feature_store import FeatureStore

    features = pd.read_parquet(trained_demo["features"])
    row = features[features["status"] != "failed"].iloc[0]
    clip = load_clip(FeatureStore(trained_demo["settings"].paths.feature_store), row.text_key, row.audio_key, row.vision_key)
    clip.seq["text"] = rec.arrays["token_embeddings"]
    clip.tokens, clip.offsets, clip.special = rec.meta["tokens"], rec.meta["offsets"], rec.meta["special"]
    clip.present = np.array([True, clip.present[1], clip.present[2]])
    return clip


def test_a_file_whose_scoring_raises_is_a_failed_row_and_the_rest_are_scored(trained_demo, monkeypatch):
    """Not only a corrupt record: any error while scoring one file (here a store that fails on its
    text record) leaves that file a failed row naming it and the reason, and the batch goes on."""
    from clmer.serving import scoring
    from clmer.serving.scoring import Scorer
    from tests.model.test_reasoning_explainer import _jobs

    scorer = Scorer(trained_demo["model_dir"], trained_demo["settings"])
    features = scorer.extract(_jobs(trained_demo, 3))
    assert (features["status"] != "failed").all()
    broken, real = features["text_key"].iloc[1], scoring.load_clip

    def load_clip(store, text_key, *keys):
        if text_key == broken:
            raise OSError("disk read error")
        return real(store, text_key, *keys)

    monkeypatch.setattr(scoring, "load_clip", load_clip)
    rows = scorer.predict_features(features)
    assert list(rows["status"]) == ["ok", "failed", "ok"]
    path = features["path"].iloc[1]
    assert rows["error"].iloc[1] == f"{path}: scoring failed (OSError: disk read error)"
    assert rows["polarity"].iloc[[0, 2]].notna().all()
