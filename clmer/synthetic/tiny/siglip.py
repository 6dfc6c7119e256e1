"""Tiny SigLIP (vision + text towers, sentencepiece tokenizer) in transformers' layout."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass

from clmer.synthetic.tiny.common import (atomic_build, save_hf_model, seed_torch,
    training_text)

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
        sentence_iterator=iter(training_text()),
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
    seed_torch(seed)
    save_hf_model(SiglipModel(config).eval(), out_dir)


def build_tiny_siglip(out_dir: Path, seed: int = 0) -> Path:
    """Tiny random ``SiglipModel`` (224 px, patch 32, width 32) + processor (PIL image processor,
    locally trained sentencepiece ``SiglipTokenizer``, padding length 64).
    """
    return atomic_build(Path(out_dir), lambda tmp: _siglip_build(tmp, seed))

