"""Tiny Qwen2 causal LM with <think>/<answer> tokens: stands in for the reasoning-text explainer."""

from __future__ import annotations

from pathlib import Path
from clmer.synthetic.tiny.common import (atomic_build, save_hf_model, seed_torch,
    training_text)

# --------------------------------------------------------------------------------------------------
# Reasoning explainer: a small instruction LM (Qwen2 class, like Qwen2.5-0.5B-Instruct)
# --------------------------------------------------------------------------------------------------

EXPLAINER_SPECIALS = ("<|endoftext|>", "<think>", "</think>", "<answer>", "</answer>")
_EXPLAINER_TEXT = (
    "Clip evidence. language: en zh. transcript: top words: modality shares: text audio vision",
    "audio cues: visual cues: happy sad angry neutral surprised fearful disgusted other",
    "model prediction: negative neutral positive confidence decisive: the words the voice the face",
    "Explain the emotional polarity. Answer as <think>...</think><answer>polarity</answer>.",
    # quote marks as whole tokens, as real tokenizers have them (the decoder stops on an opening quote)
    "The speaker says “happy” and “wonderful”, the face looks happy. 说话人提到“开心”和“公园”，面部看起来开心。",
)


def _explainer_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=[])
    tok.train_from_iterator(training_text() + list(_EXPLAINER_TEXT) * 12, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in EXPLAINER_SPECIALS])
    return tok


def _explainer_build(out_dir: Path, seed: int, init_std: float = 0.02) -> None:
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_explainer_tokenizer(), eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", padding_side="left", model_max_length=1024)
    tokenizer.save_pretrained(out_dir)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None, initializer_range=init_std)
    seed_torch(seed)
    save_hf_model(Qwen2ForCausalLM(config).eval(), out_dir)


def build_tiny_explainer(out_dir: Path, seed: int = 0, init_std: float = 0.02) -> Path:
    """Tiny random ``Qwen2ForCausalLM`` + a byte-level BPE tokenizer with <think>/<answer> tokens.

    `init_std` above the default (e.g. 0.5) gives logits large enough for a LoRA adapter to move the output
    distribution (with 0.02 the tied 32-d embeddings cap every logit near zero): the training tests use it."""
    return atomic_build(Path(out_dir), lambda tmp: _explainer_build(tmp, seed, init_std))
