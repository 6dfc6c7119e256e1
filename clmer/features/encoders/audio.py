"""Audio emotion features with emotion2vec through funasr: utterance and frame embeddings plus its
9-class emotion scores (kept as interpretable audio cues).

One pass per clip with `granularity="frame"` gives everything: funasr's emotion2vec inference
averages the frame features for the utterance embedding and scores that average, so we do the
same instead of running the model twice. funasr's inference loops over inputs one at a time with
no padding, so there is nothing to gain (and no padding drift, emotion2vec issue #37) from
batching clips; long audio goes through in 30 s windows to keep attention memory bounded.
"""

from __future__ import annotations

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord

FRAME_RATE = 50  # emotion2vec frames per second
WINDOW_S = 30.0
MIN_SAMPLES = 1600  # 0.1 s: shorter audio has no frames worth scoring


class AudioExtractor(Extractor):
    role = "audio"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        import os

        from funasr import AutoModel

        # disable_update: otherwise funasr asks the network for a newer version at every load.
        # ncpu: funasr calls torch.set_num_threads with it, for the whole process: take it from the
        # settings (cores / workers on a Dask or Ray worker) instead of every core of the machine.
        self.model = AutoModel(model=str(ref.path), device=device, disable_update=True, log_level="ERROR",
                               ncpu=settings.models.cpu_threads or min(4, os.cpu_count() or 1))

    @classmethod
    def static_config(cls, settings, device) -> dict:
        return {"frame_hop": settings.models.audio_frame_hop, "window_s": WINDOW_S}

    def _run(self, wav: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        MODEL_CALLS["audio"] += 1
        res = self.model.generate(wav, granularity="frame", extract_embedding=True, disable_pbar=True)[0]
        return np.asarray(res["feats"], np.float32), np.asarray(res["scores"], np.float32), list(res["labels"])

    def extract(self, audio: np.ndarray) -> FeatureRecord:
        if audio.size < MIN_SAMPLES:
            return _empty()
        window = int(WINDOW_S * self.settings.media.sample_rate)
        frames, scores, weights, labels = [], [], [], []
        with self.lock:
            for start in range(0, len(audio), window):
                wav = audio[start: start + window]
                if wav.size < MIN_SAMPLES:
                    continue
                f, s, labels = self._run(wav)
                frames.append(f)
                scores.append(s)
                weights.append(len(f))
        feats = np.concatenate(frames)
        utterance = feats.mean(0)
        cue = np.average(np.stack(scores), axis=0, weights=weights)
        hop = self.settings.models.audio_frame_hop
        kept = feats[::hop]
        times = (np.arange(len(feats))[::hop] / FRAME_RATE).astype(np.float32)
        return FeatureRecord("audio", {
            "frame_embeddings": kept.astype(np.float32), "frame_times": times,
            "utterance_embedding": utterance.astype(np.float32)[None, :], "cue_scores": cue.astype(np.float32)[None, :],
        }, {"cue_labels": [_label_name(lb) for lb in labels], "frame_rate": FRAME_RATE / hop})


def _label_name(label: str) -> str:
    """'开心/happy' -> 'happy' (emotion2vec's labels are bilingual); its '<unk>' class -> 'unknown'."""
    name = label.split("/")[-1]
    return "unknown" if name == "<unk>" else name


def _empty() -> FeatureRecord:
    return FeatureRecord("audio", {"frame_embeddings": np.zeros((0, 0), np.float32), "frame_times": np.zeros(0, np.float32),
                                   "utterance_embedding": np.zeros((0, 0), np.float32), "cue_scores": np.zeros((0, 0), np.float32)},
                         {"cue_labels": [], "frame_rate": 0}, status="empty")
