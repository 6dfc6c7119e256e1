"""Metrics: the original system's (WAR, UAR) and MMSA's regression metrics, written once.

* WAR: weighted average recall = accuracy. UAR: unweighted average recall = macro recall.
* MMSA regression metrics on the MOSEI scale ([-3, 3]; CH-SIMS v2 predictions are scaled x3):
  MAE and Pearson Corr on the corpus's own scale; Acc-2 "has-0" (negative vs non-negative) and
  "non-0" (zero labels dropped, negative vs positive); Acc-5 (clip to [-2, 2], round) and Acc-7
  (clip to [-3, 3], round).
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 3


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = N_CLASSES) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def classification(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    if len(y_true) == 0:
        return {"n": 0}
    cm = confusion(y_true, y_pred)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(N_CLASSES), where=support > 0)
    predicted = cm.sum(0)
    precision = np.divide(np.diag(cm), predicted, out=np.zeros(N_CLASSES), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(N_CLASSES), where=(precision + recall) > 0)
    present = support > 0  # macro averages over the classes that occur in y_true
    return {
        "n": int(len(y_true)),
        "war": float((y_true == y_pred).mean()),
        "uar": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "confusion": cm.tolist(),
    }


def regression(label: np.ndarray, pred_norm: np.ndarray, scale: float) -> dict:
    """`label` on the corpus scale, `pred_norm` in [-1, 1]; scale = 1 (CH-SIMS v2) or 3 (MOSEI)."""
    y = np.asarray(label, float)
    p = np.asarray(pred_norm, float) * scale
    if len(y) == 0:
        return {}
    y3, p3 = y * (3.0 / scale), p * (3.0 / scale)  # MMSA's accuracies are defined on [-3, 3]
    non0 = y3 != 0
    corr = float(np.corrcoef(p, y)[0, 1]) if len(y) > 1 and np.std(p) > 0 and np.std(y) > 0 else 0.0
    return {
        "mae": float(np.abs(p - y).mean()),
        "corr": corr,
        "acc2_has0": float(((p3 >= 0) == (y3 >= 0)).mean()),
        "acc2_non0": float(((p3[non0] > 0) == (y3[non0] > 0)).mean()) if non0.any() else float("nan"),
        "acc5": float((np.round(np.clip(p3, -2, 2)) == np.round(np.clip(y3, -2, 2))).mean()),
        "acc7": float((np.round(np.clip(p3, -3, 3)) == np.round(np.clip(y3, -3, 3))).mean()),
    }


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray) -> dict:
    """Always predict the most frequent training class."""
    values, counts = np.unique(np.asarray(y_train, int), return_counts=True)
    majority = int(values[np.argmax(counts)]) if len(values) else 1
    return classification(y_test, np.full(len(y_test), majority)) | {"class": majority}


def chance_baseline(y_test: np.ndarray) -> dict:
    """Expected scores of a uniform random guess: WAR = UAR = 1/3."""
    return {"n": int(len(y_test)), "war": 1.0 / N_CLASSES, "uar": 1.0 / N_CLASSES}
