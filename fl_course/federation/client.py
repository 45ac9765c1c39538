"""The victim side of one client's update, as a differentiable function of its data.

:func:`simulate_update` is the update a client computes: the FedSGD gradient of its batch
or the FedAvg delta ``Δ = W' − W`` after local SGD (McMahan et al. 2017, Alg. 1), with the
loss every client of the course trains with (:func:`classification_loss`). The gradient
inversion attacks (chapter 4) differentiate through this very function, so the two sides
share one loss and one training procedure; the defenses (chapter 6) protect what
:func:`local_gradient` returns. :func:`fl_course.attacks.client_gradient` and
:func:`fl_course.attacks.client_fedavg_update` wrap the same updates as what the curious
server observes.

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> model = LeNetZhu(seed=0)
>>> gradient = local_gradient(model, torch.rand(2, 1, 28, 28), torch.tensor([3, 1]))
>>> list(gradient)[:2]
['body.0.weight', 'body.0.bias']
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fl_course.checks import check_choice, check_int, check_number
from fl_course.federation.local_sgd import Update

__all__ = [
    "LossFn",
    "classification_loss",
    "check_sgd_settings",
    "simulate_update",
    "local_gradient",
    "local_delta",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, the training loss of every client in the course.

    Parameters
    ----------
    logits : torch.Tensor
        ``[N, K]`` model outputs.
    targets : torch.Tensor
        ``[N]`` integer labels, or ``[N, K]`` class probabilities (DLG's soft labels).

    Returns
    -------
    torch.Tensor
        Scalar ``-(1/N) Σ_n Σ_k t_nk log softmax(z_n)_k``; identical to
        ``torch.nn.functional.cross_entropy`` and to the loss of
        :class:`fl_course.federation.FedAvg`.
    """
    return F.cross_entropy(logits, targets)


def check_sgd_settings(momentum: float, weight_decay: float) -> None:
    """Raise a clear error unless ``momentum`` lies in [0, 1) and ``weight_decay`` >= 0."""
    check_number("momentum", momentum, low=0, high=1, example=0.9)
    if momentum == 1:
        raise ValueError("momentum must lie in [0, 1), got 1; pass e.g. momentum=0.9.")
    check_number("weight_decay", weight_decay, non_negative=True, example=1e-4)


def simulate_update(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str = "gradient",
    lr: float | None = None,
    local_epochs: int = 1,
    batch_size: int | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    loss_fn: LossFn = classification_loss,
    create_graph: bool = False,
) -> list[torch.Tensor]:
    """The update a client sends, as a differentiable function of its data.

    Used both by the victim helpers (``create_graph=False``) and inside the
    optimisation attacks (``create_graph=True``), so the two sides share one
    loss and one training procedure.

    Parameters
    ----------
    model : torch.nn.Module
        The global model the client starts from (left unchanged).
    images, labels : torch.Tensor
        ``[N, C, H, W]`` images and ``[N]`` labels or ``[N, K]`` soft labels.
    kind : {"gradient", "delta"}
        FedSGD gradient or FedAvg delta.
    lr, local_epochs, batch_size
        Local SGD settings for ``"delta"``: ``local_epochs`` passes over the
        data in order, in mini-batches of ``batch_size`` (``None``: full batch),
        each step ``W ← W − lr ∇L`` (Geiping et al. 2020, Sec. 6; their
        ``loss_steps``).
    momentum, weight_decay : float, default 0.0
        The update rule of ``torch.optim.SGD`` (no dampening, no Nesterov):
        ``d = ∇L + λW``, ``b ← μ·b + d`` (``b = d`` at the first step),
        ``W ← W − lr·b``. Differentiable like the plain steps, so an attacker
        who knows the client's μ and λ replays the client's training exactly
        (the production setting of Wang, Hugh and Li, INFOCOM 2023).
    loss_fn : callable, default :func:`classification_loss`
    create_graph : bool
        Keep the graph so the result can be differentiated w.r.t. ``images``.

    Returns
    -------
    list of torch.Tensor
        One tensor per parameter, in ``model.named_parameters()`` order.
    """
    names = [n for n, _ in model.named_parameters()]
    params = {n: p for n, p in model.named_parameters()}
    if kind == "gradient":
        loss = loss_fn(model(images), labels)
        return list(torch.autograd.grad(loss, list(params.values()), create_graph=create_graph))
    check_choice("kind", kind, ("gradient", "delta"))
    if lr is None or not lr > 0:
        raise ValueError("Simulating a FedAvg delta needs the client's learning rate lr > 0.")
    check_sgd_settings(momentum, weight_decay)
    n = images.shape[0]
    batch = batch_size or n
    current = {k: v if create_graph else v.detach().requires_grad_(True) for k, v in params.items()}
    buffers: list[torch.Tensor] | None = None  # momentum buffers b, one per parameter
    for _ in range(local_epochs):
        for start in range(0, n, batch):
            xb, yb = images[start : start + batch], labels[start : start + batch]
            loss = loss_fn(functional_call(model, current, (xb,)), yb)
            grads = torch.autograd.grad(loss, list(current.values()), create_graph=create_graph)
            if weight_decay:
                grads = [g + weight_decay * v for g, v in zip(grads, current.values())]
            if momentum:
                buffers = (
                    list(grads)
                    if buffers is None
                    else [momentum * b + g for b, g in zip(buffers, grads)]
                )
                if not create_graph:
                    buffers = [b.detach() for b in buffers]
                grads = buffers
            current = {k: v - lr * g for (k, v), g in zip(current.items(), grads)}
            if not create_graph:
                current = {k: v.detach().requires_grad_(True) for k, v in current.items()}
    deltas = [current[k] - params[k] for k in names]
    return deltas if create_graph else [d.detach() for d in deltas]


def _named(model: nn.Module, tensors: list[torch.Tensor]) -> Update:
    return {name: t for (name, _), t in zip(model.named_parameters(), tensors)}


def local_gradient(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    loss_fn: LossFn = classification_loss,
) -> Update:
    """A client's FedSGD update: the mean gradient of ``loss_fn`` on its batch, by name.

    Parameters
    ----------
    model : torch.nn.Module
        The global model (left unchanged).
    images, labels : torch.Tensor
        The client's batch.
    loss_fn : callable, default :func:`classification_loss`

    Returns
    -------
    dict[str, Tensor]
        Keyed by ``model.named_parameters()`` names.
    """
    return _named(model, simulate_update(model, images, labels, loss_fn=loss_fn))


def local_delta(
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
) -> Update:
    """A client's FedAvg update ``Δ = W' − W`` after local SGD on its data in order, by name.

    Parameters
    ----------
    model : torch.nn.Module
        The global model (left unchanged).
    images, labels : torch.Tensor
        The client's ``n`` examples.
    lr : float
        Local learning rate.
    local_epochs : int, default 1
    batch_size : int, optional
        ``None`` for full-batch steps.
    momentum, weight_decay : float, default 0.0
        ``torch.optim.SGD``'s momentum and weight decay (see :func:`simulate_update`).
    loss_fn : callable, default :func:`classification_loss`
    """
    check_number("lr", lr, positive=True, example=0.1)
    check_int("local_epochs", local_epochs, example=1)
    if batch_size is not None:
        check_int("batch_size", batch_size, example=1)
    deltas = simulate_update(
        model,
        images,
        labels,
        kind="delta",
        lr=lr,
        local_epochs=local_epochs,
        batch_size=batch_size,
        momentum=momentum,
        weight_decay=weight_decay,
        loss_fn=loss_fn,
    )
    return _named(model, [d.detach() for d in deltas])
