"""Drops that a hostile or careless folder cannot break (issue 15): links, FIFOs, swaps, output
folders inside the drop, names that look like formulas or hold newlines, several spellings of one
folder, S3 keys that collide, overwritten objects, a crash between the tables and the marker.

Planning and publishing need no model: a scorer whose extraction fails every file stands in."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from clmer.config import load_settings
from clmer.features.extract import ClipExtraction, ClipJob, extract_one
from clmer.features.feature_store import FeatureStore
from clmer.serving.drop_scoring import plan, publish, score_chunk
from clmer.serving.drops import LocalDrop, ProcessedLog, listing_digest
from clmer.serving.scoring import Scorer
from tests.helpers import small_video


class FailingScorer:
    """Extraction fails every file (as a broken video would): records without any model, made by the
    scorer's own record stage."""

    model_version = "test"
    store = None
    model_info = staticmethod(dict)
    record = Scorer.record

    def score(self, jobs: list[ClipJob], names, frames: bool = True, progress=None):
        for job, name in zip(jobs, names):
            failed = ClipExtraction(clip=job.clip, path=job.path, status="failed", error=f"{job.label}: not decodable")
            yield self.record(failed, name)


class DecodingScorer(FailingScorer):
    """Opens and decodes every file through extraction's own stages (the one read, hashing on the way),
    then fails it: there is no model here."""

    def score(self, jobs: list[ClipJob], names, frames: bool = True, progress=None):
        from clmer.data.decode_worker import DecodeWorker
        from clmer.features.extract import ClipPass, close_stage, decode_stage, open_stage

        settings = load_settings()
        with DecodeWorker() as worker:
            for job, name in zip(jobs, names):
                p = ClipPass.of(job)
                open_stage(p, settings)
                decode_stage(p, settings, worker)
                close_stage(p)
                p.fail("no model here")
                yield self.record(p.result, name, p.bytes_read)


@pytest.fixture
def settings():
    return load_settings()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return small_video(tmp_path_factory.mktemp("clip") / "good.mp4", seconds=1.0)


def run(drop, out: Path, settings, check_contract: bool = False, scorer=None) -> dict:
    """plan -> score_chunk -> publish, as `clmer score` does, with the failing scorer."""
    p = plan(str(drop), out, settings)
    chunk = score_chunk(p.todo, scorer or FailingScorer(), out, html=False)
    return publish(p, [chunk], out, "test", check_contract=check_contract) | {"plan": p}


def table(out: Path, name: str = "Test_Results/combined_results.csv") -> pd.DataFrame:
    from clmer.data.safe_csv import read_csv

    return read_csv(out / name)


def by_rel(p) -> dict:
    return {i.rel: i for i in p.todo}


def test_symlink_loop_is_a_failed_row_and_the_good_clip_is_planned(tmp_path, clip, settings):  # row 1
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(clip, drop / "good.mp4")
    os.symlink("loop.mp4", drop / "loop.mp4")
    items = by_rel(plan(str(drop), tmp_path / "out", settings))
    assert items["loop.mp4"].error.startswith("refused") and "symbolic link" in items["loop.mp4"].error
    assert items["good.mp4"].error is None
    assert items["good.mp4"].sha256 is None  # a new file is not read at planning: its decode hashes it


