"""Builders used by several tests: small real media files and MMSA-layout corpora."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from clmer.synthetic.video_writer import write_video


def tone(seconds: float, sr: int = 22050, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def moving_frames(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    """Frames whose content encodes their index (a bar that moves), so sampling can be checked."""
    frames = []
    for i in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        x = (i * 3) % w
        img[:, x: x + 4] = 255
        img[0, 0] = i % 256  # index stamped in a corner
        frames.append(img)
    return frames


def small_video(path: Path, seconds: float = 3.0, fps: int = 10, audio: bool = True, video: bool = True, **kw) -> Path:
    frames = moving_frames(int(seconds * fps)) if video else None
    return write_video(path, frames, fps=fps, audio=tone(seconds) if audio else None, **kw)


def write_mmsa(root: Path, rows: list[dict], media_for: set[tuple[str, str]] | None = None, template: Path | None = None) -> Path:
    """label.csv from `rows`; a real mp4 at Raw/<video_id>/<clip_id>.mp4 for each row (or `media_for`)."""
    root.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(root / "label.csv", index=False)
    if template is None:
        template = small_video(root.parent / f"{root.name}_template.mp4", seconds=1.0)
    keys = media_for if media_for is not None else {(str(r["video_id"]), str(r["clip_id"])) for r in rows}
    for vid, cid in keys:
        dest = root / "Raw" / vid / f"{cid}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, dest)
    return root


def sims_rows() -> list[dict]:
    return [
        {"video_id": "v1", "clip_id": "0001", "text": "好", "label": 0.8, "label_T": 1.0, "label_A": 0.6, "label_V": 0.4, "annotation": "Positive", "mode": "train"},
        {"video_id": "v1", "clip_id": "0002", "text": "一般", "label": 0.0, "label_T": 0.0, "label_A": 0.0, "label_V": 0.0, "annotation": "Neutral", "mode": "train"},
        {"video_id": "v2", "clip_id": "0001", "text": "差", "label": -0.6, "label_T": -0.8, "label_A": -0.2, "label_V": -0.6, "annotation": "Negative", "mode": "valid"},
        {"video_id": "v3", "clip_id": "0001", "text": "不错", "label": 0.2, "label_T": 0.2, "label_A": 0.2, "label_V": 0.2, "annotation": "Positive", "mode": "test"},
    ]


def mosei_rows() -> list[dict]:
    return [
        {"video_id": "abc", "clip_id": "1", "text": "great movie", "label": 2.4, "annotation": "Positive", "mode": "train"},
        {"video_id": "abc", "clip_id": "2", "text": "it was fine", "label": 0.333, "annotation": "Neutral", "mode": "train"},
        {"video_id": "def", "clip_id": "1", "text": "awful", "label": -1.667, "annotation": "Negative", "mode": "valid"},
        {"video_id": "ghi", "clip_id": "7", "text": "okay", "label": -0.5, "annotation": "Neutral", "mode": "test"},
    ]
