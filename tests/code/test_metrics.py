"""Metrics on hand-computed cases: the original system's WAR/UAR and MMSA's regression metrics, each
benchmark with its own definitions (thuiar/MMSA src/MMSA/utils/metricsTop.py)."""

import numpy as np
import pytest

from clmer.model import metrics


def test_war_uar_f1_confusion():
    y = np.array([0, 0, 0, 0, 1, 2])
    p = np.array([0, 0, 0, 0, 0, 0])
    m = metrics.classification(y, p)
    assert m["war"] == pytest.approx(4 / 6)
    assert m["uar"] == pytest.approx((1 + 0 + 0) / 3)
    assert m["confusion"] == [[4, 0, 0], [1, 0, 0], [1, 0, 0]]
    f1_neg = 2 * (4 / 6) * 1 / (4 / 6 + 1)
    assert m["macro_f1"] == pytest.approx(f1_neg / 3)
    assert m["weighted_f1"] == pytest.approx(f1_neg * 4 / 6)
    assert metrics.classification(y, y)["uar"] == 1.0


def test_uar_averages_over_the_label_set_not_the_classes_present():
    # No positive clip in the truth: its recall counts as 0, so a perfect answer on the other two
    # classes is UAR 2/3 (sklearn recall_score(labels=[0, 1, 2], average="macro", zero_division=0)).
    m = metrics.classification(np.array([0, 0, 1]), np.array([0, 0, 1]))
    assert m["war"] == 1.0 and m["uar"] == pytest.approx(2 / 3)


def test_weighted_f1_matches_sklearn_definition():
    # labels {0, 1}: class 0 P=2/3 R=1 F1=.8 (support 2); class 1 P=1 R=1/2 F1=2/3 (support 2)
    assert metrics.weighted_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1])) == pytest.approx((0.8 * 2 + 2 / 3 * 2) / 4)


def test_mosei_regression_as_mmsa():
    label = np.array([-3.0, -1.0, 0.0, 0.4, 2.0, 3.0])
    pred_norm = np.array([-1.0, -0.2, 0.1, 0.2, 0.5, 0.9])  # x3: -3, -0.6, 0.3, 0.6, 1.5, 2.7
    m = metrics.regression(label, pred_norm, "mosei")
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred_norm * 3 - label)))
    assert m["acc2_has0"] == 1.0  # every sign (>= 0 counts as non-negative) agrees
    assert m["acc2_non0"] == 1.0  # the zero label is dropped
    assert m["f1_has0"] == 1.0 and m["f1_non0"] == 1.0
    # Acc-7: round(clip(., -3, 3)): preds -3, -1, 0, 1, 2, 3 vs labels -3, -1, 0, 0, 2, 3 -> 5/6
    assert m["acc7"] == pytest.approx(5 / 6)
    # Acc-5: clip to [-2, 2] first: preds -2, -1, 0, 1, 2, 2 vs labels -2, -1, 0, 0, 2, 2 -> 5/6
    assert m["acc5"] == pytest.approx(5 / 6)
    assert m["corr"] > 0.9


def test_sims_regression_as_mmsa():
    # MMSA bins (a, b]: Acc-2 [-1, 0] | (0, 1]; Acc-3 at +-0.1; Acc-5 at +-0.1 and +-0.7; no Acc-7.
    label = np.array([-0.8, -0.1, 0.0, 0.1, 0.5, 1.0])
    pred = np.array([-0.6, -0.2, 0.05, 0.2, 0.8, 1.3])  # 1.3 is clipped to 1
    m = metrics.regression(label, pred, "chsims2")
    # Acc-2: truth [0, 0, 0, 1, 1, 1] (0.0 is in [-1, 0]); pred [0, 0, 1, 1, 1, 1] -> 5/6
    assert m["acc2"] == pytest.approx(5 / 6)
    # Acc-3: truth [0, 0, 1, 1, 2, 2] (-0.1 is negative, 0.1 is neutral); pred [0, 0, 1, 2, 2, 2] -> 5/6
    assert m["acc3"] == pytest.approx(5 / 6)
    # Acc-5: truth [0, 1, 2, 2, 3, 4]; pred [1, 1, 2, 3, 4, 4] -> 3/6
    assert m["acc5"] == pytest.approx(3 / 6)
    assert "acc7" not in m
    assert m["mae"] == pytest.approx(np.mean(np.abs(np.clip(pred, -1, 1) - label)))
    # weighted F1 of the Acc-2 bins: class 0 P=1 R=2/3 F1=.8; class 1 P=3/4 R=1 F1=6/7; support 3 each
    assert m["f1"] == pytest.approx((0.8 + 6 / 7) / 2)


def test_baselines():
    maj = metrics.majority_baseline(np.array([2, 2, 1]), np.array([2, 0, 1, 2]))
    assert maj["class"] == 2 and maj["war"] == 0.5 and maj["uar"] == pytest.approx(1 / 3)
    assert metrics.chance_baseline(np.zeros(5))["war"] == pytest.approx(1 / 3)
