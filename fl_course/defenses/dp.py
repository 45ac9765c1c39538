"""Additive-noise baselines: Gaussian and Laplace noise on the shared update.

These are the "DP" baselines of GradDefense (Wang et al. 2022, Sec. VI) and
Outpost (Wang et al. 2023, Sec. V), following Zhu et al. (2019, Sec. 6): i.i.d.
noise of a fixed scale added to every entry. GradDefense's Table II uses "noise
variance 1E-2" for both; the authors' code (``poc/core/defense/perturbation.py``,
``pseudorandom.getGause``) passes that number as the Gaussian's standard deviation
and as Laplace's scale ``b``, so both default to 1e-2 here. Without a norm bound
the noise carries no formal (ε, δ) guarantee (``formal = False``); with ``clip_norm`` the
Gaussian variant is the Gaussian mechanism of Dwork and Roth (2014, Thm. A.1) for one release.
"""

from __future__ import annotations

import math
import warnings

from torch import nn

from fl_course.checks import check_number
from fl_course.defenses.base import Defense, flatten_update, protected_names
from fl_course.federation.local_sgd import Update

__all__ = ["GaussianNoise", "LaplaceNoise"]


class _AdditiveNoise(Defense):
    """Clip the update's global L2 norm (optional), then add i.i.d. noise.

    A subclass names its noise scale (``_scale_name``: σ of the Gaussian, b of Laplace);
    the validated scale is recorded under that name.
    """

    _kind = "gaussian"
    _scale_name = "scale"

    def __init__(self, scale: float, *, clip_norm: float | None, seed: int) -> None:
        scale = check_number("scale", scale, positive=True, example=1e-2)
        if clip_norm is not None:
            clip_norm = check_number("clip_norm", clip_norm, positive=True, example=1.0)
        super().__init__(seed=seed, **{self._scale_name: scale}, clip_norm=clip_norm)
        if scale < 1e-3:
            warnings.warn(
                f"Noise scale {scale} is below 1e-3; Zhu et al. (2019, Fig. 7) recover images "
                "through noise up to 1e-3, so this gives little protection (1e-2 is the papers' "
                "baseline).",
                UserWarning,
                stacklevel=3,
            )

    @property
    def noise_scale(self) -> float:
        """Scale of the noise (σ of the Gaussian, b of Laplace)."""
        return getattr(self, self._scale_name)

    def _protect(self, update: Update, *, model: nn.Module | None, data, step: int) -> Update:
        names = protected_names(update, model)
        if self.clip_norm is not None:
            norm = float(flatten_update(update, names).double().norm())
            factor = min(1.0, self.clip_norm / (norm + 1e-12))
            for k in names:
                update[k] = update[k] * factor
        for k in names:
            noise = self._noise(update[k].shape, self._kind, self.noise_scale, update[k])
            update[k] = update[k] + noise
        return update


class GaussianNoise(_AdditiveNoise):
    """Add N(0, σ²) noise to every entry of the update ("DP-Gaussian").

    Parameters
    ----------
    sigma : float, default 1e-2
        Standard deviation σ of the noise (1e-2 in the papers' baselines).
    clip_norm : float, optional
        If given, scale the whole update to L2 norm at most ``clip_norm`` first,
        which makes :meth:`epsilon` meaningful.
    seed : int, default 0

    Warns
    -----
    UserWarning
        If σ < 1e-3 (Zhu et al. 2019 still reconstruct through such noise).

    Examples
    --------
    >>> import torch
    >>> dp = GaussianNoise(sigma=0.1, seed=0)
    >>> out = dp({"w": torch.zeros(1000)})
    >>> round(float(out["w"].std()), 1)
    0.1
    """

    name = "DP-Gaussian"
    _kind = "gaussian"
    _scale_name = "sigma"

    def __init__(
        self, sigma: float = 1e-2, *, clip_norm: float | None = None, seed: int = 0
    ) -> None:
        super().__init__(sigma, clip_norm=clip_norm, seed=seed)

    def epsilon(self, delta: float = 1e-5) -> float:
        """ε of one release by the classical Gaussian mechanism (needs ``clip_norm``).

        ε = Δ₂·√(2 ln(1.25/δ)) / σ with L2 sensitivity Δ₂ = ``clip_norm``
        (Dwork and Roth 2014, Thm. A.1; the bound is stated for ε < 1).

        Examples
        --------
        >>> round(GaussianNoise(sigma=1.0, clip_norm=0.1).epsilon(1e-5), 3)
        0.484
        """
        if self.clip_norm is None:
            raise ValueError(
                "epsilon() needs a norm bound: build GaussianNoise(..., clip_norm=C) first."
            )
        if not 0 < delta < 1:
            raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}.")
        return self.clip_norm * math.sqrt(2 * math.log(1.25 / delta)) / self.sigma


class LaplaceNoise(_AdditiveNoise):
    """Add Laplace(0, b) noise to every entry of the update ("DP-Laplace").

    Parameters
    ----------
    scale : float, default 1e-2
        Laplace scale b (standard deviation √2·b); 1e-2 as in the papers' baselines.
    clip_norm : float, optional
        If given, scale the whole update to L2 norm at most ``clip_norm`` first.
    seed : int, default 0

    Examples
    --------
    >>> import torch
    >>> out = LaplaceNoise(scale=0.1, seed=0)({"w": torch.zeros(20000)})
    >>> round(float(out["w"].abs().mean()), 2)
    0.1
    """

    name = "DP-Laplace"
    _kind = "laplace"

    def __init__(
        self, scale: float = 1e-2, *, clip_norm: float | None = None, seed: int = 0
    ) -> None:
        super().__init__(scale, clip_norm=clip_norm, seed=seed)
