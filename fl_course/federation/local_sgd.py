"""The pieces every federation in the course shares: updates, their transforms, local SGD.

An *update* is what a client shares, a ``dict[str, Tensor]`` keyed by parameter name (a
gradient or a model delta). An *update transform* is the one signature with which anything
changes an update before it leaves the client (a defense, chapter 6)::

    transform(update, *, model, data, step) -> update

``model`` is the model the update belongs to, ``data`` the ``(images, labels)`` behind it
(``labels`` may be ``None``) and ``step`` the local step index (0 for a round's single
update). :class:`fl_course.defenses.Defense` has this signature; the federations take one
as ``defense=`` and call it where its paper applies it:

* once per round on the update a client shares (:func:`protect_round_update`,
  GradDefense's Algorithm 1);
* on every local gradient, before the optimizer uses it (:class:`DefendedOptimizer`, the
  idea of Opacus' ``DPOptimizer.pre_step``: transform the gradients, then step; Outpost);
* on each worker's gradient in the CAFE federations (one FedSGD step, ``step=0``).

The local SGD step itself (:func:`local_sgd_step`) is shared by
:class:`~fl_course.federation.fedavg.FedAvg` and chapter 6's production-style client, and
the gradient helpers (:func:`block_gradients`, :func:`sgd_update`) by the two CAFE
federations.

Examples
--------
>>> import torch
>>> from torch import nn
>>> model = nn.Linear(4, 2)
>>> def zero_bias(update, *, model, data, step):
...     return {**update, "bias": torch.zeros_like(update["bias"])}
>>> optimizer = DefendedOptimizer(
...     torch.optim.SGD(model.parameters(), lr=0.1), model=model, defense=zero_bias
... )
>>> bias = model.bias.detach().clone()
>>> loss = local_sgd_step(model, optimizer, torch.ones(3, 4), torch.tensor([0, 1, 0]))
>>> bool(torch.equal(model.bias, bias)), optimizer.steps
(True, 1)
"""

from __future__ import annotations

import time
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from fl_course.checks import check_number

__all__ = [
    "Update",
    "UpdateTransform",
    "DefendedOptimizer",
    "local_sgd_step",
    "protect_round_update",
    "block_gradients",
    "sgd_update",
    "check_images",
    "check_transform",
]

#: A shared update: a gradient or a model delta keyed by parameter name.
Update = dict[str, torch.Tensor]


class UpdateTransform(Protocol):
    """What changes an update before it is shared: ``transform(update, *, model, data, step)``.

    Every :class:`fl_course.defenses.Defense` is one. ``placement`` (``"round"`` or
    ``"step"``), when present, says where :class:`~fl_course.federation.fedavg.FedAvg`
    applies it by default.
    """

    def __call__(
        self,
        update: Update,
        *,
        model: nn.Module | None,
        data: tuple[torch.Tensor, torch.Tensor | None] | None,
        step: int,
    ) -> Update: ...


def check_images(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise a clear error unless ``images`` is ``[N, C, H, W]`` with ``N`` labels."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(
            "images must be a float tensor of shape [N, C, H, W]; load them with "
            "fl_course.data.load_mnist, which returns [N, 1, 28, 28]."
        )
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels must be an int64 tensor of shape [{images.shape[0]}], one label per "
            f"image; got {getattr(labels, 'shape', type(labels))}."
        )


def check_transform(name: str, transform) -> None:
    """Raise a ``TypeError`` unless ``transform`` is ``None`` or callable."""
    if transform is not None and not callable(transform):
        raise TypeError(
            f"{name} must be a defense, a callable {name}(update, *, model, data, step) -> "
            f"update (e.g. fl_course.defenses.GaussianNoise()), got {type(transform).__name__}."
        )


