"""The ASR record's contract (simplified Chinese, whisper's confidence per segment and clip) and the
training-text setting (`train.text_source`: ASR by default, the manifest's on request)."""

import numpy as np
import pandas as pd
import pytest

from clmer.features.encoders.asr import _record, clip_confidence, confidence_extras
from clmer.features.extract import jobs_from_manifest, with_extras
from clmer.features.encoders import FeatureRecord


def _seg(start, end, text, lang="zh", lp=-0.3, ns=0.05, cr=1.1):
    return {"start": start, "end": end, "text": text, "language": lang, "language_probability": 0.9,
            "avg_logprob": lp, "no_speech_prob": ns, "compression_ratio": cr}


def test_chinese_comes_out_simplified_unless_traditional_is_asked_for():
    segments = [_seg(0.0, 1.0, "我今天終於通過考試了"), _seg(1.0, 2.0, "真的太高興了")]
    rec = _record([dict(s) for s in segments], {"speech_seconds": 2.0})
    assert rec.meta["text"] == "我今天终于通过考试了真的太高兴了"
    assert rec.meta["language"] == "zh" and rec.meta["speech_seconds"] == 2.0
    trad = _record([dict(s) for s in segments], {}, "traditional")
    assert trad.meta["text"] == "我今天終於通過考試了真的太高興了"


def test_confidence_per_segment_and_per_clip_weighted_by_duration():
    segments = [_seg(0.0, 3.0, "a b c", "en", lp=-0.2, ns=0.1, cr=1.0), _seg(3.0, 4.0, "d", "en", lp=-1.0, ns=0.5, cr=2.0)]
    rec = _record(segments, {})
    for key in ("avg_logprob", "no_speech_prob", "compression_ratio"):
        assert all(key in s for s in rec.meta["segments"])
    conf = clip_confidence(segments)
    assert conf["avg_logprob"] == pytest.approx((3 * -0.2 + 1 * -1.0) / 4, abs=1e-3)
    assert conf["no_speech_prob"] == pytest.approx((3 * 0.1 + 0.5) / 4, abs=1e-3)
    assert rec.meta["avg_logprob"] == conf["avg_logprob"]
    assert np.allclose(confidence_extras(rec.meta), [conf["avg_logprob"], conf["no_speech_prob"], conf["compression_ratio"]])


def test_no_speech_reads_as_no_evidence():
    rec = _record([], {"speech_seconds": 0.0})
    assert rec.status == "empty" and rec.meta["text"] == "" and rec.meta["no_speech_prob"] == 1.0
    assert confidence_extras({})[1] == 1.0  # a record from before confidence was kept trusts nothing


def test_the_text_record_carries_the_asr_confidence_as_its_extras():
    rec = FeatureRecord("text", {"token_embeddings": np.zeros((3, 4), np.float32)}, {})
    out = with_extras(rec, np.array([-0.3, 0.1, 1.2]))
    assert out.arrays["extras"].shape == (1, 3) and out.n_items == 3
    empty = with_extras(FeatureRecord("text", {"token_embeddings": np.zeros((0, 4))}, {}, status="empty"), [0, 1, 0])
    assert "extras" not in empty.arrays


def test_training_text_is_asr_unless_the_manifest_is_asked_for(tmp_path):
    manifest = pd.DataFrame({"video_id": ["v"], "clip_id": ["0001"], "text": ["我很开心"], "language": ["zh"],
                             "media_path": ["Raw/v/0001.mp4"]})
    asr = jobs_from_manifest(tmp_path, manifest, "asr")[0]
    assert asr.transcript is None and asr.language == "zh"  # transcribed, the manifest's language kept
    assert jobs_from_manifest(tmp_path, manifest, "manifest")[0].transcript == "我很开心"
    with pytest.raises(ValueError, match="text_source"):
        jobs_from_manifest(tmp_path, manifest, "subtitles")


def test_the_default_training_text_is_asr_and_plan_jobs_follows_it(demo_corpus, tmp_path):
    from clmer.config import load_settings
    from clmer.features.extract import plan_jobs

    assert load_settings().train.text_source == "asr"
    jobs, kind = plan_jobs(demo_corpus, load_settings())
    assert kind == "corpus" and all(j.transcript is None for j in jobs)
    jobs, _ = plan_jobs(demo_corpus, load_settings(None, {"train": {"text_source": "manifest"}}))
    assert any(j.transcript for j in jobs)
