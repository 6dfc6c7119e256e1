"""The "tiny" model profile: the real backbones' classes and on-disk layouts, with small random weights.

Every directory built here loads with the same standard loader as the pretrained model it stands in
for, offline, so the product's loading code is exercised unchanged in tests and demos:

| role     | stands in for                     | loader                                               |
|----------|-----------------------------------|------------------------------------------------------|
| "asr"    | multilingual whisper-base (CT2)   | ``faster_whisper.WhisperModel(dir)``                 |
| "text"   | bert-base-multilingual-cased      | ``AutoTokenizer`` / ``AutoModel.from_pretrained``    |
| "audio"  | emotion2vec_plus (funasr layout)  | ``funasr.AutoModel(model=dir, disable_update=True)`` |
| "vision" | SigLIP                            | ``AutoProcessor`` / ``SiglipModel.from_pretrained``  |

Weights are drawn from a seeded torch generator, so the same seed gives the same tensors. Tokenizers
are trained here on local text (the project's sentence bank plus a few lines below); they do not
depend on the seed. Nothing is downloaded. The models compute garbage: they exist to test plumbing,
shapes and offline loading, never quality.

Heavy libraries (torch, transformers, ctranslate2, tokenizers, sentencepiece) are imported inside
the functions so that importing this module stays cheap. funasr is not imported at all: its import
alone takes ~12 s on two cores, so the emotion2vec state dict is written from its known layout (the
tests load it through funasr and check every key and shape).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import tokenizers
    import torch

# --------------------------------------------------------------------------------------------------
# Layout constants of the real models
# --------------------------------------------------------------------------------------------------

#: The 99 language tokens of multilingual Whisper (base … large-v2), in Whisper's own id order.
#: large-v3 appends "yue" (100 languages, vocabulary 51,866); the tiny model follows the 99 layout.
WHISPER_LANGUAGES: tuple[str, ...] = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha",
    "ba", "jw", "su",
)  # fmt: skip
WHISPER_TEXT_TOKENS = 50_257
WHISPER_TIMESTAMPS = 1_501  # <|0.00|> … <|30.00|> in 0.02 s steps
WHISPER_VOCAB_SIZE = 51_865
WHISPER_EOT_CHANNEL = 63  # the tiny decoder's residual feature that carries "stop now"
WHISPER_STOP_FRACTION = 0.15  # share of learned text tokens after which the tiny model stops

#: emotion2vec_plus's 9 labels, in its tokens.txt order (the score order of ``generate``).
EMOTION2VEC_LABELS: tuple[str, ...] = (
    "生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral",
    "其他/other", "难过/sad", "吃惊/surprised", "<unk>",
)  # fmt: skip

TINY_DIRS: dict[str, str] = {
    "asr": "tiny-whisper",
    "text": "tiny-text-bert",
    "audio": "tiny-emotion2vec",
    "vision": "tiny-siglip",
    "explainer": "tiny-explainer",
}

# Extra training text so the tokenizers see words the sentence bank lacks (prompts, punctuation).
_EXTRA_TEXT = (
    "a photo of a happy face",
    "a photo of a sad face",
    "a photo of an angry face",
    "a photo of a surprised face",
    "a photo of a fearful face",
    "a photo of a disgusted face",
    "a photo of a neutral face",
    "a close-up photo of a person who looks calm, tired, excited or worried.",
    "The quick brown fox jumps over the lazy dog: 0123456789! (yes) [no] {maybe} #1 @home 50% & more.",
    "I am really happy today.",
    "我今天非常开心。",
    "你好，世界！这是一个测试吗？是的。",
)


def _training_text() -> list[str]:
    """Local text for the tokenizers: the demo sentence bank (zh + en) plus a few fixed lines."""
    from clmer.sentence_bank import SENTENCES

    lines = [s for by_polarity in SENTENCES.values() for group in by_polarity.values() for s in group]
    return lines + list(_EXTRA_TEXT)


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _atomic_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build into a temp dir beside ``target`` and rename it into place.

    A crash leaves at most a hidden ``.tiny-*.tmp*`` dir, never a half-built ``target``; an older
    ``target`` is moved aside first and removed only after the new one is in place.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp", dir=target.parent))
    try:
        with _quiet_transformers():
            build(tmp)
        _share_read_only(tmp)
        _swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless the build failed
    return target


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old", dir=target.parent))
        try:
            os.replace(target, old / target.name)
        except FileNotFoundError:  # a concurrent builder moved it first
            pass
    try:
        os.replace(tmp, target)
    except OSError:
        # Another process renamed its build in between: keep that one (same layout; builds are
        # deterministic, so with the same seed it is the same model).
        if not target.is_dir():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _share_read_only(root: Path) -> None:
    """mkdtemp makes 0700 dirs and safetensors writes 0600 files: give the store normal modes."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and warnings while building, then restore its settings.

    Building a SiglipConfig logs bogus "bos_token_id must be within the vocabulary" warnings from
    transformers' own default-config diff (not from our values), and every save/load draws a bar.
    """
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _seed_torch(seed: int) -> None:
    """Seed torch's global RNG: transformers' ``_init_weights`` draws from it."""
    import torch

    torch.manual_seed(seed)


def _save_hf_model(model: Any, out_dir: Path) -> None:
    """``save_pretrained`` as safetensors, one shard, so the weight file is easy to compare."""
    model.save_pretrained(out_dir, safe_serialization=True, max_shard_size="1GB")


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

    vocab, merges = _byte_level_bpe(_training_text(), WHISPER_TEXT_TOKENS)
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
    _seed_torch(seed)
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
    _save_hf_model(model, hf_dir)
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
    return _atomic_build(Path(out_dir), lambda tmp: _whisper_build(tmp, seed))


# --------------------------------------------------------------------------------------------------
# Text: BERT (multilingual-cased layout)
# --------------------------------------------------------------------------------------------------

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _bert_alphabet() -> list[str]:
    """Every single character the tiny BERT knows: ASCII, Latin, CJK and CJK/full-width punctuation."""
    ranges = [
        (0x21, 0x7E),  # printable ASCII
        (0xA1, 0x17F),  # Latin-1 and Latin Extended-A: café, naïve, Æsir
        (0x2010, 0x2027),  # dashes, curly quotes, ellipsis
        (0x3000, 0x303F),  # CJK punctuation
        (0x4E00, 0x9FFF),  # CJK Unified Ideographs
        (0xFF01, 0xFF5E),  # full-width forms: ，！？
    ]
    return [c for lo, hi in ranges for c in map(chr, range(lo, hi + 1)) if c.isprintable()]


def build_bert_tokenizer() -> tokenizers.Tokenizer:
    """A cased WordPiece tokenizer (bert-base-multilingual-cased style) built from local text.

    Each CJK ideograph is its own word after ``BertNormalizer(handle_chinese_chars=True)``, so the
    alphabet alone covers Chinese; "##x" continuations of every Latin character are added so no
    English (or accented Latin) word falls back to [UNK] either.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: dict[str, int] = {}
    for line in _training_text():
        for word, _span in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
            words[word] = words.get(word, 0) + 1
    vocab = _wordpiece_vocab(words, _bert_alphabet())

    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##")
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return tok


