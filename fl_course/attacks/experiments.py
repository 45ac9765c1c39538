"""Small experiment drivers shared by the chapter-4 lab and ``python -m fl_course.bench attacks``.

They run an attack on real images one client at a time (each client holds
``batch_size`` images, the victim computes its real update with
:func:`~fl_course.attacks.base.client_gradient` or
:func:`~fl_course.attacks.base.client_fedavg_update`) and tabulate PSNR, SSIM
and time per client.

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> from fl_course.attacks import IDLG
>>> from fl_course.attacks.experiments import evaluate_attack, summarize
>>> x, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 2])
>>> table = evaluate_attack(IDLG(iterations=2, progress=False), LeNetZhu(seed=0), x, y)
>>> sorted(summarize(table))
['cpu_seconds_per_image', 'images', 'iterations', 'psnr_mean', 'psnr_std', 'seconds_per_image', 'ssim_mean']
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.attacks.base import (
    Attack,
    AttackResult,
    client_fedavg_update,
    client_gradient,
    order_like,
)

__all__ = ["evaluate_attack", "summarize", "paired_gap", "best_trivial_guess"]


def evaluate_attack(
    attack: Attack,
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 1,
    known_labels: bool = True,
    fedavg: dict | None = None,
    progress: bool = False,
    keep: list[AttackResult] | None = None,
    monitor: bool = False,
) -> pd.DataFrame:
    """Attack consecutive clients of ``batch_size`` images each and tabulate the quality.

    Parameters
    ----------
    attack : Attack
    model : torch.nn.Module
        Global model every client starts from.
    images, labels : torch.Tensor
        Real data; split into ``len(images) // batch_size`` clients in order.
    batch_size : int, default 1
        Images per client.
    known_labels : bool, default True
        Give the attack the true labels; otherwise it infers or optimises them.
    fedavg : dict, optional
        If given, the client sends a FedAvg delta computed with these keyword
        arguments of :func:`client_fedavg_update` (``lr``, ``local_epochs``,
        ``batch_size``); otherwise a FedSGD gradient.
    progress : bool, default False
        A progress bar over clients.
    keep : list, optional
        If given, each :class:`AttackResult` is appended to it (for plotting).
    monitor : bool, default False
        Pass the true images as ``ground_truth`` so each result's history logs
        the PSNR over iterations (for the lab's convergence plots; the attack
        never reads them).

    Returns
    -------
    pandas.DataFrame
        One row per client: ``client``, ``psnr`` (dB, mean over its images,
        after best matching), ``ssim``, ``labels_correct`` (fraction),
        ``iterations``, ``seconds`` (wall clock) and ``cpu_seconds`` (process
        CPU time, all threads; robust to a busy machine).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    clients = len(images) // batch_size
    if clients < 1:
        raise ValueError(f"Need at least batch_size={batch_size} images, got {len(images)}.")
    rows = []
    for c in tqdm(range(clients), desc=type(attack).__name__, disable=not progress):
        x = images[c * batch_size : (c + 1) * batch_size]
        y = labels[c * batch_size : (c + 1) * batch_size]
        if fedavg is None:
            update = client_gradient(model, x, y, loss_fn=attack.loss_fn)
        else:
            update = client_fedavg_update(model, x, y, loss_fn=attack.loss_fn, **fedavg)
        cpu_start = time.process_time()
        result = attack.reconstruct(
            model,
            update,
            labels=y if known_labels else None,
            data_shape=tuple(x.shape[1:]),
            ground_truth=x if monitor else None,
        )
        cpu = time.process_time() - cpu_start
        rec = order_like(result.images, x.cpu())
        correct = float(
            (torch.sort(result.labels).values == torch.sort(y.cpu()).values).float().mean()
        )
        iterations = int(
            result.history.groupby("restart")["iteration"].max().sum()
            + result.history["restart"].nunique()
        )
        rows.append(
            {
                "client": c,
                "psnr": metrics.psnr(x.cpu(), rec),
                "ssim": metrics.ssim(x.cpu(), rec),
                "labels_correct": correct,
                "iterations": iterations,
                "seconds": result.seconds,
                "cpu_seconds": cpu,
            }
        )
        if keep is not None:
            result.images = rec
            keep.append(result)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> dict:
    """Benchmark figures of an :func:`evaluate_attack` table.

    Returns
    -------
    dict
        ``psnr_mean``, ``psnr_std`` (dB, population std over clients),
        ``ssim_mean``, ``images`` (clients), ``iterations`` (mean per client) and
        ``seconds_per_image`` (mean wall-clock attack time per client) and
        ``cpu_seconds_per_image``.
    """
    if table.empty:
        raise ValueError("The table is empty; run evaluate_attack on at least one client.")
    psnr = table["psnr"].to_numpy(dtype=float)
    finite = np.where(np.isfinite(psnr), psnr, 100.0)  # identical images: cap at 100 dB
    return {
        "psnr_mean": round(float(finite.mean()), 2),
        "psnr_std": round(float(finite.std()), 2),
        "ssim_mean": round(float(table["ssim"].mean()), 3),
        "images": int(len(table)),
        "iterations": int(round(float(table["iterations"].mean()))),
        "seconds_per_image": round(float(table["seconds"].mean()), 3),
        "cpu_seconds_per_image": round(float(table["cpu_seconds"].mean()), 3),
    }


