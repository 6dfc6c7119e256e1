"""The decoder on every container we promise and on each kind of broken file (all built here)."""

import struct

import numpy as np
import pytest

from clmer.data import media
from clmer.synthetic.video_writer import write_video
from tests.helpers import moving_frames, small_video, tone


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".webm", ".mov", ".avi"])
def test_containers_decode_in_one_pass(tmp_path, ext):
    path = small_video(tmp_path / f"clip{ext}", seconds=5.0)
    d = media.decode(path)
    assert d.sample_rate == 16000 and d.audio.dtype == np.float32
    assert abs(d.audio_seconds - 5.0) < 0.2
    assert np.abs(d.audio).max() <= 1.0 and np.abs(d.audio).max() > 0.1
    assert d.frame_times == [0.0, 2.0, 4.0]
    assert all(f.dtype == np.uint8 and f.shape == (64, 96, 3) for f in d.frames)
    assert d.missing == [] and d.warnings == []
    p = media.probe(path)
    assert p.has_video and p.has_audio and p.width == 96 and p.height == 64
    assert p.fps == pytest.approx(10, rel=0.01) and p.duration_s == pytest.approx(5.0, abs=0.2)


def test_configurable_interval_and_downscale(tmp_path):
    path = write_video(tmp_path / "big.mp4", [np.zeros((480, 640, 3), np.uint8)] * 30, fps=10)
    d = media.decode(path, frame_interval_s=0.5, frame_max_side=160)
    assert d.frame_times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert d.frames[0].shape == (120, 160, 3)
    assert d.missing == ["audio"]


@pytest.mark.parametrize("gop", [1, 5, 250])
def test_gop_skipping_picks_the_same_frames_as_a_full_decode(tmp_path, gop):
    import av

    path = write_video(tmp_path / f"g{gop}.mp4", moving_frames(200), fps=25, gop=gop)
    d = media.decode(path, frame_interval_s=2.0)
    # Reference: decode every frame and take the first at or after each target.
    with av.open(str(path)) as c:
        all_frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    expected = []
    for target in np.arange(0, 8.0, 2.0):
        t, img = next((t, img) for t, img in all_frames if t >= target - 1e-6)
        expected.append((round(t, 3), img))
    assert d.frame_times == [t for t, _ in expected]
    for got, (_, want) in zip(d.frames, expected):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 3  # same frame (lossy codec)


def test_unicode_and_spaces_in_names(tmp_path):
    path = small_video(tmp_path / "视频 clip, 'q' =1.mp4", seconds=2.0)
    assert media.decode(path).frame_times == [0.0]


def test_audio_only_and_video_only_are_flagged_not_fatal(tmp_path):
    a = write_video(tmp_path / "audio_only.mp4", None, audio=tone(3.0))
    v = write_video(tmp_path / "video_only.mp4", moving_frames(30), fps=10)
    da, dv = media.decode(a), media.decode(v)
    assert da.missing == ["video"] and da.frames == [] and da.audio_seconds > 2.5
    assert dv.missing == ["audio"] and len(dv.frames) == 2 and dv.audio.size == 0
    assert media.probe(a).has_video is False


def _zero_duration_wav_named_mp4(path):
    header = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", 0))
    return path


@pytest.mark.parametrize("kind, make, error", [
    ("zero-byte", lambda p: p.write_bytes(b""), media.EmptyFileError),
    ("random bytes", lambda p: p.write_bytes(np.random.default_rng(0).bytes(50_000)), media.NotMediaError),
    ("text file", lambda p: p.write_text("this is not a video\n" * 100), media.NotMediaError),
    ("zero duration", _zero_duration_wav_named_mp4, media.ZeroDurationError),
])
def test_broken_files_raise_typed_errors_naming_the_file(tmp_path, kind, make, error):
    path = tmp_path / "broken.mp4"
    make(path)
    with pytest.raises(error) as exc:
        media.decode(path)
    assert str(path) in str(exc.value) and exc.value.reason


def test_missing_file(tmp_path):
    with pytest.raises(media.FileMissingError, match="does not exist"):
        media.decode(tmp_path / "nope.mp4")


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_truncated_mp4_family_raises(tmp_path, ext):
    full = small_video(tmp_path / f"full{ext}", seconds=4.0).read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(media.TruncatedMediaError, match="truncated or corrupt"):
        media.decode(cut)


@pytest.mark.parametrize("ext", [".mkv", ".webm"])
def test_truncated_streaming_containers_decode_what_is_there_with_a_warning(tmp_path, ext):
    full = small_video(tmp_path / f"full{ext}", seconds=4.0).read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(full[: int(len(full) * 0.4)])
    d = media.decode(cut)
    assert any(w.startswith("truncated") for w in d.warnings)
    assert 0 < d.audio_seconds < 3.0


def test_limits(tmp_path):
    path = small_video(tmp_path / "c.mp4", seconds=3.0)
    with pytest.raises(media.LimitExceededError, match="over the limit"):
        media.decode(path, max_bytes=100)
    with pytest.raises(media.LimitExceededError, match="duration"):
        media.decode(path, max_duration_s=1.0)


def test_rotation_from_the_display_matrix_is_applied(tmp_path):
    from tests.zoo import _rotate_mp4

    img = np.zeros((60, 100, 3), np.uint8)
    img[:, :20] = 255  # a white band on the left
    src = write_video(tmp_path / "upright.mp4", [img] * 10, fps=10)
    _rotate_mp4(src, tmp_path / "rotated.mp4")  # display: turn 90 degrees clockwise
    frame = media.decode(tmp_path / "rotated.mp4").frames[0]
    assert frame.shape == (100, 60, 3)  # portrait now
    assert frame[:15].mean() > 200 and frame[-15:].mean() < 30  # the left band is on top


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".avi"])
def test_a_decode_reads_the_file_once_and_hashes_the_bytes_it_decoded(tmp_path, ext):
    """An mp4 keeps its index at the end: the demuxer reads to the end, then from the start again.
    The reader's block cache serves the second look, so the file is read once, and its hash rides on
    the decode (it covers the whole file, whatever order the decoder asked in)."""
    import hashlib

    path = small_video(tmp_path / f"clip{ext}", seconds=4.0)
    d = media.decode(path)
    assert d.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert d.bytes_read == path.stat().st_size


def test_the_reader_hashes_the_whole_file_whatever_the_reads_and_counts_them(tmp_path):
    import hashlib
    import os

    from clmer.data.files import MediaReader, sha256_fd

    data = np.random.default_rng(1).bytes(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        r = MediaReader(fd, block=1024, cache_blocks=3)  # small: blocks are evicted and fetched again
        rng = np.random.default_rng(2)
        for _ in range(40):  # seeks back and forth, as a demuxer does
            r.seek(int(rng.integers(0, len(data))))
            chunk = r.read(int(rng.integers(1, 3000)))
            assert chunk == data[r.tell() - len(chunk): r.tell()]
        assert r.hexdigest() == hashlib.sha256(data).hexdigest()
        assert r.bytes_read >= len(data)  # every block at least once, for the hash
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # pread only: the descriptor's offset never moves
        front_to_back = MediaReader(fd, block=1024)
        assert front_to_back.read() == data and front_to_back.hexdigest() == hashlib.sha256(data).hexdigest()
        assert front_to_back.bytes_read == len(data)  # read once, hashed on the way
        assert sha256_fd(fd) == (hashlib.sha256(data).hexdigest(), len(data))
    finally:
        os.close(fd)
