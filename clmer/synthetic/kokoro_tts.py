"""Neural speech for the demo corpus: Kokoro-82M v1.0 (int8 ONNX) from the model store, zh and en.

The model comes through the model store (`clmer models import`; `clmer.features.importers.kokoro`), so
it is content-hashed, offline and imported once under CLMER_HOME like every other model. No Mandarin or
English voice ships, only five Japanese style tables; Kokoro reads phonemes, not text, so:

* Mandarin: misaki's `ZHG2P` (jieba words -> pinyin -> IPA with tone arrows, the phoneme set Kokoro
  v1.0 was trained on) from simplified characters;
* English: espeak-ng IPA (phonemizer with the espeak library `espeakng-loader` ships), rewritten into
  Kokoro's symbols (diphthongs as one letter, American r-colouring spelled out); a lone "I" gets the
  primary stress espeak leaves off, or Kokoro swallows it ("I feel" -> "feel").

A speaker is a mixture of two style tables (averaging style vectors gives a usable new voice) at a
speed; pitch is moved afterwards on the waveform (`clmer.synthetic.prosody`). Each utterance is cached
by content (model revision, phonemes, mixture, speed) under CLMER_HOME, so a corpus made again reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_NAME = "kokoro-82m-v1.0-int8"
SAMPLE_RATE = 24000
_MAX_TOKENS = 510  # the style tables have 510 rows, one per phoneme count

# espeak-ng IPA -> Kokoro's symbols, longest first (tie bars '^' come from phonemizer's tie option).
_ESPEAK_TO_KOKORO = sorted({
    "a^ɪ": "I", "a^ʊ": "W", "e^ɪ": "A", "o^ʊ": "O", "ɔ^ɪ": "Y", "d^ʒ": "ʤ", "t^ʃ": "ʧ",
    "ɚ": "əɹ", "ɜː": "ɜɹ", "ɐ": "ə", "r": "ɹ", "x": "k", "ç": "k", "ɬ": "l", "ː": "", "ʔ": "t", "ɾ": "T",
    "ʲ": "", "\u0303": "", "\u0329": "",
}.items(), key=lambda kv: -len(kv[0]))


class KokoroMissingError(FileNotFoundError):
    """Kokoro is not in the model store (and cannot be imported here); the message says how to get it."""


@dataclass(frozen=True)
class VoiceMix:
    """A speaker's voice: `weight` of style table `a` plus the rest of `b`, spoken at `speed`."""

    a: str
    b: str
    weight: float = 1.0
    speed: float = 1.0

    def key(self) -> str:
        return f"{self.a}:{self.b}:{self.weight:.3f}:{self.speed:.3f}"


def resolve_model(store_root: str | Path | None = None, import_if_missing: bool = True) -> Path:
    """The Kokoro model directory in the store, imported from its installed packages when absent."""
    from clmer.config import PathsConfig
    from clmer.features import importers
    from clmer.features.model_store import ModelStore

    store = ModelStore(store_root or PathsConfig().resolved_model_store())
    path = store.path_for(MODEL_NAME)
    if not (path / "tts.json").exists():
        if not import_if_missing or not importers.available("tts"):
            raise KokoroMissingError(
                f"Kokoro ({MODEL_NAME}) is not in the model store at {store.root}; install its packages "
                f"({', '.join(importers.importer('tts').PACKAGES)}) and run `clmer models import`")
        importers.import_model(store, "tts")
    return path