def test_fifo_and_device_links_are_never_opened(tmp_path, clip, settings):  # row 2
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(clip, drop / "good.mp4")
    os.mkfifo(drop / "fifo.mp4")  # opening it for reading would block forever
    os.symlink("/dev/zero", drop / "zero.mp4")  # hashing it would never end
    if os.geteuid() == 0:
        import stat

        os.mknod(drop / "null.mp4", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    start = time.perf_counter()
    items = by_rel(plan(str(drop), tmp_path / "out", settings))
    assert time.perf_counter() - start < 10
    assert "FIFO" in items["fifo.mp4"].error and "symbolic link" in items["zero.mp4"].error
    if os.geteuid() == 0:
        assert "character device" in items["null.mp4"].error
    assert all(i.error.startswith("refused") for r, i in items.items() if r != "good.mp4")
    assert items["good.mp4"].error is None


def test_file_swapped_for_an_outside_link_after_planning_is_refused(tmp_path, clip, settings):  # row 3
    drop, outside = tmp_path / "drop", tmp_path / "outside"
    drop.mkdir()
    outside.mkdir()
    shutil.copy(clip, drop / "a.mp4")
    shutil.copy(clip, outside / "secret.mp4")
    item = by_rel(plan(str(drop), tmp_path / "out", settings))["a.mp4"]
    (drop / "a.mp4").unlink()
    os.symlink(outside / "secret.mp4", drop / "a.mp4")  # the swap, between plan and scoring
    res = extract_one(ClipJob(clip=item.rel, path=item.path, root=item.root), settings, FeatureStore(tmp_path / "fs"))
    assert res.status == "failed" and "refused" in res.error and "symbolic link" in res.error
    assert res.sha256 is None  # nothing was read
    # A link on the way (a folder swapped for a link) is refused too.
    (drop / "sub").mkdir()
    shutil.copy(clip, drop / "sub" / "b.mp4")
    job = ClipJob(clip="sub/b.mp4", path=str(drop / "sub" / "b.mp4"), root=str(drop))
    shutil.rmtree(drop / "sub")
    os.symlink(outside, drop / "sub")
    (outside / "b.mp4").write_bytes(clip.read_bytes())
    res = extract_one(job, settings, FeatureStore(tmp_path / "fs"))
    assert res.status == "failed" and "refused" in res.error


def test_output_folder_inside_the_drop_is_not_part_of_it(tmp_path, clip, settings):  # row 4
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(clip, drop / "a.mp4")
    (drop / "a.mp4.part").write_bytes(b"still downloading")
    first = run(drop, drop, settings)  # outputs written into the drop itself
    assert [i.rel for i in first["plan"].todo] == ["a.mp4"]
    listing = listing_digest(LocalDrop(drop).list())
    second = run(drop, drop, settings)
    assert second["scored"] == 0 and second["skipped"] == 1  # nothing new: outputs are not inputs
    assert listing_digest(LocalDrop(drop).list()) == listing  # the watcher sees no change either
    nested = drop / "results"
    run(drop, nested, settings)
    assert [f.rel for f in LocalDrop(drop, exclude=[nested]).list()] == ["a.mp4"]


def test_formula_name_whose_content_changes_keeps_one_row(tmp_path, clip, settings):  # row 5
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    for i in range(3):
        (drop / "'=q.mp4").write_bytes(clip.read_bytes() + bytes([i]))  # new content each time
        run(drop, out, settings, check_contract=(i == 2))
    rows = table(out)
    assert rows["file"].tolist() == ["'=q.mp4"]  # read back exactly, one row
    assert "''=q.mp4" in (out / "Test_Results" / "combined_results.csv").read_text()


def test_one_folder_spelled_three_ways_is_one_drop(tmp_path, clip, settings, monkeypatch):  # row 6
    d = tmp_path / "d"
    d.mkdir()
    shutil.copy(clip, d / "x.mp4")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    out = tmp_path / "out"
    first = run(str(d), out, settings)
    second = run("../d", out, settings)
    third = run("../d/x.mp4", out, settings)
    assert first["scored"] == 1 and second["scored"] == 0 and third["scored"] == 0
    assert len(table(out)) == 1
    assert len(ProcessedLog(out).entries) == 1


def test_names_with_newlines_and_tabs_cannot_split_the_log(tmp_path, clip, settings):  # row 14
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    shutil.copy(clip, drop / "two\nlines\tand tab.mp4")
    shutil.copy(clip, drop / "plain.mp4")
    run(drop, out, settings)
    lines = (out / "Test_Supplements" / "transcription_log.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and any("two\\nlines\\tand tab.mp4" in line for line in lines)
    assert all(len(line.split("\t")) >= 3 for line in lines)
    assert set(table(out)["file"]) == {"two\nlines\tand tab.mp4", "plain.mp4"}


def test_redo_after_a_kill_between_tables_and_marker_does_not_double_the_log(tmp_path, clip, settings):  # row 15
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(clip, drop / name)
    p = plan(str(drop), out, settings)
    chunk = score_chunk(p.todo, FailingScorer(), out, html=False)
    publish(p, [chunk], out, "test", check_contract=False)
    (out / "Test_Results" / ".clmer_processed.json").unlink()  # as if killed before the marker
    run(drop, out, settings)  # the redo
    run(drop, out, settings)  # and a run with nothing to do
    log = (out / "Test_Supplements" / "transcription_log.txt").read_text(encoding="utf-8").splitlines()
    assert len(log) == 2 and len(table(out)) == 2 and len(table(out, "Test_Supplements/transcription_results.csv")) == 2


def test_s3_keys_that_spell_one_path_twice_are_refused_not_merged(moto_s3, tmp_path, settings):  # row 9
    import boto3

    s3 = boto3.client("s3")
    for key, body in [("k9/sub//b.mp4", b"B1"), ("k9/sub/b.mp4", b"B2"), ("k9/./c.mp4", b"C1"), ("k9/c.mp4", b"C2")]:
        s3.put_object(Bucket="clmer-test", Key=key, Body=body)
    items = by_rel(plan("s3://clmer-test/k9", tmp_path / "out", settings))
    assert items["sub//b.mp4"].error.startswith("refused") and items["./c.mp4"].error.startswith("refused")
    assert Path(items["sub/b.mp4"].path).read_bytes() == b"B2" and Path(items["c.mp4"].path).read_bytes() == b"C2"
    assert items["sub/b.mp4"].path != items["c.mp4"].path


def test_s3_object_overwritten_is_fetched_again_and_staging_is_cleaned(moto_s3, tmp_path, clip, settings):  # row 10
    import boto3

    s3 = boto3.client("s3")
    out = tmp_path / "out"
    s3.put_object(Bucket="clmer-test", Key="k10/a.mp4", Body=clip.read_bytes())
    first = run("s3://clmer-test/k10", out, settings)
    s3.put_object(Bucket="clmer-test", Key="k10/a.mp4", Body=clip.read_bytes() + b"new")  # new ETag
    second = run("s3://clmer-test/k10", out, settings)
    assert first["scored"] == 1 and second["scored"] == 1
    assert first["plan"].todo[0].sha256 != second["plan"].todo[0].sha256
    staged = [p for p in (out / "Test_Results" / ".staging").rglob("*") if p.is_file()]
    assert staged == []  # each plan's copies go once it has published


def test_a_subfolder_that_cannot_be_listed_is_a_failed_row_not_silence(tmp_path, clip, settings, monkeypatch):
    """(Root reads any folder, so the refusal is simulated at os.scandir.)"""
    from clmer.data import files

    drop = tmp_path / "drop"
    (drop / "locked").mkdir(parents=True)
    shutil.copy(clip, drop / "good.mp4")
    shutil.copy(clip, drop / "locked" / "hidden.mp4")
    real = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(files.os, "scandir", scandir)
    out = run(drop, tmp_path / "out", settings)
    rows = table(tmp_path / "out").set_index("file")
    assert "locked" in rows.index and rows.loc["locked", "status"] == "failed"
    assert "cannot be listed" in rows.loc["locked", "error"] and "not scored" in rows.loc["locked", "error"]
    assert "good.mp4" in rows.index and out["scored"] == 2


def test_planning_reads_no_new_file_and_a_touched_file_is_skipped_only_if_its_bytes_are_the_same(
        tmp_path, clip, settings, monkeypatch):
    """A new file's one read is its decode (which hashes it), never the plan. A file listed as it was
    scored is skipped unread; a touched one is hashed: the same bytes are skipped, new bytes scored."""
    from clmer.data import files

    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    shutil.copy(clip, drop / "a.mp4")
    read = []  # what this process reads (the decoding child reports its own reads in the record)
    real = files.os.pread
    monkeypatch.setattr(files.os, "pread", lambda fd, n, off: read.append(len(data := real(fd, n, off))) or data)
    size = clip.stat().st_size
    first = run(drop, out, settings, scorer=DecodingScorer())
    assert first["scored"] == 1 and read == []  # planned and published without reading it here
    assert ProcessedLog(out).entry(first["plan"].drop, "a.mp4")["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert run(drop, out, settings, scorer=DecodingScorer())["skipped"] == 1 and read == []  # unchanged: not read
    os.utime(drop / "a.mp4", ns=(time.time_ns(), time.time_ns()))  # touched, same bytes
    touched = run(drop, out, settings, scorer=DecodingScorer())
    assert touched["skipped"] == 1 and touched["scored"] == 0 and sum(read) == size  # hashed once, here
    changed = bytearray(clip.read_bytes())
    changed[-1] ^= 0xFF  # same size, other bytes
    (drop / "a.mp4").write_bytes(bytes(changed))
    assert run(drop, out, settings, scorer=DecodingScorer())["scored"] == 1
