"""Polarity classes and the rules that map MMSA regression labels to them. Written once, here.

MMSA's convention (thuiar/MMSA, `metricsTop.py`):

* CH-SIMS / CH-SIMS v2 labels lie in [-1, 1]. Three classes by thresholds:
  negative if y <= -0.1, neutral if -0.1 < y <= 0.1, positive if y > 0.1.
* CMU-MOSI / CMU-MOSEI labels lie in [-3, 3]. Three classes by `round(clip(y, -1, 1))`.
  The rounding is NumPy's (half to even), as in MMSA, so |y| < 0.5 is neutral and so is
  exactly +-0.5; |y| > 0.5 takes its sign.

The regression label is always kept next to the class so MAE / Corr / Acc-2/5/7 stay computable.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Flavour = Literal["chsims2", "mosei"]

CLASSES: tuple[str, str, str] = ("negative", "neutral", "positive")
CLASS_TO_INDEX = {name: i for i, name in enumerate(CLASSES)}

LABEL_RANGE: dict[str, tuple[float, float]] = {"chsims2": (-1.0, 1.0), "mosei": (-3.0, 3.0)}
DEFAULT_LANGUAGE: dict[str, str] = {"chsims2": "zh", "mosei": "en"}
LANGUAGES: tuple[str, str] = ("zh", "en")

SIMS_THRESHOLD = 0.1


def polarity(label: float | np.ndarray, flavour: Flavour) -> np.ndarray:
    """Signed polarity (-1, 0, 1) of regression labels under MMSA's rule for `flavour`."""
    y = np.asarray(label, dtype=np.float64)
    if flavour == "chsims2":
        return np.where(y <= -SIMS_THRESHOLD, -1, np.where(y <= SIMS_THRESHOLD, 0, 1)).astype(np.int64)
    if flavour == "mosei":
        return np.round(np.clip(y, -1.0, 1.0)).astype(np.int64)
    raise ValueError(f"unknown corpus flavour {flavour!r}; expected one of {sorted(LABEL_RANGE)}")


def class_index(label: float | np.ndarray, flavour: Flavour) -> np.ndarray:
    """Class index 0/1/2 (negative/neutral/positive) of regression labels."""
    return polarity(label, flavour) + 1


def normalised(label: float | np.ndarray, flavour: Flavour) -> np.ndarray:
    """Label divided by its flavour's bound, so every corpus lives in [-1, 1] for training."""
    lo, hi = LABEL_RANGE[flavour]
    return np.asarray(label, dtype=np.float64) / hi


def denormalised(value: float | np.ndarray, flavour: Flavour) -> np.ndarray:
    lo, hi = LABEL_RANGE[flavour]
    return np.asarray(value, dtype=np.float64) * hi
