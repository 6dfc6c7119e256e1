"""Every extractor through its real loader classes, on the tiny profile, with the network blocked."""

import numpy as np
import pytest

from clmer.data import media
from clmer.features.encoders import get_extractor, identity
from clmer.features.model_store import ModelMissingError, ModelStore

pytestmark = pytest.mark.slow


@pytest.fixture
def clip(demo_corpus):
    from clmer.data.corpus import read_corpus

    c = read_corpus(demo_corpus)
    row = c.manifest.iloc[0]
    return media.decode(c.media_file(row)), row


def test_asr(tiny_settings, clip, no_network):
    decoded, _ = clip
    rec = get_extractor("asr", tiny_settings).extract(decoded.audio)
    assert rec.extractor == "asr"
    if rec.status == "ok":  # random weights: text is garbage, but the fields must be right
        assert rec.meta["language"] in ("zh", "en")
        for seg in rec.meta["segments"]:
            assert seg["language"] in ("zh", "en") and 0 <= seg["start"] <= seg["end"] <= decoded.audio_seconds + 0.01
        assert rec.arrays["segment_times"].shape == (len(rec.meta["segments"]), 2)
    silent = get_extractor("asr", tiny_settings).extract(np.zeros(16000 * 2, np.float32))
    assert silent.status == "empty" and silent.meta["language"] is None and silent.meta["text"] == ""


def test_text_zh_and_en(tiny_settings, no_network):
    ex = get_extractor("text", tiny_settings)
    zh, en, empty = ex.extract_batch(["我今天非常开心", "I am really happy today.", ""])
    for rec in (zh, en):
        assert rec.status == "ok" and rec.arrays["token_embeddings"].dtype == np.float32
        n = len(rec.meta["tokens"])
        assert rec.arrays["token_embeddings"].shape == (n, 32) and rec.arrays["sentence_embedding"].shape == (1, 32)
        assert "[UNK]" not in rec.meta["tokens"] and len(rec.meta["offsets"]) == n
    assert "开" in zh.meta["tokens"]
    assert empty.status == "empty" and empty.arrays["token_embeddings"].shape == (0, 32)
    # Batched and alone give the same vectors (attention mask hides the padding).
    alone = ex.extract("I am really happy today.")
    assert np.allclose(alone.arrays["token_embeddings"], en.arrays["token_embeddings"], atol=1e-5)


def test_audio(tiny_settings, clip, no_network):
    decoded, _ = clip
    rec = get_extractor("audio", tiny_settings).extract(decoded.audio)
    frames, times = rec.arrays["frame_embeddings"], rec.arrays["frame_times"]
    assert rec.status == "ok" and frames.dtype == np.float32
    assert frames.shape[1] == rec.arrays["utterance_embedding"].shape[1]
    # 50 Hz from emotion2vec, every 5th kept: 10 Hz, spanning the clip.
    assert len(frames) == len(times) and abs(len(frames) - decoded.audio_seconds * 10) <= 2
    assert np.allclose(np.diff(times), 0.1, atol=1e-4)
    assert rec.arrays["cue_scores"].shape == (1, 9) and abs(rec.arrays["cue_scores"].sum() - 1) < 1e-4
    assert rec.meta["cue_labels"][3] == "happy"
    assert get_extractor("audio", tiny_settings).extract(np.zeros(100, np.float32)).status == "empty"


def test_vision(tiny_settings, clip, no_network):
    decoded, _ = clip
    rec = get_extractor("vision", tiny_settings).extract(decoded.frames, decoded.frame_times)
    n = len(decoded.frames)
    assert rec.arrays["frame_embeddings"].shape == (n, 32)
    assert rec.arrays["frame_times"].tolist() == decoded.frame_times
    cues = rec.arrays["cue_scores"]
    assert cues.shape == (n, 7) and ((cues > 0) & (cues < 1)).all()  # independent sigmoid scores
    assert rec.meta["cue_labels"][0] == "happy"
    assert get_extractor("vision", tiny_settings).extract([], []).status == "empty"


def test_models_load_once_per_process(tiny_settings):
    assert get_extractor("text", tiny_settings) is get_extractor("text", tiny_settings)


def test_identity_changes_with_config_not_with_nothing(tiny_settings):
    a = identity("audio", tiny_settings)
    assert a == identity("audio", tiny_settings)
    other = tiny_settings.model_copy(deep=True)
    other.models.audio_frame_hop = 2
    assert identity("audio", other)["config_hash"] != a["config_hash"]
    assert a["revision"].startswith("tiny-seed0-")


def test_missing_model_names_it_and_the_command(tmp_path):
    with pytest.raises(ModelMissingError, match=r"'emotion2vec_plus_base' \(audio\).*clmer models pull"):
        ModelStore(tmp_path).resolve("emotion2vec_plus_base", "audio")
    with pytest.raises(ModelMissingError, match="clmer models make-tiny"):
        ModelStore(tmp_path).resolve("tiny-siglip", "vision")


def test_device_auto_is_cpu_here_and_int8():
    from clmer.features.encoders import resolve_device
    from clmer.features.encoders.asr import compute_type

    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert compute_type("auto", "cpu") == "int8" and compute_type("auto", "cuda") == "float16"
