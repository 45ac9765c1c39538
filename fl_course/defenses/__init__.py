"""Defenses against gradient leakage (chapter 6).

Client-side defenses share one interface, :class:`Defense`:
``defense(update, *, model=None, data=None, iteration=0) -> update`` with the
update a ``dict[str, Tensor]`` (gradient or model delta) keyed by parameter
name. Server-side steps derive from :class:`ServerTransform`.

================================  ===============================================
:class:`GradientCompression`      prune the smallest p % of each layer (GC)
:class:`GaussianNoise`            N(0, σ²) noise (DP-Gaussian baseline)
:class:`LaplaceNoise`             Laplace(0, b) noise (DP-Laplace baseline)
:class:`Soteria`                  prune the FC layer's representation gradient
:class:`GradDefense`              equal-risk slices, sampled noise (clipping optional)
:class:`MarchenkoPasturCompensation`  GradDefense's server-side denoising
:class:`Outpost`                  probabilistic, Fisher-selected, risk-scaled noise
:class:`LocalStepProtection`      apply any defense to every local step of a loop
:class:`RoundProtection`          apply any defense once per round to the shared update
================================  ===============================================

``Defense.formal`` is True only for mechanisms with an (ε, δ) guarantee (DP-SGD in
:mod:`fl_course.defenses.formal_dp`); ``Defense.placement`` says where the defense's
paper applies it (``"round"`` or ``"step"``). Published values: :mod:`fl_course.defenses.published`.
"""

from fl_course.defenses.base import Defense, ServerTransform, Update
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
from fl_course.defenses.local_steps import LocalStepProtection, RoundProtection
from fl_course.defenses.outpost import Outpost, fisher_mask, noise_to_gradient, parameter_risk
from fl_course.defenses.soteria import Soteria, feature_ratios, representation_scores

__all__ = [
    "Defense",
    "ServerTransform",
    "Update",
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
    "LocalStepProtection",
    "RoundProtection",
]
