"""`clmer models pull`: the only code in CLMER that goes online (the Hugging Face hub).

Only the files the loader reads are downloaded (a BERT repo also carries TF, Flax, ONNX and .bin
copies of the same weights: ~3.3 GB for the full profile, most of it duplicates). Downloads land
in one stable hidden folder per model, `.<name>.partial`, so an interrupted pull resumes where it
stopped (huggingface_hub skips files it already completed there); the folder is renamed into
place only when complete. The resolved repository (the hub redirects renamed repos) and commit are
recorded in the model's `clmer_model.json`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from pathlib import Path

from clmer.features.model_store import DEFAULT_KIND, HUB_REPOS, PROFILES, ModelStore

# Per loader kind: the files it needs. Weights: safetensors where the repo has them, else .bin.
NEEDED = {
    "faster-whisper": ["config.json", "model.bin", "tokenizer.json", "vocabulary.*", "preprocessor_config.json"],
    "emotion2vec": ["config.yaml", "model.pt", "tokens.txt", "configuration.json"],
    "transformers": ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "preprocessor_config.json", "vocab.txt", "vocab.json", "merges.txt",
                     "spiece.model", "sentencepiece.bpe.model", "added_tokens.json", "chat_template.*"],
}
_WEIGHTS = ("*.safetensors", "*.safetensors.index.json")
_FALLBACK_WEIGHTS = ("pytorch_model*.bin", "pytorch_model.bin.index.json")
_LEGACY_PARTIAL = re.compile(r"\.partial-\d+$")


def role_for(name: str) -> str | None:
    """The role a known model name plays in some profile (None: the caller must say)."""
    return next((role for names in PROFILES.values() for role, n in names.items() if n == name), None)


def select_files(kind: str, files: list[str]) -> list[str]:
    """Which of a repository's files to download for a loader kind (pure: tested offline)."""
    family = kind if kind in NEEDED else "transformers"
    keep = [f for f in files if any(fnmatch.fnmatch(f, pat) for pat in NEEDED[family])]
    if family == "transformers":
        weights = [f for f in files if any(fnmatch.fnmatch(f, p) for p in _WEIGHTS)]
        keep += weights or [f for f in files if any(fnmatch.fnmatch(f, p) for p in _FALLBACK_WEIGHTS)]
    return sorted(set(keep))


def clean_stale_partials(store: ModelStore) -> list[Path]:
    """Remove `NAME.partial-PID` folders that older versions left behind when a pull died."""
    removed = []
    if store.root.is_dir():
        for path in store.root.iterdir():
            if path.is_dir() and _LEGACY_PARTIAL.search(path.name):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def pull(store: ModelStore, name: str, role: str) -> Path:
    """Download `name` into the store (resumable) and record where it came from."""
    clean_stale_partials(store)
    target = store.target_for(name)
    partial = target.with_name(f".{target.name}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    kind = DEFAULT_KIND.get(role, "transformers")
    repo, commit, files = _download(HUB_REPOS.get(name, name), kind, partial)
    if target.exists():
        shutil.rmtree(target)
    os.replace(partial, target)
    shutil.rmtree(target / ".cache", ignore_errors=True)  # huggingface_hub's resume bookkeeping
    store.register(name, target, role, source=f"hf:{repo}", revision=commit,
                   extra={"kind": kind, "repo": repo, "requested_repo": HUB_REPOS.get(name, name), "files": files})
    return target


def _download(requested: str, kind: str, dest: Path) -> tuple[str, str, list[str]]:
    # The one place CLMER goes online: lift the offline switches that everything else sets.
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[key] = "0"
    import huggingface_hub.constants as hub_constants
    from huggingface_hub import HfApi, snapshot_download

    hub_constants.HF_HUB_OFFLINE = False
    info = HfApi().model_info(requested, files_metadata=False)
    repo = info.id or requested  # the hub answers renamed repos with the new id
    files = select_files(kind, [s.rfilename for s in info.siblings or []])
    if not files:
        raise RuntimeError(f"hf:{repo} has none of the files a {kind} loader needs")
    snapshot_download(repo_id=repo, revision=info.sha, local_dir=str(dest), allow_patterns=files)
    return repo, info.sha or "unknown", files