def _wordpiece_vocab(words: dict[str, int], alphabet: list[str]) -> dict[str, int]:
    """Specials, single characters, "##" characters, then frequent suffixes and whole words.

    Counted in Python with sorted tie-breaks on purpose: tokenizers' WordPieceTrainer numbers the
    "##x" symbols in hash-map order, so its merges (and the vocabulary) change from run to run
    (measured: two processes gave different tokenizer.json files).
    """
    suffixes: dict[str, int] = {}
    for word in words:
        for n in range(2, min(5, len(word))):
            suffixes[word[-n:]] = suffixes.get(word[-n:], 0) + 1
    common = sorted((s for s, c in suffixes.items() if c >= 3), key=lambda s: (-suffixes[s], s))
    multi = sorted((w for w in words if len(w) > 1), key=lambda w: (-words[w], w))
    tokens = list(BERT_SPECIALS) + alphabet + ["##" + c for c in alphabet if ord(c) < 0x3000]
    tokens += ["##" + s for s in common] + multi
    unique = list(dict.fromkeys(tokens))  # first occurrence wins: ids stay stable
    return {t: i for i, t in enumerate(unique)}


def _text_build(out_dir: Path, seed: int) -> None:
    from transformers import BertConfig, BertModel, BertTokenizer

    tok = build_bert_tokenizer()
    vocab = tok.get_vocab()
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=vocab["[PAD]"],
    )
    _seed_torch(seed)
    _save_hf_model(BertModel(config).eval(), out_dir)
    # BertTokenizer (the fast class in transformers 5) saves tokenizer_class "BertTokenizer" and the
    # cased flags, so AutoTokenizer gives a BertTokenizer(Fast) with the same pipeline as ours.
    hf_tok = BertTokenizer(
        vocab=vocab,
        do_lower_case=False,
        strip_accents=False,
        tokenize_chinese_chars=True,
        model_max_length=512,
    )
    _same_pipeline(hf_tok.backend_tokenizer, tok)
    hf_tok.save_pretrained(out_dir)
    # vocab.txt as in the real repo: lets a slow / transformers-4 BertTokenizer load the dir too.
    ordered = sorted(vocab, key=vocab.__getitem__)
    (out_dir / "vocab.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")