class Kokoro:
    """One ONNX session per process; `speak(text, language, voice)` -> float32 mono at 24 kHz."""

    def __init__(self, model_dir: str | Path, threads: int = 1, cache_dir: str | Path | None = None):
        import os

        from clmer.config.base import _default_home
        from clmer.scratch import import_onnxruntime

        ort = import_onnxruntime(Path(os.environ.get("CLMER_HOME") or _default_home()) / "cache")

        self.dir = Path(model_dir)
        spec = json.loads((self.dir / "tts.json").read_text(encoding="utf-8"))
        meta = json.loads((self.dir / "clmer_model.json").read_text(encoding="utf-8")) \
            if (self.dir / "clmer_model.json").exists() else {}
        self.revision = meta.get("revision", spec["sha256"][:16])
        self.vocab: dict[str, int] = json.loads((self.dir / spec["vocab"]).read_text(encoding="utf-8"))["vocab"]
        with np.load(self.dir / spec["voices"]) as npz:
            self.styles = {k: npz[k].astype(np.float32) for k in npz.files}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.dir / spec["model"]), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._lock = threading.Lock()

    def speak(self, text: str, language: str, voice: VoiceMix) -> np.ndarray:
        return self.speak_phonemes(phonemes(text, language), voice)

    def speak_phonemes(self, phonemes: str, voice: VoiceMix) -> np.ndarray:
        key = hashlib.sha256(f"{self.revision}|{phonemes}|{voice.key()}".encode()).hexdigest()[:32]
        cached = self.cache_dir / f"{key}.npy" if self.cache_dir else None
        if cached is not None and cached.exists():
            try:
                return np.load(cached)
            except (OSError, ValueError):  # a torn file from a killed run: synthesise again
                pass
        wav = self._infer(phonemes, voice)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, wav)
            os.replace(tmp, cached)
        return wav

    def _infer(self, phonemes: str, voice: VoiceMix) -> np.ndarray:
        for name in (voice.a, voice.b):
            if name not in self.styles:
                raise ValueError(f"Kokoro has no voice {name!r}; it has {sorted(self.styles)}")
        tokens = [self.vocab[c] for c in phonemes if c in self.vocab][: _MAX_TOKENS - 2]
        if not tokens:
            raise ValueError(f"no Kokoro phonemes in {phonemes!r}")
        table = voice.weight * self.styles[voice.a] + (1.0 - voice.weight) * self.styles[voice.b]
        style = table[len(tokens) - 1].reshape(1, -1)
        with self._lock:
            out = self.session.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": style,
                                          "speed": np.array([voice.speed], dtype=np.float32)})[0]
        return _trim(np.asarray(out, np.float32).ravel())


def _trim(wav: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut the leading and trailing near-silence Kokoro leaves, keeping 30 ms either side."""
    loud = np.flatnonzero(np.abs(wav) > threshold)
    if len(loud) == 0:
        return wav
    pad = int(0.03 * SAMPLE_RATE)
    return wav[max(0, loud[0] - pad): loud[-1] + pad]


def phonemes(text: str, language: str) -> str:
    """Kokoro's input for `text`: Mandarin IPA with tone arrows (zh) or Kokoro-spelled IPA (en)."""
    if language == "zh":
        return zh_phonemes(text)
    if language == "en":
        return en_phonemes(text)
    raise ValueError(f"Kokoro speaks zh and en here, not {language!r}")


_zh_g2p = None
_en_backend = None
_g2p_lock = threading.Lock()


def zh_phonemes(text: str) -> str:
    """Simplified Chinese -> Kokoro's Mandarin IPA (misaki's legacy ZHG2P, what Kokoro v1.0 reads)."""
    global _zh_g2p
    with _g2p_lock:
        if _zh_g2p is None:
            import logging

            import jieba
            from misaki import zh

            jieba.setLogLevel(logging.WARNING)
            _zh_g2p = zh.ZHG2P()
        return _zh_g2p(text)[0]


def en_phonemes(text: str) -> str:
    """English -> espeak-ng IPA (en-us) -> Kokoro's symbols."""
    global _en_backend
    with _g2p_lock:
        if _en_backend is None:
            import espeakng_loader
            from phonemizer.backend import EspeakBackend
            from phonemizer.backend.espeak.wrapper import EspeakWrapper

            EspeakWrapper.set_library(espeakng_loader.get_library_path())
            EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
            _en_backend = EspeakBackend("en-us", preserve_punctuation=True, with_stress=True, tie="^")
        ipa = _en_backend.phonemize([text], strip=True)[0]
    for old, new in _ESPEAK_TO_KOKORO:
        ipa = ipa.replace(old, new)
    ipa = ipa.replace("^", "")
    # A lone "I" (also "I'm", "I've", "I'll"): give it the stress espeak leaves off.
    return re.sub(r"(^|\s)I(m|v|l|d)?(?=[\s,.!?]|$)", lambda m: f"{m.group(1)}ˈI{m.group(2) or ''}", ipa)
