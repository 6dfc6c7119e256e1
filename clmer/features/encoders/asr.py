"""Speech recognition with faster-whisper (CTranslate2): transcript, timed segments, language.

Whisper detects language once per 30 s window, so a clip that mixes Chinese and English comes out
in one language with the other dropped. We cut the audio at the Silero VAD's speech chunks
(faster-whisper ships the model) and detect the language per chunk, restricted to zh/en, then
transcribe each chunk in its own language.
"""

from __future__ import annotations

import os

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord

LANGUAGES = ("zh", "en")
SAMPLE_RATE = 16000


def compute_type(setting: str, device: str) -> str:
    """CTranslate2 precision: float16 on GPU, int8 on CPU unless configured."""
    if setting != "auto":
        return setting
    return "float16" if device == "cuda" else "int8"


class AsrExtractor(Extractor):
    role = "asr"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        from faster_whisper import WhisperModel

        self.compute_type = compute_type(settings.models.asr_compute_type, device)
        self.model = WhisperModel(str(ref.path), device=device, compute_type=self.compute_type, local_files_only=True,
                                  cpu_threads=min(4, os.cpu_count() or 1))

    @classmethod
    def static_config(cls, settings, device) -> dict:
        m = settings.models
        return {"beam_size": m.asr_beam_size, "max_new_tokens": m.asr_max_new_tokens, "vad": "silero-chunks",
                "languages": LANGUAGES, "compute_type": compute_type(m.asr_compute_type, device)}

    def speech_chunks(self, audio: np.ndarray) -> list[tuple[int, int]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        opts = VadOptions(min_silence_duration_ms=600, max_speech_duration_s=28.0, speech_pad_ms=200)
        return [(c["start"], c["end"]) for c in get_speech_timestamps(audio, opts, sampling_rate=SAMPLE_RATE)]

    def detect(self, chunk: np.ndarray) -> tuple[str, float]:
        """zh or en, whichever Whisper finds likelier, with its share of the two."""
        _, _, probs = self.model.detect_language(audio=chunk)
        p = dict(probs)
        zh, en = p.get("zh", 0.0), p.get("en", 0.0)
        total = zh + en
        lang = "zh" if zh >= en else "en"
        return lang, (max(zh, en) / total if total > 0 else 0.5)

    def extract(self, audio: np.ndarray) -> FeatureRecord:
        segments: list[dict] = []
        with self.lock:
            for start, end in self.speech_chunks(audio):
                chunk = audio[start:end]
                lang, prob = self.detect(chunk)
                MODEL_CALLS["asr"] += 1
                pieces, _ = self.model.transcribe(
                    chunk, language=lang, beam_size=self.settings.models.asr_beam_size, vad_filter=False,
                    condition_on_previous_text=False, max_new_tokens=self.settings.models.asr_max_new_tokens,
                    temperature=0.0,
                )
                chunk_start, chunk_end = start / SAMPLE_RATE, end / SAMPLE_RATE
                for seg in pieces:
                    text = seg.text.strip()
                    if text:
                        # Whisper's timestamps can overshoot the chunk: keep them inside it.
                        s0 = min(max(chunk_start + seg.start, chunk_start), chunk_end)
                        segments.append({"start": round(s0, 2),
                                         "end": round(min(max(chunk_start + seg.end, s0), chunk_end), 2),
                                         "text": text, "language": lang, "language_probability": round(prob, 3)})
        return _record(segments)


def _record(segments: list[dict]) -> FeatureRecord:
    if not segments:
        return FeatureRecord("asr", {"segment_times": np.zeros((0, 2), np.float32)},
                             {"text": "", "language": None, "segments": []}, status="empty")
    weight: dict[str, float] = {}
    for s in segments:
        weight[s["language"]] = weight.get(s["language"], 0.0) + (s["end"] - s["start"]) + 1e-3
    language = max(weight, key=weight.get)
    joiner = "" if language == "zh" else " "
    text = joiner.join(s["text"] for s in segments)
    times = np.array([[s["start"], s["end"]] for s in segments], dtype=np.float32)
    return FeatureRecord("asr", {"segment_times": times},
                         {"text": text, "language": language, "segments": segments})
