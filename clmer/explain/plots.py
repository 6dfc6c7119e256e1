"""Figures for MLflow runs and reports (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clmer.data.labels import CLASSES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_figure(cm: list[list[int]], title: str):
    plt = _plt()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(3), CLASSES, rotation=30)
    ax.set_yticks(range(3), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _legend_outside(fig, ax) -> None:
    """The legend to the right of the axes, never on top of the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=7, frameon=False)


def shares_figure(report: dict):
    """Per modality: the mean policy weight of each evaluated split, and the mean Shapley value, all
    as bars side by side (categories are not a sequence, so no line joins them)."""
    plt = _plt()
    splits = list(report["splits"])
    mods = ["text", "audio", "vision"]
    series = [(f"mean weight ({split})", [report["splits"][split]["mean_weights"][m] for m in mods], {})
              for split in splits]
    if "faithfulness" in report:
        series.append(("mean Shapley", [report["faithfulness"]["mean_shapley"][m] for m in mods],
                       {"color": "white", "edgecolor": "black", "hatch": "///"}))
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    width = 0.8 / max(1, len(series))
    x = np.arange(len(mods))
    for k, (label, values, style) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=label, **style)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, mods)
    ax.set_ylabel("weight / Shapley value")
    ax.set_title("modality weights and Shapley values", fontsize=9)
    _legend_outside(fig, ax)
    return fig


def curves_figure(history: list[dict], keys: list[str], title: str, stage: str | None = None):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    rows = [r for r in history if stage is None or r["stage"] == stage]
    for key in keys:
        pts = [(r["epoch"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=key)
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=9)
    _legend_outside(fig, ax)
    return fig


def save(fig, path: Path) -> Path:
    plt = _plt()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
