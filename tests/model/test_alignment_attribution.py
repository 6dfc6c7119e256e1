"""Alignment losses and exact Shapley values on hand-made cases."""

import itertools
import math

import numpy as np
import pytest
import torch

from clmer.model.alignment import cross_lingual_supcon
from clmer.model.attribution import SUBSETS, shapley_from_values, spearman3
from clmer.model.fusion import GradReverse


def test_supcon_positives_are_same_label_other_language():
    y = torch.tensor([0, 0, 1, 1])
    lang = torch.tensor([0, 1, 0, 1])
    aligned = torch.tensor([[1.0, 0], [1.0, 0.01], [0, 1.0], [0.01, 1.0]])  # zh/en of a label together
    crossed = torch.tensor([[1.0, 0], [0, 1.0], [0, 1.0], [1.0, 0]])  # same language together instead
    assert cross_lingual_supcon(aligned, y, lang, 0.2) < cross_lingual_supcon(crossed, y, lang, 0.2)
    # No anchor with a positive (one language only): zero loss, still differentiable.
    z = torch.randn(4, 2, requires_grad=True)
    loss = cross_lingual_supcon(z, y, torch.zeros(4, dtype=torch.long), 0.2)
    loss.backward()
    assert loss.item() == 0.0


def test_gradient_reversal():
    x = torch.ones(3, requires_grad=True)
    GradReverse.apply(x, 0.5).sum().backward()
    assert x.grad.tolist() == [-0.5, -0.5, -0.5]


def _brute_shapley(v, players):
    n = len(players)
    phi = {}
    for m in players:
        total = 0.0
        for perm in itertools.permutations(players):
            before = tuple(sorted(perm[: perm.index(m)]))
            total += v[tuple(sorted(before + (m,)))] - v[before]
        phi[m] = total / math.factorial(n)
    return phi


def test_shapley_is_exact_and_efficient():
    rng = np.random.default_rng(0)
    values = {s: rng.uniform(size=2) for s in SUBSETS}
    present = np.array([[True, True, True], [True, False, True]])
    phi = shapley_from_values(values, present)
    for i in range(2):
        players = [m for m in range(3) if present[i, m]]
        v_i = {s: values[s][i] for s in SUBSETS}
        brute = _brute_shapley(v_i, players)
        for m in players:
            assert phi[i, m] == pytest.approx(brute[m])
        full = tuple(players)
        assert phi[i].sum() == pytest.approx(v_i[full] - v_i[()])  # efficiency
    assert phi[1, 1] == 0.0  # an absent modality gets nothing


def test_spearman3():
    assert spearman3(np.array([0.1, 0.5, 0.9]), np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    assert spearman3(np.array([0.9, 0.5, 0.1]), np.array([1.0, 2.0, 3.0])) == pytest.approx(-1.0)
    assert np.isnan(spearman3(np.ones(3), np.array([1.0, 2.0, 3.0])))
