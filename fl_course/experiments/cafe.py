"""CAFE experiments of chapter 5 (and chapter 6's CAFE matrix) on real MNIST digits.

:class:`fl_course.attacks.cafe.Cafe` is the attack; this module builds what it attacks
and scores what it finds, so that the lab, ``python -m fl_course.bench cafe`` and chapter 6
run the same experiments:

==============================  ============================================================
:func:`mnist_setting`           an HFL or VFL federation of MNIST digits (Jin et al. 2021,
                                Table 1's setting)
:func:`run_cafe`                one CAFE attack on a fresh federation, with its history
:func:`dlg_baseline`            DLG on one aggregated batch gradient (Table 1b's baseline)
:func:`leakage_summary`         PSNR and SSIM beside the best trivial guess
:func:`attack_leakage`          the same for a finished attack
:func:`iterations_per_image`    Table 1a's speed
:func:`epochs_to_iterations`    the paper's budget unit
:func:`sweep_run`               one run of Tables 3a/4's batch and batch-ratio sweeps
:func:`paired_noise`            two standard errors of a paired difference
:func:`scoreboard_entry`        the rounded arguments of :func:`fl_course.results.record`
:func:`gap_entry`               the same for the PSNR gap between two runs
:func:`gap_table_row`           a gap entry and its verdict as a row of the lab's tables
:func:`cafe_matrix`             CAFE against every defense of chapter 6
==============================  ============================================================
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Mapping

import pandas as pd
import torch

from fl_course import metrics
from fl_course.attacks import DLG
from fl_course.attacks.base import order_like
from fl_course.attacks.cafe import VARIANTS, Cafe
from fl_course.checks import check_int, check_seed
from fl_course.data import load_mnist
from fl_course.defenses.base import Defense
from fl_course.experiments.parallel import map_rows
from fl_course.federation import IndexedFedSGD, VerticalFL
from fl_course.metrics import psnr, psnr_cafe, ssim, trivial_guesses

__all__ = [
    "mnist_setting",
    "run_cafe",
    "dlg_baseline",
    "leakage_summary",
    "attack_leakage",
    "iterations_per_image",
    "epochs_to_iterations",
    "sweep_run",
    "paired_noise",
    "scoreboard_entry",
    "gap_entry",
    "gap_table_row",
    "cafe_matrix",
]

HFL_WORKERS = 4
"""Workers of the lab's HFL federations (the paper's Table 1: four workers)."""


def mnist_setting(
    kind: str,
    *,
    num_samples: int = 400,
    batch_size: int = 40,
    workers: int = HFL_WORKERS,
    lr: float = 0.0,
    defense=None,
    seed: int = 0,
):
    """A CAFE experiment on MNIST: ``num_samples`` training digits in an HFL or VFL federation.

    Parameters
    ----------
    kind : {"hfl", "vfl"}
        ``"hfl"``: :class:`~fl_course.federation.IndexedFedSGD` with ``workers`` workers holding
        ``num_samples / workers`` digits each, ``batch_size / workers`` per worker per
        iteration, drawn by the server from the pooled ids (``balanced=False``).
        ``"vfl"``: :class:`~fl_course.federation.VerticalFL`, four workers holding the quarters.
    num_samples : int
        Digits in the federation (all of them are attacked). The default, 400 with batch 40,
        is the paper's batch ratio 0.1 (Table 1: 4 workers × 100 images, 10 per worker per
        iteration); the authors' code runs 800 (ratio 0.05). The lab's faster runs use fewer.
    batch_size : int
        Samples per iteration over all workers (CAFE's headline setting: 40).
    workers : int
        Number of HFL workers (VFL always has four, one per quarter).
    lr : float
        Training learning rate (0 freezes the model).
    defense : callable, optional
        Defense applied to each worker's shared gradient (``defense(gradient, *, model,
        data, step)``, e.g. a :class:`fl_course.defenses.Defense`).
    seed : int
        Picks the digits (a seeded random subset of the training split) and seeds the models
        and batch choices.

    Returns
    -------
    IndexedFedSGD or VerticalFL

    Examples
    --------
    >>> mnist_setting("vfl", num_samples=8, batch_size=4).num_samples  # doctest: +SKIP
    8
    """
    if kind not in ("hfl", "vfl"):
        raise ValueError(f"kind must be 'hfl' or 'vfl', got {kind!r}.")
    if kind == "hfl" and (num_samples % workers or batch_size % workers):
        raise ValueError(
            f"In HFL num_samples ({num_samples}) and batch_size ({batch_size}) must be "
            f"multiples of workers ({workers}) so that every worker holds and draws the same "
            "number of digits."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images, labels = load_mnist("train")
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:num_samples]
    images, labels = images[pick], labels[pick]
    if kind == "vfl":
        return VerticalFL(images, labels, batch_size=batch_size, lr=lr, defense=defense, seed=seed)
    per = num_samples // workers
    data = [
        (images[m * per : (m + 1) * per], labels[m * per : (m + 1) * per]) for m in range(workers)
    ]
    return IndexedFedSGD(
        data,
        batch_size=batch_size // workers,
        balanced=False,
        lr=lr,
        defense=defense,
        seed=seed,
    )


def dlg_baseline(
    setting, indices: torch.Tensor, *, iterations: int = 20, seed: int = 0, progress: bool = True
):
    """DLG :cite:p:`zhu2019dlg` on one aggregated HFL gradient of the batch ``indices``.

    Uses :class:`fl_course.attacks.DLG` (L-BFGS, labels optimised jointly) on the same model,
    parameters and shared gradient that CAFE sees in that iteration, without index alignment
    or the representation term.

    Returns
    -------
    psnr : torch.Tensor
        Per-image PSNR (dB) of DLG's reconstruction against the batch, after pairing each
        true image with a reconstruction by minimum MSE (DLG returns the batch in any order).
    images : torch.Tensor
        DLG's reconstruction in that paired order.
    """
    if not hasattr(setting, "model"):
        raise TypeError(
            "dlg_baseline needs an HFL setting (one shared model); VFL has one model per worker."
        )
    indices = torch.as_tensor(indices)
    gradient = setting.step(indices, update=False).gradients[0]
    attack = DLG(iterations=iterations, init="rand", seed=seed, progress=progress)
    result = attack.reconstruct(
        setting.model, gradient, num_images=len(indices), data_shape=setting.sample_shape
    )
    truth = setting.images[indices].cpu()
    images = order_like(result.images, truth)
    return psnr(truth.detach().cpu(), images.detach().clamp(0, 1).cpu(), reduction="none"), images


def leakage_summary(
    truth: torch.Tensor, fake: torch.Tensor, mean_image: torch.Tensor, *, seed: int = 0
) -> dict:
    """CAFE's PSNR of a reconstruction beside the best trivial guess on the same victims.

    Parameters
    ----------
    truth, fake : torch.Tensor
        ``[N, C, H, W]`` victims and their reconstructions (the fake is clipped to [0, 1]).
    mean_image : torch.Tensor
        ``[C, H, W]`` mean training image (one of the trivial guesses).
    seed : int
        Seed of the uniform-noise guess.

    Returns
    -------
    dict
        ``psnr`` (mean of :func:`fl_course.metrics.psnr_cafe` per image, eq. 12 of the
        paper), ``psnr_std`` (over images), ``n`` (images), ``ssim`` (mean),
        ``trivial_psnr`` / ``trivial_ssim`` (the best of all-black, mean image and uniform
        noise by PSNR, :func:`fl_course.metrics.trivial_guesses`), ``trivial_guess`` (its name).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    >>> out = leakage_summary(x, x * 0.99, x.mean(0))
    >>> out["n"], out["psnr"] > out["trivial_psnr"]
    (3, True)
    """
    truth, fake = truth.detach().cpu(), fake.detach().clamp(0, 1).cpu()
    if truth.shape != fake.shape or truth.dim() != 4:
        raise ValueError(
            "truth and fake must both be [N, C, H, W], "
            f"got {tuple(truth.shape)} and {tuple(fake.shape)}."
        )
    scores = psnr_cafe(truth, fake, reduction="none")
    trivial = trivial_guesses(truth, mean_image.detach().cpu(), seed=seed, metric=psnr_cafe)
    best = trivial["psnr"].astype(float).idxmax()
    return {
        "psnr": float(scores.mean()),
        "psnr_std": float(scores.std()) if len(scores) > 1 else 0.0,
        "n": len(scores),
        "ssim": float(ssim(truth, fake)),
        "trivial_psnr": float(trivial.loc[best, "psnr"]),
        "trivial_ssim": float(trivial.loc[best, "ssim"]),
        "trivial_guess": best,
    }


def iterations_per_image(
    history: pd.DataFrame, num_samples: int, *, threshold: float = 30.0
) -> float:
    """CAFE's Table 1a speed: iterations until all samples leak, divided by their number.

    The paper reports "the expected iteration number per image leakage"; we take the first
    evaluated iteration at which the mean PSNR over all ``num_samples`` fakes reaches
    ``threshold`` (30 dB, the paper's bar for DLG) and divide by ``num_samples``.
    NaN if the run never gets there.

    Examples
    --------
    >>> import pandas as pd
    >>> iterations_per_image(pd.DataFrame({"iteration": [10, 20], "psnr_mean": [20.0, 31.0]}), 4)
    5.0
    """
    check_int("num_samples", num_samples, example=40)
    reached = history.loc[history["psnr_mean"] >= threshold, "iteration"]
    return float(reached.iloc[0]) / num_samples if len(reached) else float("nan")


def cafe_matrix(
    defenses: Mapping[str, Defense | None],
    *,
    num_samples: int,
    batch_size: int,
    iterations: int,
    seed: int = 0,
    progress: bool = True,
    processes: int | None = None,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Run CAFE in horizontal FL once per defense, every worker's shared gradient defended.

    For each defense (rewound with :meth:`~fl_course.defenses.base.Defense.reset`) a fresh
    :func:`mnist_setting` ``("hfl", ...)`` is built with the same
    seed, so every run attacks the same digits with the same frozen model (``lr=0``) and the
    same batch indices. The defense is the setting's ``defense``: each of the four workers
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
    processes : int, optional
        Worker processes, one defense each at a time (see
        :func:`fl_course.experiments.parallel.map_rows`); the numbers do not depend on it.

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
    >>> from fl_course.defenses import GaussianNoise
    >>> table, fakes = cafe_matrix({"none": None, "DP": GaussianNoise(0.1)}, num_samples=8,
    ...                            batch_size=4, iterations=10, progress=False)  # doctest: +SKIP
    >>> table.set_index("defense")["psnr"]  # doctest: +SKIP
    """
    if not isinstance(defenses, Mapping) or not defenses:
        raise ValueError(
            'defenses must be a non-empty dict of name to Defense or None, e.g. {"none": None}.'
        )
    for name, defense in defenses.items():
        if defense is not None and not isinstance(defense, Defense):
            raise ValueError(
                f"defenses[{name!r}] is a {type(defense).__name__}; "
                "pass a Defense or None (no defense)."
            )
    for name, value in [
        ("num_samples", num_samples),
        ("batch_size", batch_size),
        ("iterations", iterations),
    ]:
        check_int(name, value)
    if batch_size > num_samples:
        raise ValueError(
            f"batch_size={batch_size} exceeds num_samples={num_samples}; "
            "the batch is drawn from them."
        )
    check_seed(seed)

    def attack_through(name: str, defense: Defense | None) -> tuple[dict, torch.Tensor]:
        if defense is not None:
            defense.reset()
        setting = mnist_setting(
            "hfl",
            num_samples=num_samples,
            batch_size=batch_size,
            lr=0.0,
            defense=defense,
            seed=seed,
        )
        attack = Cafe(
            setting, seed=seed, progress=False, **VARIANTS["fast"]
        )  # chapter 5's faster lr
        start = time.perf_counter()
        attack.run(iterations, eval_every=iterations)
        seconds = time.perf_counter() - start
        truth, fake = setting.images.cpu(), attack.fake_data.detach().clamp(0, 1).cpu()
        scores = attack.psnr()
        row = {
            "defense": name,
            "psnr": float(scores.mean()),
            "psnr_min": float(scores.min()),
            "ssim": metrics.ssim(truth, fake),
            "mse": metrics.mse(truth, fake),
            "seconds": seconds,
        }
        return row, fake

    rows, recs = [], {}
    runs = [functools.partial(attack_through, *item) for item in defenses.items()]
    for row, fake in map_rows(runs, processes, desc="CAFE per defense", progress=progress):
        rows.append(row)
        recs[row["defense"]] = fake
    return pd.DataFrame(rows), recs


def run_cafe(
    kind: str,
    samples: int,
    batch: int,
    iterations: int,
    *,
    variant: str,
    lr_fl: float = 0.0,
    eval_every: int | None = None,
    seed: int = 0,
    **attack_settings,
) -> tuple[IndexedFedSGD | VerticalFL, Cafe, pd.DataFrame]:
    """One CAFE attack on a fresh MNIST federation (:func:`mnist_setting`).

    Parameters
    ----------
    kind : {"hfl", "vfl"}
    samples, batch : int
        Digits in the federation and samples per iteration over all workers.
    iterations : int
        CAFE iterations.
    variant : str
        Learning-rate setting of the data step, a key of
        :data:`~fl_course.attacks.cafe.VARIANTS` (``"authors"`` or ``"fast"``).
    lr_fl : float, default 0.0
        The federation's own SGD learning rate (0 freezes the model).
    eval_every : int, optional
        Iterations between evaluations; by default about 20 evaluations per run.
    seed : int, default 0
        Seeds the digits, the federation and the attack.
    **attack_settings
        Further :class:`~fl_course.attacks.cafe.Cafe` settings (``distance``, ``rep_weight``,
        ``inner_steps``, ...); they override the variant's.

    Returns
    -------
    setting, attack, history
        The federation, the attack after the run and its history
        (:meth:`~fl_course.attacks.cafe.Cafe.run`).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
    setting = mnist_setting(kind, num_samples=samples, batch_size=batch, lr=lr_fl, seed=seed)
    attack = Cafe(setting, seed=seed, progress=False, **{**VARIANTS[variant], **attack_settings})
    history = attack.run(iterations, eval_every=eval_every or max(iterations // 20, 1))
    return setting, attack, history


def attack_leakage(
    setting,
    attack: Cafe,
    mean_image: torch.Tensor,
    indices: torch.Tensor | None = None,
    *,
    seed: int = 0,
) -> dict:
    """:func:`leakage_summary` of a finished CAFE attack on ``indices`` (default: every digit).

    ``mean_image`` is the mean training digit, one of the trivial guesses; ``seed`` seeds
    the uniform-noise guess.
    """
    idx = torch.arange(setting.num_samples) if indices is None else indices
    return leakage_summary(setting.images[idx], attack.fake_data[idx], mean_image, seed=seed)


def epochs_to_iterations(samples: int, batch: int, epochs: float) -> int:
    """Iterations that show every sample ``epochs`` times on average (the paper's budget unit).

    Examples
    --------
    >>> epochs_to_iterations(80, 20, 5)
    20
    """
    if batch < 1 or samples < 1:
        raise ValueError(f"samples and batch must be positive, got {samples} and {batch}.")
    return int(round(epochs * samples / batch))


def sweep_run(
    per_worker: int,
    ratio: float,
    *,
    epochs: float,
    variant: str,
    mean_image: torch.Tensor,
    seed: int = 0,
) -> tuple[dict, tuple]:
    """One HFL run of the batch-size and batch-ratio sweeps (Jin et al. 2021, Tables 3a and 4).

    Four workers draw ``per_worker`` digits each per iteration; the federation holds
    ``batch / ratio`` digits, and the attack runs for ``epochs`` epochs
    (:func:`epochs_to_iterations`), so every ratio gets the same number of visits per digit.

    Returns
    -------
    row : dict
        ``batch per worker``, ``batch``, ``samples``, ``batch ratio``, ``iterations``,
        ``psnr``, ``psnr_std``, ``n``, ``trivial`` (best trivial guess, dB) and ``seconds``.
    run : (setting, attack)
        The federation and the finished attack.
    """
    batch_size = HFL_WORKERS * per_worker
    samples = int(round(batch_size / ratio))
    setting, attack, history = run_cafe(
        "hfl",
        samples,
        batch_size,
        epochs_to_iterations(samples, batch_size, epochs),
        variant=variant,
        seed=seed,
    )
    s = attack_leakage(setting, attack, mean_image, seed=seed)
    return {
        "batch per worker": per_worker,
        "batch": batch_size,
        "samples": samples,
        "batch ratio": ratio,
        "iterations": int(history["iteration"].iloc[-1]),
        "psnr": s["psnr"],
        "psnr_std": s["psnr_std"],
        "n": s["n"],
        "trivial": s["trivial_psnr"],
        "seconds": history["seconds"].iloc[-1],
    }, (setting, attack)


def paired_noise(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two standard errors of the mean per-image difference ``a − b`` (same images).

    Examples
    --------
    >>> round(paired_noise(torch.tensor([3.0, 5.0]), torch.tensor([1.0, 1.0])), 3)
    2.0
    """
    diff = a - b
    return 2 * float(diff.std()) / math.sqrt(len(diff))


def scoreboard_entry(
    key: str,
    value: float,
    *,
    paper: float,
    source: str,
    tolerance: float,
    kind: str = "value",
    noise: float | None = None,
    std: float | None = None,
    n: int | None = None,
    trivial: float | None = None,
    setting: str = "",
) -> dict:
    """The keyword arguments of :func:`fl_course.results.record` for a measured value.

    Ours, the paper's value, the tolerance, the spread and the trivial guess are rounded to
    two decimals, as the lab shows them; the lab records with
    ``results.record("ch5", **entry)`` and reads the computed ``"verdict"``.

    Examples
    --------
    >>> entry = scoreboard_entry("PSNR (dB)", 31.234, paper=35.03, source="Table 1b",
    ...                          tolerance=3.0)
    >>> entry["ours"], entry["paper"], entry["kind"]
    (31.23, 35.03, 'value')
    """
    return {
        "key": key,
        "ours": round(value, 2),
        "paper": round(paper, 2),
        "source": source,
        "tolerance": round(tolerance, 2),
        "kind": kind,
        "noise": noise,
        "std": None if std is None else round(std, 2),
        "n": n,
        "trivial": None if trivial is None else round(trivial, 2),
        "setting": setting,
    }


def gap_entry(
    key: str,
    better: Mapping,
    worse: Mapping,
    *,
    paper_gap: float,
    source: str,
    tolerance: float,
    setting: str,
) -> dict:
    """:func:`scoreboard_entry` for the PSNR gap between two runs on different digits.

    ``better`` and ``worse`` hold ``psnr``, ``psnr_std`` and ``n`` (a :func:`sweep_run` row or
    a :func:`leakage_summary`); the gap is ``better − worse`` and its noise two standard
    errors of the difference of two independent means.

    Examples
    --------
    >>> a, b = {"psnr": 30.0, "psnr_std": 2.0, "n": 4}, {"psnr": 20.0, "psnr_std": 2.0, "n": 4}
    >>> entry = gap_entry("gap", a, b, paper_gap=12.0, source="Table 4", tolerance=3.0,
    ...                   setting="")
    >>> entry["ours"], round(entry["noise"], 2)
    (10.0, 2.83)
    """
    ours_gap = better["psnr"] - worse["psnr"]
    noise = 2 * math.hypot(
        better["psnr_std"] / math.sqrt(better["n"]), worse["psnr_std"] / math.sqrt(worse["n"])
    )
    return scoreboard_entry(
        key,
        ours_gap,
        paper=paper_gap,
        source=source,
        tolerance=tolerance,
        kind="gap",
        noise=noise,
        setting=setting,
    )


def gap_table_row(entry: Mapping, verdict: str) -> dict:
    """A :func:`gap_entry` and its verdict as a row of the lab's gap tables.

    Examples
    --------
    >>> a, b = {"psnr": 30.0, "psnr_std": 2.0, "n": 4}, {"psnr": 20.0, "psnr_std": 2.0, "n": 4}
    >>> entry = gap_entry("gap", a, b, paper_gap=12.0, source="Table 4", tolerance=3.0,
    ...                   setting="")
    >>> gap_table_row(entry, "reproduced")["± noise (2 SE)"]
    2.83
    """
    return {
        "source": entry["source"],
        "what": entry["key"],
        "paper (CIFAR-10)": entry["paper"],
        "ours (MNIST)": entry["ours"],
        "± noise (2 SE)": round(entry["noise"], 2),
        "tolerance": entry["tolerance"],
        "verdict": verdict,
    }
