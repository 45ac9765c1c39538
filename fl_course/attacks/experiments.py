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
['cpu_seconds_per_image', 'images', 'iterations', 'psnr_mean', 'psnr_std', 'seconds_per_image']
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.attacks.base import Attack, AttackResult, client_fedavg_update, client_gradient, order_like

__all__ = ["evaluate_attack", "summarize"]


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
        result = attack.reconstruct(model, update, labels=y if known_labels else None, data_shape=tuple(x.shape[1:]))
        cpu = time.process_time() - cpu_start
        rec = order_like(result.images, x.cpu())
        correct = float((torch.sort(result.labels).values == torch.sort(y.cpu()).values).float().mean())
        iterations = int(result.history.groupby("restart")["iteration"].max().sum() + result.history["restart"].nunique())
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
        ``images`` (clients), ``iterations`` (mean per client) and
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
        "images": int(len(table)),
        "iterations": int(round(float(table["iterations"].mean()))),
        "seconds_per_image": round(float(table["seconds"].mean()), 3),
        "cpu_seconds_per_image": round(float(table["cpu_seconds"].mean()), 3),
    }
