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


def shares_figure(report: dict):
    """Mean policy weight per modality per language split, and mean Shapley values."""
    plt = _plt()
    splits = list(report["splits"])
    mods = ["text", "audio", "vision"]
    fig, ax = plt.subplots(figsize=(5, 3))
    width = 0.8 / max(1, len(splits))
    for k, split in enumerate(splits):
        w = [report["splits"][split]["mean_weights"][m] for m in mods]
        ax.bar(np.arange(3) + k * width, w, width, label=f"weights ({split})")
    if "faithfulness" in report:
        shap = [report["faithfulness"]["mean_shapley"][m] for m in mods]
        ax.plot(np.arange(3) + 0.4 - width / 2, shap, "ko--", label="mean Shapley")
    ax.set_xticks(np.arange(3) + 0.4 - width / 2, mods)
    ax.set_ylabel("share")
    ax.legend(fontsize=7)
    ax.set_title("modality shares", fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(history: list[dict], keys: list[str], title: str, stage: str | None = None):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3))
    rows = [r for r in history if stage is None or r["stage"] == stage]
    for key in keys:
        pts = [(r["epoch"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=key)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save(fig, path: Path) -> Path:
    plt = _plt()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
