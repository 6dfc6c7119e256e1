"""What a GPU worker changes and what it must not: feature identity, CTranslate2's CUDA check, what a
hub pull downloads (all checked here on a CPU; the CUDA runs themselves are in tests marked `gpu`)."""

import pytest


def test_feature_identity_names_meaning_not_device_or_precision(tiny_settings):
    from clmer.features.encoders import identity

    seen = set()
    for device in ("cpu", "cuda"):
        for compute in ("auto", "int8", "float16", "float32"):
            s = tiny_settings.model_copy(deep=True)
            s.models.device, s.models.asr_compute_type = device, compute
            seen.add(tuple(sorted(identity("asr", s).items())))
    assert len(seen) == 1  # a model trained on a GPU worker scores on a CPU one, from the same cache
    s = tiny_settings.model_copy(deep=True)
    s.models.asr_beam_size = 5  # this one changes the transcript: a different identity
    assert tuple(sorted(identity("asr", s).items())) not in seen


def test_ctranslate2_falls_back_to_the_cpu_when_cuda12_cublas_is_missing(monkeypatch):
    import ctypes

    import ctranslate2

    from clmer.features import gpu

    gpu.ct2_cuda_problem.cache_clear()
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)

    def no_cublas(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_cublas)
    try:
        assert "libcublas.so.12" in gpu.ct2_cuda_problem()
        assert gpu.ct2_device("cuda") == "cpu" and gpu.ct2_device("cpu") == "cpu"
    finally:
        gpu.ct2_cuda_problem.cache_clear()


def test_half_precision_only_on_cuda():
    import torch

    from clmer.features.gpu import half_dtype

    assert half_dtype("cpu") == torch.float32


@pytest.mark.parametrize("kind, files, wanted", [
    ("transformers", ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
                      "onnx/model.onnx", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "README.md"],
     ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]),
    ("transformers", ["config.json", "pytorch_model.bin", "tf_model.h5", "vocab.txt"], ["config.json", "pytorch_model.bin", "vocab.txt"]),
    ("faster-whisper", ["config.json", "model.bin", "tokenizer.json", "vocabulary.json", "preprocessor_config.json", "README.md"],
     ["config.json", "model.bin", "preprocessor_config.json", "tokenizer.json", "vocabulary.json"]),
    ("emotion2vec", ["config.yaml", "model.pt", "tokens.txt", "configuration.json", "example/test.wav", "README.md"],
     ["config.yaml", "configuration.json", "model.pt", "tokens.txt"]),
])
def test_pull_downloads_only_what_the_loader_reads(kind, files, wanted):
    from clmer.features.hub_pull import select_files

    assert select_files(kind, files) == sorted(wanted)


def test_stale_partial_pulls_are_cleaned_and_never_listed(tmp_path):
    from clmer.features.hub_pull import clean_stale_partials, role_for
    from clmer.features.model_store import ModelStore

    store = ModelStore(tmp_path)
    (tmp_path / "bert-base-multilingual-cased.partial-4242").mkdir()
    (tmp_path / ".bert-base-multilingual-cased.partial").mkdir()  # the resumable one: hidden, kept
    assert store.list() == []
    assert [p.name for p in clean_stale_partials(store)] == ["bert-base-multilingual-cased.partial-4242"]
    assert (tmp_path / ".bert-base-multilingual-cased.partial").is_dir()
    assert role_for("emotion2vec_plus_base") == "audio" and role_for("my/own-model") is None
