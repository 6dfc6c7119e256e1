"""Tiny BERT text encoder with a locally trained WordPiece that covers Chinese (bert-base-multilingual-cased layout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import tokenizers

from clmer.synthetic.tiny.common import (atomic_build, save_hf_model, seed_torch,
    training_text)

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
    for line in training_text():
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
    seed_torch(seed)
    save_hf_model(BertModel(config).eval(), out_dir)
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
    return atomic_build(Path(out_dir), lambda tmp: _text_build(tmp, seed))

