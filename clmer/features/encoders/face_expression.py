"""Vision features from facial expressions: the FER-2013 mini-Xception on the face in each sampled frame
(the `small` profile's vision encoder).

Per frame: the largest Haar face (a centred square of 90 % of the frame when none is found, the
crop a face tracker's aligned output would give), the network's 128-d embedding and its seven
expression probabilities. Items are embedding + probabilities; the probabilities are also the
frame's cues, and the face boxes are kept for reports.
"""

from __future__ import annotations

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord, mean_luminance

CENTRE_FRACTION = 0.9


class FaceExpressionExtractor(Extractor):
    role = "vision"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        from clmer.features.encoders.fer_net import LABELS, load_torch_dir

        self.labels = list(LABELS)
        self.model = load_torch_dir(ref.path).to(device)

    @classmethod
    def static_config(cls, settings, device) -> dict:
        m = settings.media
        return {"detector": "haar-frontalface-default", "fallback": f"centre-{CENTRE_FRACTION}",
                "frame_interval_s": m.frame_interval_s, "dense_frame_interval_s": m.dense_frame_interval_s,
                "dense_max_duration_s": m.dense_max_duration_s, "frame_max_side": m.frame_max_side, "format": 2}

    def extract(self, frames: list[np.ndarray], times: list[float]) -> FeatureRecord:
        import torch

        from clmer.features.faces import detect_face, preprocess

        if not frames:
            return _empty(self.labels)
        boxes = [detect_face(f, min_size=max(24, min(f.shape[:2]) // 8)) for f in frames]
        inputs = np.stack([preprocess(f, b, centre_fraction=CENTRE_FRACTION) for f, b in zip(frames, boxes)])
        embs, probs = [], []
        bs = self.settings.extract.vision_batch_size
        for start in range(0, len(inputs), bs):
            with self.lock, torch.inference_mode():
                MODEL_CALLS["vision"] += 1
                e, p = self.model(torch.from_numpy(inputs[start: start + bs]).to(self.device))
            embs.append(e.float().cpu().numpy())
            probs.append(p.float().cpu().numpy())
        emb, prob = np.concatenate(embs), np.concatenate(probs)
        box_arr = np.array([b if b is not None else (-1, -1, -1, -1) for b in boxes], np.float32)
        return FeatureRecord("vision", {"frame_embeddings": emb.astype(np.float32),
                                        "frame_times": np.asarray(times, np.float32),
                                        "cue_scores": prob.astype(np.float32), "face_boxes": box_arr},
                             {"cue_labels": self.labels, "cue_kind": "facial-expression",
                              "faces_found": int((box_arr[:, 0] >= 0).sum()), "brightness": mean_luminance(frames)})


def _empty(labels: list[str]) -> FeatureRecord:
    return FeatureRecord("vision", {"frame_embeddings": np.zeros((0, 0), np.float32),
                                    "frame_times": np.zeros(0, np.float32), "cue_scores": np.zeros((0, 0), np.float32),
                                    "face_boxes": np.zeros((0, 4), np.float32)},
                         {"cue_labels": labels}, status="empty")
