"""The hard per-file time limit: a crafted file that keeps the decoder busy is stopped at the limit
and fails alone; the next file decodes in a fresh child; a concat playlist that would hang on a
FIFO is refused before it opens anything."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from clmer.data import media
from clmer.data.decode_worker import DecodeWorker
from clmer.data.files import open_input
from tests.helpers import small_video


def decoder_bomb(path: Path, size: int = 2 * 1024**3) -> Path:
    """16 bytes of AVI header, then a sparse run of zeros (no disk used): FFmpeg's AVI demuxer scans
    it eight bytes at a time, about 30 s per GB on a loaded 2-core machine."""
    with open(path, "wb") as fh:
        fh.write(b"RIFF\xff\xff\xff\x7fAVI LIST")
        fh.truncate(size)
    return path


def _decode(worker: DecodeWorker, path: Path, limit: float):
    fd = open_input(path)
    try:
        return worker.decode(fd, path.name, limit)
    finally:
        os.close(fd)


def test_a_file_that_hangs_the_decoder_fails_alone_within_the_limit(tmp_path):
    bomb = decoder_bomb(tmp_path / "bomb.avi")
    good = small_video(tmp_path / "good.mp4", seconds=1.0)
    with DecodeWorker() as worker:
        assert len(_decode(worker, good, 30).frames) > 0
        start = time.perf_counter()
        with pytest.raises(media.LimitExceededError, match="time limit of 1.5 s"):
            _decode(worker, bomb, 1.5)
        took = time.perf_counter() - start
        assert 1.5 <= took < 4.0, took  # stopped at the limit (plus the kill), not when the decoder gave up
        again = _decode(worker, good, 30)  # the next file: a fresh child, same results
        assert len(again.frames) > 0 and again.path == "good.mp4"
        assert worker.started == 2


def test_errors_name_the_file_not_the_descriptor(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 20)
    with DecodeWorker() as worker, pytest.raises(media.NotMediaError) as exc:
        _decode(worker, bad, 30)
    assert exc.value.path == "notes.mp4" and "/fd/" not in exc.value.reason


def test_playlists_that_open_other_files_are_refused(tmp_path):
    """An ffconcat file named .mp4 beside a FIFO hung FFmpeg forever (and could read other files)."""
    os.mkfifo(tmp_path / "fifo")
    playlist = tmp_path / "playlist.mp4"
    playlist.write_text("ffconcat version 1.0\nfile fifo\n")
    start = time.perf_counter()
    with DecodeWorker() as worker, pytest.raises(media.NotMediaError):
        _decode(worker, playlist, 20)
    assert time.perf_counter() - start < 10
