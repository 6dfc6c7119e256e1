"""Metrics on hand-made cases, including MMSA's two Acc-2 variants and Acc-5/7."""

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
    assert m["macro_f1"] == pytest.approx((2 * (4 / 6) * 1 / (4 / 6 + 1)) / 3)
    assert metrics.classification(y, y)["uar"] == 1.0


def test_regression_metrics_on_mosei_scale():
    label = np.array([-3.0, -1.0, 0.0, 0.4, 2.0, 3.0])
    pred_norm = np.array([-1.0, -0.2, 0.1, 0.2, 0.5, 0.9])  # x3: -3, -0.6, 0.3, 0.6, 1.5, 2.7
    m = metrics.regression(label, pred_norm, scale=3.0)
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred_norm * 3 - label)))
    assert m["acc2_has0"] == 1.0  # every sign (>= 0 counts as non-negative) agrees
    assert m["acc2_non0"] == 1.0  # the zero label is dropped
    # Acc-7: round(clip(., -3, 3)): preds -3, -1, 0, 1, 2, 3 vs labels -3, -1, 0, 0, 2, 3 -> 5/6
    assert m["acc7"] == pytest.approx(5 / 6)
    # Acc-5: clip to [-2, 2] first: preds -2, -1, 0, 1, 2, 2 vs labels -2, -1, 0, 0, 2, 2 -> 5/6
    assert m["acc5"] == pytest.approx(5 / 6)
    assert m["corr"] > 0.9


def test_regression_on_sims_scale_scales_to_three():
    m = metrics.regression(np.array([-1.0, 1.0]), np.array([-1.0, 1.0]), scale=1.0)
    assert m["mae"] == 0 and m["acc7"] == 1.0


def test_baselines():
    maj = metrics.majority_baseline(np.array([2, 2, 1]), np.array([2, 0, 1, 2]))
    assert maj["class"] == 2 and maj["war"] == 0.5 and maj["uar"] == pytest.approx(1 / 3)
    assert metrics.chance_baseline(np.zeros(5))["war"] == pytest.approx(1 / 3)
