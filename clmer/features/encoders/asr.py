"""Speech recognition with faster-whisper (CTranslate2): transcript, timed segments, language.

Whisper detects language once per 30 s window, so a clip that mixes Chinese and English comes out
in one language with the other dropped. We cut the audio at the Silero VAD's speech chunks
(faster-whisper ships the model), at most 28 s each, so every chunk fits one Whisper window, and:

* run the encoder once per chunk, then read the language from that encoder output and decode the
  transcript from the same output (faster-whisper's `transcribe` would encode the window twice:
  once to detect the language and once to decode);
* choose the language among the configured ones only (`models.languages`): whisper-base calls
  synthetic Mandarin "th" otherwise;
* write Chinese in simplified characters (zhconv; `models.chinese_script: traditional` for the other):
  whisper writes traditional ones at times even when told zh, and CH-SIMS, key words and reports are
  simplified;
* keep whisper's own confidence per segment (average log-probability, no-speech probability,
  compression ratio) and, per clip, their duration-weighted means and the seconds of speech the voice
  detector found, so the model can discount a transcript whisper itself doubted (the text modality's
  utterance-level extras: `confidence_extras`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord


def compute_type(setting: str, device: str) -> str:
    """CTranslate2 precision: float16 on GPU, int8 on CPU unless configured."""
    if setting != "auto":
        return setting
    return "float16" if device == "cuda" else "int8"


def choose_language(probs: dict[str, float], languages: list[str]) -> tuple[str, float]:
    """The configured language Whisper finds likeliest, and its share of the configured languages' mass."""
    mass = {lang: float(probs.get(lang, 0.0)) for lang in languages}
    lang = max(languages, key=lambda x: (mass[x], -languages.index(x)))
    total = sum(mass.values())
    return lang, (mass[lang] / total if total > 0 else 1.0 / len(languages))