def _same_pipeline(built: tokenizers.Tokenizer, wanted: tokenizers.Tokenizer) -> None:
    """Guard against transformers changing BertTokenizer's defaults (e.g. back to lowercasing)."""
    a, b = json.loads(built.to_str()), json.loads(wanted.to_str())
    for part in ("normalizer", "pre_tokenizer", "model", "post_processor", "decoder"):
        if a[part] != b[part]:
            raise RuntimeError(f"BertTokenizer built a different {part}: {a[part]} != {b[part]}")


def build_tiny_text(out_dir: Path, seed: int = 0) -> Path:
    """Tiny random ``BertModel`` (hidden 32) + cased zh/en WordPiece fast tokenizer.

    Loads with ``AutoTokenizer.from_pretrained(dir)`` and ``AutoModel.from_pretrained(dir)``.
    """
    return _atomic_build(Path(out_dir), lambda tmp: _text_build(tmp, seed))


# --------------------------------------------------------------------------------------------------
# Audio: emotion2vec (funasr layout)
# --------------------------------------------------------------------------------------------------

E2V_DIM = 32
E2V_HEADS = 4
E2V_DEPTH = 2  # transformer blocks after the prenet
E2V_PRENET_DEPTH = 1
E2V_MLP_RATIO = 2.0
E2V_CONV_CHANNELS = 32
E2V_EXTRA_TOKENS = 10
E2V_POS_WIDTH = 15  # one positional conv layer of kernel 15
E2V_POS_GROUPS = 4
# Same kernels and strides as the real wav2vec-style extractor (total stride 320 → 50 Hz at 16 kHz).
E2V_CONV_SPEC = [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2


def emotion2vec_config() -> dict[str, Any]:
    """config.yaml for funasr's ``Emotion2vec``: the real model's keys, tiny sizes, no decoder."""
    spec = " + ".join(f"[({E2V_CONV_CHANNELS}, {k}, {s})]" for k, s in E2V_CONV_SPEC)
    audio = {
        "type": "AUDIO",
        "prenet_depth": E2V_PRENET_DEPTH,
        "prenet_layerdrop": 0.0,
        "prenet_dropout": 0.0,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_extra_tokens": E2V_EXTRA_TOKENS,
        "init_extra_token_zero": True,
        "mask_noise_std": 0.01,
        "mask_prob_min": None,
        "mask_prob": 0.5,
        "inverse_mask": False,
        "mask_prob_adjust": 0.05,
        "keep_masked_pct": 0.0,
        "mask_length": 5,
        "add_masks": False,
        "remove_masks": False,
        "mask_dropout": 0.0,
        "encoder_zero_mask": True,
        "mask_channel_prob": 0.0,
        "mask_channel_length": 64,
        "ema_local_encoder": False,
        "local_grad_mult": 1.0,
        "use_alibi_encoder": True,
        "alibi_scale": 1.0,
        "learned_alibi": False,
        "alibi_max_pos": None,
        "learned_alibi_scale": True,
        "learned_alibi_scale_per_head": True,
        "learned_alibi_scale_per_layer": False,
        "num_alibi_heads": E2V_HEADS,
        "model_depth": E2V_DEPTH,
        "decoder": None,  # the pre-training decoder is unused at inference
        "extractor_mode": "layer_norm",
        "feature_encoder_spec": spec,
        "conv_pos_width": E2V_POS_WIDTH,
        "conv_pos_groups": E2V_POS_GROUPS,
        "conv_pos_depth": 1,
        "conv_pos_pre_ln": False,
    }
    model_conf = {
        "loss_beta": 0.0,
        "loss_scale": None,
        "depth": E2V_DEPTH,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_heads": E2V_HEADS,
        "norm_eps": 1.0e-5,
        "norm_affine": True,
        "encoder_dropout": 0.1,
        "post_mlp_drop": 0.1,
        "attention_dropout": 0.1,
        "activation_dropout": 0.0,
        "dropout_input": 0.0,
        "layerdrop": 0.0,
        "embed_dim": E2V_DIM,
        "mlp_ratio": E2V_MLP_RATIO,
        "layer_norm_first": False,
        "average_top_k_layers": E2V_DEPTH,
        "end_of_block_targets": False,
        "clone_batch": 1,
        "normalize": True,
        "modalities": {"audio": audio},
    }
    return {
        "model": "Emotion2vec",
        "model_conf": model_conf,
        "tokenizer": "CharTokenizer",
        # funasr writes the tokens.txt path into this dict when it loads the dir: it must exist.
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
    }


def _e2v_shapes() -> dict[str, tuple[tuple[int, ...], str]]:
    """Every parameter of funasr's ``Emotion2vec`` for ``emotion2vec_config()`` → (shape, init kind).

    Kinds: "w" random weight, "one"/"zero" layer-norm affine, "scale" ALiBi scale (= 1).
    """
    d, c, hidden = E2V_DIM, E2V_CONV_CHANNELS, int(E2V_DIM * E2V_MLP_RATIO)
    enc = "modality_encoders.AUDIO."
    shapes: dict[str, tuple[tuple[int, ...], str]] = {
        enc + "extra_tokens": ((1, E2V_EXTRA_TOKENS, d), "zero"),
        enc + "alibi_scale": ((1, 1, E2V_HEADS, 1, 1), "scale"),
    }
    in_ch = 1
    for i, (kernel, _stride) in enumerate(E2V_CONV_SPEC):
        shapes[f"{enc}local_encoder.conv_layers.{i}.0.weight"] = ((c, in_ch, kernel), "w")
        shapes[f"{enc}local_encoder.conv_layers.{i}.2.1.weight"] = ((c,), "one")
        shapes[f"{enc}local_encoder.conv_layers.{i}.2.1.bias"] = ((c,), "zero")
        in_ch = c
    shapes[enc + "project_features.1.weight"] = ((c,), "one")
    shapes[enc + "project_features.1.bias"] = ((c,), "zero")
    shapes[enc + "project_features.2.weight"] = ((d, c), "w")
    shapes[enc + "project_features.2.bias"] = ((d,), "zero")
    pos_conv = (d, d // E2V_POS_GROUPS, E2V_POS_WIDTH)  # grouped Conv1d
    shapes[enc + "relative_positional_encoder.1.0.weight"] = (pos_conv, "w")
    shapes[enc + "relative_positional_encoder.1.0.bias"] = ((d,), "zero")
    for i in range(E2V_PRENET_DEPTH):
        shapes.update(_e2v_block(f"{enc}context_encoder.blocks.{i}.", d, hidden))
    shapes[enc + "context_encoder.norm.weight"] = ((d,), "one")
    shapes[enc + "context_encoder.norm.bias"] = ((d,), "zero")
    for i in range(E2V_DEPTH):
        shapes.update(_e2v_block(f"blocks.{i}.", d, hidden))
    shapes["proj.weight"] = ((len(EMOTION2VEC_LABELS), d), "w")
    shapes["proj.bias"] = ((len(EMOTION2VEC_LABELS),), "zero")
    return shapes


def _e2v_block(prefix: str, d: int, hidden: int) -> dict[str, tuple[tuple[int, ...], str]]:
    return {
        prefix + "norm1.weight": ((d,), "one"),
        prefix + "norm1.bias": ((d,), "zero"),
        prefix + "attn.qkv.weight": ((3 * d, d), "w"),
        prefix + "attn.qkv.bias": ((3 * d,), "zero"),
        prefix + "attn.proj.weight": ((d, d), "w"),
        prefix + "attn.proj.bias": ((d,), "zero"),
        prefix + "norm2.weight": ((d,), "one"),
        prefix + "norm2.bias": ((d,), "zero"),
        prefix + "mlp.fc1.weight": ((hidden, d), "w"),
        prefix + "mlp.fc1.bias": ((hidden,), "zero"),
        prefix + "mlp.fc2.weight": ((d, hidden), "w"),
        prefix + "mlp.fc2.bias": ((d,), "zero"),
    }


def emotion2vec_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """The tiny emotion2vec weights: plain float32 tensors from a generator seeded by ``seed``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, (shape, kind) in _e2v_shapes().items():
        if kind == "w":
            fan_in = math.prod(shape[1:])  # keeps activations O(1) through the stack
            state[name] = torch.randn(shape, generator=gen) / fan_in**0.5
        elif kind in ("one", "scale"):
            state[name] = torch.ones(shape)
        else:
            state[name] = torch.zeros(shape)
    return state


def _e2v_build(out_dir: Path, seed: int) -> None:
    import torch
    import yaml

    (out_dir / "config.yaml").write_text(
        yaml.safe_dump(emotion2vec_config(), allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    torch.save(emotion2vec_state_dict(seed), out_dir / "model.pt")
    (out_dir / "tokens.txt").write_text("\n".join(EMOTION2VEC_LABELS) + "\n", encoding="utf-8")


def build_tiny_emotion2vec(out_dir: Path, seed: int = 0) -> Path:
    """Tiny random emotion2vec in funasr's local layout: ``config.yaml``, ``model.pt``, ``tokens.txt``.

    Loads with ``funasr.AutoModel(model=str(dir), device="cpu", disable_update=True)``; features are
    ``E2V_DIM``-dimensional at 50 Hz, the head scores the 9 ``EMOTION2VEC_LABELS``.
    """
    return _atomic_build(Path(out_dir), lambda tmp: _e2v_build(tmp, seed))


# --------------------------------------------------------------------------------------------------
# Vision: SigLIP
# --------------------------------------------------------------------------------------------------

SIGLIP_IMAGE_SIZE = 224
SIGLIP_PATCH = 32
SIGLIP_TEXT_LEN = 64  # the real SigLIP's max_position_embeddings and padding length
SIGLIP_VOCAB = 1_000


def _train_siglip_spm(path: Path) -> Path:
    """A small sentencepiece unigram model with SigLIP's special ids: </s> = 1 (also padding), <unk> = 2.

    Trained in memory: with ``model_prefix`` the trainer records the (temporary) output path inside
    the model, so two builds would differ by that path alone.
    """
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_training_text()),
        model_writer=model,
        vocab_size=SIGLIP_VOCAB,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        num_threads=1,
        hard_vocab_limit=False,  # a few hundred sentences cannot fill 1,000 pieces
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    return path


def _siglip_build(out_dir: Path, seed: int) -> None:
    from transformers import (
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipProcessor,
        SiglipTokenizer,
    )

    with tempfile.TemporaryDirectory(prefix="tiny-siglip-spm-") as work:
        spm_path = _train_siglip_spm(Path(work) / "spiece.model")
        tokenizer = SiglipTokenizer(vocab_file=str(spm_path), model_max_length=SIGLIP_TEXT_LEN)
        vocab_size = tokenizer.vocab_size
        # SiglipImageProcessor is the PIL one: the fast variant needs torchvision, absent here.
        image_processor = SiglipImageProcessor(
            size={"height": SIGLIP_IMAGE_SIZE, "width": SIGLIP_IMAGE_SIZE}
        )
        SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out_dir)
    config = SiglipConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": SIGLIP_TEXT_LEN,
            "pad_token_id": 1,
            "eos_token_id": 1,
            "bos_token_id": None,  # no BOS in SigLIP's tokenizer; the CLIP default 49406 is out of range
            "projection_size": 32,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": SIGLIP_IMAGE_SIZE,
            "patch_size": SIGLIP_PATCH,
            "num_channels": 3,
        },
    )
    _seed_torch(seed)
    _save_hf_model(SiglipModel(config).eval(), out_dir)


def build_tiny_siglip(out_dir: Path, seed: int = 0) -> Path:
    """Tiny random ``SiglipModel`` (224 px, patch 32, width 32) + processor (PIL image processor,
    locally trained sentencepiece ``SiglipTokenizer``, padding length 64).
    """
    return _atomic_build(Path(out_dir), lambda tmp: _siglip_build(tmp, seed))


# --------------------------------------------------------------------------------------------------
# The profile
# --------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------
# Reasoning explainer: a small instruction LM (Qwen2 class, like Qwen2.5-0.5B-Instruct)
# --------------------------------------------------------------------------------------------------

EXPLAINER_SPECIALS = ("<|endoftext|>", "<think>", "</think>", "<answer>", "</answer>")
_EXPLAINER_TEXT = (
    "Clip evidence. language: en zh. transcript: top words: modality shares: text audio vision",
    "audio cues: visual cues: happy sad angry neutral surprised fearful disgusted other",
    "model prediction: negative neutral positive confidence decisive: the words the voice the face",
    "Explain the emotional polarity. Answer as <think>...</think><answer>polarity</answer>.",
)


def _explainer_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=[])
    tok.train_from_iterator(_training_text() + list(_EXPLAINER_TEXT) * 3, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in EXPLAINER_SPECIALS])
    return tok


def _explainer_build(out_dir: Path, seed: int) -> None:
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_explainer_tokenizer(), eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", padding_side="left", model_max_length=1024)
    tokenizer.save_pretrained(out_dir)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    _seed_torch(seed)
    _save_hf_model(Qwen2ForCausalLM(config).eval(), out_dir)


def build_tiny_explainer(out_dir: Path, seed: int = 0) -> Path:
    """Tiny random ``Qwen2ForCausalLM`` + a byte-level BPE tokenizer with <think>/<answer> tokens."""
    return _atomic_build(Path(out_dir), lambda tmp: _explainer_build(tmp, seed))


_BUILDERS: dict[str, Callable[[Path, int], Path]] = {
    "asr": build_tiny_whisper,
    "text": build_tiny_text,
    "audio": build_tiny_emotion2vec,
    "vision": build_tiny_siglip,
    "explainer": build_tiny_explainer,
}


def build_tiny_profile(store_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Build the four tiny models under ``store_dir``; return role ("asr", "text", "audio",
    "vision") → model dir. Each model is built atomically; the same seed gives the same bytes."""
    store_dir = Path(store_dir)
    return {role: _BUILDERS[role](store_dir / TINY_DIRS[role], seed) for role in TINY_DIRS}
