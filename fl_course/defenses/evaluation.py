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
from fl_course.defenses.graddefense import PAPER_PERTURB_FRACTION, GradDefense
from fl_course.defenses.local_steps import LocalStepProtection, RoundProtection
from fl_course.defenses.outpost import Outpost
from fl_course.defenses.soteria import Soteria

__all__ = [
    "PAPER_SETTINGS",
    "guarantee",
    "paper_defenses",
    "attack_matrix",
    "privacy_summary",
    "cafe_matrix",
    "federated_run",
    "federated_utility",
    "compensation_error",
    "compensation_split",
    "round_aggregates",
]

#: GradDefense's Table II settings per attack family (Sec. VI-B, the settings above Table II):
#: GC pruning rate (%), PLD (Soteria) pruning rate (%), GradDefense perturbation rate γ; DP noise 1e-2
#: and GradDefense σ = 1e-2 for both. "DGA" = DLG/iDLG, "GIA" = Inverting Gradients.
PAPER_SETTINGS = {
    "DGA": {
        "gc_prune": 80.0,
        "pld_prune": 60.0,
        "perturb_fraction": PAPER_PERTURB_FRACTION["DGA"],
        "noise": 1e-2,
    },
    "GIA": {
        "gc_prune": 90.0,
        "pld_prune": 80.0,
        "perturb_fraction": PAPER_PERTURB_FRACTION["GIA"],
        "noise": 1e-2,
    },
}


def guarantee(defense) -> str:
    """The marker every chapter 6 table and plot carries: ``"formal (ε, δ)"``, ``"heuristic"`` or ``"–"``.

    Formal means an (ε, δ) bound from a privacy accountant (``defense.formal``, DP-SGD);
    ``None`` (no defense) gets ``"–"``. A pair (client defense, server transform) is judged by
    its client defense.
    """
    if isinstance(defense, tuple):
        defense = defense[0]
    if defense is None:
        return "–"
    return "formal (ε, δ)" if getattr(defense, "formal", False) else "heuristic"


