"""A scored drop against the reference profile of the model that scored it: the drift report.

Per statistic (see `clmer.monitor.clip_stats`) a distance to the reference with a permutation p-value
(`clmer.monitor.two_sample`) and an effect in the reference's own units:

    scalar       Wasserstein-1 / the reference's std (floored per statistic): how far the distribution moved
    categorical  the largest change of one category's share / that share's binomial std under the reference
    vector       root-mean-square shift of the sketch's coordinates / their std in the reference

The p-values of every test in one report (all clips, then each language with enough clips against the same
language's reference) are Holm-adjusted together, so a report of a drop from the training distribution raises
a false alarm with probability at most `drift.alpha`, however many statistics it looks at. A statistic is

    drift   significant (adjusted p <= alpha) and effect >= drift.drift_effect
    watch   significant and effect >= drift.watch_effect
    ok      otherwise

A modality takes its worst statistic; the prediction statistics (outputs, which move when the world's label mix
does) count at most as 'watch'. The drop's verdict is the worst over the modalities of every analysis; `moved`
names the modalities at 'drift'. Fewer than `drift.min_clips` usable clips: verdict 'unknown', "too few clips to
tell"; a model without a profile: 'unknown' too, saying so.
"""

from __future__ import annotations

import time

import numpy as np

from clmer.config import DriftConfig
from clmer.monitor import two_sample as ts
from clmer.monitor.clip_stats import BY_NAME, GROUPS, Statistic
from clmer.monitor.profile import project

LEVELS = ("ok", "watch", "drift")
NOT_TESTED = ("not recorded", "too few clips to tell")
FORMAT = 1
_PLOT_POINTS = 200  # reference points kept per statistic for the report's plots
_CATEGORY_FLOOR = 0.1


def drift_report(profile: dict | None, rows: list[dict], cfg: DriftConfig, drop: str, model: dict,
                 seed: int = 0) -> dict:
    """The report (plain JSON data) of the clips `rows` (from `clip_statistics`) scored by `model`."""
    usable = [r for r in rows if r.get("values")]
    counts: dict[str, int] = {}
    for r in usable:
        counts[r["language"]] = counts.get(r["language"], 0) + 1
    base = {"format": FORMAT, "drop": drop, "model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "n_clips": len(usable), "n_failed": sum(r.get("status") == "failed" for r in rows),
            "n_unreadable": sum(1 for r in rows if r.get("error")), "languages": counts,
            "settings": cfg.model_dump(include={"min_clips", "alpha", "watch_effect", "drift_effect", "permutations"}),
            "moved": [], "watching": [], "analyses": []}
    if profile is None:
        return base | {"verdict": "unknown", "reference": None, "reason": "no reference profile: the model was "
                       "registered before drift monitoring (or with drift.reference_max_clips 0); register it again"}
    base["reference"] = {k: profile.get(k) for k in ("n_clips", "languages", "corpus", "created_at")}
    if len(usable) < cfg.min_clips:
        return base | {"verdict": "unknown", "reason": f"too few clips to tell: {len(usable)} usable, "
                                                       f"{cfg.min_clips} needed (drift.min_clips)"}
    marks = _Labellings(cfg.permutations, seed)
    ref_langs = np.asarray(profile["clips"]["language"])
    analyses = [_analysis("all clips", None, profile, usable, np.ones(len(ref_langs), bool), cfg, marks)]
    for lang, n in sorted(counts.items()):
        n_ref = int((ref_langs == lang).sum())
        if n >= cfg.min_clips and n_ref >= cfg.min_clips:
            analyses.append(_analysis(lang, lang, profile, [r for r in usable if r["language"] == lang],
                                      ref_langs == lang, cfg, marks))
        else:
            analyses.append({"name": lang, "language": lang, "n_clips": n, "n_reference": n_ref, "verdict": "unknown",
                             "reason": f"too few clips to tell ({n} in the drop, {n_ref} in the reference; "
                                       f"{cfg.min_clips} needed)", "groups": {}, "statistics": []})
    _judge(analyses, cfg)
    judged = [a for a in analyses if a["verdict"] != "unknown"]
    if not judged:
        return base | {"analyses": analyses, "verdict": "unknown", "reason": "no statistic could be tested"}
    verdict = max((a["verdict"] for a in judged), key=LEVELS.index)
    moved = [g for g in GROUPS if any(a["groups"].get(g) == "drift" for a in judged)]
    watching = [g for g in GROUPS if g not in moved and any(a["groups"].get(g) == "watch" for a in judged)]
    return base | {"verdict": verdict, "moved": moved, "watching": watching, "analyses": analyses,
                   "reason": summary_line(verdict, moved, watching, analyses)}


