"""Where the reasoning LM runs: one small interface, three backends, the same greedy output.

`generate(prefixes, max_new, stop, suppress, repetition_penalty, temperature, min_new)` continues a batch
of token-id prefixes: never a suppressed token, no stop token before `min_new` tokens, stopping after the
first stop token (returned) or after `max_new` tokens. Greedy unless a temperature is given (training's rollouts).

* `transformers` (float32, the trained model itself; LoRA adapters merged) and `transformers-int8`
  (torch dynamic int8 quantisation of every Linear);
* `ctranslate2` (int8 by default; installed with faster-whisper; its converter handles Qwen2): the
  merged model is converted once into a cache folder keyed by the model's content, then reused.

The repetition penalty follows CTranslate2's rule in every backend (divide a positive logit, multiply a
negative one, for each token this call has generated; the prefix is not penalised), so the backends agree token
for token where their arithmetic does (float32 CTranslate2 reproduces transformers' greedy output).
`benchmarks/explainer_runtime.py` measures tokens/s, seconds per report and agreement for each.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Protocol

from clmer import atomic

RUNTIMES = ("transformers", "transformers-int8", "ctranslate2")


class Runtime(Protocol):
    name: str

    def generate(self, prefixes: list[list[int]], max_new: int, stop: set[int], suppress: list[int],
                 repetition_penalty: float = 1.0, temperature: float | None = None,
                 min_new: int = 0) -> list[list[int]]: ...


def _penalise(logits, seqs, penalty: float):
    """CTranslate2's repetition penalty over the tokens generated so far in each sequence."""
    import torch

    if penalty == 1.0 or seqs.shape[1] == 0:
        return logits
    picked = torch.gather(logits, 1, seqs)
    picked = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits.scatter(1, seqs, picked)


class TransformersRuntime:
    """A transformers causal LM, decoded step by step with its KV cache (left-padded batches)."""

    def __init__(self, model, tokenizer, int8: bool = False):
        import torch

        if int8:
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model, self.tokenizer = model, tokenizer
        self.name = "transformers-int8" if int8 else "transformers"
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def generate(self, prefixes, max_new, stop, suppress, repetition_penalty=1.0, temperature=None, min_new=0):
        import torch

        device = next(self.model.parameters()).device
        width = max(len(p) for p in prefixes)
        ids = torch.tensor([[self.pad] * (width - len(p)) + list(p) for p in prefixes], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prefixes], device=device)
        seqs = ids[:, :0]  # what the penalty reads: the tokens this call generated
        blocked = torch.tensor(sorted(set(suppress) - set(stop)), dtype=torch.long, device=device)
        stops = torch.tensor(sorted(stop), dtype=torch.long, device=device)
        outs: list[list[int]] = [[] for _ in prefixes]
        alive = [True] * len(prefixes)
        past, step_ids = None, ids
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        step_pos = positions
        with torch.inference_mode():
            for step in range(max_new):
                out = self.model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos,
                                 past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[:, -1, :].float()
                logits = _penalise(logits, seqs, repetition_penalty)
                if blocked.numel():
                    logits[:, blocked] = float("-inf")
                if step < min_new and stops.numel():  # as CTranslate2's min_length: no stop token yet
                    logits[:, stops] = float("-inf")
                if temperature:
                    nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1).squeeze(1)
                else:
                    nxt = logits.argmax(-1)
                for i, tok in enumerate(nxt.tolist()):
                    if alive[i]:
                        outs[i].append(tok)
                        alive[i] = tok not in stop
                if not any(alive):
                    break
                seqs = torch.cat([seqs, nxt[:, None]], 1)
                mask = torch.cat([mask, torch.ones_like(nxt[:, None])], 1)
                step_ids = nxt[:, None]
                step_pos = step_pos[:, -1:] + 1
        return outs


class CT2Runtime:
    """A CTranslate2 Generator over a converted folder."""

    def __init__(self, folder: Path, tokenizer, compute_type: str = "int8", threads: int = 0):
        import ctranslate2

        self.generator = ctranslate2.Generator(str(folder), device="cpu", compute_type=compute_type,
                                               intra_threads=threads)
        self.tokenizer = tokenizer
        self.name = f"ctranslate2-{compute_type}"

    def generate(self, prefixes, max_new, stop, suppress, repetition_penalty=1.0, temperature=None, min_new=0):
        tokens = [self.tokenizer.convert_ids_to_tokens(list(p)) for p in prefixes]
        blocked = [[t] for t in self.tokenizer.convert_ids_to_tokens(sorted(set(suppress) - set(stop)))]
        sampling = {"sampling_topk": 0, "sampling_temperature": temperature} if temperature else {"sampling_topk": 1}
        results = self.generator.generate_batch(
            tokens, max_length=max_new, end_token=sorted(stop), return_end_token=True,
            suppress_sequences=blocked or None, repetition_penalty=repetition_penalty,
            include_prompt_in_result=False, min_length=min_new, **sampling)
        return [list(r.sequences_ids[0]) for r in results]


def model_digest(folder: Path) -> str:
    """Content identity of a model folder (weights and config), for the converted-model cache."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        if path.is_file() and (path.suffix in (".safetensors", ".json") and path.name != "clmer_model.json"):
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def convert_ct2(model, tokenizer, cache_root: Path, key: str, quantization: str = "int8") -> Path:
    """The model converted to CTranslate2 under cache_root/key-quantization (built once, atomically)."""
    import tempfile

    import ctranslate2

    target = cache_root / f"{key}-{quantization}"
    if (target / "model.bin").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clmer-ct2-", dir=cache_root) as tmp:
        hf = Path(tmp) / "hf"
        model.save_pretrained(str(hf), safe_serialization=True)
        tokenizer.save_pretrained(str(hf))
        out = Path(tmp) / "ct2"
        ctranslate2.converters.TransformersConverter(str(hf), low_cpu_mem_usage=True).convert(
            str(out), quantization=quantization, force=True)
        atomic.write_json(out / "clmer_source.json", {"key": key, "quantization": quantization})
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target


def make_runtime(kind: str, model, tokenizer, cache_root: Path | None = None, key: str = "",
                 threads: int = 0, compute_type: str = "int8") -> Runtime:
    """The runtime `kind` over an already merged float32 model."""
    if kind == "transformers":
        return TransformersRuntime(model, tokenizer)
    if kind == "transformers-int8":
        import copy

        return TransformersRuntime(copy.deepcopy(model), tokenizer, int8=True)
    if kind == "ctranslate2":
        if cache_root is None:
            raise ValueError("the ctranslate2 runtime needs a cache folder for the converted model")
        folder = convert_ct2(model, tokenizer, cache_root, key, compute_type)
        return CT2Runtime(folder, tokenizer, compute_type, threads)
    raise ValueError(f"unknown reasoning runtime {kind!r}; expected one of {RUNTIMES}")
