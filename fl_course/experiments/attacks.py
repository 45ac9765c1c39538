"""Attack experiments of chapter 4, shared by its lab and ``python -m fl_course.bench attacks``.

:func:`evaluate_attack` runs an attack on real images one client at a time (each client
holds ``batch_size`` images, the victim computes its real update with
:func:`~fl_course.attacks.base.client_gradient` or
:func:`~fl_course.attacks.base.client_fedavg_update`) and tabulates PSNR, SSIM and time
per client; :func:`summarize`, :func:`paired_gap` and :func:`best_trivial_guess` turn
the tables into the numbers of Geiping et al. (2020)'s Table 1, Fig. 4 and Table 2.
The remaining helpers set up the lab's experiments: the two attacks of Table 1
(:func:`euclid_lbfgs`, :func:`inverting_gradients`), trained victims
(:func:`train_and_score`), label scores (:func:`label_accuracy`), Fig. 5's check that an
update is useful (:func:`held_out_loss_ratio`) and Table 2's clients
(:func:`distinct_label_clients`).

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> from fl_course.attacks import IDLG
>>> from fl_course.experiments.attacks import evaluate_attack, summarize
>>> x, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 2])
>>> table = evaluate_attack(IDLG(iterations=2, progress=False), LeNetZhu(seed=0), x, y)
>>> sorted(summarize(table))  # doctest: +NORMALIZE_WHITESPACE
['cpu_seconds_per_image', 'images', 'iterations', 'psnr_mean', 'psnr_std',
 'seconds_per_image', 'ssim_mean']
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.checks import check_int
from fl_course.attacks import IDLG, InvertingGradients
from fl_course.attacks.base import (
    Attack,
    AttackResult,
    ObservedUpdate,
    client_fedavg_update,
    client_gradient,
    order_like,
)
from fl_course.models import train_model

__all__ = [
    "evaluate_attack",
    "summarize",
    "paired_gap",
    "published_gap",
    "best_trivial_guess",
    "label_accuracy",
    "euclid_lbfgs",
    "inverting_gradients",
    "train_and_score",
    "held_out_loss_ratio",
    "distinct_label_clients",
]


def label_accuracy(predicted: torch.Tensor, true: torch.Tensor) -> float:
    """Fraction of a batch's labels recovered, compared as multisets (order does not matter).

    A gradient reveals how many images of each class a batch holds, not which image has
    which label (Geiping et al. 2020, Sec. 4; the count rule of
    :func:`fl_course.attacks.count_labels`). So the score is the overlap of the two label
    counts: ``Σ_c min(#predicted = c, #true = c) / len(true)``.

    Parameters
    ----------
    predicted, true : torch.Tensor
        Integer labels, ``[B]`` each.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> label_accuracy(torch.tensor([2, 3]), torch.tensor([1, 2]))
    0.5
    """
    if len(true) == 0:
        raise ValueError(
            "true holds no labels; pass the batch's labels, e.g. torch.tensor([1, 2])."
        )
    predicted, true = predicted.detach().cpu().long(), true.detach().cpu().long()
    classes = int(torch.cat([predicted, true]).max()) + 1
    overlap = torch.minimum(
        torch.bincount(predicted, minlength=classes), torch.bincount(true, minlength=classes)
    )
    return overlap.sum().item() / len(true)


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
        after best matching), ``ssim``, ``labels_correct`` (:func:`label_accuracy`),
        ``iterations``, ``seconds`` (wall clock) and ``cpu_seconds`` (process
        CPU time, all threads; robust to a busy machine).
    """
    check_int("batch_size", batch_size, example=1)
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
        correct = label_accuracy(result.labels, y)
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
            "Both tables need the same, non-zero number of clients; "
            f"got {len(better)} and {len(worse)}."
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


def published_gap(
    better: tuple[float, float], worse: tuple[float, float], *, images: int = 100
) -> tuple[float, float]:
    """A paper's gap between two conditions and its standard error, from (mean, std) pairs.

    For the orderings of Geiping et al. (2020)'s Table 1, which reports mean and std of
    the PSNR over ``images`` images per cell: ``gap = mean_better − mean_worse`` and
    ``stderr = sqrt((std_better² + std_worse²) / images)`` (the cells treated as independent).

    Examples
    --------
    >>> published_gap((18.00, 3.33), (46.25, 12.66))[0]
    -28.25
    """
    (mean_a, std_a), (mean_b, std_b) = better, worse
    check_int("images", images, example=100)  # 100 in Table 1
    return mean_a - mean_b, ((std_a**2 + std_b**2) / images) ** 0.5


def euclid_lbfgs(*, iterations: int, restarts: int, seed: int = 0) -> IDLG:
    """Table 1's "Euclid + L-BFGS" row: :class:`~fl_course.attacks.IDLG` from uniform noise.

    Geiping et al. (2020) compare their attack with DLG's Euclidean gradient matching
    optimised by L-BFGS; the lab runs it with known labels, so it is iDLG's matching from
    a uniform random start (``init="rand"``), without a progress bar.
    """
    return IDLG(iterations=iterations, restarts=restarts, init="rand", seed=seed, progress=False)


def inverting_gradients(
    tv: float, *, iterations: int, restarts: int, seed: int = 0
) -> InvertingGradients:
    """Table 1's "Inverting Gradients" row: cosine matching, TV weight ``tv``, uniform start.

    :class:`~fl_course.attacks.InvertingGradients` with ``init="rand"`` and no progress bar;
    the lab uses ``tv=1e-4`` on LeNet (Zhu) and ``1e-2`` on the pooled ConvNet.
    """
    return InvertingGradients(
        iterations=iterations, tv=tv, restarts=restarts, init="rand", seed=seed, progress=False
    )


def train_and_score(
    net: nn.Module,
    train_data: tuple[torch.Tensor, torch.Tensor],
    test_data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    seed: int = 0,
) -> tuple[float, float]:
    """Train ``net`` in place (:func:`fl_course.models.train_model`) and score it.

    Table 1's "trained" networks: the victims' model after central training.

    Parameters
    ----------
    net : torch.nn.Module
        Trained in place, on its own device; the data are moved there.
    train_data, test_data : (images, labels)
    epochs : int
    seed : int, default 0

    Returns
    -------
    accuracy : float
        Test accuracy in [0, 1].
    seconds : float
        Wall-clock time of training and scoring.
    """
    start = time.perf_counter()
    train_model(net, *train_data, epochs=epochs, seed=seed)
    device = next(net.parameters()).device
    test_x, test_y = test_data
    with torch.no_grad():
        predicted = net(test_x.to(device)).argmax(1).cpu()
    accuracy = (predicted == test_y.cpu()).float().mean().item()
    return accuracy, time.perf_counter() - start


def held_out_loss_ratio(
    net: nn.Module, update: ObservedUpdate, held_out: tuple[torch.Tensor, torch.Tensor]
) -> float:
    """Loss on held-out digits after applying the client's update, relative to before.

    Geiping et al. (2020), Fig. 5 calls its largest learning rate a failure case of the
    attack; a ratio well above 1 shows that such an update also harms the model, so no
    client would send it. ``update.tensors`` is the weight delta Δ, added to ``net``'s
    parameters (``net`` itself is unchanged).
    """
    images, labels = held_out
    moved = {n: p + update.tensors[n] for n, p in net.named_parameters()}
    with torch.no_grad():
        before = nn.functional.cross_entropy(net(images), labels)
        after = nn.functional.cross_entropy(
            torch.func.functional_call(net, moved, (images,)), labels
        )
    return float(after / before)


def distinct_label_clients(labels: torch.Tensor, n: int, count: int) -> list[torch.Tensor]:
    """``count`` clients of ``n`` images each, labels distinct inside a client (Table 2's setup).

    Geiping et al. (2020), Table 2 attack clients whose images carry distinct labels.
    Scanning ``labels`` in order, each client takes the first unused images whose labels
    it does not hold yet; clients never share an image.

    Returns
    -------
    list of torch.Tensor
        Each client's indices into ``labels``.

    Examples
    --------
    >>> [c.tolist() for c in distinct_label_clients(torch.tensor([3, 3, 1, 2, 1]), 2, 2)]
    [[0, 2], [1, 3]]
    """
    taken: set[int] = set()
    clients = []
    for _ in range(count):
        picked, seen = [], set()
        for i in range(len(labels)):
            if i not in taken and int(labels[i]) not in seen:
                picked.append(i)
                seen.add(int(labels[i]))
            if len(picked) == n:
                break
        taken.update(picked)
        clients.append(torch.tensor(picked))
    return clients
