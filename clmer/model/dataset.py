"""Stored features -> padded tensors for the fusion model.

A clip is, per modality, a sequence of items and optional utterance-level extras:

    text    items: token embeddings (every token; long transcripts were encoded in windows); extras: the
            ASR confidence (avg log-prob, no-speech probability, compression ratio) of an ASR transcript
    audio   items: 10 Hz frames (emotion2vec embeddings or eGeMAPS descriptors); extras: utterance-level
            values (emotion2vec's 9 emotion scores, or the 88 eGeMAPS functionals)
    vision  items: per sampled frame, the embedding followed by its cue scores (SigLIP's expression
            prompts or FER's seven expression probabilities)

The modality's overall vector is computed *inside* the model from the items it is given, so
occluding items (explanations) or dropping them removes their whole contribution. An absent modality
is flagged, never filled with zeros that the model could mistake for data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clmer.features.feature_store import FeatureStore
from clmer.names import MODALITIES

LANG_INDEX = {"zh": 0, "en": 1}
# Items kept per clip (evenly spread over the clip when there are more): 60 s of audio at 10 Hz and
# two minutes of frames at 2 per second. Text keeps every token.
MAX_ITEMS = {"text": None, "audio": 600, "vision": 240}


@dataclass
class ClipFeatures:
    seq: dict[str, np.ndarray]  # modality -> (T, d) float32 (T may be 0)
    extra: dict[str, np.ndarray]  # modality -> (g,) float32 (g may be 0)
    present: np.ndarray  # (3,) bool
    times: dict[str, np.ndarray] = field(default_factory=dict)  # audio/vision item times (s)
    tokens: list[str] = field(default_factory=list)
    offsets: list = field(default_factory=list)
    special: list = field(default_factory=list)  # 1 for [CLS]/[SEP]-like tokens and the model's prompt prefix
    cues: dict[str, dict] = field(default_factory=dict)  # modality -> {"labels", "scores", "kind", ...}


def _spread(n: int, cap: int | None) -> np.ndarray:
    """Indices of at most `cap` of n items, evenly spread (long clips keep their whole time span)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.linspace(0, n - 1, cap).round().astype(int)


def _extras(arrays: dict) -> np.ndarray:
    """Utterance-level extras: an extractor's `extras`, else its utterance cue scores (emotion2vec)."""
    for key in ("extras", "cue_scores"):
        if key in arrays and arrays[key].ndim == 2 and len(arrays[key]) == 1:
            return arrays[key][0].astype(np.float32)
    return np.zeros(0, np.float32)


def load_clip(store: FeatureStore, text_key: str, audio_key: str, vision_key: str) -> ClipFeatures:
    t, a, v = store.get(text_key), store.get(audio_key), store.get(vision_key)
    seq, extra, times = {}, {}, {}
    seq["text"] = t.arrays["token_embeddings"]
    extra["text"] = _extras(t.arrays)  # ASR confidence when the transcript came from ASR
    keep_a = _spread(len(a.arrays["frame_embeddings"]), MAX_ITEMS["audio"])
    seq["audio"] = a.arrays["frame_embeddings"][keep_a]
    times["audio"] = a.arrays["frame_times"][keep_a]
    extra["audio"] = _extras(a.arrays)
    keep_v = _spread(len(v.arrays["frame_embeddings"]), MAX_ITEMS["vision"])
    frames, cue_v = v.arrays["frame_embeddings"][keep_v], v.arrays["cue_scores"]
    cue_v = cue_v[keep_v] if len(cue_v) == len(v.arrays["frame_embeddings"]) else np.zeros((len(frames), 0), np.float32)
    seq["vision"] = np.concatenate([frames, cue_v], axis=1) if len(frames) else frames
    times["vision"] = v.arrays["frame_times"][keep_v]
    extra["vision"] = np.zeros(0, np.float32)
    present = np.array([t.status == "ok" and len(seq["text"]) > 0, a.status == "ok" and len(seq["audio"]) > 0,
                        v.status == "ok" and len(seq["vision"]) > 0])
    boxes = v.arrays.get("face_boxes")
    cues = {"audio": {"labels": a.meta.get("cue_labels", []), "scores": a.arrays["cue_scores"],
                      "kind": a.meta.get("cue_kind", "emotion")},
            "vision": {"labels": v.meta.get("cue_labels", []), "scores": cue_v, "times": times["vision"],
                       "kind": v.meta.get("cue_kind", "expression"),
                       "boxes": boxes[keep_v] if boxes is not None and len(boxes) == len(keep_v) else None}}
    n_tok = len(seq["text"])
    return ClipFeatures(seq=seq, extra=extra, present=present, times=times, tokens=t.meta.get("tokens", [])[:n_tok],
                        offsets=t.meta.get("offsets", [])[:n_tok], special=t.meta.get("special", [])[:n_tok], cues=cues)


