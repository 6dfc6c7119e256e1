"""Extraction: decoded media -> features in the store, one clip at a time, chunk by chunk.

For each clip the store is asked first; only what is missing is computed, after one decode.
A second run over an unchanged corpus therefore decodes nothing and runs no model. A clip that
fails is a row with status `failed` and the reason, never an exception that stops the chunk.

Each file is opened once, as a regular file and (for a drop or a corpus) under its root without
following links (`clmer.data.files`); its hash and its decode both read that open file. Decoding
runs in a child process per chunk (`clmer.data.decode_worker`) that is killed at the per-file time
limit, so a file that hangs the decoder fails alone.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from clmer.data import files, media
from clmer.data.decode_worker import DecodeWorker
from clmer.config import Settings
from clmer.features.encoders import FeatureRecord, get_extractor, identity
from clmer.features.encoders.asr import confidence_extras
from clmer.features.feature_store import CorruptRecordError, FeatureStore, record_key

MODALITIES = ("text", "audio", "vision")
RESULT_COLUMNS = ["clip", "path", "sha256", "status", "error", "language", "transcript", "transcript_source",
                  "asr_key", "text_key", "audio_key", "vision_key", "missing", "warnings", "computed", "cached",
                  "duration_s", "seconds"]


@dataclass
class ClipJob:
    clip: str  # "video_id/clip_id" in a corpus, the file's path relative to the drop for drops
    path: str
    transcript: str | None = None  # given: the text encoder reads it; None: the clip is transcribed (ASR)
    language: str | None = None
    root: str | None = None  # the drop or corpus folder: `path` is opened under it, never through a link


@dataclass
class ClipResult:
    clip: str
    path: str
    sha256: str | None = None
    status: str = "ok"  # ok | partial | failed
    error: str | None = None
    language: str | None = None
    transcript: str | None = None
    transcript_source: str | None = None  # manifest | asr
    asr_key: str | None = None
    text_key: str | None = None
    audio_key: str | None = None
    vision_key: str | None = None
    missing: list[str] = field(default_factory=list)  # modalities with nothing in them (no speech, no audio, no frames)
    warnings: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)  # extractors that ran (the rest came from the store)
    cached: bool = False
    duration_s: float | None = None
    seconds: float = 0.0

    def row(self) -> dict:
        d = asdict(self)
        d["missing"] = ",".join(self.missing)
        d["warnings"] = "; ".join(self.warnings)
        d["computed"] = ",".join(self.computed)
        return d


def jobs_from_manifest(root: str | Path, manifest: pd.DataFrame, text_source: str = "manifest") -> list[ClipJob]:
    """One job per manifest row. `text_source` (`train.text_source`): 'manifest' hands the manifest's
    transcript to the text encoder; 'asr' leaves it out so the clip is transcribed, as scoring will
    transcribe what it is given (the manifest's language is kept either way)."""
    root = Path(root)
    if text_source not in ("asr", "manifest"):
        raise ValueError(f"text_source must be 'asr' or 'manifest', not {text_source!r}")
    given = text_source == "manifest"
    return [ClipJob(clip=f"{r.video_id}/{r.clip_id}", path=str(root / r.media_path),
                    transcript=(r.text if given and isinstance(r.text, str) and r.text.strip() else None),
                    language=r.language,
                    root=None if Path(r.media_path).is_absolute() else str(root))  # absolute: allowed outside media
            for r in manifest.itertuples()]


class _Budget:
    """Cooperative per-file time limit: checked between stages (threads cannot be killed)."""

    def __init__(self, path: str, seconds: float):
        self.path, self.seconds, self.start = path, seconds, time.perf_counter()

    def remaining(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def check(self, stage: str) -> None:
        if self.remaining() < 0:
            raise media.LimitExceededError(self.path, f"over the per-file time limit of {self.seconds:.0f} s (at {stage})")


def extract_one(job: ClipJob, settings: Settings, store: FeatureStore, frames_out: dict | None = None,
                worker: DecodeWorker | None = None) -> ClipResult:
    """Features for one clip, from the store where they exist; a failure becomes a failed row.

    With `frames_out`, the sampled frames of a clip that had to be decoded are left there (by path),
    so a caller that needs them next (report thumbnails) does not decode the file again. `worker`
    decodes (a chunk shares one); without it, a worker is started for this clip alone."""
    start = time.perf_counter()
    res = ClipResult(clip=job.clip, path=job.path)
    try:
        if worker is None:
            with DecodeWorker() as own:
                _extract(job, settings, store, res, frames_out, own)
        else:
            _extract(job, settings, store, res, frames_out, worker)
    except media.MediaError as exc:
        res.status, res.error = "failed", f"{exc.path}: {exc.reason}"
    except files.RefusedInput as exc:
        res.status, res.error = "failed", f"{job.path}: {exc.reason}"
    except Exception as exc:  # one bad clip never takes the chunk down
        res.status = "failed"
        res.error = f"{job.path}: {exc.__class__.__name__}: {exc}"
        res.warnings.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
    res.seconds = round(time.perf_counter() - start, 3)
    return res


def open_checked(job: ClipJob, max_bytes: int | None) -> int:
    """The job's file opened as `clmer.data.files.open_input` does, with the size limits checked."""
    try:
        fd = files.open_input(job.path, job.root)
    except FileNotFoundError:
        raise media.FileMissingError(job.path, "file does not exist") from None
    size = os.fstat(fd).st_size
    if size == 0 or (max_bytes is not None and size > max_bytes):
        os.close(fd)
        if size == 0:
            raise media.EmptyFileError(job.path, "zero-byte file")
        raise media.LimitExceededError(job.path, f"file is {size} bytes, over the limit of {max_bytes}")
    return fd


def _extract(job: ClipJob, settings: Settings, store: FeatureStore, res: ClipResult, frames_out: dict | None,
             worker: DecodeWorker) -> None:
    budget = _Budget(job.path, settings.limits.per_file_timeout_s)
    fd = open_checked(job, settings.limits.max_file_bytes)
    try:
        _extract_open(job, fd, settings, store, res, frames_out, worker, budget)
    finally:
        os.close(fd)


def _extract_open(job: ClipJob, fd: int, settings: Settings, store: FeatureStore, res: ClipResult,
                  frames_out: dict | None, worker: DecodeWorker, budget: _Budget) -> None:
    res.sha256 = sha = files.sha256_fd(fd)  # what is hashed is what is decoded: the same open file
    decoded: media.DecodedMedia | None = None

    def decoded_media() -> media.DecodedMedia:
        nonlocal decoded
        if decoded is None:
            deadline = min(settings.limits.decode_timeout_s, budget.remaining())
            decoded = worker.decode(fd, job.path, deadline, **media.decode_kwargs(settings))
            res.warnings += decoded.warnings
            res.duration_s = round(decoded.duration_s, 3)
            if frames_out is not None:
                frames_out[job.path] = decoded.frames
        return decoded

    # Transcript: the manifest's, else ASR (cached by video content).
    confidence = None
    if job.transcript:
        res.transcript, res.transcript_source, res.language = job.transcript, "manifest", job.language
    else:
        asr = _cached_or_run(store, sha, "asr", settings, None, res,
                             lambda: get_extractor("asr", settings).extract(decoded_media().audio))
        res.asr_key = asr[0]
        res.transcript, res.transcript_source = asr[2].get("text", ""), "asr"
        res.language = job.language or asr[2].get("language")
        confidence = confidence_extras(asr[2])
    budget.check("asr")
    text_extra = {"transcript_sha256": hashlib.sha256((res.transcript or "").encode()).hexdigest()}
    if confidence is not None:  # an ASR transcript carries whisper's confidence as the text's extras
        text_extra["asr_confidence"] = [round(float(x), 4) for x in confidence]
    status: dict[str, str] = {}
    res.text_key, status["text"], _ = _cached_or_run(
        store, sha, "text", settings, text_extra, res,
        lambda: with_extras(get_extractor("text", settings).extract(res.transcript or ""), confidence))
    budget.check("text")
    res.audio_key, status["audio"], _ = _cached_or_run(store, sha, "audio", settings, None, res,
                                                     lambda: get_extractor("audio", settings).extract(decoded_media().audio))
    budget.check("audio")
    res.vision_key, status["vision"], _ = _cached_or_run(
        store, sha, "vision", settings, None, res,
        lambda: get_extractor("vision", settings).extract(decoded_media().frames, decoded_media().frame_times))
    budget.check("vision")
    res.cached = not res.computed
    res.missing = [m for m, st in status.items() if st == "empty"]
    if res.missing or res.warnings:
        res.status = "partial"
    if len(res.missing) == len(MODALITIES):
        res.status, res.error = "failed", f"{job.path}: no usable text, audio or video"


def with_extras(record: FeatureRecord, extras) -> FeatureRecord:
    """The text record with the ASR confidence as its utterance-level `extras` (the model reads them)."""
    if extras is not None and record.status == "ok":
        record.arrays["extras"] = np.asarray(extras, np.float32)[None, :]
    return record


def _cached_or_run(store: FeatureStore, sha: str, role: str, settings: Settings, extra: dict | None,
                   res: ClipResult, compute: Callable[[], FeatureRecord]) -> tuple[str, str, dict]:
    """(record key, status, extractor meta): from the store if there and intact, else computed and
    stored (a truncated or swapped record is detected by its digest and written anew)."""
    ident = identity(role, settings, extra)
    key = record_key(sha, ident)
    if store.has(key):
        try:
            row, meta = store.verify(key)
            return key, row["status"], meta
        except CorruptRecordError as exc:
            res.warnings.append(f"{role} features were corrupt in the store and were extracted again ({exc.reason})")
    record = compute()
    res.computed.append(role)
    store.put(key, sha, ident, record)
    return key, record.status, record.meta


def prefetch_texts(jobs: list[ClipJob], settings: Settings, store: FeatureStore) -> set[str]:
    """Encode the chunk's given transcripts that the store lacks in batches (one forward pass for many
    clips instead of one each); returns the paths whose text was encoded now. Files are opened as
    every input is (`open_checked`: no links followed, limits checked); any refusal is left to the
    clip's own pass, which reports it."""
    todo, paths = {}, {}
    for job in jobs:
        if not job.transcript:
            continue
        try:
            fd = open_checked(job, settings.limits.max_file_bytes)
        except Exception:
            continue
        try:
            sha = files.sha256_fd(fd)
        finally:
            os.close(fd)
        ident = identity("text", settings, {"transcript_sha256": hashlib.sha256(job.transcript.encode()).hexdigest()})
        key = record_key(sha, ident)
        if not store.has(key):
            todo[key] = (sha, ident, job.transcript)
            paths.setdefault(key, []).append(job.path)
    if todo:
        records = get_extractor("text", settings).extract_batch([text for _, _, text in todo.values()])
        for (key, (sha, ident, _)), record in zip(todo.items(), records):
            store.put(key, sha, ident, record)
    return {p for key in todo for p in paths[key]}


def extract_chunk(jobs: list[ClipJob | dict], settings: Settings, store: FeatureStore | None = None,
                  progress: Callable[[ClipResult], None] | None = None, frames_out: dict | None = None) -> pd.DataFrame:
    """Extract a chunk of clips in this process (models load once, on first use)."""
    store = store or FeatureStore(settings.paths.feature_store)
    jobs = [job if isinstance(job, ClipJob) else ClipJob(**job) for job in jobs]
    try:
        encoded = prefetch_texts(jobs, settings, store)
    except Exception as exc:  # batching is an optimisation: each clip still gets its own try below
        import logging

        logging.getLogger(__name__).warning("batched text encoding failed (%s: %s); encoding clip by clip",
                                            exc.__class__.__name__, exc)
        encoded = set()
    rows = []
    with DecodeWorker() as worker:  # one decoding child for the chunk, started on the first decode
        for job in jobs:
            result = extract_one(job, settings, store, frames_out, worker)
            if job.path in encoded and "text" not in result.computed:
                result.computed.insert(0, "text")
                result.cached = False
            rows.append(result.row())
            if progress:
                progress(result)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def chunked(items: list, size: int) -> list[list]:
    return [items[i: i + size] for i in range(0, len(items), size)]


def summarise(frame: pd.DataFrame) -> dict:
    return {
        "clips": int(len(frame)), "ok": int((frame["status"] == "ok").sum()),
        "partial": int((frame["status"] == "partial").sum()), "failed": int((frame["status"] == "failed").sum()),
        "cached": int(frame["cached"].sum()), "seconds": float(frame["seconds"].sum()),
        "media_seconds": float(frame["duration_s"].fillna(0).sum()),
    }


def jobs_from_folder(folder: str | Path, extensions: list[str]) -> list[ClipJob]:
    """Every regular video file under `folder` (recursively, links not followed, hidden entries
    skipped), clip = relative path."""
    folder = Path(folder)
    exts = {e.lower() for e in extensions}
    entries = files.walk(folder, lambda rel, is_dir: rel.rsplit("/", 1)[-1].startswith("."))
    return [ClipJob(clip=e.rel, path=str(folder / e.rel), root=str(folder)) for e in entries
            if e.kind == "file" and not e.rel.rsplit("/", 1)[-1].startswith(".") and Path(e.rel).suffix.lower() in exts]


def plan_jobs(target: str | Path, settings: Settings) -> tuple[list[ClipJob], str]:
    """A corpus (label.csv present: its accepted rows, with their transcripts when `train.text_source` is
    'manifest', transcribed when 'asr') or a folder of videos."""
    from clmer.data.corpus import read_corpus

    target = Path(target)
    if (target / "label.csv").exists():
        corpus = read_corpus(target, strict=False, external_media=settings.paths.external_media)
        return jobs_from_manifest(target, corpus.manifest, settings.train.text_source), "corpus"
    if target.is_dir():
        return jobs_from_folder(target, settings.scoring.video_extensions), "folder"
    return [ClipJob(clip=target.name, path=str(target))], "file"


class NothingExtractedError(RuntimeError):
    pass


def require_some(frame: pd.DataFrame) -> None:
    """A corpus where every clip failed is a configuration problem (missing models, wrong paths),
    not data: stop with the reasons instead of training on nothing."""
    failed = frame[frame["status"] == "failed"]
    if len(frame) and len(failed) == len(frame):
        reasons = failed["error"].astype(str).str.replace(r"^.*?: ", "", regex=True).value_counts().head(3)
        raise NothingExtractedError(f"all {len(frame)} clips failed to extract; most common reasons:\n"
                                    + "\n".join(f"  {n} x {r}" for r, n in reasons.items()))


def write_run(frame: pd.DataFrame, out_dir: str | Path, store: FeatureStore) -> Path:
    """features.parquet (one row per clip) + summary.json in the run folder; refresh the store index."""
    import json

    require_some(frame)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out_dir / "features.parquet", index=False)
    store.rebuild_index()
    summary = summarise(frame) | {"feature_store": str(store)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return out_dir / "features.parquet"
