"""Drops: new videos that arrive in a watched folder or an S3 prefix.

* `DropSource`: list what is in a drop (local folder, recursive; or S3 with paginated listing),
  and bring S3 objects to a local staging folder without ever writing outside it.
* `Settler`: a drop is *ready* when none of its files changed size or mtime (S3: size or ETag)
  for `settle_seconds`; a file still being written keeps the drop unready.
* `ProcessedLog`: which content hashes were scored; the same bytes are never scored twice, a
  changed file is.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from clmer import atomic

MARKER = ".clmer_processed.json"


@dataclass(frozen=True)
class DropFile:
    rel: str  # path relative to the drop root, POSIX separators: the `file` column of the outputs
    size: int
    stamp: str  # mtime (local) or ETag (S3): changes when the content does


def _is_hidden(rel: str) -> bool:
    """Dot files and dot folders; a `..` part is not hidden but hostile, and must reach the refusal."""
    return any(part.startswith(".") and part not in (".", "..") for part in PurePosixPath(rel).parts)


class LocalDrop:
    """A folder (recursive), or a single file as a one-file drop."""

    def __init__(self, root: str | Path):
        root = Path(root)
        self.only = root.name if root.is_file() else None
        self.root = root.parent if self.only else root
        self.uri = str(root)

    def list(self) -> list[DropFile]:
        out = []
        if not self.root.is_dir():
            return out
        paths = [self.root / self.only] if self.only else sorted(self.root.rglob("*"))
        for path in paths:
            rel = path.relative_to(self.root).as_posix()
            if _is_hidden(rel) or path.is_dir():
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:  # vanished between listing and stat
                continue
            out.append(DropFile(rel, st.st_size, f"{st.st_mtime_ns}"))
        return out

    def local_path(self, rel: str, staging: Path) -> Path:
        return self.root / rel


class S3Drop:
    """An S3 prefix. Objects are downloaded into `staging`; keys that would escape it are refused."""

    def __init__(self, uri: str, client=None):
        from clmer.features.feature_store import S3Backend

        self.uri = uri.rstrip("/")
        self.backend = S3Backend(self.uri, client=client)

    def list(self) -> list[DropFile]:
        paginator = self.backend.client.get_paginator("list_objects_v2")
        prefix = self.backend.prefix + "/" if self.backend.prefix else ""
        out = []
        for page in paginator.paginate(Bucket=self.backend.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if rel and not rel.endswith("/") and not _is_hidden(rel):
                    out.append(DropFile(rel, int(obj["Size"]), obj.get("ETag", "").strip('"')))
        return sorted(out, key=lambda f: f.rel)

    def local_path(self, rel: str, staging: Path) -> Path:
        dest = safe_join(staging, rel)
        if not dest.exists():
            data = self.backend.read(rel)
            atomic.write_bytes(dest, data)
        return dest


class UnsafePathError(ValueError):
    pass


def safe_join(root: Path, rel: str) -> Path:
    """root/rel, refusing absolute paths and `..` that would leave root."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise UnsafePathError(f"{rel!r}: path leaves the drop (absolute or contains '..')")
    dest = (root / Path(*pure.parts)).resolve()
    if not dest.is_relative_to(root.resolve()):
        raise UnsafePathError(f"{rel!r}: path leaves the drop")
    return dest


def drop_source(location: str | Path):
    loc = str(location)
    return S3Drop(loc) if loc.startswith("s3://") else LocalDrop(loc)


def listing_digest(files: list[DropFile]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.rel}\0{f.size}\0{f.stamp}\n".encode())
    return h.hexdigest()[:16]


class Settler:
    """Tracks a drop's listing over time; `ready()` once it has been unchanged for `seconds`."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.digest: str | None = None
        self.since = 0.0

    def observe(self, files: list[DropFile]) -> bool:
        digest = listing_digest(files)
        now = self.clock()
        if digest != self.digest:
            self.digest, self.since = digest, now
            return False
        return bool(files) and now - self.since >= self.seconds


class ProcessedLog:
    """`<out>/Test_Results/.clmer_processed.json`: drop file -> sha256 (+ when, which model).

    Written atomically and last, after every output of a run is in place: a crash before it means
    the next run redoes (and rewrites identically) what was not committed.
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / "Test_Results" / MARKER
        self.entries: dict[str, dict] = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}

    def key(self, drop_uri: str, rel: str) -> str:
        return f"{drop_uri.rstrip('/')}/{rel}"

    def done(self, drop_uri: str, rel: str, sha: str) -> bool:
        entry = self.entries.get(self.key(drop_uri, rel))
        return entry is not None and entry.get("sha256") == sha

    def mark(self, drop_uri: str, rel: str, sha: str | None, status: str, model_version: str,
             stem: str | None = None) -> None:
        self.entries[self.key(drop_uri, rel)] = {
            "sha256": sha, "status": status, "model_version": model_version, "stem": stem,
            "owner": f"{drop_uri.rstrip('/')}|{rel}", "scored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def commit(self) -> None:
        atomic.write_text(self.path, json.dumps(self.entries, indent=1, sort_keys=True, ensure_ascii=False))


def file_sha256(path: Path) -> str | None:
    from clmer.features.feature_store import sha256_file

    try:
        return sha256_file(path)
    except OSError:
        return None
