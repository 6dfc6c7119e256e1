"""Tiny multilingual Whisper in faster-whisper's CTranslate2 layout (stands in for whisper-base / large-v3)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import tokenizers

from clmer.synthetic.tiny.common import (atomic_build, save_hf_model, seed_torch,
    training_text)
from clmer.synthetic.tiny.layouts import WHISPER_LANGUAGES, WHISPER_TEXT_TOKENS, WHISPER_TIMESTAMPS, WHISPER_VOCAB_SIZE, WHISPER_EOT_CHANNEL, WHISPER_STOP_FRACTION

# --------------------------------------------------------------------------------------------------
# Whisper (faster-whisper / CTranslate2)
# --------------------------------------------------------------------------------------------------


def whisper_special_tokens() -> list[str]:
    """Whisper's added tokens after the 50,257 text tokens, in id order (50257 … 51864)."""
    head = ["<|endoftext|>", "<|startoftranscript|>"]
    langs = [f"<|{code}|>" for code in WHISPER_LANGUAGES]
    tail = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
            "<|notimestamps|>"]  # fmt: skip
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(WHISPER_TIMESTAMPS)]
    return head + langs + tail + stamps


def _byte_level_bpe(texts: list[str], size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE on ``texts`` and pad its vocabulary to exactly ``size`` tokens.

    The trainer stops far below 50,257 on a few hundred sentences; the rest are filler tokens made
    of byte-level symbols (never produced by encoding, harmless to decode) so ids keep Whisper's
    layout, and the last text token is "" as in OpenAI's multilingual vocabulary.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    filler = 0
    while len(vocab) < size - 1:
        token = f"Ġfiller{filler:05d}"  # Ġ = byte-level space: decodes to " filler00042"
        filler += 1
        if token not in vocab:
            vocab[token] = len(vocab)
    # The real multilingual vocabulary ends its text tokens with "" (id 50256); ctranslate2 4.8
    # treats a Whisper model as multilingual only if that empty token is present (measured: with
    # 51,865 distinct tokens but no "", is_multilingual is False and language="zh" becomes "en").
    vocab[""] = len(vocab)
    if len(vocab) != size or sorted(vocab.values()) != list(range(size)):
        raise RuntimeError(f"byte-level BPE vocabulary has {len(vocab)} ids, expected 0..{size - 1}")
    return vocab, merges  # type: ignore[return-value]


def build_whisper_tokenizer() -> tokenizers.Tokenizer:
    """A byte-level BPE ``tokenizers.Tokenizer`` with multilingual Whisper's exact id layout."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab, merges = _byte_level_bpe(training_text(), WHISPER_TEXT_TOKENS)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = whisper_special_tokens()
    controls, stamps = specials[:-WHISPER_TIMESTAMPS], specials[-WHISPER_TIMESTAMPS:]
    # Control tokens are special; timestamps are plain added tokens, as in the real tokenizer.json.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in controls])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in stamps])
    _check_whisper_ids(tok, specials)
    return tok


def _check_whisper_ids(tok: tokenizers.Tokenizer, specials: list[str]) -> None:
    """Fail loudly if any added token missed its Whisper id (ctranslate2 relies on the layout)."""
    for offset, token in enumerate(specials):
        if tok.token_to_id(token) != WHISPER_TEXT_TOKENS + offset:
            raise RuntimeError(f"{token} has id {tok.token_to_id(token)}")
    if tok.get_vocab_size(with_added_tokens=True) != WHISPER_VOCAB_SIZE:
        raise RuntimeError(f"vocabulary size {tok.get_vocab_size()} != {WHISPER_VOCAB_SIZE}")


def _whisper_ids(tok: tokenizers.Tokenizer) -> dict[str, int]:
    names = ("endoftext", "startoftranscript", "translate", "transcribe", "startoflm",
             "startofprev", "nospeech", "notimestamps")  # fmt: skip
    return {name: tok.token_to_id(f"<|{name}|>") for name in names}


def _whisper_suppress_tokens(tok: tokenizers.Tokenizer) -> list[int]:
    """Symbols whisper never emits (its ``non_speech_tokens`` rule) plus the control tokens.

    Computed from this tokenizer, since the real list holds ids of OpenAI's vocabulary.
    """
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    ids: set[int] = set()
    for symbol in symbols:
        for text in (symbol, " " + symbol):
            encoded = tok.encode(text, add_special_tokens=False).ids
            if encoded:
                ids.add(encoded[0])
    special = _whisper_ids(tok)
    ids.update(special[k] for k in ("startoftranscript", "translate", "transcribe", "startoflm",
                                     "startofprev", "nospeech"))  # fmt: skip
    return sorted(ids)


def _shape_whisper_decoder(model: Any, tok: tokenizers.Tokenizer, seed: int) -> None:
    """Make the random decoder confident and quick to stop, so ``transcribe`` stays fast.

    A plain random Whisper never emits <|endoftext|> and its log-probs sit near -10, so faster-whisper
    decodes up to 448 tokens per window and retries at every fallback temperature (measured: ~5.5 s
    for 4 s of audio). Here one residual feature (``WHISPER_EOT_CHANNEL``) is written only by the
    input embedding of a seeded ~15 % of the learned text tokens, and <|endoftext|>'s output row reads
    only that feature: the text ends right after such a token (~6 tokens on average) whatever the
    prompt or position. Output rows are large so greedy picks are confident (no fallback), and only
    learned tokens that decode to whole characters get non-zero rows, so the garbage text is made of
    real sub-words of the training text (no "filler", no lone UTF-8 bytes).
    """
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    k = WHISPER_EOT_CHANNEL
    eot = tok.token_to_id("<|endoftext|>")
    learned_ids = torch.tensor(_whole_char_tokens(tok))
    stop_ids = learned_ids[torch.rand(len(learned_ids), generator=gen) < WHISPER_STOP_FRACTION]
    decoder = model.model.decoder
    with torch.no_grad():
        embed = decoder.embed_tokens.weight
        embed[:, k] = 0.0
        embed[stop_ids, k] = 10.0
        decoder.embed_positions.weight[:, k] = 0.0
        for layer in decoder.layers:  # nothing else may write the stop feature
            for linear in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                linear.weight[k, :] = 0.0
                linear.bias[k] = 0.0
        decoder.layer_norm.bias[k] = 0.0
        out = torch.randn(model.proj_out.weight.shape, generator=gen) * 4.0
        text = torch.zeros(WHISPER_TEXT_TOKENS, dtype=torch.bool)
        text[learned_ids] = True
        out[:WHISPER_TEXT_TOKENS][~text] = 0.0
        out[:, k] = 0.0
        out[eot] = 0.0
        out[eot, k] = 40.0
        model.proj_out.weight.copy_(out)


def _whole_char_tokens(tok: tokenizers.Tokenizer) -> list[int]:
    """Learned text tokens that decode to printable whole characters (no filler, lone byte, control)."""
    ids = []
    for token, i in tok.get_vocab(with_added_tokens=False).items():
        text = tok.decode([i])
        if "filler" not in token and text.strip() and text.isprintable() and "\ufffd" not in text:
            ids.append(i)
    return sorted(ids)


def _whisper_hf_dir(hf_dir: Path, tok: tokenizers.Tokenizer, seed: int) -> None:
    """A tiny random ``WhisperForConditionalGeneration`` + tokenizer + feature extractor on disk."""
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    ids = _whisper_ids(tok)
    suppress = _whisper_suppress_tokens(tok)
    begin_suppress = [tok.token_to_id("Ġ"), ids["endoftext"]]
    config = WhisperConfig(
        vocab_size=WHISPER_VOCAB_SIZE,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        bos_token_id=ids["endoftext"],
        eos_token_id=ids["endoftext"],
        pad_token_id=ids["endoftext"],
        decoder_start_token_id=ids["startoftranscript"],
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        # Untied so the output layer can be shaped apart from the input embedding (see below).
        tie_word_embeddings=False,
    )
    seed_torch(seed)
    model = WhisperForConditionalGeneration(config).eval()
    _shape_whisper_decoder(model, tok, seed)
    # ctranslate2 reads lang_to_id here to know which ids are languages (detect_language).
    model.generation_config = GenerationConfig(
        bos_token_id=ids["endoftext"],
        eos_token_id=ids["endoftext"],
        pad_token_id=ids["endoftext"],
        decoder_start_token_id=ids["startoftranscript"],
        max_length=448,
        is_multilingual=True,
        lang_to_id={f"<|{c}|>": tok.token_to_id(f"<|{c}|>") for c in WHISPER_LANGUAGES},
        task_to_id={"transcribe": ids["transcribe"], "translate": ids["translate"]},
        no_timestamps_token_id=ids["notimestamps"],
        prev_sot_token_id=ids["startofprev"],
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        alignment_heads=[[1, h] for h in range(4)],
        max_initial_timestamp_index=50,
    )
    save_hf_model(model, hf_dir)
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=448,
    ).save_pretrained(hf_dir)
    tok.save(str(hf_dir / "tokenizer.json"))  # the exact tokenizer, not a re-serialised one
    WhisperFeatureExtractor(feature_size=80).save_pretrained(hf_dir)


def _check_ct2_vocabulary(out_dir: Path, tok: tokenizers.Tokenizer) -> None:
    """Make sure vocabulary.json is the tokenizer's 51,865 distinct tokens, "" at 50256 included.

    ctranslate2 drops duplicate entries and decides "multilingual" from this file (see
    ``_byte_level_bpe``). The converter's output already matches (measured); this guards upgrades.
    """
    path = out_dir / "vocabulary.json"
    tokens = json.loads(path.read_text(encoding="utf-8"))
    wanted = [tok.id_to_token(i) for i in range(WHISPER_VOCAB_SIZE)]
    if tokens != wanted:
        path.write_text(json.dumps(wanted, ensure_ascii=False, indent=2), encoding="utf-8")
    if len(set(wanted)) != WHISPER_VOCAB_SIZE:
        raise RuntimeError("Whisper vocabulary has duplicate tokens: ctranslate2 would drop them")


def _whisper_build(out_dir: Path, seed: int) -> None:
    import ctranslate2

    tok = build_whisper_tokenizer()
    with tempfile.TemporaryDirectory(prefix="tiny-whisper-hf-") as hf:
        hf_dir = Path(hf)
        _whisper_hf_dir(hf_dir, tok, seed)
        converter = ctranslate2.converters.TransformersConverter(
            str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
        )
        converter.convert(str(out_dir), quantization="int8", force=True)
    _check_ct2_vocabulary(out_dir, tok)


def build_tiny_whisper(out_dir: Path, seed: int = 0) -> Path:
    """Tiny random multilingual Whisper in CTranslate2 int8 format, for ``faster_whisper.WhisperModel``.

    Layout: ``config.json``, ``model.bin``, ``vocabulary.json``, ``tokenizer.json``,
    ``preprocessor_config.json`` (80 mel bins).
    """
    return atomic_build(Path(out_dir), lambda tmp: _whisper_build(tmp, seed))

