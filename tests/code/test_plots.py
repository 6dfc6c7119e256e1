"""MLflow figures: categories drawn as bars, legends that cover no data."""

from __future__ import annotations

import pytest
from matplotlib.container import BarContainer

from clmer.explain import plots

REPORT = {
    "splits": {"all": {"mean_weights": {"text": 0.5, "audio": 0.2, "vision": 0.3}},
               "zh": {"mean_weights": {"text": 0.6, "audio": 0.1, "vision": 0.3}}},
    "faithfulness": {"mean_shapley": {"text": 0.25, "audio": -0.05, "vision": 0.1}},
}
HISTORY = [{"stage": "warmup", "epoch": e, "train_ce": 1.0 / (e + 1), "valid_ce": 1.2 / (e + 1)} for e in range(8)]


def _legend_and_data(fig):
    """(legend box, the data artists' boxes) in display coordinates, after a draw."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0] if fig.legends else fig.axes[0].get_legend()
    ax = fig.axes[0]
    data = [p.get_window_extent(renderer) for p in ax.patches] + [ln.get_window_extent(renderer) for ln in ax.lines]
    return legend.get_window_extent(renderer), data


def test_mean_shapley_is_bars_not_a_line():
    fig = plots.shares_figure(REPORT)
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    assert set(bars) == {"mean weight (all)", "mean weight (zh)", "mean Shapley"}
    assert [round(b.get_height(), 3) for b in bars["mean Shapley"]] == [0.25, -0.05, 0.1]
    assert not [ln for ln in ax.lines if ln.get_label() == "mean Shapley"]


@pytest.mark.parametrize("make", [lambda: plots.shares_figure(REPORT),
                                  lambda: plots.curves_figure(HISTORY, ["train_ce", "valid_ce"], "losses", "warmup")])
def test_legend_covers_no_data(make):
    legend, data = _legend_and_data(make())
    assert data
    assert not any(legend.overlaps(box) for box in data)
