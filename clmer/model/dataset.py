"""Stored features -> padded tensors for the fusion model.

A clip is three sequences (text tokens, audio frames at 10 Hz, video frames every 2 s), a global
vector per modality (sentence embedding; utterance embedding + emotion2vec cues; mean frame
embedding + SigLIP expression cues) and which modalities are present. An absent modality is
flagged, never filled with zeros that the model could mistake for data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clmer.features.feature_store import FeatureStore

MODALITIES = ("text", "audio", "vision")
LANG_INDEX = {"zh": 0, "en": 1}
MAX_LEN = {"text": 128, "audio": 300, "vision": 64}


@dataclass
class ClipFeatures:
    seq: dict[str, np.ndarray]  # modality -> (T, d) float32 (T may be 0)
    glob: dict[str, np.ndarray]  # modality -> (g,) float32
    present: np.ndarray  # (3,) bool
    times: dict[str, np.ndarray] = field(default_factory=dict)  # audio/vision item times (s)
    tokens: list[str] = field(default_factory=list)
    offsets: list = field(default_factory=list)
    special: list = field(default_factory=list)  # 1 for [CLS]/[SEP]-like tokens
    cues: dict[str, dict] = field(default_factory=dict)  # modality -> {"labels": [...], "scores": array}


def _subsample(x: np.ndarray, n: int) -> np.ndarray:
    """Keep at most n rows, evenly spread (long clips keep their whole time span)."""
    if len(x) <= n:
        return x
    return x[np.linspace(0, len(x) - 1, n).round().astype(int)]


def load_clip(store: FeatureStore, text_key: str, audio_key: str, vision_key: str) -> ClipFeatures:
    t, a, v = store.get(text_key), store.get(audio_key), store.get(vision_key)
    seq, glob, times = {}, {}, {}
    seq["text"] = t.arrays["token_embeddings"][: MAX_LEN["text"]]
    glob["text"] = t.arrays["sentence_embedding"][0] if len(t.arrays["sentence_embedding"]) else None
    seq["audio"] = _subsample(a.arrays["frame_embeddings"], MAX_LEN["audio"])
    times["audio"] = _subsample(a.arrays["frame_times"], MAX_LEN["audio"])
    if len(a.arrays["utterance_embedding"]):
        glob["audio"] = np.concatenate([a.arrays["utterance_embedding"][0], a.arrays["cue_scores"][0]])
    else:
        glob["audio"] = None
    seq["vision"] = _subsample(v.arrays["frame_embeddings"], MAX_LEN["vision"])
    times["vision"] = _subsample(v.arrays["frame_times"], MAX_LEN["vision"])
    if len(v.arrays["frame_embeddings"]):
        glob["vision"] = np.concatenate([v.arrays["frame_embeddings"].mean(0), v.arrays["cue_scores"].mean(0)])
    else:
        glob["vision"] = None
    present = np.array([t.status == "ok" and len(seq["text"]) > 0, a.status == "ok" and len(seq["audio"]) > 0,
                        v.status == "ok" and len(seq["vision"]) > 0])
    cues = {"audio": {"labels": a.meta.get("cue_labels", []), "scores": a.arrays["cue_scores"]},
            "vision": {"labels": v.meta.get("cue_labels", []), "scores": v.arrays["cue_scores"],
                       "times": v.arrays["frame_times"]}}
    n_tok = len(seq["text"])
    return ClipFeatures(seq=seq, glob=glob, present=present, times=times, tokens=t.meta.get("tokens", [])[:n_tok],
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
        dims[m] = (int(ex.seq[m].shape[1]), int(ex.glob[m].shape[0]))
    return dims


def collate(clips: list[ClipFeatures], dims: dict, labels: pd.DataFrame | None, device: str = "cpu") -> dict:
    import torch

    out: dict = {}
    b = len(clips)
    for i, m in enumerate(MODALITIES):
        d_seq, d_glob = dims[m]
        lengths = [len(c.seq[m]) if c.present[i] else 0 for c in clips]
        t = max(1, max(lengths))
        seq = np.zeros((b, t, d_seq), np.float32)
        mask = np.zeros((b, t), bool)
        glob = np.zeros((b, d_glob), np.float32)
        for j, c in enumerate(clips):
            if lengths[j]:
                seq[j, : lengths[j]] = c.seq[m]
                mask[j, : lengths[j]] = True
                glob[j] = c.glob[m]
        out[m] = torch.from_numpy(seq).to(device)
        out[f"{m}_mask"] = torch.from_numpy(mask).to(device)
        out[f"{m}_global"] = torch.from_numpy(glob).to(device)
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
