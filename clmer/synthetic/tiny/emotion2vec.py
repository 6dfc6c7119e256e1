"""Tiny emotion2vec in funasr's on-disk layout (config.yaml + model.pt + tokens.txt)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

from clmer.synthetic.tiny.common import (atomic_build)
from clmer.synthetic.tiny.layouts import EMOTION2VEC_LABELS

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
    return atomic_build(Path(out_dir), lambda tmp: _e2v_build(tmp, seed))

