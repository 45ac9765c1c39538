"""Measure defenses: attack × defense matrices and federated utility/cost runs.

Used by the chapter 6 notebook and by ``python -m fl_course.bench defenses``,
so both report the same experiment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.defenses.base import Defense, ServerTransform, _check_seed
from fl_course.defenses.compression import GradientCompression
from fl_course.defenses.dp import GaussianNoise, LaplaceNoise
from fl_course.defenses.graddefense import GradDefense
from fl_course.defenses.local_steps import LocalStepProtection
from fl_course.defenses.outpost import Outpost
from fl_course.defenses.soteria import Soteria

__all__ = ["paper_defenses", "attack_matrix", "cafe_matrix", "federated_run", "federated_utility", "local_training_delta",
           "compensation_error"]


def paper_defenses(root_data: tuple[torch.Tensor, torch.Tensor], *, seed: int = 0) -> dict[str, Defense | None]:
    """The defenses of GradDefense's and Outpost's comparisons, at the papers' defaults.

    Returns
    -------
    dict
        ``"none"`` (no defense), ``"GC"`` (80 % pruning), ``"DP-Gaussian"`` and
        ``"DP-Laplace"`` (scale 1e-2), ``"Soteria"``, ``"GradDefense"`` (10
        slices, 5 perturbed, σ = 1e-2, clipping) and ``"Outpost"`` (β 0.125,
        φ 40, prune_base 80, noise_base 0.8).
    """
    return {
        "none": None,
        "GC": GradientCompression(80.0, seed=seed),
        "DP-Gaussian": GaussianNoise(1e-2, seed=seed),
        "DP-Laplace": LaplaceNoise(1e-2, seed=seed),
        "Soteria": Soteria(seed=seed),
        "GradDefense": GradDefense(root_data, seed=seed),
        "Outpost": Outpost(seed=seed),
    }


def attack_matrix(
    model_fn: Callable[[], nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    defenses: Mapping[str, Defense | None],
    attacks: Mapping[str, object],
    *,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[tuple[str, str], torch.Tensor]]:
    """Attack each image's (defended) FedSGD gradient with every attack.

    Each image is one client with a batch of one, the setting of GradDefense's
    Table II and of Outpost's evaluation. The defense sees the model, the
    batch and ``iteration=0``; the attack sees only the protected gradient and
    the label.

    Parameters
    ----------
    model_fn : callable
        Builds the (seeded) global model.
    images, labels : Tensor
        ``[N, C, H, W]`` victims and their labels.
    defenses : dict of name to Defense or None
    attacks : dict of name to :class:`fl_course.attacks.Attack`

    Returns
    -------
    table : DataFrame
        One row per (defense, attack, image): ``psnr``, ``ssim``, ``mse``, ``seconds``.
    reconstructions : dict
        ``(defense, attack) -> [N, C, H, W]`` reconstructed images.
    """
    from fl_course.attacks import client_gradient

    rows, recs = [], {}
    total = len(defenses) * len(attacks) * len(images)
    bar = tqdm(total=total, desc="attack × defense", disable=not progress, leave=False)
    for d_name, defense in defenses.items():
        if defense is not None:
            defense.reset()
        for a_name in attacks:
            recs[(d_name, a_name)] = torch.zeros_like(images)
        for i in range(len(images)):
            x, y = images[i : i + 1], labels[i : i + 1]
            model = model_fn()
            observed = client_gradient(model, x, y).tensors
            shared = observed if defense is None else defense(observed, model=model, data=(x, y), iteration=0)
            for a_name, attack in attacks.items():
                start = time.perf_counter()
                result = attack.reconstruct(model, shared, labels=y)
                rec = result.images
                recs[(d_name, a_name)][i] = rec[0]
                rows.append(
                    {
                        "defense": d_name,
                        "attack": a_name,
                        "image": i,
                        "psnr": float(metrics.psnr(x, rec)),
                        "ssim": float(metrics.ssim(x, rec)),
                        "mse": float(metrics.mse(x, rec)),
                        "seconds": time.perf_counter() - start,
                    }
                )
                bar.update()
    bar.close()
    return pd.DataFrame(rows), recs


def cafe_matrix(
    defenses: Mapping[str, Defense | None],
    *,
    num_samples: int,
    batch_size: int,
    iterations: int,
    seed: int = 0,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Run CAFE in horizontal FL once per defense, every worker's shared gradient defended.

    For each defense (rewound with :meth:`~fl_course.defenses.base.Defense.reset`) a fresh
    :func:`~fl_course.attacks.cafe.mnist_setting` ``("hfl", ...)`` is built with the same
    seed, so every run attacks the same digits with the same frozen model (``lr=0``) and the
    same batch indices. The defense is installed as the setting's ``gradient_hook``
    (:meth:`~fl_course.defenses.base.Defense.gradient_hook`): each of the four workers
    protects its gradient, with its own batch as ``data``, before the server aggregates.
    :class:`~fl_course.attacks.cafe.Cafe` then attacks for ``iterations`` iterations.

    Parameters
    ----------
    defenses : dict of name to Defense or None
        ``None`` runs without defense (e.g. :func:`paper_defenses`' ``"none"``).
    num_samples : int
        Digits in the federation, all of them attacked; a multiple of the 4 workers.
    batch_size : int
        Samples per iteration over all workers; a multiple of 4, at most ``num_samples``.
    iterations : int
        CAFE iterations per defense.
    seed : int, default 0
        Picks the digits and seeds the model, the batch choice and the attack.
    progress : bool, default True
        Show a progress bar over the defenses.

    Returns
    -------
    table : DataFrame
        One row per defense, in the order given: ``defense``, ``psnr`` (mean over all digits
        of the per-digit :func:`fl_course.metrics.psnr`, ``10·log10(1/MSE)``, as in chapter
        5), ``psnr_min`` (the worst digit), ``ssim``, ``mse`` (means over all digits) and
        ``seconds`` (wall-clock time of the defended federation and the attack).
    reconstructions : dict
        Defense name to CAFE's fake digits, ``[num_samples, 1, 28, 28]`` in [0, 1], aligned
        with the setting's ``images``.

    Examples
    --------
    >>> table, fakes = cafe_matrix({"none": None, "DP": GaussianNoise(0.1)}, num_samples=8,
    ...                            batch_size=4, iterations=10, progress=False)  # doctest: +SKIP
    >>> table.set_index("defense")["psnr"]  # doctest: +SKIP
    """
    from fl_course.attacks.cafe import Cafe, mnist_setting

    if not isinstance(defenses, Mapping) or not defenses:
        raise ValueError('defenses must be a non-empty dict of name to Defense or None, e.g. {"none": None}.')
    for name, defense in defenses.items():
        if defense is not None and not isinstance(defense, Defense):
            raise ValueError(f"defenses[{name!r}] is a {type(defense).__name__}; pass a Defense or None (no defense).")
    for name, value in [("num_samples", num_samples), ("batch_size", batch_size), ("iterations", iterations)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if batch_size > num_samples:
        raise ValueError(f"batch_size={batch_size} exceeds num_samples={num_samples}; the batch is drawn from them.")
    _check_seed(seed)

    rows, recs = [], {}
    for name, defense in tqdm(defenses.items(), desc="CAFE per defense", disable=not progress, leave=False):
        setting = mnist_setting("hfl", num_samples=num_samples, batch_size=batch_size, lr=0.0, seed=seed)
        if defense is not None:
            defense.reset()
            setting.gradient_hook = defense.gradient_hook(model=setting.model)
        attack = Cafe(setting, seed=seed, progress=False)
        start = time.perf_counter()
        attack.run(iterations, eval_every=iterations)
        seconds = time.perf_counter() - start
        truth, fake = setting.images.cpu(), attack.fake_data.detach().clamp(0, 1).cpu()
        scores = attack.psnr()
        rows.append({"defense": name, "psnr": float(scores.mean()), "psnr_min": float(scores.min()),
                     "ssim": metrics.ssim(truth, fake), "mse": metrics.mse(truth, fake), "seconds": seconds})
        recs[name] = fake
    return pd.DataFrame(rows), recs


def federated_run(
    model_fn: Callable[[], nn.Module],
    client_data: list[tuple[torch.Tensor, torch.Tensor]],
    test_data: tuple[torch.Tensor, torch.Tensor],
    defense: Defense | tuple[Defense | None, ServerTransform | None] | None = None,
    *,
    rounds: int = 3,
    lr: float = 0.05,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, float]:
    """One FedAvg training with ``defense`` on every local step; final accuracy (%) and round times.

    Returns ``accuracy`` (%), ``round_seconds`` (median wall-clock time of a
    round) and ``round_cpu_seconds`` (this process's CPU time per round, which
    other jobs on a shared machine barely disturb).

    ``defense`` is a client-side defense, ``None``, or a pair ``(client
    defense, server transform)``. The client defense runs on every local
    gradient through :class:`LocalStepProtection` (as in the authors' and
    Plato's trainers); the server transform, if any, on the weighted average.
    """
    from fl_course.fedavg import FedAvg

    client, server = defense if isinstance(defense, tuple) else (defense, None)
    sim = FedAvg(model_fn, client_data, test_data=test_data, rounds=rounds, lr=lr, momentum=momentum,
                 weight_decay=weight_decay, batch_size=batch_size, seed=seed, progress=False)
    guard = None
    if client is not None:
        client.reset()
        guard = LocalStepProtection(client, sim.model)
        sim.step_hook, sim.client_hook = guard.step_hook, guard.client_hook
    if server is not None:
        sim.server_hook = server.server_hook()
    cpu_start = time.process_time()
    history = sim.run()
    cpu = (time.process_time() - cpu_start) / rounds
    if guard is not None:
        guard.detach()
    return {"accuracy": 100 * float(history["test_accuracy"].iloc[-1]),
            "round_seconds": float(np.median(history["seconds"])),
            "round_cpu_seconds": cpu}


def federated_utility(
    model_fn: Callable[[], nn.Module],
    client_data: list[tuple[torch.Tensor, torch.Tensor]],
    test_data: tuple[torch.Tensor, torch.Tensor],
    defenses: Mapping[str, Defense | tuple[Defense | None, ServerTransform | None] | None],
    *,
    progress: bool = True,
    **train,
) -> pd.DataFrame:
    """Run :func:`federated_run` once per defense and compare with no defense.

    ``defenses`` must contain ``"none"``, which runs first. Keyword arguments
    (``rounds``, ``lr``, ``momentum``, ``weight_decay``, ``batch_size``,
    ``seed``) go to :func:`federated_run`.

    Returns
    -------
    DataFrame
        One row per defense: ``accuracy`` (final test accuracy, %),
        ``round_seconds``, ``round_cpu_seconds`` (see :func:`federated_run`),
        ``accuracy_drop`` (points below ``"none"``), ``round_time_ratio`` (CPU
        time per round against ``"none"``, same run) and ``round_wall_ratio``
        (the same with wall-clock medians).
    """
    if "none" not in defenses:
        raise ValueError('defenses must include "none" (no defense), the baseline of accuracy_drop and time ratios.')
    order = ["none"] + [k for k in defenses if k != "none"]
    rows = []
    for name in tqdm(order, desc="FedAvg per defense", disable=not progress, leave=False):
        rows.append({"defense": name, **federated_run(model_fn, client_data, test_data, defenses[name], **train)})
    table = pd.DataFrame(rows).set_index("defense")
    table["accuracy_drop"] = table.loc["none", "accuracy"] - table["accuracy"]
    table["round_time_ratio"] = table["round_cpu_seconds"] / table.loc["none", "round_cpu_seconds"]
    table["round_wall_ratio"] = table["round_seconds"] / table.loc["none", "round_seconds"]
    return table.loc[list(defenses)].reset_index()


def local_training_delta(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    defense: Defense | None = None,
) -> dict[str, torch.Tensor]:
    """One client's production-style update: ``steps`` SGD steps on its batch, Δ = W_T − W_0.

    The model is copied, trained with ``torch.optim.SGD(lr, momentum,
    weight_decay)`` and, if ``defense`` is given, every local gradient is
    protected first (:class:`LocalStepProtection`, iteration ``t`` = step
    index), as in Outpost's production setting.

    Returns
    -------
    dict[str, Tensor]
        The weight delta keyed by parameter name; ``model`` is unchanged.
    """
    import copy

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    local = copy.deepcopy(model)
    start = {n: p.detach().clone() for n, p in local.named_parameters()}
    optimizer = torch.optim.SGD(local.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    guard = LocalStepProtection(defense, local) if defense is not None else None
    for t in range(steps):
        if guard is not None:
            guard.iteration = t
        optimizer.zero_grad()
        nn.functional.cross_entropy(local(images), labels).backward()
        optimizer.step()
    if guard is not None:
        guard.detach()
    return {n: p.detach() - start[n] for n, p in local.named_parameters()}


def compensation_error(
    clean: dict[str, torch.Tensor], noisy: dict[str, torch.Tensor], transform: ServerTransform
) -> tuple[float, float]:
    """Relative errors ``‖noisy − clean‖/‖clean‖`` and ``‖transform(noisy) − clean‖/‖clean‖``."""
    names = [k for k, v in clean.items() if v.is_floating_point()]
    c = torch.cat([clean[k].reshape(-1) for k in names]).double()
    n = torch.cat([noisy[k].reshape(-1) for k in names]).double()
    fixed = transform(noisy)
    f = torch.cat([fixed[k].reshape(-1) for k in names]).double()
    scale = float(c.norm()) or 1.0
    return float((n - c).norm()) / scale, float((f - c).norm()) / scale