def paper_defenses(
    root_data: tuple[torch.Tensor, torch.Tensor], *, attack: str = "GIA", seed: int = 0
) -> dict[str, Defense | None]:
    """The defenses of GradDefense's Table II (and Outpost's comparison) at the papers' settings.

    Parameters
    ----------
    root_data : (images, labels)
        GradDefense's root set (the paper's 100 images: :func:`~fl_course.defenses.root_dataset`).
    attack : {"GIA", "DGA"}, default "GIA"
        Which column of Table II: against Inverting Gradients (GIA) or DLG/iDLG (DGA);
        see :data:`PAPER_SETTINGS`.
    seed : int, default 0

    Returns
    -------
    dict
        ``"none"`` (no defense), ``"GC"`` (90 % / 80 % pruning), ``"DP-Gaussian"`` and
        ``"DP-Laplace"`` (scale 1e-2), ``"Soteria"`` (the paper's PLD, 80 % / 60 %),
        ``"GradDefense"`` (10 slices, γ = 0.3 / 0.2, σ = 1e-2, no clipping) and
        ``"Outpost"`` (β 0.125, φ 40, prune_base 80, noise_base 0.8).
    """
    if attack not in PAPER_SETTINGS:
        raise ValueError(
            f"attack must be one of {sorted(PAPER_SETTINGS)} (Table II's two halves), got {attack!r}."
        )
    cfg = PAPER_SETTINGS[attack]
    return {
        "none": None,
        "GC": GradientCompression(cfg["gc_prune"], seed=seed),
        "DP-Gaussian": GaussianNoise(cfg["noise"], seed=seed),
        "DP-Laplace": LaplaceNoise(cfg["noise"], seed=seed),
        "Soteria": Soteria(cfg["pld_prune"], seed=seed),
        "GradDefense": GradDefense(
            root_data, perturb_fraction=cfg["perturb_fraction"], sigma=cfg["noise"], seed=seed
        ),
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
            shared = (
                observed
                if defense is None
                else defense(observed, model=model, data=(x, y), iteration=0)
            )
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
    from fl_course.attacks.cafe import VARIANTS, Cafe, mnist_setting

    if not isinstance(defenses, Mapping) or not defenses:
        raise ValueError(
            'defenses must be a non-empty dict of name to Defense or None, e.g. {"none": None}.'
        )
    for name, defense in defenses.items():
        if defense is not None and not isinstance(defense, Defense):
            raise ValueError(
                f"defenses[{name!r}] is a {type(defense).__name__}; pass a Defense or None (no defense)."
            )
    for name, value in [
        ("num_samples", num_samples),
        ("batch_size", batch_size),
        ("iterations", iterations),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if batch_size > num_samples:
        raise ValueError(
            f"batch_size={batch_size} exceeds num_samples={num_samples}; the batch is drawn from them."
        )
    _check_seed(seed)

    rows, recs = [], {}
    for name, defense in tqdm(
        defenses.items(), desc="CAFE per defense", disable=not progress, leave=False
    ):
        setting = mnist_setting(
            "hfl", num_samples=num_samples, batch_size=batch_size, lr=0.0, seed=seed
        )
        if defense is not None:
            defense.reset()
            setting.gradient_hook = defense.gradient_hook(model=setting.model)
        attack = Cafe(
            setting, seed=seed, progress=False, **VARIANTS["fast"]
        )  # chapter 5's faster lr
        start = time.perf_counter()
        attack.run(iterations, eval_every=iterations)
        seconds = time.perf_counter() - start
        truth, fake = setting.images.cpu(), attack.fake_data.detach().clamp(0, 1).cpu()
        scores = attack.psnr()
        rows.append(
            {
                "defense": name,
                "psnr": float(scores.mean()),
                "psnr_min": float(scores.min()),
                "ssim": metrics.ssim(truth, fake),
                "mse": metrics.mse(truth, fake),
                "seconds": seconds,
            }
        )
        recs[name] = fake
    return pd.DataFrame(rows), recs


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
    run with its ``PrivateFedAvg``; the result then carries the ``epsilon`` spent). The client defense runs either once per round on the update each client
    shares (``placement="round"``, :class:`RoundProtection`: GradDefense's Algorithm 1
    and the baselines of its Table II) or on every local gradient (``"step"``,
    :class:`LocalStepProtection`: Outpost, and Plato's trainer for every defense). The
    default is the defense's own ``placement`` attribute. The server transform, if any,
    runs on the weighted average.

    Parameters
    ----------
    initial_state : dict, optional
        Weights to start from (a shared warm start), loaded after ``model_fn()``.
    rounds, lr, momentum, weight_decay, batch_size, local_epochs, seed
        FedAvg's settings (:class:`fl_course.fedavg.FedAvg`).

    Returns
    -------
    dict
        ``accuracy`` (%), ``round_seconds`` (median wall-clock time of a round),
        ``round_cpu_seconds`` (this process's CPU time per round, which other jobs on a
        shared machine barely disturb), ``defense_cpu_seconds`` (CPU time inside the
        client defense per call) and ``defense_calls``.
    """
    from fl_course.fedavg import FedAvg

    if hasattr(defense, "calibrate") and hasattr(
        defense, "local_update"
    ):  # a formal_dp mechanism (LocalDPSGD)
        from fl_course.defenses.formal_dp import PrivateFedAvg

        sim = PrivateFedAvg(
            model_fn,
            client_data,
            mechanism=defense,
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
        if initial_state is not None:
            sim.model.load_state_dict(dict(initial_state), strict=False)
        cpu_start = time.process_time()
        history = sim.run()
        return {
            "accuracy": 100 * float(history["test_accuracy"].iloc[-1]),
            "round_seconds": float(np.median(history["seconds"])),
            "round_cpu_seconds": (time.process_time() - cpu_start) / rounds,
            "defense_cpu_seconds": 0.0,
            "defense_calls": 0,
            "epsilon": float(history["epsilon_max"].iloc[-1]),
        }
    client, server = defense if isinstance(defense, tuple) else (defense, None)
    where = placement if placement is not None else getattr(client, "placement", "round")
    if where not in ("round", "step"):
        raise ValueError(
            f"placement must be 'round' (once per shared update) or 'step' (every local step), got {where!r}."
        )
    sim = FedAvg(
        model_fn,
        client_data,
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
    if initial_state is not None:
        sim.model.load_state_dict(dict(initial_state), strict=False)
    guard = None
    if client is not None:
        client.reset()
        guard = (
            LocalStepProtection(client, sim.model)
            if where == "step"
            else RoundProtection(client, sim.model, lr=lr)
        )
        sim.step_hook, sim.client_hook = guard.step_hook, guard.client_hook
    if server is not None:
        sim.server_hook = server.server_hook()
    cpu_start = time.process_time()
    history = sim.run()
    cpu = (time.process_time() - cpu_start) / rounds
    calls = guard.calls if guard is not None else 0
    if guard is not None:
        guard.detach()
    return {
        "accuracy": 100 * float(history["test_accuracy"].iloc[-1]),
        "round_seconds": float(np.median(history["seconds"])),
        "round_cpu_seconds": cpu,
        "defense_cpu_seconds": (guard.seconds / calls) if calls else 0.0,
        "defense_calls": calls,
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
        accuracy differs from no defense's by less than this many points (where one
        seed cannot tell the difference from noise); the others keep ``n = 1``.

    Returns
    -------
    DataFrame
        One row per defense: ``accuracy`` (mean final test accuracy, %), ``accuracy_std``
        (over seeds), ``n`` (seeds), ``round_seconds``, ``round_cpu_seconds``,
        ``defense_cpu_seconds`` (per call), ``placement``, ``formal`` (a formal (ε, δ)
        guarantee), ``accuracy_drop`` (points below ``"none"``), ``round_time_ratio``
        (CPU time per round against ``"none"``, same run) and ``round_wall_ratio``
        (the same with wall-clock medians).
    """
    if "none" not in defenses:
        raise ValueError(
            'defenses must include "none" (no defense), the baseline of accuracy_drop and time ratios.'
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
    bar = tqdm(
        total=len(order) * len(seeds), desc="FedAvg per defense", disable=not progress, leave=False
    )
    for i, seed in enumerate(seeds):
        for name in order:
            if i > 0 and extra_seeds_below is not None and name != "none":
                drop = runs["none"][0]["accuracy"] - runs[name][0]["accuracy"]
                if abs(drop) >= extra_seeds_below:
                    bar.update()
                    continue
            runs[name].append(
                federated_run(
                    model_fn,
                    client_data,
                    test_data,
                    defenses[name],
                    placement=where[name],
                    seed=seed,
                    **train,
                )
            )
            bar.update()
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
                "round_seconds": frame["round_seconds"].mean(),
                "round_cpu_seconds": frame["round_cpu_seconds"].mean(),
                "defense_cpu_seconds": frame["defense_cpu_seconds"].mean(),
                "placement": where[name] if client is not None else "–",
                "formal": bool(getattr(client, "formal", False)),
                "epsilon": frame["epsilon"].mean() if "epsilon" in frame else float("nan"),
            }
        )
    table = pd.DataFrame(rows).set_index("defense")
    table["accuracy_drop"] = table.loc["none", "accuracy"] - table["accuracy"]
    table["round_time_ratio"] = table["round_cpu_seconds"] / table.loc["none", "round_cpu_seconds"]
    table["round_wall_ratio"] = table["round_seconds"] / table.loc["none", "round_seconds"]
    return table.loc[list(defenses)].reset_index()


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
    """One real FedAvg round from ``initial_state``: the clean and the defended weighted average of Δ.

    Every client trains undisturbed; each delta is then protected once, as
    :class:`RoundProtection` does (on ``−Δ/η`` at the round's global weights), and
    both versions are averaged with FedAvg's weights ``n_k``. The input of the
    compensation diagnosis (:func:`compensation_split`).

    Returns
    -------
    clean, noisy : dict[str, Tensor]
    """
    from fl_course.fedavg import FedAvg, weighted_average

    sim = FedAvg(
        model_fn,
        client_data,
        test_data=client_data[0],
        rounds=1,
        lr=lr,
        seed=seed,
        progress=False,
        **train,
    )
    sim.model.load_state_dict(dict(initial_state), strict=False)
    guard = RoundProtection(defense, sim.model, lr=lr)
    sim.step_hook = guard.step_hook
    clean, sent = [], []

    def keep(update, **context):
        clean.append({k: v.clone() for k, v in update.items()})
        sent.append(guard.client_hook(update, **context))
        return update

    sim.client_hook = keep
    defense.reset()
    sim.run()
    weights = [len(y) for _, y in client_data]
    return weighted_average(clean, weights), weighted_average(sent, weights)


def compensation_split(
    clean: dict[str, torch.Tensor], noisy: dict[str, torch.Tensor], transform
) -> dict[str, float]:
    """What GradDefense's compensation keeps of the signal and of the noise (Table III[D] diagnosis).

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
