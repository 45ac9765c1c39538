"""Apply a defense to every local gradient inside a training loop.

Outpost protects the gradient of *each local iteration*, before the optimiser
(with its momentum and weight decay) uses it; this is how Plato's trainer
applies every defense. GradDefense's Algorithm 1 instead perturbs the update a
client shares, once per round (:class:`RoundProtection`). :class:`LocalStepProtection` does that
for any loop that calls ``loss.backward()`` then ``optimizer.step()``, such as
:class:`fl_course.fedavg.FedAvg`, through PyTorch's post-accumulate-grad hooks:
once the last parameter's gradient is accumulated, all gradients are replaced
by their protected version.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from fl_course.defenses.base import Defense, Update

__all__ = ["LocalStepProtection", "RoundProtection"]


class LocalStepProtection:
    """Protect the gradient of every local step of ``model`` with ``defense``.

    Parameters
    ----------
    defense : Defense
        Called as ``defense(grads, model=model, data=(x, None), iteration=t)``
        where ``x`` is the model's latest input batch and ``t`` counts local
        steps from 0 for each client.
    model : nn.Module
        The model trained in the loop (``FedAvg(...).model``).

    Notes
    -----
    Use :meth:`step_hook` and :meth:`client_hook` as FedAvg's ``step_hook`` and
    ``client_hook``: the first advances ``t``, the second resets it when a
    client finishes (and passes the update through). Call :meth:`detach` to
    remove the hooks.

    Examples
    --------
    >>> from fl_course.defenses import GradientCompression
    >>> model = nn.Linear(4, 2)
    >>> guard = LocalStepProtection(GradientCompression(prune_rate=50), model)
    >>> model(torch.ones(1, 4)).sum().backward()
    >>> int((model.weight.grad == 0).sum())
    4
    >>> guard.detach()
    """

    def __init__(self, defense: Defense, model: nn.Module) -> None:
        if not isinstance(defense, Defense):
            raise TypeError(
                f"defense must be a fl_course.defenses.Defense, got {type(defense).__name__}."
            )
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.defense = defense
        self.model = model
        self.iteration = 0
        self.calls = 0
        #: CPU seconds spent inside the defense (its per-call cost is ``seconds / calls``).
        self.seconds = 0.0
        self._params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self._pending: set[str] = set()
        self._input: torch.Tensor | None = None
        self._handles = [
            p.register_post_accumulate_grad_hook(self._make_hook(n))
            for n, p in self._params.items()
        ]
        self._handles.append(model.register_forward_pre_hook(self._remember_input))

    def _remember_input(self, module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor) and torch.is_grad_enabled():
            self._input = args[0].detach()

    def _make_hook(self, name: str):
        def hook(param: torch.Tensor) -> None:
            self._pending.add(name)
            if len(self._pending) == len(self._params):
                self._pending.clear()
                self._protect()

        return hook

    def _protect(self) -> None:
        grads: Update = {n: p.grad for n, p in self._params.items()}
        data = None if self._input is None else (self._input, None)
        start = time.process_time()
        with torch.enable_grad():
            out = self.defense(grads, model=self.model, data=data, iteration=self.iteration)
        self.seconds += time.process_time() - start
        with torch.no_grad():
            for n, p in self._params.items():
                p.grad.copy_(out[n])
        self.calls += 1

    def step_hook(
        self, model: nn.Module, *, client: int, round: int, step: int, global_state: Update
    ) -> None:  # noqa: A002
        """FedAvg ``step_hook``: the next gradient belongs to local iteration ``step``."""
        self.iteration = step

    def client_hook(
        self, update: Update, *, model: nn.Module, client: int, round: int, data=None
    ) -> Update:  # noqa: A002
        """FedAvg ``client_hook``: reset the iteration counter; the update passes unchanged."""
        self.iteration = 0
        return update

    def detach(self) -> None:
        """Remove the hooks from the model."""
        for h in self._handles:
            h.remove()
        self._handles = []


class RoundProtection:
    """Protect each client's shared update once per round, on the round's global model.

    The placement of GradDefense's Algorithm 1 and of the baselines in its Table II:
    the client trains undisturbed, then protects what it sends. The delta
    ``Δ = W_local − W_global`` is turned into the pseudo-gradient ``g = −Δ/η``
    (the gradient itself for one plain-SGD step), protected, and turned back, so
    σ and clipping bounds keep their gradient meaning. The defense sees the
    model *at the round's global weights* (GradDefense's sensitivities are
    computed once per round and shared by all clients, as in the authors'
    trainer) and the client's data.

    Parameters
    ----------
    defense : Defense
    model : nn.Module
        The model trained in the loop (``FedAvg(...).model``); a private copy
        holds the global weights the defense sees.
    lr : float
        The clients' learning rate η.

    Notes
    -----
    Use :meth:`step_hook` and :meth:`client_hook` as FedAvg's ``step_hook`` and
    ``client_hook``.
    """

    def __init__(self, defense: Defense, model: nn.Module, *, lr: float) -> None:
        if not isinstance(defense, Defense):
            raise TypeError(
                f"defense must be a fl_course.defenses.Defense, got {type(defense).__name__}."
            )
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be the clients' positive learning rate, got {lr!r}.")
        self.defense = defense
        self.lr = float(lr)
        self.calls = 0
        #: CPU seconds spent inside the defense (its per-call cost is ``seconds / calls``).
        self.seconds = 0.0
        self._global = copy.deepcopy(model)
        self._state: Update | None = None

    def step_hook(
        self, model: nn.Module, *, client: int, round: int, step: int, global_state: Update
    ) -> None:  # noqa: A002
        """FedAvg ``step_hook``: remember the round's global weights."""
        self._state = global_state

    def client_hook(
        self, update: Update, *, model: nn.Module, client: int, round: int, data=None
    ) -> Update:  # noqa: A002
        """FedAvg ``client_hook``: protect ``−Δ/η`` once and send ``−η · protected``."""
        if self._state is not None:
            self._global.load_state_dict(self._state, strict=False)
        params = {n for n, _ in self._global.named_parameters()}
        grad = {k: -v / self.lr for k, v in update.items() if k in params}
        batch = data if isinstance(data, (tuple, list)) and len(data) == 2 else None
        start = time.process_time()
        with torch.enable_grad():
            out = self.defense(grad, model=self._global, data=batch, iteration=0)
        self.seconds += time.process_time() - start
        self.calls += 1
        return {k: (-out[k] * self.lr if k in out else v) for k, v in update.items()}

    def detach(self) -> None:
        """Nothing to remove (kept for symmetry with :class:`LocalStepProtection`)."""
