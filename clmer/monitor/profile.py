"""The reference profile a registered version carries: what its training distribution looks like to it.

Made at registration from corpus clips extracted the way scoring extracts them (`clmer.serving.drift_watch`), and
saved as `drift_reference.json` beside the fusion weights, so the registered model holds it and scoring reads it
offline. It keeps, per clip, the readable statistics of `clmer.monitor.clip_stats` (the samples themselves, not
histograms: the permutation tests need them) and, per modality, a sketch of the embeddings: each dimension
standardised by the reference's mean and std, then a fixed random Gaussian projection to a few dimensions
(Johnson–Lindenstrauss), which keeps distances, so MMD on the sketch tests the embedding distribution.

Predictions and confidences come from validation clips only: on training clips the model is overconfident
(it fit them), and new clips would look like drift.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from clmer import atomic
from clmer.monitor.clip_stats import STATISTICS
from clmer.monitor.two_sample import median_bandwidth

FORMAT = 1
FILE_NAME = "drift_reference.json"
PROJECTION_DIM = 16  # per modality; expression mixes (7 numbers) are kept whole
PROJECTION_SEED = 0
_OUTPUTS = ("predicted_class", "confidence")


def build_profile(rows: list[dict], splits: list[str], info: dict) -> dict:
    """The profile of the clips `rows` (from `clip_statistics`); `splits[i]` is row i's corpus split, and only
    held-out clips (not 'train') give the prediction statistics."""
    keep = [i for i, r in enumerate(rows) if r.get("values")]
    if not keep:
        raise ValueError("no reference clip has statistics: nothing to profile")
    values = [rows[i]["values"] for i in keep]
    held_out = [splits[i] != "train" for i in keep]
    scalars, vectors = {}, {}
    for stat in STATISTICS:
        column = [v.get(stat.name) if (stat.name not in _OUTPUTS or h) else None for v, h in zip(values, held_out)]
        if stat.kind == "vector":
            vectors[stat.name] = _sketch(column, stat.name)
        else:
            scalars[stat.name] = column
    languages = [rows[i]["language"] for i in keep]
    return {"format": FORMAT, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **info,
            "n_clips": len(keep), "languages": {lang: languages.count(lang) for lang in sorted(set(languages))},
            "clips": {"language": languages, "split": [splits[i] for i in keep]},
            "values": scalars, "vectors": vectors,
            "statistics": [{"name": s.name, "group": s.group, "kind": s.kind, "label": s.label, "unit": s.unit,
                            "floor": s.floor} for s in STATISTICS]}


def _sketch(column: list, name: str) -> dict | None:
    """Standardiser + projection + the reference's projected points (None where a clip has no vector)."""
    dims = {len(v) for v in column if v}
    if not dims:
        return None
    dim = max(dims, key=lambda d: sum(1 for v in column if v and len(v) == d))  # one encoder: one size
    present = [i for i, v in enumerate(column) if v and len(v) == dim]
    x = np.asarray([column[i] for i in present], np.float64)
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-8, std, 1.0)  # a constant dimension carries no information; keep it at zero
    projection = None
    if dim > PROJECTION_DIM:
        rng = np.random.default_rng([PROJECTION_SEED, dim, sum(map(ord, name))])
        projection = rng.normal(size=(dim, PROJECTION_DIM)) / np.sqrt(PROJECTION_DIM)
    sketch = {"dim": dim, "mean": np.round(mean, 6).tolist(), "std": np.round(std, 6).tolist(),
              "projection": None if projection is None else np.round(projection, 6).tolist()}
    points = project(sketch, x)
    sketch["bandwidth"] = median_bandwidth(points)
    out = [None] * len(column)
    for i, p in zip(present, np.round(points, 5).tolist()):
        out[i] = p
    sketch["points"] = out
    return sketch


def project(sketch: dict, x: np.ndarray) -> np.ndarray:
    """Vectors (n, dim) -> sketch coordinates (n, k), as the reference's were made."""
    z = (np.asarray(x, np.float64) - np.asarray(sketch["mean"])) / np.asarray(sketch["std"])
    return z if sketch["projection"] is None else z @ np.asarray(sketch["projection"])


def save_profile(profile: dict, model_dir: str | Path) -> Path:
    path = Path(model_dir) / FILE_NAME
    atomic.write_text(path, json.dumps(profile, ensure_ascii=False, separators=(",", ":"), default=_plain))
    return path


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def load_profile(model_dir: str | Path | None) -> dict | None:
    """The profile beside a model's weights; None when the model has none (registered before drift monitoring,
    or with drift.reference_max_clips 0)."""
    if model_dir is None:
        return None
    path = Path(model_dir) / FILE_NAME
    if not path.is_file():
        return None
    profile = json.loads(path.read_text(encoding="utf-8"))
    if profile.get("format") != FORMAT:
        raise ValueError(f"{path}: reference profile format {profile.get('format')!r}, this code reads {FORMAT}")
    return profile


def describe(profile: dict) -> str:
    """One line for the model version's tag: how many clips, which languages, what is not recorded."""
    langs = ", ".join(f"{k} {v}" for k, v in profile["languages"].items())
    missing = [s["name"] for s in profile["statistics"] if not _recorded(profile, s["name"])]
    return (f"{profile['n_clips']} clips ({langs}) of {profile.get('corpus', '?')}"
            + (f"; not recorded: {', '.join(missing)}" if missing else "; every statistic recorded"))


def _recorded(profile: dict, name: str) -> bool:
    if name in profile["vectors"]:
        return profile["vectors"][name] is not None
    return any(v is not None for v in profile["values"].get(name, []))
