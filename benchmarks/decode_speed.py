"""Decode speed: seconds of wall time per minute of video, CLMER's one-pass GOP-skipping decoder
vs. a full decode of every frame (same audio work), on generated 640x360 H.264 + AAC videos with
dense (every 2 s) and sparse (every 10 s) keyframes.

    python benchmarks/decode_speed.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from clmer.data import media
from clmer.synthetic.video_writer import write_video


def make_video(path: Path, seconds: int, fps: int, gop: int) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)

    def frames():
        for i in range(seconds * fps):
            yield np.roll(base, i * 4, axis=1)  # panning texture: real motion for the encoder

    t = np.arange(seconds * 22050) / 22050
    audio = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(t))).astype(np.float32)
    return write_video(path, frames(), fps=fps, audio=audio, gop=gop)


def full_decode(path: Path) -> int:
    """Reference: decode every video frame and all audio in one pass."""
    import av

    n = 0
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    with av.open(str(path)) as c:
        for frame in c.decode(*c.streams):
            if isinstance(frame, av.AudioFrame):
                resampler.resample(frame)
            else:
                frame.to_ndarray(format="rgb24")  # what a naive sampler converts
                n += 1
    return n


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    minutes = args.seconds / 60
    print(f"{'video':<34} {'clmer s/min':>12} {'full s/min':>11} {'speed-up':>9} {'frames':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, fps, gop in [("25 fps, keyframe every 2 s", 25, 50), ("25 fps, keyframe every 10 s", 25, 250),
                                ("25 fps, keyframe every frame", 25, 1), ("10 fps (demo-like), default GOP", 10, None)]:
            path = make_video(Path(tmp) / f"v{fps}_{gop}.mp4", args.seconds, fps, gop)
            ours = timed(lambda: media.decode(path), args.repeat)
            full = timed(lambda: full_decode(path), args.repeat)
            n = len(media.decode(path).frames)
            print(f"{label:<34} {ours / minutes:>12.3f} {full / minutes:>11.3f} {full / ours:>8.1f}x {n:>7}")


if __name__ == "__main__":
    main()
