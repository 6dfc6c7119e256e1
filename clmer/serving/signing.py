"""Registered models are loaded only as they were registered: a digest of every artifact, signed.

Loading an MLflow model runs its stored code (`mlflow_model.py`, models from code): one line added to that
file in the artifact store ran on `clmer score` and read the stack's secrets. So at registration every file
of the version is hashed (sha256), the sorted list's digest goes into the version's tags with an HMAC of
it under the registry key, and before loading the files are downloaded, hashed again and checked against
both. A writer of the artifact store who lacks the key can change bytes but cannot make them load.

The key: `CLMER_REGISTRY_KEY` in the environment (what a team sets on every machine that registers or
scores), otherwise `<CLMER_HOME>/registry.key`, made (random, mode 0600) at the first registration. The
key verifies as well as signs (HMAC is symmetric): whoever scores can also sign, which is the trust a
scoring worker already has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
from pathlib import Path

from clmer.config import Settings

KEY_ENV = "CLMER_REGISTRY_KEY"
KEY_FILE = "registry.key"
DIGEST_TAG, SIGNATURE_TAG, FILES_TAG = "clmer.artifacts.sha256", "clmer.artifacts.hmac", "clmer.artifacts.files"
_MAX_TAG = 5000  # MLflow's limit on a tag value; the per-file list is kept only where it fits


class ModelIntegrityError(RuntimeError):
    """A registered model's files are not the ones that were registered, or nothing says what they were."""


def file_digests(folder: str | Path) -> dict[str, str]:
    """{relative posix path: sha256} of every file under `folder`."""
    folder = Path(folder)
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[path.relative_to(folder).as_posix()] = h.hexdigest()
    return out


def listing_digest(digests: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(digests, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def signature(key: bytes, name: str, version: str, digest: str) -> str:
    # name and version are signed too, so one version's tags cannot vouch for another's files
    return hmac.new(key, f"{name}\n{version}\n{digest}".encode(), hashlib.sha256).hexdigest()


def registry_key(settings: Settings, create: bool = False) -> bytes | None:
    """The key from the environment, else the home's key file (made when `create`); None if neither."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = Path(settings.paths.home).expanduser() / KEY_FILE
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode() if path.exists() else None


def _download(name: str, version: str, dest: Path) -> Path:
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest)))


def sign_version(name: str, version: str, settings: Settings, dest: Path) -> str:
    """Hash the version's files as the registry serves them (downloaded into `dest`) and tag it; the digest."""
    from mlflow import MlflowClient

    digests = file_digests(_download(name, version, dest))
    digest = listing_digest(digests)
    client = MlflowClient()
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    client.set_model_version_tag(name, version, SIGNATURE_TAG, signature(registry_key(settings, create=True), name,
                                                                          version, digest))
    files = json.dumps(digests, sort_keys=True)
    if len(files) <= _MAX_TAG:
        client.set_model_version_tag(name, version, FILES_TAG, files)
    return digest


def _changed(tags: dict, digests: dict[str, str]) -> str:
    try:
        signed = json.loads(tags.get(FILES_TAG) or "{}")
    except ValueError:
        signed = {}
    names = sorted(k for k in set(signed) | set(digests) if signed.get(k) != digests.get(k))
    return f" (changed: {', '.join(names)})" if signed and names else ""


def verified_download(name: str, version: str, settings: Settings, dest: Path) -> Path:
    """Download version `version` of `name` into `dest` and return its folder, only if its files are the ones
    signed at registration; otherwise ModelIntegrityError saying what is wrong and `dest` is emptied."""
    from mlflow import MlflowClient

    label = f"models:/{name}/{version}"
    tags = MlflowClient().get_model_version(name, str(version)).tags or {}
    if not tags.get(DIGEST_TAG) or not tags.get(SIGNATURE_TAG):
        raise ModelIntegrityError(
            f"{label} carries no signed artifact digest (registered before models were signed, or its tags were "
            f"removed): it is not loaded. Register the model again (clmer train / the nightly flow) to score with it")
    key = registry_key(settings)
    if key is None:
        raise ModelIntegrityError(f"{label}: no registry key to verify it with: set {KEY_ENV} (the key its "
                                  f"registration used) or keep {Path(settings.paths.home) / KEY_FILE}")
    if not hmac.compare_digest(signature(key, name, str(version), tags[DIGEST_TAG]), tags[SIGNATURE_TAG]):
        raise ModelIntegrityError(f"{label}: the signature of its artifact digest does not match this registry key "
                                  f"(tags rewritten, or another {KEY_ENV}): it is not loaded")
    local = _download(name, str(version), dest)
    digests = file_digests(local)
    if listing_digest(digests) != tags[DIGEST_TAG]:
        shutil.rmtree(dest, ignore_errors=True)
        raise ModelIntegrityError(f"{label}: its files are not the ones registered{_changed(tags, digests)}: "
                                  f"it is not loaded (someone wrote to the artifact store)")
    return local
