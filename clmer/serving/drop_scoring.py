"""Score a drop and write the outputs users of the original system expect, under `out_dir`:

    Test_Results/combined_results.csv                 one row per input file, failed ones included, with scored_at
    Test_Supplements/transcription_results.csv        transcript, language, segments per file
    Test_Supplements/transcription_log.txt            one line per file (its latest run), tab-separated,
                                                      control characters escaped
    Test_Supplements/video_emotion_results/<clip>.json + .html + .reasoning.txt

Three steps, each a Prefect task in `flows/score_drop.py` and called in turn by `clmer score`:
`plan` (list, stage, check; skip what was scored: unchanged since, or changed but the same bytes),
`score_chunk` (one pass per clip, one `ClipResult` each, its files written atomically as it
finishes, every row rendered from it), `publish` (merge rows, check the predictions contract, write
the tables atomically, then the processed marker, last).

A new file is not read at planning: its one read is its decode, which hashes it on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from clmer import atomic
from clmer.data import files, safe_csv
from clmer.features.extract import ClipJob
from clmer.names import (COMBINED_CSV, REPORTS_DIR, RESULTS_DIR, SUPPLEMENTS_DIR, TRANSCRIPTION_LOG, TRANSCRIPTS_CSV,
                         utc_now)
from clmer.serving.clip_result import (COMBINED_COLUMNS, NUMERIC_COLUMNS, TRANSCRIPT_COLUMNS, ClipResult, csv_row,
                                       log_line, transcript_row, write_clip_files)
from clmer.serving.drops import DropFile, ProcessedLog, drop_source
from clmer.serving.scoring import ClipName

_SAFE_PART = re.compile(r"[\w-][\w.-]*")
STAGING_MAX_AGE_S = 24 * 3600  # staged S3 copies of a plan that never published are swept after this


@dataclass
class Planned:
    drop: str
    rel: str
    path: str | None  # local path to read (None: the file cannot be read safely)
    sha256: str | None  # read at planning only to tell a touched file from a changed one; else at its decode
    error: str | None = None  # why it fails before extraction (unsafe path, not a video, ...)
    stem: str = ""  # file name of its JSON/HTML, unique in the output folder
    root: str | None = None  # the folder `path` is opened under, never following a link
    stamp: str = ""  # size and mtime (S3: ETag) when listed: unchanged since it was scored means skip


@dataclass
class Plan:
    drop: str
    todo: list[Planned] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already scored with the same content
    staging: str | None = None


def output_stem(drop: str, rel: str, taken: dict[str, str]) -> str:
    """A safe, readable file name for a clip's JSON/HTML, from its path in the drop: `clip.mp4` ->
    `clip`, `day1/clip.mp4` -> `day1__clip`, so same-named clips in different folders get names that
    say which is which, whatever order they arrive in. A name that had to be changed to be safe, or
    that another file already owns (`clip.mkv` beside `clip.mp4`, the same path in another drop),
    gets a short hash of (drop, file). `taken`: stem -> owner."""
    owner = f"{drop}|{rel}"
    parts = rel.split("/")
    parts[-1] = parts[-1].rsplit(".", 1)[0] if "." in parts[-1].lstrip(".") else parts[-1]
    plain = "__".join(parts)
    # lengths in bytes: a file name holds 255 of them, and a Chinese character takes three
    if all(_SAFE_PART.fullmatch(p) for p in parts) and len(plain.encode()) <= 100 and taken.get(plain, owner) == owner:
        return plain
    base = re.sub(r"[^\w.-]+", "_", plain).strip("._") or "clip"
    base = base.encode()[:80].decode("utf-8", "ignore")
    return f"{base}-{hashlib.sha256(owner.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def plan(drop: str, out_dir: str | Path, settings, rescore: bool = False) -> Plan:
    """What to score: every file of the drop not scored before as it is now. A file unchanged since it
    was scored (same size and mtime, or S3 ETag) is skipped unread; a touched one is hashed and skipped
    if its bytes are those scored; a new one is not read here at all. The output folder is never
    part of the drop, even when it sits inside it."""
    out_dir = Path(out_dir)
    source = drop_source(drop, exclude=[out_dir])
    staging_base = out_dir / RESULTS_DIR / ".staging" / hashlib.sha256(source.uri.encode()).hexdigest()[:12]
    _sweep_stale(staging_base)
    staging = staging_base / uuid.uuid4().hex[:12]  # this plan's own copies: concurrent plans never share one
    log = ProcessedLog(out_dir)
    result = Plan(drop=source.uri, staging=str(staging))
    exts = {e.lower() for e in settings.scoring.video_extensions}
    taken = {e["stem"]: e.get("owner", "") for e in log.entries.values() if e.get("stem")}
    for f in source.list():
        entry = None if rescore else log.entry(source.uri, f.rel)
        stamp = f"{f.size}:{f.stamp}"
        if entry is not None and entry.get("stamp") == stamp:
            result.skipped.append(f.rel)  # not changed since it was scored
            continue
        item = _stage(source, f, staging, exts, settings.limits.max_file_bytes, hash_it=entry is not None)
        item.stamp, item.stem = stamp, output_stem(source.uri, f.rel, taken)
        taken.setdefault(item.stem, f"{source.uri}|{f.rel}")
        if item.error is not None and item.sha256 is None:  # never read: identified by what was listed
            item.sha256 = f"unread:{f.kind}:{stamp}"
        if entry is not None and item.sha256 is not None and entry.get("sha256") == item.sha256:
            result.skipped.append(f.rel)  # touched, but the same bytes (or the same unreadable thing)
            continue
        result.todo.append(item)
    return result


def _sweep_stale(base: Path) -> None:
    """Staging folders of plans that never published (a crash) are removed once they are old."""
    if not base.is_dir():
        return
    for old in base.iterdir():
        with contextlib.suppress(OSError):
            if time.time() - old.lstat().st_mtime > STAGING_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)


def _stage(source, f: DropFile, staging: Path, exts: set[str], max_bytes: int, hash_it: bool) -> Planned:
    """Check one listed file (and with `hash_it` read its content hash); anything unreadable becomes a
    failed item."""
    drop, rel = source.uri, f.rel
    if f.kind == files.UNREADABLE_FOLDER:
        return Planned(drop, rel, None, None, f"{rel}/: a folder that cannot be listed (permission denied or it "
                                              "vanished); any videos in it were not scored")
    if f.kind.startswith(files.NOT_UTF8):
        return Planned(drop, rel, None, None, f"refused: {rel} is a {f.kind}; rename it to UTF-8 (e.g. `convmv -f gbk "
                                              "-t utf-8`, or unzip with `-O GBK`) and drop it again")
    name = rel.rsplit("/", 1)[-1]
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if suffix not in exts:
        return Planned(drop, rel, None, None, f"{rel}: not a video file (extension {suffix or 'none'}); skipped")
    if f.kind != "file":  # never opened: a FIFO would block, a device could stream forever
        why = "links are not followed" if f.kind == "symbolic link" else "only regular files are read"
        return Planned(drop, rel, None, None, f"refused: {rel} is a {f.kind}, not a regular file ({why})")
    if f.size > max_bytes:  # as listed: an S3 object this size is never downloaded
        return Planned(drop, rel, None, None, f"{rel}: {f.size} bytes, over the {max_bytes}-byte limit "
                                              "(limits.max_file_bytes); not read")
    try:
        path, root = source.local_path(f, staging, max_bytes)
        fd = files.open_input(path, root)
    except files.RefusedInput as exc:
        return Planned(drop, rel, None, None, exc.reason if exc.reason.startswith("refused") else f"refused: {exc.reason}")
    except OSError as exc:
        return Planned(drop, rel, None, None, f"{rel}: cannot read ({exc.__class__.__name__}: {exc.strerror or exc})")
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            return Planned(drop, rel, str(path), None, f"{rel}: {size} bytes, over the {max_bytes}-byte limit", root=str(root))
        return Planned(drop, rel, str(path), files.sha256_fd(fd)[0] if hash_it else None, root=str(root))
    finally:
        os.close(fd)


def score_chunk(items: list[Planned | dict], scorer, out_dir: str | Path, blur: bool = True, html: bool = True,
                progress: Callable[[str, str], None] | None = None) -> dict:
    """One pass per clip of a chunk, one `ClipResult` each; a clip's JSON/HTML are written as it
    finishes, and its rows are rendered from its record.

    `progress(file, what)` hears "extracted", "explaining" and "done" for each file as it happens.

    Each clip's MLflow trace is written when tracing is on (`clmer.serving.clip_traces`, mlflow.traces).

    Returns {"predictions": [rows], "transcripts": [rows], "log": [lines], "processed": [{file, sha256,
    status}], "drift": [each clip's statistics, when the model is monitored], "traces": [trace ids]} (plain
    data: Prefect passes it between tasks)."""
    out_dir = Path(out_dir)
    items = [i if isinstance(i, Planned) else Planned(**i) for i in items]
    tell = progress or (lambda rel, what: None)
    runnable = [i for i in items if i.error is None]
    records = []
    for item in items:
        if item.error is not None:
            records.append(ClipResult.not_read(item.rel, item.stem, item.drop, scorer.model_version, utc_now(),
                                               item.error, sha256=item.sha256))
            tell(item.rel, "done")
    from clmer.serving.clip_traces import ClipTracer

    tracer = ClipTracer.for_scorer(scorer) if items else None  # None: tracing off (mlflow.traces) or unreachable
    jobs = [ClipJob(clip=i.rel, path=i.path, root=i.root, name=i.rel) for i in runnable]
    names = [ClipName(i.rel, i.stem, i.drop) for i in runnable]
    for rec in scorer.score(jobs, names, frames=html, progress=tell) if runnable else []:
        if rec.explanation is not None:
            try:
                write_clip_files(rec, out_dir / REPORTS_DIR, html=html, blur=blur)
            except Exception as exc:  # the prediction stands; the report is what failed
                rec.status, rec.error = "partial", f"{rec.file}: report not written ({exc.__class__.__name__}: {exc})"
        rec.frames = {}  # written: the pixels are not needed any more
        records.append(rec)
        tell(rec.file, "done")
    traces = [t for t in (tracer.log(r) for r in records) if t] if tracer else []
    if tracer:
        tracer.flush()
    return {"predictions": [csv_row(r) for r in records], "transcripts": [transcript_row(r) for r in records],
            "log": [log_line(r) for r in records],
            "processed": [{"file": r.file, "sha256": r.provenance.sha256, "status": r.status} for r in records],
            "drift": [r.drift for r in records if r.drift is not None], "traces": traces}


def _log_key(line: str) -> str:
    return line.split("\t", 2)[1] if "\t" in line else line


def merge_log(previous: str, lines: list[str]) -> str:
    """The log with one line per file, like the tables: a file's new line replaces its old one (a
    run killed after the tables but before the marker, then redone, leaves no doubled lines)."""
    keys = {_log_key(line) for line in lines}
    kept = [line for line in previous.splitlines() if line and _log_key(line) not in keys]
    return "".join(f"{line}\n" for line in kept + lines)


def _merge(existing: Path, rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Old rows of other files, then this run's rows: one row per (drop, file), always."""
    new = pd.DataFrame(rows, columns=columns)
    if existing.exists():
        old = safe_csv.read_csv(existing).reindex(columns=columns)
        new = pd.concat([old, new], ignore_index=True)
    return new.drop_duplicates(["drop", "file"], keep="last").reset_index(drop=True)


