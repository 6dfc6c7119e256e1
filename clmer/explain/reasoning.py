"""The reasoning-text LM: it writes the connecting sentences of `<think>...</think><answer>...</answer>`
around facts that are written by construction (R1-Omni style output, grounded like the template).

* Model: the store's explainer (small profile: Qwen2.5-Coder-0.5B-Instruct), or a trained LoRA adapter
  whose base is named in ADAPTER_META and resolved through the model store (checked by revision).
* Prompt and facts: `clmer.explain.reasoning_prompts` (in the clip's language); decoding:
  `clmer.explain.reasoning_decode` (constrained); runtime: `clmer.explain.reasoning_runtime`
  (CTranslate2 int8 on a CPU by default: the adapter is merged before conversion).
* Use (`Explainer.reason_batch`): the LM's text is shown only when it passes every check (format,
  grounding, answer = prediction, language, numbers, no loop, and the LM wrote something); otherwise
  the report carries the grounded template and the JSON says which check failed.
* Training: `clmer.explain.reasoning_train.train` (SFT cold start, then GRPO with verifiable rewards).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from clmer.config import Settings
from clmer.explain.reasoning_decode import Composition, compose
from clmer.explain.reasoning_prompts import facts, scaffold
from clmer.explain.reasoning_rewards import CJK, REWARDS, scores
from clmer.explain.reasoning_template import checks, template_reasoning

ADAPTER_META = "clmer_explainer.json"


def base_for(adapter: Path, settings: Settings | None) -> tuple[Path, str]:
    """(folder, revision) of the adapter's base LM, resolved by name in the model store, checked by revision."""
    from clmer.config import load_settings
    from clmer.features.model_store import ModelStore

    meta = json.loads((adapter / ADAPTER_META).read_text(encoding="utf-8"))
    ref = ModelStore((settings or load_settings()).paths.resolved_model_store()).resolve(meta["base_name"], "explainer")
    if meta.get("base_revision") and ref.revision != meta["base_revision"]:
        raise ValueError(f"the explainer adapter was trained on {meta['base_name']} revision {meta['base_revision']}, "
                         f"but the model store holds revision {ref.revision}; import the same model or retrain")
    return ref.path, ref.revision


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def load_lm(path: str | Path, device: str = "cpu", settings: Settings | None = None):
    """(tokenizer, model, identity) in float32; an adapter folder loads its base from the store and is merged."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if (path / ADAPTER_META).exists():
        from peft import PeftModel

        base, revision = base_for(path, settings)
        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True, dtype=torch.float32)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
        identity = f"{revision}+{_digest([p for p in path.glob('adapter_*') if p.is_file()])}"
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
        meta = path / "clmer_model.json"
        identity = json.loads(meta.read_text()).get("revision") if meta.exists() else None
        identity = identity or _digest([p for p in path.glob("*.safetensors")] + [path / "config.json"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.eval().to(device), identity


def runtime_kind(settings: Settings, device: str = "cpu") -> str:
    kind = settings.reasoning.runtime
    if kind == "auto":
        return "transformers" if device.startswith("cuda") else "ctranslate2"
    return kind


def load_runtime(model: str | Path | None, settings: Settings, device: str = "cpu"):
    """(runtime, tokenizer, name) for an explainer name in the store, a model folder or an adapter folder."""
    import torch

    from clmer.explain.reasoning_runtime import make_runtime
    from clmer.features.encoders import model_ref

    from clmer.features.model_store import ModelStore

    ref = (model_ref("explainer", settings) if model is None
           else ModelStore(settings.paths.resolved_model_store()).resolve(str(model), "explainer"))
    path, name = ref.path, ref.name
    if settings.reasoning.threads and not device.startswith("cuda"):
        torch.set_num_threads(settings.reasoning.threads)
    tokenizer, lm, identity = load_lm(path, device, settings)
    kind = runtime_kind(settings, device)
    cache = settings.paths.resolved_model_store() / ".runtime"
    runtime = make_runtime(kind, lm, tokenizer, cache_root=cache, key=identity, threads=settings.reasoning.threads,
                           compute_type=settings.reasoning.ct2_compute_type)
    return runtime, tokenizer, name


def written_part(c: Composition, f: dict) -> str:
    """What the LM wrote: the think without the constructed opening."""
    return c.think[len(scaffold(f)):].strip()


def accepted(result: dict) -> bool:
    return not result["failed"]


class Explainer:
    """The LM (with its adapter, if trained) on its runtime, loaded once; `reason` gives the report's section."""

    def __init__(self, path: str | Path, device: str = "cpu", max_new_tokens: int | None = None, name: str | None = None,
                 settings: Settings | None = None):
        from clmer.config import load_settings

        self.settings = settings or load_settings()
        self.runtime, self.tokenizer, default = load_runtime(path, self.settings, device)
        self.name = name or default
        self.max_new_tokens = max_new_tokens or self.settings.reasoning.generate_max_new_tokens

    def compose(self, fs: list[dict], temperature: float | None = None) -> list[Composition]:
        cfg = self.settings.reasoning
        return compose(self.runtime, self.tokenizer, fs, max_new=self.max_new_tokens, max_quotes=cfg.max_quotes,
                       repetition_penalty=cfg.repetition_penalty, temperature=temperature)

    def judge(self, c: Composition, doc: dict, f: dict) -> dict:
        cfg = self.settings.reasoning
        result = checks(c.text, doc, cfg.min_words, cfg.max_words)
        wrote = written_part(c, f)
        result["lm_wrote"] = len(CJK.findall(wrote)) >= 6 if f["language"] == "zh" else len(wrote.split()) >= 4
        if not result["lm_wrote"]:
            result["failed"].append("lm_wrote")
        return result

    def reason_batch(self, docs: list[dict]) -> list[dict]:
        """The reasoning sections of several clips, decoded in batches of `reasoning.batch_size`."""
        out = []
        size = self.settings.reasoning.batch_size
        for i in range(0, len(docs), size):
            chunk = docs[i:i + size]
            fs = [facts(d) for d in chunk]
            start = time.perf_counter()
            comps = self.compose(fs)
            seconds = (time.perf_counter() - start) / len(chunk)
            for doc, f, c in zip(chunk, fs, comps):
                result = self.judge(c, doc, f)
                lm = {"model": self.name, "runtime": self.runtime.name, "seconds": round(seconds, 2),
                      "tokens": c.lm_tokens}
                if accepted(result):
                    out.append({"text": c.text, "think": c.think, "answer": f["polarity"], "source": "lm",
                                "status": "ok", "checks": result, "lm": lm})
                else:  # the grounded template stands in; the LM's attempt and the failed checks are kept
                    out.append(template_reasoning(doc) | {
                        "rejected": result["failed"], "lm": lm | {"text": c.text, "checks": result}})
        return out

    def reason(self, doc: dict) -> dict:
        return self.reason_batch([doc])[0]


