"""A small, readable FedAvg simulator on PyTorch (chapter 1).

It follows Algorithm 1 of McMahan et al. (2017), "Communication-Efficient Learning of Deep
Networks from Decentralized Data": in every round the server samples a fraction ``C`` of
the ``K`` clients, each trains the global model for ``E`` local epochs with mini-batches of
size ``B`` and learning rate ``η``, and the server replaces the global weights by the
average of the clients' weights, weighted by their sample counts ``n_k / n``. FedSGD is the
special case ``E = 1`` and ``B = ∞`` (``batch_size=None``): one full-batch gradient step.

The simulator runs every client in one process, one after another. It is for learning the
algorithm and for measuring attacks and defenses on it; chapter 2 runs the same idea on a
real engine (FATE), and a multi-machine deployment uses a FATE cluster with the same
pipeline code. A defense (chapter 6) is one keyword, ``defense=``, in the spirit of
Opacus' single entry point; a server-side correction of the average is
``server_transform=``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from fl_course.checks import (
    Configurable,
    check_choice,
    check_int,
    check_number,
    check_probability,
    check_seed,
)
from fl_course.federation.local_sgd import (
    DefendedOptimizer,
    Update,
    UpdateTransform,
    check_transform,
    local_sgd_step,
    protect_round_update,
)

__all__ = ["FedAvg", "ClientError", "accuracy_and_loss", "weighted_average"]

PLACEMENTS = ("round", "step")


class ClientError(RuntimeError):
    """A client failed during local training; the message names the client and the round."""


def weighted_average(updates: Sequence[Update], weights: Sequence[float]) -> Update:
    """Return Σ_k w_k · update_k / Σ_k w_k, key by key (the FedAvg server step).

    Examples
    --------
    >>> import torch
    >>> weighted_average([{"w": torch.tensor([1.0])}, {"w": torch.tensor([4.0])}], [3, 1])
    {'w': tensor([1.7500])}
    """
    total = float(sum(weights))
    if not updates or total <= 0:
        raise ValueError("weighted_average needs at least one update and positive weights.")
    return {name: sum(w * u[name] for u, w in zip(updates, weights)) / total for name in updates[0]}


@torch.no_grad()
def accuracy_and_loss(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], *, batch_size: int = 1000
) -> tuple[float, float]:
    """Return (accuracy in [0, 1], mean cross-entropy) of ``model`` on ``(images, labels)``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 2)
    >>> accuracy, loss = accuracy_and_loss(model, (torch.randn(5, 2), torch.zeros(5).long()))
    >>> 0 <= accuracy <= 1 and loss > 0
    True
    """
    images, labels = data
    device = next(model.parameters()).device
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(labels), batch_size):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    return correct / len(labels), loss / len(labels)


class FedAvg(Configurable):
    """Federated averaging over simulated clients.

    Parameters
    ----------
    model_fn : callable
        Returns a fresh model; called once (after ``torch.manual_seed(seed)``) for the
        global model.
    client_data : list of (images, labels)
        One pair of tensors per client, e.g. from a :mod:`fl_course.partition` split.
    test_data : (images, labels)
        Held-out data the global model is scored on after every round.
    rounds : int
        Communication rounds.
    fraction : float
        ``C``: fraction of clients sampled per round, at least one client.
    local_epochs : int
        ``E``: passes over its data each sampled client makes per round.
    batch_size : int or None
        ``B``: local mini-batch size; ``None`` means the client's whole data (``B = ∞``).
    lr, momentum, weight_decay : float
        Local SGD settings (a fresh optimiser per client and round, as in Algorithm 1).
    seed : int
        Seeds the initial model, client sampling and the local shuffles.
    defense : callable, optional
        A client-side defense (chapter 6), any ``defense(update, *, model, data, step) ->
        update`` such as :class:`fl_course.defenses.Soteria`. Applied where ``placement``
        says.
    placement : {"round", "step"}, optional
        ``"round"``: each client protects the update it shares once
        (:func:`~fl_course.federation.local_sgd.protect_round_update`: on ``−Δ/η`` at the
        round's global weights, with the client's data; GradDefense's Algorithm 1).
        ``"step"``: every local gradient is protected before the optimiser uses it
        (:class:`~fl_course.federation.local_sgd.DefendedOptimizer`, step ``t`` counted
        from 0 for each client and round, data ``(batch images, None)``; Outpost). By
        default the defense's own ``placement`` attribute, else ``"round"``.
    server_transform : callable, optional
        ``server_transform(aggregate) -> aggregate`` corrects the weighted average before
        the server applies it (e.g. GradDefense's
        :class:`~fl_course.defenses.MarchenkoPasturCompensation`).
    progress : bool
        Show a progress bar over rounds.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.

    Attributes
    ----------
    history : DataFrame
        One row of metrics per round, after :meth:`run`: ``round``, ``clients``,
        ``train_loss``, ``test_loss``, ``test_accuracy``, ``seconds`` (wall clock) and
        ``cpu_seconds`` (this process's CPU time).
    last_updates : dict of int to dict
        The updates the server received in the latest round (after the defense), by
        client: what a curious server observes.
    defense_calls, defense_seconds : int, float
        Calls of the defense so far and the CPU seconds spent inside it.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = torch.Generator().manual_seed(0)
    >>> clients = [(torch.randn(20, 4, generator=g), torch.arange(20) % 2) for _ in range(3)]
    >>> sim = FedAvg(lambda: nn.Linear(4, 2), clients, test_data=clients[0], rounds=2,
    ...              progress=False)
    >>> sim.run()[["round", "clients"]].values.tolist()
    [[1, 3], [2, 3]]

    A defense, here one that zeroes every local gradient, on every local step:

    >>> def freeze(update, *, model, data, step):
    ...     return {name: torch.zeros_like(value) for name, value in update.items()}
    >>> frozen = FedAvg(lambda: nn.Linear(4, 2), clients, test_data=clients[0], rounds=1,
    ...                 defense=freeze, placement="step", progress=False)
    >>> start = frozen.model.weight.detach().clone()
    >>> _ = frozen.run()
    >>> bool(torch.equal(frozen.model.weight, start)), frozen.defense_calls
    (True, 3)
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        client_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
        *,
        test_data: tuple[torch.Tensor, torch.Tensor],
        rounds: int,
        fraction: float = 1.0,
        local_epochs: int = 1,
        batch_size: int | None = 32,
        lr: float = 0.05,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        seed: int = 0,
        defense: UpdateTransform | None = None,
        placement: str | None = None,
        server_transform: Callable[[Update], Update] | None = None,
        progress: bool = True,
        device: str | None = None,
    ) -> None:
        if not client_data:
            raise ValueError("client_data must hold at least one client's (images, labels).")
        for k, (x, y) in enumerate(client_data):
            if len(x) != len(y) or len(y) == 0:
                raise ValueError(f"Client {k} must hold as many labels as images, and some.")
        check_probability("fraction", fraction)
        check_int("rounds", rounds)
        check_int("local_epochs", local_epochs, example=1)
        if batch_size is not None:
            check_int("batch_size", batch_size, example=32)
        check_number("lr", lr, positive=True, example=0.05)
        check_seed(seed)
        check_transform("defense", defense)
        check_transform("server_transform", server_transform)
        if placement is None:
            placement = getattr(defense, "placement", "round")
        check_choice("placement", placement, PLACEMENTS)
        self.save_settings(
            ignore=("model_fn", "client_data", "test_data"),
            placement=placement,
            device=device or ("cuda" if torch.cuda.is_available() else "cpu"),
        )
        self.client_data = list(client_data)
        self.test_data = test_data
        torch.manual_seed(seed)
        self.model = model_fn().to(self.device)
        self._rng = np.random.default_rng(seed)
        self.history = pd.DataFrame()
        self.last_updates: dict[int, Update] = {}
        self.defense_calls, self.defense_seconds = 0, 0.0
        self._global_model = (
            copy.deepcopy(self.model) if defense is not None and placement == "round" else None
        )

    @property
    def num_clients(self) -> int:
        return len(self.client_data)

    def _global_state(self) -> Update:
        return {
            k: v.detach().clone()
            for k, v in self.model.state_dict().items()
            if v.is_floating_point()
        }

    def _client_update(self, client: int, rnd: int, global_state: Update) -> tuple[Update, float]:
        """Algorithm 1's ClientUpdate: local SGD from the global weights; returns Δ and loss."""
        model = self.model
        model.load_state_dict(global_state, strict=False)
        model.train()
        images, labels = self.client_data[client]
        step_defense = self.defense if self.placement == "step" else None
        optimizer = DefendedOptimizer(
            torch.optim.SGD(
                model.parameters(),
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
            ),
            model=model,
            defense=step_defense,
        )
        generator = torch.Generator().manual_seed(self.seed * 100_003 + rnd * 1_009 + client)
        batch = self.batch_size or len(labels)
        losses = []
        for _ in range(self.local_epochs):
            order = torch.randperm(len(labels), generator=generator)
            for start in range(0, len(labels), batch):
                idx = order[start : start + batch]
                x, y = images[idx].to(self.device), labels[idx].to(self.device)
                losses.append(local_sgd_step(model, optimizer, x, y).item())
        self.defense_calls += optimizer.calls
        self.defense_seconds += optimizer.seconds
        update = {
            k: v.detach() - global_state[k]
            for k, v in model.state_dict().items()
            if k in global_state
        }
        if self._global_model is not None:
            update = self._protect_round(update, global_state, (images, labels))
        return update, float(np.mean(losses))

    def _protect_round(
        self, update: Update, global_state: Update, data: tuple[torch.Tensor, torch.Tensor]
    ) -> Update:
        """``placement="round"``: the client protects its shared delta once."""
        self._global_model.load_state_dict(global_state, strict=False)
        start = time.process_time()
        update = protect_round_update(
            self.defense, update, global_model=self._global_model, data=data, lr=self.lr
        )
        self.defense_seconds += time.process_time() - start
        self.defense_calls += 1
        return update

    def _train_clients(self, chosen, rnd: int, global_state):
        """Local training of the chosen clients: their updates, FedAvg weights (n_k) and losses."""
        updates, weights, losses = [], [], []
        for client in chosen:
            try:
                update, loss = self._client_update(client, rnd, global_state)
            except Exception as error:
                raise ClientError(f"Client {client} failed in round {rnd}: {error!r}") from error
            updates.append(update)
            weights.append(len(self.client_data[client][1]))
            losses.append(loss)
        self.last_updates = dict(zip(chosen, updates))
        return updates, weights, losses

    def run_round(self, rnd: int) -> dict:
        """Run one communication round and return its metrics."""
        start, cpu_start = time.perf_counter(), time.process_time()
        m = max(1, round(self.fraction * self.num_clients))
        chosen = sorted(self._rng.choice(self.num_clients, size=m, replace=False).tolist())
        global_state = self._global_state()
        updates, weights, losses = self._train_clients(chosen, rnd, global_state)
        step = weighted_average(updates, weights)
        if self.server_transform is not None:
            step = self.server_transform(step)
        self.model.load_state_dict(
            {k: global_state[k] + step[k] for k in global_state}, strict=False
        )
        accuracy, test_loss = accuracy_and_loss(self.model, self.test_data)
        return {
            "round": rnd,
            "clients": len(chosen),
            "train_loss": float(np.average(losses, weights=weights)),
            "test_loss": test_loss,
            "test_accuracy": accuracy,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
        }

    def run(self) -> pd.DataFrame:
        """Run all rounds; return (and keep as ``self.history``) one row of metrics per round."""
        rows = []
        bar = tqdm(
            range(1, self.rounds + 1), desc="FedAvg rounds", disable=not self.progress, leave=False
        )
        for rnd in bar:
            rows.append(self.run_round(rnd))
            bar.set_postfix(accuracy=f"{rows[-1]['test_accuracy']:.3f}")
        self.history = pd.DataFrame(rows)
        return self.history
