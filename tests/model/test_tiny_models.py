"""The tiny model profile: each directory loads with the real model's standard loader, offline.

Building the profile takes ~11 s and importing funasr another ~12 s on two cores, hence `slow`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from clmer.synthetic import tiny as tm
from clmer.synthetic.tiny import emotion2vec as tiny_e2v

pytestmark = pytest.mark.slow

SR = 16_000

EXPECTED_FILES = {
    "asr": {"config.json", "model.bin", "vocabulary.json", "tokenizer.json", "preprocessor_config.json"},
    "text": {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
    "audio": {"config.yaml", "model.pt", "tokens.txt"},
    "vision": {"config.json", "model.safetensors", "processor_config.json", "spiece.model",
               "tokenizer_config.json"},
    "explainer": {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json"},
}  # fmt: skip


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> dict[str, Path]:
    return tm.build_tiny_profile(tmp_path_factory.mktemp("tiny") / "store", seed=0)


def speechy(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A voiced-sounding 16 kHz signal: harmonics under a syllable-rate envelope, plus noise."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.2 * voice * envelope + 0.01 * noise).astype(np.float32)


def digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


# ------------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------------


def test_profile_layout_and_size(profile):
    assert set(profile) == {"asr", "text", "audio", "vision", "explainer"}
    for role, directory in profile.items():
        assert directory.name == tm.TINY_DIRS[role]
        assert {p.name for p in directory.iterdir()} == EXPECTED_FILES[role], role
    store = profile["asr"].parent
    assert sorted(p.name for p in store.iterdir()) == sorted(tm.TINY_DIRS.values())  # no temp leftovers
    total = sum(p.stat().st_size for d in profile.values() for p in d.iterdir())
    assert total < 40 * 2**20


def test_whisper_tokenizer_has_whisper_id_layout():
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    assert len(tm.WHISPER_LANGUAGES) == 99
    assert list(tm.WHISPER_LANGUAGES) == list(LANGUAGES)[:99]  # large-v3 appends "yue"
    tok = tm.build_whisper_tokenizer()
    assert tok.get_vocab_size(with_added_tokens=True) == tm.WHISPER_VOCAB_SIZE
    expected = {
        "": 50256, "<|endoftext|>": 50257, "<|startoftranscript|>": 50258, "<|en|>": 50259,
        "<|zh|>": 50260, "<|su|>": 50357, "<|translate|>": 50358, "<|transcribe|>": 50359,
        "<|startoflm|>": 50360, "<|startofprev|>": 50361, "<|nospeech|>": 50362,
        "<|notimestamps|>": 50363, "<|0.00|>": 50364, "<|30.00|>": 51864,
    }  # fmt: skip
    assert {t: tok.token_to_id(t) for t in expected} == expected
    text = "我今天非常开心。I am really happy today!"
    assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text


def test_build_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "tiny-emotion2vec"

    def crash(out_dir: Path, seed: int) -> None:
        (out_dir / "config.yaml").write_text("half")
        raise RuntimeError("boom")

    monkeypatch.setattr(tiny_e2v, "_e2v_build", crash)
    with pytest.raises(RuntimeError, match="boom"):
        tm.build_tiny_emotion2vec(target)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    tm.build_tiny_emotion2vec(target, seed=0)
    first = digest(target)
    tm.build_tiny_emotion2vec(target, seed=1)  # rebuilding replaces the old dir whole
    assert digest(target) != first
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-emotion2vec"]


# ------------------------------------------------------------------------------------------------
# Loading through the standard loaders, network blocked
# ------------------------------------------------------------------------------------------------


def test_whisper_loads_with_faster_whisper(profile, no_network):
    from faster_whisper import WhisperModel

    model = WhisperModel(str(profile["asr"]), device="cpu", compute_type="int8", cpu_threads=2)
    assert model.model.is_multilingual
    assert "zh" in model.supported_languages
    audio = speechy()

    segments, info = model.transcribe(audio, language=None, vad_filter=True)
    segments = list(segments)
    assert info.language in tm.WHISPER_LANGUAGES
    # The shaped decoder ends its text after a few tokens: no 448-token runs, no fallback retries.
    assert all(len(s.tokens) < 40 for s in segments)

    language, probability, all_probs = model.detect_language(audio)
    assert language in tm.WHISPER_LANGUAGES and 0.0 <= probability <= 1.0
    assert len(all_probs) == 99

    for code in ("zh", "en"):
        segments, info = model.transcribe(audio, language=code, max_new_tokens=20)
        texts = [s.text for s in segments]
        assert info.language == code
        assert all(isinstance(t, str) for t in texts)


def test_text_model_loads_with_auto_classes(profile, no_network):
    import torch
    from transformers import AutoModel, AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(profile["text"])
    model = AutoModel.from_pretrained(profile["text"])
    assert tokenizer.is_fast and type(tokenizer).__name__ in ("BertTokenizer", "BertTokenizerFast")
    assert isinstance(model, BertModel)

    texts = ["我今天非常开心", "I am really happy today.", "Café naïve — “Qwerty”！"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    for i, text in enumerate(texts):
        tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][i])
        assert "[UNK]" not in tokens, (text, tokens)
        assert tokens[0] == "[CLS]" and "[SEP]" in tokens
        assert batch.word_ids(i)[0] is None
    assert tokenizer.tokenize("Happy") != tokenizer.tokenize("happy")  # cased, like mBERT-cased
    assert tokenizer.tokenize("我今天") == ["我", "今", "天"]

    with torch.no_grad():
        out = model(**tokenizer(texts[0], return_tensors="pt"))
    assert out.last_hidden_state.shape == (1, 9, model.config.hidden_size)  # [CLS] + 7 chars + [SEP]


def test_emotion2vec_loads_with_funasr(profile, no_network):
    import torch
    from funasr import AutoModel

    threads = torch.get_num_threads()
    model = AutoModel(
        model=str(profile["audio"]), device="cpu", disable_update=True, disable_pbar=True,
        ncpu=threads, log_level="ERROR",
    )  # fmt: skip
    # Every parameter came from model.pt (funasr only warns about missing keys).
    saved = torch.load(profile["audio"] / "model.pt", weights_only=True)
    loaded = model.model.state_dict()
    assert set(saved) == set(loaded)
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)

    wav = speechy(3.0)
    (utt,) = model.generate(wav, granularity="utterance", extract_embedding=True)
    assert utt["feats"].shape == (tm.E2V_DIM,)
    assert utt["labels"] == list(tm.EMOTION2VEC_LABELS)
    assert len(utt["scores"]) == 9 and abs(sum(utt["scores"]) - 1.0) < 1e-4

    (frames,) = model.generate(wav, granularity="frame", extract_embedding=True)
    assert frames["feats"].ndim == 2 and frames["feats"].shape[1] == tm.E2V_DIM
    assert abs(frames["feats"].shape[0] - 3.0 * 50) <= 2  # 50 Hz


def test_siglip_loads_with_auto_processor(profile, no_network):
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor, SiglipModel

    processor = AutoProcessor.from_pretrained(profile["vision"])
    model = SiglipModel.from_pretrained(profile["vision"])
    assert isinstance(AutoModel.from_pretrained(profile["vision"]), SiglipModel)

    rng = np.random.default_rng(0)
    sizes = [(90, 120), (130, 120), (170, 60)]
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    pixels = processor(images=images, return_tensors="pt")
    assert pixels["pixel_values"].shape == (3, 3, tm.SIGLIP_IMAGE_SIZE, tm.SIGLIP_IMAGE_SIZE)
    prompts = ["a photo of a happy face", "a photo of a sad face", "ANGRY face!", "一张开心的脸"]
    text = processor(text=prompts, padding="max_length", return_tensors="pt")
    assert text["input_ids"].shape == (4, tm.SIGLIP_TEXT_LEN)

    with torch.no_grad():
        image_out = model.get_image_features(**pixels)
        text_out = model.get_text_features(**text)
    # transformers 5 returns a model output here (transformers 4 returned the tensor itself).
    image_feats = getattr(image_out, "pooler_output", image_out)
    text_feats = getattr(text_out, "pooler_output", text_out)
    assert image_feats.shape == (3, model.config.vision_config.hidden_size)
    assert text_feats.shape == (4, image_feats.shape[1])


# ------------------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["text", "audio", "vision", "asr"])
def test_same_seed_same_bytes(profile, tmp_path, role, no_network):
    builder = {"asr": tm.build_tiny_whisper, "text": tm.build_tiny_text,
               "audio": tm.build_tiny_emotion2vec, "vision": tm.build_tiny_siglip}[role]  # fmt: skip
    again = builder(tmp_path / "same", seed=0)
    assert digest(again) == digest(profile[role])  # CT2 int8 model.bin included
    other = builder(tmp_path / "other", seed=1)
    weights = {"asr": "model.bin", "text": "model.safetensors", "audio": "model.pt",
               "vision": "model.safetensors"}[role]  # fmt: skip
    assert digest(other)[weights] != digest(again)[weights]


def test_emotion2vec_state_dict_is_plain_tensors(profile):
    import torch

    saved = torch.load(profile["audio"] / "model.pt", weights_only=True)
    fresh = tm.emotion2vec_state_dict(seed=0)
    assert saved.keys() == fresh.keys()
    assert all(torch.equal(saved[k], fresh[k]) for k in saved)
