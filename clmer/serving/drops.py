"""Drops: new videos that arrive in a watched folder or an S3 prefix.

* `LocalDrop` / `S3Drop`: list what is in a drop (a folder, recursively and without following
  links; or an S3 prefix with paginated listing), and bring S3 objects to a local staging folder
  without ever writing outside it.
* `Settler`: a drop is *ready* when none of its files changed size or mtime (S3: size or ETag)
  for `settle_seconds`; a file still being written keeps the drop unready.
* `ProcessedLog`: which files were scored, as what content (hash) and as what listing (size and
  mtime, or ETag); the same bytes are never scored twice, a changed file is.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from clmer import atomic
from clmer.data import files
from clmer.names import COMBINED_CSV, OUTPUT_DIRS, RESULTS_DIR, utc_now

MARKER = ".clmer_processed.json"
DOWNLOAD_CHUNK = 1024 * 1024  # S3 objects are streamed to staging in pieces this size


@dataclass(frozen=True)
class DropFile:
    rel: str  # path relative to the drop root, POSIX separators: the `file` column of the outputs
    size: int
    stamp: str  # mtime (local) or ETag (S3): changes when the content does
    kind: str = "file"  # what lstat saw (symbolic link, FIFO, ...): only a "file" is ever opened


# Names of files still being written by browsers, copy tools and editors: not inputs yet.
PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".filepart", ".tmp", ".temp", "~")


def _is_hidden(rel: str) -> bool:
    """Dot files and dot folders; a `..` part is not hidden but hostile, and must reach the refusal."""
    return any(part.startswith(".") and part not in (".", "..") for part in PurePosixPath(rel).parts)


def _is_partial(rel: str) -> bool:
    return rel.lower().endswith(PARTIAL_SUFFIXES)


def _listed(e: files.Entry) -> DropFile:
    """A name that is not UTF-8 is listed under its escaped form and never opened (its row says why),
    so the listing, the CSV and the logs only ever hold text that encodes."""
    shown, note = files.readable_name(e.rel)
    return DropFile(shown, e.size, f"{e.mtime_ns}", e.kind if note is None else f"{files.NOT_UTF8} ({note})")


class LocalDrop:
    """A folder (recursive), or a single file as a one-file drop of its folder.

    The identity (`uri`) is the folder with every link resolved, so `/abs/d`, `../d` and `d/x.mp4`
    are one drop and the same bytes are scored once. Listing never follows a link; hidden and
    partial files, `exclude`d folders (the output folder, when it sits inside the drop) and any
    folder where CLMER already writes its outputs are not inputs.
    """

    def __init__(self, location: str | Path, exclude: Iterable[str | Path] = ()):
        given = Path(location)
        whole = given.is_dir()  # a link to a folder is followed here: the operator named it
        self.root = Path(os.path.realpath(given if whole else given.parent))
        self.only = None if whole else given.name
        self.uri = str(self.root)
        self.exclude = {Path(os.path.realpath(p)) for p in exclude}

    def list(self) -> list[DropFile]:
        if not self.root.is_dir():
            return []
        if self.only is not None:
            try:
                st = os.lstat(self.root / self.only)
            except OSError:
                return []
            entries = [files.Entry(self.only, files.kind_of(st.st_mode), st.st_size, st.st_mtime_ns)]
        else:
            entries = files.walk(self.root, self._skip)
        return [_listed(e) for e in entries if not _is_hidden(e.rel) and not _is_partial(e.rel)]

    def _skip(self, rel: str, is_dir: bool) -> bool:
        if not is_dir:
            return False
        path = self.root / rel
        if _is_hidden(rel) or path in self.exclude:
            return True
        # The output folders of `exclude`d roots, or of any scorer (its marker or lock says so).
        return path.name in OUTPUT_DIRS and (path.parent in self.exclude or any(
            (path.parent / RESULTS_DIR / name).exists() for name in (MARKER, ".publish.lock")))

    def local_path(self, f: DropFile, staging: Path, max_bytes: int | None = None) -> tuple[Path, Path]:
        """(the file's path, the root it must be opened under without following links)."""
        return self.root / f.rel, self.root


class S3Drop:
    """An S3 prefix. Objects are downloaded into `staging`, one file per (key, ETag): a key that is
    not a plain relative path (`a//b`, `./b`, `../b`) is refused, so two keys never share a copy,
    and an overwritten object (new ETag) is fetched again."""

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
                if rel and not rel.endswith("/") and not _is_hidden(rel) and not _is_partial(rel):
                    out.append(DropFile(rel, int(obj["Size"]), obj.get("ETag", "").strip('"')))
        return sorted(out, key=lambda f: f.rel)

    def local_path(self, f: DropFile, staging: Path, max_bytes: int | None = None) -> tuple[Path, Path]:
        """The object streamed to a file in `staging` (never whole in memory); one that grows past
        `max_bytes` while it downloads (replaced since it was listed) is refused, and nothing is kept."""
        files.canonical_parts(f.rel)
        suffix = PurePosixPath(f.rel).suffix.lower()
        name = hashlib.sha256(f"{f.rel}\0{f.stamp}".encode()).hexdigest()[:32] + suffix
        dest = staging / name
        if not dest.exists():
            atomic.write_chunks(dest, self._chunks(f, max_bytes))
        return dest, staging

    def _chunks(self, f: DropFile, max_bytes: int | None) -> Iterable[bytes]:
        body = self.backend.client.get_object(Bucket=self.backend.bucket, Key=self.backend._key(f.rel))["Body"]
        seen = 0
        try:
            for chunk in body.iter_chunks(DOWNLOAD_CHUNK):
                seen += len(chunk)
                if max_bytes is not None and seen > max_bytes:
                    raise files.RefusedInput(f.rel, f"refused: {f.rel} grew past the {max_bytes}-byte limit while "
                                                    f"downloading (listed as {f.size} bytes); not scored")
                yield chunk
        finally:
            body.close()


def drop_source(location: str | Path, exclude: Iterable[str | Path] = ()):
    loc = str(location)
    return S3Drop(loc) if loc.startswith("s3://") else LocalDrop(loc, exclude)


def listing_digest(files: list[DropFile]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.rel}\0{f.size}\0{f.stamp}\0{f.kind}\n".encode())
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
    """`<out>/Test_Results/.clmer_processed.json`: drop file -> sha256 and listing stamp (+ when, which
    model).

    Written atomically and last, after every output of a run is in place: a crash before it means
    the next run redoes (and rewrites identically) what was not committed. A log that does not parse
    (a truncated copy, a full disk) is rebuilt from the combined results table, with a warning naming
    it: the files keep their output names, but their content hashes are lost, so they are scored again
    (and their outputs rewritten in place) rather than every later run failing on it.
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / RESULTS_DIR / MARKER
        self.entries: dict[str, dict] = self._read() if self.path.exists() else {}

    def _read(self) -> dict[str, dict]:
        raw = self.path.read_bytes()
        try:
            entries = json.loads(raw)
            if isinstance(entries, dict) and all(isinstance(e, dict) for e in entries.values()):
                return entries
            reason = "not an object of entries"
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            reason = f"{exc.__class__.__name__}: {exc}"
        kept = self.path.with_name(self.path.name + ".broken")
        atomic.write_bytes(kept, raw)  # copied, not moved: a concurrent publish may be replacing it
        entries = self._from_outputs()
        warnings.warn(f"{self.path} is unreadable ({reason}); rebuilt from {COMBINED_CSV} ({len(entries)} files, kept "
                      f"under their output names, scored again since their content hashes were lost); the broken "
                      f"copy is {kept}", RuntimeWarning, stacklevel=3)
        return entries

    def _from_outputs(self) -> dict[str, dict]:
        from clmer.data import safe_csv

        table = self.out_dir / COMBINED_CSV
        if not table.exists():
            return {}
        rows = safe_csv.read_csv(table)
        return {self.key(r["drop"], r["file"]): {
            "sha256": None, "stamp": None, "status": r["status"], "model_version": r["model_version"],
            "stem": r["video_id"] or None, "owner": f"{r['drop'].rstrip('/')}|{r['file']}", "scored_at": r["scored_at"]}
            for r in rows.to_dict("records") if r.get("drop") and r.get("file")}

    def key(self, drop_uri: str, rel: str) -> str:
        return f"{drop_uri.rstrip('/')}/{rel}"

    def entry(self, drop_uri: str, rel: str) -> dict | None:
        return self.entries.get(self.key(drop_uri, rel))

    def mark(self, drop_uri: str, rel: str, sha: str | None, status: str, model_version: str,
             stem: str | None = None, stamp: str | None = None) -> None:
        self.entries[self.key(drop_uri, rel)] = {
            "sha256": sha, "stamp": stamp, "status": status, "model_version": model_version, "stem": stem,
            "owner": f"{drop_uri.rstrip('/')}|{rel}", "scored_at": utc_now()}

    def commit(self) -> None:
        atomic.write_json(self.path, self.entries, indent=1, sort_keys=True)
