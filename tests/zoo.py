"""The bad-input zoo: every kind of awkward file a drop can hold, built here with PyAV."""

from __future__ import annotations

import os
import shutil
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from clmer.synthetic.video_writer import write_video
from tests.helpers import moving_frames, tone

# kind -> (relative path in the drop, expected status)  (None: any of ok/partial, i.e. scored)
EXPECTED: dict[str, tuple[str, str | None]] = {}


def _kind(name: str, rel: str, status: str | None):
    def register(fn):
        EXPECTED[name] = (rel, status)
        fn.kind = name
        fn.rel = rel
        return fn
    return register


def _rotate_mp4(src: Path, dest: Path) -> None:
    """Write a display matrix that turns the picture 90 degrees clockwise into the first track."""
    data = bytearray(src.read_bytes())
    box = data.find(b"tkhd") - 4
    data[box + 48: box + 84] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    dest.write_bytes(bytes(data))


def _long_video(path: Path, seconds: int = 1800) -> None:
    """30 min, cheaply: 16x16 px at 1 fps and uncompressed 8 kHz silence in Matroska."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=1)
        v.width = v.height = 16
        v.pix_fmt = "yuv420p"
        v.options = {"preset": "ultrafast"}
        a = out.add_stream("pcm_s16le", rate=8000)
        a.layout = "mono"
        img = np.zeros((16, 16, 3), np.uint8)
        for i in range(seconds):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 1)
            for pk in v.encode(f):
                out.mux(pk)
            af = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
            af.sample_rate, af.pts, af.time_base = 8000, i * 8000, Fraction(1, 8000)
            for pk in a.encode(af):
                out.mux(pk)
        for s in (v, a):
            for pk in s.encode():
                out.mux(pk)


def _vfr(path: Path) -> None:
    """Variable frame rate: frame gaps of 0.04 s to 1.5 s."""
    import av

    gaps = [0.04] * 20 + [1.5, 0.1, 0.7, 0.04, 1.2] + [0.04] * 20
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        t = 0.0
        for i, gap in enumerate(gaps):
            f = av.VideoFrame.from_ndarray(moving_frames(1, 48, 64)[0], format="rgb24")
            f.pts, f.time_base = int(t * 1000), Fraction(1, 1000)
            for pk in v.encode(f):
                out.mux(pk)
            t += gap
        for pk in v.encode():
            out.mux(pk)


def build(drop: Path, good_clip: Path, outside: Path, long_video: bool = True) -> dict[str, tuple[str, str | None]]:
    """Fill `drop` with the zoo (+ `good_clip` copies); `outside` is a folder beside the drop."""
    drop.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, tuple[str, str | None]] = {}

    def put(kind: str, rel: str, status: str | None, make) -> None:
        path = drop / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
        kinds[kind] = (rel, status)

    put("good clip", "good_1.mp4", None, lambda p: shutil.copy(good_clip, p))
    put("zero-byte file", "empty.mp4", "failed", lambda p: p.write_bytes(b""))
    put("truncated mp4", "truncated.mp4", "failed", lambda p: p.write_bytes(good_clip.read_bytes()[: good_clip.stat().st_size // 2]))
    put("random bytes named .mp4", "random.mp4", "failed", lambda p: p.write_bytes(np.random.default_rng(1).bytes(20000)))
    put("text file named .mp4", "notes.mp4", "failed", lambda p: p.write_text("definitely not a video\n" * 50))
    put("audio-only file", "audio_only.mp4", "partial", lambda p: write_video(p, None, audio=tone(3.0)))
    put("video without audio track", "video_only.mp4", "partial", lambda p: write_video(p, moving_frames(30), fps=10))
    put("silent audio", "silent.mp4", None,
        lambda p: write_video(p, moving_frames(30), fps=10, audio=np.zeros(22050 * 3, np.float32)))
    put("0.2 s clip", "short.mp4", None, lambda p: write_video(p, moving_frames(2), fps=10, audio=tone(0.2)))
    put("1-frame video", "one_frame.mp4", "partial", lambda p: write_video(p, moving_frames(1), fps=10))
    if long_video:
        put("very long video (30 min)", "long_30min.mkv", None, _long_video)
    put("variable frame rate", "vfr.mp4", "partial", _vfr)
    put("1x1 pixels", "tiny_1x1.mkv", None,
        lambda p: write_video(p, [np.full((1, 1, 3), 128, np.uint8)] * 10, fps=10, audio=tone(1.0),
                              video_codec="libx264", pix_fmt="yuv444p"))
    put("4K frames", "uhd_4k.mp4", None,
        lambda p: write_video(p, [np.full((2160, 3840, 3), 90, np.uint8)] * 3, fps=1, audio=tone(3.0)))
    put("rotated video", "rotated.mp4", None, lambda p: _rotate_mp4(good_clip, p))
    for ext in (".webm", ".mkv", ".mov", ".avi"):
        put(f"{ext[1:]} container", f"container{ext}", None,
            lambda p: write_video(p, moving_frames(25), fps=10, audio=tone(2.5)))
    put("unicode, spaces, commas, quotes, leading = in the name", "=cmd, 视频 'quoted' \"x\".mp4", None,
        lambda p: shutil.copy(good_clip, p))
    put("deeply nested folder", "/".join(f"level{i}" for i in range(12)) + "/deep.mp4", None,
        lambda p: shutil.copy(good_clip, p))
    put("non-video file in the drop", "readme.txt", "failed", lambda p: p.write_text("hello"))
    # Hidden files and files still being downloaded are not listed at all.
    (drop / ".hidden.mp4").write_bytes(good_clip.read_bytes())
    (drop / "arriving.mp4.part").write_bytes(good_clip.read_bytes()[:1000])
    (drop / ".cache").mkdir(exist_ok=True)
    (drop / ".cache" / "x.mp4").write_bytes(good_clip.read_bytes())
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.mp4"
    shutil.copy(good_clip, secret)
    put("symlink pointing outside the drop", "escape.mp4", "failed", lambda p: os.symlink(secret, p))
    _hostile(put, good_clip)
    return kinds


def decoder_bomb(path: Path, size: int = 2 * 1024**3) -> None:
    """An AVI header and then a sparse run of zeros (no disk used): FFmpeg's AVI demuxer scans it
    eight bytes at a time, about 30 s per GB on a loaded 2-core machine: it would hold a scorer for
    a minute or more without the hard per-file time limit."""
    with open(path, "wb") as fh:
        fh.write(b"RIFF\xff\xff\xff\x7fAVI LIST")
        fh.truncate(size)


def _hostile(put, good_clip: Path) -> None:
    """Issue 15: what a red team put in drops. Names that look like formulas to a spreadsheet (after
    it trims and folds full-width forms) and names with line breaks are scored like any file."""
    copy = lambda p: shutil.copy(good_clip, p)  # noqa: E731
    put("symlink loop", "loop.mp4", "failed", lambda p: os.symlink(p.name, p))
    put("FIFO named .mp4", "fifo.mp4", "failed", lambda p: os.mkfifo(p))
    put("link to a character device", "zero.mp4", "failed", lambda p: os.symlink("/dev/zero", p))
    if os.geteuid() == 0:
        import stat

        put("character device named .mp4", "null.mp4", "failed",
            lambda p: os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 3)))
    put("FIFO without a video extension", "pipe", "failed", lambda p: os.mkfifo(p))
    put("ffconcat playlist that opens that FIFO", "playlist.mp4", "failed",
        lambda p: p.write_text("ffconcat version 1.0\nfile pipe\n"))
    put("file that hangs the decoder", "bomb.avi", "failed", decoder_bomb)
    for kind, name in [("leading space then =", " =space.mp4"), ("full-width =", "＝full.mp4"),
                       ("full-width +", "＋plus.mp4"), ("full-width -", "－minus.mp4"), ("full-width @", "＠at.mp4"),
                       ("leading quote then =", "'=q.mp4"), ("newline and tab in the name", "new\nline\tname.mp4")]:
        put(kind, name, None, copy)
    # Issue 30 row 6: names that are markdown links and HTML to the Prefect artifact; scored like any file.
    for kind, name in [("markdown javascript: link as the name", "[win](javascript:alert(1)).mp4"),
                       ("HTML image tag as the name", "<img src=x onerror=alert(1)>.mp4"),
                       ("backticks in the name", "a`b``c.mp4")]:
        put(kind, name, None, copy)
