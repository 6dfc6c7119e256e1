"""Metrics, each written once, with each benchmark's own definitions.

Classification (the original system's table): WAR = weighted average recall = accuracy; UAR =
unweighted average recall over the label set's three classes (a class absent from the truth counts
with recall 0, like sklearn's `recall_score(labels=[0, 1, 2], average="macro", zero_division=0)`);
macro and weighted F1 over the same label set.

Regression, as MMSA's `MetricsTop` computes them (thuiar/MMSA, src/MMSA/utils/metricsTop.py):

* CH-SIMS / CH-SIMS v2 (`__eval_sims_regression`): predictions and truth clipped to [-1, 1], then
  binned: Acc-2 over [-1, 0] | (0, 1]; Acc-3 over [-1, -0.1] | (-0.1, 0.1] | (0.1, 1];
  Acc-5 over [-1, -0.7] | (-0.7, -0.1] | (-0.1, 0.1] | (0.1, 0.7] | (0.7, 1]; F1 = weighted F1 of the
  Acc-2 bins; MAE and Pearson Corr on the clipped values. It has no Acc-7.
* CMU-MOSEI (`__eval_mosei_regression`): Has0 Acc-2 / weighted F1 (truth >= 0 vs < 0), Non0 Acc-2 /
  weighted F1 (zero labels dropped, > 0 vs not), Acc-5 (clip to [-2, 2], round), Acc-7 (clip to
  [-3, 3], round), MAE and Corr on the raw scale.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 3
SIMS_BINS = {2: (-1.01, 0.0, 1.01), 3: (-1.01, -0.1, 0.1, 1.01), 5: (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01)}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = N_CLASSES) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def _f1_per_class(cm: np.ndarray) -> np.ndarray:
    support, predicted = cm.sum(1), cm.sum(0)
    recall = np.divide(np.diag(cm), support, out=np.zeros(len(cm)), where=support > 0)
    precision = np.divide(np.diag(cm), predicted, out=np.zeros(len(cm)), where=predicted > 0)
    return np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(cm)), where=(precision + recall) > 0)


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """sklearn's f1_score(average="weighted"): per-class F1 weighted by support, over the labels present
    in either the truth or the prediction."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.union1d(y_true, y_pred)
    index = {v: i for i, v in enumerate(labels)}
    cm = confusion([index[v] for v in y_true], [index[v] for v in y_pred], len(labels))
    support = cm.sum(1)
    return float((_f1_per_class(cm) * support).sum() / support.sum()) if support.sum() else 0.0


def classification(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    if len(y_true) == 0:
        return {"n": 0}
    cm = confusion(y_true, y_pred)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(N_CLASSES), where=support > 0)
    f1 = _f1_per_class(cm)
    return {
        "n": int(len(y_true)),
        "war": float((y_true == y_pred).mean()),
        "uar": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * support).sum() / support.sum()),
        "confusion": cm.tolist(),
    }


def _bin(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """MMSA's binning: class i holds values in (edges[i], edges[i+1]]."""
    out = np.zeros(len(values), int)
    for i in range(len(edges) - 1):
        out[(values > edges[i]) & (values <= edges[i + 1])] = i
    return out


def _corr(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(p, y)[0, 1]) if len(y) > 1 and np.std(p) > 0 and np.std(y) > 0 else 0.0


def sims_regression(label: np.ndarray, pred: np.ndarray) -> dict:
    """CH-SIMS v2 regression metrics exactly as MMSA's `__eval_sims_regression` (see the module doc)."""
    y = np.clip(np.asarray(label, float), -1.0, 1.0)
    p = np.clip(np.asarray(pred, float), -1.0, 1.0)
    if len(y) == 0:
        return {}
    out = {f"acc{k}": float((_bin(p, e) == _bin(y, e)).mean()) for k, e in SIMS_BINS.items()}
    out["f1"] = weighted_f1(_bin(y, SIMS_BINS[2]), _bin(p, SIMS_BINS[2]))
    return out | {"mae": float(np.abs(p - y).mean()), "corr": _corr(p, y)}


def mosei_regression(label: np.ndarray, pred: np.ndarray) -> dict:
    """CMU-MOSEI regression metrics exactly as MMSA's `__eval_mosei_regression` (see the module doc)."""
    y, p = np.asarray(label, float), np.asarray(pred, float)
    if len(y) == 0:
        return {}
    non0 = y != 0
    out = {
        "mae": float(np.abs(p - y).mean()), "corr": _corr(p, y),
        "acc2_has0": float(((p >= 0) == (y >= 0)).mean()),
        "f1_has0": weighted_f1(y >= 0, p >= 0),
        "acc2_non0": float(((p[non0] > 0) == (y[non0] > 0)).mean()) if non0.any() else float("nan"),
        "f1_non0": weighted_f1(y[non0] > 0, p[non0] > 0) if non0.any() else float("nan"),
        "acc5": float((np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2))).mean()),
        "acc7": float((np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3))).mean()),
    }
    return out


def regression(label: np.ndarray, pred_norm: np.ndarray, flavour: str) -> dict:
    """The benchmark's own regression metrics: `label` on the corpus scale, `pred_norm` in [-1, 1]."""
    if flavour == "mosei":
        return mosei_regression(label, np.asarray(pred_norm, float) * 3.0)
    return sims_regression(label, pred_norm)


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray) -> dict:
    """Always predict the most frequent training class."""
    values, counts = np.unique(np.asarray(y_train, int), return_counts=True)
    majority = int(values[np.argmax(counts)]) if len(values) else 1
    return classification(y_test, np.full(len(y_test), majority)) | {"class": majority}


def chance_baseline(y_test: np.ndarray) -> dict:
    """Expected scores of a uniform random guess: WAR = UAR = 1/3."""
    return {"n": int(len(y_test)), "war": 1.0 / N_CLASSES, "uar": 1.0 / N_CLASSES}


def bootstrap_ci(values_fn, n: int, reps: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic: `values_fn(indices)` over resampled test clips."""
    rng = np.random.default_rng(seed)
    stats = [values_fn(rng.integers(0, n, n)) for _ in range(reps)] if n else [float("nan")]
    return float(np.nanpercentile(stats, 100 * alpha / 2)), float(np.nanpercentile(stats, 100 * (1 - alpha / 2)))
