"""Drops: readiness, once-per-drop, processed markers, hostile keys and names."""

import boto3
import pytest

from clmer.data.files import RefusedInput
from clmer.serving.drops import LocalDrop, ProcessedLog, S3Drop, Settler
from clmer.serving.drop_scoring import output_stem


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_file_still_being_written_keeps_the_drop_unready(tmp_path):
    clock = FakeClock()
    settler = Settler(5.0, clock=clock)
    drop = LocalDrop(tmp_path)
    f = tmp_path / "growing.mp4"
    f.write_bytes(b"x" * 100)
    assert not settler.observe(drop.list())
    for i in range(5):  # the writer keeps appending: never ready
        clock.t += 3
        with open(f, "ab") as fh:
            fh.write(b"y" * 100)
        assert not settler.observe(drop.list())
    clock.t += 3
    assert not settler.observe(drop.list())  # stopped growing 3 s ago
    clock.t += 3
    assert settler.observe(drop.list())  # unchanged for 6 s >= 5 s: ready


def test_empty_drop_is_never_ready(tmp_path):
    clock = FakeClock()
    settler = Settler(1.0, clock=clock)
    settler.observe([])
    clock.t += 10
    assert not settler.observe([])


def test_watcher_emits_once_per_settled_listing(tmp_path):
    from flows.watcher import Watcher

    events = []
    folder = tmp_path / "Test_Data"
    folder.mkdir()
    w = Watcher([str(folder)], 0.0, tmp_path / "state.json", emit=lambda uri, digest, n: events.append((uri, digest)))
    (folder / "a.mp4").write_bytes(b"1")
    for _ in range(4):
        w.poll()
    assert len(events) == 1
    (folder / "b.mp4").write_bytes(b"2")
    for _ in range(4):
        w.poll()
    assert len(events) == 2
    # A restarted watcher remembers what it emitted.
    w2 = Watcher([str(folder)], 0.0, tmp_path / "state.json", emit=lambda *a: events.append(a))
    for _ in range(3):
        w2.poll()
    assert len(events) == 2


def test_processed_log_keeps_each_files_hash_and_listing_stamp(tmp_path):
    log = ProcessedLog(tmp_path)
    log.mark("d", "a.mp4", "h1", "ok", "1", stem="a", stamp="10:123")
    log.commit()
    again = ProcessedLog(tmp_path)
    entry = again.entry("d", "a.mp4")
    assert (entry["sha256"], entry["stamp"], entry["stem"]) == ("h1", "10:123", "a")
    assert again.entry("d", "b.mp4") is None and again.entry("e", "a.mp4") is None


def test_s3_key_with_dotdot_is_refused_and_nothing_written_outside(moto_s3, tmp_path):
    s3 = boto3.client("s3")
    s3.put_object(Bucket="clmer-test", Key="evil/../../escape.mp4", Body=b"data")
    s3.put_object(Bucket="clmer-test", Key="evil/ok.mp4", Body=b"data")
    drop = S3Drop("s3://clmer-test/evil")
    listed = {f.rel: f for f in drop.list()}
    assert "../../escape.mp4" in listed and "ok.mp4" in listed
    staging = tmp_path / "staging"
    with pytest.raises(RefusedInput):
        drop.local_path(listed["../../escape.mp4"], staging)
    path, root = drop.local_path(listed["ok.mp4"], staging)
    assert path.read_bytes() == b"data" and root == staging and path.parent == staging
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_output_stems_are_safe_and_unique():
    taken = {}
    a = output_stem("d", "clip.mp4", taken)
    taken[a] = "d|clip.mp4"
    assert a == "clip"
    assert output_stem("d", "clip.mkv", taken) != "clip"  # same name, other file: hashed
    assert "/" not in output_stem("d", "../../etc/passwd.mp4", {}) and ".." not in output_stem("d", "../x.mp4", {})
    assert output_stem("d", "=cmd, 视频.mp4", {}).startswith("cmd_视频-")


def test_report_names_are_readable_and_stable_for_same_named_clips(tmp_path):
    """`day1/clip.mp4` and `day2/clip.mp4` get names that say which is which, in any order."""
    from clmer.config import load_settings
    from clmer.serving.drop_scoring import plan

    assert output_stem("d", "day1/clip.mp4", {}) == "day1__clip"
    assert output_stem("d", "day2/clip.mp4", {"day1__clip": "d|day1/clip.mp4"}) == "day2__clip"
    assert output_stem("d", "day2/clip.mp4", {}) == "day2__clip"  # the same name whatever came first
    other_drop = output_stem("e", "day1/clip.mp4", {"day1__clip": "d|day1/clip.mp4"})
    assert other_drop.startswith("day1__clip-") and len(other_drop) == len("day1__clip-") + 8

    drop = tmp_path / "Test_Data"
    for folder in ("day2", "day1", "."):
        (drop / folder).mkdir(parents=True, exist_ok=True)
        (drop / folder / "clip.mp4").write_bytes(folder.encode())
    stems = {i.rel: i.stem for i in plan(str(drop), tmp_path / "out", load_settings()).todo}
    assert stems == {"clip.mp4": "clip", "day1/clip.mp4": "day1__clip", "day2/clip.mp4": "day2__clip"}