class _Labellings:
    """The relabellings of one report, drawn once per (pooled size, drop size): statistics with the same clips
    share them (each p-value stays exact; Holm needs nothing more), which keeps a report to about a second."""

    def __init__(self, permutations: int, seed: int):
        self.permutations, self.rng, self.cache = permutations, np.random.default_rng(seed), {}

    def __call__(self, n: int, k: int) -> np.ndarray:
        if (n, k) not in self.cache:
            self.cache[(n, k)] = ts.labellings(n, k, self.permutations, self.rng)
        return self.cache[(n, k)]


def _analysis(name: str, language: str | None, profile: dict, rows: list[dict], ref_mask: np.ndarray,
              cfg: DriftConfig, marks: _Labellings) -> dict:
    stats = []
    for spec in profile["statistics"]:
        stat = BY_NAME.get(spec["name"])
        if stat is None or (language is not None and stat.name == "language"):
            continue  # a statistic this code does not know, or the language mix within one language
        stats.append(_statistic(stat, profile, rows, ref_mask, cfg, marks))
    return {"name": name, "language": language, "n_clips": len(rows), "n_reference": int(ref_mask.sum()),
            "statistics": stats}


def _statistic(stat: Statistic, profile: dict, rows: list[dict], ref_mask: np.ndarray, cfg: DriftConfig,
               marks: _Labellings) -> dict:
    out = {"name": stat.name, "group": stat.group, "kind": stat.kind, "label": stat.label, "unit": stat.unit}
    sketch = None
    if stat.kind == "vector":
        sketch = profile["vectors"].get(stat.name)
        ref = [p for p, keep in zip(sketch["points"], ref_mask) if keep and p is not None] if sketch else []
        new = [r["values"].get(stat.name) for r in rows]
        new = [v for v in new if v and len(v) == sketch["dim"]] if sketch else []
    else:
        column = profile["values"].get(stat.name, [])
        ref = [v for v, keep in zip(column, ref_mask) if keep and v is not None]
        new = [r["values"].get(stat.name) for r in rows if r["values"].get(stat.name) is not None]
    out |= {"n_drop": len(new), "n_reference": len(ref)}
    if not ref or not new:
        return out | {"level": "not recorded", "note": "not recorded " + ("in the reference" if not ref else "in this drop")}
    if len(new) < cfg.min_clips or len(ref) < cfg.min_clips:
        return out | {"level": "too few clips to tell"}
    test = {"scalar": _scalar, "categorical": _categorical, "vector": _vector}[stat.kind]
    return out | test(stat, ref, new, sketch, marks)


def _scalar(stat: Statistic, ref: list, new: list, _sketch, marks: _Labellings) -> dict:
    r, d = np.asarray(ref, float), np.asarray(new, float)
    values = np.concatenate([r, d])
    distances = ts.wasserstein_batch(values, marks(len(values), len(d)))
    scale = max(float(r.std()), stat.floor, 1e-12)
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
    return {"distance_name": "Wasserstein-1", "distance": float(distances[0]), "effect": float(distances[0]) / scale,
            "p_value": ts.p_value(distances), "psi": ts.psi(r, d),
            "reference_summary": {"mean": float(r.mean()), "median": float(np.median(r)), "std": float(r.std())},
            "drop_summary": {"mean": float(d.mean()), "median": float(np.median(d)), "std": float(d.std())},
            "plot": {"edges": edges.round(6).tolist(),
                     "reference_share": (np.histogram(r, edges)[0] / len(r)).round(4).tolist(),
                     "drop_values": d.round(6).tolist()[:_PLOT_POINTS]}}


