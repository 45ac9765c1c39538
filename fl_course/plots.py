"""The course's one figure style, and the plots several chapters share.

Figures get a white background of their own, so they read the same on the book's light
and dark themes; seaborn's colour-blind palette; axis labels always name the unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

__all__ = ["set_theme", "image_grid", "label_histogram", "plot_ledger"]


def set_theme() -> None:
    """Apply the course theme (call once at the top of a notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "figure.dpi": 100,
            "axes.titlesize": "medium",
            "image.cmap": "gray",
        }
    )


def _as_images(batch) -> np.ndarray:
    array = np.asarray(batch.detach().cpu() if hasattr(batch, "detach") else batch, dtype=float)
    if array.ndim == 3:  # [N, H, W]
        array = array[:, None]
    if array.ndim != 4:
        raise ValueError("Each row must be a batch of images shaped [N, C, H, W] or [N, H, W].")
    return np.clip(array.transpose(0, 2, 3, 1), 0.0, 1.0)


def image_grid(
    rows: Mapping[str, object],
    labels: Mapping[str, Sequence[str]] | None = None,
    *,
    max_columns: int = 16,
    size: float = 1.1,
):
    """Show batches of images as a grid, one named row per batch.

    Parameters
    ----------
    rows : mapping of str to tensor
        Row name (e.g. ``"ground truth"``, ``"iDLG"``) to images in [0, 1], ``[N, C, H, W]``.
    labels : mapping of str to list of str, optional
        Text under each image of a row, e.g. its PSNR.
    max_columns : int
        Images beyond this many per row wrap onto further lines.
    size : float
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("image_grid needs at least one row of images.")
    batches = {name: _as_images(batch) for name, batch in rows.items()}
    columns = min(max_columns, max(len(b) for b in batches.values()))
    lines = [(name, i) for name, b in batches.items() for i in range(0, len(b), columns)]
    fig, axes = plt.subplots(
        len(lines), columns, squeeze=False, figsize=(size * columns + 1.2, size * 1.25 * len(lines))
    )
    for (name, start), line in zip(lines, axes):
        for j, ax in enumerate(line):
            ax.axis("off")
            k = start + j
            if k >= len(batches[name]):
                continue
            image = batches[name][k]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, vmin=0, vmax=1, cmap="gray")
            if labels and name in labels:
                ax.set_title(labels[name][k], fontsize=7)
        if start == 0:
            line[0].text(
                -0.1, 0.5, name, transform=line[0].transAxes, ha="right", va="center", fontsize=9
            )
    fig.tight_layout()
    return fig


def label_histogram(partitions: Sequence[np.ndarray], labels, *, ax=None, title: str = ""):
    """Stacked bar chart of how many samples of each class every client holds.

    Parameters
    ----------
    partitions : list of index arrays
        The output of a :class:`fl_course.partition.Partitioner`.
    labels : array-like of int
        Labels of the whole data set the indices refer to.

    Returns
    -------
    matplotlib.axes.Axes
    """
    labels = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    counts = pd.DataFrame(
        [np.bincount(labels[p], minlength=labels.max() + 1) for p in partitions],
        index=pd.Index(range(len(partitions)), name="client"),
    )
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, 0.5 * len(partitions) + 2), 3))
    colors = sns.color_palette("colorblind", counts.shape[1])
    counts.plot.bar(stacked=True, ax=ax, color=colors, width=0.85, legend=False)
    ax.set_xlabel("client")
    ax.set_ylabel("samples (count)")
    ax.legend(title="class", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=7, ncols=1)
    if title:
        ax.set_title(title)
    return ax


def plot_ledger(ledgers: Mapping[str, pd.DataFrame], *, delta: float, ax=None):
    """Line plot of ε against rounds, one line per client, one colour per placement.

    Parameters
    ----------
    ledgers : dict of placement name to :meth:`fl_course.defenses.formal_dp.PrivacyLedger.table`
    delta : float
        δ of the ledgers (shown in the axis label).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not ledgers:
        raise ValueError(
            "plot_ledger needs at least one ledger, e.g. {'local DP-SGD': sim.ledger.table()}."
        )
    long = pd.concat(
        [
            table.reset_index()
            .melt(id_vars="round", var_name="client", value_name="epsilon")
            .assign(placement=name)
            for name, table in ledgers.items()
        ]
    )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(
        long,
        x="round",
        y="epsilon",
        hue="placement",
        units="client",
        estimator=None,
        marker="o",
        alpha=0.8,
        ax=ax,
    )
    ax.set(xlabel="FedAvg round", ylabel=f"ε spent (δ = {delta:g})", ylim=(0, None))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax
