"""The drift report's numbers on hand-made distributions, against scipy or the formula written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from clmer.monitor import two_sample as ts


def test_wasserstein_is_scipys_for_every_relabelling():
    rng = np.random.default_rng(1)
    ref, drop = rng.normal(0, 1, 40), rng.normal(0.7, 2.0, 9)
    assert ts.wasserstein(ref, drop) == pytest.approx(wasserstein_distance(ref, drop), rel=1e-12)
    values = np.concatenate([ref, drop])
    marks = ts.labellings(len(values), len(drop), 25, rng)
    assert marks[0, -9:].all() and not marks[0, :-9].any() and (marks.sum(1) == 9).all()
    batch = ts.wasserstein_batch(values, marks)
    for row, w in zip(marks, batch):
        assert w == pytest.approx(wasserstein_distance(values[~row], values[row]), rel=1e-10)


def test_psi_on_reference_deciles_by_hand():
    ref = np.arange(100, dtype=float)  # deciles: ten bins of ten values
    drop = np.array([0.0, 1, 2, 3, 4, 5, 6, 7])  # all in the first bin
    by_hand = (1 - 0.1) * math.log(1 / 0.1) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert ts.psi(ref, drop) == pytest.approx(by_hand, rel=1e-9)
    assert ts.psi(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_mmd_is_the_kernel_formula_and_its_batch():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(6, 4)) + 1.5
    s = 1.7

    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * s * s))

    by_hand = k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
    assert ts.mmd2(x, y, s) == pytest.approx(by_hand, rel=1e-10)
    points = np.concatenate([x, y])
    marks = ts.labellings(len(points), 6, 10, rng)
    for row, value in zip(marks, ts.mmd2_batch(points, marks, s)):
        a, b = points[~row], points[row]
        assert value == pytest.approx(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean(), rel=1e-9)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))[np.triu_indices(30, 1)]
    assert ts.median_bandwidth(x) == pytest.approx(float(np.median(d)), rel=1e-9)


def test_total_variation_of_shares_and_its_batch():
    assert ts.total_variation({"zh": 0.5, "en": 0.5}, {"zh": 1.0}) == pytest.approx(0.5)
    labels = np.array(["a"] * 6 + ["b"] * 4 + ["a", "a", "b", "c"])
    onehot = (labels[:, None] == np.array(["a", "b", "c"])[None, :]).astype(float)
    mark = np.zeros((1, 14), bool)
    mark[0, 10:] = True
    # reference a .6 b .4 c 0; drop a .5 b .25 c .25 -> (0.1 + 0.15 + 0.25) / 2
    assert ts.total_variation_batch(onehot, mark)[0] == pytest.approx(0.25)


def test_holm_step_down_by_hand():
    assert ts.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert ts.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # step-down: never below an earlier one


def test_permutation_p_values_are_small_for_a_shift_and_not_for_the_same_distribution():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=150)
    values = np.concatenate([ref, rng.normal(4.0, 1.0, 8)])
    shifted = ts.p_value(ts.wasserstein_batch(values, ts.labellings(len(values), 8, 999, rng)))
    assert shifted == pytest.approx(1 / 1000)  # no relabelling is as far apart
    same = [ts.p_value(ts.wasserstein_batch(v, ts.labellings(len(v), 8, 199, rng)))
            for v in (np.concatenate([ref, rng.normal(size=8)]) for _ in range(40))]
    assert 0.3 < np.mean(same) < 0.7  # uniform under no drift: mean 1/2
    assert np.mean(np.asarray(same) <= 0.05) <= 0.15
