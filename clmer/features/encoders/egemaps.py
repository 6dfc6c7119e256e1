"""Audio features with eGeMAPS v02 through openSMILE (the `small` profile's audio encoder, no weights).

Items: the 25 low-level descriptors (pitch, loudness, jitter, shimmer, formants, spectral shape),
computed every 10 ms and averaged into 100 ms steps (10 Hz, the same rate as emotion2vec's kept
frames, so explanations time audio the same way). Extras: the 88 utterance functionals. Cues: four
functionals people can read as prosody (pitch level and range, loudness, speaking rate); the
explanation turns them into z-scores against the training set.
"""

from __future__ import annotations

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord

LLD_RATE = 100  # openSMILE's eGeMAPS low-level descriptors: one every 10 ms
POOL = 10  # 10 descriptors -> one 100 ms item (10 Hz)
MIN_SAMPLES = 1600  # 0.1 s: too short for a pitch estimate
PROSODY = {  # cue label -> eGeMAPS functional
    "pitch_level": "F0semitoneFrom27.5Hz_sma3nz_amean",
    "pitch_range": "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "loudness": "loudness_sma3_amean",
    "speaking_rate": "VoicedSegmentsPerSec",
}


class EgemapsExtractor(Extractor):
    role = "audio"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        import opensmile

        self.functionals = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                           feature_level=opensmile.FeatureLevel.Functionals)
        self.lld = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                   feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
        self.names = list(self.functionals.feature_names)

    @classmethod
    def static_config(cls, settings, device) -> dict:
        return {"feature_set": "eGeMAPSv02", "pool": POOL, "cues": list(PROSODY), "format": 2}

    def extract(self, audio: np.ndarray) -> FeatureRecord:
        if audio.size < MIN_SAMPLES or not np.any(audio):
            return _empty()
        sr = self.settings.media.sample_rate
        with self.lock:
            MODEL_CALLS["audio"] += 1
            lld = self.lld.process_signal(audio, sr).to_numpy(np.float32)
            func = self.functionals.process_signal(audio, sr).to_numpy(np.float32)[0]
        lld, func = np.nan_to_num(lld), np.nan_to_num(func)
        n = max(1, len(lld) // POOL)
        items = lld[: n * POOL].reshape(n, POOL, -1).mean(1) if len(lld) >= POOL else lld.mean(0, keepdims=True)
        times = (np.arange(len(items)) * POOL / LLD_RATE).astype(np.float32)
        cues = np.array([func[self.names.index(f)] for f in PROSODY.values()], np.float32)
        return FeatureRecord("audio", {
            "frame_embeddings": items.astype(np.float32), "frame_times": times,
            "extras": func[None, :], "cue_scores": cues[None, :],
        }, {"cue_labels": list(PROSODY), "cue_kind": "prosody", "extras_names": self.names,
            "frame_rate": LLD_RATE / POOL})


def _empty() -> FeatureRecord:
    return FeatureRecord("audio", {"frame_embeddings": np.zeros((0, 0), np.float32), "frame_times": np.zeros(0, np.float32),
                                   "extras": np.zeros((0, 0), np.float32), "cue_scores": np.zeros((0, 0), np.float32)},
                         {"cue_labels": [], "frame_rate": 0}, status="empty")
