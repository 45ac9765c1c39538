"""The defenses at the papers' settings (GradDefense's Table II) and the guarantee marker.

:func:`paper_defenses` builds every defense of chapter 6 as its paper configures it and
:func:`guarantee` says which of them carries a formal (ε, δ) bound. The experiments that run
them against attacks and in federated training are in :mod:`fl_course.experiments.defenses`.
"""

from __future__ import annotations


import torch

from fl_course.defenses.base import Defense
from fl_course.defenses.compression import GradientCompression
from fl_course.defenses.dp import GaussianNoise, LaplaceNoise
from fl_course.defenses.graddefense import PAPER_PERTURB_FRACTION, GradDefense
from fl_course.defenses.outpost import Outpost
from fl_course.defenses.soteria import Soteria

__all__ = [
    "PAPER_SETTINGS",
    "guarantee",
    "paper_defenses",
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
