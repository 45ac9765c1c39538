"""Outpost's production setting: many local steps with momentum and weight decay, attacked.

Wang, Hugh and Li (INFOCOM 2023, "More than Enough is Too Much", the Outpost slides) argue
that real clients send a weight delta Δ = W_T − W_0 after several local steps of SGD with
momentum and weight decay, not one gradient. Here a one-image client trains exactly so
(``torch.optim.SGD``), every local gradient optionally protected by a defense, and the
honest-but-curious server replays that training on candidate images
(:func:`fl_course.attacks.base.simulate_update`, differentiable with momentum and weight
decay). The attacker either knows the client's optimiser (the threat model of the slides)
or replays plain SGD (the *mis-specified* attacker: the cost of the setting to an attacker
who ignores it).

:data:`PLATO_PRODUCTION` holds the settings, read from the authors' code in Plato
(``TL-System/plato``, ``examples/gradient_leakage_attacks``):

* learning rate 0.01 (``parameters.optimizer.lr`` in every config of the example);
* momentum 0.9 and weight decay 1e-4 (``dlg_cifar10.yml`` until the Outpost author set both
  to 0 on 2022-06-16, "currently only consider learning rate in optimizer": Plato's replay,
  like ours before, had no momentum; its FedAvg pretraining configs keep 0.9 / 1e-4);
* 5 local steps (``untrained_eval_delta.yml``: 5 epochs of batch 8 over 8 images).

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> x, y = torch.rand(1, 1, 28, 28), torch.tensor([3])
>>> delta = local_training_delta(LeNetZhu(seed=0), x, y, **PLATO_PRODUCTION)
>>> sorted(delta)[:2]
['body.0.bias', 'body.0.weight']
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping

import pandas as pd
import torch
from torch import nn

from fl_course import metrics
from fl_course.attacks.base import Attack, ObservedUpdate
from fl_course.checks import check_choice, check_int, check_number, check_seed
from fl_course.defenses.base import Defense
from fl_course.experiments.parallel import map_rows
from fl_course.federation.local_sgd import DefendedOptimizer, local_sgd_step

__all__ = [
    "PLATO_PRODUCTION",
    "REPLAYS",
    "local_training_delta",
    "default_initialised",
    "production_matrix",
]

#: The production setting of Plato's Outpost example (see the module docstring): SGD with
#: learning rate 0.01, momentum 0.9, weight decay 1e-4, 5 local steps.
PLATO_PRODUCTION = {"steps": 5, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}

#: What the attacker replays: the client's own optimiser, or plain SGD (mis-specified).
REPLAYS = ("client", "plain SGD")


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

    The model is copied and trained with ``torch.optim.SGD(lr, momentum, weight_decay)`` on
    the whole batch at every step; if ``defense`` is given, every local gradient is protected
    before the optimiser uses it (:class:`~fl_course.federation.local_sgd.DefendedOptimizer`,
    ``step`` = local step index), as in Outpost's production setting and Plato's trainer.

    Parameters
    ----------
    model : nn.Module
        The global model W_0 (left unchanged).
    images, labels : Tensor
        The client's batch, visited whole at each of the ``steps`` steps.
    steps : int
        Local SGD steps.
    lr, momentum, weight_decay : float
        ``torch.optim.SGD``'s settings.
    defense : Defense, optional

    Returns
    -------
    dict[str, Tensor]
        The weight delta keyed by parameter name.
    """
    check_int("steps", steps, example=5)
    check_number("lr", lr, positive=True, example=0.01)
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
    """``model`` with PyTorch's default initialisation (every layer's ``reset_parameters``), seeded.

    The Outpost slides compare "explicit initialization" (DLG's U(−0.5, 0.5), as
    :class:`~fl_course.models.LeNetZhu` does) with "default PyTorch initialization"; Outpost's
    noise scales with Var(W), so the two give it very different strength.
    """
    check_seed(seed)
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
    attack: Attack,
    *,
    steps: int,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    replay: str = "client",
    progress: bool = True,
    processes: int | None = None,
) -> pd.DataFrame:
    """Attack each one-image client's Δ after ``steps`` local SGD steps, every step defended.

    Outpost's production setting (several local iterations with momentum and weight decay,
    Δ ≠ ∇), each defense on every local gradient (:func:`local_training_delta`). The
    attacker receives Δ with the client's ``lr`` and step count and replays the training
    on its candidate images (batch 1, ``steps`` epochs of one image).

    Parameters
    ----------
    model_fn : callable
        Builds the (seeded) global model; called once per victim.
    images, labels : Tensor
        ``[N, C, H, W]`` victims (one client each) and their labels.
    defenses : dict of name to Defense or None
    attack : fl_course.attacks.Attack
        An attack that accepts a FedAvg delta (iDLG, Inverting Gradients, ...).
    steps, lr, momentum, weight_decay
        The client's local training (:data:`PLATO_PRODUCTION`).
    replay : {"client", "plain SGD"}, default "client"
        ``"client"``: the attacker replays the client's momentum and weight decay
        (the slides' threat model); ``"plain SGD"``: it replays SGD without them, as an
        attacker that ignores the production optimiser does.
    progress : bool, default True
    processes : int, optional
        Worker processes, one defense each at a time
        (:func:`fl_course.experiments.parallel.map_rows`); the numbers do not depend on it.

    Returns
    -------
    DataFrame
        One row per (defense, image): ``defense``, ``image``, ``replay``, ``psnr``,
        ``ssim``, ``mse``.
    """
    check_choice("replay", replay, REPLAYS)
    informed = replay == "client"

    def attack_through(name: str, defense: Defense | None) -> list[dict]:
        if defense is not None:
            defense.reset()
        rows = []
        for i in range(len(images)):
            x, y = images[i : i + 1], labels[i : i + 1]
            model = model_fn()
            delta = local_training_delta(
                model,
                x,
                y,
                steps=steps,
                lr=lr,
                momentum=momentum,
                weight_decay=weight_decay,
                defense=defense,
            )
            observed = ObservedUpdate.delta(
                delta,
                num_images=1,
                lr=lr,
                local_epochs=steps,
                batch_size=1,
                momentum=momentum if informed else 0.0,
                weight_decay=weight_decay if informed else 0.0,
            )
            rec = attack.reconstruct(model, observed, labels=y).images
            rows.append(
                {
                    "defense": name,
                    "image": i,
                    "replay": replay,
                    "psnr": float(metrics.psnr(x, rec)),
                    "ssim": float(metrics.ssim(x, rec)),
                    "mse": float(metrics.mse(x, rec)),
                }
            )
        return rows

    runs = [functools.partial(attack_through, *item) for item in defenses.items()]
    results = map_rows(runs, processes, desc="production Δ", progress=progress)
    rows = [row for defense_rows in results for row in defense_rows]
    return pd.DataFrame(rows)
