"""Extraction: one pass per clip, from its file to features in the feature store.

A clip is a `ClipPass` that goes through stages, each a function of it, in this order:

    open      the file as an input (a regular file, under its root without following links), size checked
    read      hash it (then only what the store lacks is decoded), or decode it with the hash riding on
              the decode (when its frames are wanted anyway: a report shows them)
    text      a chunk's given transcripts, encoded in one batch where the store lacks them
    features  ASR, text, audio, vision: from the store where they are there and intact, else computed
              from the clip's one decode
    close     the file; the decoded audio goes, the frames stay only when asked for

So a file is read once (hash riding on the decode, or a hash and nothing missing) or twice (a hash,
then the decode of what is missing). A second run over an unchanged corpus decodes nothing and runs
no model. A clip that fails is a row with status `failed` and the reason, never an exception that
stops the chunk. Decoding runs in a child process per chunk (`clmer.data.decode_worker`) that is
killed at the per-file time limit, so a file that hangs the decoder fails alone. The stages are
separate functions so that a stage can be run for many clips at once (as the text stage is).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from clmer import atomic
from clmer.config import Settings
from clmer.data import files, media
from clmer.data.decode_worker import DecodeWorker
from clmer.features.encoders import FeatureRecord, get_extractor, identity
from clmer.features.encoders.asr import confidence_extras
from clmer.features.feature_store import CorruptRecordError, FeatureStore, record_key
from clmer.names import MODALITIES

RESULT_COLUMNS = ["clip", "path", "sha256", "status", "error", "language", "transcript", "transcript_source",
                  "asr_key", "text_key", "audio_key", "vision_key", "missing", "warnings", "computed", "cached",
                  "duration_s", "seconds"]


@dataclass
class ClipJob:
    clip: str  # "video_id/clip_id" in a corpus, the file's path relative to the drop for drops
    path: str
    transcript: str | None = None  # the manifest's transcript wins over ASR when given
    language: str | None = None
    root: str | None = None  # the drop or corpus folder: `path` is opened under it, never through a link
    name: str | None = None  # what errors call the file (a drop's relative path); default: `path`

    @property
    def label(self) -> str:
        return self.name or self.path


@dataclass
class ClipExtraction:
    """What extraction found for one clip: one row of features.parquet (keys into the store)."""

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

    @classmethod
    def from_row(cls, row: dict) -> "ClipExtraction":
        """Back from a features.parquet row (missing cells are NaN there)."""
        def text(v):
            return v if isinstance(v, str) else None

        listed = lambda v, sep: [x for x in v.split(sep) if x] if isinstance(v, str) else []  # noqa: E731
        duration = row.get("duration_s")
        return cls(clip=str(row["clip"]), path=str(row["path"]), sha256=text(row.get("sha256")),
                   status=row.get("status") or "ok", error=text(row.get("error")), language=text(row.get("language")),
                   transcript=text(row.get("transcript")), transcript_source=text(row.get("transcript_source")),
                   asr_key=text(row.get("asr_key")), text_key=text(row.get("text_key")),
                   audio_key=text(row.get("audio_key")), vision_key=text(row.get("vision_key")),
                   missing=listed(row.get("missing"), ","), warnings=listed(row.get("warnings"), "; "),
                   computed=listed(row.get("computed"), ","), cached=bool(row.get("cached")),
                   duration_s=float(duration) if duration is not None and duration == duration else None,
                   seconds=float(row.get("seconds") or 0.0))


class _Budget:
    """Cooperative per-file time limit: checked between stages (threads cannot be killed)."""

    def __init__(self, name: str, seconds: float):
        self.name, self.seconds, self.start = name, seconds, time.perf_counter()

    def remaining(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def check(self, stage: str) -> None:
        if self.remaining() < 0:
            raise media.LimitExceededError(self.name, f"over the per-file time limit of {self.seconds:.0f} s (at {stage})")


@dataclass
class ClipPass:
    """One clip on its way through the stages: what each stage found so far."""

    job: ClipJob
    result: ClipExtraction
    keep_frames: bool = False  # keep the decoded frames and their times (a report shows some)
    fd: int | None = None
    budget: _Budget | None = None
    decoded: media.DecodedMedia | None = None
    frames: list[np.ndarray] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    bytes_read: int = 0  # from the clip's file, by every stage (the decoding child's reads included)
    text_batched: bool = False  # its text features were encoded by the chunk's batch
    stages: list[tuple[str, int, int]] = field(default_factory=list)  # (stage, start, end) in wall-clock ns: its trace

    def timed(self, stage: str, start_ns: int) -> None:
        """Record that `stage` ran from `start_ns` until now (the clip's trace shows one span per stage)."""
        self.stages.append((stage, start_ns, time.time_ns()))

    @classmethod
    def of(cls, job: ClipJob, keep_frames: bool = False) -> "ClipPass":
        return cls(job, ClipExtraction(clip=job.clip, path=job.path), keep_frames)

    @property
    def failed(self) -> bool:
        return self.result.status == "failed"

    def fail(self, reason: str) -> None:
        self.result.status, self.result.error = "failed", f"{self.job.label}: {reason}"


def open_stage(p: ClipPass, settings: Settings) -> None:
    p.fd = media.open_checked(p.job.path, p.job.root, settings.limits.max_file_bytes)


def hash_stage(p: ClipPass) -> None:
    p.result.sha256, n = files.sha256_fd(p.fd)
    p.bytes_read += n


def decode_stage(p: ClipPass, settings: Settings, worker: DecodeWorker) -> media.DecodedMedia:
    """The clip's one decode, hashing the bytes it decodes (a hash taken before must match them)."""
    if p.decoded is None:
        start, limit = time.time_ns(), settings.limits.decode_timeout_s
        d = worker.decode(p.fd, p.job.label, min(limit, p.budget.remaining()) if p.budget else limit,
                          **media.decode_kwargs(settings))
        p.bytes_read += d.bytes_read
        if p.result.sha256 not in (None, d.sha256):
            raise media.MediaError(p.job.label, "the file changed while it was being read (the bytes decoded are "
                                                "not those hashed before)")
        p.result.sha256, p.decoded = d.sha256, d
        p.result.warnings += d.warnings
        p.result.duration_s = round(d.duration_s, 3)
        if p.keep_frames:
            p.frames, p.frame_times = d.frames, d.frame_times
        p.timed("decode", start)
    return p.decoded


def text_batch_stage(passes: list[ClipPass], settings: Settings, store: FeatureStore) -> None:
    """Encode the given transcripts the store lacks in batches (one forward pass for many clips
    instead of one each). Needs each clip's hash (the store key); clips without one are left to
    their own features stage."""
    todo: dict[str, tuple] = {}
    owners: dict[str, list[ClipPass]] = {}
    for p in passes:
        if p.failed or not p.job.transcript or not p.result.sha256:
            continue
        ident = identity("text", settings, _text_extra(p.job.transcript))
        key = record_key(p.result.sha256, ident)
        if not store.has(key):
            todo[key] = (p.result.sha256, ident, p.job.transcript)
            owners.setdefault(key, []).append(p)
    if todo:
        records = get_extractor("text", settings).extract_batch([text for _, _, text in todo.values()])
        for (key, (sha, ident, _)), record in zip(todo.items(), records):
            store.put(key, sha, ident, record)
            for p in owners[key]:
                p.text_batched = True


def features_stage(p: ClipPass, settings: Settings, store: FeatureStore, worker: DecodeWorker) -> None:
    """ASR (unless the manifest gives a transcript), text, audio and vision: each from the store if
    there, else computed from the clip's one decode."""
    res, job, sha = p.result, p.job, p.result.sha256
    decoded = lambda: decode_stage(p, settings, worker)  # noqa: E731 - only when something must be computed
    confidence, start = None, time.time_ns()
    if job.transcript:
        res.transcript, res.transcript_source, res.language = job.transcript, "manifest", job.language
    else:
        res.asr_key, _, meta = _cached_or_run(store, sha, "asr", settings, None, res,
                                              lambda: get_extractor("asr", settings).extract(decoded().audio))
        res.transcript, res.transcript_source = meta.get("text", ""), "asr"
        res.language = job.language or meta.get("language")
        confidence = confidence_extras(meta)
    p.timed("asr", start)
    p.budget.check("asr")
    status: dict[str, str] = {}
    start = time.time_ns()
    res.text_key, status["text"], _ = _cached_or_run(
        store, sha, "text", settings, _text_extra(res.transcript, confidence), res,
        lambda: with_extras(get_extractor("text", settings).extract(res.transcript or ""), confidence))
    if p.text_batched and "text" not in res.computed:
        res.computed.insert(0, "text")
    p.budget.check("text")
    res.audio_key, status["audio"], _ = _cached_or_run(store, sha, "audio", settings, None, res,
                                                     lambda: get_extractor("audio", settings).extract(decoded().audio))
    p.budget.check("audio")
    res.vision_key, status["vision"], _ = _cached_or_run(
        store, sha, "vision", settings, None, res,
        lambda: get_extractor("vision", settings).extract(decoded().frames, decoded().frame_times))
    p.timed("features", start)
    p.budget.check("vision")
    res.cached = not res.computed
    res.missing = [m for m, st in status.items() if st == "empty"]
    if res.missing or res.warnings:
        res.status = "partial"
    if len(res.missing) == len(MODALITIES):
        p.fail("no usable text, audio or video")


def close_stage(p: ClipPass) -> None:
    if p.fd is not None:
        os.close(p.fd)
        p.fd = None
    p.decoded = None  # the audio goes now; the frames stay on the pass only when kept for a report


def _text_extra(transcript: str | None, confidence=None) -> dict:
    """What a text record is made of beyond the encoder: the transcript, and for an ASR transcript
    whisper's confidence (the record's extras), so either changing makes a new record."""
    extra = {"transcript_sha256": hashlib.sha256((transcript or "").encode()).hexdigest()}
    if confidence is not None:
        extra["asr_confidence"] = [round(float(x), 4) for x in confidence]
    return extra


def with_extras(record: FeatureRecord, extras) -> FeatureRecord:
    """The text record with the ASR confidence as its utterance-level `extras` (the model reads them)."""
    if extras is not None and record.status == "ok":
        record.arrays["extras"] = np.asarray(extras, np.float32)[None, :]
    return record


def _cached_or_run(store: FeatureStore, sha: str, role: str, settings: Settings, extra: dict | None,
                   res: ClipExtraction, compute: Callable[[], FeatureRecord]) -> tuple[str, str, dict]:
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


def _guarded(p: ClipPass, stage: Callable, *args) -> None:
    """Run a stage unless the clip failed already; whatever it raises fails this clip alone."""
    if p.failed:
        return
    try:
        stage(p, *args)
    except (media.MediaError, files.RefusedInput) as exc:
        p.fail(exc.reason)
    except Exception as exc:  # one bad clip never takes the chunk down
        p.fail(f"{exc.__class__.__name__}: {exc}")
        p.result.warnings.append(traceback.format_exc(limit=3).strip().splitlines()[-1])


def extract_passes(jobs: list[ClipJob], settings: Settings, store: FeatureStore, decode_first: bool = False,
                   progress: Callable[[ClipExtraction], None] | None = None) -> list[ClipPass]:
    """Every clip of a chunk through the stages (models load once, on first use). `decode_first`:
    each clip is decoded (hash riding on it) and its frames kept, for callers that show them;
    otherwise each is hashed first and decoded only if the store lacks some of its features."""
    passes = [ClipPass.of(job, keep_frames=decode_first) for job in jobs]
    try:
        with DecodeWorker() as worker:  # one decoding child for the chunk, started on the first decode
            if not decode_first:
                for p in passes:
                    _guarded(p, open_stage, settings)
                    _guarded(p, hash_stage)
                _batch_texts(passes, settings, store)
            for p in passes:
                start = time.perf_counter()
                p.budget = _Budget(p.job.label, settings.limits.per_file_timeout_s)
                if decode_first:
                    _guarded(p, open_stage, settings)
                    _guarded(p, decode_stage, settings, worker)
                _guarded(p, features_stage, settings, store, worker)
                close_stage(p)
                p.result.seconds = round(time.perf_counter() - start, 3)
                if progress:
                    progress(p.result)
    finally:
        for p in passes:
            close_stage(p)
    return passes


def _batch_texts(passes: list[ClipPass], settings: Settings, store: FeatureStore) -> None:
    try:
        text_batch_stage(passes, settings, store)
    except Exception as exc:  # batching is an optimisation: each clip still gets its own features stage
        logging.getLogger(__name__).warning("batched text encoding failed (%s: %s); encoding clip by clip",
                                            exc.__class__.__name__, exc)


def extract_one(job: ClipJob, settings: Settings, store: FeatureStore) -> ClipExtraction:
    """Features for one clip, from the store where they exist; a failure becomes a failed row."""
    return extract_passes([job], settings, store)[0].result


def extract_chunk(jobs: list[ClipJob | dict], settings: Settings, store: FeatureStore | None = None,
                  progress: Callable[[ClipExtraction], None] | None = None) -> pd.DataFrame:
    """Extract a chunk of clips in this process: one features row per clip."""
    store = store or FeatureStore(settings.paths.feature_store)
    jobs = [job if isinstance(job, ClipJob) else ClipJob(**job) for job in jobs]
    passes = extract_passes(jobs, settings, store, progress=progress)
    return pd.DataFrame([p.result.row() for p in passes], columns=RESULT_COLUMNS)


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


def write_features(frame: pd.DataFrame, out_dir: str | Path, store: FeatureStore) -> Path:
    """features.parquet (one row per clip) + summary.json in the run folder; refresh the store index."""
    require_some(frame)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out_dir / "features.parquet", index=False)
    store.rebuild_index()
    atomic.write_json(out_dir / "summary.json", summarise(frame) | {"feature_store": str(store)})
    return out_dir / "features.parquet"
