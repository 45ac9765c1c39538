"""The defenses at the papers' settings (GradDefense's Table II) and the guarantee marker.

:func:`paper_defenses` builds every defense of chapter 6 as its paper configures it and
:func:`guarantee` says which of them carries a formal (ε, δ) bound. The experiments that run
them against attacks and in federated training are in :mod:`fl_course.experiments.defenses`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.defenses.base import Defense
from fl_course.defenses.compression import GradientCompression
from fl_course.defenses.dp import GaussianNoise, LaplaceNoise
from fl_course.defenses.graddefense import PAPER_PERTURB_FRACTION, GradDefense
from fl_course.defenses.outpost import Outpost
from fl_course.defenses.soteria import Soteria
from fl_course.federation.local_sgd import DefendedOptimizer, local_sgd_step

__all__ = [
    "PAPER_SETTINGS",
    "guarantee",
    "paper_defenses",
    "local_training_delta",
    "production_matrix",
    "default_initialised",
]

#: GradDefense's Table II settings per attack family (Sec. VI-B, the settings above Table II):
#: GC pruning rate (%), PLD (Soteria) pruning rate (%), GradDefense perturbation rate γ;
#: DP noise 1e-2 and GradDefense σ = 1e-2 for both. "DGA" = DLG/iDLG, "GIA" = Inverting Gradients.
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
    """The marker of every chapter 6 table and plot: ``"formal (ε, δ)"``, ``"heuristic"``, ``"–"``.

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
            f"attack must be one of {sorted(PAPER_SETTINGS)} (Table II's two halves), "
            f"got {attack!r}."
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
    protected first (:class:`~fl_course.federation.local_sgd.DefendedOptimizer`,
    ``step`` = local step index), as in Outpost's production setting.

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
    optimizer = DefendedOptimizer(
        torch.optim.SGD(local.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay),
        model=local,
        defense=defense,
    )
    for _ in range(steps):
        local_sgd_step(local, optimizer, images, labels)
    return {n: p.detach() - start[n] for n, p in local.named_parameters()}


def default_initialised(model: nn.Module, *, seed: int = 0) -> nn.Module:
    """``model`` with PyTorch's default initialisation (``reset_parameters`` of every layer), seeded.

    The Outpost slides compare "explicit initialization" (DLG's U(−0.5, 0.5), as
    :class:`~fl_course.models.LeNetZhu` does) with "default PyTorch initialization"; Outpost's
    noise scales with Var(W), so the two give it very different strength.
    """
    torch.manual_seed(seed)
    for module in model.modules():
        if module is not model and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


def production_matrix(
    model_fn: Callable[[], nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    defenses: Mapping[str, Defense | None],
    attack,
    *,
    steps: int,
    lr: float,
    progress: bool = True,
) -> pd.DataFrame:
    """Attack each one-image client's Δ after ``steps`` local SGD steps, every step defended.

    Outpost's production setting (several local iterations, Δ ≠ ∇), with each defense
    on every local gradient (:func:`local_training_delta`, as in Plato's trainer). The
    attacker knows the client's optimiser and replays it exactly: plain SGD with
    learning rate ``lr`` over ``steps`` steps on the one image
    (:meth:`fl_course.attacks.ObservedUpdate.delta`; the attacks' replay has no momentum
    or weight decay, so the client uses none either and the attacker is not mis-specified).

    Returns
    -------
    DataFrame
        One row per (defense, image): ``psnr``, ``ssim``.
    """
    from fl_course.attacks import ObservedUpdate

    rows = []
    bar = tqdm(
        total=len(defenses) * len(images), desc="production Δ", disable=not progress, leave=False
    )
    for name, defense in defenses.items():
        if defense is not None:
            defense.reset()
        for i in range(len(images)):
            x, y = images[i : i + 1], labels[i : i + 1]
            model = model_fn()
            delta = local_training_delta(model, x, y, steps=steps, lr=lr, defense=defense)
            observed = ObservedUpdate.delta(
                delta, num_images=1, lr=lr, local_epochs=steps, batch_size=1
            )
            rec = attack.reconstruct(model, observed, labels=y).images
            rows.append(
                {
                    "defense": name,
                    "image": i,
                    "psnr": float(metrics.psnr(x, rec)),
                    "ssim": float(metrics.ssim(x, rec)),
                }
            )
            bar.update()
    bar.close()
    return pd.DataFrame(rows)
