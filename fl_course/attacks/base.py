"""The one interface shared by every gradient-inversion attack in the course.

The server in these attacks is *honest-but-curious*: it stores and processes
each client's update but never changes the protocol or the model. What it
observes is an :class:`ObservedUpdate`:

* FedSGD -- the gradient ``∇_W L(W; x, y)`` of the client's batch
  (``kind="gradient"``);
* FedAvg -- the weight delta ``Δ = W' − W`` after ``local_epochs`` passes of
  SGD with learning rate ``lr``, mini-batches of ``batch_size`` and, in the
  production setting of the Outpost paper, ``momentum`` and ``weight_decay``
  (``kind="delta"``). Δ is *not* a gradient (McMahan et al. 2017, Alg. 1).

Every attack is a small object with all its settings (``seed`` included) fixed
in the constructor, and one call::

    result = attack.reconstruct(model, update, labels=labels, data_shape=(1, 28, 28))

``update`` is an :class:`ObservedUpdate` or, for a FedSGD gradient, a plain
``dict`` mapping ``model.named_parameters()`` names to tensors (the format of
:mod:`fl_course.defenses` and of :class:`fl_course.federation.FedAvg`). The
result is an :class:`AttackResult`: the reconstructed images in [0, 1], the
labels used, and a per-iteration history of the attack loss and (when the
notebook passes ``ground_truth`` for monitoring only) the PSNR.

The victim's real update, as the server observes it, comes from :func:`client_gradient`
and :func:`client_fedavg_update`. They compute it with
:func:`fl_course.federation.client.simulate_update`, the *same* forward model and the same
loss function (:func:`~fl_course.federation.client.classification_loss`, mean
cross-entropy, the loss of :class:`fl_course.federation.FedAvg`) that the optimisation
attacks differentiate through. A mismatch such as ``0.5·CE`` on one side and ``CE`` on the other
silently ruins magnitude-sensitive attacks (JonasGeiping/invertinggradients
issue #2); :meth:`Attack.verify` catches it.

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> from fl_course.attacks.base import client_gradient
>>> model = LeNetZhu(seed=0)
>>> x, y = torch.rand(1, 1, 28, 28), torch.tensor([3])
>>> update = client_gradient(model, x, y)
>>> update.kind, update.num_images
('gradient', 1)
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from fl_course import metrics
from fl_course.checks import Configurable, check_seed
from fl_course.federation.client import (
    LossFn,
    check_sgd_settings,
    classification_loss,
    local_delta,
    local_gradient,
    simulate_update,
)

__all__ = [
    "ThreatModel",
    "ObservedUpdate",
    "AttackResult",
    "Attack",
    "client_gradient",
    "client_fedavg_update",
    "default_device",
]


def default_device() -> torch.device:
    """A GPU when present, the CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- threat model
@dataclass(frozen=True)
class ThreatModel:
    """A short card stating what an attacker sees and assumes.

    Rendered as a two-column table in notebooks (``card.to_frame()`` or just
    ``card`` as the last expression of a cell).
    """

    attack: str
    reference: str
    observes: str
    labels: str
    model_state: str
    batch_size: str
    local_steps: str
    prior: str
    server: str = (
        "honest-but-curious: stores and processes each update, never alters protocol or model"
    )

    def to_frame(self) -> pd.DataFrame:
        """The card as a DataFrame with columns ``aspect`` and ``assumption``."""
        rows = [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)]
        return pd.DataFrame(rows, columns=["aspect", "assumption"])

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)


# --------------------------------------------------------------------------- observed update
def _check_update_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not isinstance(tensors, Mapping) or not tensors:
        raise TypeError(
            "An update must be a non-empty dict mapping parameter names to tensors, e.g. "
            "{name: p.grad for name, p in model.named_parameters()}; got "
            + type(tensors).__name__
            + "."
        )
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Update entry {name!r} is a {type(value).__name__}; every value must be a "
                "torch.Tensor."
            )
    return {k: v.detach() for k, v in tensors.items()}


