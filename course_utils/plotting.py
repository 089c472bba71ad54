"""The few plots every topic draws: loss curves and per-layer bar charts."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

__all__ = ["plot_curves", "plot_per_layer"]


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    ax: plt.Axes | None = None,
    *,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    logy: bool = False,
) -> plt.Axes:
    """Draw one line per named curve (for example ``{"train": [...], "val": [...]}``).

    Args:
        curves: label → sequence of y values; x is the index (0, 1, 2, ...).
        ax: draw into these axes; a new 6×3.5-inch figure is made when ``None``.
        logy: use a log-scaled y axis (good for losses spanning decades).

    Returns:
        The axes, so callers can add to them.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, ys in curves.items():
        ax.plot(range(len(ys)), list(ys), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return ax


def plot_per_layer(
    values: Mapping[str, Sequence[float]],
    ax: plt.Axes | None = None,
    *,
    ylabel: str = "value",
    title: str | None = None,
    logy: bool = True,
) -> plt.Axes:
    """Plot a per-layer statistic (activation std, gradient norm, ...) for several settings.

    Args:
        values: setting name → one value per layer (layer 1 first).
        logy: log-scaled y axis (the default: these statistics shrink or grow geometrically).

    Returns:
        The axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, ys in values.items():
        ax.plot(range(1, len(ys) + 1), list(ys), marker="o", label=label)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if values:
        ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return ax
