"""The readable statistics of a clip, read from real feature-store records as the encoders write them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clmer.features.encoders import FeatureRecord, mean_luminance
from clmer.features.feature_store import FeatureStore
from clmer.monitor.clip_stats import clip_statistics

SEGMENTS = [{"start": 0.5, "end": 1.5, "text": "a", "language": "zh", "avg_logprob": -0.2, "no_speech_prob": 0.1},
            {"start": 2.0, "end": 2.5, "text": "b", "language": "zh", "avg_logprob": -0.8, "no_speech_prob": 0.4}]


def _put(store: FeatureStore, sha: str, role: str, record: FeatureRecord) -> str:
    key = f"{sha}/{role}-0000"
    store.put(key, sha, {"extractor": role, "model": "m", "revision": "r", "config_hash": "c"}, record)
    return key


def _clip(store: FeatureStore, sha: str, asr_meta: dict | None) -> dict:
    rng = np.random.default_rng(0)
    keys = {"asr_key": None}
    if asr_meta is not None:
        keys["asr_key"] = _put(store, sha, "asr", FeatureRecord("asr", {"segment_times": np.zeros((2, 2), np.float32)},
                                                                asr_meta))
    keys["audio_key"] = _put(store, sha, "audio", FeatureRecord("audio", {
        "frame_embeddings": rng.normal(size=(30, 25)).astype(np.float32), "frame_times": np.arange(30, dtype=np.float32) / 10,
        "extras": rng.normal(size=(1, 88)).astype(np.float32),
        "cue_scores": np.array([[31.5, 4.0, 0.8, 2.5]], np.float32)},
        {"cue_labels": ["pitch_level", "pitch_range", "loudness", "speaking_rate"], "frame_rate": 10.0}))
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 255, 128, 64)]
    keys["vision_key"] = _put(store, sha, "vision", FeatureRecord("vision", {
        "frame_embeddings": rng.normal(size=(4, 16)).astype(np.float32), "frame_times": np.arange(4, dtype=np.float32),
        "cue_scores": np.tile(np.eye(7, dtype=np.float32)[:1], (4, 1)),
        "face_boxes": np.array([[1, 1, 4, 4], [-1, -1, -1, -1], [0, 0, 5, 5], [2, 2, 3, 3]], np.float32)},
        {"cue_labels": list("abcdefg"), "brightness": mean_luminance(frames)}))
    keys["text_key"] = _put(store, sha, "text", FeatureRecord("text", {
        "token_embeddings": np.ones((5, 6), np.float32), "sentence_embedding": np.full((1, 6), 0.5, np.float32)}))
    return {"clip": f"{sha[:4]}.mp4", "status": "ok", "language": "zh", "transcript": " 你好世界 ", "duration_s": None,
            **keys}


def test_statistics_come_from_the_records_and_the_prediction(tmp_path):
    store = FeatureStore(tmp_path / "fs")
    feats = pd.DataFrame([_clip(store, "a" * 64, {"text": "x", "language": "zh", "segments": SEGMENTS}),
                          _clip(store, "b" * 64, {"text": "x", "segments": SEGMENTS, "avg_logprob": -0.5,
                                                  "no_speech_prob": 0.05, "speech_seconds": 2.4}),
                          _clip(store, "c" * 64, None)])
    preds = pd.DataFrame({"status": ["ok", "partial", "ok"], "polarity": ["positive", "negative", "neutral"],
                          "confidence": [0.8, 0.6, 0.5]})
    a, b, c = (r["values"] for r in clip_statistics(feats, preds, store))
    # duration from the audio record (30 items at 10 Hz = 3 s); ASR from the segments, weighted by their length
    assert a["speech_share"] == pytest.approx(1.5 / 3.0, rel=1e-4)
    assert a["asr_avg_logprob"] == pytest.approx((-0.2 * 1.001 + -0.8 * 0.501) / 1.502, rel=1e-4)
    assert a["asr_no_speech_prob"] == pytest.approx((0.1 * 1.001 + 0.4 * 0.501) / 1.502, rel=1e-4)
    # the clip-level fields of the ASR contract win where they are written
    assert (b["speech_share"], b["asr_avg_logprob"], b["asr_no_speech_prob"]) == pytest.approx((0.8, -0.5, 0.05))
    assert c["speech_share"] is None and c["asr_avg_logprob"] is None  # manifest transcript: not recorded
    assert a["loudness"] == pytest.approx(0.8) and a["pitch"] == pytest.approx(31.5)
    assert len(a["audio_embedding"]) == 25 + 88
    assert a["face_rate"] == pytest.approx(0.75)
    assert a["brightness"] == pytest.approx((0 + 1 + 128 / 255 + 64 / 255) / 4, abs=1e-4)
    assert a["expression_mix"] == pytest.approx([1, 0, 0, 0, 0, 0, 0]) and len(a["vision_embedding"]) == 16
    assert a["text_embedding"] == pytest.approx([0.5] * 6)
    assert a["transcript_chars"] == 4 and a["language"] == "zh"
    assert (a["predicted_class"], a["confidence"]) == ("positive", 0.8) and b["predicted_class"] == "negative"


def test_failed_and_unreadable_clips_carry_no_values_and_stop_nothing(tmp_path):
    store = FeatureStore(tmp_path / "fs")
    good = _clip(store, "d" * 64, None)
    feats = pd.DataFrame([good | {"clip": "gone.mp4", "vision_key": "e" * 64 + "/vision-0000"},
                          good | {"clip": "failed.mp4"}, good])
    preds = pd.DataFrame({"status": ["ok", "failed", "ok"], "polarity": ["neutral", None, "neutral"],
                          "confidence": [0.5, None, 0.5]})
    gone, failed, ok = clip_statistics(feats, preds, store)
    assert "values" not in gone and gone["error"].startswith("gone.mp4: statistics unreadable")
    assert "values" not in failed and failed["status"] == "failed"
    assert ok["values"]["brightness"] is not None


def test_mean_luminance_uses_video_luma_weights():
    red, white = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 255, np.uint8)
    red[..., 0] = 255
    assert mean_luminance([red, white, np.zeros((2, 2, 3), np.uint8)]) == pytest.approx([0.299, 1.0, 0.0], abs=1e-4)