@dataclass
class FeatureSet:
    clips: list[ClipFeatures]
    frame: pd.DataFrame  # one row per clip: clip, language, and labels when known
    dims: dict[str, tuple[int, int]]  # modality -> (sequence dim, global dim)

    def __len__(self) -> int:
        return len(self.clips)

    def subset(self, mask: np.ndarray) -> "FeatureSet":
        idx = np.flatnonzero(mask)
        return FeatureSet([self.clips[i] for i in idx], self.frame.iloc[idx].reset_index(drop=True), self.dims)

    @property
    def has_labels(self) -> bool:
        return "class_index" in self.frame.columns

    def batch(self, indices, device: str = "cpu") -> dict:
        return collate([self.clips[i] for i in indices], self.dims,
                       self.frame.iloc[list(indices)] if self.has_labels else None, device)


def infer_dims(clips: list[ClipFeatures]) -> dict[str, tuple[int, int]]:
    dims = {}
    for m in MODALITIES:
        ex = next((c for c in clips if c.present[MODALITIES.index(m)]), None)
        if ex is None:
            raise ValueError(f"no clip has any {m} features: cannot size the {m} encoder")
        dims[m] = (int(ex.seq[m].shape[1]), int(ex.extra[m].shape[0]))
    return dims


def collate(clips: list[ClipFeatures], dims: dict, labels: pd.DataFrame | None, device: str = "cpu") -> dict:
    """Padded tensors: `{m}` (B, T, d), `{m}_mask` (B, T), `{m}_count` (B,) items the clip has, `{m}_extra`
    (B, g); `present` (B, 3); with labels also `y`, `y_modality` (B, 3), `reg`, `lang`."""
    import torch

    out: dict = {}
    b = len(clips)
    for i, m in enumerate(MODALITIES):
        d_seq, d_extra = dims[m]
        lengths = [len(c.seq[m]) if c.present[i] else 0 for c in clips]
        t = max(1, max(lengths))
        seq = np.zeros((b, t, d_seq), np.float32)
        mask = np.zeros((b, t), bool)
        extra = np.zeros((b, d_extra), np.float32)
        for j, c in enumerate(clips):
            if lengths[j]:
                seq[j, : lengths[j]] = c.seq[m]
                mask[j, : lengths[j]] = True
                if d_extra and len(c.extra[m]) == d_extra:
                    extra[j] = c.extra[m]
        out[m] = torch.from_numpy(seq).to(device)
        out[f"{m}_mask"] = torch.from_numpy(mask).to(device)
        out[f"{m}_count"] = torch.tensor(lengths, dtype=torch.float32, device=device)
        out[f"{m}_extra"] = torch.from_numpy(extra).to(device)
    out["present"] = torch.from_numpy(np.stack([c.present for c in clips])).to(device)
    if labels is not None:
        out["y"] = torch.tensor(labels["class_index"].to_numpy(np.int64), device=device)
        out["y_modality"] = torch.tensor(modality_classes(labels), device=device)
        out["reg"] = torch.tensor(labels["label_norm"].to_numpy(np.float32), device=device)
        out["lang"] = torch.tensor(labels["language"].map(LANG_INDEX).fillna(0).to_numpy(np.int64), device=device)
    return out


def modality_classes(labels: pd.DataFrame) -> np.ndarray:
    """(B, 3) class per modality from label_T/A/V (CH-SIMS v2, demo) where given, else the clip's class."""
    from clmer.data import labels as labels_mod

    y = labels["class_index"].to_numpy(np.int64)
    out = np.repeat(y[:, None], 3, axis=1)
    for i, col in enumerate(("label_T", "label_A", "label_V")):
        if col not in labels.columns:
            continue
        values = labels[col].to_numpy(float)
        for j, (v, flavour) in enumerate(zip(values, labels.get("flavour", pd.Series(["chsims2"] * len(labels))))):
            if np.isfinite(v):
                out[j, i] = int(labels_mod.class_index(v, flavour))
    return out


def load_feature_set(features: pd.DataFrame, store: FeatureStore, manifest: pd.DataFrame | None = None,
                     dims: dict | None = None) -> FeatureSet:
    """Clips that extracted (ok/partial) with their labels from the manifest when given."""
    usable = features[features["status"] != "failed"].reset_index(drop=True)
    clips = [load_clip(store, r.text_key, r.audio_key, r.vision_key) for r in usable.itertuples()]
    frame = usable[["clip", "path", "language", "transcript"]].copy()
    if manifest is not None:
        keyed = manifest.assign(clip=manifest["video_id"].astype(str) + "/" + manifest["clip_id"].astype(str))
        cols = ["clip", "video_id", "class_index", "label", "label_norm", "label_T", "label_A", "label_V", "mode",
                "variant", "flavour"]
        frame = frame.drop(columns=["language"]).merge(keyed[cols + ["language"]], on="clip", how="left")
        if frame["class_index"].isna().any():
            missing = frame.loc[frame["class_index"].isna(), "clip"].tolist()[:5]
            raise ValueError(f"features without a manifest row: {missing}")
    return FeatureSet(clips, frame, dims or infer_dims(clips))
