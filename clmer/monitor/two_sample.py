"""Two-sample distances between a drop and a reference, their permutation tests and the Holm adjustment.

Each kind of statistic gets one distance, and a permutation p-value for it: pool the reference and the drop,
relabel the pooled clips at random many times (drop size kept), and count how often a relabelling is at least
as far apart as what was observed: p = (1 + that count) / (permutations + 1). Nothing is assumed about the
shape of the distributions, which matters on drops of a few clips.

    scalar       Wasserstein-1 between the empirical distributions (scipy's `wasserstein_distance`).
                 PSI on the reference's deciles is computed beside it, the number operators know, but not tested:
                 with 8 clips its expected value with no drift at all is about (bins - 1) / 8 ~ 1.
    categorical  total variation between the category shares (half the L1 distance).
    vector       squared MMD (biased V-statistic) under a Gaussian kernel whose width is the median distance
                 between reference points (Gretton et al., 2012).

Each is batched over all relabellings at once (one matrix product), so a report of dozens of tests with a
couple of thousand permutations each takes about a second.
"""

from __future__ import annotations

import numpy as np

PSI_BINS = 10
_EPS = 1e-4  # PSI's floor on a bin's share: an empty bin would make it infinite


def labellings(n: int, k: int, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(permutations + 1, n) bool: row 0 marks the observed drop (the last k of n), each other row k random ones."""
    observed = np.zeros((1, n), bool)
    observed[0, n - k:] = True
    ranks = np.argsort(rng.random((permutations, n)), axis=1)
    return np.concatenate([observed, ranks < k])


def p_value(distances: np.ndarray) -> float:
    """distances[0] observed, the rest under relabelling: how surprising the observed one is."""
    observed = distances[0]
    return float((1 + np.sum(distances[1:] >= observed - 1e-12 * max(1.0, abs(observed)))) / len(distances))


def wasserstein_batch(values: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """W1 between the marked and the unmarked values, for every row of `drop` ((B, n) bool)."""
    order = np.argsort(values, kind="stable")
    gaps = np.diff(values[order])
    below = np.cumsum(drop[:, order], 1, dtype=np.int32)[:, :-1]  # drop clips at or below each value
    k = drop.sum(1, keepdims=True)
    seen = np.arange(1, len(values))[None, :]
    cdf_drop = below / np.maximum(k, 1)
    cdf_ref = (seen - below) / np.maximum(len(values) - k, 1)
    return np.abs(cdf_drop - cdf_ref) @ gaps


def total_variation_batch(onehot: np.ndarray, drop: np.ndarray) -> np.ndarray:
    z = drop.astype(np.float64)
    k = z.sum(1, keepdims=True)
    shares_drop = z @ onehot / np.maximum(k, 1)
    shares_ref = (1 - z) @ onehot / np.maximum(len(onehot) - k, 1)
    return 0.5 * np.abs(shares_drop - shares_ref).sum(1)


def gaussian_kernel(x: np.ndarray, bandwidth: float) -> np.ndarray:
    sq = np.sum(x * x, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    return np.exp(-d2 / (2 * bandwidth ** 2))


def mmd2_batch(points: np.ndarray, drop: np.ndarray, bandwidth: float) -> np.ndarray:
    """Squared MMD for every row of `drop`: (a - b)' K (a - b) with a, b the two sides' mean weights."""
    z = drop.astype(np.float64)
    k = z.sum(1, keepdims=True)
    w = z / np.maximum(k, 1) - (1 - z) / np.maximum(len(points) - k, 1)
    return np.einsum("bi,bi->b", w @ gaussian_kernel(points, bandwidth), w)


def median_bandwidth(points: np.ndarray) -> float:
    """The median pairwise distance among `points` (the usual MMD kernel width); 1 when they all coincide."""
    sq = np.sum(points * points, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * points @ points.T, 0.0)
    upper = np.sqrt(d2[np.triu_indices(len(points), 1)])
    med = float(np.median(upper)) if upper.size else 0.0
    return med if med > 1e-12 else 1.0


def wasserstein(reference: np.ndarray, drop: np.ndarray) -> float:
    values = np.concatenate([reference, drop])
    mark = np.zeros((1, len(values)), bool)
    mark[0, len(reference):] = True
    return float(wasserstein_batch(values, mark)[0])


def mmd2(reference: np.ndarray, drop: np.ndarray, bandwidth: float) -> float:
    points = np.concatenate([reference, drop])
    mark = np.zeros((1, len(points)), bool)
    mark[0, len(reference):] = True
    return float(mmd2_batch(points, mark, bandwidth)[0])


def total_variation(reference_shares: dict[str, float], drop_shares: dict[str, float]) -> float:
    keys = set(reference_shares) | set(drop_shares)
    return 0.5 * sum(abs(reference_shares.get(c, 0.0) - drop_shares.get(c, 0.0)) for c in keys)


def psi(reference: np.ndarray, drop: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index on the reference's quantile bins (ties merged), shares floored at 1e-4."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    new = np.bincount(np.searchsorted(edges, drop, side="right"), minlength=len(edges) + 1) / len(drop)
    ref, new = np.maximum(ref, _EPS), np.maximum(new, _EPS)
    return float(np.sum((new - ref) * np.log(new / ref)))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: rejecting every adjusted p <= alpha keeps the family-wise error at alpha
    under any dependence between the tests."""
    p = np.asarray(p_values, float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()