class AsrExtractor(Extractor):
    role = "asr"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        from clmer.scratch import import_onnxruntime

        import_onnxruntime(settings.paths.home / "cache")  # its voice detector's runtime; keep its cache in ours
        from faster_whisper import WhisperModel

        from clmer.features.gpu import ct2_device

        ct2 = ct2_device(device)  # CTranslate2's CUDA build may not match the machine's CUDA
        self.compute_type = compute_type(settings.models.asr_compute_type, ct2)
        self.model = WhisperModel(str(ref.path), device=ct2, compute_type=self.compute_type, local_files_only=True,
                                  cpu_threads=settings.models.cpu_threads or min(4, os.cpu_count() or 1))
        self.encoder_passes = 0

    @classmethod
    def static_config(cls, settings, device) -> dict:
        # No device or compute type: they change speed, not what the features mean (see `identity`).
        m = settings.models
        return {"beam_size": m.asr_beam_size, "max_new_tokens": m.asr_max_new_tokens, "vad": "silero-chunks-28s",
                "languages": list(m.languages), "sample_rate": settings.media.sample_rate,
                "chinese_script": m.chinese_script, "confidence": 1}

    def speech_chunks(self, audio: np.ndarray) -> list[tuple[int, int]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        opts = VadOptions(min_silence_duration_ms=600, max_speech_duration_s=28.0, speech_pad_ms=200)
        return [(c["start"], c["end"])
                for c in get_speech_timestamps(audio, opts, sampling_rate=self.settings.media.sample_rate)]

    def _encode(self, features: np.ndarray):
        from faster_whisper.audio import pad_or_trim

        self.encoder_passes += 1
        MODEL_CALLS["asr_encoder"] += 1
        return self.model.encode(pad_or_trim(features[..., : self.model.feature_extractor.nb_max_frames]))

    def transcribe_chunk(self, chunk: np.ndarray) -> tuple[list, str, float]:
        """(segments, language, its probability) from one encoder pass over the chunk."""
        from faster_whisper.tokenizer import Tokenizer

        features = self.model.feature_extractor(chunk)
        encoded = self._encode(features)
        languages = list(self.settings.models.languages)
        if self.model.model.is_multilingual:
            probs = {tok[2:-2]: p for tok, p in self.model.model.detect_language(encoded)[0]}
            lang, prob = choose_language(probs, languages)
        else:
            lang, prob = "en", 1.0
        tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe",
                              language=lang)
        segments = self.model.generate_segments(features, tokenizer, self._options(tokenizer), False, encoded)
        return list(segments), lang, prob

    def _options(self, tokenizer):
        """faster-whisper's options as `transcribe` would build them, with our decoding settings."""
        from faster_whisper.transcribe import TranscriptionOptions, WhisperModel, get_suppressed_tokens

        defaults = {n: p.default for n, p in inspect.signature(WhisperModel.transcribe).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        mine = {"beam_size": self.settings.models.asr_beam_size, "temperature": [0.0],
                "condition_on_previous_text": False, "max_new_tokens": self.settings.models.asr_max_new_tokens}
        values = defaults | mine
        values["temperatures"] = values.pop("temperature")
        suppress = values.get("suppress_tokens")
        values["suppress_tokens"] = get_suppressed_tokens(tokenizer, suppress) if suppress else suppress
        fields = {f.name for f in dataclasses.fields(TranscriptionOptions)}
        return TranscriptionOptions(**{k: v for k, v in values.items() if k in fields})

    def extract(self, audio: np.ndarray) -> FeatureRecord:
        sr = self.settings.media.sample_rate
        segments: list[dict] = []
        speech_s = 0.0
        with self.lock:
            for start, end in self.speech_chunks(audio):
                speech_s += (end - start) / sr
                MODEL_CALLS["asr"] += 1
                pieces, lang, prob = self.transcribe_chunk(audio[start:end])
                chunk_start, chunk_end = start / sr, end / sr
                for seg in pieces:
                    text = seg.text.strip()
                    if text:
                        # Whisper's timestamps can overshoot the chunk: keep them inside it.
                        s0 = min(max(chunk_start + seg.start, chunk_start), chunk_end)
                        segments.append({"start": round(s0, 2),
                                         "end": round(min(max(chunk_start + seg.end, s0), chunk_end), 2),
                                         "text": text, "language": lang, "language_probability": round(prob, 3),
                                         "avg_logprob": round(float(seg.avg_logprob), 4),
                                         "no_speech_prob": round(float(seg.no_speech_prob), 4),
                                         "compression_ratio": round(float(seg.compression_ratio), 4)})
        return _record(segments, {"compute_type": self.compute_type, "speech_seconds": round(speech_s, 2)},
                       self.settings.models.chinese_script)


# What a clip with no transcript reports: no evidence of speech, nothing to trust.
_NO_SPEECH = {"avg_logprob": -10.0, "no_speech_prob": 1.0, "compression_ratio": 0.0}
CONFIDENCE_KEYS = ("avg_logprob", "no_speech_prob", "compression_ratio")


def _record(segments: list[dict], info: dict, script: str = "simplified") -> FeatureRecord:
    if not segments:
        return FeatureRecord("asr", {"segment_times": np.zeros((0, 2), np.float32)},
                             {"text": "", "language": None, "segments": []} | _NO_SPEECH | info, status="empty")
    for s in segments:
        if s["language"] == "zh":
            s["text"] = chinese_script(s["text"], script)
    weight: dict[str, float] = {}
    for s in segments:
        weight[s["language"]] = weight.get(s["language"], 0.0) + (s["end"] - s["start"]) + 1e-3
    language = max(weight, key=weight.get)
    joiner = "" if language == "zh" else " "
    text = joiner.join(s["text"] for s in segments)
    times = np.array([[s["start"], s["end"]] for s in segments], dtype=np.float32)
    return FeatureRecord("asr", {"segment_times": times},
                         {"text": text, "language": language, "segments": segments} | clip_confidence(segments) | info)


def clip_confidence(segments: list[dict]) -> dict[str, float]:
    """Whisper's confidence for the clip: each segment's values weighted by its duration."""
    if not segments or any(k not in s for s in segments for k in CONFIDENCE_KEYS):
        return dict(_NO_SPEECH)
    w = np.array([max(s["end"] - s["start"], 0.0) + 1e-3 for s in segments])
    return {k: round(float(np.average([s[k] for s in segments], weights=w)), 4) for k in CONFIDENCE_KEYS}


def confidence_extras(meta: dict) -> np.ndarray:
    """The ASR confidence the text modality carries as utterance-level extras (avg log-prob, no-speech
    probability, compression ratio), from an ASR record's meta; records from before these were kept
    read as no evidence."""
    return np.array([float(meta.get(k, _NO_SPEECH[k])) for k in CONFIDENCE_KEYS], np.float32)


def chinese_script(text: str, script: str = "simplified") -> str:
    """Whisper writes traditional characters at times even when told zh; CH-SIMS is simplified.
    zhconv is a core dependency: a missing one is an install error, not silently traditional text."""
    import zhconv

    return zhconv.convert(text, "zh-hans" if script == "simplified" else "zh-hant")