@contextlib.contextmanager
def _exclusive(out_dir: Path):
    """One publisher at a time per output folder: two drops finishing together would otherwise
    each merge into the table the other is replacing, and one drop's rows would be lost."""
    import fcntl

    lock = out_dir / RESULTS_DIR / ".publish.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(plan_: Plan, chunks: list[dict], out_dir: str | Path, model_version: str, check_contract: bool = True) -> dict:
    """Merge the chunk rows into the output tables, check the contract, write atomically, then mark."""
    out_dir = Path(out_dir)
    with _exclusive(out_dir):
        return _publish(plan_, chunks, out_dir, model_version, check_contract)


def _publish(plan_: Plan, chunks: list[dict], out_dir: Path, model_version: str, check_contract: bool) -> dict:
    from clmer.data.contracts import ContractError, validate_frame

    rows = [r for c in chunks for r in c["predictions"]]
    combined = _merge(out_dir / COMBINED_CSV, rows, COMBINED_COLUMNS)
    for col in NUMERIC_COLUMNS:
        combined[col] = pd.to_numeric(combined[col], errors="coerce")
    combined = combined.replace({"": None})
    if check_contract and len(combined):
        result = validate_frame("predictions", combined)
        if not result.success:
            raise ContractError("predictions table breaks its contract; nothing published:\n" + result.summary())
    transcripts = _merge(out_dir / TRANSCRIPTS_CSV, [r for c in chunks for r in c["transcripts"]], TRANSCRIPT_COLUMNS)
    safe_csv.write_csv(combined, out_dir / COMBINED_CSV)
    safe_csv.write_csv(transcripts, out_dir / TRANSCRIPTS_CSV)
    log_path = out_dir / TRANSCRIPTION_LOG
    previous = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
    atomic.write_text(log_path, merge_log(previous, [line for c in chunks for line in c["log"]]))
    log = ProcessedLog(out_dir)
    planned = {i.rel: i for i in plan_.todo}
    for done in (d for c in chunks for d in c["processed"]):
        item = planned.get(done["file"])
        log.mark(plan_.drop, done["file"], done["sha256"], done["status"], model_version,
                 stem=item.stem if item else None, stamp=item.stamp if item else None)
    log.commit()  # last: only now does this drop count as scored
    if plan_.staging:
        shutil.rmtree(plan_.staging, ignore_errors=True)  # this plan's S3 copies are no longer needed
    counts = pd.Series([r["status"] for r in rows]).value_counts().to_dict() if rows else {}
    return {"drop": plan_.drop, "scored": len(rows), "skipped": len(plan_.skipped), "status_counts": counts,
            "combined_results": str(out_dir / COMBINED_CSV)}