class DefendedOptimizer:
    """A local optimizer whose every step first passes the gradients through a defense.

    Like Opacus' ``DPOptimizer`` (its ``pre_step``): :meth:`step` collects the model's
    gradients, replaces them by ``defense(gradients, model=model, data=data, step=t)`` and
    then lets the wrapped optimizer (with its momentum and weight decay) step, so the
    defense protects every local iteration (Outpost's placement, and Plato's trainer's for
    every defense). Without a defense it is the wrapped optimizer.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The local optimizer over ``model``'s parameters.
    model : nn.Module
        The model being trained (the defense sees it as ``model``).
    defense : callable, optional
        An update transform ``defense(update, *, model, data, step) -> update``.

    Attributes
    ----------
    steps : int
        Steps taken; the next gradient is protected as local step ``steps``.
    calls, seconds : int, float
        Defense calls and the CPU seconds spent inside the defense.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        model: nn.Module,
        defense: UpdateTransform | None = None,
    ) -> None:
        check_transform("defense", defense)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.optimizer = optimizer
        self.model = model
        self.defense = defense
        self.steps = 0
        self.calls = 0
        self.seconds = 0.0

    def zero_grad(self) -> None:
        """Clear the gradients (the wrapped optimizer's ``zero_grad``)."""
        self.optimizer.zero_grad()

    def pre_step(self, data: tuple[torch.Tensor, torch.Tensor | None] | None) -> None:
        """Replace every parameter's gradient by the defense's version of it."""
        if self.defense is None:
            return
        params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        gradients = {n: p.grad for n, p in params.items()}
        start = time.process_time()
        with torch.enable_grad():
            out = self.defense(gradients, model=self.model, data=data, step=self.steps)
        self.seconds += time.process_time() - start
        self.calls += 1
        with torch.no_grad():
            for n, p in params.items():
                p.grad.copy_(out[n])

    def step(self, *, data: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> None:
        """Protect the gradients (the batch behind them is ``data``), then step."""
        self.pre_step(data)
        self.optimizer.step()
        self.steps += 1


def local_sgd_step(
    model: nn.Module,
    optimizer: DefendedOptimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """One local step: mean cross-entropy on the batch, backward, (defend,) optimizer step.

    The defense sees the batch as ``(images, None)``: the inputs behind the gradient.

    Returns
    -------
    torch.Tensor
        The batch loss before the step (detached).
    """
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step(data=(images, None))
    return loss.detach()


def protect_round_update(
    defense: UpdateTransform,
    update: Update,
    *,
    global_model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor] | None,
    lr: float,
) -> Update:
    """Protect a client's round delta once, in gradient units, at the round's global weights.

    GradDefense's Algorithm 1 and the baselines of its Table II: the delta
    ``Δ = W_local − W_global`` becomes the pseudo-gradient ``g = −Δ/η`` (the gradient itself
    after one plain-SGD step), the defense protects it as step 0 with ``global_model`` (the
    round's global weights, as GradDefense computes its sensitivities once per round) and
    the client's data, and ``−η · protected`` is sent, so σ and clipping bounds keep their
    gradient meaning. Entries that are not parameters of ``global_model`` pass unchanged.
    """
    check_number("lr", lr, positive=True, example=0.05)
    params = {n for n, _ in global_model.named_parameters()}
    gradient = {k: -v / lr for k, v in update.items() if k in params}
    with torch.enable_grad():
        out = defense(gradient, model=global_model, data=data, step=0)
    return {k: (-out[k] * lr if k in out else v) for k, v in update.items()}


def block_gradients(loss: torch.Tensor, blocks: list[nn.Module]) -> list[Update]:
    """Differentiable gradients of ``loss`` for every block, one dict per block."""
    named = [list(module.named_parameters()) for module in blocks]
    flat = torch.autograd.grad(loss, [p for block in named for _, p in block], create_graph=True)
    out, start = [], 0
    for block in named:
        out.append({n: g for (n, _), g in zip(block, flat[start : start + len(block)])})
        start += len(block)
    return out


def sgd_update(blocks: list[nn.Module], gradients: list[Update], lr: float) -> None:
    """The server's SGD step on every block with its shared gradient (no-op if ``lr`` is 0)."""
    if lr == 0:
        return
    with torch.no_grad():
        for module, grad in zip(blocks, gradients):
            for n, p in module.named_parameters():
                p -= lr * grad[n]
