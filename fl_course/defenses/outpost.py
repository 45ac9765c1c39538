"""Outpost (Wang, Hugh, Li, INFOCOM 2023): adaptive perturbation for production FL.

In production federated learning a client runs many local steps (with
momentum, weight decay, schedulers) and shares ``Δ ≠ ∇``; leakage is worst in
the first local iterations, when the model still sits at the global weights.
Outpost therefore perturbs the gradient of local iteration ``t`` only with
probability ``1 / (1 + β·t)`` (Sec. IV-A), and when it does:

1. risk of layer ``l``: the variance of its parameters, capped at 1 (Sec. IV-B);
2. the diagonal empirical Fisher information selects the top ``φ`` % of all
   gradient entries to noise (Sec. IV-C);
3. every layer's entries below its ``prune_base`` percentile in magnitude are
   pruned;
4. the selected entries get N(0, (risk_l · noise_base)²) noise.

Departure from Plato's port (``defense/Outpost/perturb.py``), besides not
repeating its bug of returning the unperturbed gradient: the Fisher diagonal is
the element-wise squared gradient ``g ⊙ g`` (the port averages it over each
tensor's first axis), and the top-φ % selection takes an exact count.
"""

from __future__ import annotations

import warnings

import pandas as pd
import torch
from torch import nn

from fl_course.checks import check_int, check_number, check_percent
from fl_course.defenses.base import Defense, protected_names
from fl_course.federation.local_sgd import Update
from fl_course.defenses.compression import prune_smallest, smallest_mask

__all__ = ["Outpost", "fisher_mask", "parameter_risk", "noise_to_gradient"]


def parameter_risk(model: nn.Module, names: list[str] | None = None) -> dict[str, float]:
    """Outpost's per-layer risk: ``min(Var(W_l), 1)`` of each parameter tensor.

    Examples
    --------
    >>> layer = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[0.0, 0.4]]))
    >>> round(parameter_risk(layer)["weight"], 4)
    0.04
    """
    params = dict(model.named_parameters())
    names = list(params) if names is None else names
    return {
        n: min(float(params[n].detach().double().var(unbiased=False)), 1.0)
        if params[n].numel() > 1
        else 0.0
        for n in names
    }


def noise_to_gradient(
    model: nn.Module, gradient: Update, *, noise_base: float = 0.8
) -> pd.DataFrame:
    """Outpost's noise standard deviation ``risk_l · noise_base`` over each layer's gradient RMS.

    Where the ratio is small, the noise hides nothing and Outpost reduces to its pruning.

    Returns
    -------
    DataFrame
        One row per parameter tensor: ``layer``, ``risk`` (Var(W), capped at 1),
        ``gradient_rms`` and ``noise_to_gradient``.
    """

    risk = parameter_risk(model)
    rows = []
    for name in risk:
        rms = float(gradient[name].detach().double().pow(2).mean().sqrt())
        rows.append(
            {
                "layer": name,
                "risk": risk[name],
                "gradient_rms": rms,
                "noise_to_gradient": risk[name] * noise_base / rms if rms > 0 else float("inf"),
            }
        )
    return pd.DataFrame(rows)


def fisher_mask(update: Update, names: list[str], phi: float) -> dict[str, torch.Tensor]:
    """Boolean masks of the top ``φ`` % entries by diagonal empirical Fisher information ``g²``.

    Exactly ``⌊φ/100 · P⌋`` of the ``P`` entries are selected, across all layers.

    Examples
    --------
    >>> update = {"a": torch.tensor([0.1, -2.0]), "b": torch.tensor([1.0, 0.0])}
    >>> m = fisher_mask(update, ["a", "b"], 50)
    >>> m["a"].tolist(), m["b"].tolist()
    ([False, True], [True, False])
    """
    fim = torch.cat([update[k].detach().reshape(-1) ** 2 for k in names])
    count = int(phi / 100.0 * fim.numel())
    chosen = ~smallest_mask(fim, fim.numel() - count)
    masks, start = {}, 0
    for k in names:
        n = update[k].numel()
        masks[k] = chosen[start : start + n].reshape(update[k].shape)
        start += n
    return masks


class Outpost(Defense):
    """Outpost's probabilistic, risk-scaled perturbation (Wang, Hugh, Li 2023, Alg. 1).

    Parameters
    ----------
    beta : float, default 0.125
        Decay speed β of the perturbation probability ``1/(1+β·t)``.
    phi : float, default 40.0
        Percentage φ of gradient entries (highest Fisher information) that get noise.
    prune_base : float, default 80.0
        Percentile below which each layer's entries are pruned.
    noise_base : float, default 0.8
        Noise standard deviation per unit of risk.
    seed : int, default 0

    Notes
    -----
    Needs ``model`` (for the risk) and the local ``iteration`` index ``t``. At
    ``t = 0`` the update is always perturbed; later it may be returned
    unchanged by design (``last_perturbed`` tells which happened).

    Examples
    --------
    >>> from fl_course.models import LeNetZhu
    >>> model = LeNetZhu(seed=0)
    >>> grad = {n: torch.randn(p.shape) for n, p in model.named_parameters()}
    >>> out = Outpost(seed=0)(grad, model=model, step=0)
    >>> any(not torch.equal(out[k], grad[k]) for k in grad)
    True
    >>> Outpost().probability(8)
    0.5
    """

    name = "Outpost"
    #: Outpost perturbs the gradient of every local iteration (with probability 1/(1+βt)).
    placement = "step"

    def __init__(
        self,
        beta: float = 0.125,
        phi: float = 40.0,
        prune_base: float = 80.0,
        noise_base: float = 0.8,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(
            seed=seed,
            beta=check_number("beta", beta, non_negative=True, example=0.125),
            phi=check_percent("phi", phi),
            prune_base=check_percent("prune_base", prune_base),
            noise_base=check_number("noise_base", noise_base, non_negative=True, example=0.8),
        )
        self.last_perturbed = False
        if self.prune_base < 20 and (self.noise_base == 0 or self.phi == 0):
            warnings.warn(
                "prune_base < 20 with no noise (noise_base=0 or phi=0) leaves the gradient almost "
                "intact; the paper's defaults are prune_base=80, phi=40, noise_base=0.8.",
                UserWarning,
                stacklevel=2,
            )

    def probability(self, iteration: int) -> float:
        """Probability ``1 / (1 + β·t)`` that local iteration ``t`` is perturbed."""
        check_int("iteration", iteration, minimum=0, example=0)
        return 1.0 / (1.0 + self.beta * iteration)

    def _protect(self, update: Update, *, model: nn.Module | None, data, step: int) -> Update:
        if model is None:
            raise ValueError(
                "Outpost needs the model to evaluate layer risk: "
                "call outpost(update, model=model, step=t)."
            )
        draw = float(torch.rand((), generator=self._generator))
        self.last_perturbed = draw < self.probability(step)
        if not self.last_perturbed:
            return update
        names = protected_names(update, model)
        risk = parameter_risk(model, names)
        masks = fisher_mask(update, names, self.phi)
        for k in names:
            pruned = prune_smallest(update[k], self.prune_base)
            scale = risk[k] * self.noise_base
            if scale > 0 and bool(masks[k].any()):
                # one draw per entry, kept where selected: cheaper than boolean indexing
                noise = self._noise(update[k].shape, "gaussian", scale, update[k])
                pruned.add_(noise.masked_fill_(~masks[k], 0.0))
            update[k] = pruned
        return update
