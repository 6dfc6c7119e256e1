"""Content-addressed feature store: a local folder or an S3 prefix behind one interface.

A record is keyed by sha256(video bytes) + extractor + model revision + config hash, so the same
video under another name is never extracted twice and a new model or setting never reads stale
features. Layout under the root:

    records/<sha[:2]>/<sha>/<extractor>-<identity hash>.safetensors   arrays
    records/<sha[:2]>/<sha>/<extractor>-<identity hash>.json          everything else (written last)
    index.parquet                                                     one row per record (feature contract)

Writes go to a temporary name and are renamed into place (S3 puts are atomic), and the JSON is
written after the arrays: a record exists once its JSON does, so a crash or a concurrent writer
never leaves a torn record. The JSON also holds the sha256 of its arrays file and its own key: a
record truncated or overwritten later (a full disk, a careless copy, another clip's arrays) is
caught when read (`CorruptRecordError`), and extraction writes it anew. The Parquet index is
derived from the JSON files and can always be rebuilt; a record JSON that does not parse (a
truncated copy) is moved aside to `quarantine/<its path>` with a warning naming it, so one bad file
never stops the index, and extraction writes that record anew.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from clmer import atomic
from clmer.features.encoders import FeatureRecord, config_hash
from clmer.names import utc_now

INDEX_COLUMNS = ["key", "sha256", "extractor", "model", "revision", "config_hash", "record", "n_items", "dim",
                 "status", "error", "created_at"]
QUARANTINE = "quarantine"  # unreadable record JSONs are moved here, under the store root, not deleted
_HASH_CHUNK = 4 * 1024 * 1024


class CorruptRecordError(ValueError):
    """A record whose arrays do not match the digest in its JSON, or whose JSON names another key."""

    def __init__(self, key: str, reason: str):
        self.key, self.reason = key, reason
        super().__init__(f"feature record {key}: {reason}")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def record_key(sha: str, identity: dict) -> str:
    """`<sha256>/<extractor>-<hash of model, revision, config>`."""
    ident = config_hash({k: identity[k] for k in ("model", "revision", "config_hash")})
    return f"{sha}/{identity['extractor']}-{ident}"


class LocalBackend:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def write(self, rel: str, data: bytes) -> None:
        atomic.write_bytes(self.root / rel, data)

    def list(self, prefix: str, suffix: str = "") -> Iterable[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob(f"*{suffix}") if p.is_file() and not p.name.startswith("."))

    def move(self, rel: str, dest: str) -> None:
        target = self.root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / rel, target)


class S3Backend:
    """s3://bucket/prefix through boto3 (credentials from the environment or the AWS profile).

    `endpoint_url` points it at any S3 API (moto in tests, MinIO, ...); it comes from
    AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when not given.
    """

    def __init__(self, url: str, client=None):
        import boto3
        from botocore.config import Config

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.url, self.bucket, self.prefix = url, bucket, prefix.strip("/")
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.client = client or boto3.client("s3", endpoint_url=endpoint, config=Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}))

    def __str__(self) -> str:
        return self.url

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def exists(self, rel: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(rel))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def read(self, rel: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"].read()

    def write(self, rel: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data)

    def move(self, rel: str, dest: str) -> None:
        self.client.copy_object(Bucket=self.bucket, Key=self._key(dest),
                                CopySource={"Bucket": self.bucket, "Key": self._key(rel)})
        self.client.delete_object(Bucket=self.bucket, Key=self._key(rel))

    def list(self, prefix: str, suffix: str = "") -> Iterable[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        base = self._key(prefix)
        cut = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(suffix):
                    yield obj["Key"][cut:]


def backend_for(location: str | Path):
    loc = str(location)
    return S3Backend(loc) if loc.startswith("s3://") else LocalBackend(loc)


class FeatureStore:
    def __init__(self, location: str | Path, backend=None):
        self.backend = backend or backend_for(location)

    def __str__(self) -> str:
        return str(self.backend)

    @staticmethod
    def _paths(key: str) -> tuple[str, str]:
        sha, name = key.split("/")
        base = f"records/{sha[:2]}/{sha}/{name}"
        return base + ".safetensors", base + ".json"

    def has(self, key: str) -> bool:
        return self.backend.exists(self._paths(key)[1])

    def put(self, key: str, sha: str, identity: dict, record: FeatureRecord) -> dict:
        from safetensors.numpy import save

        arrays_rel, meta_rel = self._paths(key)
        blob = save({k: np.ascontiguousarray(v) for k, v in record.arrays.items()})
        self.backend.write(arrays_rel, blob)
        row = {
            "key": key, "sha256": sha, "extractor": identity["extractor"], "model": identity["model"],
            "revision": identity["revision"], "config_hash": identity["config_hash"], "record": arrays_rel,
            "n_items": record.n_items, "dim": record.dim, "status": record.status, "error": None,
            "created_at": utc_now(),
        }
        doc = {"index": row, "meta": record.meta, "arrays_sha256": hashlib.sha256(blob).hexdigest(),
               "arrays_bytes": len(blob)}
        self.backend.write(meta_rel, json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        return row

    def get_meta(self, key: str) -> tuple[dict, dict]:
        """(index row, extractor meta) without reading the arrays."""
        doc = json.loads(self.backend.read(self._paths(key)[1]))
        return doc["index"], doc["meta"]

    def get(self, key: str) -> FeatureRecord:
        doc, arrays = self._read_checked(key)
        return FeatureRecord(doc["index"]["extractor"], arrays, doc["meta"], status=doc["index"]["status"])

    def verify(self, key: str) -> tuple[dict, dict]:
        """(index row, extractor meta) of a record whose arrays match its digest; else CorruptRecordError."""
        doc, _ = self._read_checked(key)
        return doc["index"], doc["meta"]

    def _read_checked(self, key: str) -> tuple[dict, dict]:
        from safetensors.numpy import load

        arrays_rel, meta_rel = self._paths(key)
        try:
            doc = json.loads(self.backend.read(meta_rel))
            blob = self.backend.read(arrays_rel)
        except (OSError, ValueError) as exc:
            raise CorruptRecordError(key, f"unreadable ({exc.__class__.__name__})") from None
        if doc.get("index", {}).get("key") != key:
            raise CorruptRecordError(key, f"its JSON belongs to {doc.get('index', {}).get('key')!r}")
        digest = doc.get("arrays_sha256")
        if digest is not None and hashlib.sha256(blob).hexdigest() != digest:
            raise CorruptRecordError(key, f"arrays do not match their digest ({len(blob)} bytes, "
                                          f"{doc.get('arrays_bytes')} written)")
        try:
            return doc, load(blob)  # records written before digests: at least they must parse
        except Exception as exc:
            raise CorruptRecordError(key, f"arrays unreadable ({exc.__class__.__name__})") from None

    def rebuild_index(self) -> pd.DataFrame:
        """Derive index.parquet from the record JSONs (the source of truth) and write it atomically."""
        rows = [row for rel in list(self.backend.list("records", ".json")) if (row := self._index_row(rel))]
        frame = pd.DataFrame(rows, columns=INDEX_COLUMNS)
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        self.backend.write("index.parquet", buf.getvalue())
        return frame

    def _index_row(self, rel: str) -> dict | None:
        """The record's index row; None for a JSON that does not parse, which is moved to quarantine/."""
        try:
            row = json.loads(self.backend.read(rel))["index"]
            if not isinstance(row, dict):
                raise TypeError("index is not an object")
            return row
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            dest = f"{QUARANTINE}/{rel}"
            self.backend.move(rel, dest)
            warnings.warn(f"feature store {self}: record {rel} is unreadable ({exc.__class__.__name__}: {exc}); "
                          f"moved to {dest}, and extraction writes it anew", RuntimeWarning, stacklevel=3)
            return None

    def index(self) -> pd.DataFrame:
        if not self.backend.exists("index.parquet"):
            return pd.DataFrame(columns=INDEX_COLUMNS)
        return pd.read_parquet(io.BytesIO(self.backend.read("index.parquet")))
