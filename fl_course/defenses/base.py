"""Shared interface of the gradient-leakage defenses.

A *client-side* defense maps the update a client is about to share (a gradient
or a model delta, as ``dict[str, Tensor]`` keyed by parameter name) to the
protected update; it may need the model, the client's batch, a root data set
or the local step index. Its call is the one update-transform signature of the
course, ``defense(update, *, model, data, step) -> update``
(:class:`fl_course.federation.local_sgd.UpdateTransform`), so every federation
takes it directly: ``FedAvg(..., defense=...)``, ``IndexedFedSGD(..., defense=...)``,
``VerticalFL(..., defense=...)``. A *server-side* transform (GradDefense's
compensation) maps the aggregate to a corrected aggregate:
``FedAvg(..., server_transform=...)``.

The design follows Opacus' idea of one small object per mechanism, with every
setting (the ``seed`` included) fixed in the constructor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from fl_course.checks import Configurable, check_int, check_seed
from fl_course.federation.local_sgd import Update

__all__ = [
    "Defense",
    "ServerTransform",
    "flatten_update",
    "unflatten_update",
    "weights_fingerprint",
]


def check_update(update: Mapping[str, torch.Tensor]) -> None:
    """Raise a clear error unless ``update`` maps names to tensors."""
    if not isinstance(update, Mapping) or not update:
        raise TypeError(
            "The update must be a non-empty dict mapping parameter names to tensors, e.g. "
            "{name: p.grad for name, p in model.named_parameters()}; got "
            f"{type(update).__name__}."
        )
    for name, value in update.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Update entry {name!r} is a {type(value).__name__}; every value must be a "
                "torch.Tensor."
            )


def protected_names(
    update: Mapping[str, torch.Tensor], model: nn.Module | None = None
) -> list[str]:
    """Names of the entries a defense perturbs: floating tensors that are model parameters.

    Without a model every floating-point entry counts. Integer buffers (such as
    BatchNorm's ``num_batches_tracked``) always pass through untouched.
    """
    names = [k for k, v in update.items() if v.is_floating_point()]
    if model is not None:
        params = dict(model.named_parameters())
        names = [k for k in names if k in params]
        if not names:
            raise ValueError(
                "None of the update's keys is a parameter name of the model; key the update by "
                "model.named_parameters() names (got e.g. " + repr(next(iter(update))) + ")."
            )
    return names


def weights_fingerprint(model: nn.Module) -> tuple[float, ...]:
    """Sums and absolute sums of every parameter: a cheap cache key while the weights stay.

    Defenses that derive something costly from the weights alone (GradDefense's layer
    risks, Soteria's feature scores) recompute it only when this key changes.
    """
    params = [p.detach() for p in model.parameters()]
    return tuple(float(p.double().sum()) for p in params) + tuple(
        float(p.double().abs().sum()) for p in params
    )


def flatten_update(update: Mapping[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    """Concatenate the chosen entries into one flat float tensor (in ``names`` order)."""
    return torch.cat([update[k].detach().reshape(-1) for k in names])


def unflatten_update(
    flat: torch.Tensor, update: Mapping[str, torch.Tensor], names: Sequence[str]
) -> Update:
    """Inverse of :func:`flatten_update`; entries not in ``names`` are copied from ``update``."""
    out = {k: v.detach().clone() for k, v in update.items()}
    start = 0
    for k in names:
        n = update[k].numel()
        out[k] = flat[start : start + n].reshape(update[k].shape).to(update[k].dtype).clone()
        start += n
    return out


class Defense(Configurable, ABC):
    """Base class of client-side defenses.

    Subclasses implement :meth:`_protect`. Calling the defense validates the
    update, hands :meth:`_protect` a private copy, and returns the protected
    update; the caller's tensors are never modified.

    Randomness comes from a private :class:`torch.Generator` seeded in the
    constructor: two defenses built with the same settings and seed return the
    same numbers for the same sequence of calls. :meth:`reset` rewinds it.

    Settings are recorded once (:meth:`fl_course.checks.Configurable.save_settings`):
    a subclass constructor validates its arguments and hands the validated values to
    ``super().__init__(seed=seed, name=value, ...)``, which stores them as attributes
    and prints them in ``repr``.

    Parameters
    ----------
    seed : int, default 0
        Seed of the defense's private random generator.
    **validated
        The subclass's validated settings (recorded with the seed).
    """

    #: Short label used in tables.
    name: str = "defense"
    #: True only for mechanisms with a formal (ε, δ) guarantee (DP-SGD with an accountant);
    #: every heuristic defense (GC, noise without clipping, Soteria, GradDefense, Outpost) is False.
    formal: bool = False
    #: Where the defense's paper applies it in FedAvg: ``"round"`` (once, on the shared update)
    #: or ``"step"`` (on every local gradient). :class:`fl_course.federation.FedAvg` uses it
    #: unless told otherwise.
    placement: str = "round"

    def __init__(self, *, seed: int = 0, **validated) -> None:
        self.save_settings(seed=check_seed(seed), **validated)
        self._generator = torch.Generator().manual_seed(seed)

    def reset(self) -> None:
        """Rewind the random generator to the constructor's seed."""
        self._generator = torch.Generator().manual_seed(self.seed)

    def prepare(self, model: nn.Module) -> None:
        """Do the defense's one-time work from the global model before training (default: none).

        GradDefense computes its layer risks here. :func:`fl_course.experiments.defenses.
        federated_run` times this apart from the rounds, so the added time per round does
        not carry a cost paid once.
        """

    def __call__(
        self,
        update: Mapping[str, torch.Tensor],
        *,
        model: nn.Module | None = None,
        data: tuple[torch.Tensor, torch.Tensor | None] | None = None,
        step: int = 0,
    ) -> Update:
        """Return the protected copy of ``update``.

        Parameters
        ----------
        update : dict[str, Tensor]
            Gradient or model delta keyed by parameter name.
        model : torch.nn.Module, optional
            The model the update belongs to (needed by Soteria, GradDefense, Outpost).
        data : (images, labels), optional
            The client's batch behind the update (needed by Soteria); ``labels`` may be
            ``None`` (a local step's batch, a VFL worker's quarter).
        step : int, default 0
            Local step index ``t`` (used by Outpost's schedule); 0 for a round's update.

        Returns
        -------
        dict[str, Tensor]
            A new dict; the input is not modified.
        """
        check_update(update)
        check_int("step", step, minimum=0, example=0)
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        private = {k: v.detach().clone() for k, v in update.items()}
        return self._protect(private, model=model, data=data, step=step)

    @abstractmethod
    def _protect(
        self,
        update: Update,
        *,
        model: nn.Module | None,
        data: tuple[torch.Tensor, torch.Tensor | None] | None,
        step: int,
    ) -> Update:
        """Protect ``update`` (a private copy the method may modify) and return it."""

    def _noise(
        self, shape: torch.Size, kind: str, scale: float | torch.Tensor, like: torch.Tensor
    ) -> torch.Tensor:
        """Draw noise on the CPU generator (reproducible anywhere), then move it to ``like``."""
        if kind == "gaussian":
            z = torch.randn(shape, generator=self._generator)
        else:  # Laplace by inversion: -b·sign(u)·log(1-2|u|), u ~ U(-1/2, 1/2)
            u = torch.rand(shape, generator=self._generator, dtype=torch.float64) - 0.5
            z = -torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 1e-16))
        return (z * scale).to(dtype=like.dtype, device=like.device)


class ServerTransform(Configurable, ABC):
    """Base class of server-side transforms applied to the aggregated update.

    ``transform(aggregate) -> aggregate``; pass one to FedAvg as ``server_transform=``, and
    the server applies it to the weighted average of the clients' updates. A subclass
    records its settings with ``self.save_settings(...)`` (printed in ``repr``).
    """

    name: str = "server transform"

    def __call__(self, update: Mapping[str, torch.Tensor]) -> Update:
        """Return the transformed copy of the aggregate ``update`` (input untouched)."""
        check_update(update)
        return self._transform({k: v.detach().clone() for k, v in update.items()})

    @abstractmethod
    def _transform(self, update: Update) -> Update:
        """Transform a private copy of the aggregate."""
