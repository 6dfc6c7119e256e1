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


def synthetic_feature_set(n: int = 120, seed: int = 0, languages=("zh", "en"), d: int = 8, mode: str = "train"):
    """A FeatureSet of made-up stored features where every modality carries the label (a class-dependent
    mean) so a model can learn; two clips per video id; per-language offsets, as a real language shift."""
    from clmer.model.dataset import ClipFeatures, FeatureSet

    rng = np.random.default_rng(seed)
    clips, rows = [], []
    for i in range(n):
        y = i % 3
        lang = languages[(i // 6) % len(languages)]
        shift = 0.5 if lang == "en" else -0.5
        seq = {m: (rng.normal(0, 1, (6, d)) + (y - 1) * 1.5 + shift).astype(np.float32) for m in ("text", "audio", "vision")}
        extra = {"text": np.zeros(0, np.float32), "audio": rng.normal(y - 1, 1, 4).astype(np.float32),
                 "vision": np.zeros(0, np.float32)}
        times = {"audio": np.arange(6, dtype=np.float32) * 0.1, "vision": np.arange(6, dtype=np.float32) * 0.5}
        clips.append(ClipFeatures(seq=seq, extra=extra, present=np.ones(3, bool), times=times))
        rows.append({"clip": f"v{i // 2:03d}/{i % 2}", "video_id": f"v{i // 2:03d}", "language": lang, "class_index": y,
                     "label": (y - 1) * 0.6, "label_norm": (y - 1) * 0.6, "label_T": np.nan, "label_A": np.nan,
                     "label_V": np.nan, "mode": mode, "variant": "all", "flavour": "chsims2", "transcript": "",
                     "path": f"v{i}.mp4"})
    return FeatureSet(clips, pd.DataFrame(rows), {"text": (d, 0), "audio": (d, 4), "vision": (d, 0)})
