"""Extraction: decoded media -> features in the store, one clip at a time, chunk by chunk.

For each clip the store is asked first; only what is missing is computed, after one decode.
A second run over an unchanged corpus therefore decodes nothing and runs no model. A clip that
fails is a row with status `failed` and the reason, never an exception that stops the chunk.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from clmer.data import media
from clmer.config import Settings
from clmer.features.encoders import FeatureRecord, get_extractor, identity
from clmer.features.feature_store import FeatureStore, record_key, sha256_file

MODALITIES = ("text", "audio", "vision")
RESULT_COLUMNS = ["clip", "path", "sha256", "status", "error", "language", "transcript", "transcript_source",
                  "asr_key", "text_key", "audio_key", "vision_key", "missing", "warnings", "computed", "cached",
                  "duration_s", "seconds"]


@dataclass
class ClipJob:
    clip: str  # "video_id/clip_id" in a corpus, the file's path relative to the drop for drops
    path: str
    transcript: str | None = None  # the manifest's transcript wins over ASR when given
    language: str | None = None


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


def jobs_from_manifest(root: str | Path, manifest: pd.DataFrame) -> list[ClipJob]:
    root = Path(root)
    return [ClipJob(clip=f"{r.video_id}/{r.clip_id}", path=str(root / r.media_path),
                    transcript=(r.text if isinstance(r.text, str) and r.text.strip() else None), language=r.language)
            for r in manifest.itertuples()]


class _Budget:
    """Cooperative per-file time limit: checked between stages (threads cannot be killed)."""

    def __init__(self, path: str, seconds: float):
        self.path, self.seconds, self.start = path, seconds, time.perf_counter()

    def check(self, stage: str) -> None:
        if time.perf_counter() - self.start > self.seconds:
            raise media.LimitExceededError(self.path, f"over the per-file time limit of {self.seconds:.0f} s (at {stage})")


def extract_one(job: ClipJob, settings: Settings, store: FeatureStore, frames_out: dict | None = None,
                sha: str | None = None) -> ClipResult:
    """Features for one clip, from the store where they exist; a failure becomes a failed row.

    With `frames_out`, the sampled frames of a clip that had to be decoded are left there (by path),
    so a caller that needs them next (report thumbnails) does not decode the file again."""
    start = time.perf_counter()
    res = ClipResult(clip=job.clip, path=job.path)
    try:
        _extract(job, settings, store, res, frames_out, sha)
    except media.MediaError as exc:
        res.status, res.error = "failed", f"{exc.path}: {exc.reason}"
    except Exception as exc:  # one bad clip never takes the chunk down
        res.status = "failed"
        res.error = f"{job.path}: {exc.__class__.__name__}: {exc}"
        res.warnings.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
    res.seconds = round(time.perf_counter() - start, 3)
    return res


def _extract(job: ClipJob, settings: Settings, store: FeatureStore, res: ClipResult, frames_out: dict | None,
             sha: str | None = None) -> None:
    path = Path(job.path)
    media._check_file(path, settings.limits.max_file_bytes)
    budget = _Budget(job.path, settings.limits.per_file_timeout_s)
    res.sha256 = sha = sha or sha256_file(path)
    decoded: media.DecodedMedia | None = None

    def decoded_media() -> media.DecodedMedia:
        nonlocal decoded
        if decoded is None:
            decoded = media.decode_for(path, settings)
            res.warnings += decoded.warnings
            res.duration_s = round(decoded.duration_s, 3)
            if frames_out is not None:
                frames_out[job.path] = decoded.frames
        return decoded

    # Transcript: the manifest's, else ASR (cached by video content).
    if job.transcript:
        res.transcript, res.transcript_source, res.language = job.transcript, "manifest", job.language
    else:
        asr = _cached_or_run(store, sha, "asr", settings, None, res,
                             lambda: get_extractor("asr", settings).extract(decoded_media().audio))
        res.asr_key = asr[0]
        res.transcript, res.transcript_source = asr[2].get("text", ""), "asr"
        res.language = job.language or asr[2].get("language")
    budget.check("asr")
    text_extra = {"transcript_sha256": hashlib.sha256((res.transcript or "").encode()).hexdigest()}
    status: dict[str, str] = {}
    res.text_key, status["text"], _ = _cached_or_run(store, sha, "text", settings, text_extra, res,
                                                   lambda: get_extractor("text", settings).extract(res.transcript or ""))
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


def _cached_or_run(store: FeatureStore, sha: str, role: str, settings: Settings, extra: dict | None,
                   res: ClipResult, compute: Callable[[], FeatureRecord]) -> tuple[str, str, dict]:
    """(record key, status, extractor meta): from the store if there, else computed and stored."""
    ident = identity(role, settings, extra)
    key = record_key(sha, ident)
    if store.has(key):
        row, meta = store.get_meta(key)
        return key, row["status"], meta
    record = compute()
    res.computed.append(role)
    store.put(key, sha, ident, record)
    return key, record.status, record.meta


def text_key(sha: str, transcript: str, settings: Settings) -> tuple[str, dict]:
    ident = identity("text", settings, {"transcript_sha256": hashlib.sha256(transcript.encode()).hexdigest()})
    return record_key(sha, ident), ident


def prefetch_texts(jobs: list[ClipJob], settings: Settings, store: FeatureStore) -> tuple[dict[str, str], set[str]]:
    """Encode the chunk's given transcripts that the store lacks in batches (one forward pass for many
    clips instead of one each); returns path -> video sha256 (so the clips are not hashed twice) and the
    paths whose text was encoded now."""
    shas, todo, paths = {}, {}, {}
    for job in jobs:
        if not job.transcript:
            continue
        try:
            shas[job.path] = sha = sha256_file(job.path)
        except OSError:
            continue  # the per-clip pass reports it
        key, ident = text_key(sha, job.transcript, settings)
        if not store.has(key):
            todo[key] = (sha, ident, job.transcript)
            paths.setdefault(key, []).append(job.path)
    if todo:
        records = get_extractor("text", settings).extract_batch([text for _, _, text in todo.values()])
        for (key, (sha, ident, _)), record in zip(todo.items(), records):
            store.put(key, sha, ident, record)
    return shas, {p for key in todo for p in paths[key]}


def extract_chunk(jobs: list[ClipJob | dict], settings: Settings, store: FeatureStore | None = None,
                  progress: Callable[[ClipResult], None] | None = None, frames_out: dict | None = None) -> pd.DataFrame:
    """Extract a chunk of clips in this process (models load once, on first use)."""
    store = store or FeatureStore(settings.paths.feature_store)
    jobs = [job if isinstance(job, ClipJob) else ClipJob(**job) for job in jobs]
    try:
        shas, encoded = prefetch_texts(jobs, settings, store)
    except Exception:  # batching is an optimisation: each clip still gets its own try below
        shas, encoded = {}, set()
    rows = []
    for job in jobs:
        result = extract_one(job, settings, store, frames_out, shas.get(job.path))
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
    """Every video file under `folder` (recursively, hidden entries skipped), clip = relative path."""
    folder = Path(folder)
    exts = {e.lower() for e in extensions}
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in exts
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return [ClipJob(clip=str(p.relative_to(folder)), path=str(p)) for p in files]


def plan_jobs(target: str | Path, settings: Settings) -> tuple[list[ClipJob], str]:
    """A corpus (label.csv present: its accepted rows, with transcripts) or a folder of videos."""
    from clmer.data.corpus import read_corpus

    target = Path(target)
    if (target / "label.csv").exists():
        corpus = read_corpus(target, strict=False)
        return jobs_from_manifest(target, corpus.manifest), "corpus"
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
