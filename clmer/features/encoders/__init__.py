"""Feature extractors on the real backbones, one module per modality. Models load once per process.

Every extractor has a `role`, the `ModelRef` it loaded, a `static_config` (whatever else changes its
output) and `extract(...)` returning a `FeatureRecord`. `MODEL_CALLS` counts forward passes, so a
test can prove that a cached run did no model work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from clmer.config import Settings
    from clmer.features.model_store import ModelRef

MODEL_CALLS: Counter = Counter()
_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


@dataclass
class FeatureRecord:
    extractor: str
    arrays: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    status: str = "ok"  # ok | empty (the modality is absent: no speech, no audio track, no frames)

    @property
    def n_items(self) -> int:
        main = next(iter(self.arrays.values()), None)
        return int(main.shape[0]) if main is not None and main.ndim > 0 else 0

    @property
    def dim(self) -> int:
        main = next(iter(self.arrays.values()), None)
        return int(main.shape[-1]) if main is not None and main.ndim > 0 else 0


@contextlib.contextmanager
def quiet_loading():
    """Silence the banners, INFO logs and progress bars that funasr/transformers print while loading."""
    import logging

    previous = logging.root.manager.disable
    root_level, root_handlers = logging.root.level, list(logging.root.handlers)
    logging.disable(logging.INFO)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        try:
            yield
        finally:
            logging.disable(previous)
            # funasr calls logging.basicConfig(INFO) on load: undo it, or every library logs at INFO
            logging.root.setLevel(root_level)
            for handler in list(logging.root.handlers):
                if handler not in root_handlers:
                    logging.root.removeHandler(handler)


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_device(setting: str) -> str:
    """'auto' takes CUDA when torch sees a GPU, else CPU."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Extractor:
    role: str = ""

    def __init__(self, ref: "ModelRef", settings: "Settings", device: str):
        self.ref = ref
        self.settings = settings
        self.device = device
        self.lock = threading.Lock()  # one forward pass at a time per model (thread runners)

    @classmethod
    def static_config(cls, settings: "Settings", device: str) -> dict:
        """Everything besides the model and the video that changes this extractor's output."""
        return {}


def model_ref(role: str, settings: "Settings") -> "ModelRef":
    """Resolve the configured model for `role` in the store (cheap: reads no weights)."""
    from clmer.features.model_store import ModelStore, default_names

    name = getattr(settings.models, role) or default_names(settings.models.profile)[role]
    return ModelStore(settings.paths.resolved_model_store()).resolve(name, role)


def identity(role: str, settings: "Settings", extra: dict | None = None) -> dict:
    """Feature-store key material for `role`, computed without loading the model."""
    ref = model_ref(role, settings)
    cfg = _CLASSES[role]().static_config(settings, resolve_device(settings.models.device)) | (extra or {})
    return {"extractor": role, "model": ref.name, "revision": ref.revision, "config_hash": config_hash(cfg)}


def get_extractor(role: str, settings: "Settings") -> Extractor:
    """The extractor for `role` under `settings`, loaded once per process and reused."""
    from clmer.features.model_store import offline_env

    offline_env()
    ref = model_ref(role, settings)
    device = resolve_device(settings.models.device)
    key = (role, str(ref.path), ref.revision, device, settings.models.model_dump_json(), settings.extract.model_dump_json())
    with _cache_lock:
        if key not in _cache:
            with quiet_loading():
                _cache[key] = _CLASSES[role]()(ref, settings, device)
        return _cache[key]


def _asr():
    from clmer.features.encoders.asr import AsrExtractor

    return AsrExtractor


def _text():
    from clmer.features.encoders.text import TextExtractor

    return TextExtractor


def _audio():
    from clmer.features.encoders.audio import AudioExtractor

    return AudioExtractor


def _vision():
    from clmer.features.encoders.vision import VisionExtractor

    return VisionExtractor


_CLASSES = {"asr": _asr, "text": _text, "audio": _audio, "vision": _vision}