def score_drop(drop: str, scorer, out_dir: str | Path, settings, rescore: bool = False, chunk_size: int = 16,
               progress: Callable[[int, int, str, str], None] | None = None) -> dict:
    """The whole drop in this process (what `clmer score` runs). `progress(done, total, file, what)`
    follows every file: what is "extracted", "explaining" or "done"."""
    from clmer.features.extract import chunked

    p = plan(drop, out_dir, settings, rescore=rescore)
    done = [0]

    def tell(rel: str, what: str) -> None:
        done[0] += what == "done"
        if progress:
            progress(done[0], len(p.todo), rel, what)

    chunks = [score_chunk(chunk, scorer, out_dir, blur=settings.scoring.blur_faces, html=settings.scoring.html,
                          progress=tell) for chunk in chunked(p.todo, chunk_size)]
    from clmer.serving.drift_watch import brief, drop_drift

    summary = publish(p, chunks, out_dir, scorer.model_version)
    return summary | {"drift": brief(drop_drift(p.drop, chunks, scorer, Path(out_dir) / SUPPLEMENTS_DIR, settings))}


def plan_to_dict(p: Plan) -> dict:
    return {"drop": p.drop, "todo": [asdict(i) for i in p.todo], "skipped": p.skipped, "staging": p.staging}


def plan_from_dict(d: dict) -> Plan:
    return Plan(drop=d["drop"], todo=[Planned(**i) for i in d["todo"]], skipped=d["skipped"], staging=d["staging"])