def enabled(settings: Settings) -> bool:
    """On when configured, or (auto) whenever a real explainer model is in the store (the tiny one is random)."""
    mode = settings.reasoning.enabled
    if mode != "auto":
        return mode == "on"
    from clmer.features.encoders import model_ref
    from clmer.features.model_store import ModelMissingError

    try:
        ref = model_ref("explainer", settings)
    except ModelMissingError:
        return False
    return not ref.name.startswith("tiny-")


def is_trained(path: Path) -> bool:
    """A trained explainer folder: a LoRA adapter (its base named in ADAPTER_META) or a whole LM."""
    return (path / ADAPTER_META).exists() or (path / "config.json").exists()


def distinct_2(texts: list[str], language: str) -> float:
    """Distinct bigrams / all bigrams over a set of texts (words; characters for Chinese)."""
    grams = []
    for t in texts:
        units = [c for c in t if not c.isspace()] if language == "zh" else t.lower().split()
        grams += list(zip(units, units[1:]))
    return len(set(grams)) / len(grams) if grams else 0.0


def measure(explainer: Explainer, docs: list[dict]) -> dict:
    """Per language: accepted rate, each reward's mean, distinct-2 of what the LM wrote, seconds per report."""
    if not docs:
        return {}
    cfg = explainer.settings.reasoning
    by_lang: dict[str, dict] = {}
    start = time.perf_counter()
    fs = [facts(d) for d in docs]
    comps = []
    for i in range(0, len(fs), cfg.batch_size):
        comps += explainer.compose(fs[i:i + cfg.batch_size])
    seconds = (time.perf_counter() - start) / len(docs)
    for doc, f, c in zip(docs, fs, comps):
        row = by_lang.setdefault(f["language"], {"n": 0, "accepted": 0, "texts": [], "failed": {},
                                                 **{k: 0.0 for k in REWARDS}})
        result = explainer.judge(c, doc, f)
        row["n"] += 1
        row["accepted"] += accepted(result)
        for k in result["failed"]:
            row["failed"][k] = row["failed"].get(k, 0) + 1
        for k, v in scores(c.text, f, cfg.min_words, cfg.max_words).items():
            row[k] += v
        row["texts"].append(written_part(c, f))
    out = {"seconds_per_report": round(seconds, 2), "clips": len(docs)}
    for lang, row in by_lang.items():
        n = row["n"]
        out[lang] = {"clips": n, "accepted": row["accepted"] / n, "distinct_2": distinct_2(row["texts"], lang),
                     "mean_reward": sum(row[k] for k in REWARDS) / n / len(REWARDS),
                     "failed": row["failed"], "samples": row["texts"][:3], **{k: row[k] / n for k in REWARDS}}
    return out


def flat(measured: dict) -> dict:
    """`measure`'s numbers as one flat dict (`en_accepted`, `zh_mean_reward`, ...) for MLflow metrics."""
    out = {k: v for k, v in measured.items() if isinstance(v, (int, float))}
    for lang, row in measured.items():
        if isinstance(row, dict):
            out |= {f"{lang}_{k}": v for k, v in row.items() if isinstance(v, (int, float))}
    return out


def examples(scorer, features, manifest, limit: int) -> list[dict]:
    """Explanation documents (without reasoning) of a split's clips, for training and measuring the LM."""
    keyed = manifest.assign(clip=manifest["video_id"].astype(str) + "/" + manifest["clip_id"].astype(str))
    wanted = set(keyed["clip"])
    docs = []
    for r in features.itertuples():
        if r.status == "failed" or r.clip not in wanted or len(docs) >= limit:
            continue
        docs.append(scorer.explain_row(r))
    return docs