def _categorical(stat: Statistic, ref: list, new: list, _sketch, marks: _Labellings) -> dict:
    categories = sorted(set(ref) | set(new))
    labels = np.asarray(list(ref) + list(new))
    onehot = (labels[:, None] == np.asarray(categories)[None, :]).astype(float)
    distances = ts.total_variation_batch(onehot, marks(len(labels), len(new)))
    r_share = {c: ref.count(c) / len(ref) for c in categories}
    d_share = {c: new.count(c) / len(new) for c in categories}
    effect = max(abs(d_share[c] - r_share[c]) / max(np.sqrt(r_share[c] * (1 - r_share[c])), _CATEGORY_FLOOR)
                 for c in categories)
    return {"distance_name": "total variation", "distance": float(distances[0]), "effect": float(effect),
            "p_value": ts.p_value(distances), "reference_summary": r_share, "drop_summary": d_share,
            "plot": {"categories": categories}}


def _vector(stat: Statistic, ref: list, new: list, sketch: dict, marks: _Labellings) -> dict:
    r = np.asarray(ref, float)
    d = project(sketch, np.asarray(new, float))
    points = np.concatenate([r, d])
    distances = ts.mmd2_batch(points, marks(len(points), len(d)), sketch["bandwidth"])
    shift = (d.mean(0) - r.mean(0)) / np.maximum(r.std(0), 1e-6)
    return {"distance_name": "MMD²", "distance": float(distances[0]), "effect": float(np.sqrt(np.mean(shift ** 2))),
            "p_value": ts.p_value(distances), "dimensions": int(r.shape[1]),
            "plot": {"reference_xy": r[:_PLOT_POINTS, :2].round(4).tolist(), "drop_xy": d[:, :2].round(4).tolist()}}


def _judge(analyses: list[dict], cfg: DriftConfig) -> None:
    """Holm over every test of the report, then levels per statistic, modality and analysis."""
    tested = [s for a in analyses for s in a["statistics"] if "p_value" in s]
    for stat, adjusted in zip(tested, ts.holm([s["p_value"] for s in tested])):
        stat["p_adjusted"] = adjusted
        significant = adjusted <= cfg.alpha
        stat["level"] = ("drift" if significant and stat["effect"] >= cfg.drift_effect else
                         "watch" if significant and stat["effect"] >= cfg.watch_effect else "ok")
    for a in analyses:
        if "verdict" in a:  # too few clips in this language
            continue
        groups = {}
        for g in GROUPS:
            levels = [s["level"] for s in a["statistics"] if s["group"] == g and s["level"] in LEVELS]
            if levels:
                worst = max(levels, key=LEVELS.index)
                groups[g] = "watch" if g == "prediction" and worst == "drift" else worst
        a["groups"] = groups
        a["verdict"] = max(groups.values(), key=LEVELS.index) if groups else "unknown"
        if not groups:
            a["reason"] = "no statistic could be tested"


def summary_line(verdict: str, moved: list[str], watching: list[str], analyses: list[dict]) -> str:
    """'drift: audio (loudness, pitch), vision (brightness)' — the modalities and their statistics that moved."""
    def named(groups: list[str], level: str) -> str:
        parts = []
        for g in groups:
            labels = sorted({s["label"] for a in analyses for s in a["statistics"] if s["group"] == g and
                             s.get("level") == level})
            parts.append(f"{g} ({', '.join(labels)})")
        return ", ".join(parts)

    if verdict == "drift":
        text = "drift: " + named(moved, "drift")
        return text + (f"; watch: {named(watching, 'watch')}" if watching else "")
    if verdict == "watch":
        return "watch: " + named(watching, "watch")
    return "ok: no statistic moved beyond chance" if verdict == "ok" else "unknown"


def level_number(verdict: str) -> float:
    """The verdict as an MLflow metric: -1 unknown, 0 ok, 1 watch, 2 drift."""
    return float(LEVELS.index(verdict)) if verdict in LEVELS else -1.0
