"""Clips made unlike the training distribution on purpose, for the drift tests and benchmark: white noise mixed
under the audio at a given signal-to-noise ratio, and frames dimmed to a fraction of their brightness.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clmer.synthetic.video_writer import write_video


def read_clip(path: str | Path) -> tuple[list[np.ndarray], int, np.ndarray | None, int]:
    """Every frame (RGB uint8), the frame rate, the mono float audio and its sample rate."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        fps = int(round(float(video.average_rate))) if video is not None and video.average_rate else 10
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)] if video is not None else []
    audio, rate = None, 16000
    with av.open(str(path)) as container:
        if container.streams.audio:
            rate = container.streams.audio[0].rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [r.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for r in resampler.resample(frame)]
            audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return frames, fps, audio, rate


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """`audio` + white noise whose power is the signal's (over the whole clip) / 10^(snr/10), kept in [-1, 1]
    by scaling both together (clipping would add distortion of its own)."""
    power = float(np.mean(audio.astype(np.float64) ** 2)) or 1e-6
    noisy = audio + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=audio.shape)
    peak = float(np.max(np.abs(noisy))) if noisy.size else 0.0
    return (noisy / peak * 0.99 if peak > 0.99 else noisy).astype(np.float32)


def dim(frame: np.ndarray, brightness: float) -> np.ndarray:
    return np.clip(frame.astype(np.float32) * brightness, 0, 255).round().astype(np.uint8)


def shift_clip(src: str | Path, dst: str | Path, snr_db: float | None = 0.0, brightness: float | None = 0.15,
               seed: int = 0) -> Path:
    """Write `src` to `dst` with noise at `snr_db` (None: audio as is) and frames at `brightness` (None: as is)."""
    frames, fps, audio, rate = read_clip(src)
    rng = np.random.default_rng(seed)
    if audio is not None and snr_db is not None:
        audio = add_noise(audio, snr_db, rng)
    if brightness is not None:
        frames = [dim(f, brightness) for f in frames]
    return write_video(dst, frames or None, fps=fps, audio=audio, sample_rate=rate)
