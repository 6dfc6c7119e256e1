"""The "tiny" model profile: the real backbones' classes and on-disk layouts, with small random weights.

Every directory built here loads with the same standard loader as the pretrained model it stands in
for, offline, so the product's loading code is exercised unchanged in tests and demos:

| role     | stands in for                     | loader                                               |
|----------|-----------------------------------|------------------------------------------------------|
| "asr"    | multilingual whisper-base (CT2)   | ``faster_whisper.WhisperModel(dir)``                 |
| "text"   | bert-base-multilingual-cased      | ``AutoTokenizer`` / ``AutoModel.from_pretrained``    |
| "audio"  | emotion2vec_plus (funasr layout)  | ``funasr.AutoModel(model=dir, disable_update=True)`` |
| "vision" | SigLIP                            | ``AutoProcessor`` / ``SiglipModel.from_pretrained``  |
| "explainer" | Qwen2.5-0.5B-Instruct (Qwen2)  | ``AutoTokenizer`` / ``AutoModelForCausalLM``         |

One module per backbone (`whisper`, `text_bert`, `emotion2vec`, `siglip`, `explainer`); `layouts` holds
the real models' constants and `common` the atomic build into the store.

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

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clmer.synthetic.tiny.emotion2vec import E2V_DIM, build_tiny_emotion2vec, emotion2vec_config, emotion2vec_state_dict
from clmer.synthetic.tiny.explainer import EXPLAINER_SPECIALS, build_tiny_explainer
from clmer.synthetic.tiny.layouts import EMOTION2VEC_LABELS, TINY_DIRS, WHISPER_LANGUAGES, WHISPER_VOCAB_SIZE
from clmer.synthetic.tiny.siglip import SIGLIP_IMAGE_SIZE, SIGLIP_TEXT_LEN, build_tiny_siglip
from clmer.synthetic.tiny.text_bert import build_bert_tokenizer, build_tiny_text
from clmer.synthetic.tiny.whisper import build_tiny_whisper, build_whisper_tokenizer, whisper_special_tokens

if TYPE_CHECKING:  # pragma: no cover
    from clmer.features.model_store import ModelStore

__all__ = ["E2V_DIM", "EMOTION2VEC_LABELS", "EXPLAINER_SPECIALS", "SIGLIP_IMAGE_SIZE", "SIGLIP_TEXT_LEN", "TINY_DIRS",
           "WHISPER_LANGUAGES", "WHISPER_VOCAB_SIZE", "build_bert_tokenizer", "build_tiny_emotion2vec",
           "build_tiny_explainer", "build_tiny_profile", "build_tiny_siglip", "build_tiny_text",
           "build_tiny_whisper", "build_whisper_tokenizer", "emotion2vec_config", "install_tiny_profile", "emotion2vec_state_dict",
           "whisper_special_tokens"]


_BUILDERS: dict[str, Callable[[Path, int], Path]] = {
    "asr": build_tiny_whisper,
    "text": build_tiny_text,
    "audio": build_tiny_emotion2vec,
    "vision": build_tiny_siglip,
    "explainer": build_tiny_explainer,
}


def build_tiny_profile(store_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Build the five tiny models under ``store_dir``; return role ("asr", "text", "audio",
    "vision", "explainer") → model dir. Each model is built atomically; the same seed gives the same bytes."""
    store_dir = Path(store_dir)
    return {role: _BUILDERS[role](store_dir / TINY_DIRS[role], seed) for role in TINY_DIRS}


def install_tiny_profile(store: "ModelStore", seed: int = 0) -> dict[str, Path]:
    """Build the tiny profile into a model store and record each model's metadata there."""
    from clmer.features.model_store import PROFILES, fingerprint

    store.root.mkdir(parents=True, exist_ok=True)
    built = build_tiny_profile(store.root, seed=seed)
    for role, path in built.items():
        store.register(PROFILES["tiny"][role], path, role, source=f"clmer tiny profile (seed {seed})",
                       revision=f"tiny-seed{seed}-" + fingerprint(path).split("-")[1])
    return built
