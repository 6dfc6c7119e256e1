"""Vision features with SigLIP (transformers): an image embedding per sampled frame and zero-shot
facial-expression cue scores from SigLIP's text tower.

SigLIP was trained with a sigmoid loss, so each prompt's score is an independent probability
(sigmoid of scaled cosine + bias), not a softmax over prompts. Prompts are in English whatever the
speech language: they describe faces, not words.
"""

from __future__ import annotations

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord, mean_luminance

EXPRESSIONS = ("happy", "sad", "angry", "neutral", "surprised", "fearful", "disgusted")
PROMPT = "a photo of a {} face"


def _features(output):
    """transformers 5 returns model outputs from get_*_features; 4.x returned tensors."""
    if hasattr(output, "pooler_output") and output.pooler_output is not None:
        return output.pooler_output
    return output


class VisionExtractor(Extractor):
    role = "vision"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        import torch
        from transformers import AutoModel, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(str(ref.path), local_files_only=True)
        from clmer.features.gpu import half_dtype

        self.model = AutoModel.from_pretrained(str(ref.path), local_files_only=True,
                                               dtype=half_dtype(device)).eval().to(device)
        with torch.inference_mode():
            text = self.processor(text=[PROMPT.format(e) for e in EXPRESSIONS], padding="max_length", return_tensors="pt")
            t = _features(self.model.get_text_features(**{k: v.to(device) for k, v in text.items()}))
            self.prompt_features = torch.nn.functional.normalize(t.float(), dim=-1)

    @classmethod
    def static_config(cls, settings, device) -> dict:
        m = settings.media
        return {"prompts": [PROMPT.format(e) for e in EXPRESSIONS], "frame_interval_s": m.frame_interval_s,
                "dense_frame_interval_s": m.dense_frame_interval_s, "dense_max_duration_s": m.dense_max_duration_s,
                "frame_max_side": m.frame_max_side}

    def embed(self, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import torch
        from PIL import Image

        embs, cues = [], []
        bs = self.settings.extract.vision_batch_size
        for b in range(0, len(frames), bs):
            images = [Image.fromarray(f) for f in frames[b: b + bs]]
            pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device, self.model.dtype)
            with self.lock, torch.inference_mode():
                MODEL_CALLS["vision"] += 1
                feats = _features(self.model.get_image_features(pixel_values=pixels)).float()
                normed = torch.nn.functional.normalize(feats, dim=-1)
                logits = normed @ self.prompt_features.T * self.model.logit_scale.exp().float() + self.model.logit_bias.float()
            embs.append(feats.cpu().numpy())
            cues.append(torch.sigmoid(logits).cpu().numpy())
        return np.concatenate(embs).astype(np.float32), np.concatenate(cues).astype(np.float32)

    def extract(self, frames: list[np.ndarray], times: list[float]) -> FeatureRecord:
        if not frames:
            return FeatureRecord("vision", {"frame_embeddings": np.zeros((0, 0), np.float32),
                                            "frame_times": np.zeros(0, np.float32), "cue_scores": np.zeros((0, 0), np.float32)},
                                 {"cue_labels": list(EXPRESSIONS)}, status="empty")
        emb, cue = self.embed(frames)
        return FeatureRecord("vision", {"frame_embeddings": emb, "frame_times": np.asarray(times, np.float32),
                                        "cue_scores": cue}, {"cue_labels": list(EXPRESSIONS),
                                                             "brightness": mean_luminance(frames)})
