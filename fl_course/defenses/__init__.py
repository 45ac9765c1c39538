"""Defenses against gradient leakage (chapter 6).

Client-side defenses share one interface, :class:`Defense`:
``defense(update, *, model=None, data=None, step=0) -> update`` with the
update a ``dict[str, Tensor]`` (gradient or model delta) keyed by parameter
name: the update-transform signature every federation of :mod:`fl_course.federation`
takes as ``defense=``. Server-side steps derive from :class:`ServerTransform`
(FedAvg's ``server_transform=``).

================================  ===============================================
:class:`GradientCompression`      prune the smallest p % of each layer (GC)
:class:`GaussianNoise`            N(0, σ²) noise (DP-Gaussian baseline)
:class:`LaplaceNoise`             Laplace(0, b) noise (DP-Laplace baseline)
:class:`Soteria`                  prune the FC layer's representation gradient
:class:`GradDefense`              equal-risk slices, sampled noise (clipping optional)
:class:`MarchenkoPasturCompensation`  GradDefense's server-side denoising
:class:`Outpost`                  probabilistic, Fisher-selected, risk-scaled noise
================================  ===============================================

``Defense.formal`` is True only for mechanisms with an (ε, δ) guarantee (DP-SGD in
:mod:`fl_course.defenses.formal_dp`); ``Defense.placement`` says where the defense's
paper applies it (``"round"`` or ``"step"``), which FedAvg follows unless given
``placement=``. Published values: :mod:`fl_course.defenses.published`.
"""

from fl_course.defenses.base import Defense, ServerTransform
from fl_course.defenses.compression import GradientCompression, prune_smallest
from fl_course.defenses.dp import GaussianNoise, LaplaceNoise
from fl_course.defenses.graddefense import (
    PAPER_PERTURB_FRACTION,
    PAPER_Q,
    PAPER_ROOT_SIZE,
    GradDefense,
    MarchenkoPasturCompensation,
    equal_risk_slices,
    layer_sensitivity,
    marchenko_pastur_bounds,
    reservoir_sample,
    root_dataset,
)
from fl_course.defenses.outpost import Outpost, fisher_mask, noise_to_gradient, parameter_risk
from fl_course.defenses.soteria import Soteria, feature_ratios, representation_scores

__all__ = [
    "Defense",
    "ServerTransform",
    "GradientCompression",
    "prune_smallest",
    "GaussianNoise",
    "LaplaceNoise",
    "Soteria",
    "feature_ratios",
    "representation_scores",
    "GradDefense",
    "PAPER_PERTURB_FRACTION",
    "PAPER_Q",
    "PAPER_ROOT_SIZE",
    "MarchenkoPasturCompensation",
    "equal_risk_slices",
    "layer_sensitivity",
    "marchenko_pastur_bounds",
    "reservoir_sample",
    "root_dataset",
    "Outpost",
    "fisher_mask",
    "parameter_risk",
    "noise_to_gradient",
]