@dataclass(frozen=True)
class ObservedUpdate:
    """What the honest-but-curious server receives from one client.

    Parameters
    ----------
    tensors : dict of str to torch.Tensor
        Keyed by ``model.named_parameters()`` names. Extra entries (BatchNorm
        buffers) are ignored by the attacks.
    kind : {"gradient", "delta"}
        ``"gradient"`` for FedSGD, ``"delta"`` for a FedAvg weight change Δ = W' − W.
    num_images : int
        Number of training examples behind the update.
    lr : float, optional
        The client's learning rate (required for ``"delta"``).
    local_epochs : int, default 1
        Passes over the client's ``num_images`` examples (``"delta"`` only).
    batch_size : int, optional
        Mini-batch size of local SGD; ``None`` means full batch (``"delta"`` only).
    momentum : float, default 0.0
        The client's SGD momentum μ in [0, 1) (``"delta"`` only).
    weight_decay : float, default 0.0
        The client's L2 weight decay λ ≥ 0 (``"delta"`` only). With μ and λ the
        client steps exactly as ``torch.optim.SGD`` does (:func:`simulate_update`).

    Notes
    -----
    The attacker's model of local training (:func:`simulate_update`) visits the
    mini-batches in the data's order, as in Geiping et al. (2020, Sec. 6); a
    client that shuffles (like :class:`fl_course.federation.FedAvg`) makes the
    unrolled attack a little harder.
    """

    tensors: dict[str, torch.Tensor]
    kind: str = "gradient"
    num_images: int = 1
    lr: float | None = None
    local_epochs: int = 1
    batch_size: int | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", _check_update_tensors(self.tensors))
        if self.kind not in ("gradient", "delta"):
            raise ValueError(
                f"kind must be 'gradient' (FedSGD) or 'delta' (FedAvg), got {self.kind!r}."
            )
        if (
            isinstance(self.num_images, bool)
            or not isinstance(self.num_images, int)
            or self.num_images < 1
        ):
            raise ValueError(f"num_images must be a positive integer, got {self.num_images!r}.")
        if self.kind == "delta":
            if self.lr is None or not self.lr > 0:
                raise ValueError(
                    "A FedAvg delta needs the client's learning rate: pass lr > 0, e.g. lr=0.1."
                )
            if not isinstance(self.local_epochs, int) or self.local_epochs < 1:
                raise ValueError(
                    f"local_epochs must be a positive integer, got {self.local_epochs!r}."
                )
            if self.batch_size is not None and (
                not isinstance(self.batch_size, int) or self.batch_size < 1
            ):
                raise ValueError(
                    f"batch_size must be a positive integer or None, got {self.batch_size!r}."
                )
            check_sgd_settings(self.momentum, self.weight_decay)
        elif self.momentum or self.weight_decay:
            raise ValueError(
                "momentum and weight_decay describe local training; a FedSGD gradient has none "
                "(build a delta with ObservedUpdate.delta(..., momentum=..., weight_decay=...))."
            )

    @classmethod
    def gradient(cls, tensors: Mapping[str, torch.Tensor], num_images: int = 1) -> ObservedUpdate:
        """A FedSGD update: the mean gradient over ``num_images`` examples."""
        return cls(dict(tensors), kind="gradient", num_images=num_images)

    @classmethod
    def delta(
        cls,
        tensors: Mapping[str, torch.Tensor],
        *,
        num_images: int,
        lr: float,
        local_epochs: int = 1,
        batch_size: int | None = None,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> ObservedUpdate:
        """A FedAvg update Δ = W' − W after local SGD (with momentum and weight decay if given)."""
        return cls(
            dict(tensors),
            kind="delta",
            num_images=num_images,
            lr=lr,
            local_epochs=local_epochs,
            batch_size=batch_size,
            momentum=momentum,
            weight_decay=weight_decay,
        )

    @property
    def local_steps(self) -> int:
        """Number of local SGD steps behind the update (1 for a gradient)."""
        if self.kind == "gradient":
            return 1
        batch = self.batch_size or self.num_images
        return self.local_epochs * math.ceil(self.num_images / batch)

    def parameters_of(self, model: nn.Module) -> list[torch.Tensor]:
        """The update's tensors in ``model.named_parameters()`` order, on the model's device."""
        out = []
        for name, param in model.named_parameters():
            if name not in self.tensors:
                raise ValueError(
                    f"The update has no entry for parameter {name!r}; key it by the names of "
                    f"model.named_parameters() (it has e.g. {next(iter(self.tensors))!r})."
                )
            value = self.tensors[name]
            if value.shape != param.shape:
                raise ValueError(
                    f"Update entry {name!r} has shape {list(value.shape)} but the parameter has "
                    f"{list(param.shape)}; was the update computed on this model?"
                )
            out.append(value.to(device=param.device, dtype=param.dtype))
        return out

    def as_gradient(self, name: str) -> torch.Tensor:
        """A gradient-like view of one entry: the gradient, or ``−Δ / lr`` for a delta.

        For a single full-batch local step ``−Δ/lr`` *is* the gradient; after
        several steps it is the sum of the step gradients, whose signs label
        inference still reads.
        """
        if name not in self.tensors:
            raise ValueError(f"The update has no entry {name!r}.")
        value = self.tensors[name]
        return value if self.kind == "gradient" else -value / self.lr

    def __len__(self) -> int:
        return len(self.tensors)


def _as_observed(
    update: ObservedUpdate | Mapping[str, torch.Tensor], num_images: int | None
) -> ObservedUpdate:
    if isinstance(update, ObservedUpdate):
        if num_images is not None and num_images != update.num_images:
            raise ValueError(
                f"num_images={num_images} contradicts the update, which says "
                f"{update.num_images}; drop num_images."
            )
        return update
    return ObservedUpdate.gradient(update, num_images=num_images or 1)


# --------------------------------------------------------------------------- victim helpers
def client_gradient(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    loss_fn: LossFn = classification_loss,
) -> ObservedUpdate:
    """The victim's real FedSGD update: the mean gradient of ``loss_fn`` on its batch.

    Parameters
    ----------
    model : torch.nn.Module
    images : torch.Tensor
        ``[N, C, H, W]`` real images in [0, 1].
    labels : torch.Tensor
        ``[N]`` integer labels.
    loss_fn : callable, default :func:`classification_loss`

    Returns
    -------
    ObservedUpdate
    """
    _check_batch(images, labels)
    gradient = local_gradient(model, images, labels, loss_fn=loss_fn)
    return ObservedUpdate.gradient(gradient, num_images=images.shape[0])


def client_fedavg_update(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    lr: float,
    local_epochs: int = 1,
    batch_size: int | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    loss_fn: LossFn = classification_loss,
) -> ObservedUpdate:
    """The victim's real FedAvg update Δ = W' − W after local SGD (data in order).

    Parameters
    ----------
    model : torch.nn.Module
        Global model (left unchanged).
    images, labels : torch.Tensor
        The client's ``n`` real examples.
    lr : float
        Local learning rate.
    local_epochs : int, default 1
    batch_size : int, optional
        ``None`` for full-batch steps.
    momentum, weight_decay : float, default 0.0
        ``torch.optim.SGD``'s momentum and weight decay (see :func:`simulate_update`).
    loss_fn : callable, default :func:`classification_loss`

    Returns
    -------
    ObservedUpdate
    """
    _check_batch(images, labels)
    probe = ObservedUpdate.delta(
        {"probe": torch.zeros(1)},
        num_images=images.shape[0],
        lr=lr,
        local_epochs=local_epochs,
        batch_size=batch_size,
        momentum=momentum,
        weight_decay=weight_decay,
    )  # validates the settings with the same messages as the attack side
    delta = local_delta(
        model,
        images,
        labels,
        lr=probe.lr,
        local_epochs=probe.local_epochs,
        batch_size=probe.batch_size,
        momentum=probe.momentum,
        weight_decay=probe.weight_decay,
        loss_fn=loss_fn,
    )
    return ObservedUpdate.delta(
        delta,
        num_images=images.shape[0],
        lr=lr,
        local_epochs=local_epochs,
        batch_size=batch_size,
        momentum=momentum,
        weight_decay=weight_decay,
    )


def _check_batch(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(
            "images must be a [N, C, H, W] tensor; add a batch dimension with .unsqueeze(0)."
        )
    if not isinstance(labels, torch.Tensor) or labels.shape[0] != images.shape[0]:
        raise ValueError("labels must be a tensor with one entry per image.")


# --------------------------------------------------------------------------- results
@dataclass
class AttackResult:
    """What an attack returns.

    Attributes
    ----------
    images : torch.Tensor
        ``[N, C, H, W]`` reconstruction in [0, 1] (on the CPU).
    labels : torch.Tensor
        ``[N]`` labels the attack used (given or inferred).
    history : pandas.DataFrame
        One row per iteration and restart: ``restart``, ``iteration``, ``loss``,
        and ``psnr`` (dB, only when ground truth was passed for monitoring;
        NaN between logging points).
    seconds : float
        Wall-clock time of the attack.
    info : dict
        Attack-specific extras (e.g. the loss of each restart).
    """

    images: torch.Tensor
    labels: torch.Tensor
    history: pd.DataFrame
    seconds: float
    info: dict = field(default_factory=dict)

    def psnr(self, ground_truth: torch.Tensor, *, match: bool = True) -> torch.Tensor:
        """Per-image PSNR (dB, :func:`fl_course.metrics.psnr`) against the true images.

        With ``match=True`` reconstructions are first paired with true images
        by a minimum-MSE assignment, since a batch attack may return the images
        in another order.
        """
        rec = order_like(self.images, ground_truth.cpu()) if match else self.images
        return metrics.psnr(ground_truth.cpu(), rec, reduction="none")


def order_like(reconstruction: torch.Tensor, ground_truth: torch.Tensor) -> torch.Tensor:
    """Reorder a batch reconstruction to best match the ground truth (Hungarian, on MSE)."""
    if reconstruction.shape != ground_truth.shape:
        raise ValueError(
            f"Reconstruction {list(reconstruction.shape)} and ground truth "
            f"{list(ground_truth.shape)} differ in shape."
        )
    if reconstruction.shape[0] == 1:
        return reconstruction

    cost = torch.cdist(ground_truth.flatten(1).double(), reconstruction.flatten(1).double()) ** 2
    _, cols = linear_sum_assignment(cost.numpy())
    return reconstruction[torch.as_tensor(cols)]


# --------------------------------------------------------------------------- attack base
class Attack(Configurable, ABC):
    """Base class of all attacks: settings in the constructor, one ``reconstruct`` call.

    Parameters
    ----------
    loss_fn : callable, default :func:`classification_loss`
        The loss the attacker assumes the client trains with. It must be the
        client's loss (see :meth:`verify`).
    seed : int, default 0
        Seed of every random choice (initial images, restarts).
    progress : bool, default True
        Show a tqdm progress bar.

    **validated
        The subclass's validated settings; every setting is recorded once with
        :meth:`fl_course.checks.Configurable.save_settings` and printed in ``repr``.

    Subclasses set the class attribute ``threat_model`` and implement
    ``_reconstruct(model, update, labels, data_shape, ground_truth)``.
    """

    threat_model: ThreatModel

    def __init__(
        self,
        *,
        loss_fn: LossFn = classification_loss,
        seed: int = 0,
        progress: bool = True,
        **validated,
    ) -> None:
        if not callable(loss_fn):
            raise TypeError("loss_fn must be callable as loss_fn(logits, labels) -> scalar tensor.")
        self.save_settings(loss_fn=loss_fn, seed=check_seed(seed), progress=progress, **validated)

    def reconstruct(
        self,
        model: nn.Module,
        update: ObservedUpdate | Mapping[str, torch.Tensor],
        *,
        labels: torch.Tensor | None = None,
        num_images: int | None = None,
        data_shape: tuple[int, ...] = (1, 28, 28),
        ground_truth: torch.Tensor | None = None,
    ) -> AttackResult:
        """Reconstruct the client's images from its update.

        Parameters
        ----------
        model : torch.nn.Module
            The global model the client started from (not modified; used in its
            current train/eval mode).
        update : ObservedUpdate or dict of str to torch.Tensor
            The observed update; a plain dict is read as a FedSGD gradient.
        labels : torch.Tensor, optional
            ``[N]`` known labels. If omitted, the attack infers them (iDLG rule
            or count heuristic) or optimises them (DLG), depending on its settings.
        num_images : int, optional
            Batch size behind a plain-dict gradient (default: ``len(labels)`` or 1).
        data_shape : tuple of int, default (1, 28, 28)
            Shape of one image.
        ground_truth : torch.Tensor, optional
            True images, used **only** to log PSNR per iteration for the lab;
            the attack never reads them.

        Returns
        -------
        AttackResult
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if labels is not None:
            labels = torch.as_tensor(labels).long().flatten()
            if num_images is None and not isinstance(update, ObservedUpdate):
                num_images = len(labels)
        observed = _as_observed(update, num_images)
        if labels is not None and len(labels) != observed.num_images:
            raise ValueError(
                f"Got {len(labels)} labels for an update of {observed.num_images} images; pass "
                "one label per image."
            )
        data_shape = tuple(int(d) for d in data_shape)
        if len(data_shape) != 3 or min(data_shape) < 1:
            raise ValueError(f"data_shape must be (channels, height, width), got {data_shape!r}.")
        if ground_truth is not None and tuple(ground_truth.shape) != (
            observed.num_images,
            *data_shape,
        ):
            raise ValueError(
                f"ground_truth has shape {list(ground_truth.shape)}, expected "
                f"{[observed.num_images, *data_shape]}."
            )
        device = next(model.parameters()).device
        if labels is not None:
            labels = labels.to(device)
        if ground_truth is not None:
            ground_truth = ground_truth.to(device)
        start = time.perf_counter()
        result = self._reconstruct(model, observed, labels, data_shape, ground_truth)
        result.seconds = time.perf_counter() - start
        result.images = result.images.detach().cpu()
        result.labels = result.labels.detach().cpu()
        return result

    @abstractmethod
    def _reconstruct(
        self,
        model: nn.Module,
        update: ObservedUpdate,
        labels: torch.Tensor | None,
        data_shape: tuple[int, int, int],
        ground_truth: torch.Tensor | None,
    ) -> AttackResult:
        """Attack-specific work; ``seconds`` is filled in by :meth:`reconstruct`."""

    def verify(
        self,
        model: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        update: ObservedUpdate | Mapping[str, torch.Tensor],
        *,
        rtol: float = 1e-3,
    ) -> float:
        """Check that the attacker's forward model reproduces the observed update on the true data.

        A lab-only sanity check (a real attacker has no true data): it
        recomputes the update from ``images`` and ``labels`` with the attack's
        ``loss_fn`` and the update's protocol and compares.

        Returns
        -------
        float
            Relative error ``‖simulated − observed‖ / ‖observed‖``.

        Raises
        ------
        ValueError
            If the relative error exceeds ``rtol``, e.g. because the client
            trained with ``0.5·CE`` while the attacker assumes ``CE``.
        """
        observed = _as_observed(update, None if isinstance(update, ObservedUpdate) else len(labels))
        target = observed.parameters_of(model)
        simulated = simulate_update(
            model,
            images.to(target[0].device),
            labels.to(target[0].device),
            kind=observed.kind,
            lr=observed.lr,
            local_epochs=observed.local_epochs,
            batch_size=observed.batch_size,
            momentum=observed.momentum,
            weight_decay=observed.weight_decay,
            loss_fn=self.loss_fn,
        )
        num = math.sqrt(sum(float((s - t).pow(2).sum()) for s, t in zip(simulated, target)))
        den = math.sqrt(sum(float(t.pow(2).sum()) for t in target)) or 1.0
        error = num / den
        if not error <= rtol:
            raise ValueError(
                "The attacker's model of the client does not reproduce the observed update "
                f"(relative error {error:.3g} > {rtol}). The client and the attacker must use the "
                "same loss (e.g. both mean cross-entropy, not 0.5·CE on one side) and the same lr, "
                "local epochs, batch size, momentum and weight decay."
            )
        return error


def _seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def _history_frame(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["restart", "iteration", "loss", "psnr"])
    frame["psnr"] = frame["psnr"].astype(float)
    return frame
