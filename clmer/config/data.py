"""Where things live, how media is decoded, and the per-file limits."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from clmer.config.base import _Section, _default_home


class PathsConfig(_Section):
    home: Path = Field(
        default_factory=lambda: Path(os.environ.get("CLMER_HOME") or _default_home()),
        description="CLMER's per-user home; the model store lives under it unless model_store is set. "
        "Env: CLMER_HOME.",
    )
    model_store: Path | None = Field(
        default_factory=lambda: Path(p) if (p := os.environ.get("CLMER_MODEL_STORE")) else None,
        description="Directory that holds one sub-directory per pulled or built model. "
        "Default: <home>/models. Env: CLMER_MODEL_STORE.",
    )
    feature_store: str = Field(
        default_factory=lambda: os.environ.get("CLMER_FEATURE_STORE", "clmer_data/features"),
        description="Feature store location: a local directory, or s3://bucket/prefix. "
        "Env: CLMER_FEATURE_STORE.",
    )
    external_media: list[str] = Field(
        default_factory=lambda: [p for p in os.environ.get("CLMER_EXTERNAL_MEDIA", "").split(os.pathsep) if p],
        description="Folders outside a corpus that its Raw/ folder or clips may link into (for media kept "
        "elsewhere). Empty: such links are refused, so a corpus cannot make CLMER read outside it. "
        "Env: CLMER_EXTERNAL_MEDIA (':'-separated), which every command honours.",
    )
    runs: Path = Field(
        default=Path("clmer_data/runs"),
        description="Where each command writes its run folder (validation reports, checkpoints, tables).",
    )

    def resolved_model_store(self) -> Path:
        return Path(self.model_store) if self.model_store else Path(self.home) / "models"


class MediaConfig(_Section):
    sample_rate: int = Field(16000, description="Audio is decoded to mono float32 at this rate (Hz); every "
                             "audio model reads this one setting.")
    frame_interval_s: float = Field(2.0, gt=0, description="Seconds between sampled video frames on long clips.")
    dense_frame_interval_s: float = Field(
        0.5, gt=0, description="Seconds between sampled frames on clips up to dense_max_duration_s: explanations "
        "need enough candidate key frames, and the model pools frames so it reads any count.")
    dense_max_duration_s: float = Field(
        60.0, ge=0, description="Clips up to this long are sampled at dense_frame_interval_s (0 = never).")
    frame_max_side: int = Field(
        320, ge=32, description="Sampled frames are downscaled so their longer side is at most this "
        "(bounds memory on long or 4K video; SigLIP reads 224x224 anyway)."
    )
    max_frames: int = Field(
        1800, ge=1, description="Never keep more than this many frames per file (1 h at 2 s)."
    )


class LimitsConfig(_Section):
    max_file_bytes: int = Field(4 * 1024**3, description="Files larger than this fail with a clear error.")
    max_duration_s: float = Field(3 * 3600.0, description="Media longer than this fails cleanly.")
    per_file_timeout_s: float = Field(
        900.0, description="Wall-clock budget for one file's decoding and extraction (checked between stages)."
    )
    decode_timeout_s: float = Field(
        300.0, gt=0, description="Hard limit on decoding (or probing) one file: the decoder runs in a child process "
        "that is killed at this limit, or at what is left of per_file_timeout_s if less, and the file fails alone.")
