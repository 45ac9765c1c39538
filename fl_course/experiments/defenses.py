"""Defense experiments of chapter 6: attack × defense matrices, federated utility and cost runs.

Used by the chapter 6 lab and by ``python -m fl_course.bench defenses``, so both report the
same experiment. The defenses come from :mod:`fl_course.defenses` (at the papers' settings:
:func:`fl_course.defenses.evaluation.paper_defenses`), the attacks from
:mod:`fl_course.attacks`; the runs here put them together:

================================  =====================================================
:func:`attack_matrix`             every attack on every defended one-image gradient
:func:`privacy_summary`           each cell judged against the best trivial guess
:func:`federated_run`             one FedAvg training with a defense where its paper puts it
:func:`federated_utility`         accuracy and round time of every defense, same run length
:func:`round_aggregates`          one round's clean and defended FedAvg averages
:func:`compensation_error`        GradDefense's compensation: error before and after
:func:`compensation_split`        what the compensation keeps of signal and noise
:func:`identification_rate`       the optimal attacker against one DP-SGD release
:func:`dp_attack_psnr`            an attack's PSNR against DP-SGD at a given ε
================================  =====================================================
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.checks import check_int, check_seed
from fl_course.defenses.base import Defense, ServerTransform, flatten_update
from fl_course.defenses.formal_dp import DPSGD, PrivateFedAvg
from fl_course.experiments.parallel import map_rows
from fl_course.federation.client import local_gradient
from fl_course.federation.fedavg import FedAvg, weighted_average

__all__ = [
    "attack_matrix",
    "privacy_summary",
    "federated_run",
    "federated_utility",
    "round_aggregates",
    "compensation_error",
    "compensation_split",
    "identification_rate",
    "dp_attack_psnr",
]


def attack_matrix(
    model_fn: Callable[[], nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    defenses: Mapping[str, Defense | None],
    attacks: Mapping[str, object],
    *,
    progress: bool = True,
    processes: int | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], torch.Tensor]]:
    """Attack each image's (defended) FedSGD gradient with every attack.

    Each image is one client with a batch of one, the setting of GradDefense's
    Table II and of Outpost's evaluation. The defense sees the model, the
    batch and ``step=0``; the attack sees only the protected gradient and
    the label.

    Parameters
    ----------
    model_fn : callable
        Builds the (seeded) global model.
    images, labels : Tensor
        ``[N, C, H, W]`` victims and their labels.
    defenses : dict of name to Defense or None
    attacks : dict of name to :class:`fl_course.attacks.Attack`
    progress : bool, default True
    processes : int, optional
        Worker processes, one defense each at a time
        (:func:`fl_course.experiments.parallel.map_rows`); the numbers do not depend on it.

    Returns
    -------
    table : DataFrame
        One row per (defense, attack, image): ``psnr``, ``ssim``, ``mse``, ``seconds``.
    reconstructions : dict
        ``(defense, attack) -> [N, C, H, W]`` reconstructed images.
    """

    def attack_through(d_name: str, defense: Defense | None):
        if defense is not None:
            defense.reset()
        rows, recs = [], {a_name: torch.zeros_like(images) for a_name in attacks}
        for i in range(len(images)):
            x, y = images[i : i + 1], labels[i : i + 1]
            model = model_fn()
            observed = local_gradient(model, x, y)
            shared = (
                observed if defense is None else defense(observed, model=model, data=(x, y), step=0)
            )
            for a_name, attack in attacks.items():
                start = time.perf_counter()
                rec = attack.reconstruct(model, shared, labels=y).images
                recs[a_name][i] = rec[0]
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
        return rows, recs

    rows, recs = [], {}
    runs = [functools.partial(attack_through, *item) for item in defenses.items()]
    results = map_rows(runs, processes, desc="attack × defense", progress=progress)
    for d_name, (defense_rows, defense_recs) in zip(defenses, results):
        rows.extend(defense_rows)
        recs.update({(d_name, a_name): rec for a_name, rec in defense_recs.items()})
    return pd.DataFrame(rows), recs


def privacy_summary(
    table: pd.DataFrame,
    targets: torch.Tensor,
    mean_image: torch.Tensor,
    *,
    margin: float = 1.0,
    seed: int = 0,
    metric: Callable = metrics.psnr,
) -> pd.DataFrame:
    """Judge reconstructions against the trivial guesses on the same victims.

    A defense *stops* an attack when the mean PSNR of its reconstructions is no higher
    than the best trivial guess (all-black, mean training image, uniform noise;
    :func:`fl_course.metrics.trivial_guesses`) plus ``margin`` dB.

    Parameters
    ----------
    table : DataFrame
        :func:`attack_matrix`'s per-image rows (``defense``, ``attack``, ``psnr``, ``ssim``).
    targets : Tensor
        The victims, ``[N, C, H, W]``, in the order of ``table``'s ``image`` column.
    mean_image : Tensor
        Mean training image ``[C, H, W]``.
    margin : float, default 1.0
        dB above the best trivial guess still counted as stopped.

    Returns
    -------
    DataFrame
        Indexed by (defense, attack): ``psnr``, ``psnr_std``, ``ssim``, ``n``,
        ``psnr_trivial_best``, ``ssim_trivial_best`` (the trivial guess with the best
        PSNR), ``trivial_guess`` (its name), ``margin_db`` (``psnr − psnr_trivial_best``)
        and ``stops``.
    """
    trivial = metrics.trivial_guesses(targets, mean_image, seed=seed, metric=metric)
    best = trivial["psnr"].astype(float).idxmax()
    grouped = table.groupby(["defense", "attack"], sort=False)
    out = grouped.agg(
        psnr=("psnr", "mean"), psnr_std=("psnr", "std"), ssim=("ssim", "mean"), n=("psnr", "size")
    )
    out["psnr_trivial_best"] = float(trivial.loc[best, "psnr"])
    out["ssim_trivial_best"] = float(trivial.loc[best, "ssim"])
    out["trivial_guess"] = best
    out["margin_db"] = out["psnr"] - out["psnr_trivial_best"]
    out["stops"] = out["margin_db"] <= margin
    return out


def federated_run(
    model_fn: Callable[[], nn.Module],
    client_data: list[tuple[torch.Tensor, torch.Tensor]],
    test_data: tuple[torch.Tensor, torch.Tensor],
    defense: Defense | tuple[Defense | None, ServerTransform | None] | None = None,
    *,
    placement: str | None = None,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    rounds: int = 3,
    lr: float = 0.05,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int = 32,
    local_epochs: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """One FedAvg training with ``defense`` where its paper puts it; final accuracy (%) and times.

    ``defense`` is a client-side defense, ``None``, a pair ``(client defense, server
    transform)``, or a formal-DP mechanism (:class:`fl_course.defenses.formal_dp.LocalDPSGD`,
    run with its ``PrivateFedAvg``; the result then carries the ``epsilon`` spent). The
    client defense runs either once per round on the update each client shares
    (``placement="round"``: GradDefense's Algorithm 1 and the baselines of its Table II)
    or on every local gradient (``"step"``: Outpost, and Plato's trainer for every
    defense); see :class:`fl_course.federation.FedAvg`'s ``defense`` and ``placement``.
    The default is the defense's own ``placement`` attribute. The server transform, if
    any, runs on the weighted average (FedAvg's ``server_transform``).

    Parameters
    ----------
    initial_state : dict, optional
        Weights to start from (a shared warm start), loaded after ``model_fn()``.
    rounds, lr, momentum, weight_decay, batch_size, local_epochs, seed
        FedAvg's settings (:class:`fl_course.federation.FedAvg`).

    Returns
    -------
    dict
        ``accuracy`` (%), ``round_seconds`` (wall-clock time of the fastest round),
        ``round_cpu_seconds`` (this process's CPU time in its fastest round: other jobs on a
        shared machine and first-call warm-ups only ever add time), ``setup_cpu_seconds``
        (the defense's one-time :meth:`~fl_course.defenses.base.Defense.prepare` before the
        first round, not in the rounds' times), ``defense_cpu_seconds`` (CPU time inside
        the client defense per call), ``defense_calls`` and ``defense_cpu_seconds_per_round``
        (CPU time inside the client defense per round; NaN for a formal-DP mechanism, whose
        clipping and noise run inside Opacus' training step).
    """
    training = dict(
        test_data=test_data,
        rounds=rounds,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        batch_size=batch_size,
        local_epochs=local_epochs,
        seed=seed,
        progress=False,
    )
    formal = hasattr(defense, "calibrate") and hasattr(defense, "local_update")  # LocalDPSGD
    if formal:
        sim = PrivateFedAvg(model_fn, client_data, mechanism=defense, **training)
    else:
        client, server = defense if isinstance(defense, tuple) else (defense, None)
        if client is not None:
            client.reset()
        sim = FedAvg(
            model_fn,
            client_data,
            defense=client,
            placement=placement,  # None: the defense's own (FedAvg's default)
            server_transform=server,
            **training,
        )
    if initial_state is not None:
        sim.model.load_state_dict(dict(initial_state), strict=False)
    setup_start = time.process_time()
    if not formal and client is not None:
        client.prepare(sim.model)
    setup_cpu_seconds = time.process_time() - setup_start
    history = sim.run()
    result = {
        "accuracy": 100 * float(history["test_accuracy"].iloc[-1]),
        "round_seconds": float(history["seconds"].min()),
        "round_cpu_seconds": float(history["cpu_seconds"].min()),
        "setup_cpu_seconds": setup_cpu_seconds,
    }
    if formal:
        epsilon = float(history["epsilon_max"].iloc[-1])
        return {
            **result,
            "defense_cpu_seconds": 0.0,
            "defense_calls": 0,
            "defense_cpu_seconds_per_round": float("nan"),  # inside Opacus' training step
            "epsilon": epsilon,
        }
    calls = sim.defense_calls
    seconds_per_call = (sim.defense_seconds / calls) if calls else 0.0
    return {
        **result,
        "defense_cpu_seconds": seconds_per_call,
        "defense_calls": calls,
        "defense_cpu_seconds_per_round": sim.defense_seconds / rounds,
    }


def federated_utility(
    model_fn: Callable[[], nn.Module],
    client_data: list[tuple[torch.Tensor, torch.Tensor]],
    test_data: tuple[torch.Tensor, torch.Tensor],
    defenses: Mapping[str, Defense | tuple[Defense | None, ServerTransform | None] | None],
    *,
    seeds: tuple[int, ...] | list[int] = (0,),
    placements: Mapping[str, str] | None = None,
    extra_seeds_below: float | None = None,
    progress: bool = True,
    processes: int | None = None,
    **train,
) -> pd.DataFrame:
    """Run :func:`federated_run` once per defense and seed, and compare with no defense.

    ``defenses`` must contain ``"none"``. Every defense gets the same run length and the
    same seeds; keyword arguments (``rounds``, ``lr``, ``momentum``, ``weight_decay``,
    ``batch_size``, ``local_epochs``, ``initial_state``) go to :func:`federated_run`.

    Parameters
    ----------
    seeds : sequence of int, default (0,)
        FedAvg seeds (client sampling and local shuffles); accuracy is their mean.
    placements : dict of name to {"round", "step"}, optional
        Override a defense's own placement (the ablations).
    extra_seeds_below : float, optional
        If given, the seeds after the first run only for the defenses whose first-seed
        accuracy differs from no defense's mean over all seeds by less than this many
        points (where one seed cannot tell the difference from noise); the others keep
        ``n = 1``, so every ``accuracy_drop`` under this size is a mean of all seeds.
    progress : bool, default True
    processes : int, optional
        Worker processes, one training each at a time
        (:func:`fl_course.experiments.parallel.map_rows`, one thread per training, so CPU
        times and their ratios compare like with like); the accuracies do not depend on it.

    Returns
    -------
    DataFrame
        One row per defense: ``accuracy`` (mean final test accuracy, %), ``accuracy_std``
        (over seeds), ``n`` (seeds), ``round_seconds``, ``round_cpu_seconds`` (the fastest
        round over the seeds), ``defense_cpu_seconds`` (per call),
        ``defense_cpu_seconds_per_round``, ``setup_cpu_seconds`` (once per run),
        ``placement``, ``formal`` (a formal (ε, δ) guarantee), ``accuracy_drop`` (points
        below ``"none"``), ``round_time_ratio`` (CPU time per round against ``"none"``, same
        run; on a shared machine it varies by several per cent between runs),
        ``defense_time_share`` (the defense's own CPU time per round over ``"none"``'s round:
        the added time, timed around the defense alone, so far steadier) and
        ``round_wall_ratio`` (the same as ``round_time_ratio`` with wall-clock times).
    """
    if "none" not in defenses:
        raise ValueError(
            'defenses must include "none" (no defense), '
            "the baseline of accuracy_drop and time ratios."
        )
    if "seed" in train:
        raise ValueError("Pass seeds=(...) instead of seed=; every defense runs with every seed.")
    if not seeds:
        raise ValueError("seeds must hold at least one seed, e.g. seeds=(0, 1).")
    placements = dict(placements or {})
    order = ["none"] + [k for k in defenses if k != "none"]
    runs: dict[str, list[dict]] = {name: [] for name in order}
    where = {}
    for name in order:
        client = defenses[name][0] if isinstance(defenses[name], tuple) else defenses[name]
        own = "step" if hasattr(client, "local_update") else getattr(client, "placement", "round")
        where[name] = placements.get(name, own)

    def train_with(name: str, seed: int) -> dict:
        return federated_run(
            model_fn,
            client_data,
            test_data,
            defenses[name],
            placement=where[name],
            seed=seed,
            **train,
        )

    bar = tqdm(
        total=len(order) * len(seeds), desc="FedAvg per defense", disable=not progress, leave=False
    )

    def train_all(pairs: list[tuple[str, int]]) -> None:
        trainings = [functools.partial(train_with, name, seed) for name, seed in pairs]
        for (name, _), result in zip(pairs, map_rows(trainings, processes)):
            runs[name].append(result)
            bar.update()

    # no defense with every seed and every defense with the first; then the other seeds
    # wherever the accuracy drop, reported against no defense's mean, is still too small to read
    first, rest = seeds[0], list(seeds[1:])
    others = [name for name in order if name != "none"]
    train_all([("none", seed) for seed in seeds] + [(name, first) for name in others])
    if extra_seeds_below is None:
        more = others
    else:
        baseline = float(np.mean([run["accuracy"] for run in runs["none"]]))
        more = [n for n in others if abs(baseline - runs[n][0]["accuracy"]) < extra_seeds_below]
    bar.update(len(rest) * (len(others) - len(more)))
    train_all([(name, seed) for seed in rest for name in more])
    bar.close()
    rows = []
    for name in order:
        client = defenses[name][0] if isinstance(defenses[name], tuple) else defenses[name]
        frame = pd.DataFrame(runs[name])
        rows.append(
            {
                "defense": name,
                "accuracy": frame["accuracy"].mean(),
                "accuracy_std": frame["accuracy"].std(ddof=1) if len(frame) > 1 else float("nan"),
                "n": len(frame),
                "round_seconds": frame["round_seconds"].min(),
                "round_cpu_seconds": frame["round_cpu_seconds"].min(),
                "defense_cpu_seconds": frame["defense_cpu_seconds"].mean(),
                "defense_cpu_seconds_per_round": frame["defense_cpu_seconds_per_round"].mean(),
                "setup_cpu_seconds": frame["setup_cpu_seconds"].mean(),
                "placement": where[name] if client is not None else "–",
                "formal": bool(getattr(client, "formal", False)),
                "epsilon": frame["epsilon"].mean() if "epsilon" in frame else float("nan"),
            }
        )
    table = pd.DataFrame(rows).set_index("defense")
    table["accuracy_drop"] = table.loc["none", "accuracy"] - table["accuracy"]
    table["round_time_ratio"] = table["round_cpu_seconds"] / table.loc["none", "round_cpu_seconds"]
    table["defense_time_share"] = (
        table["defense_cpu_seconds_per_round"] / table.loc["none", "round_cpu_seconds"]
    )
    table["round_wall_ratio"] = table["round_seconds"] / table.loc["none", "round_seconds"]
    return table.loc[list(defenses)].reset_index()


def round_aggregates(
    model_fn: Callable[[], nn.Module],
    client_data: list[tuple[torch.Tensor, torch.Tensor]],
    defense: Defense,
    *,
    initial_state: Mapping[str, torch.Tensor],
    lr: float,
    seed: int = 0,
    **train,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One real FedAvg round from ``initial_state``: the clean and defended weighted average of Δ.

    Every client trains undisturbed; each delta is then protected once, as FedAvg's
    ``placement="round"`` does (on ``−Δ/η`` at the round's global weights), and both
    versions are averaged with FedAvg's weights ``n_k``: the same round is run without
    and with the defense, and the updates the server received are read off
    ``FedAvg.last_updates``. The input of the compensation diagnosis
    (:func:`compensation_split`).

    Returns
    -------
    clean, noisy : dict[str, Tensor]
    """
    received = []
    for protect in (None, defense):
        sim = FedAvg(
            model_fn,
            client_data,
            test_data=client_data[0],
            rounds=1,
            lr=lr,
            seed=seed,
            defense=protect,
            placement="round",
            progress=False,
            **train,
        )
        sim.model.load_state_dict(dict(initial_state), strict=False)
        if protect is not None:
            protect.reset()
        sim.run()
        received.append(list(sim.last_updates.values()))
    weights = [len(y) for _, y in client_data]
    return weighted_average(received[0], weights), weighted_average(received[1], weights)


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


def compensation_split(
    clean: dict[str, torch.Tensor], noisy: dict[str, torch.Tensor], transform
) -> dict[str, float]:
    """What GradDefense's compensation keeps of the signal and the noise (Table III[D] diagnosis).

    The Marchenko–Pastur projection is linear once its basis is chosen from the noisy
    aggregate, so the compensated update splits into ``P(clean) + P(noise)``.

    Parameters
    ----------
    clean, noisy : dict[str, Tensor]
        The average without and with the clients' perturbations.
    transform : MarchenkoPasturCompensation

    Returns
    -------
    dict
        ``directions_kept`` and ``directions`` (eigen-directions of the column
        covariance), ``signal_kept`` ``‖P(clean)‖/‖clean‖``, ``noise_kept``
        ``‖P(noise)‖/‖noise‖``, ``error_before`` ``‖noise‖/‖clean‖`` and
        ``error_after`` ``‖P(noisy) − clean‖/‖clean‖`` (1.0 = no better than sending zero).
    """
    names = [k for k, v in clean.items() if v.is_floating_point()]
    c = torch.cat([clean[k].reshape(-1) for k in names]).double().cpu()
    noise = {k: noisy[k] - clean[k] for k in names}
    z = torch.cat([noise[k].reshape(-1) for k in names]).double().cpu()
    fixed = transform({k: noisy[k] for k in names})
    f = torch.cat([fixed[k].reshape(-1) for k in names]).double().cpu()
    kept_signal = transform.reproject({k: clean[k] for k in names})
    kept_noise = transform.reproject(noise)
    scale = float(c.norm()) or 1.0
    return {
        "directions_kept": transform.last_kept,
        "directions": transform.last_directions,
        "signal_kept": float(kept_signal.norm()) / scale,
        "noise_kept": float(kept_noise.norm()) / (float(z.norm()) or 1.0),
        "error_before": float(z.norm()) / scale,
        "error_after": float((f - c).norm()) / scale,
    }


def identification_rate(
    model: nn.Module,
    candidates: tuple[torch.Tensor, torch.Tensor],
    defense: DPSGD,
    *,
    trials: int,
    seed: int = 0,
) -> float:
    """How often the optimal attacker names the victim among ``candidates`` from one DP-SGD release.

    In each trial a victim is drawn uniformly from the n candidates, the client shares
    ``defense`` applied to its one-example gradient, and the attacker, who knows the model,
    the candidates, C and σ, picks the candidate whose clipped gradient is closest to the
    release: the maximum-likelihood (and, for a uniform prior, Bayes-optimal) guess under
    the Gaussian noise. :func:`~fl_course.defenses.formal_dp.identification_bound` caps the result.

    Parameters
    ----------
    model : nn.Module
    candidates : (images, labels)
        The attacker's prior: n ≥ 2 examples, one of which is the victim.
    defense : DPSGD
        Its generator supplies the noise (reset first for reproducibility).
    trials : int
    seed : int, default 0
        Seeds the choice of victims.

    Returns
    -------
    float
        Fraction of trials in which the attacker named the victim.
    """
    if not isinstance(defense, DPSGD):
        raise ValueError(f"defense must be a DPSGD, got {type(defense).__name__}.")
    images, labels = candidates
    if len(labels) < 2:
        raise ValueError("The prior needs at least two candidates.")
    check_int("trials", trials)
    check_seed(seed)
    names = [n for n, _ in model.named_parameters()]
    per_example = defense.per_example_gradients(model, images, labels, names)
    clipped = per_example * (
        defense.max_grad_norm / (per_example.norm(dim=1, keepdim=True) + 1e-6)
    ).clamp(max=1.0)
    victims = torch.randint(len(labels), (trials,), generator=torch.Generator().manual_seed(seed))
    hits = 0
    for v in victims.tolist():
        x, y = images[v : v + 1], labels[v : v + 1]
        release = defense(local_gradient(model, x, y), model=model, data=(x, y))
        guess = int((clipped - flatten_update(release, names)).norm(dim=1).argmin())
        hits += guess == v
    return hits / trials


def dp_attack_psnr(
    attack,
    model_fn: Callable[[], nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    *,
    delta: float = 1e-5,
    max_grad_norm: float = 1.0,
) -> float:
    """Mean PSNR of ``attack`` on one DP-SGD release of each victim's one-example gradient.

    Victim ``i`` is attacked on a fresh ``model_fn()`` with noise seeded by ``i``, so the same
    ε always gives the same number (what
    :func:`~fl_course.defenses.formal_dp.epsilon_for_psnr` needs).

    Parameters
    ----------
    attack
        A gradient-inversion attack with ``reconstruct(model, update, labels=)``, e.g.
        :class:`fl_course.attacks.InvertingGradients`.
    model_fn : callable
        Builds the (seeded) model the victims' gradients are taken on.
    images, labels : torch.Tensor
        The victims, ``[N, C, H, W]`` and ``[N]``.
    epsilon, delta, max_grad_norm
        The :class:`DPSGD` release (one step, sample rate 1).
    """
    scores = []
    for i in range(len(labels)):
        x, y = images[i : i + 1], labels[i : i + 1]
        model = model_fn()
        release = DPSGD(epsilon, delta=delta, max_grad_norm=max_grad_norm, seed=i)(
            local_gradient(model, x, y), model=model, data=(x, y)
        )
        scores.append(metrics.psnr(x, attack.reconstruct(model, release, labels=y).images))
    return float(np.mean(scores))
