"""`clmer validate`: is this corpus fit to train on? Manifest rules, media probes, data contracts.

Writes, under the run folder: `quarantine.csv` (every rejected row and why), `manifest.parquet`
(the accepted rows, the input of extraction), `media_probe.csv`, the GX results as JSON and
GX data docs HTML, and `summary.json`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clmer import atomic
from clmer.data import corpus as corpus_mod
from clmer.data import files, media
from clmer.data.decode_worker import DecodeWorker
from clmer.data.contracts import ContractResult, validate_frame
from clmer.data.safe_csv import write_csv


@dataclass
class ValidationReport:
    root: Path
    out_dir: Path
    flavour: str | None
    n_rows: int
    n_accepted: int
    quarantine: pd.DataFrame
    contracts: list[ContractResult] = field(default_factory=list)
    fatal: str | None = None
    max_reject_fraction: float = 0.0

    @property
    def n_rejected(self) -> int:
        return len(self.quarantine)

    @property
    def usable(self) -> bool:
        if self.fatal or self.n_accepted == 0:
            return False
        if self.n_rows and self.n_rejected / self.n_rows > self.max_reject_fraction:
            return False
        # Contracts run on every row as read, so they fail whenever rows are rejected; the
        # reject tolerance decides then. With nothing rejected, a failing contract is fatal.
        return self.n_rejected > 0 or all(c.success for c in self.contracts)

    def summary_dict(self) -> dict:
        return {
            "corpus": str(self.root), "flavour": self.flavour, "rows": self.n_rows, "accepted": self.n_accepted,
            "rejected": self.n_rejected, "usable": self.usable, "fatal": self.fatal,
            "contracts": {c.name: {"success": c.success, "expectations": c.n_expectations, "failures": c.failures}
                          for c in self.contracts},
            "quarantine_csv": "quarantine.csv", "manifest": "manifest.parquet" if self.n_accepted else None,
        }


def probe_table(paths: list[Path], max_bytes: int | None = None, root: Path | None = None,
                timeout_s: float = 120.0) -> pd.DataFrame:
    """One row per file; a file that fails to probe gets its error in `error`. Files under `root`
    are opened there without following links; probing runs in a child process killed after
    `timeout_s` per file, so a file that hangs the demuxer fails alone."""
    rows = []
    fields = list(media.MediaProbe.__dataclass_fields__)
    with DecodeWorker() as worker:
        for path in paths:
            try:
                row = _probe_one(worker, Path(path), root, max_bytes, timeout_s).as_row()
                row["error"] = None
            except media.MediaError as exc:
                row = {k: None for k in fields} | {"path": str(path), "error": f"{exc.kind}: {exc.reason}"}
            except files.RefusedInput as exc:
                row = {k: None for k in fields} | {"path": str(path), "error": f"refused: {exc.reason}"}
            rows.append(row)
    return pd.DataFrame(rows, columns=fields + ["error"])


def _probe_one(worker: DecodeWorker, path: Path, root: Path | None, max_bytes: int | None,
               timeout_s: float) -> media.MediaProbe:
    inside = root if root is not None and path.is_relative_to(root) else None  # else an allowed external file
    fd = media.open_checked(path, inside, max_bytes)  # opened and checked as every media input is
    try:
        return worker.probe(fd, str(path), timeout_s)
    finally:
        os.close(fd)


def validate_corpus(root: str | Path, out_dir: str | Path, flavour: str | None = None,
                    max_reject_fraction: float = 0.0, max_bytes: int | None = None,
                    run_contracts: bool = True, external_media: list[str] | None = None,
                    timeout_s: float = 120.0) -> ValidationReport:
    root, out_dir = Path(root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        corpus = corpus_mod.read_corpus(root, flavour=flavour, strict=False, external_media=external_media)
    except corpus_mod.CorpusError as exc:
        report = ValidationReport(root, out_dir, flavour, 0, 0, pd.DataFrame(columns=["row", "video_id", "clip_id", "reason"]),
                                  fatal=str(exc), max_reject_fraction=max_reject_fraction)
        _write(report, None)
        return report

    quarantine = [{"row": i.row, "video_id": i.video_id, "clip_id": i.clip_id, "reason": i.reason} for i in corpus.issues]
    probes = probe_table([root / p for p in corpus.manifest["media_path"]], max_bytes=max_bytes, root=root,
                         timeout_s=timeout_s)
    bad_media = probes["error"].notna().to_numpy()
    accepted = corpus.manifest[~bad_media].reset_index(drop=True)
    for (_, row), err in zip(corpus.manifest[bad_media].iterrows(), probes.loc[bad_media, "error"]):
        quarantine.append({"row": None, "video_id": row["video_id"], "clip_id": row["clip_id"],
                           "reason": f"media {row['media_path']}: {err}"})
    probes["path"] = [str(Path(p).relative_to(root)) if Path(p).is_relative_to(root) else p for p in probes["path"]]

    report = ValidationReport(root, out_dir, corpus.flavour, len(corpus.all_rows), len(accepted),
                              pd.DataFrame(quarantine, columns=["row", "video_id", "clip_id", "reason"]),
                              max_reject_fraction=max_reject_fraction)
    if run_contracts:
        report.contracts.append(validate_frame("manifest", corpus.all_rows, out_dir))
        if len(probes):
            report.contracts.append(validate_frame("media_probe", probes, out_dir))
    write_csv(probes, out_dir / "media_probe.csv")
    _write(report, accepted)
    return report


def _write(report: ValidationReport, accepted: pd.DataFrame | None) -> None:
    write_csv(report.quarantine, report.out_dir / "quarantine.csv")
    if accepted is not None and len(accepted):
        accepted.to_parquet(report.out_dir / "manifest.parquet", index=False)
    atomic.write_json(report.out_dir / "summary.json", report.summary_dict(), default=str)
