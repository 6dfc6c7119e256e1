"""Kokoro-82M through the model store: imported offline and once, and whisper-base understands what it
says in the demo world (a speaker's voice mixture, pitch and the clip's prosody applied)."""

from __future__ import annotations

import numpy as np
import pytest

from clmer.features import importers
from clmer.features.model_store import ModelStore

pytestmark = pytest.mark.skipif(not importers.available("tts"),
                                reason=f"Kokoro packages not installed ({importers.INSTALL_HINT})")


@pytest.fixture(scope="module")
def kokoro_store(tmp_path_factory):
    store = ModelStore(tmp_path_factory.mktemp("kokoro_store") / "models")
    first = importers.import_model(store, "tts")
    return store, first


def test_kokoro_import_is_offline_hashed_and_idempotent(kokoro_store, no_network):
    from clmer.synthetic.kokoro_tts import Kokoro, VoiceMix, resolve_model

    store, first = kokoro_store
    again = importers.import_model(store, "tts")
    assert first["status"] == "imported" and again["status"] == "kept"
    assert again["revision"] == first["revision"] == "sha256-" + first["content_hash"][:16]
    assert first["profile"] == "demo" and first["role"] == "tts"
    assert "kokoro" not in " ".join(str(v) for v in importers.PROFILES["small"].values())  # not a scoring model
    path = resolve_model(store.root, import_if_missing=False)
    wav = Kokoro(path, threads=1).speak("你好。", "zh", VoiceMix("jf_nezumi", "jf_nezumi"))
    assert wav.dtype == np.float32 and 0.2 < len(wav) / 24000 < 3.0 and np.abs(wav).max() > 0.05


@pytest.mark.slow
@pytest.mark.realmodel
def test_whisper_base_understands_kokoro_mandarin_and_english(kokoro_store, tmp_path):
    import sys
    from pathlib import Path

    from scipy.signal import resample_poly

    from clmer.config import load_settings
    from clmer.features.encoders import get_extractor
    from clmer.synthetic.kokoro_tts import Kokoro, resolve_model
    from clmer.synthetic.prosody import apply_prosody, clip_prosody
    from clmer.synthetic.speakers import speaker_pool

    if importers.missing_packages("asr"):
        pytest.skip("whisper-base packages not installed")
    store, _ = kokoro_store
    importers.import_model(store, "asr")
    settings = load_settings(None, {"paths": {"model_store": str(store.root), "home": str(tmp_path)},
                                    "models": {"profile": "small", "asr": "whisper-base"}})
    asr = get_extractor("asr", settings)
    tts = Kokoro(resolve_model(store.root, import_if_missing=False), threads=2)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from asr_quality import edit_distance, units

    cases = {"zh": ("我今天非常开心，真是美好的一天。", 0.15), "en": ("The food was delicious and the staff were lovely.", 0.10)}
    for lang, (text, goal) in cases.items():
        speaker = speaker_pool(0, lang, 1)[0]
        p = clip_prosody(speaker, lang, 0.6, np.random.default_rng(0))
        wav = apply_prosody(tts.speak(text, lang, speaker.voice), 24000, p, speaker)
        audio = np.concatenate([np.zeros(8000, np.float32), resample_poly(wav, 2, 3).astype(np.float32),
                                np.zeros(8000, np.float32)])
        rec = asr.extract(audio)
        ref = units(text, lang)
        error = edit_distance(ref, units(rec.meta["text"], lang)) / len(ref)
        assert rec.meta["language"] == lang and error <= goal, (lang, rec.meta["text"], error)
        assert rec.meta["avg_logprob"] > -1.0 and rec.meta["no_speech_prob"] < 0.5