def paired_gap(better: pd.DataFrame, worse: pd.DataFrame, column: str = "psnr") -> dict:
    """Mean and spread of a per-client difference between two attacks on the same clients.

    Geiping et al.'s orderings (Table 1: which attack wins on which network) are
    gaps between two conditions; on the same victims the per-client difference
    removes the victims' own spread.

    Parameters
    ----------
    better, worse : pandas.DataFrame
        :func:`evaluate_attack` tables over the same clients (same order).
    column : str, default "psnr"

    Returns
    -------
    dict
        ``gap`` (mean of ``better - worse``), ``std`` (population std of the
        differences), ``n`` (clients) and ``stderr`` (std / sqrt(n)); infinite PSNRs
        (identical images) are capped at 100 dB as in :func:`summarize`.

    Examples
    --------
    >>> a = pd.DataFrame({"client": [0, 1], "psnr": [20.0, 24.0]})
    >>> b = pd.DataFrame({"client": [0, 1], "psnr": [10.0, 12.0]})
    >>> paired_gap(a, b)["gap"]
    11.0
    """
    if len(better) != len(worse) or len(better) == 0:
        raise ValueError(
            f"Both tables need the same, non-zero number of clients; got {len(better)} and {len(worse)}."
        )
    if (
        "client" in better
        and "client" in worse
        and not np.array_equal(better["client"], worse["client"])
    ):
        raise ValueError(
            "The two tables cover different clients; run both attacks on the same images."
        )
    a = np.minimum(better[column].to_numpy(dtype=float), 100.0)
    b = np.minimum(worse[column].to_numpy(dtype=float), 100.0)
    diff = a - b
    return {
        "gap": round(float(diff.mean()), 2),
        "std": round(float(diff.std()), 2),
        "n": int(len(diff)),
        "stderr": round(float(diff.std() / np.sqrt(len(diff))), 2),
    }


def best_trivial_guess(images: torch.Tensor, mean_image: torch.Tensor, *, seed: int = 0) -> dict:
    """The best of the three gradient-free guesses on the same victims an attack is scored on.

    Wraps :func:`fl_course.metrics.trivial_guesses` (all-black, mean training
    image, uniform noise): a reconstruction shows leakage only above it.

    Returns
    -------
    dict
        ``guess`` (the name of the best guess by PSNR), ``psnr`` and ``ssim`` of
        that guess, and ``ssim_best`` (the best SSIM of any guess).
    """
    table = metrics.trivial_guesses(images.detach().cpu(), mean_image.detach().cpu(), seed=seed)
    name = str(table["psnr"].idxmax())
    return {
        "guess": name,
        "psnr": round(float(table.loc[name, "psnr"]), 2),
        "ssim": round(float(table.loc[name, "ssim"]), 3),
        "ssim_best": round(float(table["ssim"].max()), 3),
    }
