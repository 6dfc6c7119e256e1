"""Feature store: content addressing, atomic records, concurrent writers, local and S3 backends."""

import multiprocessing
import os

import numpy as np
import pytest

from clmer.features.encoders import FeatureRecord
from clmer.features.feature_store import FeatureStore, S3Backend, record_key, sha256_file

IDENT = {"extractor": "audio", "model": "m", "revision": "r1", "config_hash": "0123456789abcdef"}


def _record(seed=0):
    rng = np.random.default_rng(seed)
    return FeatureRecord("audio", {"frame_embeddings": rng.normal(size=(20, 8)).astype(np.float32),
                                   "frame_times": np.arange(20, dtype=np.float32) / 10},
                         {"cue_labels": ["happy", "sad"]})


def _roundtrip(store: FeatureStore):
    sha = "ab" * 32
    key = record_key(sha, IDENT)
    assert not store.has(key)
    row = store.put(key, sha, IDENT, _record())
    assert store.has(key) and row["n_items"] == 20 and row["dim"] == 8
    back = store.get(key)
    assert np.array_equal(back.arrays["frame_embeddings"], _record().arrays["frame_embeddings"])
    assert back.meta == {"cue_labels": ["happy", "sad"]} and back.status == "ok"
    index = store.rebuild_index()
    assert index["key"].tolist() == [key]
    assert store.index()["key"].tolist() == [key]
    from clmer.data.contracts import validate_frame

    assert validate_frame("features", index).success


def test_local_roundtrip(tmp_path):
    _roundtrip(FeatureStore(tmp_path / "fs"))


def test_s3_roundtrip_against_moto(moto_s3):
    store = FeatureStore("s3://clmer-test/features/run1")
    assert isinstance(store.backend, S3Backend)
    _roundtrip(store)


def test_s3_listing_paginates(moto_s3):
    backend = S3Backend("s3://clmer-test/many")
    for i in range(1005):  # more than one page of 1,000 keys
        backend.write(f"records/{i:05d}.json", b"{}")
    assert len(list(backend.list("records", ".json"))) == 1005


def test_key_depends_on_content_model_revision_and_config(tmp_path):
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    assert sha256_file(a) == sha256_file(b)  # renamed copy: same record
    k = record_key(sha256_file(a), IDENT)
    assert record_key(sha256_file(a), IDENT | {"revision": "r2"}) != k
    assert record_key(sha256_file(a), IDENT | {"config_hash": "f" * 16}) != k
    assert record_key("cd" * 32, IDENT) != k


def _writer(args):
    root, seed = args
    store = FeatureStore(root)
    sha = "ef" * 32
    for _ in range(30):
        store.put(record_key(sha, IDENT), sha, IDENT, _record(seed=0))
    return True


def test_concurrent_writers_never_tear_a_record(tmp_path):
    root = tmp_path / "fs"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert all(pool.map(_writer, [(str(root), i) for i in range(4)]))
    store = FeatureStore(root)
    sha = "ef" * 32
    rec = store.get(record_key(sha, IDENT))
    assert np.array_equal(rec.arrays["frame_embeddings"], _record().arrays["frame_embeddings"])
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_crash_between_arrays_and_meta_leaves_no_record(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path / "fs")
    sha = "12" * 32
    key = record_key(sha, IDENT)
    real_write = store.backend.write

    def crash_on_json(rel, data):
        if rel.endswith(".json"):
            raise OSError("disk full")
        real_write(rel, data)

    monkeypatch.setattr(store.backend, "write", crash_on_json)
    with pytest.raises(OSError):
        store.put(key, sha, IDENT, _record())
    assert not store.has(key)  # arrays without meta do not count
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "fs").rglob("*"))
    assert os.path.exists(tmp_path / "fs")


def _stored(tmp_path, seed=0):
    store = FeatureStore(tmp_path / "fs")
    sha = f"{seed:02x}" * 32
    key = record_key(sha, IDENT)
    store.put(key, sha, IDENT, _record(seed))
    arrays = tmp_path / "fs" / FeatureStore._paths(key)[0]
    return store, key, arrays


def test_truncated_record_is_detected_and_extracted_again(tmp_path, monkeypatch):
    """Issue 15 row 7: a truncated .safetensors is caught by the digest in its JSON and re-extracted."""
    from clmer.config import load_settings
    from clmer.features.extract import ClipExtraction, _cached_or_run
    from clmer.features.feature_store import CorruptRecordError

    store, key, arrays = _stored(tmp_path)
    arrays.write_bytes(arrays.read_bytes()[:100])
    with pytest.raises(CorruptRecordError):
        store.get(key)
    with pytest.raises(CorruptRecordError):
        store.verify(key)
    settings = load_settings()
    res = ClipExtraction(clip="c", path="c.mp4")
    calls = []

    def compute():
        calls.append(1)
        return _record()

    from clmer.features import extract

    monkeypatch.setattr(extract, "identity", lambda role, s, extra=None: IDENT)  # the key of the stored record
    got_key, status, _ = _cached_or_run(store, "00" * 32, "audio", settings, None, res, compute)
    assert got_key == key and calls == [1] and status == "ok"
    assert any("corrupt" in w for w in res.warnings)
    assert np.array_equal(store.get(key).arrays["frame_embeddings"], _record().arrays["frame_embeddings"])


def test_another_clips_arrays_copied_over_a_record_are_caught(tmp_path):
    """Issue 15 row 8: arrays (or a whole record) copied from another clip fail the digest or the key check."""
    from clmer.features.feature_store import CorruptRecordError

    store, key, arrays = _stored(tmp_path, 0)
    other_store, other_key, other_arrays = _stored(tmp_path, 1)
    assert other_store is not None and arrays.stat().st_size == other_arrays.stat().st_size  # same shapes
    arrays.write_bytes(other_arrays.read_bytes())
    with pytest.raises(CorruptRecordError, match="digest"):
        store.get(key)
    meta, other_meta = (tmp_path / "fs" / FeatureStore._paths(k)[1] for k in (key, other_key))
    meta.write_bytes(other_meta.read_bytes())  # the JSON too: it names another key
    with pytest.raises(CorruptRecordError, match="belongs to"):
        store.get(key)
